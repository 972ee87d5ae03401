package directoryfile_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/entityconn/entityconn/adapters/directoryfile"
	"github.com/entityconn/entityconn/domain"
)

// fast keeps hashing cheap; TestParseUsesDefaultCost covers the default.
var fast = directoryfile.Options{Cost: bcrypt.MinCost}

func readFile(t *testing.T, name string) []byte {
	t.Helper()
	data, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func mustParse(t *testing.T, data []byte, previous *domain.Directory) *domain.Directory {
	t.Helper()
	d, err := directoryfile.ParseWith(data, previous, fast)
	if err != nil {
		t.Fatalf("ParseWith() error = %v", err)
	}
	return d
}

func mustEncode(t *testing.T, d *domain.Directory) []byte {
	t.Helper()
	data, err := directoryfile.Encode(d)
	if err != nil {
		t.Fatalf("Encode() error = %v", err)
	}
	return data
}

func TestParseContractExample(t *testing.T) {
	d := mustParse(t, readFile(t, "contract.yaml"), nil)

	if got := d.Tenant(); got != "acme" {
		t.Errorf("Tenant() = %q, want acme", got)
	}
	wantEntities := []domain.Entity{
		{ID: "global", Name: "ACME Global"},
		{ID: "eu", Name: "ACME Europe", ParentID: "global"},
	}
	if got := d.Entities(); !slices.Equal(got, wantEntities) {
		t.Errorf("Entities() = %+v, want %+v", got, wantEntities)
	}
	u, ok := d.UserByClientID("alice")
	if !ok {
		t.Fatal("UserByClientID(alice) found nothing")
	}
	if u.ID != "alice" || u.Name != "Alice" || u.ClientID != "alice" {
		t.Errorf("user = %+v, want id, name and client id alice, Alice, alice", u)
	}
	wantAccess := []domain.Grant{{Entity: "global", Role: domain.RoleAdmin}, {Entity: "eu", Role: domain.RoleUser}}
	if !slices.Equal(u.Access, wantAccess) {
		t.Errorf("Access = %+v, want %+v", u.Access, wantAccess)
	}
	for entity, want := range map[string]domain.Role{"global": domain.RoleAdmin, "eu": domain.RoleUser} {
		if got, ok := d.RoleOf("alice", entity); !ok || got != want {
			t.Errorf("RoleOf(alice, %s) = %q, %v, want %q, true", entity, got, ok, want)
		}
	}
}

// An entity's optional displayName, locale and timezone are kept as the file gives them,
// through the stored form too; those it lacks stay empty (the API answers their defaults).
func TestParseEntityFields(t *testing.T) {
	d := mustParse(t, readFile(t, "entity-fields.yaml"), nil)
	want := []domain.Entity{
		{ID: "global", Name: "ACME Global", Timezone: "America/Los_Angeles"},
		{ID: "eu", Name: "ACME Europe", ParentID: "global", DisplayName: "Europe", Locale: "fr_FR", Timezone: "Europe/Paris"},
	}
	if got := d.Entities(); !slices.Equal(got, want) {
		t.Errorf("Entities() = %+v, want %+v", got, want)
	}
	back, err := directoryfile.Decode(mustEncode(t, d))
	if err != nil {
		t.Fatal(err)
	}
	if got := back.Entities(); !slices.Equal(got, want) {
		t.Errorf("Decode(Encode()).Entities() = %+v, want %+v", got, want)
	}
	// A directory without them is stored as before they existed.
	plain := mustEncode(t, mustParse(t, readFile(t, "contract.yaml"), nil))
	for _, field := range []string{"displayName", "locale", "timezone"} {
		if strings.Contains(string(plain), field) {
			t.Errorf("Encode of a directory without %s holds it: %s", field, plain)
		}
	}
}

func TestParseFollowsAliases(t *testing.T) {
	d := mustParse(t, readFile(t, "aliases.yaml"), nil)

	if e, _ := d.Entity("us"); e.ParentID != "global" {
		t.Errorf("Entity(us).ParentID = %q, want global", e.ParentID)
	}
	for _, user := range []string{"alice", "bob"} {
		for _, entity := range []string{"global", "eu", "us"} {
			if got, ok := d.RoleOf(user, entity); !ok || got != domain.RoleAdmin {
				t.Errorf("RoleOf(%s, %s) = %q, %v, want admin, true", user, entity, got, ok)
			}
		}
	}
}

type wantProblem struct {
	line     int
	path     string
	fragment string
}

func TestParseRefusesBadFilesWithLines(t *testing.T) {
	tests := []struct {
		file string
		want []wantProblem
	}{
		{"bad-syntax.yaml", []wantProblem{{5, "", "mapping values are not allowed"}}},
		{"bad-empty.yaml", []wantProblem{{1, "", "the file is empty"}}},
		{"bad-not-mapping.yaml", []wantProblem{{1, "", "want a mapping of tenant, entities, users, got a list"}}},
		{"bad-two-documents.yaml", []wantProblem{{5, "", "a second YAML document"}}},
		{"bad-unknown-field.yaml", []wantProblem{
			{4, "entities[1].parent", "only the root entity may lack one"},
			{6, "entities[1].parentId", `unknown field "parentId"`},
		}},
		{"bad-merge-key.yaml", []wantProblem{
			{4, "entities[1].<<", "merge keys are not supported"},
			{4, "entities[1].name", "is required"},
		}},
		{"bad-duplicate-field.yaml", []wantProblem{{5, "entities[0].name", `duplicate field "name", first at line 4`}}},
		{"bad-duplicate-entity.yaml", []wantProblem{{5, "entities[2].id", `duplicate entity id "eu"`}}},
		{"bad-unknown-parent.yaml", []wantProblem{{6, "entities[1].parent", `no entity "europe"`}}},
		{"bad-entity-fields.yaml", []wantProblem{
			{3, "entities[0].locale", `"en US" is not a locale`},
			{7, "entities[1].displayName", "want a string, got a list"},
		}},
		{"bad-grant-unknown-entity.yaml", []wantProblem{{10, "users[0].access[1].entity", `no entity "mars"`}}},
		{"bad-role.yaml", []wantProblem{{10, "users[0].access[0].role", `"owner" is not admin or user`}}},
		// A missing field is reported at the mapping that lacks it.
		{"bad-missing-secret.yaml", []wantProblem{{8, "users[1].clientSecret", "is required"}}},
		{"bad-short-secret.yaml", []wantProblem{{7, "users[0].clientSecret", "is 5 characters long; want at least 8"}}},
		{"bad-long-secret.yaml", []wantProblem{{7, "users[0].clientSecret", "bcrypt reads at most 72"}}},
		{"bad-id-syntax.yaml", []wantProblem{{4, "entities[1].id", `"eu.west" does not match`}}},
		{"bad-kind.yaml", []wantProblem{
			{8, "users[0].access", "want a list, got a mapping"},
			{9, "users[1].id", "want a string, got a list"},
		}},
		{"bad-several.yaml", []wantProblem{
			{1, "tenant", "is required"},
			{3, "entities[1].parent", `no entity "europe"`},
			{4, "entities[2].region", `unknown field "region"`},
			{10, "users[0].access[0].role", `"boss" is not admin or user`},
			{12, "users[1].clientId", `duplicate client id "alice"`},
			{13, "users[1].clientSecret", "want at least 8"},
			{15, "users[1].access[0].entity", `no entity "apac"`},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			d, err := directoryfile.ParseWith(readFile(t, tt.file), nil, fast)
			if d != nil {
				t.Errorf("ParseWith() directory = %v, want nil", d)
			}
			if !errors.Is(err, directoryfile.ErrInvalidFile) {
				t.Fatalf("ParseWith() error = %v, want ErrInvalidFile", err)
			}
			var fe *directoryfile.FileError
			if !errors.As(err, &fe) {
				t.Fatalf("ParseWith() error = %T, want *FileError", err)
			}
			if len(fe.Problems) != len(tt.want) {
				t.Fatalf("ParseWith() problems =\n%v\nwant %d: %v", err, len(tt.want), tt.want)
			}
			for i, w := range tt.want {
				p := fe.Problems[i]
				if p.Line != w.line || p.Path != w.path || !strings.Contains(p.Message, w.fragment) {
					t.Errorf("problem %d = %q, want line %d, path %q, message containing %q", i, p, w.line, w.path, w.fragment)
				}
				if line := fmt.Sprintf("\nline %d: ", w.line); !strings.Contains(err.Error(), line) {
					t.Errorf("Error() = %q, want it to contain %q", err, line)
				}
			}
		})
	}
}

func TestProblemsNeverShowSecrets(t *testing.T) {
	for file, secret := range map[string]string{
		"bad-short-secret.yaml": "short",
		"bad-long-secret.yaml":  "0123456789012345678901234567890123456789012345678901234567890123456789-too-long",
	} {
		_, err := directoryfile.ParseWith(readFile(t, file), nil, fast)
		if err == nil || strings.Contains(err.Error(), secret) {
			t.Errorf("ParseWith(%s) error = %v, want an error without the secret", file, err)
		}
	}
}

func TestFileErrorListsOneProblemPerLine(t *testing.T) {
	err := &directoryfile.FileError{Problems: []directoryfile.LineProblem{
		{Line: 3, Column: 5, Path: "entities[1].parent", Message: `no entity "x"`},
		{Line: 7, Message: "YAML syntax: oops"},
		{Path: "tenant", Message: "is required"},
	}}
	want := "directoryfile: invalid directory file:\n" +
		"line 3: entities[1].parent: no entity \"x\"\n" +
		"line 7: YAML syntax: oops\n" +
		"tenant: is required"
	if got := err.Error(); got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if !errors.Is(err, directoryfile.ErrInvalidFile) {
		t.Error("errors.Is(FileError, ErrInvalidFile) = false, want true")
	}
}

func TestSecretsAreStoredOnlyAsHashes(t *testing.T) {
	d := mustParse(t, readFile(t, "contract.yaml"), nil)

	u, _ := d.User("alice")
	if strings.Contains(u.SecretHash, "alice-secret") {
		t.Errorf("SecretHash = %q contains the secret", u.SecretHash)
	}
	if err := bcrypt.CompareHashAndPassword([]byte(u.SecretHash), []byte("alice-secret")); err != nil {
		t.Errorf("CompareHashAndPassword(SecretHash, secret) = %v, want nil", err)
	}
	if cost, err := bcrypt.Cost([]byte(u.SecretHash)); err != nil || cost != bcrypt.MinCost {
		t.Errorf("bcrypt.Cost(SecretHash) = %d, %v, want %d", cost, err, bcrypt.MinCost)
	}
	if data := mustEncode(t, d); bytes.Contains(data, []byte("alice-secret")) {
		t.Errorf("Encode() = %s, contains the client secret", data)
	}
}

func TestParseUsesDefaultCost(t *testing.T) {
	d, err := directoryfile.Parse(readFile(t, "contract.yaml"), nil)
	if err != nil {
		t.Fatalf("Parse() error = %v", err)
	}
	u, _ := d.User("alice")
	if cost, err := bcrypt.Cost([]byte(u.SecretHash)); err != nil || cost != bcrypt.DefaultCost {
		t.Errorf("bcrypt.Cost(SecretHash) = %d, %v, want %d", cost, err, bcrypt.DefaultCost)
	}
}

func TestParseWithRefusesBadCost(t *testing.T) {
	for _, cost := range []int{-1, bcrypt.MinCost - 1, bcrypt.MaxCost + 1} {
		_, err := directoryfile.ParseWith(readFile(t, "contract.yaml"), nil, directoryfile.Options{Cost: cost})
		if err == nil || errors.Is(err, directoryfile.ErrInvalidFile) {
			t.Errorf("ParseWith(cost %d) error = %v, want a cost error", cost, err)
		}
	}
}

func TestImportIsIdempotent(t *testing.T) {
	data := readFile(t, "contract.yaml")
	first := mustParse(t, data, nil)
	second := mustParse(t, data, first)

	if a, b := mustEncode(t, first), mustEncode(t, second); !bytes.Equal(a, b) {
		t.Errorf("Encode(reimport) =\n%s\nwant\n%s", b, a)
	}

	changed := mustParse(t, bytes.ReplaceAll(data, []byte("alice-secret"), []byte("alice-new-secret")), first)
	was, _ := first.User("alice")
	now, _ := changed.User("alice")
	if now.SecretHash == was.SecretHash {
		t.Error("SecretHash after a secret change is the previous one, want a new hash")
	}
	if err := bcrypt.CompareHashAndPassword([]byte(now.SecretHash), []byte("alice-new-secret")); err != nil {
		t.Errorf("CompareHashAndPassword(new hash, new secret) = %v, want nil", err)
	}
}

func TestHashesAreSaltedWithoutPrevious(t *testing.T) {
	data := readFile(t, "contract.yaml")
	a, _ := mustParse(t, data, nil).User("alice")
	b, _ := mustParse(t, data, nil).User("alice")

	if a.SecretHash == b.SecretHash {
		t.Errorf("two imports without previous gave the same hash %q, want different salts", a.SecretHash)
	}
	for _, h := range []string{a.SecretHash, b.SecretHash} {
		if err := bcrypt.CompareHashAndPassword([]byte(h), []byte("alice-secret")); err != nil {
			t.Errorf("CompareHashAndPassword(%q) = %v, want nil", h, err)
		}
	}
}

func TestPreviousHashIsReusedOnlyAtTheSameCost(t *testing.T) {
	data := readFile(t, "contract.yaml")
	first := mustParse(t, data, nil)
	d, err := directoryfile.ParseWith(data, first, directoryfile.Options{Cost: bcrypt.MinCost + 1})
	if err != nil {
		t.Fatalf("ParseWith() error = %v", err)
	}
	u, _ := d.User("alice")
	if cost, _ := bcrypt.Cost([]byte(u.SecretHash)); cost != bcrypt.MinCost+1 {
		t.Errorf("bcrypt.Cost(SecretHash) = %d, want %d (rehashed at the new cost)", cost, bcrypt.MinCost+1)
	}
}

func TestHashesFollowUserOrder(t *testing.T) {
	var b strings.Builder
	b.WriteString("tenant: acme\nentities:\n  - {id: global, name: Global}\nusers:\n")
	const n = 40
	for i := range n {
		fmt.Fprintf(&b, "  - {id: u%d, clientId: c%d, clientSecret: secret-%d, access: [{entity: global, role: user}]}\n", i, i, i)
	}
	d := mustParse(t, []byte(b.String()), nil)

	if len(d.Users()) != n {
		t.Fatalf("len(Users()) = %d, want %d", len(d.Users()), n)
	}
	for i, u := range d.Users() {
		if u.ID != fmt.Sprintf("u%d", i) {
			t.Errorf("Users()[%d].ID = %q, want u%d", i, u.ID, i)
		}
		if err := bcrypt.CompareHashAndPassword([]byte(u.SecretHash), fmt.Appendf(nil, "secret-%d", i)); err != nil {
			t.Errorf("user %s: hash does not verify its own secret: %v", u.ID, err)
		}
	}
}

func TestEncodeDecodeRoundTrip(t *testing.T) {
	d := mustParse(t, readFile(t, "aliases.yaml"), nil)
	data := mustEncode(t, d)

	got, err := directoryfile.Decode(data)
	if err != nil {
		t.Fatalf("Decode(Encode(d)) error = %v", err)
	}
	if got.Tenant() != d.Tenant() || !slices.Equal(got.Entities(), d.Entities()) {
		t.Errorf("Decode(Encode(d)) = %q %+v, want %q %+v", got.Tenant(), got.Entities(), d.Tenant(), d.Entities())
	}
	if !slices.EqualFunc(got.Users(), d.Users(), func(a, b domain.User) bool {
		return a.ID == b.ID && a.Name == b.Name && a.ClientID == b.ClientID &&
			a.SecretHash == b.SecretHash && slices.Equal(a.Access, b.Access)
	}) {
		t.Errorf("Decode(Encode(d)).Users() = %+v, want %+v", got.Users(), d.Users())
	}
	if again := mustEncode(t, got); !bytes.Equal(again, data) {
		t.Errorf("Encode(Decode(data)) =\n%s\nwant\n%s", again, data)
	}
	if again := mustEncode(t, d); !bytes.Equal(again, data) {
		t.Errorf("Encode(d) twice gave\n%s\nand\n%s", data, again)
	}
}

func TestEncodeRefusesNil(t *testing.T) {
	if _, err := directoryfile.Encode(nil); err == nil {
		t.Error("Encode(nil) error = nil, want an error")
	}
}

func TestDecodeRefusesInvalidData(t *testing.T) {
	d := mustParse(t, readFile(t, "contract.yaml"), nil)
	good := string(mustEncode(t, d))
	u, _ := d.User("alice")
	tests := map[string]string{
		"not JSON":       "tenant: acme",
		"other version":  strings.Replace(good, `"version":1`, `"version":2`, 1),
		"unknown field":  strings.Replace(good, `"tenant":`, `"colour":"red","tenant":`, 1),
		"trailing data":  good + "{}",
		"no root entity": strings.Replace(good, `"name":"ACME Global"`, `"name":"ACME Global","parentId":"eu"`, 1),
		"not a hash":     strings.Replace(good, u.SecretHash, "alice-secret", 1),
		"missing hash":   strings.Replace(good, u.SecretHash, "", 1),
	}
	for name, data := range tests {
		t.Run(name, func(t *testing.T) {
			if data == good {
				t.Fatal("test data is the valid encoding; the replacement did not apply")
			}
			if _, err := directoryfile.Decode([]byte(data)); !errors.Is(err, directoryfile.ErrInvalidStored) {
				t.Errorf("Decode() error = %v, want ErrInvalidStored", err)
			}
		})
	}
}

func TestDemoParses(t *testing.T) {
	d := mustParse(t, directoryfile.Demo(), nil)

	if d.Tenant() != "acme" {
		t.Errorf("Tenant() = %q, want acme", d.Tenant())
	}
	wantEntities := []domain.Entity{
		{ID: "global", Name: "ACME Global"},
		{ID: "eu", Name: "ACME Europe", ParentID: "global"},
		{ID: "us", Name: "ACME Americas", ParentID: "global"},
		{ID: "apac", Name: "ACME Asia Pacific", ParentID: "global"},
	}
	if got := d.Entities(); !slices.Equal(got, wantEntities) {
		t.Errorf("Entities() = %+v, want %+v", got, wantEntities)
	}
}

func TestDemoCredentialsMatchDemo(t *testing.T) {
	d := mustParse(t, directoryfile.Demo(), nil)
	creds := directoryfile.DemoCredentials()

	want := []directoryfile.Credential{
		{ClientID: "admin", Secret: "admin-demo-secret", UserID: "admin", Access: "admin: global, eu, us, apac"},
		{ClientID: "eu-admin", Secret: "eu-admin-demo-secret", UserID: "eu-admin", Access: "admin: eu; user: global"},
		{ClientID: "us-admin", Secret: "us-admin-demo-secret", UserID: "us-admin", Access: "admin: us"},
		{ClientID: "viewer", Secret: "viewer-demo-secret", UserID: "viewer", Access: "user: global, eu, us"},
	}
	if !slices.Equal(creds, want) {
		t.Errorf("DemoCredentials() = %+v, want %+v", creds, want)
	}
	if len(creds) != len(d.Users()) {
		t.Errorf("len(DemoCredentials()) = %d, want one per demo user (%d)", len(creds), len(d.Users()))
	}
	for _, c := range creds {
		u, ok := d.UserByClientID(c.ClientID)
		if !ok {
			t.Errorf("demo directory has no client %q", c.ClientID)
			continue
		}
		if u.ID != c.UserID {
			t.Errorf("client %q belongs to user %q, credential says %q", c.ClientID, u.ID, c.UserID)
		}
		if err := bcrypt.CompareHashAndPassword([]byte(u.SecretHash), []byte(c.Secret)); err != nil {
			t.Errorf("client %q: secret does not verify against the demo hash: %v", c.ClientID, err)
		}
	}
}

func TestDemoReturnsACopy(t *testing.T) {
	a := directoryfile.Demo()
	a[0] ^= 0xff
	if b := directoryfile.Demo(); bytes.Equal(a, b) {
		t.Error("Demo() returned the same bytes after the caller changed them, want a fresh copy")
	}
}

func TestParseAcceptsAHashInsteadOfASecret(t *testing.T) {
	hash, err := bcrypt.GenerateFromPassword([]byte("hashed-secret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	file := "tenant: t\nentities:\n  - {id: g, name: G}\nusers:\n  - {id: u, clientId: u, clientSecretHash: '" + string(hash) + "', access: [{entity: g, role: admin}]}\n"
	d := mustParse(t, []byte(file), nil)
	u, _ := d.User("u")
	if u.SecretHash != string(hash) {
		t.Errorf("SecretHash = %q, want the hash from the file", u.SecretHash)
	}
	bad := []struct{ field, want string }{
		{"clientSecretHash: not-a-hash", "line 5: users[0].clientSecretHash: is not a bcrypt hash"},
		{"clientSecret: secret-123, clientSecretHash: '" + string(hash) + "'", "line 5: users[0].clientSecretHash: give clientSecret or clientSecretHash, not both"},
	}
	for _, b := range bad {
		f := "tenant: t\nentities:\n  - {id: g, name: G}\nusers:\n  - {id: u, clientId: u, " + b.field + ", access: [{entity: g, role: admin}]}\n"
		_, err := directoryfile.ParseWith([]byte(f), nil, directoryfile.Options{Cost: bcrypt.MinCost})
		if err == nil || !strings.Contains(err.Error(), b.want) {
			t.Errorf("Parse(%s) = %v, want %q", b.field, err, b.want)
		}
	}
}

func TestServiceUsers(t *testing.T) {
	file := []byte(`tenant: acme
entities:
  - {id: global, name: ACME Global}
users:
  - {id: billing, clientId: billing, clientSecret: billing-secret, service: true, access: [{entity: global, role: user}]}
  - {id: alice, clientId: alice, clientSecret: alice-secret, access: [{entity: global, role: admin}]}
  - {id: bob, clientId: bob, clientSecret: bob-secret, service: false}
`)
	d := mustParse(t, file, nil)
	for id, want := range map[string]bool{"billing": true, "alice": false, "bob": false} {
		if u, _ := d.User(id); u.Service != want {
			t.Errorf("User(%q).Service = %v, want %v", id, u.Service, want)
		}
	}
	back, err := directoryfile.Decode(mustEncode(t, d))
	if err != nil {
		t.Fatal(err)
	}
	if u, _ := back.User("billing"); !u.Service {
		t.Errorf("Decode(Encode()): billing lost service: true")
	}

	_, err = directoryfile.ParseWith([]byte(strings.Replace(string(file), "service: true", `service: "yes"`, 1)), nil, fast)
	var fe *directoryfile.FileError
	if !errors.As(err, &fe) || !strings.Contains(fe.Error(), "line 5: users[0].service: want true or false") {
		t.Errorf(`service: "yes" gave %v, want line 5: users[0].service: want true or false`, err)
	}
}
