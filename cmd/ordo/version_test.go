package main

import (
	"bytes"
	"runtime"
	"runtime/debug"
	"testing"
)

// TestReadBuildInfo: values set by the linker win; each one missing is read
// from the Go toolchain's build information; what neither has reads
// "devel" or "unknown".
func TestReadBuildInfo(t *testing.T) {
	vcs := &debug.BuildInfo{
		GoVersion: "go1.99.0",
		Main:      debug.Module{Path: "github.com/ordo-dev/ordo", Version: "v1.2.3"},
		Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "abc123"},
			{Key: "vcs.time", Value: "2026-01-02T03:04:05Z"},
			{Key: "vcs.modified", Value: "true"},
		},
	}
	devel := &debug.BuildInfo{GoVersion: "go1.99.0", Main: debug.Module{Version: "(devel)"}}
	platform := runtime.GOOS + "/" + runtime.GOARCH
	tests := []struct {
		name                string
		ldVer, ldRev, ldDay string
		bi                  *debug.BuildInfo
		want                buildInfo
	}{
		{"linker values win", "v2.0.0", "def456", "2026-11-30T00:00:00Z", vcs,
			buildInfo{Version: "v2.0.0", Commit: "def456", BuildDate: "2026-11-30T00:00:00Z", GoVersion: "go1.99.0", Platform: platform}},
		{"build info fallback", "", "", "", vcs,
			buildInfo{Version: "v1.2.3", Commit: "abc123", BuildDate: "2026-01-02T03:04:05Z", Modified: true, GoVersion: "go1.99.0", Platform: platform}},
		{"linker version, build info commit", "v2.0.0", "", "", vcs,
			buildInfo{Version: "v2.0.0", Commit: "abc123", BuildDate: "2026-01-02T03:04:05Z", Modified: true, GoVersion: "go1.99.0", Platform: platform}},
		{"nothing recorded", "", "", "", devel,
			buildInfo{Version: "devel", Commit: "unknown", BuildDate: "unknown", GoVersion: "go1.99.0", Platform: platform}},
		{"no build info", "", "", "", nil,
			buildInfo{Version: "devel", Commit: "unknown", BuildDate: "unknown", GoVersion: runtime.Version(), Platform: platform}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := readBuildInfo(tt.ldVer, tt.ldRev, tt.ldDay, tt.bi); got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

// TestVersionCommand: `ordo version` prints what the linker stamped.
func TestVersionCommand(t *testing.T) {
	saved := [3]string{version, commit, buildDate}
	t.Cleanup(func() { version, commit, buildDate = saved[0], saved[1], saved[2] })
	version, commit, buildDate = "v0.9.0-2-g1234567", "1234567890abcdef", "2026-11-30T05:00:00Z"

	cmd := newRootCmd()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetArgs([]string{"version"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	bi, _ := debug.ReadBuildInfo()
	want := "ordo v0.9.0-2-g1234567\n" +
		"commit:  1234567890abcdef\n" +
		"built:   2026-11-30T05:00:00Z\n" +
		"go:      " + bi.GoVersion + " " + runtime.GOOS + "/" + runtime.GOARCH + "\n"
	if got := out.String(); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}
