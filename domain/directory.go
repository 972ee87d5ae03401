package domain

import (
	"fmt"
	"regexp"
	"slices"

	"github.com/entityconn/entityconn/events"
)

// Role is what a user may do in an entity.
type Role string

// The roles of contract §1.
const (
	RoleAdmin Role = "admin"
	RoleUser  Role = "user"
)

// Entity is one entity of the tenant. The root has no ParentID. DisplayName, Locale and
// Timezone are what the directory says, empty when it says nothing: [Entity.WithDefaults]
// fills them in.
type Entity struct {
	ID       string
	Name     string
	ParentID string
	// DisplayName is the name shown in user interfaces; Name when empty.
	DisplayName string
	// Locale is a locale such as en_US; DefaultLocale when empty.
	Locale string
	// Timezone is an IANA time zone such as Europe/Paris; DefaultTimezone when empty.
	Timezone string
}

// The defaults of an entity's locale and time zone. Zuora asks for both when it creates an
// entity and has no default; these are entityconn's: US English, and UTC like every time
// entityconn answers with.
const (
	DefaultLocale   = "en_US"
	DefaultTimezone = "UTC"
)

// WithDefaults returns e with its empty DisplayName, Locale and Timezone set to their
// defaults: Name (as Zuora does for an entity created without a display name),
// DefaultLocale and DefaultTimezone.
func (e Entity) WithDefaults() Entity {
	if e.DisplayName == "" {
		e.DisplayName = e.Name
	}
	if e.Locale == "" {
		e.Locale = DefaultLocale
	}
	if e.Timezone == "" {
		e.Timezone = DefaultTimezone
	}
	return e
}

// localeSyntax and timezoneSyntax are what a directory's locale and time zone look like:
// en_US or en-US or fr; Europe/Paris, America/Argentina/Buenos_Aires, Etc/GMT+5 or UTC. The
// time zone database itself is not consulted: the domain reads no files.
var (
	localeSyntax   = regexp.MustCompile(`^[A-Za-z]{2,8}([_-][A-Za-z0-9]{1,8}){0,3}$`)
	timezoneSyntax = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_+-]{0,31}(/[A-Za-z0-9_+-]{1,32}){0,2}$`)
)

// Grant gives a user a role in an entity.
type Grant struct {
	Entity string
	Role   Role
}

// User is someone who can act in entities. SecretHash is a password hash of the client
// secret, never the secret itself. Service marks a trusted backend that may send commands on
// NATS in the name of any user (contract §3, §5a); it grants nothing else: the permissions of
// each command are those of the user it names.
type User struct {
	ID         string
	Name       string
	ClientID   string
	SecretHash string
	Access     []Grant
	Service    bool
}

// Problem is one reason a directory is refused. Path names the offending value the way a
// reader of the file would, e.g. "users[1].access[0].entity"; adapters turn it into a line.
type Problem struct {
	Path    string
	Message string
}

func (p Problem) String() string { return p.Path + ": " + p.Message }

// Directory is an immutable, validated snapshot of the tenant's entities and users. A
// *Directory is safe for concurrent use; a change is a new Directory.
type Directory struct {
	tenant   string
	entities []Entity
	users    []User
	entity   map[string]int
	user     map[string]int
	client   map[string]int
	// roles maps a user index and an entity id to the user's role there, so that a check
	// costs the same for a user with ten thousand grants as for one with two.
	roles []map[string]Role
}

// NewDirectory validates the tenant, entities and users and returns the directory, or every
// problem found (none of them partly applied). Rules: ids satisfy the id syntax of contract
// §1 and are unique; exactly one entity, the root, has no parent; parents exist and form no
// cycle; a locale or time zone, when given, looks like one; client ids are unique and
// present; grants name existing entities with role admin or user, at most one grant per
// entity.
func NewDirectory(tenant string, entities []Entity, users []User) (*Directory, []Problem) {
	var ps []Problem
	add := func(path, format string, args ...any) {
		ps = append(ps, Problem{Path: path, Message: fmt.Sprintf(format, args...)})
	}
	if tenant == "" {
		add("tenant", "is required")
	}
	d := &Directory{
		tenant:   tenant,
		entities: slices.Clone(entities),
		users:    cloneUsers(users),
		entity:   make(map[string]int, len(entities)),
		user:     make(map[string]int, len(users)),
		client:   make(map[string]int, len(users)),
	}
	if len(entities) == 0 {
		add("entities", "at least one entity is required")
	}
	roots := 0
	for i, e := range entities {
		p := fmt.Sprintf("entities[%d]", i)
		switch {
		case !events.ValidID(e.ID):
			add(p+".id", "%q does not match ^[A-Za-z0-9_-]{1,64}$", e.ID)
		case hasKey(d.entity, e.ID):
			add(p+".id", "duplicate entity id %q", e.ID)
		default:
			d.entity[e.ID] = i
		}
		if e.Name == "" {
			add(p+".name", "is required")
		}
		if e.Locale != "" && !localeSyntax.MatchString(e.Locale) {
			add(p+".locale", "%q is not a locale such as en_US", e.Locale)
		}
		if e.Timezone != "" && !timezoneSyntax.MatchString(e.Timezone) {
			add(p+".timezone", "%q is not a time zone such as Europe/Paris or UTC", e.Timezone)
		}
		if e.ParentID == "" {
			roots++
			if roots > 1 {
				add(p+".parent", "%q has no parent, but only the root entity may lack one", e.ID)
			}
		}
	}
	if len(entities) > 0 && roots == 0 {
		add("entities", "no root entity: exactly one entity must have no parent")
	}
	for i, e := range entities {
		if e.ParentID == "" {
			continue
		}
		p := fmt.Sprintf("entities[%d].parent", i)
		if e.ParentID == e.ID {
			add(p, "entity %q is its own parent", e.ID)
		} else if !hasKey(d.entity, e.ParentID) {
			add(p, "no entity %q", e.ParentID)
		} else if cyclic(entities, d.entity, i) {
			add(p, "the parents of entity %q form a cycle", e.ID)
		}
	}
	for i, u := range users {
		p := fmt.Sprintf("users[%d]", i)
		switch {
		case !events.ValidID(u.ID):
			add(p+".id", "%q does not match ^[A-Za-z0-9_-]{1,64}$", u.ID)
		case hasKey(d.user, u.ID):
			add(p+".id", "duplicate user id %q", u.ID)
		default:
			d.user[u.ID] = i
		}
		switch {
		case u.ClientID == "":
			add(p+".clientId", "is required")
		case hasKey(d.client, u.ClientID):
			add(p+".clientId", "duplicate client id %q", u.ClientID)
		default:
			d.client[u.ClientID] = i
		}
		if u.SecretHash == "" {
			add(p+".clientSecret", "is required")
		}
		seen := map[string]bool{}
		for j, g := range u.Access {
			gp := fmt.Sprintf("%s.access[%d]", p, j)
			if !hasKey(d.entity, g.Entity) {
				add(gp+".entity", "no entity %q", g.Entity)
			} else if seen[g.Entity] {
				add(gp+".entity", "a second grant for entity %q", g.Entity)
			}
			seen[g.Entity] = true
			if g.Role != RoleAdmin && g.Role != RoleUser {
				add(gp+".role", "%q is not admin or user", g.Role)
			}
		}
	}
	if len(ps) > 0 {
		return nil, ps
	}
	d.roles = make([]map[string]Role, len(d.users))
	for i, u := range d.users {
		d.roles[i] = make(map[string]Role, len(u.Access))
		for _, g := range u.Access {
			d.roles[i][g.Entity] = g.Role
		}
	}
	return d, nil
}

// cloneUsers copies users deeply enough that the caller's later changes do not reach the
// directory.
func cloneUsers(users []User) []User {
	out := slices.Clone(users)
	for i := range out {
		out[i].Access = slices.Clone(out[i].Access)
	}
	return out
}

func hasKey(m map[string]int, k string) bool { _, ok := m[k]; return ok }

// cyclic reports whether following parents from entities[i] comes back to it.
func cyclic(entities []Entity, index map[string]int, i int) bool {
	cur := entities[i].ParentID
	for steps := 0; cur != "" && steps <= len(entities); steps++ {
		j, ok := index[cur]
		if !ok {
			return false
		}
		if j == i {
			return true
		}
		cur = entities[j].ParentID
	}
	return cur != ""
}

// Tenant returns the tenant's name.
func (d *Directory) Tenant() string { return d.tenant }

// Entities returns the entities in file order. The caller must not modify the slice.
func (d *Directory) Entities() []Entity { return d.entities }

// Users returns the users in file order. The caller must not modify the slice.
func (d *Directory) Users() []User { return d.users }

// Entity returns the entity with id, and whether it exists.
func (d *Directory) Entity(id string) (Entity, bool) {
	i, ok := d.entity[id]
	if !ok {
		return Entity{}, false
	}
	return d.entities[i], true
}

// User returns the user with id, and whether it exists.
func (d *Directory) User(id string) (User, bool) {
	i, ok := d.user[id]
	if !ok {
		return User{}, false
	}
	return d.users[i], true
}

// UserByClientID returns the user whose client id is clientID, and whether there is one.
func (d *Directory) UserByClientID(clientID string) (User, bool) {
	i, ok := d.client[clientID]
	if !ok {
		return User{}, false
	}
	return d.users[i], true
}

// RoleOf returns the role user has in entity, and false when it has none.
func (d *Directory) RoleOf(user, entity string) (Role, bool) {
	i, ok := d.user[user]
	if !ok {
		return "", false
	}
	r, ok := d.roles[i][entity]
	return r, ok
}

// MayReadAccess reports, as nil, that caller may read which entities user can access
// (contract §4): its own, or anyone's for an admin of any entity. allowed, when not nil,
// limits the entities whose admin grant counts (a token restricted by scope). It returns an
// error wrapping [ErrUnauthenticated] when caller is no longer in the directory,
// [ErrNotAnAdmin] when caller asks for another user without being an admin of any entity
// (whether or not that user exists, so that the answer does not reveal which users do), and
// [ErrUserNotFound] when caller may read anyone's and user does not exist.
func (d *Directory) MayReadAccess(caller, user string, allowed func(entity string) bool) error {
	i, ok := d.user[caller]
	if !ok {
		return fmt.Errorf("%w: user %q is not in the directory", ErrUnauthenticated, caller)
	}
	if user == caller {
		return nil
	}
	admin := false
	for entity, role := range d.roles[i] {
		if role == RoleAdmin && (allowed == nil || allowed(entity)) {
			admin = true
			break
		}
	}
	if !admin {
		return fmt.Errorf("%w (asked for user %q)", ErrNotAnAdmin, truncateID(user))
	}
	if _, ok := d.user[user]; !ok {
		return fmt.Errorf("%w: %q", ErrUserNotFound, truncateID(user))
	}
	return nil
}

// truncateID keeps a caller's text short in an error message.
func truncateID(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}

// Actor returns user acting in entity. It returns an error wrapping [ErrUnauthenticated] when
// the user no longer exists and [ErrNoEntityAccess] when it has no grant for entity (whether
// or not entity exists, so that the answer does not reveal which entities exist).
func (d *Directory) Actor(user, entity string) (Actor, error) {
	if _, ok := d.User(user); !ok {
		return Actor{}, fmt.Errorf("%w: user %q is not in the directory", ErrUnauthenticated, user)
	}
	role, ok := d.RoleOf(user, entity)
	if !ok {
		return Actor{}, fmt.Errorf("%w: user %q, entity %q", ErrNoEntityAccess, user, entity)
	}
	return Actor{UserID: user, EntityID: entity, Role: role, dir: d}, nil
}

// Actor is a user acting in one entity, bound to the directory snapshot that authorised it.
// Build it with [Directory.Actor]; the zero Actor is the service itself ([System]).
type Actor struct {
	UserID   string
	EntityID string
	Role     Role
	dir      *Directory
}

// System is the actor of the service's own commands (expiry).
var System = Actor{}

// IsSystem reports whether a is the service itself.
func (a Actor) IsSystem() bool { return a.dir == nil }

// CanAccess reports whether the actor's user has any role in entity.
func (a Actor) CanAccess(entity string) bool {
	if a.dir == nil {
		return false
	}
	_, ok := a.dir.RoleOf(a.UserID, entity)
	return ok
}
