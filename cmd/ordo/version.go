package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// Set at link time by the Makefile:
//
//	-X main.version=$(VERSION) -X main.commit=$(COMMIT) -X main.buildDate=$(BUILD_DATE)
//
// Each one left empty is read from the binary's build information instead
// (go build stamps the VCS revision and time when it builds from a Git
// checkout with -buildvcs on, and go install stamps the module version).
var (
	version   string
	commit    string
	buildDate string
)

// buildInfo is what `ordo version` reports.
type buildInfo struct {
	Version   string // release version, e.g. v0.4.0 or v0.4.0-3-gabc1234-dirty; "devel" when unknown
	Commit    string // VCS revision; "unknown" when not recorded
	BuildDate string // RFC 3339; "unknown" when not recorded
	Modified  bool   // built from a tree with uncommitted changes (from the build info only)
	GoVersion string
	Platform  string
}

// readBuildInfo combines the linker-set values with the build information
// the Go toolchain recorded (bi may be nil): a linker-set value wins.
func readBuildInfo(ldVersion, ldCommit, ldDate string, bi *debug.BuildInfo) buildInfo {
	b := buildInfo{Version: ldVersion, Commit: ldCommit, BuildDate: ldDate,
		GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if bi != nil {
		if b.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			b.Version = bi.Main.Version
		}
		if bi.GoVersion != "" {
			b.GoVersion = bi.GoVersion
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				if b.Commit == "" {
					b.Commit = s.Value
				}
			case "vcs.time":
				if b.BuildDate == "" {
					b.BuildDate = s.Value // the commit's time: the closest the build info has
				}
			case "vcs.modified":
				b.Modified = ldCommit == "" && s.Value == "true"
			}
		}
	}
	if b.Version == "" {
		b.Version = "devel"
	}
	if b.Commit == "" {
		b.Commit = "unknown"
	}
	if b.BuildDate == "" {
		b.BuildDate = "unknown"
	}
	return b
}

func (b buildInfo) write(w io.Writer) error {
	commit := b.Commit
	if b.Modified {
		commit += " (modified)"
	}
	_, err := fmt.Fprintf(w, "ordo %s\ncommit:  %s\nbuilt:   %s\ngo:      %s %s\n", b.Version, commit, b.BuildDate, b.GoVersion, b.Platform)
	return err
}

// currentBuild is this binary's build.
func currentBuild() buildInfo {
	bi, _ := debug.ReadBuildInfo()
	return readBuildInfo(version, commit, buildDate, bi)
}

func versionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version, commit and build date of this binary",
		Long: `Prints the release version, the commit and the build date of this binary,
and the Go version and platform it was built with. "make build" and
"make image" set them from Git (git describe, the HEAD commit) and the clock
(or SOURCE_DATE_EPOCH); a binary built otherwise reports what the Go
toolchain recorded, or "devel" and "unknown".`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return currentBuild().write(cmd.OutOrStdout())
		},
	}
}
