package directoryfile

import (
	"errors"
	"fmt"
	"runtime"
	"sync"

	"golang.org/x/crypto/bcrypt"

	"github.com/entityconn/entityconn/domain"
)

// hashSecrets returns the hash of each user's secret, in the order of users. It runs on up to
// GOMAXPROCS goroutines because bcrypt is slow on purpose; each result goes to its own index,
// so the order does not depend on scheduling.
func hashSecrets(users []fileUser, previous *domain.Directory, cost int) ([]string, error) {
	hashes := make([]string, len(users))
	errs := make([]error, len(users))
	slots := make(chan struct{}, runtime.GOMAXPROCS(0))
	var wg sync.WaitGroup
	for i, u := range users {
		wg.Go(func() {
			slots <- struct{}{}
			defer func() { <-slots }()
			hashes[i], errs[i] = hashSecret(u, previous, cost)
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return hashes, nil
}

// hashSecret returns the hash the file gave for u, or previous's hash for u when it verifies
// u's secret at cost, else a new salted hash.
func hashSecret(u fileUser, previous *domain.Directory, cost int) (string, error) {
	if u.hash != "" {
		return u.hash, nil // the file gave the hash itself
	}
	if previous != nil {
		if old, ok := previous.User(u.user.ID); ok && verifies(old.SecretHash, u.secret, cost) {
			return old.SecretHash, nil
		}
	}
	h, err := bcrypt.GenerateFromPassword([]byte(u.secret), cost)
	if err != nil {
		return "", fmt.Errorf("directoryfile: hash the secret of user %q: %w", u.user.ID, err)
	}
	return string(h), nil
}

func verifies(hash, secret string, cost int) bool {
	c, err := bcrypt.Cost([]byte(hash))
	return err == nil && c == cost && bcrypt.CompareHashAndPassword([]byte(hash), []byte(secret)) == nil
}
