package testinfra

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/wait"
)

// DefaultKafkaImage is the official Apache Kafka image, used unless
// ORDO_TEST_KAFKA_IMAGE names another. Images other than apache/kafka* are
// taken to be Ordo's own broker image (`ordo broker`).
const DefaultKafkaImage = "apache/kafka:3.9.1"

// Kafka is a broker tests create topics on.
type Kafka struct {
	Brokers   []string
	container testcontainers.Container
}

// StartKafka uses ORDO_TEST_BROKERS or starts a broker container. The
// container's port is published on a free loopback port chosen up front,
// because the broker must advertise the address clients reach it on.
func StartKafka(ctx context.Context) (*Kafka, error) {
	if b := os.Getenv("ORDO_TEST_BROKERS"); b != "" {
		return &Kafka{Brokers: strings.Split(b, ",")}, nil
	}
	image := envOr("ORDO_TEST_KAFKA_IMAGE", DefaultKafkaImage)
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	host := envOr("TESTCONTAINERS_HOST_OVERRIDE", "127.0.0.1")
	advertised := net.JoinHostPort(host, strconv.Itoa(port))

	req := testcontainers.ContainerRequest{
		Image:        image,
		ExposedPorts: []string{"9092/tcp"},
		HostConfigModifier: func(hc *container.HostConfig) {
			hc.PortBindings = network.PortMap{
				network.MustParsePort("9092/tcp"): {{HostIP: netip.MustParseAddr("127.0.0.1"), HostPort: strconv.Itoa(port)}},
			}
		},
	}
	if strings.HasPrefix(image, "apache/kafka") {
		req.Env = map[string]string{
			"KAFKA_NODE_ID":                                  "1",
			"KAFKA_PROCESS_ROLES":                            "broker,controller",
			"KAFKA_LISTENERS":                                "PLAINTEXT://0.0.0.0:9092,CONTROLLER://0.0.0.0:9093",
			"KAFKA_ADVERTISED_LISTENERS":                     "PLAINTEXT://" + advertised,
			"KAFKA_CONTROLLER_LISTENER_NAMES":                "CONTROLLER",
			"KAFKA_LISTENER_SECURITY_PROTOCOL_MAP":           "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
			"KAFKA_CONTROLLER_QUORUM_VOTERS":                 "1@localhost:9093",
			"KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR":         "1",
			"KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR": "1",
			"KAFKA_TRANSACTION_STATE_LOG_MIN_ISR":            "1",
			"KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS":         "0",
		}
		req.WaitingFor = wait.ForLog("Kafka Server started").WithStartupTimeout(2 * time.Minute)
	} else {
		req.Cmd = []string{"broker", "--listen", "0.0.0.0:9092", "--advertised-addr", advertised}
		req.WaitingFor = wait.ForLog("broker listening").WithStartupTimeout(time.Minute)
	}
	c, err := testcontainers.GenericContainer(ctx, testcontainers.GenericContainerRequest{ContainerRequest: req, Started: true})
	if err != nil {
		if c != nil {
			_ = c.Terminate(context.Background())
		}
		return nil, fmt.Errorf("start broker container from %s (build it with `make image`, or set ORDO_TEST_KAFKA_IMAGE or ORDO_TEST_BROKERS): %w", image, err)
	}
	return &Kafka{Brokers: []string{advertised}, container: c}, nil
}

// Close stops the container, if one was started.
func (k *Kafka) Close() {
	if k.container != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = k.container.Terminate(ctx)
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
