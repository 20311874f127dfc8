package testinfra

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/testcontainers/testcontainers-go"
	tcpostgres "github.com/testcontainers/testcontainers-go/modules/postgres"
	"github.com/testcontainers/testcontainers-go/wait"
)

// DefaultPostgresImage is the official image, used unless
// ORDO_TEST_POSTGRES_IMAGE names another.
const DefaultPostgresImage = "postgres:16-alpine"

// Postgres is a server tests create databases on.
type Postgres struct {
	adminURL  string
	container *tcpostgres.PostgresContainer
	seq       atomic.Int64
}

// StartPostgres connects to ORDO_TEST_POSTGRES_URL or starts a container.
func StartPostgres(ctx context.Context) (*Postgres, error) {
	if u := os.Getenv("ORDO_TEST_POSTGRES_URL"); u != "" {
		return &Postgres{adminURL: u}, nil
	}
	image := envOr("ORDO_TEST_POSTGRES_IMAGE", DefaultPostgresImage)
	c, err := tcpostgres.Run(ctx, image,
		tcpostgres.WithDatabase("ordo"),
		tcpostgres.WithUsername("ordo"),
		tcpostgres.WithPassword("ordo"),
		// As BasicWaitStrategies, with room for a loaded machine: the
		// image's first start runs initdb, which took over a minute on a
		// busy 2-core VM.
		testcontainers.WithWaitStrategyAndDeadline(3*time.Minute,
			wait.ForLog("database system is ready to accept connections").WithOccurrence(2).WithStartupTimeout(3*time.Minute),
			wait.ForListeningPort("5432/tcp").WithStartupTimeout(3*time.Minute),
		),
		testcontainers.WithCmdArgs("-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "max_connections=300"),
	)
	if err != nil {
		if c != nil {
			_ = c.Terminate(context.Background())
		}
		return nil, fmt.Errorf("start postgres container from %s (set ORDO_TEST_POSTGRES_IMAGE or ORDO_TEST_POSTGRES_URL): %w", image, err)
	}
	u, err := c.ConnectionString(ctx, "sslmode=disable")
	if err != nil {
		_ = c.Terminate(context.Background())
		return nil, err
	}
	return &Postgres{adminURL: u, container: c}, nil
}

// Close stops the container, if one was started.
func (p *Postgres) Close() {
	if p.container != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = p.container.Terminate(ctx)
	}
}

// NewDatabase creates an empty database for one test and returns its URL.
// The database is dropped when the test ends.
func (p *Postgres) NewDatabase(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	name := fmt.Sprintf("t_%d_%d_%s", os.Getpid(), p.seq.Add(1), sanitize(t.Name()))
	if len(name) > 63 {
		name = name[:63]
	}
	conn, err := pgx.Connect(ctx, p.adminURL)
	if err != nil {
		t.Fatalf("connect to test postgres: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatalf("create test database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if conn, err := pgx.Connect(ctx, p.adminURL); err == nil {
			_, _ = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
			conn.Close(ctx)
		}
	})
	u, err := url.Parse(p.adminURL)
	if err != nil {
		t.Fatalf("parse postgres URL: %v", err)
	}
	u.Path = "/" + name
	return u.String()
}

func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			return r
		case r >= 'A' && r <= 'Z':
			return r + 'a' - 'A'
		}
		return '_'
	}, s)
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
