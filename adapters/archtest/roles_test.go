package archtest

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// roles gives every package under adapters/ its role. The service's core (app) declares the
// ports it needs and imports no adapter that implements them; the doors reach the store only
// through app; the stores implement app's ports and know no door.
var roles = map[string]string{
	"app":           "core",
	"httpapi":       "door",
	"natsapi":       "door",
	"natscmd":       "door",
	"webui":         "door",
	"wire":          "door",
	"zuora":         "door",
	"natsjs":        "store",
	"memstore":      "store",
	"natserr":       "support",
	"natsbatch":     "support",
	"telemetry":     "support",
	"storetest":     "support",
	"apptest":       "wiring",
	"natsauth":      "wiring",
	"directoryfile": "support",
	"natsclient":    "client",
	"restclient":    "client",
	"archtest":      "test",
}

// forbidden lists, for each role, the roles whose packages it must not depend on, directly
// or through another package.
var forbidden = map[string][]string{
	"core":    {"door", "store", "wiring", "client"},
	"door":    {"store", "wiring"},
	"store":   {"door", "wiring"},
	"support": {"door", "store", "wiring"},
}

// adapterOf returns the adapters/ package path names (its first element under adapters/).
func adapterOf(path string) (string, bool) {
	rest, ok := strings.CutPrefix(path, module+"/adapters/")
	if !ok {
		return "", false
	}
	name, _, _ := strings.Cut(rest, "/")
	return name, true
}

// TestDoorsReachTheStoreThroughApp checks the roles package by package: doors → app → ports,
// never door → store, and app imports no adapter that implements its ports.
func TestDoorsReachTheStoreThroughApp(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}}{{"\t"}}{{join .Deps " "}}`, module+"/adapters/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	checked := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		path, deps, _ := strings.Cut(line, "\t")
		name, _ := adapterOf(path)
		role, ok := roles[name]
		if !ok {
			t.Errorf("%s has no role in archtest's roles: give it one", path)
			continue
		}
		checked[role] = true
		for _, d := range strings.Fields(deps) {
			dn, ok := adapterOf(d)
			if !ok || dn == name {
				continue
			}
			if slices.Contains(forbidden[role], roles[dn]) {
				t.Errorf("%s (%s) depends on %s (%s): doors reach the store only through app, and app knows no adapter that implements its ports", path, role, d, roles[dn])
			}
		}
	}
	for _, r := range []string{"core", "door", "store"} {
		if !checked[r] {
			t.Errorf("no package of role %s checked: is the check looking at the right packages?", r)
		}
	}
}
