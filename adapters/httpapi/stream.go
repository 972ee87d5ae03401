package httpapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/entityconn/entityconn/adapters/app"
	"github.com/entityconn/entityconn/adapters/wire"
	"github.com/entityconn/entityconn/adapters/zuora"
	"github.com/entityconn/entityconn/domain"
	"github.com/entityconn/entityconn/projections"
)

// streamKeepAlive is how often an idle change stream sends a comment, so that proxies keep
// it open and a dead client is noticed.
const streamKeepAlive = 15 * time.Second

// MaxChangeStreamsPerUser is how many change streams one user may hold open at once in one
// process; one more is answered 429.
const MaxChangeStreamsPerUser = 8

// errTooManyStreams is returned for a change stream over MaxChangeStreamsPerUser.
var errTooManyStreams = fmt.Errorf("%w: at most %d change streams may be open per user; close one first", zuora.ErrTooManyRequests, MaxChangeStreamsPerUser)

// streamCounts counts the open change streams of each user. Safe for concurrent use.
type streamCounts struct {
	mu   sync.Mutex
	open map[string]int
}

// acquire counts a new stream of user, unless the user has MaxChangeStreamsPerUser open.
func (sc *streamCounts) acquire(user string) bool {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if sc.open[user] >= MaxChangeStreamsPerUser {
		return false
	}
	if sc.open == nil {
		sc.open = map[string]int{}
	}
	sc.open[user]++
	return true
}

// release uncounts a stream of user.
func (sc *streamCounts) release(user string) {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if sc.open[user]--; sc.open[user] <= 0 {
		delete(sc.open, user)
	}
}

// changeEvent is the data of a "connection" server-sent event.
type changeEvent struct {
	Direction  projections.Direction `json:"direction"`
	Connection wire.Connection       `json:"connection"`
	Sequence   uint64                `json:"sequence"`
}

// changes streams the acting entity's connections as server-sent events: one "connection"
// event per view, a "live" event once the current ones are sent, then one "connection" event
// per change, until the client goes away, the server shuts down, the token expires or the
// user may no longer act in the entity (checked whenever the directory changes). A user may
// hold MaxChangeStreamsPerUser open at once. ?type=outbound|inbound picks one direction. The
// token goes in the Authorization header (read the stream with fetch, not EventSource, which
// cannot send headers), never in the URL.
func (s *Server) changes(c *call) error {
	p, err := s.principal(c)
	if err != nil {
		return err
	}
	var ds []projections.Direction
	switch t := strings.ToLower(c.r.URL.Query().Get("type")); t {
	case "":
	case "outbound", "inbound":
		ds = []projections.Direction{projections.Direction(t)}
	default:
		return errorf(domain.ErrInvalidValue, "type %q must be outbound or inbound", trunc(t))
	}
	if !s.streams.acquire(p.UserID) {
		return errTooManyStreams
	}
	defer s.streams.release(p.UserID)
	rc := http.NewResponseController(c.w)
	ctx, cancel := contextUntil(c.r.Context(), s.closing)
	defer cancel()
	// The stream ends when its token does: it was the token that let it start.
	expired := time.NewTimer(s.cfg.Tokens.Remaining(c.claims))
	defer expired.Stop()

	h := c.w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	started := false
	write := func(event string, data any) bool {
		if !started {
			c.w.WriteHeader(http.StatusOK)
			c.wrote, c.status, started = true, http.StatusOK, true
		}
		b, _ := json.Marshal(data)
		if _, err := fmt.Fprintf(c.w, "event: %s\ndata: %s\n\n", event, b); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	changes := make(chan app.Change, 64)
	done := make(chan error, 1)
	go func() {
		done <- s.cfg.Service.Follow(ctx, p, ds, func(ch app.Change) bool {
			select {
			case changes <- ch:
				return true
			case <-ctx.Done():
				return false
			}
		})
	}()
	tick := time.NewTicker(streamKeepAlive)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			if err != nil && !started {
				return err // refused before anything was sent: an ordinary error answer
			}
			return nil
		case ch := <-changes:
			var ok bool
			if ch.Live {
				ok = write("live", struct{}{})
			} else {
				ok = write("connection", changeEvent{Direction: ch.Direction, Connection: wire.NewConnection(ch.View), Sequence: ch.View.Sequence})
			}
			if !ok {
				return nil
			}
		case <-tick.C:
			if !started {
				continue
			}
			if _, err := fmt.Fprint(c.w, ": keep-alive\n\n"); err != nil || rc.Flush() != nil {
				return nil
			}
		case <-expired.C:
			return nil
		case <-ctx.Done():
			return nil
		}
	}
}
