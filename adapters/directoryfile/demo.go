package directoryfile

import (
	_ "embed"
	"strings"

	"github.com/entityconn/entityconn/domain"
)

//go:embed demo.yaml
var demoYAML string

// Demo returns the built-in demo directory file: tenant acme, entities global (the root), eu,
// us and apac, and four users whose credentials [DemoCredentials] lists. Each call returns a
// new slice.
func Demo() []byte { return []byte(demoYAML) }

// Credential is one demo user's client credentials, for printing at start.
type Credential struct {
	ClientID string
	Secret   string
	UserID   string
	// Access summarises the user's grants by role, e.g. "admin: eu; user: global".
	Access string
}

// DemoCredentials returns the credentials of the users of [Demo], in file order, read from
// the same file. It panics if the built-in file is invalid, which its tests rule out.
func DemoCredentials() []Credential {
	f, err := load([]byte(demoYAML))
	if err != nil {
		panic("directoryfile: the built-in demo directory is invalid: " + err.Error())
	}
	creds := make([]Credential, len(f.users))
	for i, u := range f.users {
		creds[i] = Credential{
			ClientID: u.user.ClientID,
			Secret:   u.secret,
			UserID:   u.user.ID,
			Access:   summarise(u.user.Access),
		}
	}
	return creds
}

// summarise returns "admin: a, b; user: c", roles in that order, entities in grant order.
func summarise(grants []domain.Grant) string {
	var parts []string
	for _, role := range []domain.Role{domain.RoleAdmin, domain.RoleUser} {
		var ids []string
		for _, g := range grants {
			if g.Role == role {
				ids = append(ids, g.Entity)
			}
		}
		if len(ids) > 0 {
			parts = append(parts, string(role)+": "+strings.Join(ids, ", "))
		}
	}
	return strings.Join(parts, "; ")
}
