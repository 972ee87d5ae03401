package archtest

import (
	"encoding/json"
	"io"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/entityconn/entityconn"

type pkg struct {
	ImportPath string
	Deps       []string
	Standard   bool
}

// allowed lists, for each layer, the module's layers its packages may import. Packages of
// the standard library are always allowed; third-party packages only where listed.
var allowed = map[string]struct {
	layers     []string
	thirdParty bool
}{
	"events":      {layers: nil},
	"domain":      {layers: []string{"events"}},
	"projections": {layers: []string{"events", "domain"}},
	"adapters":    {layers: []string{"events", "domain", "projections", "adapters"}, thirdParty: true},
	"cmd":         {layers: []string{"events", "domain", "projections", "adapters"}, thirdParty: true},
}

func layer(path string) string {
	rest, ok := strings.CutPrefix(path, module+"/")
	if !ok {
		return ""
	}
	l, _, _ := strings.Cut(rest, "/")
	return l
}

func TestDependenciesPointOneWay(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps=false", "-json", module+"/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	seen := 0
	for {
		var p pkg
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		from := layer(p.ImportPath)
		rule, ok := allowed[from]
		if !ok {
			if from != "" {
				t.Errorf("%s is in top-level directory %q, which the layout does not have", p.ImportPath, from)
			}
			continue
		}
		seen++
		deps, err := exec.Command("go", "list", "-f", `{{join .Deps "\n"}}`, p.ImportPath).Output()
		if err != nil {
			t.Fatalf("go list %s: %v", p.ImportPath, err)
		}
		for _, d := range strings.Fields(string(deps)) {
			to := layer(d)
			switch {
			case to == "" && isStandard(d):
			case to == "":
				if !rule.thirdParty {
					t.Errorf("%s (%s) imports third-party %s; %s may use the standard library only", p.ImportPath, from, d, from)
				}
			case !contains(rule.layers, to) && to != from:
				t.Errorf("%s (%s) depends on %s (%s): dependencies must point cmd → adapters → {domain, projections} → events", p.ImportPath, from, d, to)
			}
		}
	}
	if seen < 5 {
		t.Errorf("checked %d packages, want the whole module", seen)
	}
}

func isStandard(path string) bool {
	first, _, _ := strings.Cut(path, "/")
	return !strings.Contains(first, ".")
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if x == y {
			return true
		}
	}
	return false
}
