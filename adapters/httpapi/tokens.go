package httpapi

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/entityconn/entityconn/domain"
)

// ErrBadToken is returned by [Tokens.Verify] for a token that is malformed, forged (its
// signature does not match) or expired.
var ErrBadToken = fmt.Errorf("%w: invalid or expired access token", domain.ErrUnauthenticated)

// TokenTTL is how long an access token is valid (the expires_in of contract §4).
const TokenTTL = time.Hour

const tokenPrefix = "ec1."

// Claims is what an access token says.
type Claims struct {
	// User is the user id the token was issued to.
	User string `json:"sub"`
	// Entities restricts the token to these entities; empty means every entity the user can
	// access at the time of each call (so a new grant needs no new token).
	Entities []string `json:"ent,omitempty"`
	IssuedAt int64    `json:"iat"`
	Expires  int64    `json:"exp"`
	// ID identifies the token (the jti of its token response): 32 random hex digits. A token
	// issued before tokens had one has none.
	ID string `json:"jti,omitempty"`
}

// Allows reports whether the token may be used to act in entity.
func (c Claims) Allows(entity string) bool {
	if len(c.Entities) == 0 {
		return true
	}
	for _, e := range c.Entities {
		if e == entity {
			return true
		}
	}
	return false
}

// Tokens issues and verifies access tokens: the claims in JSON, signed with HMAC-SHA256 under
// a key every replica shares. Safe for concurrent use.
type Tokens struct {
	key []byte
	now func() time.Time
}

// NewTokens returns a token issuer signing with key. now may be nil (time.Now).
func NewTokens(key []byte, now func() time.Time) *Tokens {
	if now == nil {
		now = time.Now
	}
	return &Tokens{key: key, now: now}
}

// Issue returns a signed token for user, restricted to entities when not empty.
func (t *Tokens) Issue(user string, entities []string) string {
	token, _ := t.Grant(user, entities)
	return token
}

// Grant returns a signed token for user, restricted to entities when not empty, and its
// claims, with the token's new random ID.
func (t *Tokens) Grant(user string, entities []string) (string, Claims) {
	now := t.now()
	id := make([]byte, 16)
	_, _ = rand.Read(id)
	c := Claims{User: user, Entities: entities, IssuedAt: now.Unix(), Expires: now.Add(TokenTTL).Unix(), ID: hex.EncodeToString(id)}
	payload, _ := json.Marshal(c)
	body := base64.RawURLEncoding.EncodeToString(payload)
	return tokenPrefix + body + "." + base64.RawURLEncoding.EncodeToString(t.sign(body)), c
}

// Verify checks token's signature and expiry and returns its claims, or an error wrapping
// [ErrBadToken].
func (t *Tokens) Verify(token string) (Claims, error) {
	rest, ok := strings.CutPrefix(token, tokenPrefix)
	body, sig, ok2 := strings.Cut(rest, ".")
	if !ok || !ok2 {
		return Claims{}, fmt.Errorf("%w: malformed", ErrBadToken)
	}
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || !hmac.Equal(got, t.sign(body)) {
		return Claims{}, fmt.Errorf("%w: bad signature", ErrBadToken)
	}
	payload, err := base64.RawURLEncoding.DecodeString(body)
	if err != nil {
		return Claims{}, fmt.Errorf("%w: malformed", ErrBadToken)
	}
	var c Claims
	if err := json.Unmarshal(payload, &c); err != nil || c.User == "" {
		return Claims{}, errors.Join(ErrBadToken, errors.New("malformed claims"))
	}
	if t.now().Unix() >= c.Expires {
		return Claims{}, fmt.Errorf("%w: expired", ErrBadToken)
	}
	return c, nil
}

// Remaining returns how long a token with claims c stays valid, by the issuer's clock: 0 or
// less once it has expired.
func (t *Tokens) Remaining(c Claims) time.Duration {
	return time.Unix(c.Expires, 0).Sub(t.now())
}

func (t *Tokens) sign(body string) []byte {
	m := hmac.New(sha256.New, t.key)
	m.Write([]byte(tokenPrefix + body))
	return m.Sum(nil)
}
