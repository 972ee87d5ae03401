package natsauth

import (
	"context"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
	"golang.org/x/crypto/bcrypt"

	"github.com/entityconn/entityconn/domain"
)

// CalloutSubject is where a NATS server with auth callout asks who a connecting client is.
const CalloutSubject = "$SYS.REQ.USER.AUTH"

// calloutQueue is the queue group of the callout responders: with several replicas, one
// answers each request.
const calloutQueue = "entityconn-auth"

// Directory is where the authorizer reads users and grants: the directory as last loaded.
// natsjs.DirectoryStore is one.
type Directory interface {
	Current() *domain.Directory
}

// Authorizer answers a NATS server's auth callout requests from the directory: a client
// signs in with a directory user's client id and secret as user name and password, and gets
// that user's permissions ([For]) under its user id. Anything else (no credentials, a token,
// an nkey, a wrong secret, an unknown client id) is refused. Safe for concurrent use.
type Authorizer struct {
	dir     Directory
	issuer  nkeys.KeyPair
	account string
	log     *slog.Logger
	// slots bounds the bcrypt comparisons running at once: each costs tens of milliseconds
	// of CPU, and a flood of wrong passwords must not starve the service.
	slots chan struct{}

	maxPayload int64 // of the connection Serve answers on

	mu       sync.Mutex
	verified map[[32]byte]struct{} // sha256(client id, secret, hash) of recent good sign-ins
	dummies  map[int][]byte        // by bcrypt cost: see dummyHash
}

// maxVerified bounds the cache of good sign-ins; it starts afresh when full.
const maxVerified = 10_000

// NewAuthorizer returns an authorizer that signs its answers with id's callout key and places
// users in account ("$G", the global account, when the server defines no accounts). log may
// be nil.
func NewAuthorizer(dir Directory, id Identity, account string, log *slog.Logger) (*Authorizer, error) {
	kp, _, err := id.Issuer()
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if account == "" {
		account = server.DEFAULT_GLOBAL_ACCOUNT
	}
	return &Authorizer{
		dir: dir, issuer: kp, account: account, log: log,
		slots:    make(chan struct{}, max(runtime.GOMAXPROCS(0), 2)),
		verified: map[[32]byte]struct{}{},
		dummies:  map[int][]byte{},
	}, nil
}

// Serve answers auth callout requests on nc, the service's own connection, until the returned
// subscription is unsubscribed or nc closes. Requests are answered concurrently.
func (a *Authorizer) Serve(nc *nats.Conn) (*nats.Subscription, error) {
	a.maxPayload = nc.MaxPayload()
	sub, err := nc.QueueSubscribe(CalloutSubject, calloutQueue, func(m *nats.Msg) {
		go a.answer(m)
	})
	if err != nil {
		return nil, fmt.Errorf("natsauth: subscribe %s: %w", CalloutSubject, err)
	}
	if err := nc.Flush(); err != nil {
		_ = sub.Unsubscribe()
		return nil, fmt.Errorf("natsauth: subscribe %s: %w", CalloutSubject, err)
	}
	return sub, nil
}

func (a *Authorizer) answer(m *nats.Msg) {
	defer func() {
		if p := recover(); p != nil {
			a.log.Error("natsauth: auth callout request failed", "panic", p)
		}
	}()
	if m.Reply == "" {
		return
	}
	req, err := jwt.DecodeAuthorizationRequestClaims(string(m.Data))
	if err != nil {
		// Not a server's request (an encrypted one, or something delivered here): no answer,
		// the server times the client out.
		a.log.Warn("natsauth: auth callout request ignored", "err", err)
		return
	}
	resp := jwt.NewAuthorizationResponseClaims(req.UserNkey)
	resp.Audience = req.Server.ID
	ujwt, user, err := a.authorize(req)
	if err != nil {
		resp.Error = err.Error()
		a.log.Info("natsauth: NATS sign-in refused", "client", req.ClientInformation.Host, "user", truncate(req.ConnectOptions.Username), "reason", err)
	} else {
		resp.Jwt = ujwt
		a.log.Debug("natsauth: NATS sign-in", "user", user, "client", req.ClientInformation.Host)
	}
	token, err := resp.Encode(a.issuer)
	if err == nil && a.maxPayload > 0 && int64(len(token)) > a.maxPayload {
		// The server would never get the answer: say why instead.
		a.log.Warn("natsauth: NATS sign-in refused: the user's permissions are too large", "user", user, "bytes", len(token), "max", a.maxPayload)
		resp.Jwt = ""
		resp.Error = fmt.Sprintf("the permissions of user %s (one set per entity it has a grant on) exceed the server's maximum payload", user)
		token, err = resp.Encode(a.issuer)
	}
	if err != nil {
		a.log.Error("natsauth: sign auth callout answer", "err", err)
		return
	}
	_ = m.Respond([]byte(token))
}

// authorize checks the credentials of req and returns a user JWT with the user's permissions.
func (a *Authorizer) authorize(req *jwt.AuthorizationRequestClaims) (string, string, error) {
	dir := a.dir.Current()
	if dir == nil {
		return "", "", fmt.Errorf("the service is starting: try again")
	}
	opts := req.ConnectOptions
	if opts.Username == "" || opts.Password == "" {
		return "", "", fmt.Errorf("sign in with a client id and secret of the directory as user and password")
	}
	u, err := a.authenticate(dir, opts.Username, opts.Password)
	if err != nil {
		return "", "", err
	}
	perms, err := For(dir, u.ID)
	if err != nil {
		return "", "", err
	}
	uc := jwt.NewUserClaims(req.UserNkey)
	uc.Name = u.ID
	uc.Audience = a.account
	uc.Permissions = perms.jwtPermissions()
	token, err := uc.Encode(a.issuer)
	if err != nil {
		return "", "", fmt.Errorf("internal error")
	}
	return token, u.ID, nil
}

// authenticate returns the user whose client id and secret these are. An unknown client id
// costs a bcrypt comparison too, so that timing does not tell which client ids exist.
func (a *Authorizer) authenticate(dir *domain.Directory, clientID, secret string) (domain.User, error) {
	u, found := dir.UserByClientID(clientID)
	var hash []byte
	if found {
		hash = []byte(u.SecretHash)
	} else {
		hash = a.dummyHash(dir)
	}
	key := sha256.Sum256([]byte(clientID + "\x00" + secret + "\x00" + string(hash)))
	a.mu.Lock()
	_, ok := a.verified[key]
	a.mu.Unlock()
	if ok && found {
		return u, nil
	}
	a.slots <- struct{}{}
	err := bcrypt.CompareHashAndPassword(hash, []byte(secret))
	<-a.slots
	if err != nil || !found {
		return domain.User{}, fmt.Errorf("invalid client credentials")
	}
	a.mu.Lock()
	if len(a.verified) >= maxVerified {
		a.verified = map[[32]byte]struct{}{}
	}
	a.verified[key] = struct{}{}
	a.mu.Unlock()
	return u, nil
}

// dummyHash returns a hash to compare an unknown client id's secret against, made at the cost
// of the directory's own hashes, so that the answer takes as long as for a known one.
func (a *Authorizer) dummyHash(dir *domain.Directory) []byte {
	cost := bcrypt.DefaultCost
	if users := dir.Users(); len(users) > 0 {
		if c, err := bcrypt.Cost([]byte(users[0].SecretHash)); err == nil {
			cost = c
		}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if h, ok := a.dummies[cost]; ok {
		return h
	}
	h, err := bcrypt.GenerateFromPassword([]byte("entityconn-no-such-client"), cost)
	if err != nil {
		h = []byte("$2a$04$invalid") // bcrypt fails to compare: refused all the same
	}
	a.dummies[cost] = h
	return h
}

func truncate(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

// Follow watches the directory and, when it changes, closes the connections of every user
// whose permissions or secret changed, or who is gone, through kick. It looks when the
// directory says it changed (a Directory with a Changed() <-chan struct{} method, such as
// natsjs.DirectoryStore) and every interval besides (at most a second apart, so that a
// revoked grant takes effect within 5 s), until ctx ends, and returns ctx's error.
func (a *Authorizer) Follow(ctx context.Context, kick Kicker, interval time.Duration) error {
	if interval <= 0 || interval > time.Second {
		interval = time.Second
	}
	changer, _ := a.dir.(interface{ Changed() <-chan struct{} })
	last := a.dir.Current()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		var changed <-chan struct{}
		if changer != nil {
			changed = changer.Changed()
		}
		if cur := a.dir.Current(); cur != last && cur != nil {
			for _, user := range Changed(last, cur) {
				n, err := kick.Kick(ctx, user)
				switch {
				case err != nil:
					a.log.Warn("natsauth: connections of a user whose rights changed not closed", "user", user, "err", err)
				case n > 0:
					a.log.Info("natsauth: NATS connections closed: the user's rights changed", "user", user, "connections", n)
				}
			}
			last = cur
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-changed:
		case <-t.C:
		}
	}
}

// Changed returns the users of before whose NATS permissions or secret differ in after, or
// who are not in after. A nil before changes nothing.
func Changed(before, after *domain.Directory) []string {
	if before == nil {
		return nil
	}
	var out []string
	for _, u := range before.Users() {
		now, ok := after.User(u.ID)
		if !ok || now.SecretHash != u.SecretHash || now.ClientID != u.ClientID {
			out = append(out, u.ID)
			continue
		}
		p, _ := For(before, u.ID)
		q, _ := For(after, u.ID)
		if !p.Equal(q) {
			out = append(out, u.ID)
		}
	}
	return out
}
