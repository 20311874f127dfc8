package deploy

import (
	"os"
	"os/exec"
	"testing"
)

// TestComposeSmoke runs compose/smoke.sh: the compose deployment brought up
// with docker-compose from the images this machine has (ORDO_TEST_IMAGE,
// ORDO_TEST_POSTGRES_IMAGE), real traffic, one broker and one consumer
// killed, balances and `ordo verify` checked. SMOKE_KAFKA=apache runs it on
// the full topology where its images can be pulled. It needs docker-compose
// and fails, never skips, without it.
func TestComposeSmoke(t *testing.T) {
	if _, err := exec.LookPath("docker-compose"); err != nil {
		t.Fatalf("the compose smoke test needs docker-compose: %v", err)
	}
	cmd := exec.Command("bash", "compose/smoke.sh")
	cmd.Env = append(os.Environ(), "ORDO_IMAGE="+testImage())
	if pg := os.Getenv("ORDO_TEST_POSTGRES_IMAGE"); pg != "" && os.Getenv("POSTGRES_IMAGE") == "" {
		cmd.Env = append(cmd.Env, "POSTGRES_IMAGE="+pg)
	}
	out, err := cmd.CombinedOutput()
	t.Logf("smoke.sh:\n%s", out)
	if err != nil {
		t.Fatalf("smoke.sh: %v", err)
	}
}
