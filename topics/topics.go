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
// partition counts and the brokers' default replication factor. An existing
// topic whose partition count differs is reported but left alone: adding
// partitions to the commands topic would move accounts between partitions.
func Ensure(ctx context.Context, brokers []string, topics map[string]int32, log *slog.Logger) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	for topic, partitions := range topics {
		res, err := adm.CreateTopic(ctx, partitions, -1, nil, topic)
		if err == nil {
			err = res.Err
		}
		switch {
		case err == nil:
			log.Info("created topic", "topic", topic, "partitions", partitions)
		case errors.Is(err, kerr.TopicAlreadyExists):
			details, derr := adm.ListTopics(ctx, topic)
			if derr != nil {
				return fmt.Errorf("describe topic %s: %w", topic, derr)
			}
			if d, ok := details[topic]; ok && int32(len(d.Partitions)) != partitions {
				log.Warn("topic exists with a different partition count; keeping it", "topic", topic, "partitions", len(d.Partitions), "configured", partitions)
			}
		default:
			return fmt.Errorf("create topic %s: %w", topic, err)
		}
	}
	return nil
}

// Partitions returns a topic's partition count.
func Partitions(ctx context.Context, brokers []string, topic string) (int32, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	details, err := kadm.NewClient(cl).ListTopics(ctx, topic)
	if err == nil {
		err = details.Error()
	}
	if err != nil {
		return 0, fmt.Errorf("describe topic %s: %w", topic, err)
	}
	n := int32(len(details[topic].Partitions))
	if n == 0 {
		return 0, fmt.Errorf("topic %s has no partitions", topic)
	}
	return n, nil
}
