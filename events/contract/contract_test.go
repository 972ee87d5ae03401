package contract_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/entityconn/entityconn/events"
	"github.com/entityconn/entityconn/events/contract"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// checkGolden fails unless got, plus a newline, is the golden file testdata/<name>.json;
// with -update it writes the file first.
func checkGolden(t *testing.T, name string, got []byte) []byte {
	t.Helper()
	path := filepath.Join("testdata", name+".json")
	got = append(got, '\n')
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file (run with -update to create it): %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("Marshal(%s) =\n%s\nwant (from %s)\n%s", name, got, path, want)
	}
	return want
}

// shapes holds one value of every published shape; each is checked against
// testdata/<name>.json.
func shapes() map[string]any {
	at := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	conn := contract.Connection{
		ID:             "6f1c8f56-3b7e-4f8e-9a53-2f3f4c1d2e10",
		SourceEntityID: "global",
		TargetEntityID: "eu",
		Status:         "Denied",
		RequestedBy:    "alice",
		RequestedAt:    at,
		UpdatedAt:      at.Add(5 * time.Minute),
	}
	requested := contract.HistoryItem{Type: events.TypeConnectionRequested, At: at, ActorUserID: "alice", ActorEntityID: "global"}
	global := "global"
	denied := contract.HistoryItem{Type: events.TypeConnectionDenied, At: at.Add(5 * time.Minute), ActorUserID: "erik", ActorEntityID: "eu", Reason: "not needed yet"}
	return map[string]any{
		"Connection":      conn,
		"HistoryItem":     denied,
		"Detail":          contract.Detail{Connection: conn, History: []contract.HistoryItem{requested, denied}, Success: true},
		"List":            contract.List{EntityConnections: []contract.Connection{conn}, NextPage: "/v1/entity-connections?page=2&pageSize=1", Success: true},
		"ListLastPage":    contract.List{EntityConnections: []contract.Connection{}, Success: true},
		"Requested":       contract.Requested{ID: conn.ID, Status: "Pending", Success: true},
		"SharingSettings": contract.SharingSettings{AutoAcceptFrom: []string{"global"}, Success: true},
		"Done":            contract.Done{Success: true},
		"HistoryItemOfAShare": contract.HistoryItem{Type: events.TypeObjectUnshared, At: at.Add(time.Hour), ActorUserID: "alice", ActorEntityID: "global",
			Reason: events.ReasonUnshared, ObjectType: "Product", ObjectID: "P-100"},
		"SharedObjects": contract.SharedObjects{SharedObjects: []contract.SharedObject{{ObjectType: "Product", ObjectID: "P-100",
			SourceEntityID: "global", TargetEntityID: "eu", ConnectionID: conn.ID, SharedAt: at.Add(10 * time.Minute), SharedBy: "alice"}},
			NextPage: "/v1/shared-objects?page=2&pageSize=1", Success: true},
		"ShareRequest":   contract.ShareRequest{ToEntityIDs: []string{"eu", "us"}},
		"UnshareRequest": contract.UnshareRequest{FromEntityIDs: []string{"eu"}},
		"Entities": contract.Entities{Entities: []contract.Entity{
			{ID: "global", Name: "ACME Global", DisplayName: "ACME Global", Status: contract.EntityStatusProvisioned, TenantID: "acme", Locale: "en_US", Timezone: "UTC"},
			{ID: "eu", Name: "ACME Europe", DisplayName: "Europe", ParentID: &global, Status: contract.EntityStatusProvisioned, TenantID: "acme", Locale: "fr_FR", Timezone: "Europe/Paris"},
		}, Success: true},
		"AccessibleEntities": contract.AccessibleEntities{Entities: []contract.AccessibleEntity{{Entity: contract.Entity{
			ID: "eu", Name: "ACME Europe", DisplayName: "Europe", ParentID: &global, Status: contract.EntityStatusProvisioned, TenantID: "acme", Locale: "fr_FR", Timezone: "Europe/Paris",
		}, Role: "admin"}}, Success: true},
	}
}

func TestGoldenFiles(t *testing.T) {
	for name, v := range shapes() {
		t.Run(name, func(t *testing.T) {
			got, err := json.Marshal(v)
			if err != nil {
				t.Fatalf("Marshal: %v", err)
			}
			want := checkGolden(t, name, got)
			back := reflect.New(reflect.TypeOf(v))
			if err := json.Unmarshal(want, back.Interface()); err != nil {
				t.Fatalf("Unmarshal(%s): %v", name, err)
			}
			if !reflect.DeepEqual(back.Elem().Interface(), v) {
				t.Errorf("Unmarshal(%s) = %+v, want %+v", name, back.Elem().Interface(), v)
			}
		})
	}
}

// TestCategoriesGolden keeps the list of error categories, with their codes and meanings,
// in a golden file, so that a new or changed category shows in review.
func TestCategoriesGolden(t *testing.T) {
	type row struct {
		Category contract.Category `json:"category"`
		Code     int               `json:"code"`
		Meaning  string            `json:"meaning"`
	}
	var rows []row
	for _, c := range contract.Categories {
		rows = append(rows, row{c, contract.CodeBase + int(c), c.String()})
	}
	got, err := json.MarshalIndent(rows, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "categories", got)
}

func TestCategoryOf(t *testing.T) {
	for _, c := range contract.Categories {
		if got := contract.CategoryOf(contract.CodeBase + int(c)); got != c {
			t.Errorf("CategoryOf(%d) = %d, want %d", contract.CodeBase+int(c), got, c)
		}
	}
	if got := contract.CategoryOf(0); got != 0 {
		t.Errorf("CategoryOf(0) = %d, want 0", got)
	}
}

func TestCategoryStringOfAnUnknownCategory(t *testing.T) {
	if got := contract.Category(42).String(); got != "category 42" {
		t.Errorf("Category(42).String() = %q, want %q", got, "category 42")
	}
}

func TestCategoryOfStatus(t *testing.T) {
	cases := []struct {
		status int
		want   contract.Category
		ok     bool
	}{
		{401, contract.CategoryAuthentication, true},
		{403, contract.CategoryPermission, true},
		{404, contract.CategoryNotFound, true},
		{405, contract.CategoryUnsupported, true},
		{413, contract.CategoryOverLimit, true},
		{415, contract.CategoryMalformed, true},
		{429, contract.CategoryOverLimit, true},
		{400, 0, false}, // invalid value, unknown field, missing value or malformed
		{409, 0, false}, // rule violation or conflict
		{500, 0, false},
		{503, 0, false},
	}
	for _, c := range cases {
		if got, ok := contract.CategoryOfStatus(c.status); got != c.want || ok != c.ok {
			t.Errorf("CategoryOfStatus(%d) = %d, %v; want %d, %v", c.status, got, ok, c.want, c.ok)
		}
	}
}
