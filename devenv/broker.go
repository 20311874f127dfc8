package devenv

import (
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
)

// BrokerConfig configures a development broker.
type BrokerConfig struct {
	// Listen is the address to listen on. Default 127.0.0.1:0 (a free port).
	Listen string
	// Advertised is the address clients are told to connect to, when it
	// differs from the listening address (in a container: the host's
	// published port). Default: the listening address.
	Advertised string
	// DataDir persists the log and group state there, so a restart keeps
	// them. Empty: in memory only.
	DataDir string
	// Partitions is the default partition count for created topics.
	Partitions int
	Logger     *slog.Logger
}

// Broker is a single-node kfake cluster.
type Broker struct {
	c    *kfake.Cluster
	addr string
}

// StartBroker starts the broker; it listens when StartBroker returns.
func StartBroker(cfg BrokerConfig) (*Broker, error) {
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:0"
	}
	var advertised string
	opts := []kfake.Opt{
		kfake.NumBrokers(1),
		kfake.ListenFn(func(network, _ string) (net.Listener, error) {
			ln, err := net.Listen(network, cfg.Listen)
			if err != nil {
				return nil, err
			}
			advertised = ln.Addr().String()
			if cfg.Advertised != "" {
				advertised = cfg.Advertised
				// kfake advertises what the listener reports as its address.
				return advertisedListener{Listener: ln, addr: advertisedAddr(cfg.Advertised)}, nil
			}
			return ln, nil
		}),
		// The consumer's session timeout may be as low as a second in tests.
		kfake.GroupMinSessionTimeout(time.Second),
	}
	if cfg.Partitions > 0 {
		opts = append(opts, kfake.DefaultNumPartitions(cfg.Partitions))
	}
	if cfg.DataDir != "" {
		opts = append(opts, kfake.DataDir(cfg.DataDir))
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		return nil, fmt.Errorf("start broker on %s: %w", cfg.Listen, err)
	}
	return &Broker{c: c, addr: advertised}, nil
}

// Addr is the address clients connect to.
func (b *Broker) Addr() string { return b.addr }

// Close stops the broker, flushing persisted state.
func (b *Broker) Close() { b.c.Close() }

type advertisedListener struct {
	net.Listener
	addr net.Addr
}

func (l advertisedListener) Addr() net.Addr { return l.addr }

type advertisedAddr string

func (a advertisedAddr) Network() string { return "tcp" }
func (a advertisedAddr) String() string  { return string(a) }
