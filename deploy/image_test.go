package deploy

import (
	"archive/tar"
	"bytes"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// testImage is the image under test: ORDO_TEST_IMAGE (the Makefile sets it
// to the image `make image` built), else ordo-dev/ordo:dev.
func testImage() string {
	if v := os.Getenv("ORDO_TEST_IMAGE"); v != "" {
		return v
	}
	return "ordo-dev/ordo:dev"
}

// docker runs the docker CLI and returns its standard output.
func docker(t *testing.T, args ...string) string {
	t.Helper()
	var stderr bytes.Buffer
	cmd := exec.Command("docker", args...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return string(out)
}

// TestImageMetadata: the image runs as a numeric non-root user and carries
// the OCI labels, with the version and revision `ordo version` reports.
func TestImageMetadata(t *testing.T) {
	image := testImage()
	var cfg struct {
		User   string
		Labels map[string]string
	}
	if err := json.Unmarshal([]byte(docker(t, "image", "inspect", "--format", "{{json .Config}}", image)), &cfg); err != nil {
		t.Fatal(err)
	}
	uid, _, _ := strings.Cut(cfg.User, ":")
	if n, err := strconv.Atoi(uid); err != nil || n == 0 {
		t.Errorf("USER %q: want a numeric user other than 0", cfg.User)
	}
	for _, key := range []string{"title", "description", "source", "version", "revision", "created"} {
		if v := cfg.Labels["org.opencontainers.image."+key]; v == "" || v == "unknown" {
			t.Errorf("label org.opencontainers.image.%s = %q, want it set", key, v)
		}
	}
	if created := cfg.Labels["org.opencontainers.image.created"]; created != "" {
		if _, err := time.Parse(time.RFC3339, created); err != nil {
			t.Errorf("label created %q: not RFC 3339: %v", created, err)
		}
	}

	out := docker(t, "run", "--rm", image, "version")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 {
		t.Fatalf("ordo version printed %q, want 4 lines", out)
	}
	for _, want := range []string{
		"ordo " + cfg.Labels["org.opencontainers.image.version"],
		"commit:  " + cfg.Labels["org.opencontainers.image.revision"],
		"built:   " + cfg.Labels["org.opencontainers.image.created"],
	} {
		if !strings.Contains(out, want+"\n") {
			t.Errorf("ordo version printed\n%s\nwant a line %q (the image's labels)", out, want)
		}
	}
}

// TestImageRunsAsNonRoot: a process started from the image runs with a uid
// other than 0, as the kernel sees it.
func TestImageRunsAsNonRoot(t *testing.T) {
	id := strings.TrimSpace(docker(t, "run", "-d", "--rm", testImage(), "broker", "--listen", "127.0.0.1:9092"))
	t.Cleanup(func() { _ = exec.Command("docker", "rm", "-f", id).Run() })
	var pid string
	for deadline := time.Now().Add(20 * time.Second); pid == "" || pid == "0"; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the container did not start")
		}
		pid = strings.TrimSpace(docker(t, "inspect", "--format", "{{.State.Pid}}", id))
	}
	status, err := os.ReadFile("/proc/" + pid + "/status")
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(status)) {
		if fields := strings.Fields(line); len(fields) >= 2 && fields[0] == "Uid:" {
			if fields[1] == "0" {
				t.Errorf("the container's process runs as uid 0: %s", strings.TrimSpace(line))
			}
			return
		}
	}
	t.Fatalf("no Uid line in /proc/%s/status", pid)
}

// TestImageCABundle: the image carries a CA bundle where Go's crypto/x509
// looks for it on Linux, and the bundle parses into many certificates.
func TestImageCABundle(t *testing.T) {
	const path = "/etc/ssl/certs/ca-certificates.crt"
	id := strings.TrimSpace(docker(t, "create", testImage()))
	t.Cleanup(func() { _ = exec.Command("docker", "rm", "-f", id).Run() })
	tr := tar.NewReader(strings.NewReader(docker(t, "cp", id+":"+path, "-")))
	if _, err := tr.Next(); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	bundle, err := io.ReadAll(tr)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for rest := bundle; ; {
		var block *pem.Block
		if block, rest = pem.Decode(rest); block == nil {
			break
		}
		if _, err := x509.ParseCertificate(block.Bytes); err == nil {
			n++
		}
	}
	if n < 10 {
		t.Errorf("%s holds %d certificates, want a system bundle (over 10)", path, n)
	}
	if !x509.NewCertPool().AppendCertsFromPEM(bundle) {
		t.Errorf("%s: no certificate crypto/x509 can load", path)
	}
}
