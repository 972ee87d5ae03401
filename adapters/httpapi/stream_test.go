package httpapi

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/entityconn/entityconn/adapters/apptest"
	"github.com/entityconn/entityconn/adapters/natsjs"
)

// stream is an open change stream.
type stream struct {
	lines  chan string // closed when the stream ends
	cancel context.CancelFunc
}

// openStream opens GET /v1/entity-connections/changes; it returns the stream, or the
// error reply when the answer is not 200.
func (a *testAPI) openStream(t *testing.T, token, entity string) (*stream, reply) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	req, err := http.NewRequestWithContext(ctx, "GET", a.srv.URL+"/v1/entity-connections/changes", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set(HeaderEntityIDs, entity)
	resp, err := a.srv.Client().Do(req)
	if err != nil {
		cancel()
		t.Fatalf("changes: %v", err)
	}
	if resp.StatusCode != http.StatusOK {
		defer cancel()
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		r := reply{status: resp.StatusCode, header: resp.Header, raw: string(raw)}
		_ = json.Unmarshal(raw, &r.body)
		return nil, r
	}
	s := &stream{lines: make(chan string, 100), cancel: cancel}
	go func() {
		defer close(s.lines)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			select {
			case s.lines <- sc.Text():
			case <-ctx.Done():
				return
			}
		}
	}()
	t.Cleanup(cancel)
	return s, reply{status: http.StatusOK}
}

// expect reads the stream until a line matches, failing after a deadline or at its end.
func (s *stream) expect(t *testing.T, what string, match func(string) bool) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case l, ok := <-s.lines:
			if !ok {
				t.Fatalf("the stream ended before %s", what)
			}
			if match(l) {
				return
			}
		case <-deadline:
			t.Fatalf("no %s in the stream", what)
		}
	}
}

// expectEnd reads the stream until it ends, failing after a deadline.
func (s *stream) expectEnd(t *testing.T, why string) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case _, ok := <-s.lines:
			if !ok {
				return
			}
		case <-deadline:
			t.Fatalf("the stream is still open %s", why)
		}
	}
}

func isLive(l string) bool { return l == "event: live" }

// Given a change stream whose token expires soon (by the tokens' clock), when it expires,
// then the stream ends.
func TestChangeStreamEndsWhenItsTokenExpires(t *testing.T) {
	clk := newClock()
	a := startAPI(t, clk.now, nil)
	eve := a.token("eve")
	clk.add(TokenTTL - 500*time.Millisecond)

	s, r := a.openStream(t, eve, "eu")
	if s == nil {
		t.Fatalf("changes = %d %s, want a stream", r.status, r.raw)
	}
	s.expect(t, "the live marker", isLive)
	s.expectEnd(t, "after its token expired")
}

// Given change streams of two users of eu, when a new directory (imported by another
// replica) revokes one user's grant for eu, then that user's stream ends and the other's keeps delivering.
func TestChangeStreamEndsWhenAccessIsRevoked(t *testing.T) {
	a := startAPI(t, nil, nil)
	viv, root := a.token("viv"), a.token("root")
	revoked, _ := a.openStream(t, viv, "eu")
	kept, _ := a.openStream(t, root, "eu")
	if revoked == nil || kept == nil {
		t.Fatal("the streams did not open")
	}
	revoked.expect(t, "the live marker", isLive)
	kept.expect(t, "the live marker", isLive)

	dir := apptest.Directory()
	without := strings.Replace(dir, "access: [{entity: global, role: user}, {entity: eu, role: user}]", "access: [{entity: global, role: user}]", 1)
	if without == dir {
		t.Fatal("the test directory has no grant of viv to revoke")
	}
	// Imported as another replica would: this one learns of it by watching the bucket.
	other := natsjs.NewDirectoryStore(a.st.Res, nil)
	if _, changed, err := other.Import(t.Context(), []byte(without)); err != nil || !changed {
		t.Fatalf("Import = %v, %v; want the directory changed", changed, err)
	}
	revoked.expectEnd(t, "after its user's grant was revoked")

	if r := a.call(t, "POST", "/v1/entity-connections", root, "global", `{"targetEntityId":"eu"}`); r.status != http.StatusOK {
		t.Fatalf("request: %d %s", r.status, r.raw)
	}
	kept.expect(t, "the request on the other user's stream", func(l string) bool {
		return strings.HasPrefix(l, "data: ") && strings.Contains(l, `"status":"Pending"`)
	})
}

// Given a user with MaxChangeStreamsPerUser open streams, when it opens one more, then it
// gets 429 (category 70); another user is not affected, and closing a stream makes room.
func TestChangeStreamsAreCappedPerUser(t *testing.T) {
	a := startAPI(t, nil, nil)
	root, eve := a.token("root"), a.token("eve")
	var open []*stream
	for i := range MaxChangeStreamsPerUser {
		s, r := a.openStream(t, root, "eu")
		if s == nil {
			t.Fatalf("stream %d = %d %s, want a stream", i+1, r.status, r.raw)
		}
		open = append(open, s)
	}
	_, r := a.openStream(t, root, "global") // another entity: the cap is per user
	if r.status != http.StatusTooManyRequests || r.code() != 53000070 || r.body["success"] != false {
		t.Fatalf("stream %d = %d code %d %s, want 429 code 53000070", MaxChangeStreamsPerUser+1, r.status, r.code(), r.raw)
	}
	if s, r := a.openStream(t, eve, "eu"); s == nil {
		t.Errorf("another user's stream = %d %s, want a stream", r.status, r.raw)
	}

	open[0].cancel()
	deadline := time.Now().Add(10 * time.Second)
	for {
		s, r := a.openStream(t, root, "eu")
		if s != nil {
			break
		}
		if r.status != http.StatusTooManyRequests || time.Now().After(deadline) {
			t.Fatalf("a stream after closing one = %d %s, want a stream", r.status, r.raw)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
