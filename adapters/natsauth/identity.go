package natsauth

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nkeys"

	"github.com/entityconn/entityconn/adapters/natsjs"
)

// IdentityFile is the name of the file, in the data directory, that holds the service's own
// NATS identity.
const IdentityFile = "nats-identity.json"

// ServiceUser is the NATS user name of the service's own identity. The dot keeps it apart
// from every directory user id (^[A-Za-z0-9_-]{1,64}$), which names a user's connections.
const ServiceUser = "entityconn.service"

// Identity is the service's own NATS identity on the embedded server: the only one that may
// write events, views, the directory and idempotency records, and the key that signs the
// permissions the service hands to directory users (auth callout). It is generated at first
// start and kept in the data directory, readable by its owner only.
type Identity struct {
	// User and Password sign the service in; Password is 32 random bytes, base64.
	User     string `json:"user"`
	Password string `json:"password"`
	// CalloutSeed is the seed of the account key pair that signs auth callout answers; the
	// server trusts its public key (the issuer).
	CalloutSeed string `json:"calloutSeed"`
}

// NewIdentity returns a fresh identity with random secrets.
func NewIdentity() (Identity, error) {
	pw := make([]byte, 32)
	if _, err := rand.Read(pw); err != nil {
		return Identity{}, err
	}
	kp, err := nkeys.CreateAccount()
	if err != nil {
		return Identity{}, err
	}
	seed, err := kp.Seed()
	if err != nil {
		return Identity{}, err
	}
	return Identity{User: ServiceUser, Password: base64.RawURLEncoding.EncodeToString(pw), CalloutSeed: string(seed)}, nil
}

// Issuer returns the key pair that signs auth callout answers, and its public key.
func (id Identity) Issuer() (nkeys.KeyPair, string, error) {
	kp, err := nkeys.FromSeed([]byte(id.CalloutSeed))
	if err != nil {
		return nil, "", fmt.Errorf("natsauth: callout seed: %w", err)
	}
	pub, err := kp.PublicKey()
	if err != nil {
		return nil, "", fmt.Errorf("natsauth: callout seed: %w", err)
	}
	if !nkeys.IsValidPublicAccountKey(pub) {
		return nil, "", errors.New("natsauth: callout seed is not an account seed")
	}
	return kp, pub, nil
}

func (id Identity) valid() error {
	if id.User == "" || id.Password == "" {
		return errors.New("user and password are required")
	}
	_, _, err := id.Issuer()
	return err
}

// ErrNoIdentity is returned by [ReadIdentity] when dir holds no identity.
var ErrNoIdentity = errors.New("natsauth: no service identity")

// ReadIdentity reads the identity kept in dir, without creating one: it returns an error
// wrapping [ErrNoIdentity] when there is none, and otherwise fails as [LoadIdentity] does.
func ReadIdentity(dir string) (Identity, error) {
	path := filepath.Join(dir, IdentityFile)
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return Identity{}, fmt.Errorf("%w in %s (entityconn serve creates it at its first start there)", ErrNoIdentity, dir)
	}
	id, _, err := LoadIdentity(dir)
	return id, err
}

// LoadIdentity reads the identity kept in dir, creating it (mode 0600) when there is none.
// created says whether it was made now. It fails when the file exists but cannot be read or
// is not a valid identity, or when it is readable by others than its owner (the file holds
// the secret every other permission rests on).
func LoadIdentity(dir string) (id Identity, created bool, err error) {
	path := filepath.Join(dir, IdentityFile)
	data, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if id, err = NewIdentity(); err != nil {
			return Identity{}, false, err
		}
		data, _ := json.MarshalIndent(id, "", "  ")
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, fs.ErrExist) {
			return LoadIdentity(dir) // another process made it first
		}
		if err != nil {
			return Identity{}, false, fmt.Errorf("natsauth: create %s: %w", path, err)
		}
		_, werr := f.Write(append(data, '\n'))
		if serr := f.Sync(); werr == nil {
			werr = serr
		}
		if cerr := f.Close(); werr == nil {
			werr = cerr
		}
		if werr != nil {
			_ = os.Remove(path)
			return Identity{}, false, fmt.Errorf("natsauth: write %s: %w", path, werr)
		}
		return id, true, nil
	case err != nil:
		return Identity{}, false, fmt.Errorf("natsauth: read %s: %w", path, err)
	}
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
		return Identity{}, false, fmt.Errorf("natsauth: %s is readable by others (mode %v): make it 0600 (chmod 600 %s)", path, fi.Mode().Perm(), path)
	}
	if err := json.Unmarshal(data, &id); err != nil {
		return Identity{}, false, fmt.Errorf("natsauth: %s: %w", path, err)
	}
	if err := id.valid(); err != nil {
		return Identity{}, false, fmt.Errorf("natsauth: %s: %w", path, err)
	}
	return id, false, nil
}

// StartEmbedded starts natsjs's embedded server on the store directory data, closed to
// anonymous clients: it takes the store's lock (natsjs.LockStore) before anything else, reads
// (or, on first start, creates) the service's identity kept in data, lets it sign in and
// trusts its callout key (natsjs.EmbeddedAuth), and returns it. o's StoreDir, Auth and Lock
// are set here. It fails as natsjs.LockStore, [LoadIdentity] and natsjs.StartEmbedded do: with
// a *natsjs.StoreInUseError when another process holds data.
func StartEmbedded(data string, o natsjs.EmbeddedOptions) (*server.Server, Identity, error) {
	lock, err := natsjs.LockStore(data)
	if err != nil {
		return nil, Identity{}, err
	}
	id, _, err := LoadIdentity(data)
	if err != nil {
		lock.Release()
		return nil, id, err
	}
	_, issuer, err := id.Issuer()
	if err != nil {
		lock.Release()
		return nil, id, err
	}
	o.StoreDir, o.Lock = data, lock
	o.Auth = &natsjs.EmbeddedAuth{User: id.User, Password: id.Password, CalloutIssuer: issuer}
	ns, err := natsjs.StartEmbedded(o) // it owns the lock now, and releases it if it fails
	return ns, id, err
}
