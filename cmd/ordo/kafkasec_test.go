package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

const (
	testSASLUser = "ordo"
	testSASLPass = "pa55-w0rd-never-shown"
)

// secureCluster is a kfake cluster that speaks only TLS (with cert) and
// requires SASL (PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512 users).
func secureCluster(t *testing.T, cert testCert, topics ...string) *kfake.Cluster {
	t.Helper()
	opts := []kfake.Opt{
		kfake.NumBrokers(1),
		kfake.EnableSASL(),
		kfake.Superuser("PLAIN", testSASLUser, testSASLPass),
		kfake.Superuser("SCRAM-SHA-256", testSASLUser, testSASLPass),
		kfake.Superuser("SCRAM-SHA-512", testSASLUser, testSASLPass),
		kfake.TLS(&tls.Config{Certificates: []tls.Certificate{cert.tlsCert(t)}, MinVersion: tls.VersionTLS12}),
		kfake.GroupMinSessionTimeout(time.Second),
	}
	if len(topics) > 0 {
		opts = append(opts, kfake.SeedTopics(4, topics...))
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// secureOptions are Options for c's TLS and SASL with mechanism.
func secureOptions(c *kfake.Cluster, cert testCert, mechanism string) Options {
	o := defaultOptions()
	o.Brokers = c.ListenAddrs()
	o.KafkaTLS = true
	o.KafkaTLSCA = cert.certFile
	o.KafkaSASLMechanism = mechanism
	o.KafkaSASLUser = testSASLUser
	o.kafkaSASLPassword = testSASLPass
	return o
}

// TestKafkaOptsConnect: a client built from kafkaOpts produces to and
// consumes from a TLS+SASL broker with each mechanism; a wrong password, no
// TLS, a CA that did not sign the broker, or no SASL do not get through.
func TestKafkaOptsConnect(t *testing.T) {
	dir := t.TempDir()
	cert := newTestCert(t, dir, "broker")
	other := newTestCert(t, dir, "other")
	c := secureCluster(t, cert, "t")
	for _, tc := range []struct {
		name   string
		modify func(*Options)
		ok     bool
	}{
		{"plain", func(o *Options) { o.KafkaSASLMechanism = "PLAIN" }, true},
		{"scram-sha-256", func(o *Options) { o.KafkaSASLMechanism = "SCRAM-SHA-256" }, true},
		{"scram-sha-512 from a file", func(o *Options) {
			o.kafkaSASLPassword = ""
			o.KafkaSASLPasswordFile = filepath.Join(dir, "password")
			if err := os.WriteFile(o.KafkaSASLPasswordFile, []byte(testSASLPass+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
		}, true},
		{"server name", func(o *Options) { o.KafkaTLSServerName = "localhost" }, true},
		{"wrong password", func(o *Options) { o.kafkaSASLPassword = "wrong" }, false},
		{"wrong scram password", func(o *Options) { o.KafkaSASLMechanism = "SCRAM-SHA-256"; o.kafkaSASLPassword = "wrong" }, false},
		{"no tls", func(o *Options) { o.KafkaTLS = false; o.KafkaTLSCA = "" }, false},
		{"untrusted ca", func(o *Options) { o.KafkaTLSCA = other.certFile }, false},
		{"no sasl", func(o *Options) { o.KafkaSASLMechanism = ""; o.KafkaSASLUser = ""; o.kafkaSASLPassword = "" }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := secureOptions(c, cert, "SCRAM-SHA-512")
			tc.modify(&o)
			opts, err := kafkaOpts(o)
			if err != nil {
				t.Fatalf("kafkaOpts: %v", err)
			}
			cl, err := kgo.NewClient(append([]kgo.Opt{
				kgo.SeedBrokers(o.Brokers...), kgo.DefaultProduceTopic("t"),
				kgo.ConsumeTopics("t"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
			}, opts...)...)
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			timeout := 10 * time.Second
			if !tc.ok {
				timeout = 2 * time.Second
			}
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			defer cancel()
			value := []byte("hello " + tc.name)
			err = cl.ProduceSync(ctx, &kgo.Record{Value: value}).FirstErr()
			if !tc.ok {
				if err == nil {
					t.Fatal("produce: got no error, want the broker to refuse the client")
				}
				return
			}
			if err != nil {
				t.Fatalf("produce: %v", err)
			}
			for found := false; !found; {
				fs := cl.PollFetches(ctx)
				if err := ctx.Err(); err != nil {
					t.Fatalf("consume: %q not read back: %v", value, err)
				}
				fs.EachRecord(func(r *kgo.Record) { found = found || bytes.Equal(r.Value, value) })
			}
		})
	}
}

// TestKafkaOptsInvalid: unusable combinations are refused, naming the flag,
// and no error shows the password.
func TestKafkaOptsInvalid(t *testing.T) {
	dir := t.TempDir()
	cert := newTestCert(t, dir, "c")
	for _, tc := range []struct {
		name   string
		modify func(*Options)
		want   string
	}{
		{"ca without tls", func(o *Options) { o.KafkaTLS = false }, "--kafka-tls-ca needs --kafka-tls"},
		{"cert without key", func(o *Options) { o.KafkaTLSCert = cert.certFile }, "--kafka-tls-cert and --kafka-tls-key go together"},
		{"missing ca file", func(o *Options) { o.KafkaTLSCA = filepath.Join(dir, "missing") }, "--kafka-tls-ca"},
		{"unknown mechanism", func(o *Options) { o.KafkaSASLMechanism = "GSSAPI" }, "want PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER"},
		{"no user", func(o *Options) { o.KafkaSASLUser = "" }, "needs --kafka-sasl-user"},
		{"no password", func(o *Options) { o.kafkaSASLPassword = "" }, "ORDO_KAFKA_SASL_PASSWORD or --kafka-sasl-password-file"},
		{"password twice", func(o *Options) { o.KafkaSASLPasswordFile = cert.keyFile }, "not both"},
		{"user without mechanism", func(o *Options) { o.KafkaSASLMechanism = "" }, "need --kafka-sasl-mechanism"},
		{"oauthbearer with user", func(o *Options) { o.KafkaSASLMechanism = "OAUTHBEARER" }, "not used by OAUTHBEARER"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := defaultOptions()
			o.KafkaTLS, o.KafkaTLSCA = true, cert.certFile
			o.KafkaSASLMechanism, o.KafkaSASLUser, o.kafkaSASLPassword = "PLAIN", testSASLUser, testSASLPass
			tc.modify(&o)
			_, err := kafkaOpts(o)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error saying %q", err, tc.want)
			}
			if strings.Contains(err.Error(), testSASLPass) {
				t.Fatalf("the error shows the password: %v", err)
			}
		})
	}
	o := defaultOptions()
	o.KafkaSASLMechanism, o.kafkaSASLPassword = "oauthbearer", "token"
	if opts, err := kafkaOpts(o); err != nil || len(opts) != 1 {
		t.Fatalf("OAUTHBEARER with a token: got %d options, %v; want 1, nil", len(opts), err)
	}
}

// TestKafkaPasswordNeverShown: the password has no flag, and neither
// --help nor the roles' logs (at debug, franz-go's included) show it.
func TestKafkaPasswordNeverShown(t *testing.T) {
	t.Setenv(kafkaPasswordEnv, testSASLPass)
	for _, role := range []string{"api", "consumer", "dev", "partitions"} {
		var out bytes.Buffer
		root := newRootCmd()
		root.SetOut(&out)
		root.SetArgs([]string{role, "--help"})
		if err := root.Execute(); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out.String(), "--kafka-sasl-password-file") {
			t.Errorf("ordo %s --help: no --kafka-sasl-password-file", role)
		}
		if strings.Contains(out.String(), testSASLPass) {
			t.Errorf("ordo %s --help shows the password", role)
		}
		if strings.Contains(out.String(), "--kafka-sasl-password ") {
			t.Errorf("ordo %s has a password flag", role)
		}
	}
}

// TestRolesOverTLSAndSASL: the API (over HTTPS) and the consumer, with
// every Kafka client they make (topic admin, producer, reply listener,
// consumer group), work against a broker that only speaks TLS with SCRAM;
// their debug logs never show the password.
func TestRolesOverTLSAndSASL(t *testing.T) {
	dir := t.TempDir()
	cert := newTestCert(t, dir, "broker")
	c := secureCluster(t, cert)
	e := newEnv(t, 2)
	sec := secureOptions(c, cert, "SCRAM-SHA-256")
	e.opts.Brokers = sec.Brokers
	e.opts.KafkaTLS, e.opts.KafkaTLSCA = sec.KafkaTLS, sec.KafkaTLSCA
	e.opts.KafkaSASLMechanism, e.opts.KafkaSASLUser, e.opts.kafkaSASLPassword = sec.KafkaSASLMechanism, sec.KafkaSASLUser, sec.kafkaSASLPassword
	e.opts.TLSCert, e.opts.TLSKey = cert.certFile, cert.keyFile
	var logs syncBuffer
	e.log = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	base := strings.Replace(e.startAPI(), "http://", "https://", 1)
	e.startConsumer()

	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: cert.pool}}}
	send := func(path, body string) (int, string) {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, base+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Idempotency-Key", path+body)
		req.Header.Set("Authorization", "Bearer "+testAdminKey) // this transport is not the tests' default one
		res, err := client.Do(req)
		if err != nil {
			t.Fatalf("POST %s over HTTPS: %v", path, err)
		}
		defer res.Body.Close()
		raw, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(raw)
	}
	if status, raw := send("/v1/accounts", `{"id":"secure","currency":"USD"}`); status != http.StatusCreated {
		t.Fatalf("open: got %d %s, want 201", status, raw)
	}
	var status int
	var raw string
	waitFor(t, 30*time.Second, func() bool {
		status, raw = send("/v1/accounts/secure/deposits", `{"amount":42}`)
		return status != http.StatusAccepted && status != http.StatusServiceUnavailable
	})
	if status != http.StatusOK || !strings.Contains(raw, `"balance":42`) {
		t.Fatalf("deposit over TLS and SASL: got %d %s, want 200 with balance 42", status, raw)
	}
	if strings.Contains(logs.String(), testSASLPass) {
		t.Fatal("the logs show the password")
	}
}
