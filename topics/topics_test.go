package topics

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

func TestMinInSyncReplicas(t *testing.T) {
	for rf, want := range map[int16]int{-1: 0, 1: 1, 2: 1, 3: 2, 4: 3, 5: 3} {
		if got := MinInSyncReplicas(rf); got != want {
			t.Errorf("MinInSyncReplicas(%d) = %d, want %d", rf, got, want)
		}
	}
}

func TestSpecs(t *testing.T) {
	l := Layout{Commands: "c", Replies: "r", Partitions: 12, ReplyPartitions: 4, ReplicationFactor: 3,
		CommandsRetention: 7 * 24 * time.Hour, RepliesRetention: time.Hour}
	got := l.Specs()
	want := []Spec{
		{Name: "c", Partitions: 12, FixedPartitions: true, ReplicationFactor: 3,
			Configs: map[string]string{"cleanup.policy": "delete", "retention.ms": "604800000", "min.insync.replicas": "2"}},
		{Name: "r", Partitions: 4, ReplicationFactor: 3,
			Configs: map[string]string{"cleanup.policy": "delete", "retention.ms": "3600000", "min.insync.replicas": "2"}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
	l.ReplicationFactor = -1
	if _, ok := l.Specs()[0].Configs["min.insync.replicas"]; ok {
		t.Fatal("with the brokers' default replication, min.insync.replicas is set")
	}
}

func TestCheck(t *testing.T) {
	spec := Spec{Name: "c", Partitions: 12, FixedPartitions: true, ReplicationFactor: 3,
		Configs: map[string]string{"cleanup.policy": "delete", "retention.ms": "1000", "min.insync.replicas": "2"}}
	good := Description{Name: "c", Exists: true, Partitions: 12, ReplicationFactor: 3,
		Configs: map[string]string{"cleanup.policy": "delete", "retention.ms": "1000", "min.insync.replicas": "2"}}
	with := func(f func(d *Description)) Description {
		d := good
		d.Configs = map[string]string{}
		for k, v := range good.Configs {
			d.Configs[k] = v
		}
		f(&d)
		return d
	}
	tests := []struct {
		name string
		spec Spec
		d    Description
		want string // a substring of the only problem; "" for none
	}{
		{"as specified", spec, good, ""},
		{"more replicas, longer retention", spec, with(func(d *Description) { d.ReplicationFactor = 5; d.Configs["retention.ms"] = "5000" }), ""},
		{"retention forever", spec, with(func(d *Description) { d.Configs["retention.ms"] = "-1" }), ""},
		{"missing", spec, Description{Name: "c"}, "does not exist"},
		{"other partition count", spec, with(func(d *Description) { d.Partitions = 24 }), "has 24 partitions, want 12"},
		{"other partition count, not fixed", Spec{Name: "r", Partitions: 4}, with(func(d *Description) { d.Partitions = 24 }), ""},
		{"fewer replicas", spec, with(func(d *Description) { d.ReplicationFactor = 1 }), "replication factor 1"},
		{"lower min isr", spec, with(func(d *Description) { d.Configs["min.insync.replicas"] = "1" }), "min.insync.replicas 1"},
		{"unknown min isr", spec, with(func(d *Description) { delete(d.Configs, "min.insync.replicas") }), "min.insync.replicas unknown"},
		{"shorter retention", spec, with(func(d *Description) { d.Configs["retention.ms"] = "999" }), "retention.ms 999"},
		{"compacted", spec, with(func(d *Description) { d.Configs["cleanup.policy"] = "compact,delete" }), "compaction"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Check(tt.spec, tt.d)
			if tt.want == "" {
				if len(got) != 0 {
					t.Fatalf("got problems %q, want none", got)
				}
				return
			}
			if len(got) != 1 || !strings.Contains(got[0], tt.want) {
				t.Fatalf("got problems %q, want one containing %q", got, tt.want)
			}
		})
	}
}

// TestEnsureDescribeAddPartitions runs against franz-go's in-process broker.
func TestEnsureDescribeAddPartitions(t *testing.T) {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	cl, err := kgo.NewClient(kgo.SeedBrokers(cluster.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	adm := kadm.NewClient(cl)
	defer adm.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	specs := Layout{Commands: "c", Replies: "r", Partitions: 6, ReplyPartitions: 2, ReplicationFactor: 1,
		CommandsRetention: 2 * time.Hour, RepliesRetention: time.Minute}.Specs()

	if _, err := Ensure(ctx, adm, specs, false, log); !errors.Is(err, ErrMissing) || !strings.Contains(err.Error(), "c, r") {
		t.Fatalf("Ensure without create on missing topics: %v, want ErrMissing naming both", err)
	}
	counts, err := Ensure(ctx, adm, specs, true, log)
	if err != nil {
		t.Fatal(err)
	}
	if counts["c"] != 6 || counts["r"] != 2 {
		t.Fatalf("counts %v, want c:6 r:2", counts)
	}
	ds, err := Describe(ctx, adm, "c", "r", "absent")
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range specs {
		if p := Check(s, ds[i]); len(p) != 0 {
			t.Errorf("created topic %s: problems %q (described %+v)", s.Name, p, ds[i])
		}
	}
	if ds[0].Configs["retention.ms"] != "7200000" || ds[2].Exists {
		t.Fatalf("described %+v", ds)
	}
	// Existing topics are found, not created again, whatever create says.
	if counts, err = Ensure(ctx, adm, specs, false, log); err != nil || counts["c"] != 6 {
		t.Fatalf("Ensure on existing topics: %v %v", counts, err)
	}
	if err := AddPartitions(ctx, adm, "c", 8); err != nil {
		t.Fatal(err)
	}
	if err := AddPartitions(ctx, adm, "c", 8); err != nil {
		t.Fatalf("AddPartitions to the count the topic has: %v", err)
	}
	if err := AddPartitions(ctx, adm, "c", 7); err == nil {
		t.Fatal("AddPartitions lowered a count without an error")
	}
	ds, err = Describe(ctx, adm, "c")
	if err != nil || ds[0].Partitions != 8 {
		t.Fatalf("after AddPartitions: %+v %v", ds, err)
	}
	if p := Check(specs[0], ds[0]); len(p) != 1 || !strings.Contains(p[0], "has 8 partitions") {
		t.Fatalf("Check after the count changed: %q", p)
	}
}
