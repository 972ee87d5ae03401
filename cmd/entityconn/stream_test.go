package main

import (
	"bufio"
	"context"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestChangeStream follows eu's connections as server-sent events while another user acts.
func TestChangeStream(t *testing.T) {
	t.Parallel()
	s := startService(t)
	root, eve := s.token("root"), s.token("eve")
	must(t, s.call("POST", "/v1/entity-connections", root, "global", `{"targetEntityId":"eu"}`), 200)

	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", s.base+"/v1/entity-connections/changes?type=inbound", nil)
	req.Header.Set("Authorization", "Bearer "+eve)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("changes: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	expect := func(what string, match func(string) bool) {
		t.Helper()
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("stream ended before %s", what)
				}
				if match(l) {
					return
				}
			case <-ctx.Done():
				t.Fatalf("no %s in the stream", what)
			}
		}
	}
	// The request's view may be written before the stream starts (then it comes before the
	// live marker) or after (then it follows as a change): both, in either order.
	var pending, live bool
	expect("the pending request and the live marker", func(l string) bool {
		pending = pending || strings.Contains(l, `"status":"Pending"`)
		live = live || l == "event: live"
		return pending && live
	})

	// A change made elsewhere arrives on the stream.
	l := must(t, s.call("GET", "/v1/entity-connections?type=inbound", eve, "", ""), 200)
	id := str(l.Body["entityConnections"].([]any)[0].(map[string]any)["id"])
	must(t, s.call("PUT", "/v1/entity-connections/"+id+"/accept", eve, "", ""), 200)
	expect("the acceptance", func(l string) bool {
		return strings.HasPrefix(l, "data: ") && strings.Contains(l, id) && strings.Contains(l, `"status":"Connected"`)
	})

	// Without a token: an ordinary error, not a stream.
	must(t, s.call("GET", "/v1/entity-connections/changes", "", "eu", ""), 401)

	// An open stream does not hold up a graceful shutdown: it ends, and serve exits 0.
	if code := s.stop(); code != 0 {
		t.Errorf("serve with an open change stream exited %d", code)
	}
	for range lines {
	}
}
