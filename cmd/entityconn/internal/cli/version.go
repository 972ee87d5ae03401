package cli

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
)

// Version describes the running program, named name: its module version (a tag, a
// pseudo-version, or "(devel)" for a build from a work tree), the version control revision
// and time it was built from when the build recorded them ("modified" when the work tree had
// changes), then the Go version and platform. Such as
// "entityconn (devel) revision 937c716a1f0e, 2026-12-02T04:35:13Z go1.26.8 linux/amd64".
func Version(name string) string {
	version := "(devel)"
	var vcs []string
	if bi, ok := debug.ReadBuildInfo(); ok {
		if bi.Main.Version != "" {
			version = bi.Main.Version
		}
		var rev, at string
		modified := false
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.time":
				at = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
		if rev != "" {
			vcs = append(vcs, "revision "+rev[:min(12, len(rev))])
		}
		if at != "" {
			vcs = append(vcs, at)
		}
		if modified {
			vcs = append(vcs, "modified")
		}
	}
	line := name + " " + version
	if len(vcs) > 0 {
		line += " " + strings.Join(vcs, ", ")
	}
	return fmt.Sprintf("%s %s %s/%s", line, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}
