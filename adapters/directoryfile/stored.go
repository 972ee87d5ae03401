package directoryfile

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"golang.org/x/crypto/bcrypt"

	"github.com/entityconn/entityconn/domain"
)

// ErrInvalidStored is returned by [Decode] for data that is not a stored directory of a
// version it knows, or whose directory breaks the rules of [domain.NewDirectory].
var ErrInvalidStored = errors.New("directoryfile: invalid stored directory")

// storedVersion is the version of the stored form written by [Encode]. A change of shape is
// a new version, which older readers refuse rather than misread.
const storedVersion = 1

type stored struct {
	Version  int            `json:"version"`
	Tenant   string         `json:"tenant"`
	Entities []storedEntity `json:"entities"`
	Users    []storedUser   `json:"users"`
}

// storedEntity is an entity. The optional fields are left out when empty, so that a directory
// without them is stored as before they existed; a reader that does not know them refuses a
// directory that has them (unknown fields), rather than misread it.
type storedEntity struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	ParentID    string `json:"parentId,omitempty"`
	DisplayName string `json:"displayName,omitempty"`
	Locale      string `json:"locale,omitempty"`
	Timezone    string `json:"timezone,omitempty"`
}

type storedUser struct {
	ID         string        `json:"id"`
	Name       string        `json:"name,omitempty"`
	ClientID   string        `json:"clientId"`
	SecretHash string        `json:"secretHash"`
	Access     []storedGrant `json:"access"`
	Service    bool          `json:"service,omitempty"`
}

type storedGrant struct {
	Entity string `json:"entity"`
	Role   string `json:"role"`
}

// Encode returns the stored form of d: JSON with the tenant, the entities and the users in
// d's order, each user with its secret hash. It holds no client secret, since d has none. The
// same directory always gives the same bytes. Encode returns an error only for a nil d. It is
// safe for concurrent use.
func Encode(d *domain.Directory) ([]byte, error) {
	if d == nil {
		return nil, errors.New("directoryfile: encode a nil directory")
	}
	s := stored{
		Version:  storedVersion,
		Tenant:   d.Tenant(),
		Entities: make([]storedEntity, 0, len(d.Entities())),
		Users:    make([]storedUser, 0, len(d.Users())),
	}
	for _, e := range d.Entities() {
		s.Entities = append(s.Entities, storedEntity{ID: e.ID, Name: e.Name, ParentID: e.ParentID,
			DisplayName: e.DisplayName, Locale: e.Locale, Timezone: e.Timezone})
	}
	for _, u := range d.Users() {
		su := storedUser{
			ID:         u.ID,
			Name:       u.Name,
			ClientID:   u.ClientID,
			SecretHash: u.SecretHash,
			Access:     make([]storedGrant, 0, len(u.Access)),
			Service:    u.Service,
		}
		for _, g := range u.Access {
			su.Access = append(su.Access, storedGrant{Entity: g.Entity, Role: string(g.Role)})
		}
		s.Users = append(s.Users, su)
	}
	return json.Marshal(s)
}

// Decode returns the directory stored in data by [Encode]. It validates the directory with
// [domain.NewDirectory] and checks that every secret hash is a bcrypt hash; any failure, an
// unknown field or an unknown version wraps [ErrInvalidStored]. It is safe for concurrent use.
func Decode(data []byte) (*domain.Directory, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var s stored
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidStored, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: data after the directory", ErrInvalidStored)
	}
	if s.Version != storedVersion {
		return nil, fmt.Errorf("%w: version %d, want %d", ErrInvalidStored, s.Version, storedVersion)
	}
	entities := make([]domain.Entity, len(s.Entities))
	for i, e := range s.Entities {
		entities[i] = domain.Entity{ID: e.ID, Name: e.Name, ParentID: e.ParentID,
			DisplayName: e.DisplayName, Locale: e.Locale, Timezone: e.Timezone}
	}
	var problems []string
	users := make([]domain.User, len(s.Users))
	for i, u := range s.Users {
		users[i] = domain.User{ID: u.ID, Name: u.Name, ClientID: u.ClientID, SecretHash: u.SecretHash, Service: u.Service}
		for _, g := range u.Access {
			users[i].Access = append(users[i].Access, domain.Grant{Entity: g.Entity, Role: domain.Role(g.Role)})
		}
		if _, err := bcrypt.Cost([]byte(u.SecretHash)); u.SecretHash != "" && err != nil {
			problems = append(problems, fmt.Sprintf("users[%d].secretHash: not a bcrypt hash", i))
		}
	}
	d, ps := domain.NewDirectory(s.Tenant, entities, users)
	for _, p := range ps {
		problems = append(problems, p.String())
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("%w: %s", ErrInvalidStored, strings.Join(problems, "; "))
	}
	return d, nil
}
