package wire

import "github.com/twmb/franz-go/pkg/kgo"

// Route says where the consumer publishes a command's outcome: a partition
// of a reply topic, and the ID of the API instance waiting there. It travels
// in the command record's headers (HeaderReplyTopic, HeaderReplyPartition,
// HeaderReplyTo, and HeaderReplyFormats).
type Route struct {
	Topic     string
	Partition int32
	To        string // the waiting instance's ID
	// Formats are the reply formats the waiting instance reads, sent in
	// HeaderReplyFormats (ReplyFormats); empty, it gets version 1 only.
	Formats string
}

// Position is where a record landed in the log.
type Position struct {
	Partition int32
	Offset    int64
}

// Partitioner is Kafka's default key partitioner (murmur2 of the key, high
// bit masked, modulo the partition count), as the Java client uses it. The
// producer uses it to place commands, and the consumer to refuse records
// that another client put on the wrong partition.
func Partitioner() kgo.Partitioner { return kgo.StickyKeyPartitioner(nil) }
