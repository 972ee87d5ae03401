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
