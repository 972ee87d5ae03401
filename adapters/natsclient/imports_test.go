package natsclient_test

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/entityconn/entityconn"

// TestImportsStayLight keeps the package cheap for other services to import: of this module
// it may use packages events and events/contract only (not domain, app or natsjs, which bring
// the service with them), and directly it imports only the standard library, nats.go, its
// jetstream package, google/uuid and those two.
func TestImportsStayLight(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	deps := strings.Fields(string(out))
	ours := []string{module + "/events", module + "/events/contract"}
	for _, d := range deps {
		if strings.HasPrefix(d, module+"/") && !slices.Contains(ours, d) && d != module+"/adapters/natsclient" {
			t.Errorf("natsclient depends on %s; of this module it may use %q only", d, ours)
		}
	}
	for _, o := range ours {
		if !slices.Contains(deps, o) {
			t.Errorf("go list -deps = %q; want it to list %s (is the check looking at the right package?)", deps, o)
		}
	}

	out, err = exec.Command("go", "list", "-f", `{{join .Imports "\n"}}`, ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	allowed := append([]string{"github.com/nats-io/nats.go", "github.com/nats-io/nats.go/jetstream", "github.com/google/uuid"}, ours...)
	for _, imp := range strings.Fields(string(out)) {
		first, _, _ := strings.Cut(imp, "/")
		if !strings.Contains(first, ".") { // the standard library
			continue
		}
		if !slices.Contains(allowed, imp) {
			t.Errorf("natsclient imports %s; it may import only the standard library and %q", imp, allowed)
		}
	}
}
