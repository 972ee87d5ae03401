package natsauth_test

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nats.go/micro"

	"github.com/entityconn/entityconn/adapters/apptest"
	"github.com/entityconn/entityconn/adapters/natsapi"
	"github.com/entityconn/entityconn/adapters/natsauth"
	"github.com/entityconn/entityconn/adapters/natscmd"
	"github.com/entityconn/entityconn/adapters/natsjs"
	"github.com/entityconn/entityconn/domain"
	"github.com/entityconn/entityconn/events"
)

// TestPermissionMatrix signs every directory user in to a real NATS server and tries every
// path of contract §5a against every entity: what §5a allows must work (a message arrives,
// a value is read, a reply comes), what it refuses must be refused, and no refused write
// may leave anything in a stream or bucket.
func TestPermissionMatrix(t *testing.T) {
	st := apptest.Start(t)
	api, err := natsapi.Start(st.NC, st.Executor, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(api.Stop)
	door, err := natscmd.Start(t.Context(), st.NC, st.Executor, natscmd.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(door.Stop) // before the stack's views stop (cleanups run last first)
	env := matrixEnv{
		Directory: parse(t, apptest.Directory()),
		ConnectAs: func(t *testing.T, user string, opts ...nats.Option) *nats.Conn {
			return st.ConnectAs(t, user, opts...)
		},
		Dial: func(opts ...nats.Option) (*nats.Conn, error) {
			return nats.Connect(st.URL, append([]nats.Option{nats.MaxReconnects(0), nats.Timeout(5 * time.Second)}, opts...)...)
		},
		Service: st.ConnectService(t),
	}
	counts := runPermissionMatrix(t, env)
	if counts.Unchanged == 0 {
		t.Error("no refused write was checked for its absence of effect")
	}
}

// matrixEnv is a running entityconn the permission matrix is checked against: a NATS server
// (one or a cluster) that authorises directory users as contract §5a says, with the micro
// service entityconn and the durable command door running on it. Users sign in with the
// secret "<client id>-secret" (apptest.Directory).
type matrixEnv struct {
	// Directory is the directory the server authorises users from.
	Directory *domain.Directory
	// ConnectAs signs in as a directory user with the inbox prefix its permissions allow
	// (natsauth.InboxPrefix) and opts; the connection closes when the test ends.
	ConnectAs func(t *testing.T, user string, opts ...nats.Option) *nats.Conn
	// Dial connects with opts alone, for clients the server must refuse.
	Dial func(opts ...nats.Option) (*nats.Conn, error)
	// Service is signed in as the service's own identity, which may do anything.
	Service *nats.Conn
}

// matrixCounts are the totals of a matrix run.
type matrixCounts struct {
	Cells, Allowed, Refused int
	// Mismatches are cells whose behaviour differs from §5a and that are not known
	// discrepancies; each fails the test.
	Mismatches int
	// Known are cells whose behaviour differs from §5a for a reason listed in
	// knownDiscrepancies (a documented residual or a hole): logged, not failed.
	Known int
	// Unchanged counts the refused writes after which every stream and bucket was checked
	// and found unchanged.
	Unchanged int
}

// Names of the streams the matrix reads and watches.
var (
	viewsStream       = "KV_" + natsjs.BucketViews
	directoryStream   = "KV_" + natsjs.BucketDirectory
	idempotencyStream = "KV_" + natsjs.BucketIdempotency
	// storedStreams are checked after every refused write: nothing may be appended to them.
	storedStreams = []string{events.Stream, viewsStream, directoryStream, idempotencyStream, natscmd.StreamCommands}
)

// Timing of the checks. A refused publish is answered by the server with -ERR before the
// PONG of the flush that follows it, so violationWait is a bound rarely reached.
const (
	violationWait = 200 * time.Millisecond
	callTimeout   = 5 * time.Second
	deliveryWait  = 5 * time.Second
)

// Paths whose behaviour is known to differ from the letter of §5a.
const (
	pathDurableOtherName = "durable named <other>-matrix on own entity"
	pathFetchOthers      = "fetch from another's consumer (not my entity)"
	pathInfoOthers       = "info of another's consumer (not my entity)"
	pathDeleteOthers     = "delete another's consumer (not my entity)"
	pathRetargetOthers   = "update another's durable <other>-… to my entity's filter"
	pathPushLiveEvents   = "push consumer delivering on entityconn.events.<F>.<E>.<Type> to F's subscriber"
	pathPushLiveOutcomes = "push consumer delivering on entityconn.outcomes.<F> to F's subscriber"
	pathPushCallout      = "push consumer delivering on $SYS.REQ.USER.AUTH (auth callout)"
)

// knownDiscrepancies are the paths §5a refuses but the server allows, and why. A cell of one
// of them that is allowed is marked, counted and logged instead of failing the test;
// removing an entry makes it fail again.
var knownDiscrepancies = map[string]string{
	pathFetchOthers:      "documented residual of natsauth.For: $JS.API.CONSUMER.MSG.NEXT.<stream>.* addresses a consumer by name alone",
	pathInfoOthers:       "documented residual of natsauth.For: $JS.API.CONSUMER.INFO.<stream>.* addresses a consumer by name alone",
	pathDeleteOthers:     "documented residual of natsauth.For: $JS.API.CONSUMER.DELETE.<stream>.* addresses a consumer by name alone",
	pathPushLiveOutcomes: "a consumer's deliver_subject is not checked against its creator's permissions; entityconn.outcomes.<F> is subscribed to literally, so the first copies reach F's live subscribers before the consumer guard deletes the consumer (nothing is stored)",
}

// runPermissionMatrix seeds env with a ring of connections as the service (so that every
// entity has events, views and outcomes), then checks users × entities × paths and the
// per-user paths, logs the matrix and returns its totals. Mismatches fail t.
func runPermissionMatrix(t *testing.T, env matrixEnv) matrixCounts {
	t.Helper()
	start := time.Now()
	js, err := jetstream.New(env.Service)
	if err != nil {
		t.Fatal(err)
	}
	m := &matrix{t: t, env: env, js: js, dir: env.Directory}
	for _, e := range env.Directory.Entities() {
		m.entities = append(m.entities, e.ID)
	}
	if len(m.entities) < 2 {
		t.Fatalf("the matrix needs a directory of at least 2 entities, got %v", m.entities)
	}
	m.obs = make(chan *nats.Msg, 4096)
	for _, subject := range []string{events.SubjectPrefix + ".>", natscmd.OutcomePrefix + ".>"} {
		sub, err := env.Service.ChanSubscribe(subject, m.obs)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = sub.Unsubscribe() })
	}
	if err := env.Service.Flush(); err != nil {
		t.Fatal(err)
	}

	m.ring = m.seed()
	conns := map[string]*userConn{}
	for _, u := range env.Directory.Users() {
		conns[u.ID] = m.connect(u)
	}
	m.live(conns)
	for _, u := range env.Directory.Users() {
		m.reads(conns[u.ID])
	}
	for _, u := range env.Directory.Users() {
		m.perUser(conns[u.ID])
	}
	m.strangers()
	counts := m.log()
	t.Logf("permission matrix checked in %v", time.Since(start).Round(time.Millisecond))
	return counts
}

// verdict is what a cell showed.
type verdict int

const (
	unclear verdict = iota // neither allowed nor refused was shown
	allowed
	refused
)

func (v verdict) String() string {
	switch v {
	case allowed:
		return "allowed"
	case refused:
		return "refused"
	}
	return "unclear"
}

// outcome is a verdict with its evidence.
type outcome struct {
	got verdict
	why string
}

func allow(format string, args ...any) outcome {
	return outcome{allowed, fmt.Sprintf(format, args...)}
}
func refuse(format string, args ...any) outcome {
	return outcome{refused, fmt.Sprintf(format, args...)}
}
func unsure(format string, args ...any) outcome {
	return outcome{unclear, fmt.Sprintf(format, args...)}
}

// want returns allowed if ok, else refused.
func want(ok bool) verdict {
	if ok {
		return allowed
	}
	return refused
}

// cell is one checked (user, path, column); col is an entity, or "" for a per-user path.
type cell struct {
	user, path, col string
	want, got       verdict
	why             string
	known           string
}

// pair is a seeded connection of the ring.
type pair struct{ src, tgt, id string }

type matrix struct {
	t        *testing.T
	env      matrixEnv
	js       jetstream.JetStream // the service's
	dir      *domain.Directory
	entities []string
	ring     []pair
	// obs receives, as the service, everything published on entityconn.events.> and
	// entityconn.outcomes.>: outcomes awaited, forged deliveries spotted.
	obs       chan *nats.Msg
	cells     []cell
	unchanged int
}

func (m *matrix) record(user, path, col string, w verdict, o outcome) {
	m.t.Helper()
	c := cell{user: user, path: path, col: col, want: w, got: o.got, why: o.why}
	if c.got != c.want {
		if k, ok := knownDiscrepancies[path]; ok && c.want == refused && c.got == allowed {
			c.known = k
		} else {
			at := path
			if col != "" {
				at += ", entity " + col
			}
			m.t.Errorf("permission matrix: user %s, %s: want %s, got %s (%s)", user, at, c.want, c.got, c.why)
		}
	}
	m.cells = append(m.cells, c)
}

// access reports whether user has a grant (any role) on entity.
func (m *matrix) access(user, entity string) bool {
	_, ok := m.dir.RoleOf(user, entity)
	return ok
}

// firstEntity is the first entity of the directory user may access.
func (m *matrix) firstEntity(user string) string {
	for _, e := range m.entities {
		if m.access(user, e) {
			return e
		}
	}
	m.t.Fatalf("user %s has no entity", user)
	return ""
}

// foreignEntity is the first entity of the directory user may not access, or "".
func (m *matrix) foreignEntity(user string) string {
	for _, e := range m.entities {
		if !m.access(user, e) {
			return e
		}
	}
	return ""
}

// otherUser is the first user of the directory other than user.
func (m *matrix) otherUser(user string) string {
	for _, u := range m.dir.Users() {
		if u.ID != user {
			return u.ID
		}
	}
	m.t.Fatal("the matrix needs a directory of at least 2 users")
	return ""
}

// adminOf is a user who is admin of entity and may access also (any role), or "".
func (m *matrix) adminOf(entity, also string) string {
	for _, u := range m.dir.Users() {
		if r, ok := m.dir.RoleOf(u.ID, entity); ok && r == domain.RoleAdmin && m.access(u.ID, also) {
			return u.ID
		}
	}
	return ""
}

// ---- as the service ----

func (m *matrix) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), callTimeout)
}

// serviceRequest sends a request of the micro service as the service (which may publish as
// anyone) and returns the successful reply.
func (m *matrix) serviceRequest(user, endpoint string, r natsapi.Request) *nats.Msg {
	m.t.Helper()
	data, _ := json.Marshal(r)
	reply, err := m.env.Service.Request(natsapi.Subject(user, endpoint), data, callTimeout)
	if err != nil {
		m.t.Fatalf("%s as %s: %v", endpoint, user, err)
	}
	if code := reply.Header.Get(micro.ErrorCodeHeader); code != "" {
		m.t.Fatalf("%s as %s: %s %s", endpoint, user, code, reply.Header.Get(micro.ErrorHeader))
	}
	return reply
}

// appendEvent stores e through the event store, as the service does.
func (m *matrix) appendEvent(e events.Event) {
	m.t.Helper()
	ctx, cancel := m.ctx()
	defer cancel()
	stream, err := m.js.Stream(ctx, events.Stream)
	if err != nil {
		m.t.Fatal(err)
	}
	store := natsjs.NewStore(&natsjs.Resources{JS: m.js, Events: stream})
	// The last event is read by direct get, which a cluster's follower may answer before it
	// has the event appended just before: a conflict then means "read again", as the
	// service's own retry does.
	for attempt := 1; ; attempt++ {
		last, _, err := store.LastOfPair(ctx, e.SourceEntityID, e.TargetEntityID)
		if err != nil {
			m.t.Fatal(err)
		}
		_, err = store.Append(ctx, e, last.Sequence)
		if err == nil {
			return
		}
		if !errors.Is(err, natsjs.ErrConcurrentChange) || attempt == 20 {
			m.t.Fatalf("append %s %s→%s: %v", e.Type, e.SourceEntityID, e.TargetEntityID, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// seed requests a ring of connections e0→e1→…→e0 so that every entity is the source of one
// and the target of another, and waits until the views show them. A pair whose source has
// no admin who may access the target (apac in apptest.Directory) is appended through the
// store, as the service.
func (m *matrix) seed() []pair {
	m.t.Helper()
	var ring []pair
	for i, src := range m.entities {
		tgt := m.entities[(i+1)%len(m.entities)]
		p := pair{src: src, tgt: tgt}
		if admin := m.adminOf(src, tgt); admin != "" {
			reply := m.serviceRequest(admin, "request", natsapi.Request{CommandID: "matrix-seed-" + uuid.NewString(), EntityID: src, TargetEntityID: tgt})
			p.id = reply.Header.Get(natsapi.HeaderConnectionID)
		} else {
			p.id = uuid.NewString()
			m.appendEvent(events.Event{EventID: uuid.NewString(), Type: events.TypeConnectionRequested, ConnectionID: p.id,
				SourceEntityID: src, TargetEntityID: tgt, ActorEntityID: src, OccurredAt: time.Now()})
		}
		ring = append(ring, p)
	}
	// The reverse of each ring pair is Connected and shares a product (contract §7): every
	// entity shares one object and has one shared with it.
	var keys []string
	for _, p := range ring {
		id := uuid.NewString()
		src, tgt := p.tgt, p.src
		for _, typ := range []events.Type{events.TypeConnectionRequested, events.TypeConnectionAccepted, events.TypeObjectShared} {
			e := events.Event{EventID: uuid.NewString(), Type: typ, ConnectionID: id, SourceEntityID: src, TargetEntityID: tgt,
				ActorEntityID: src, OccurredAt: time.Now()}
			if typ == events.TypeObjectShared {
				e.ObjectType, e.ObjectID = "Product", "P-"+src
			}
			m.appendEvent(e)
		}
		keys = append(keys, m.sharedBy(src), m.sharedWith(tgt))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	kv, err := m.js.KeyValue(ctx, natsjs.BucketViews)
	if err != nil {
		m.t.Fatal(err)
	}
	for _, p := range ring {
		keys = append(keys, "outbound."+p.src+"."+p.id, "inbound."+p.tgt+"."+p.id)
	}
	for _, key := range keys {
		for {
			if _, err := kv.Get(ctx, key); err == nil {
				break
			} else if ctx.Err() != nil {
				m.t.Fatalf("view %s not projected: %v", key, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return ring
}

// sharedBy and sharedWith are the keys of the seeded shares of entity: the product it shares
// over the reverse of its inbound ring pair, and the one shared with it over the reverse of
// its outbound ring pair.
func (m *matrix) sharedBy(entity string) string {
	for i, e := range m.entities {
		if e == entity {
			prev := m.entities[(i+len(m.entities)-1)%len(m.entities)]
			return "sharedby." + entity + "." + prev + ".Product.P-" + entity
		}
	}
	m.t.Fatalf("no entity %s", entity)
	return ""
}

func (m *matrix) sharedWith(entity string) string {
	for i, e := range m.entities {
		if e == entity {
			next := m.entities[(i+1)%len(m.entities)]
			return "sharedwith." + entity + "." + next + ".Product.P-" + next
		}
	}
	m.t.Fatalf("no entity %s", entity)
	return ""
}

// outboundOf and inboundOf are the seeded connection ids of entity's views.
func (m *matrix) outboundOf(entity string) string {
	for _, p := range m.ring {
		if p.src == entity {
			return p.id
		}
	}
	m.t.Fatalf("no seeded outbound connection of %s", entity)
	return ""
}

func (m *matrix) inboundOf(entity string) string {
	for _, p := range m.ring {
		if p.tgt == entity {
			return p.id
		}
	}
	m.t.Fatalf("no seeded inbound connection of %s", entity)
	return ""
}

// marks are the last sequences of the stored streams.
type marks map[string]uint64

func (m *matrix) marks() marks {
	m.t.Helper()
	ctx, cancel := m.ctx()
	defer cancel()
	out := marks{}
	for _, name := range storedStreams {
		s, err := m.js.Stream(ctx, name)
		if err != nil {
			m.t.Fatalf("stream %s: %v", name, err)
		}
		out[name] = s.CachedInfo().State.LastSeq
	}
	return out
}

// appended returns what the stored streams took since before, leaving out the views
// bucket's own bookkeeping (the projector's and expiry's lease and checkpoint keys, which
// the service rewrites every second).
func (m *matrix) appended(before marks) []string {
	m.t.Helper()
	ctx, cancel := m.ctx()
	defer cancel()
	var out []string
	for name, last := range m.marks() {
		s, err := m.js.Stream(ctx, name)
		if err != nil {
			m.t.Fatal(err)
		}
		for seq := before[name] + 1; seq <= last; seq++ {
			msg, err := s.GetMsg(ctx, seq)
			switch {
			case err != nil && name == viewsStream:
				// Gone: its key was written again since (the bucket keeps one revision),
				// which only the service's own keys are (a lease renewed, a view moved on);
				// a forged write names a key of its own, and stays.
			case err != nil: // e.g. a command already taken off the work queue
				out = append(out, fmt.Sprintf("%s#%d", name, seq))
			case name == viewsStream && (strings.HasPrefix(msg.Subject, "$KV."+natsjs.BucketViews+".projector.") ||
				strings.HasPrefix(msg.Subject, "$KV."+natsjs.BucketViews+".expiry.")):
			default:
				out = append(out, fmt.Sprintf("%s#%d %s", name, seq, msg.Subject))
			}
		}
	}
	slices.Sort(out)
	return out
}

// drain forgets what the observer received so far.
func (m *matrix) drain() {
	_ = m.env.Service.Flush()
	for {
		select {
		case <-m.obs:
		default:
			return
		}
	}
}

// observed waits up to d for a message the observer receives that match accepts.
func (m *matrix) observed(d time.Duration, match func(*nats.Msg) bool) (*nats.Msg, bool) {
	_ = m.env.Service.Flush()
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		select {
		case msg := <-m.obs:
			if match(msg) {
				return msg, true
			}
		case <-timer.C:
			return nil, false
		}
	}
}

// outcomeOf waits for the outcome of the durable command commandID.
func (m *matrix) outcomeOf(commandID string) (natscmd.Outcome, bool) {
	var o natscmd.Outcome
	_, ok := m.observed(deliveryWait, func(msg *nats.Msg) bool {
		return strings.HasPrefix(msg.Subject, natscmd.OutcomePrefix+".") && json.Unmarshal(msg.Data, &o) == nil && o.CommandID == commandID
	})
	return o, ok
}

// write runs op, a write, as c. Unless op shows the write was allowed, it checks that the
// write left nothing in any stored stream and that nothing was published on forged (if not
// ""); a write that did is allowed after all.
func (m *matrix) write(c *userConn, path string, w verdict, forged string, op func() outcome) {
	m.t.Helper()
	m.drain()
	before := m.marks()
	o := op()
	if o.got == allowed {
		m.record(c.user, path, "", w, o)
		return
	}
	republished := func() bool {
		if forged == "" {
			return false
		}
		_, ok := m.observed(violationWait/4, func(msg *nats.Msg) bool { return msg.Subject == forged })
		return ok
	}
	got := m.appended(before)
	for deadline := time.Now().Add(violationWait); len(got) == 0 && o.got == unclear && time.Now().Before(deadline); {
		// Something went out and was not refused: give a stream the time to take it.
		time.Sleep(20 * time.Millisecond)
		got = m.appended(before)
	}
	if len(got) > 0 {
		o = allow("stored %s (%s)", strings.Join(got, ", "), o.why)
	} else if republished() {
		o = allow("%s reached subscribers (%s)", forged, o.why)
	} else if o.got == refused {
		m.unchanged++
	}
	m.record(c.user, path, "", w, o)
}

// ---- a user's connection ----

// violationSubject finds the kind and subject in a permission violation's text.
var violationSubject = regexp.MustCompile(`(Publish|Subscription) to "([^"]+)"`)

// probe records the permission violations the server reports on one connection.
type probe struct {
	mu   sync.Mutex
	seen []string // "<Publish|Subscription> <subject>", in order
	wake chan struct{}
}

func (p *probe) handle(_ *nats.Conn, _ *nats.Subscription, err error) {
	if !errors.Is(err, nats.ErrPermissionViolation) {
		return
	}
	v := violationSubject.FindStringSubmatch(err.Error())
	if v == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.seen = append(p.seen, v[1]+" "+v[2])
	close(p.wake)
	p.wake = make(chan struct{})
}

func (p *probe) mark() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.seen)
}

// find returns the subject of the first violation of kind since mark that match accepts,
// and a channel closed at the next violation.
func (p *probe) find(mark int, kind string, match func(string) bool) (string, bool, <-chan struct{}) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, v := range p.seen[mark:] {
		if k, subject, _ := strings.Cut(v, " "); k == kind && match(subject) {
			return subject, true, nil
		}
	}
	return "", false, p.wake
}

// wait waits up to d for a violation like find's.
func (p *probe) wait(mark int, kind string, match func(string) bool, d time.Duration) (string, bool) {
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		subject, ok, wake := p.find(mark, kind, match)
		if ok {
			return subject, true
		}
		select {
		case <-wake:
		case <-timer.C:
			return "", false
		}
	}
}

// is matches subject; anySubject matches any subject.
func is(subject string) func(string) bool { return func(s string) bool { return s == subject } }
func anySubject(string) bool              { return true }

type userConn struct {
	user    string
	service bool
	nc      *nats.Conn
	js      jetstream.JetStream
	p       *probe
}

func (m *matrix) connect(u domain.User) *userConn {
	m.t.Helper()
	p := &probe{wake: make(chan struct{})}
	nc := m.env.ConnectAs(m.t, u.ID, nats.ErrorHandler(p.handle))
	js, err := jetstream.New(nc)
	if err != nil {
		m.t.Fatal(err)
	}
	return &userConn{user: u.ID, service: u.Service, nc: nc, js: js, p: p}
}

// publish publishes with pub, flushes and tells whether the server refused subject.
func (c *userConn) publish(subject string, pub func() error) outcome {
	mark := c.p.mark()
	if err := pub(); err != nil {
		return unsure("publish %s: %v", subject, err)
	}
	if err := c.nc.Flush(); err != nil {
		return unsure("flush: %v", err)
	}
	if s, ok := c.p.wait(mark, "Publish", is(subject), violationWait); ok {
		return refuse("Publish to %q refused", s)
	}
	return allow("Publish to %q not refused", subject)
}

// call runs f with a context that ends as soon as the server refuses a publish of this
// connection that match accepts (a refused request is never answered), or after
// callTimeout. It returns the refused subject, if any, and f's error.
func (c *userConn) call(match func(string) bool, f func(ctx context.Context) error) (string, error) {
	// On a cluster a JetStream request can find no responder while an R3 asset is busy (a
	// new consumer's leader, say): ask again, as clients do, when nothing was refused.
	for attempt := 1; ; attempt++ {
		subject, err := c.callOnce(match, f)
		if subject != "" || !errors.Is(err, nats.ErrNoResponders) || attempt == 3 {
			return subject, err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (c *userConn) callOnce(match func(string) bool, f func(ctx context.Context) error) (string, error) {
	mark := c.p.mark()
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- f(ctx) }()
	for {
		subject, ok, wake := c.p.find(mark, "Publish", match)
		if ok {
			cancel()
			return subject, <-done
		}
		select {
		case err := <-done:
			subject, _, _ := c.p.find(mark, "Publish", match)
			return subject, err
		case <-wake:
		}
	}
}

// jsOutcome judges a JetStream call: refused when the server refused its request or
// JetStream answered with an error, else what ok finds.
func jsOutcome(refusedSubject string, err error, ok func() outcome) outcome {
	var apiErr *jetstream.APIError
	switch {
	case refusedSubject != "":
		return refuse("Publish to %q refused", refusedSubject)
	case errors.As(err, &apiErr):
		return refuse("JetStream error %d: %s", apiErr.ErrorCode, apiErr.Description)
	case err != nil:
		return unsure("%v", err)
	}
	return ok()
}

// request sends a raw request and returns the refused subject, the reply and the error.
func (c *userConn) request(subject string, data []byte) (string, *nats.Msg, error) {
	var reply *nats.Msg
	refused, err := c.call(anySubject, func(ctx context.Context) (err error) {
		reply, err = c.nc.RequestWithContext(ctx, subject, data)
		return err
	})
	return refused, reply, err
}

// apiRequest sends a raw JetStream API request: refused when the server refuses it or
// JetStream answers with an error status or body, else allowed.
func (c *userConn) apiRequest(subject, body string) outcome {
	refusedSubject, reply, err := c.request(subject, []byte(body))
	return jsOutcome(refusedSubject, err, func() outcome {
		if status := reply.Header.Get("Status"); status != "" {
			return refuse("status %s %s", status, reply.Header.Get("Description"))
		}
		var r struct {
			Error *struct {
				Code        int    `json:"err_code"`
				Description string `json:"description"`
			} `json:"error"`
		}
		if json.Unmarshal(reply.Data, &r) == nil && r.Error != nil {
			return refuse("JetStream error %d: %s", r.Error.Code, r.Error.Description)
		}
		return allow("reply of %d bytes on %s", len(reply.Data), subject)
	})
}

// ---- the paths ----

// live subscribes every user to every entity's events and outcomes, makes the service append
// an event with each entity as source and one with it as target and an outcome in each
// entity, and checks who received what.
func (m *matrix) live(conns map[string]*userConn) {
	m.t.Helper()
	type liveSub struct {
		c                *userConn
		path, col, subj  string
		ch               chan *nats.Msg
		received, denied string
	}
	var subs []*liveSub
	for _, u := range m.dir.Users() {
		c := conns[u.ID]
		for _, e := range m.entities {
			for _, s := range []struct{ path, subj string }{
				{"core sub entityconn.events.E.>", events.SubjectPrefix + "." + e + ".>"},
				{"core sub entityconn.events.*.E.>", events.SubjectPrefix + ".*." + e + ".>"},
				{"core sub entityconn.outcomes.E", natscmd.OutcomePrefix + "." + e},
			} {
				ls := &liveSub{c: c, path: s.path, col: e, subj: s.subj, ch: make(chan *nats.Msg, 64)}
				sub, err := c.nc.ChanSubscribe(s.subj, ls.ch)
				if err != nil {
					m.t.Fatal(err)
				}
				defer func() { _ = sub.Unsubscribe() }()
				subs = append(subs, ls)
			}
		}
		if err := c.nc.Flush(); err != nil {
			m.t.Fatal(err)
		}
	}

	// One event per ring pair: accepted by an admin of the target, else cancelled by an admin
	// of the source, else appended through the store.
	for _, p := range m.ring {
		if admin := m.adminOf(p.tgt, p.tgt); admin != "" {
			m.serviceRequest(admin, "accept", natsapi.Request{EntityID: p.tgt, ConnectionID: p.id})
		} else if admin := m.adminOf(p.src, p.src); admin != "" {
			m.serviceRequest(admin, "cancel", natsapi.Request{EntityID: p.src, ConnectionID: p.id})
		} else {
			m.appendEvent(events.Event{EventID: uuid.NewString(), Type: events.TypeConnectionCancelled, ConnectionID: p.id,
				SourceEntityID: p.src, TargetEntityID: p.tgt, ActorEntityID: p.src, OccurredAt: time.Now()})
		}
	}
	// One outcome per entity: a durable command about a connection that does not exist.
	for _, e := range m.entities {
		actor := m.dir.Users()[0].ID
		for _, u := range m.dir.Users() {
			if m.access(u.ID, e) {
				actor = u.ID
				break
			}
		}
		data, _ := json.Marshal(natsapi.Request{CommandID: "matrix-outcome-" + uuid.NewString(), EntityID: e, ConnectionID: uuid.NewString()})
		ctx, cancel := m.ctx()
		_, err := m.js.Publish(ctx, natscmd.CommandSubject(actor, "AcceptConnection"), data)
		cancel()
		if err != nil {
			m.t.Fatal(err)
		}
	}

	deadline := time.Now().Add(deliveryWait)
	for _, ls := range subs {
		if m.access(ls.c.user, ls.col) {
			select {
			case msg := <-ls.ch:
				ls.received = msg.Subject
			case <-time.After(time.Until(deadline)):
			}
		}
	}
	// Everything allowed has arrived (or never will): what was refused had as long.
	for _, ls := range subs {
		if ls.received == "" {
			select {
			case msg := <-ls.ch:
				ls.received = msg.Subject
			default:
			}
		}
		ls.denied, _, _ = ls.c.p.find(0, "Subscription", is(ls.subj))
		var o outcome
		switch {
		case ls.received != "" && ls.denied != "":
			o = allow("received %s although Subscription to %q was refused", ls.received, ls.denied)
		case ls.received != "":
			o = allow("received %s", ls.received)
		case ls.denied != "":
			o = refuse("Subscription to %q refused, nothing received", ls.denied)
		default:
			o = unsure("nothing received on %s, no violation", ls.subj)
		}
		m.record(ls.c.user, ls.path, ls.col, want(m.access(ls.c.user, ls.col)), o)
	}
}

// reads checks, for every entity, the views (KV get and watch, direct get) and consumers on
// the event stream.
func (m *matrix) reads(c *userConn) {
	m.t.Helper()
	var kv jetstream.KeyValue
	refusedSubject, err := c.call(anySubject, func(ctx context.Context) (err error) {
		kv, err = c.js.KeyValue(ctx, natsjs.BucketViews)
		return err
	})
	m.record(c.user, "bind KV ENTITYCONN_VIEWS (stream info "+viewsStream+")", "", allowed, jsOutcome(refusedSubject, err, func() outcome {
		return allow("bound %s", kv.Bucket())
	}))
	if kv == nil {
		return
	}
	for _, e := range m.entities {
		w := want(m.access(c.user, e))
		for _, v := range []struct{ direction, id string }{{"outbound", m.outboundOf(e)}, {"inbound", m.inboundOf(e)}} {
			key := v.direction + "." + e + "." + v.id
			var entry jetstream.KeyValueEntry
			refusedSubject, err := c.call(anySubject, func(ctx context.Context) (err error) {
				entry, err = kv.Get(ctx, key)
				return err
			})
			m.record(c.user, "KV get "+v.direction+".E.<id>", e, w, jsOutcome(refusedSubject, err, func() outcome {
				if entry.Key() != key || !bytes.Contains(entry.Value(), []byte(v.id)) {
					return unsure("got %s = %s", entry.Key(), entry.Value())
				}
				return allow("got %s (%d bytes)", key, len(entry.Value()))
			}))
		}

		for _, key := range []string{m.sharedBy(e), m.sharedWith(e)} {
			var entry jetstream.KeyValueEntry
			refusedSubject, err := c.call(anySubject, func(ctx context.Context) (err error) {
				entry, err = kv.Get(ctx, key)
				return err
			})
			m.record(c.user, "KV get "+strings.SplitN(key, ".", 2)[0]+".E.<other>.<type>.<id>", e, w, jsOutcome(refusedSubject, err, func() outcome {
				if entry.Key() != key || !bytes.Contains(entry.Value(), []byte(`"objectType":"Product"`)) {
					return unsure("got %s = %s", entry.Key(), entry.Value())
				}
				return allow("got %s (%d bytes)", key, len(entry.Value()))
			}))
		}
		for _, filter := range []string{"sharedwith." + e + ".>", "inbound." + e + ".*"} {
			var entries int
			refusedSubject, err := c.call(anySubject, func(ctx context.Context) error {
				watcher, err := kv.Watch(ctx, filter)
				if err != nil {
					return err
				}
				defer func() { _ = watcher.Stop() }()
				for {
					select {
					case entry := <-watcher.Updates():
						if entry == nil {
							return nil
						}
						entries++
					case <-ctx.Done():
						return ctx.Err()
					}
				}
			})
			path := "KV watch " + strings.Replace(filter, "."+e+".", ".E.", 1)
			m.record(c.user, path, e, w, jsOutcome(refusedSubject, err, func() outcome {
				if entries == 0 {
					return unsure("watch ended its initial values without any")
				}
				return allow("%d initial values, then the end marker", entries)
			}))
		}

		key := "$KV." + natsjs.BucketViews + ".outbound." + e + "." + m.outboundOf(e)
		refusedSubject, reply, err := c.request("$JS.API.DIRECT.GET."+viewsStream+"."+key, nil)
		m.record(c.user, "direct get $KV.ENTITYCONN_VIEWS.outbound.E.<id>", e, w, jsOutcome(refusedSubject, err, func() outcome {
			if reply.Header.Get("Nats-Subject") != key || len(reply.Data) == 0 {
				return unsure("reply %v %q", reply.Header, reply.Data)
			}
			return allow("got %s", key)
		}))

		refusedSubject, reply, err = c.request("$JS.API.DIRECT.GET."+events.Stream+"."+events.SubjectPrefix+"."+e+".>", nil)
		m.record(c.user, "direct get ENTITYCONN_EVENTS entityconn.events.E.>", e, refused, jsOutcome(refusedSubject, err, func() outcome {
			return allow("got %s", reply.Header.Get("Nats-Subject"))
		}))

		for i, f := range []struct{ path, filter string }{
			{"ordered consumer entityconn.events.E.>", events.SubjectPrefix + "." + e + ".>"},
			{"ordered consumer entityconn.events.*.E.>", events.SubjectPrefix + ".*." + e + ".>"},
		} {
			var subject string
			refusedSubject, err := c.call(anySubject, func(ctx context.Context) error {
				oc, err := c.js.OrderedConsumer(ctx, events.Stream, jetstream.OrderedConsumerConfig{
					FilterSubjects: []string{f.filter}, NamePrefix: c.user + "-matrix-ordered-" + e + "-" + strconv.Itoa(i), MaxResetAttempts: 1})
				if err != nil {
					return err
				}
				msg, err := oc.Next(jetstream.FetchMaxWait(deliveryWait))
				if err != nil {
					return err
				}
				subject = msg.Subject()
				return c.js.DeleteConsumer(ctx, events.Stream, oc.CachedInfo().Name)
			})
			m.record(c.user, f.path, e, w, jsOutcome(refusedSubject, err, func() outcome {
				if !subjectMatches(f.filter, subject) {
					return unsure("got %q", subject)
				}
				return allow("read %s", subject)
			}))
		}

		name := c.user + "-matrix-" + e
		var subject string
		refusedSubject, err = c.call(anySubject, func(ctx context.Context) error {
			return m.fetchAndAck(ctx, c, name, events.SubjectPrefix+"."+e+".>", &subject)
		})
		m.record(c.user, "durable <self>-matrix on entityconn.events.E.>: fetch, ack", e, w, jsOutcome(refusedSubject, err, func() outcome {
			return allow("fetched and acked %s", subject)
		}))
	}
}

// fetchAndAck creates the durable pull consumer name on filter as c, fetches one event,
// acknowledges it (and waits for the server to confirm) and deletes the consumer.
func (m *matrix) fetchAndAck(ctx context.Context, c *userConn, name, filter string, subject *string) error {
	cons, err := c.js.CreateOrUpdateConsumer(ctx, events.Stream, jetstream.ConsumerConfig{Durable: name, FilterSubject: filter, AckPolicy: jetstream.AckExplicitPolicy})
	if err != nil {
		return err
	}
	defer func() { _ = c.js.DeleteConsumer(context.WithoutCancel(ctx), events.Stream, name) }()
	batch, err := cons.Fetch(1, jetstream.FetchMaxWait(deliveryWait))
	if err != nil {
		return err
	}
	for msg := range batch.Messages() {
		if !subjectMatches(filter, msg.Subject()) {
			return fmt.Errorf("fetched %s with filter %s", msg.Subject(), filter)
		}
		if err := msg.DoubleAck(ctx); err != nil {
			return fmt.Errorf("ack: %w", err)
		}
		*subject = msg.Subject()
	}
	if err := batch.Error(); err != nil {
		return err
	}
	if *subject == "" {
		return errors.New("fetched nothing")
	}
	return nil
}

// perUser checks the paths that do not depend on an entity.
func (m *matrix) perUser(c *userConn) {
	m.t.Helper()
	own := m.firstEntity(c.user)
	m.jetStreamAPI(c, own)
	m.privateReads(c, own)
	m.writes(c, own)
	m.inboxes(c)
	m.requests(c, own)
	m.consumersByName(c, own)
	m.deliveries(c, own)
}

// jetStreamAPI checks consumers not scoped to an entity, listings and infos.
func (m *matrix) jetStreamAPI(c *userConn, own string) {
	m.t.Helper()
	u := c.user
	ownFilter := events.SubjectPrefix + "." + own + ".>"
	consumer := func(path string, cfg jetstream.ConsumerConfig) {
		refusedSubject, err := c.call(anySubject, func(ctx context.Context) error {
			_, err := c.js.CreateOrUpdateConsumer(ctx, events.Stream, cfg)
			return err
		})
		m.record(u, path, "", refused, jsOutcome(refusedSubject, err, func() outcome {
			m.deleteConsumer(events.Stream, cfg.Durable)
			return allow("consumer %s created", cfg.Durable)
		}))
	}
	consumer("consumer on ENTITYCONN_EVENTS without a filter", jetstream.ConsumerConfig{Durable: u + "-matrix-all", AckPolicy: jetstream.AckExplicitPolicy})
	consumer("consumer on ENTITYCONN_EVENTS with two filters", jetstream.ConsumerConfig{Durable: u + "-matrix-two", AckPolicy: jetstream.AckExplicitPolicy,
		FilterSubjects: []string{ownFilter, events.SubjectPrefix + ".*." + own + ".>"}})
	name := u + "-matrix-wide"
	body, _ := json.Marshal(map[string]any{"stream_name": events.Stream, "action": "create",
		"config": map[string]any{"durable_name": name, "filter_subject": events.SubjectPrefix + ".>", "ack_policy": "explicit"}})
	o := c.apiRequest("$JS.API.CONSUMER.CREATE."+events.Stream+"."+name+"."+ownFilter, string(body))
	if o.got == allowed {
		m.deleteConsumer(events.Stream, name)
	}
	m.record(u, "consumer create: own filter in the subject, entityconn.events.> in the body", "", refused, o)
	m.record(u, "consumer names of ENTITYCONN_EVENTS", "", refused, c.apiRequest("$JS.API.CONSUMER.NAMES."+events.Stream, ""))
	m.record(u, "consumer list of ENTITYCONN_EVENTS", "", refused, c.apiRequest("$JS.API.CONSUMER.LIST."+events.Stream, ""))

	streamInfo := func(stream string, w verdict) {
		var info *jetstream.StreamInfo
		refusedSubject, err := c.call(anySubject, func(ctx context.Context) error {
			s, err := c.js.Stream(ctx, stream)
			if err == nil {
				info = s.CachedInfo()
			}
			return err
		})
		m.record(u, "stream info "+stream, "", w, jsOutcome(refusedSubject, err, func() outcome {
			return allow("%s holds %d messages", info.Config.Name, info.State.Msgs)
		}))
	}
	streamInfo(events.Stream, refused)
	streamInfo(viewsStream, allowed) // nats.go's KV binds with it: a documented residual
	streamInfo(directoryStream, refused)

	refusedSubject, err := c.call(anySubject, func(ctx context.Context) error {
		l := c.js.ListStreams(ctx)
		for range l.Info() {
		}
		return l.Err()
	})
	m.record(u, "stream list ($JS.API.STREAM.LIST)", "", refused, jsOutcome(refusedSubject, err, func() outcome { return allow("listed") }))
	refusedSubject, err = c.call(anySubject, func(ctx context.Context) error {
		l := c.js.StreamNames(ctx)
		for range l.Name() {
		}
		return l.Err()
	})
	m.record(u, "stream names ($JS.API.STREAM.NAMES)", "", refused, jsOutcome(refusedSubject, err, func() outcome { return allow("listed") }))
	refusedSubject, err = c.call(anySubject, func(ctx context.Context) error {
		l := c.js.KeyValueStoreNames(ctx)
		for range l.Name() {
		}
		return l.Error()
	})
	m.record(u, "KV bucket names", "", refused, jsOutcome(refusedSubject, err, func() outcome { return allow("listed") }))
	var account *jetstream.AccountInfo
	refusedSubject, err = c.call(anySubject, func(ctx context.Context) (err error) {
		account, err = c.js.AccountInfo(ctx)
		return err
	})
	m.record(u, "account info ($JS.API.INFO)", "", allowed, jsOutcome(refusedSubject, err, func() outcome {
		return allow("%d streams", account.Streams)
	}))
}

// privateReads checks reads of the directory and idempotency buckets, of any stream by
// sequence, and the body forms of direct get.
func (m *matrix) privateReads(c *userConn, own string) {
	m.t.Helper()
	u := c.user
	for _, b := range []string{natsjs.BucketDirectory, natsjs.BucketIdempotency} {
		refusedSubject, err := c.call(anySubject, func(ctx context.Context) error {
			_, err := c.js.KeyValue(ctx, b)
			return err
		})
		m.record(u, "bind KV "+b, "", refused, jsOutcome(refusedSubject, err, func() outcome { return allow("bound") }))
	}
	for _, key := range []string{"directory", "token-signing-key"} {
		m.record(u, "direct get $KV.ENTITYCONN_DIRECTORY."+key, "", refused,
			c.apiRequest("$JS.API.DIRECT.GET."+directoryStream+".$KV."+natsjs.BucketDirectory+"."+key, ""))
	}
	m.record(u, "direct get $KV.ENTITYCONN_IDEMPOTENCY.<key>", "", refused,
		c.apiRequest("$JS.API.DIRECT.GET."+idempotencyStream+".$KV."+natsjs.BucketIdempotency+"."+m.idempotencyKey(), ""))
	for _, s := range []struct{ stream, subject string }{
		{events.Stream, events.SubjectPrefix + ".>"},
		{viewsStream, "$KV." + natsjs.BucketViews + ".>"},
		{directoryStream, "$KV." + natsjs.BucketDirectory + ".directory"},
		{idempotencyStream, "$KV." + natsjs.BucketIdempotency + ".>"},
		{natscmd.StreamCommands, natscmd.CommandPrefix + ".>"},
		{natscmd.StreamOutcomes, natscmd.OutcomePrefix + ".>"},
	} {
		m.record(u, "msg get "+s.stream+` {"seq":1}`, "", refused, c.apiRequest("$JS.API.STREAM.MSG.GET."+s.stream, `{"seq":1}`))
		m.record(u, "msg get "+s.stream+` {"last_by_subj"}`, "", refused, c.apiRequest("$JS.API.STREAM.MSG.GET."+s.stream, `{"last_by_subj":"`+s.subject+`"}`))
		m.record(u, "direct get "+s.stream+` {"seq":1}`, "", refused, c.apiRequest("$JS.API.DIRECT.GET."+s.stream, `{"seq":1}`))
		m.record(u, "direct get "+s.stream+` {"seq":1,"next_by_subj"}`, "", refused, c.apiRequest("$JS.API.DIRECT.GET."+s.stream, `{"seq":1,"next_by_subj":"`+s.subject+`"}`))
	}
	ownKey := "$KV." + natsjs.BucketViews + ".outbound." + own + "." + m.outboundOf(own)
	m.record(u, `direct get of an own view key with body {"seq":1}`, "", refused,
		c.apiRequest("$JS.API.DIRECT.GET."+viewsStream+"."+ownKey, `{"seq":1}`))
	m.record(u, `direct get of an own view key with body {"last_by_subj":"$KV.ENTITYCONN_VIEWS.>"}`, "", refused,
		c.apiRequest("$JS.API.DIRECT.GET."+viewsStream+"."+ownKey, `{"last_by_subj":"$KV.ENTITYCONN_VIEWS.>"}`))
}

// writes checks publishing events and writing c's own entity's views.
func (m *matrix) writes(c *userConn, own string) {
	m.t.Helper()
	u := c.user
	e0, e1 := m.entities[0], m.entities[1]
	forged, _ := events.Encode(events.Event{EventID: uuid.NewString(), Type: events.TypeConnectionAccepted, ConnectionID: uuid.NewString(),
		SourceEntityID: e0, TargetEntityID: e1, ActorUserID: u, ActorEntityID: e1, OccurredAt: time.Now()})
	stored := events.Subject(e0, e1, events.TypeConnectionAccepted)
	appendSubject := natsjs.AppendPrefix + "." + e0 + "." + e1 + "." + string(events.TypeConnectionAccepted)
	for _, subject := range []string{stored, appendSubject} {
		m.write(c, "core publish "+subject, refused, stored, func() outcome {
			return c.publish(subject, func() error { return c.nc.Publish(subject, forged) })
		})
		m.write(c, "js publish "+subject, refused, stored, func() outcome {
			refusedSubject, err := c.call(anySubject, func(ctx context.Context) error {
				_, err := c.js.Publish(ctx, subject, forged)
				return err
			})
			return jsOutcome(refusedSubject, err, func() outcome { return allow("stored") })
		})
	}
	var views jetstream.KeyValue
	if _, err := c.call(anySubject, func(ctx context.Context) (err error) {
		views, err = c.js.KeyValue(ctx, natsjs.BucketViews)
		return err
	}); err != nil {
		m.t.Fatalf("%s: bind views: %v", u, err)
	}
	viewKey := "outbound." + own + "." + m.outboundOf(own)
	for _, op := range []struct {
		path string
		f    func(ctx context.Context) error
	}{
		{"KV put of an own view key", func(ctx context.Context) error { _, err := views.Put(ctx, viewKey, []byte(`{}`)); return err }},
		{"KV delete of an own view key", func(ctx context.Context) error { return views.Delete(ctx, viewKey) }},
		{"KV purge of an own view key", func(ctx context.Context) error { return views.Purge(ctx, viewKey) }},
	} {
		m.write(c, op.path, refused, "", func() outcome {
			refusedSubject, err := c.call(anySubject, op.f)
			return jsOutcome(refusedSubject, err, func() outcome { return allow("written") })
		})
	}
	m.write(c, "stream purge of an own view key ($JS.API.STREAM.PURGE)", refused, "", func() outcome {
		return c.apiRequest("$JS.API.STREAM.PURGE."+viewsStream, `{"filter":"$KV.`+natsjs.BucketViews+`.`+viewKey+`"}`)
	})
	// The directory (whose rewrite would make anyone an admin) and the idempotency records,
	// written as a KV put is: a publish on the key's subject.
	for _, subject := range []string{"$KV." + natsjs.BucketDirectory + ".directory", "$KV." + natsjs.BucketDirectory + ".token-signing-key",
		"$KV." + natsjs.BucketIdempotency + "." + m.idempotencyKey()} {
		m.write(c, "js publish "+subject, refused, "", func() outcome {
			refusedSubject, err := c.call(anySubject, func(ctx context.Context) error {
				_, err := c.js.Publish(ctx, subject, []byte(`{"forged":true}`))
				return err
			})
			return jsOutcome(refusedSubject, err, func() outcome { return allow("written") })
		})
	}
}

// requests checks requests and durable commands as oneself and as others, a body that
// names another actor, and service discovery.
func (m *matrix) requests(c *userConn, own string) {
	m.t.Helper()
	u := c.user
	m.record(u, "request on own entityconn.api.<self>.list", "", allowed, m.list(c, u, own))
	for _, other := range m.dir.Users() {
		if other.ID == u {
			continue
		}
		m.write(c, "request on entityconn.api."+other.ID+".list", want(c.service), "", func() outcome {
			return m.list(c, other.ID, m.firstEntity(other.ID))
		})
		m.write(c, "js publish entityconn.commands."+other.ID+".RequestConnection", want(c.service), "", func() outcome {
			return m.command(c, other.ID, m.firstEntity(other.ID))
		})
	}
	m.record(u, "js publish own entityconn.commands.<self>.RequestConnection", "", allowed, m.command(c, u, own))
	actor := m.otherUser(u)
	m.write(c, "request on own entityconn.api.<self>.request, body actorUserId="+actor, refused, "", func() outcome {
		data, _ := json.Marshal(natsapi.Request{CommandID: "matrix-" + uuid.NewString(), ActorUserID: actor, EntityID: own, TargetEntityID: m.entities[0]})
		refusedSubject, reply, err := c.request(natsapi.Subject(u, "request"), data)
		switch {
		case refusedSubject != "":
			return refuse("Publish to %q refused", refusedSubject)
		case err != nil:
			return unsure("%v", err)
		case reply.Header.Get(micro.ErrorCodeHeader) == "403":
			return refuse("403 %s", reply.Header.Get(micro.ErrorHeader))
		}
		return allow("answered %q %s", reply.Header.Get(micro.ErrorCodeHeader), reply.Data)
	})

	// Service discovery.
	for _, subject := range []string{"$SRV.PING", "$SRV.INFO." + natsapi.ServiceName} {
		refusedSubject, reply, err := c.request(subject, nil)
		m.record(u, "request "+subject, "", allowed, jsOutcome(refusedSubject, err, func() outcome {
			var r struct {
				Name string `json:"name"`
			}
			if json.Unmarshal(reply.Data, &r) != nil || r.Name != natsapi.ServiceName {
				return unsure("reply %s", reply.Data)
			}
			return allow("%s answered", r.Name)
		}))
	}
}

// idempotencyKey is a key of the idempotency bucket, read as the service.
func (m *matrix) idempotencyKey() string {
	m.t.Helper()
	ctx, cancel := m.ctx()
	defer cancel()
	kv, err := m.js.KeyValue(ctx, natsjs.BucketIdempotency)
	if err != nil {
		m.t.Fatal(err)
	}
	keys, err := kv.ListKeys(ctx)
	if err != nil {
		m.t.Fatal(err)
	}
	for k := range keys.Keys() {
		return k
	}
	m.t.Fatal("the idempotency bucket is empty")
	return ""
}

// durable creates the durable pull consumer name on the event stream as the service.
func (m *matrix) durable(name, filter string) {
	m.t.Helper()
	ctx, cancel := m.ctx()
	defer cancel()
	cfg := jetstream.ConsumerConfig{Durable: name, FilterSubject: filter, AckPolicy: jetstream.AckExplicitPolicy}
	if _, err := m.js.CreateOrUpdateConsumer(ctx, events.Stream, cfg); err != nil {
		m.t.Fatalf("consumer %s: %v", name, err)
	}
}

// deleteConsumer deletes a consumer as the service.
func (m *matrix) deleteConsumer(stream, name string) {
	ctx, cancel := m.ctx()
	defer cancel()
	_ = m.js.DeleteConsumer(ctx, stream, name)
}

// list asks the micro service for entity's connections as user, on c.
func (m *matrix) list(c *userConn, user, entity string) outcome {
	data, _ := json.Marshal(natsapi.Request{EntityID: entity})
	refusedSubject, reply, err := c.request(natsapi.Subject(user, "list"), data)
	switch {
	case refusedSubject != "":
		return refuse("Publish to %q refused", refusedSubject)
	case err != nil:
		return unsure("%v", err)
	case reply.Header.Get(micro.ErrorCodeHeader) != "":
		return unsure("answered %s %s", reply.Header.Get(micro.ErrorCodeHeader), reply.Header.Get(micro.ErrorHeader))
	}
	var r struct {
		Success bool `json:"success"`
	}
	if json.Unmarshal(reply.Data, &r) != nil || !r.Success {
		return unsure("reply %s", reply.Data)
	}
	return allow("listed %s as %s", entity, user)
}

// command publishes a RequestConnection from entity to itself (refused by rule 1: nothing
// else changes) as user on c, and waits for its outcome.
func (m *matrix) command(c *userConn, user, entity string) outcome {
	id := "matrix-" + uuid.NewString()
	data, _ := json.Marshal(natsapi.Request{CommandID: id, EntityID: entity, TargetEntityID: entity})
	m.drain()
	refusedSubject, err := c.call(anySubject, func(ctx context.Context) error {
		_, err := c.js.Publish(ctx, natscmd.CommandSubject(user, "RequestConnection"), data, jetstream.WithMsgID(id))
		return err
	})
	return jsOutcome(refusedSubject, err, func() outcome {
		o, ok := m.outcomeOf(id)
		if !ok {
			return unsure("stored, but no outcome")
		}
		return allow("stored; outcome ok=%v %v", o.OK, o.Error)
	})
}

// inboxes checks that c may receive on its own inbox and not on anyone else's.
func (m *matrix) inboxes(c *userConn) {
	m.t.Helper()
	prefixes := []string{"_INBOX"}
	for _, u := range m.dir.Users() {
		prefixes = append(prefixes, natsauth.InboxPrefix(u.ID))
	}
	for _, prefix := range prefixes {
		subject := prefix + ".>"
		ch := make(chan *nats.Msg, 16)
		mark := c.p.mark()
		sub, err := c.nc.ChanSubscribe(subject, ch)
		if err != nil {
			m.t.Fatal(err)
		}
		_ = c.nc.Flush()
		denied, _ := c.p.wait(mark, "Subscription", is(subject), violationWait)
		hello := prefix + ".matrix-" + uuid.NewString()
		if err := m.env.Service.Publish(hello, []byte("hello")); err != nil {
			m.t.Fatal(err)
		}
		_ = m.env.Service.Flush()
		_ = c.nc.Flush() // hello, if routed to c, is read before the flush's PONG
		d := deliveryWait
		if denied != "" {
			d = violationWait / 4
		}
		var received string
		wait := time.NewTimer(d)
	loop:
		for {
			select {
			case msg := <-ch:
				if msg.Subject == hello {
					received = msg.Subject
					break loop
				}
			case <-wait.C:
				break loop
			}
		}
		wait.Stop()
		_ = sub.Unsubscribe()
		var o outcome
		switch {
		case received != "":
			o = allow("received %s", received)
		case denied != "":
			o = refuse("Subscription to %q refused, nothing received", denied)
		default:
			o = unsure("nothing received, no violation")
		}
		m.record(c.user, "sub "+subject, "", want(prefix == natsauth.InboxPrefix(c.user)), o)
	}
}

// consumersByName checks what a user can do with a consumer it did not create, on an entity
// it may not access, knowing its name; and names its own durables after another user.
func (m *matrix) consumersByName(c *userConn, own string) {
	m.t.Helper()
	u := c.user
	other := m.otherUser(u)
	name := other + "-matrix-" + own
	ownFilter := events.SubjectPrefix + "." + own + ".>"
	// The consumer guard deletes a durable not named after its creator as soon as it hears
	// of it: the create succeeds, and the consumer is gone a moment later.
	refusedSubject, err := c.call(anySubject, func(ctx context.Context) error {
		_, err := c.js.CreateOrUpdateConsumer(ctx, events.Stream, jetstream.ConsumerConfig{Durable: name, FilterSubject: ownFilter, AckPolicy: jetstream.AckExplicitPolicy})
		return err
	})
	m.record(u, pathDurableOtherName, "", refused, jsOutcome(refusedSubject, err, func() outcome {
		return m.guarded(events.Stream, name, "created "+name)
	}))

	// Another user's durable on its own entity, taken over by a create with c's filter.
	target := other + "-matrix-victim"
	otherFilter := events.SubjectPrefix + "." + m.firstEntity(other) + ".>"
	inbound := events.SubjectPrefix + ".*." + own + ".>"
	m.durable(target, otherFilter)
	refusedSubject, err = c.call(anySubject, func(ctx context.Context) error {
		_, err := c.js.CreateOrUpdateConsumer(ctx, events.Stream, jetstream.ConsumerConfig{Durable: target, FilterSubject: inbound, AckPolicy: jetstream.AckExplicitPolicy})
		return err
	})
	m.record(u, pathRetargetOthers, "", refused, jsOutcome(refusedSubject, err, func() outcome {
		return m.guarded(events.Stream, target, "updated "+target+" to "+inbound)
	}))
	m.deleteConsumer(events.Stream, target)

	foreign := m.foreignEntity(u)
	if foreign == "" {
		return // it may access every entity
	}
	victim := "matrix-victim-" + foreign
	filter := events.SubjectPrefix + "." + foreign + ".>"
	m.durable(victim, filter)
	defer m.deleteConsumer(events.Stream, victim)

	inbox := c.nc.NewInbox()
	ch := make(chan *nats.Msg, 4)
	sub, err := c.nc.ChanSubscribe(inbox, ch)
	if err != nil {
		m.t.Fatal(err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	next := "$JS.API.CONSUMER.MSG.NEXT." + events.Stream + "." + victim
	o := c.publish(next, func() error { return c.nc.PublishRequest(next, inbox, []byte(`{"batch":1,"expires":2000000000}`)) })
	if o.got == allowed {
		select {
		case msg := <-ch:
			if subjectMatches(filter, msg.Subject) {
				o = allow("read %s", msg.Subject)
			} else {
				o = unsure("got %q %v", msg.Subject, msg.Header)
			}
		case <-time.After(deliveryWait):
			o = unsure("no message from %s", victim)
		}
	}
	m.record(u, pathFetchOthers, "", refused, o)
	m.record(u, pathInfoOthers, "", refused, c.apiRequest("$JS.API.CONSUMER.INFO."+events.Stream+"."+victim, ""))
	m.record(u, pathDeleteOthers, "", refused, c.apiRequest("$JS.API.CONSUMER.DELETE."+events.Stream+"."+victim, ""))
}

// deliveries checks where a push consumer c may create (on its own entity's events) can
// deliver: nothing may reach the service's stores, its auth callout, nor another entity's
// subscribers. The server does not check a deliver subject against its creator's
// permissions. As observed with nats-server 2.15.2, a push consumer stays unbound (delivers
// nothing) unless its deliver subject has a subscription on that very subject: one on a
// wildcard that covers it, as the streams' and most subscribers' are, does not bind it; a
// client's subscription on the literal subject does.
func (m *matrix) deliveries(c *userConn, own string) {
	m.t.Helper()
	u := c.user
	foreign := m.foreignEntity(u)
	if foreign == "" {
		foreign = m.entities[0]
		if foreign == own {
			foreign = m.entities[1]
		}
	}
	other := m.otherUser(u)
	n := 0
	// push creates a push consumer delivering on deliver what c may read of own: its events,
	// or, to deliver into the event stream (a consumer of the stream itself is refused
	// there), its outbound views. It returns the consumer's stream and name, or why it could
	// not.
	push := func(deliver string) (string, string, outcome) {
		n++
		name := fmt.Sprintf("%s-matrix-push-%d", u, n)
		stream, filter := events.Stream, events.SubjectPrefix+"."+own+".>"
		if subjectMatches(natsjs.AppendPrefix+".>", deliver) {
			stream, filter = viewsStream, "$KV."+natsjs.BucketViews+".outbound."+own+".>"
		}
		refusedSubject, err := c.call(anySubject, func(ctx context.Context) error {
			_, err := c.js.CreateOrUpdateConsumer(ctx, stream, jetstream.ConsumerConfig{Name: name,
				FilterSubject: filter, DeliverSubject: deliver, AckPolicy: jetstream.AckNonePolicy})
			return err
		})
		return stream, name, jsOutcome(refusedSubject, err, func() outcome { return allow("push consumer %s on %s created", name, stream) })
	}
	// settled waits until the consumer has delivered all it has, stopped for want of
	// interest or been deleted by the consumer guard, and returns its info (empty when
	// deleted).
	settled := func(stream, name string) (*nats.ConsumerInfo, error) {
		deadline := time.Now().Add(deliveryWait)
		timeouts := 0
		for {
			info, err := m.legacyConsumerInfo(stream, name)
			if errors.Is(err, nats.ErrConsumerNotFound) {
				// The consumer guard deleted it (its deliver subject is not the user's
				// inbox): what it delivered before is what the caller checks.
				return &nats.ConsumerInfo{Name: name}, nil
			}
			if (errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout)) && timeouts < 2 {
				// A cluster busy electing, under the race detector on two cores, can take
				// longer than callTimeout to answer: ask again rather than call it unclear.
				timeouts++
				continue
			}
			if err != nil || !info.PushBound || info.NumPending == 0 || time.Now().After(deadline) {
				return info, err
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	// Into the stores: a stream must take nothing.
	for _, deliver := range []string{
		natsjs.AppendPrefix + "." + own + "." + foreign + "." + string(events.TypeConnectionAccepted),
		natscmd.CommandSubject(other, "AcceptConnection"),
		"$KV." + natsjs.BucketViews + ".outbound." + foreign + ".matrix-" + u,
		"$KV." + natsjs.BucketDirectory + ".matrix-" + u,
	} {
		path := "push consumer delivering on " + deliver
		before := m.marks()
		stream, name, o := push(deliver)
		if o.got != allowed {
			m.record(u, path, "", refused, o)
			continue
		}
		info, err := settled(stream, name)
		m.deleteConsumer(stream, name)
		if err != nil {
			m.record(u, path, "", refused, unsure("consumer info: %v", err))
			continue
		}
		// A consumer may send a few messages before it sees that no one listens.
		stored := m.appended(before)
		for deadline := time.Now().Add(violationWait); len(stored) == 0 && info.Delivered.Stream > 0 && time.Now().Before(deadline); {
			time.Sleep(20 * time.Millisecond)
			stored = m.appended(before)
		}
		if len(stored) > 0 {
			o = allow("stored %s", strings.Join(stored, ", "))
		} else {
			o = refuse("consumer created; nothing stored (push bound %v, delivered up to stream sequence %d)", info.PushBound, info.Delivered.Stream)
			m.unchanged++
		}
		m.record(u, path, "", refused, o)
	}

	// Into the auth callout responder's queue subscription.
	stream, name, o := push(natsauth.CalloutSubject)
	if o.got == allowed {
		info, err := settled(stream, name)
		m.deleteConsumer(stream, name)
		switch {
		case err != nil:
			o = unsure("consumer info: %v", err)
		case info.PushBound:
			o = allow("consumer bound to %s: delivered up to stream sequence %d", natsauth.CalloutSubject, info.Delivered.Stream)
		default:
			o = refuse("consumer created; not bound: no interest on %s", natsauth.CalloutSubject)
		}
	}
	m.record(u, pathPushCallout, "", refused, o)

	// Into another entity's subscriber, subscribed as contract §5a documents.
	listener := ""
	for _, l := range m.dir.Users() {
		if l.ID != u && m.access(l.ID, foreign) {
			listener = l.ID
			break
		}
	}
	if listener == "" {
		return
	}
	lc := m.env.ConnectAs(m.t, listener)
	defer lc.Close()
	for _, t := range []struct{ path, sub, deliver string }{
		{pathPushLiveEvents, events.SubjectPrefix + "." + foreign + ".>", events.Subject(foreign, own, events.TypeConnectionAccepted)},
		{pathPushLiveOutcomes, natscmd.OutcomePrefix + "." + foreign, natscmd.OutcomePrefix + "." + foreign},
	} {
		ch := make(chan *nats.Msg, 64)
		sub, err := lc.ChanSubscribe(t.sub, ch)
		if err != nil {
			m.t.Fatal(err)
		}
		if err := lc.Flush(); err != nil {
			m.t.Fatal(err)
		}
		stream, name, o := push(t.deliver)
		if o.got == allowed {
			info, err := settled(stream, name)
			wait := violationWait
			if err == nil && info.Delivered.Stream > 0 {
				wait = deliveryWait
			}
			select {
			case msg := <-ch:
				o = allow("%s, subscribed to %s, received %s (a copy of an event of %s, reply %s)", listener, t.sub, msg.Subject, own, msg.Reply)
				// What the README tells live subscribers to check: only the stream's own
				// republication carries the stream's name.
				if got := msg.Header.Get("Nats-Stream"); got == natscmd.StreamOutcomes || got == events.Stream {
					m.t.Errorf("permission matrix: user %s, %s: the copy carries Nats-Stream %q, as if the stream had published it", u, t.path, got)
				}
			case <-time.After(wait):
				o = refuse("consumer created; %s, subscribed to %s, received nothing", listener, t.sub)
			}
			if g := m.guarded(stream, name, "consumer created"); g.got == refused {
				o.why += "; " + strings.TrimPrefix(g.why, "consumer created; ")
			} else {
				m.t.Errorf("permission matrix: user %s, %s: the consumer guard did not delete %s within %v", u, t.path, name, guardWait)
				m.deleteConsumer(stream, name)
			}
		}
		_ = sub.Unsubscribe()
		m.record(u, t.path, "", refused, o)
	}
}

// guardWait bounds how long the consumer guard may take to delete a consumer against the rules.
const guardWait = 2 * time.Second

// guarded waits for the consumer guard to delete consumer name of stream, which a user made
// against the rules (done says what the user did): refused, with the time it took, if it is
// gone within guardWait, else allowed.
func (m *matrix) guarded(stream, name, done string) outcome {
	start := time.Now()
	for time.Since(start) < guardWait {
		if _, err := m.legacyConsumerInfo(stream, name); errors.Is(err, nats.ErrConsumerNotFound) {
			return refuse("%s; the consumer guard deleted it %v later", done, time.Since(start).Round(time.Millisecond))
		}
		time.Sleep(5 * time.Millisecond)
	}
	return allow("%s; still there %v later", done, guardWait)
}

// legacyConsumerInfo reads a push consumer's info as the service (package jetstream reads
// pull consumers only).
func (m *matrix) legacyConsumerInfo(stream, name string) (*nats.ConsumerInfo, error) {
	js, err := m.env.Service.JetStream()
	if err != nil {
		return nil, err
	}
	return js.ConsumerInfo(stream, name, nats.MaxWait(callTimeout))
}

// strangers checks that the server lets no one in without a directory user's credentials.
func (m *matrix) strangers() {
	m.t.Helper()
	u := m.dir.Users()[0].ID
	for _, s := range []struct {
		path string
		opts []nats.Option
	}{
		{"connect anonymously", nil},
		{"connect as " + u + " with a wrong secret", []nats.Option{nats.UserInfo(u, "not-"+u+"-secret")}},
		{"connect as an unknown client", []nats.Option{nats.UserInfo("mallory", "mallory-secret")}},
		{"connect with a token", []nats.Option{nats.Token(u + "-secret")}},
	} {
		nc, err := m.env.Dial(s.opts...)
		// An authorization violation, or a sign-in that takes the server past its first
		// PING (a bcrypt comparison under the race detector): either way, not connected.
		o := refuse("not connected: %v", err)
		if err == nil {
			nc.Close()
			o = allow("connected")
		}
		m.record("(none)", s.path, "", refused, o)
	}
}

// subjectMatches reports whether subject matches the NATS subject pattern.
func subjectMatches(pattern, subject string) bool {
	p, s := strings.Split(pattern, "."), strings.Split(subject, ".")
	for i, tok := range p {
		switch {
		case tok == ">":
			return len(s) > i
		case i >= len(s):
			return false
		case tok != "*" && tok != s[i]:
			return false
		}
	}
	return len(p) == len(s)
}

// log prints the matrix, one line per user and path, and returns its totals.
func (m *matrix) log() matrixCounts {
	m.t.Helper()
	var counts matrixCounts
	type row struct{ user, path string }
	var rows []row
	marks := map[row]map[string]string{}
	width := 0
	for _, c := range m.cells {
		r := row{c.user, c.path}
		if marks[r] == nil {
			marks[r] = map[string]string{}
			rows = append(rows, r)
			width = max(width, len([]rune(c.path)))
		}
		mark := "!"
		switch {
		case c.known != "":
			mark = "H"
			counts.Known++
		case c.got == c.want && c.got == allowed:
			mark = "✓"
		case c.got == c.want:
			mark = "✗"
		default:
			counts.Mismatches++
		}
		marks[r][c.col] = mark
		counts.Cells++
		switch c.got {
		case allowed:
			counts.Allowed++
		case refused:
			counts.Refused++
		}
	}
	// One block per user, in the directory's order; those who are no user last.
	order := map[string]int{}
	for i, u := range m.dir.Users() {
		order[u.ID] = i + 1
	}
	slices.SortStableFunc(rows, func(a, b row) int {
		return cmp.Compare(cmp.Or(order[a.user], len(order)+1), cmp.Or(order[b.user], len(order)+1))
	})
	var b strings.Builder
	fmt.Fprintf(&b, "permission matrix: ✓ allowed as expected, ✗ refused as expected, ! mismatch, H known discrepancy (below), - not checked\n")
	fmt.Fprintf(&b, "%-6s %-*s  %s\n", "user", width, "path", strings.Join(m.entities, " "))
	for _, r := range rows {
		line := fmt.Sprintf("%-6s %s%s  ", r.user, r.path, strings.Repeat(" ", width-len([]rune(r.path))))
		if mark, ok := marks[r][""]; ok {
			line += mark
		} else {
			for _, e := range m.entities {
				mark, ok := marks[r][e]
				if !ok {
					mark = "-"
				}
				line += mark + strings.Repeat(" ", len(e))
			}
		}
		b.WriteString(strings.TrimRight(line, " ") + "\n")
	}
	for _, c := range m.cells {
		if c.known != "" || c.got != c.want {
			at := c.path
			if c.col != "" {
				at += " [" + c.col + "]"
			}
			note := c.known
			if note == "" {
				note = "MISMATCH"
			}
			fmt.Fprintf(&b, "  %s, %s: want %s, got %s: %s\n    %s\n", c.user, at, c.want, c.got, c.why, note)
		}
	}
	counts.Unchanged = m.unchanged
	fmt.Fprintf(&b, "cells %d: allowed %d, refused %d, unclear %d; mismatches %d; known discrepancies %d; refused writes that left every stream unchanged %d",
		counts.Cells, counts.Allowed, counts.Refused, counts.Cells-counts.Allowed-counts.Refused, counts.Mismatches, counts.Known, counts.Unchanged)
	m.t.Log(b.String())
	return counts
}
