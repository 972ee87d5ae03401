package natsclient_test

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/entityconn/entityconn"

// TestImportsStayLight keeps the package cheap for other services to import: of this module
// it may use package events only (not domain, app or natsjs, which bring the service with
// them), and directly it imports only the standard library, nats.go, its jetstream package
// and google/uuid.
func TestImportsStayLight(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	deps := strings.Fields(string(out))
	for _, d := range deps {
		if strings.HasPrefix(d, module+"/") && d != module+"/events" && d != module+"/adapters/natsclient" {
			t.Errorf("natsclient depends on %s; of this module it may use %s/events only", d, module)
		}
	}
	if !slices.Contains(deps, module+"/events") {
		t.Errorf("go list -deps = %q; want it to list %s/events (is the check looking at the right package?)", deps, module)
	}

	out, err = exec.Command("go", "list", "-f", `{{join .Imports "\n"}}`, ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	allowed := []string{"github.com/nats-io/nats.go", "github.com/nats-io/nats.go/jetstream", "github.com/google/uuid", module + "/events"}
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
