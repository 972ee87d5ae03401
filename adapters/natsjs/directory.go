package natsjs

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/entityconn/entityconn/adapters/directoryfile"
	"github.com/entityconn/entityconn/domain"
)

const (
	directoryKey  = "directory"
	signingKeyKey = "token-signing-key"
)

// ErrNoDirectory is returned by [DirectoryStore.Load] when no directory has been imported.
var ErrNoDirectory = errors.New("natsjs: no directory has been imported")

// DirectoryStore keeps the directory in the KV bucket ENTITYCONN_DIRECTORY, so that every
// replica sees the same one, and follows changes: an import by any replica reaches
// [DirectoryStore.Current] of all of them without a restart. Secrets are stored only as
// hashes (see package directoryfile). Safe for concurrent use.
type DirectoryStore struct {
	kv      jetstream.KeyValue
	log     *slog.Logger
	current atomic.Pointer[domain.Directory]

	mu      sync.Mutex
	changed chan struct{} // closed at the next set; nil until someone asks for it
}

// NewDirectoryStore returns the directory store of r. log may be nil.
func NewDirectoryStore(r *Resources, log *slog.Logger) *DirectoryStore {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &DirectoryStore{kv: r.Directory, log: log}
}

// Import parses a directory file (contract §3) and stores it unless the stored one is the
// same. It returns the directory and whether the stored one changed. A bad file changes
// nothing and returns the *directoryfile.FileError that lists its problems line by line.
// Re-importing the same file keeps the stored secret hashes, so it is idempotent.
func (d *DirectoryStore) Import(ctx context.Context, file []byte) (*domain.Directory, bool, error) {
	for {
		prev, stored, rev, err := d.stored(ctx)
		if err != nil && !errors.Is(err, ErrNoDirectory) {
			return nil, false, err
		}
		dir, err := directoryfile.Parse(file, prev)
		if err != nil {
			return nil, false, err
		}
		data, err := directoryfile.Encode(dir)
		if err != nil {
			return nil, false, err
		}
		if bytes.Equal(data, stored) {
			d.set(dir)
			return dir, false, nil
		}
		if rev == 0 {
			_, err = d.kv.Create(ctx, directoryKey, data)
		} else {
			_, err = d.kv.Update(ctx, directoryKey, data, rev)
		}
		if err == nil {
			d.set(dir)
			return dir, true, nil
		}
		if !isRevisionConflict(err) {
			return nil, false, fmt.Errorf("natsjs: store directory: %w", err)
		}
		// Another replica imported at the same time: parse again against its result.
	}
}

// Load reads the stored directory into [DirectoryStore.Current]. It returns [ErrNoDirectory]
// when none has been imported.
func (d *DirectoryStore) Load(ctx context.Context) (*domain.Directory, error) {
	dir, _, _, err := d.stored(ctx)
	if err != nil {
		return nil, err
	}
	d.set(dir)
	return dir, nil
}

func (d *DirectoryStore) stored(ctx context.Context) (*domain.Directory, []byte, uint64, error) {
	e, err := d.kv.Get(ctx, directoryKey)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, nil, 0, ErrNoDirectory
	}
	if err != nil {
		return nil, nil, 0, fmt.Errorf("natsjs: read directory: %w", err)
	}
	dir, err := directoryfile.Decode(e.Value())
	if err != nil {
		return nil, nil, 0, err
	}
	return dir, e.Value(), e.Revision(), nil
}

// Current returns the directory as last loaded, imported or seen changed; nil before the
// first of these.
func (d *DirectoryStore) Current() *domain.Directory { return d.current.Load() }

// Changed returns a channel that is closed the next time [DirectoryStore.Current] is
// replaced: by Import, Load or a change that Run sees, on this replica or another. It may be
// closed for a directory equal to the one before. Take the channel before reading Current,
// so that no change falls in between.
func (d *DirectoryStore) Changed() <-chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.changed == nil {
		d.changed = make(chan struct{})
	}
	return d.changed
}

// set makes dir the current directory and wakes whoever waits on Changed.
func (d *DirectoryStore) set(dir *domain.Directory) {
	d.current.Store(dir)
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.changed != nil {
		close(d.changed)
		d.changed = nil
	}
}

// Run follows changes of the stored directory until ctx ends and returns ctx's error. A
// stored directory that cannot be decoded is logged and ignored: the previous one stays.
func (d *DirectoryStore) Run(ctx context.Context) error {
	err := watch(ctx, d.kv, []string{directoryKey}, puts(func(e jetstream.KeyValueEntry) {
		dir, err := directoryfile.Decode(e.Value())
		if err != nil {
			d.log.Error("directory: stored directory ignored", "revision", e.Revision(), "err", err)
			return
		}
		d.set(dir)
	}))
	if err != nil && ctx.Err() == nil {
		return fmt.Errorf("natsjs: watch directory: %w", err)
	}
	return ctx.Err()
}

// SigningKey returns the key that signs access tokens, creating it on first use. Every
// replica gets the same key, so a token issued by one is accepted by all.
func (d *DirectoryStore) SigningKey(ctx context.Context) ([]byte, error) {
	for {
		e, err := d.kv.Get(ctx, signingKeyKey)
		if err == nil {
			return e.Value(), nil
		}
		if !errors.Is(err, jetstream.ErrKeyNotFound) {
			return nil, fmt.Errorf("natsjs: read signing key: %w", err)
		}
		key := make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return nil, err
		}
		if _, err := d.kv.Create(ctx, signingKeyKey, key); err == nil {
			return key, nil
		} else if !isRevisionConflict(err) {
			return nil, fmt.Errorf("natsjs: store signing key: %w", err)
		}
	}
}
