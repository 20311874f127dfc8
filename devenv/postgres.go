package devenv

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// PostgresConfig configures a private PostgreSQL server.
type PostgresConfig struct {
	// Dir holds the cluster; it is created (initdb) on first use.
	Dir string
	// BinDir holds initdb and postgres. Default: the directory of pg_ctl on
	// PATH, else the newest /usr/lib/postgresql/*/bin.
	BinDir string
	// Port to listen on (127.0.0.1 only). Default 0: a free port.
	Port   int
	Logger *slog.Logger
}

// Postgres is a running private server.
type Postgres struct {
	cmd  *exec.Cmd
	url  string
	done chan error
}

// URL is the connection URL of the "ordo" database.
func (p *Postgres) URL() string { return p.url }

// StartPostgres initialises the cluster if needed, starts the server and
// creates the "ordo" database. PostgreSQL refuses to run as root; when
// running as root the server runs as the "postgres" system user.
func StartPostgres(ctx context.Context, cfg PostgresConfig) (*Postgres, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	bin, err := FindPostgresBin(cfg.BinDir)
	if err != nil {
		return nil, err
	}
	dir, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return nil, err
	}
	cred, err := serverCredential()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create %s: %w", dir, err)
	}
	if cred != nil {
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			return nil, fmt.Errorf("hand %s to the postgres user: %w", dir, err)
		}
	}
	logPath := filepath.Join(filepath.Dir(dir), "postgres.log")
	if _, err := os.Stat(filepath.Join(dir, "PG_VERSION")); errors.Is(err, os.ErrNotExist) {
		cfg.Logger.Info("initialising a private PostgreSQL cluster", "dir", dir)
		initdb := exec.CommandContext(ctx, filepath.Join(bin, "initdb"), "-D", dir, "-U", "ordo", "--auth=trust", "-E", "UTF8", "--no-instructions")
		initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
		if out, err := initdb.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("initdb %s failed: %w\n%s%s", dir, err, out, rootHint(cred, dir))
		}
	}
	port := cfg.Port
	if port == 0 {
		if port, err = freeTCPPort(); err != nil {
			return nil, err
		}
	}
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(filepath.Join(bin, "postgres"), "-D", dir, "-p", strconv.Itoa(port),
		"-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=", "-c", "max_connections=200")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// Pdeathsig: if this process dies without Close, the server shuts down
	// too instead of holding the data directory.
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGINT, Setpgid: true}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("start postgres: %w", err)
	}
	p := &Postgres{cmd: cmd, done: make(chan error, 1), url: fmt.Sprintf("postgres://ordo@127.0.0.1:%d/ordo?sslmode=disable", port)}
	go func() { p.done <- cmd.Wait(); logFile.Close() }()
	if err := p.waitReady(ctx, port); err != nil {
		p.Close()
		return nil, fmt.Errorf("%w (server log: %s)", err, logPath)
	}
	return p, nil
}

func (p *Postgres) waitReady(ctx context.Context, port int) error {
	admin := fmt.Sprintf("postgres://ordo@127.0.0.1:%d/postgres?sslmode=disable", port)
	deadline := time.Now().Add(60 * time.Second)
	for {
		conn, err := pgx.Connect(ctx, admin)
		if err == nil {
			defer conn.Close(ctx)
			var exists bool
			if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = 'ordo')`).Scan(&exists); err != nil {
				return err
			}
			if !exists {
				if _, err := conn.Exec(ctx, `CREATE DATABASE ordo`); err != nil {
					return err
				}
			}
			return nil
		}
		select {
		case err := <-p.done:
			p.done <- err
			return fmt.Errorf("postgres exited during start-up: %v", err)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("postgres did not accept connections within a minute: %w", err)
		}
	}
}

// Close shuts the server down (fast shutdown) and waits for it.
func (p *Postgres) Close() {
	_ = p.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// FindPostgresBin returns dir if set, else the directory of pg_ctl on PATH,
// else the newest /usr/lib/postgresql/*/bin holding initdb: where the
// PostgreSQL server binaries, and the psql client beside them, are.
func FindPostgresBin(dir string) (string, error) {
	if dir != "" {
		return dir, nil
	}
	if path, err := exec.LookPath("pg_ctl"); err == nil {
		return filepath.Dir(path), nil
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return versionOf(dirs[i]) > versionOf(dirs[j]) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, nil
		}
	}
	return "", errors.New("no PostgreSQL server binaries found (looked for pg_ctl on PATH and /usr/lib/postgresql/*/bin): install PostgreSQL or set DATABASE_URL")
}

func versionOf(binDir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return v
}

// serverCredential is nil when not root; as root, the postgres user's.
func serverCredential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, errors.New("running as root, and PostgreSQL refuses to run as root, but there is no 'postgres' system user to run it as: create one (useradd -r postgres), run as another user, or set DATABASE_URL")
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

func rootHint(cred *syscall.Credential, dir string) string {
	if cred == nil {
		return ""
	}
	return fmt.Sprintf("\nRunning as root, the server runs as the 'postgres' user, which must be able to reach %s: every parent directory needs o+x. Choose another --data-dir or set DATABASE_URL.", dir)
}

func freeTCPPort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
