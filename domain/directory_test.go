package domain_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/entityconn/entityconn/domain"
)

func TestNewDirectoryFindsEveryProblem(t *testing.T) {
	_, ps := domain.NewDirectory("",
		[]domain.Entity{
			{ID: "global", Name: "Global"},
			{ID: "global", Name: "Again", ParentID: "second-root"},
			{ID: "bad.id", Name: "Dots", ParentID: "second-root"},
			{ID: "second-root", Name: "Root 2"},
			{ID: "orphan", Name: "Orphan", ParentID: "nowhere"},
			{ID: "a", Name: "A", ParentID: "b"},
			{ID: "b", Name: "B", ParentID: "a"},
			{ID: "noname", ParentID: "second-root"},
		},
		[]domain.User{
			{ID: "u1", ClientID: "c", SecretHash: "h", Access: []domain.Grant{{"global", "owner"}, {"mars", domain.RoleUser}}},
			{ID: "u1", ClientID: "c", Access: []domain.Grant{{"global", domain.RoleAdmin}, {"global", domain.RoleUser}}},
		})
	want := []string{
		"tenant: is required",
		"entities[1].id: duplicate entity id",
		"entities[2].id: \"bad.id\" does not match",
		"entities[3].parent: \"second-root\" has no parent",
		"entities[4].parent: no entity \"nowhere\"",
		"entities[5].parent: the parents of entity \"a\" form a cycle",
		"entities[6].parent: the parents of entity \"b\" form a cycle",
		"entities[7].name: is required",
		"users[0].access[0].role: \"owner\" is not admin or user",
		"users[0].access[1].entity: no entity \"mars\"",
		"users[1].id: duplicate user id",
		"users[1].clientId: duplicate client id",
		"users[1].clientSecret: is required",
		"users[1].access[1].entity: a second grant",
	}
	var got []string
	for _, p := range ps {
		got = append(got, p.String())
	}
	joined := strings.Join(got, "\n")
	for _, w := range want {
		if !strings.Contains(joined, w) {
			t.Errorf("NewDirectory problems lack %q; got:\n%s", w, joined)
		}
	}
	if len(ps) != len(want) {
		t.Errorf("NewDirectory found %d problems, want %d:\n%s", len(ps), len(want), joined)
	}
}

func TestNewDirectoryNeedsARoot(t *testing.T) {
	_, ps := domain.NewDirectory("t", []domain.Entity{{ID: "a", Name: "A", ParentID: "b"}, {ID: "b", Name: "B", ParentID: "a"}}, nil)
	if len(ps) == 0 || !strings.Contains(ps[0].String(), "no root entity") {
		t.Errorf("NewDirectory(no root) problems = %v, want 'no root entity' first", ps)
	}
}

func TestDirectoryLookups(t *testing.T) {
	d := testDirectory(t)
	if e, ok := d.Entity("eu"); !ok || e.ParentID != "global" {
		t.Errorf("Entity(eu) = %+v, %v", e, ok)
	}
	if u, ok := d.UserByClientID("erik"); !ok || u.ID != "erik" {
		t.Errorf("UserByClientID(erik) = %+v, %v", u, ok)
	}
	if r, ok := d.RoleOf("alice", "eu"); !ok || r != domain.RoleUser {
		t.Errorf("RoleOf(alice, eu) = %q, %v; want user", r, ok)
	}
	if _, err := d.Actor("alice", "us"); !errors.Is(err, domain.ErrNoEntityAccess) {
		t.Errorf("Actor(alice, us) = %v, want ErrNoEntityAccess", err)
	}
	if _, err := d.Actor("alice", "mars"); !errors.Is(err, domain.ErrNoEntityAccess) {
		t.Errorf("Actor(alice, mars) = %v, want ErrNoEntityAccess (not revealing existence)", err)
	}
	if _, err := d.Actor("ghost", "eu"); !errors.Is(err, domain.ErrUnauthenticated) {
		t.Errorf("Actor(ghost, eu) = %v, want ErrUnauthenticated", err)
	}
}

// An entity's display name, locale and time zone default to its name, en_US and UTC; given
// ones must look like a locale and a time zone.
func TestEntityDefaultsAndSyntax(t *testing.T) {
	bare := domain.Entity{ID: "eu", Name: "ACME Europe", ParentID: "global"}
	if got, want := bare.WithDefaults(), (domain.Entity{ID: "eu", Name: "ACME Europe", ParentID: "global", DisplayName: "ACME Europe", Locale: "en_US", Timezone: "UTC"}); got != want {
		t.Errorf("WithDefaults() = %+v, want %+v", got, want)
	}
	full := domain.Entity{ID: "eu", Name: "ACME Europe", DisplayName: "Europe", Locale: "fr_FR", Timezone: "Europe/Paris"}
	if got := full.WithDefaults(); got != full {
		t.Errorf("WithDefaults() = %+v, want it unchanged", got)
	}
	for _, c := range []struct {
		locale, timezone string
		problems         int
	}{
		{"en_US", "America/Argentina/Buenos_Aires", 0},
		{"fr", "Etc/GMT+5", 0},
		{"de-DE", "GMT", 0},
		{"en US", "UTC", 1},
		{"en_US", "Europe/../Paris", 1},
		{"x", "Europe Paris", 2},
	} {
		_, ps := domain.NewDirectory("t", []domain.Entity{{ID: "g", Name: "G", Locale: c.locale, Timezone: c.timezone}}, nil)
		if len(ps) != c.problems {
			t.Errorf("NewDirectory(locale %q, timezone %q) = %v, want %d problems", c.locale, c.timezone, ps, c.problems)
		}
	}
}

// Contract §4: a user may read which entities it can access; an admin of any entity may read
// anyone's; anyone else is refused, whether or not the user exists.
func TestMayReadAccess(t *testing.T) {
	d, ps := domain.NewDirectory("t",
		[]domain.Entity{{ID: "global", Name: "G"}, {ID: "eu", Name: "E", ParentID: "global"}},
		[]domain.User{
			{ID: "alice", ClientID: "alice", SecretHash: "h", Access: []domain.Grant{{"global", domain.RoleAdmin}, {"eu", domain.RoleUser}}},
			{ID: "bob", ClientID: "bob", SecretHash: "h", Access: []domain.Grant{{"eu", domain.RoleUser}}},
			{ID: "nobody", ClientID: "nobody", SecretHash: "h"},
		})
	if len(ps) > 0 {
		t.Fatal(ps)
	}
	onlyEU := func(e string) bool { return e == "eu" }
	for _, c := range []struct {
		caller, user string
		allowed      func(string) bool
		want         error
	}{
		{"alice", "alice", nil, nil},
		{"bob", "bob", nil, nil},
		{"nobody", "nobody", nil, nil},
		{"alice", "bob", nil, nil},
		{"alice", "carol", nil, domain.ErrUserNotFound},
		{"alice", "bob", onlyEU, domain.ErrNotAnAdmin}, // the admin grant is outside the token's scope
		{"bob", "alice", nil, domain.ErrNotAnAdmin},
		{"bob", "carol", nil, domain.ErrNotAnAdmin},
		{"carol", "carol", nil, domain.ErrUnauthenticated},
	} {
		err := d.MayReadAccess(c.caller, c.user, c.allowed)
		if (c.want == nil) != (err == nil) || (c.want != nil && !errors.Is(err, c.want)) {
			t.Errorf("MayReadAccess(%s, %s) = %v, want %v", c.caller, c.user, err, c.want)
		}
	}
	if !errors.Is(domain.ErrNotAnAdmin, domain.ErrPermission) || !errors.Is(domain.ErrUserNotFound, domain.ErrNotFound) {
		t.Error("ErrNotAnAdmin must be a permission error (403) and ErrUserNotFound a not found (404)")
	}
}
