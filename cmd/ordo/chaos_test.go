package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/moby/moby/api/types/container"
	mobynet "github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
	tcpostgres "github.com/testcontainers/testcontainers-go/modules/postgres"
	"github.com/testcontainers/testcontainers-go/network"
	"github.com/testcontainers/testcontainers-go/wait"

	"github.com/ordo-dev/ordo/internal/testinfra"
)

// The chaos suite's settings. The consumers' session timeout is the
// smallest Apache Kafka accepts by default; the network cut lasts twice
// as long.
const (
	chaosImageDefault   = "ordo-dev/ordo:dev"
	chaosPartitions     = 6
	chaosClients        = 16
	chaosThink          = 40 * time.Millisecond
	chaosSessionTimeout = 6 * time.Second
	chaosCut            = 2 * chaosSessionTimeout
	chaosRecovery       = 90 * time.Second // bound on any recovery the suite waits for
)

// TestChaos runs the whole system in containers on a private network (a
// broker keeping its data in a volume, Postgres, 2 API instances and 3
// consumers from the ordo image) under load from 16 clients, and injects
// faults one after another while the load continues: a consumer and an API
// instance SIGKILLed and restarted, the broker stopped and started, Postgres
// frozen for 10s, and a consumer cut off the network for longer than its
// session timeout, which must come back fenced and rejoin. Then every
// command is audited against the ledger (auditChaos).
//
// Images: ORDO_TEST_IMAGE (default ordo-dev/ordo:dev, `make image`) for
// the Ordo roles; ORDO_TEST_KAFKA_IMAGE for the broker (default: the Ordo
// image's `ordo broker`; apache/kafka* images work too);
// ORDO_TEST_POSTGRES_IMAGE for Postgres.
func TestChaos(t *testing.T) {
	c := startChaosCluster(t)
	ctx := context.Background()

	accounts := make([]string, 24)
	for i := range accounts {
		accounts[i] = fmt.Sprintf("acct-%02d", i)
	}
	cl := newChaosClient(c.apiURLs)
	setup := c.openAccounts(cl, accounts, 1000)

	stop := make(chan struct{})
	loadDone := make(chan []*chaosCmd, 1)
	loadStart := time.Now()
	go func() {
		loadDone <- chaosLoad(cl, accounts, chaosClients, chaosThink, stop, loadStart.Add(6*time.Minute))
	}()
	defer func() {
		select {
		case <-stop:
		default:
			close(stop)
		}
	}()

	c.settle(cl, "warm-up", loadStart, 5*time.Second)

	// 1. SIGKILL a consumer and an API instance; restart them.
	t0 := time.Now()
	c.kill(c.consumers[0], "consumer-1")
	c.kill(c.apis[1], "api-2")
	time.Sleep(2 * time.Second)
	c.start(c.consumers[0], "consumer-1")
	c.start(c.apis[1], "api-2")
	c.waitHealthy(c.apiURLs[1])
	c.settle(cl, "kill", t0, 5*time.Second)

	// 2. Stop the broker (SIGTERM, then SIGKILL after 10s) and start it
	// again on its volume.
	t0 = time.Now()
	timeout := 10 * time.Second
	if err := c.broker.Stop(ctx, &timeout); err != nil {
		t.Fatalf("stop broker: %v", err)
	}
	t.Logf("chaos: broker stopped")
	time.Sleep(2 * time.Second)
	c.start(c.broker, "broker")
	c.settle(cl, "broker restart", t0, 5*time.Second)

	// 3. Freeze Postgres for 10s.
	t0 = time.Now()
	if _, err := c.docker.ContainerPause(ctx, c.pg.GetContainerID(), client.ContainerPauseOptions{}); err != nil {
		t.Fatalf("pause postgres: %v", err)
	}
	t.Logf("chaos: postgres paused")
	time.Sleep(10 * time.Second)
	if _, err := c.docker.ContainerUnpause(ctx, c.pg.GetContainerID(), client.ContainerUnpauseOptions{}); err != nil {
		t.Fatalf("unpause postgres: %v", err)
	}
	t.Logf("chaos: postgres unpaused")
	c.settle(cl, "postgres pause", t0, 5*time.Second)

	// 4. Cut a consumer off the network past its session timeout, once
	// every consumer holds partitions again: a consumer that holds none
	// tests no fencing. After the broker's restart, kfake may leave a
	// consumer's JoinGroup unanswered until franz-go gives up on it (its
	// rebalance timeout, 60 s) and joins again; the others carry the load
	// meanwhile.
	c.waitBalanced()
	t0 = time.Now()
	c.partitionConsumer(c.consumers[2], "consumer-3")
	c.settle(cl, "network cut", t0, 5*time.Second)

	close(stop)
	cmds := append(setup, <-loadDone...)
	loadEnd := time.Now()
	resolve(cl, cmds, chaosClients, time.Now().Add(chaosRecovery))
	resolved := time.Now()

	// Transfers settle in steps after their debit: wait for nothing in flight.
	waitFor(t, chaosRecovery, func() bool {
		var n int64
		err := c.pool.QueryRow(ctx, `SELECT coalesce(sum(in_flight), 0) FROM accounts`).Scan(&n)
		return err == nil && n == 0
	})
	r := auditChaos(ctx, c.pool, cmds)
	r.Requests = cl.sent.Load()
	r.LongestStall = cl.longestStall(loadStart, loadEnd)
	e := &env{t: t, pool: c.pool}
	e.auditLedger()
	t.Logf("chaos: load %v, resolving %v", loadEnd.Sub(loadStart).Round(time.Second), resolved.Sub(loadEnd).Round(time.Second))
	t.Log(r)
	for i, v := range r.Violations {
		if i == 50 {
			t.Errorf("... and %d more violations", len(r.Violations)-i)
			break
		}
		t.Error(v)
	}
	if r.Applied == 0 || r.Lost != 0 || r.Duplicated != 0 {
		t.Errorf("got %d applied, %d lost, %d duplicated: want some applied, none lost or duplicated", r.Applied, r.Lost, r.Duplicated)
	}
}

// chaosCluster is the containers of a chaos run.
type chaosCluster struct {
	t         *testing.T
	docker    *testcontainers.DockerClient
	net       *testcontainers.DockerNetwork
	image     string
	pg        *tcpostgres.PostgresContainer
	pool      *pgxpool.Pool // from the host, for the audit
	broker    testcontainers.Container
	apis      []testcontainers.Container
	apiURLs   []string
	consumers []testcontainers.Container
	mu        sync.Mutex // guards names: containers start concurrently
	names     map[testcontainers.Container]string
}

func startChaosCluster(t *testing.T) *chaosCluster {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	docker, err := testcontainers.NewDockerClientWithOpts(ctx)
	if err != nil {
		t.Fatalf("docker: %v", err)
	}
	t.Cleanup(func() { docker.Close() })
	nw, err := network.New(ctx)
	if err != nil {
		t.Fatalf("create network: %v", err)
	}
	t.Cleanup(func() { _ = nw.Remove(context.Background()) })
	c := &chaosCluster{t: t, docker: docker, net: nw, image: envOr("ORDO_TEST_IMAGE", chaosImageDefault), names: map[testcontainers.Container]string{}}
	// Runs before the containers' removal, which is registered later.
	defer t.Cleanup(func() {
		if t.Failed() {
			c.dumpLogs()
		}
	})

	pgImage := envOr("ORDO_TEST_POSTGRES_IMAGE", testinfra.DefaultPostgresImage)
	c.pg, err = tcpostgres.Run(ctx, pgImage,
		tcpostgres.WithDatabase("ordo"), tcpostgres.WithUsername("ordo"), tcpostgres.WithPassword("ordo"),
		// The image's initdb restarts the server: ready is logged twice.
		testcontainers.WithWaitStrategyAndDeadline(3*time.Minute,
			wait.ForLog("database system is ready to accept connections").WithOccurrence(2)),
		testcontainers.WithCmdArgs("-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "max_connections=100"),
		network.WithNetwork([]string{"postgres"}, nw),
	)
	if c.pg != nil {
		c.cleanup(c.pg, "postgres")
	}
	if err != nil {
		t.Fatalf("start postgres from %s: %v", pgImage, err)
	}
	hostURL, err := c.pg.ConnectionString(ctx, "sslmode=disable")
	if err != nil {
		t.Fatal(err)
	}
	if err := migrate(ctx, hostURL, testLogger(t)); err != nil {
		t.Fatal(err)
	}
	if c.pool, err = pgxpool.New(context.Background(), hostURL); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.pool.Close)

	c.broker = c.startBroker(ctx)

	roleEnv := map[string]string{
		"ORDO_BROKERS":          "broker:9092",
		"DATABASE_URL":          "postgres://ordo:ordo@postgres:5432/ordo?sslmode=disable",
		"ORDO_PARTITIONS":       strconv.Itoa(chaosPartitions),
		"ORDO_REPLY_PARTITIONS": "2",
		"ORDO_CREATE_TOPICS":    "true",
		// The faults are the subject here, not access control (which
		// TestTenantIsolation and the auth tests cover): the load runs
		// without keys.
		"ORDO_AUTH":         "false",
		"ORDO_DB_MAX_CONNS": "4",
		"ORDO_LOG_LEVEL":    "info",
		"ORDO_OPS_ADDR":     "",
	}
	type started struct {
		c   testcontainers.Container
		err error
	}
	// The APIs first: they create the topics.
	apiCh := make(chan started, 2)
	for i := range 2 {
		port, err := freeHostPort()
		if err != nil {
			t.Fatal(err)
		}
		c.apiURLs = append(c.apiURLs, fmt.Sprintf("http://127.0.0.1:%d", port))
		go func() {
			e := merged(roleEnv, map[string]string{"ORDO_HTTP_ADDR": ":8080", "ORDO_INSTANCE_ID": fmt.Sprintf("api-%d", i+1), "ORDO_WAIT_BUDGET": "2s"})
			ct, err := c.run(ctx, fmt.Sprintf("api-%d", i+1), []string{"api"}, e, port, "api ready")
			apiCh <- started{ct, err}
		}()
	}
	for range 2 {
		s := <-apiCh
		if s.err != nil {
			t.Fatalf("start api: %v", s.err)
		}
	}
	// The containers finish in any order; keep them in name order.
	for i := range 2 {
		c.apis = append(c.apis, c.byName(fmt.Sprintf("api-%d", i+1)))
	}
	conCh := make(chan started, 3)
	for i := range 3 {
		go func() {
			e := merged(roleEnv, map[string]string{"ORDO_SESSION_TIMEOUT": chaosSessionTimeout.String(), "ORDO_HEARTBEAT_INTERVAL": "500ms"})
			ct, err := c.run(ctx, fmt.Sprintf("consumer-%d", i+1), []string{"consumer"}, e, 0, "consumer running")
			conCh <- started{ct, err}
		}()
	}
	for range 3 {
		if s := <-conCh; s.err != nil {
			t.Fatalf("start consumer: %v", s.err)
		}
	}
	for i := range 3 {
		c.consumers = append(c.consumers, c.byName(fmt.Sprintf("consumer-%d", i+1)))
	}
	c.waitClaimed(chaosPartitions)
	t.Logf("chaos: postgres %s, broker %s, ordo %s: 2 APIs (%s), 3 consumers, %d partitions", pgImage, c.brokerImage(), c.image, strings.Join(c.apiURLs, ", "), chaosPartitions)
	return c
}

func (c *chaosCluster) brokerImage() string { return envOr("ORDO_TEST_KAFKA_IMAGE", c.image) }

// startBroker starts the broker with its data on a fresh named volume, so
// that a stop and start keeps the log and the group state.
func (c *chaosCluster) startBroker(ctx context.Context) testcontainers.Container {
	t := c.t
	image := c.brokerImage()
	volume := "ordo-chaos-" + uuid.NewString()[:8]
	t.Cleanup(func() {
		_, _ = c.docker.VolumeRemove(context.Background(), volume, client.VolumeRemoveOptions{Force: true})
	})
	req := testcontainers.ContainerRequest{Image: image}
	if strings.HasPrefix(image, "apache/kafka") {
		req.Env = map[string]string{
			"KAFKA_NODE_ID":                                  "1",
			"KAFKA_PROCESS_ROLES":                            "broker,controller",
			"KAFKA_LISTENERS":                                "PLAINTEXT://0.0.0.0:9092,CONTROLLER://0.0.0.0:9093",
			"KAFKA_ADVERTISED_LISTENERS":                     "PLAINTEXT://broker:9092",
			"KAFKA_CONTROLLER_LISTENER_NAMES":                "CONTROLLER",
			"KAFKA_LISTENER_SECURITY_PROTOCOL_MAP":           "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
			"KAFKA_CONTROLLER_QUORUM_VOTERS":                 "1@localhost:9093",
			"KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR":         "1",
			"KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR": "1",
			"KAFKA_TRANSACTION_STATE_LOG_MIN_ISR":            "1",
			"KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS":         "0",
			"KAFKA_LOG_DIRS":                                 "/var/lib/kafka/data",
		}
		req.Mounts = testcontainers.ContainerMounts{testcontainers.VolumeMount(volume, "/var/lib/kafka/data")}
		req.WaitingFor = wait.ForLog("Kafka Server started").WithStartupTimeout(2 * time.Minute)
	} else {
		req.Cmd = []string{"broker", "--listen", "0.0.0.0:9092", "--advertised-addr", "broker:9092", "--data-dir", "/data",
			"--partitions", strconv.Itoa(chaosPartitions)}
		req.Mounts = testcontainers.ContainerMounts{testcontainers.VolumeMount(volume, "/data")}
		req.WaitingFor = wait.ForLog("broker listening").WithStartupTimeout(time.Minute)
	}
	gr := testcontainers.GenericContainerRequest{ContainerRequest: req, Started: true}
	if err := network.WithNetwork([]string{"broker"}, c.net).Customize(&gr); err != nil {
		t.Fatal(err)
	}
	b, err := testcontainers.GenericContainer(ctx, gr)
	c.cleanup(b, "broker")
	if err != nil {
		t.Fatalf("start broker from %s: %v", image, err)
	}
	return b
}

// run starts an Ordo role; hostPort, if not 0, publishes its port 8080
// there (fixed, so that a restart keeps the URL).
func (c *chaosCluster) run(ctx context.Context, name string, cmd []string, env map[string]string, hostPort int, ready string) (testcontainers.Container, error) {
	req := testcontainers.ContainerRequest{
		Image:      c.image,
		Cmd:        cmd,
		Env:        env,
		Networks:   []string{c.net.Name},
		WaitingFor: wait.ForLog(ready).WithStartupTimeout(time.Minute),
	}
	if hostPort != 0 {
		req.ExposedPorts = []string{"8080/tcp"}
		req.HostConfigModifier = func(hc *container.HostConfig) {
			hc.PortBindings = mobynet.PortMap{
				mobynet.MustParsePort("8080/tcp"): {{HostIP: netip.MustParseAddr("127.0.0.1"), HostPort: strconv.Itoa(hostPort)}},
			}
		}
	}
	ct, err := testcontainers.GenericContainer(ctx, testcontainers.GenericContainerRequest{ContainerRequest: req, Started: true})
	c.cleanup(ct, name)
	return ct, err
}

// cleanup registers a container (which may be nil) for removal at the end
// of the test, under a name for logs.
func (c *chaosCluster) cleanup(ct testcontainers.Container, name string) {
	if ct == nil {
		return
	}
	c.mu.Lock()
	c.names[ct] = name
	c.mu.Unlock()
	c.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, _ = c.docker.ContainerUnpause(ctx, ct.GetContainerID(), client.ContainerUnpauseOptions{})
		_ = ct.Terminate(ctx)
	})
}

func (c *chaosCluster) byName(name string) testcontainers.Container {
	c.mu.Lock()
	defer c.mu.Unlock()
	for ct, n := range c.names {
		if n == name {
			return ct
		}
	}
	c.t.Fatalf("no container %s", name)
	return nil
}

func (c *chaosCluster) kill(ct testcontainers.Container, name string) {
	c.t.Helper()
	if _, err := c.docker.ContainerKill(context.Background(), ct.GetContainerID(), client.ContainerKillOptions{Signal: "SIGKILL"}); err != nil {
		c.t.Fatalf("kill %s: %v", name, err)
	}
	c.t.Logf("chaos: %s killed", name)
}

func (c *chaosCluster) start(ct testcontainers.Container, name string) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := ct.Start(ctx); err != nil {
		c.t.Fatalf("start %s: %v", name, err)
	}
	c.t.Logf("chaos: %s started", name)
}

func (c *chaosCluster) waitHealthy(url string) {
	c.t.Helper()
	waitFor(c.t, chaosRecovery, func() bool {
		res, err := http.Get(url + "/healthz")
		if err != nil {
			return false
		}
		res.Body.Close()
		return res.StatusCode == http.StatusOK
	})
}

// settle waits until clients are acknowledged again after a fault that
// began at since, then lets the load run for another while.
func (c *chaosCluster) settle(cl *chaosClient, fault string, since time.Time, then time.Duration) {
	c.t.Helper()
	healed := time.Now()
	deadline := healed.Add(chaosRecovery)
	for {
		cl.mu.Lock()
		n := len(cl.acks)
		last := time.Time{}
		if n > 0 {
			last = cl.acks[n-1]
		}
		cl.mu.Unlock()
		if last.After(healed) {
			break
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("%s: no command acknowledged within %v after the fault ended", fault, chaosRecovery)
		}
		time.Sleep(100 * time.Millisecond)
	}
	c.t.Logf("chaos: %s: acknowledged again %v after the fault ended (%v after it began)", fault,
		time.Since(healed).Round(10*time.Millisecond), time.Since(since).Round(10*time.Millisecond))
	time.Sleep(then)
}

// partitionState is a row of consumer_partitions.
type partitionState struct {
	epoch  int64
	member string
}

func (c *chaosCluster) partitions() map[int32]partitionState {
	c.t.Helper()
	rows, err := c.pool.Query(context.Background(), `SELECT partition, epoch, member FROM consumer_partitions`)
	if err != nil {
		c.t.Fatal(err)
	}
	defer rows.Close()
	out := map[int32]partitionState{}
	for rows.Next() {
		var p int32
		var s partitionState
		if err := rows.Scan(&p, &s.epoch, &s.member); err != nil {
			c.t.Fatal(err)
		}
		out[p] = s
	}
	return out
}

// waitBalanced waits until each consumer holds a claim on some partition.
func (c *chaosCluster) waitBalanced() {
	c.t.Helper()
	start := time.Now()
	waitFor(c.t, chaosRecovery, func() bool {
		members := map[string]bool{}
		for _, s := range c.partitions() {
			members[s.member] = true
		}
		return len(members) == len(c.consumers)
	})
	c.t.Logf("chaos: every consumer holds partitions (waited %v)", time.Since(start).Round(10*time.Millisecond))
}

func (c *chaosCluster) waitClaimed(n int) {
	c.t.Helper()
	waitFor(c.t, chaosRecovery, func() bool { return len(c.partitions()) == n })
}

// partitionConsumer cuts a consumer off the network for chaosCut, longer
// than its session timeout, and reconnects it. Meanwhile the group gives its
// partitions to the others, whose claims in Postgres fence it off. Back on
// the network it is a zombie: its log must show it refused (its offset
// commits or heartbeats as an unknown member, a batch fenced off, or a claim
// refused for its stale generation), and then its rejoining the group and
// claiming partitions afresh, at newer epochs.
func (c *chaosCluster) partitionConsumer(ct testcontainers.Container, name string) {
	t := c.t
	t.Helper()
	ctx := context.Background()
	before := c.partitions()
	if _, err := c.docker.NetworkDisconnect(ctx, c.net.ID, client.NetworkDisconnectOptions{Container: ct.GetContainerID(), Force: true}); err != nil {
		t.Fatalf("disconnect %s: %v", name, err)
	}
	cut := time.Now()
	t.Logf("chaos: %s cut off the network", name)
	time.Sleep(chaosCut)
	during := c.partitions()
	if _, err := c.docker.NetworkConnect(ctx, c.net.ID, client.NetworkConnectOptions{Container: ct.GetContainerID()}); err != nil {
		t.Fatalf("reconnect %s: %v", name, err)
	}
	back := time.Now()
	t.Logf("chaos: %s reconnected after %v", name, back.Sub(cut).Round(10*time.Millisecond))

	// Its partitions were claimed by others while it was away: the member
	// that held them is gone from consumer_partitions, and each such
	// partition's epoch moved on.
	members := map[string]bool{}
	for _, s := range during {
		members[s.member] = true
	}
	var taken []int32
	zombie := ""
	for p, s := range before {
		if !members[s.member] {
			zombie = s.member
			taken = append(taken, p)
			if during[p].epoch <= s.epoch {
				t.Errorf("partition %d: epoch %d before the cut, %d after the takeover: want it to move on", p, s.epoch, during[p].epoch)
			}
		}
	}
	if len(taken) == 0 {
		t.Fatalf("no partition changed hands while %s was cut off for %v (before %v, during %v)", name, chaosCut, before, during)
	}
	slices.Sort(taken)
	t.Logf("chaos: partitions %v of member %s were claimed by others during the cut", taken, zombie)

	// Back, the zombie is refused: by the group coordinator, which no
	// longer knows its member or generation (its offset commits and
	// heartbeats fail), or by Postgres, whose epochs fence off its batches
	// and claims. Then it rejoins and claims partitions afresh, at epochs
	// newer than any it held.
	var refused, rejoined []string
	for deadline := time.Now().Add(chaosRecovery); ; {
		refused, rejoined = nil, nil
		for _, l := range c.logLines(ct, back) {
			switch {
			case strings.Contains(l, "UNKNOWN_MEMBER_ID"), strings.Contains(l, "ILLEGAL_GENERATION"),
				strings.Contains(l, "partition fenced off"),
				strings.Contains(l, "reason=stale_generation"), strings.Contains(l, "reason=claim_lost"):
				refused = append(refused, l)
			case strings.Contains(l, `msg="partition claimed"`), strings.Contains(l, `msg="partition claimed again after a stop"`):
				rejoined = append(rejoined, l)
			}
		}
		if len(refused) > 0 && len(rejoined) > 0 {
			break
		}
		if time.Now().After(deadline) {
			for _, l := range c.logLines(ct, cut.Add(-5*time.Second)) {
				t.Log(l)
			}
			t.Fatalf("%s: within %v of reconnecting, %d refusals and %d fresh claims in its log (above), want both", name, chaosRecovery, len(refused), len(rejoined))
		}
		time.Sleep(time.Second)
	}
	for _, l := range rejoined {
		p, err1 := strconv.Atoi(logField(l, "partition"))
		epoch, err2 := strconv.ParseInt(logField(l, "epoch"), 10, 64)
		if err1 != nil || err2 != nil {
			t.Errorf("%s: unreadable claim %q", name, l)
			continue
		}
		if old, ok := before[int32(p)]; ok && old.member == zombie && epoch <= during[int32(p)].epoch {
			t.Errorf("%s claimed partition %d again at epoch %d, want newer than the takeover's %d", name, p, epoch, during[int32(p)].epoch)
		}
	}
	t.Logf("chaos: %s back as a zombie, refused %d times, e.g. %s", name, len(refused), refused[0])
	t.Logf("chaos: %s rejoined: %s", name, rejoined[0])
}

// logField is the value of key=value in a log line ("" if absent).
func logField(line, key string) string {
	for _, f := range strings.Fields(line) {
		if v, ok := strings.CutPrefix(f, key+"="); ok {
			return v
		}
	}
	return ""
}

// logLines is a container's log lines stamped at or after since.
func (c *chaosCluster) logLines(ct testcontainers.Container, since time.Time) []string {
	rc, err := ct.Logs(context.Background())
	if err != nil {
		c.t.Fatalf("logs: %v", err)
	}
	defer rc.Close()
	var out []string
	sc := bufio.NewScanner(rc)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		l := sc.Text()
		ts, _, _ := strings.Cut(strings.TrimPrefix(l, "time="), " ")
		if at, err := time.Parse(time.RFC3339Nano, ts); err == nil && !at.Before(since) {
			out = append(out, l)
		}
	}
	return out
}

// dumpLogs writes the end of every container's log, for a failed run.
func (c *chaosCluster) dumpLogs() {
	for ct, name := range c.names {
		rc, err := ct.Logs(context.Background())
		if err != nil {
			continue
		}
		raw, _ := io.ReadAll(rc)
		rc.Close()
		lines := strings.Split(strings.TrimSpace(string(raw)), "\n")
		fmt.Fprintf(os.Stderr, "--- %s: last %d of %d log lines\n", name, min(len(lines), 40), len(lines))
		for _, l := range lines[max(0, len(lines)-40):] {
			fmt.Fprintln(os.Stderr, l)
		}
	}
}

// openAccounts opens each account and deposits opening into it, through
// the chaos client, so that these commands are audited too.
func (c *chaosCluster) openAccounts(cl *chaosClient, accounts []string, opening int64) []*chaosCmd {
	c.t.Helper()
	var out []*chaosCmd
	deadline := time.Now().Add(chaosRecovery)
	for i, a := range accounts {
		open := &chaosCmd{Kind: "open", Account: a, Key: "open-" + a, Path: "/v1/accounts", Body: fmt.Sprintf(`{"id":%q,"currency":"USD"}`, a)}
		dep := &chaosCmd{Kind: "deposit", Account: a, Key: "opening-" + a, Amount: opening,
			Path: "/v1/accounts/" + a + "/deposits", Body: fmt.Sprintf(`{"amount":%d}`, opening)}
		for _, cmd := range []*chaosCmd{open, dep} {
			out = append(out, cmd)
			for n := 0; ; n++ {
				if r := cl.send(cmd, (i+n)%len(cl.apis)); !retriable(r.Status) {
					if r.Status != http.StatusOK && r.Status != http.StatusCreated {
						c.t.Fatalf("%s %s: got %d %s", cmd.Kind, a, r.Status, r.Code)
					}
					break
				}
				if time.Now().After(deadline) {
					c.t.Fatalf("%s %s: not decided within %v", cmd.Kind, a, chaosRecovery)
				}
				time.Sleep(200 * time.Millisecond)
			}
		}
	}
	return out
}

func freeHostPort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// merged is a copy of a with b's entries added.
func merged(a, b map[string]string) map[string]string {
	out := maps.Clone(a)
	maps.Copy(out, b)
	return out
}
