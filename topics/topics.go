// Package topics creates the Kafka topics Ordo uses.
package topics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Ensure creates the topics that do not exist yet, with the given
// partition counts and the brokers' default replication factor, and returns
// each topic's partition count as it is now. An existing topic whose
// partition count differs is reported but left alone: adding partitions to
// the commands topic would move accounts between partitions (the roles
// refuse to run on it; see postgres.Store.CheckPartitionCount). opts are
// added to the admin client's options (TLS, SASL).
func Ensure(ctx context.Context, brokers []string, topics map[string]int32, log *slog.Logger, opts ...kgo.Opt) (map[string]int32, error) {
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(brokers...)}, opts...)...)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	counts := make(map[string]int32, len(topics))
	for topic, partitions := range topics {
		res, err := adm.CreateTopic(ctx, partitions, -1, nil, topic)
		if err == nil {
			err = res.Err
		}
		switch {
		case err == nil:
			log.Info("created topic", "topic", topic, "partitions", partitions)
			counts[topic] = partitions
		case errors.Is(err, kerr.TopicAlreadyExists):
			details, derr := adm.ListTopics(ctx, topic)
			if derr == nil {
				derr = details.Error()
			}
			if derr != nil {
				return nil, fmt.Errorf("describe topic %s: %w", topic, derr)
			}
			n := int32(len(details[topic].Partitions))
			if n == 0 {
				return nil, fmt.Errorf("topic %s has no partitions", topic)
			}
			if n != partitions {
				log.Warn("topic exists with a different partition count; keeping it", "topic", topic, "partitions", n, "configured", partitions)
			}
			counts[topic] = n
		default:
			return nil, fmt.Errorf("create topic %s: %w", topic, err)
		}
	}
	return counts, nil
}
