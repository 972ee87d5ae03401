package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/entityconn/entityconn/adapters/natsapi"
	"github.com/entityconn/entityconn/adapters/natsclient"
	"github.com/entityconn/entityconn/adapters/natsjs"
	"github.com/entityconn/entityconn/events"
)

// benchRaw measures raw JetStream: conditional appends of event-sized messages, each writer
// to fresh subjects with an expected last subject sequence of 0, on a stream configured like
// the event stream.
func benchRaw(ctx context.Context, nc *nats.Conn, cfg benchConfig, progress io.Writer) (benchResult, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return benchResult{}, err
	}
	sc := natsjs.EventStreamConfig(1)
	sc.Name, sc.Subjects, sc.DenyDelete, sc.DenyPurge, sc.Description = "BENCH_RAW", []string{"bench.raw.>"}, false, false, "entityconn bench: raw appends (deleted after the run)"
	sc.SubjectTransform, sc.RePublish = nil, nil
	s, err := js.CreateOrUpdateStream(ctx, sc)
	if err != nil {
		return benchResult{}, err
	}
	defer func() { _ = js.DeleteStream(context.WithoutCancel(ctx), s.CachedInfo().Config.Name) }()
	body, _ := events.Encode(events.Event{EventID: "8a0c1d2e-3f40-4a5b-8c6d-7e8f9a0b1c2d", Type: events.TypeConnectionRequested,
		ConnectionID: "1b2c3d4e-5f60-4718-9a2b-3c4d5e6f7a8b", SourceEntityID: "e12", TargetEntityID: "e345",
		ActorUserID: "bench", ActorEntityID: "e12", OccurredAt: time.Now().UTC()})
	var n atomic.Int64
	l := runLoad(ctx, "raw", cfg, progress, func(ctx context.Context) error {
		i := n.Add(1)
		subj := fmt.Sprintf("bench.raw.s%d.t%d", i%997, i)
		m := &nats.Msg{Subject: subj + ".ConnectionRequested", Data: body, Header: nats.Header{}}
		m.Header.Set(events.HeaderMsgID, fmt.Sprint("raw-", i))
		_, err := js.PublishMsg(ctx, m, jetstream.WithExpectLastSequenceForSubject(0, subj+".*"))
		return err
	})
	if l.err != nil {
		return benchResult{}, l.err
	}
	r := l.result(0)
	r.Phase = "raw JetStream conditional append"
	return r, nil
}

// benchDisk measures the disk: raw conditional appends at the same concurrency on an
// embedded server of its own that syncs every write, whatever the run's --fsync, so that a
// reader tells a slow disk from a slow service. A run with fsync measures that in its raw
// row already.
func benchDisk(ctx context.Context, cfg benchConfig, progress io.Writer) (benchResult, error) {
	dir, err := os.MkdirTemp("", "entityconn-bench-disk-")
	if err != nil {
		return benchResult{}, err
	}
	defer os.RemoveAll(dir)
	ns, err := natsjs.StartEmbedded(natsjs.EmbeddedOptions{StoreDir: dir, InProcessOnly: true, SyncAlways: true})
	if err != nil {
		return benchResult{}, err
	}
	defer ns.Shutdown()
	nc, err := nats.Connect(ns.ClientURL(), nats.InProcessServer(ns))
	if err != nil {
		return benchResult{}, err
	}
	defer nc.Close()
	r, err := benchRaw(ctx, nc, cfg, progress)
	if err != nil {
		return benchResult{}, err
	}
	r.Phase = "the disk: raw conditional append, fsync"
	return r, nil
}

// benchHTTP measures POST /v1/entity-connections through a real HTTP listener.
func benchHTTP(ctx context.Context, st *Stack, cfg benchConfig, progress io.Writer, next func() (string, string)) (load, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return load{}, err
	}
	srv := &http.Server{Handler: st.API, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	base := "http://" + ln.Addr().String()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: cfg.concurrency, MaxConnsPerHost: cfg.concurrency}}
	resp, err := client.PostForm(base+"/oauth/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {"bench"}, "client_secret": {"bench-secret"}})
	if err != nil {
		return load{}, err
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	err = json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	if err != nil || tok.AccessToken == "" {
		return load{}, fmt.Errorf("token: %v (HTTP %d)", err, resp.StatusCode)
	}
	l := runLoad(ctx, "entityconn HTTP commands", cfg, progress, func(ctx context.Context) error {
		src, tgt := next()
		req, _ := http.NewRequestWithContext(ctx, "POST", base+"/v1/entity-connections", strings.NewReader(`{"targetEntityId":"`+tgt+`"}`))
		req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
		req.Header.Set("Zuora-Entity-Ids", src)
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("HTTP %d", resp.StatusCode)
		}
		return nil
	})
	return l, l.err
}

// benchNATS measures entityconn.api.bench.request through the NATS micro service, from a client
// connected over TCP like another service.
func benchNATS(ctx context.Context, st *Stack, cfg benchConfig, progress io.Writer, next func() (string, string)) (load, error) {
	var opts []nats.Option
	if st.Embedded {
		opts = natsclient.SignIn("bench-svc", "bench-secret", "bench-svc")
	}
	nc, err := nats.Connect(st.URL, opts...)
	if err != nil {
		return load{}, err
	}
	defer nc.Close()
	l := runLoad(ctx, "entityconn NATS request/reply commands", cfg, progress, func(ctx context.Context) error {
		src, tgt := next()
		body, _ := json.Marshal(natsapi.Request{EntityID: src, TargetEntityID: tgt})
		m, err := nc.RequestWithContext(ctx, natsapi.Subject("bench", "request"), body)
		if err != nil {
			return err
		}
		if code := m.Header.Get("Nats-Service-Error-Code"); code != "" {
			return fmt.Errorf("%s: %s", code, m.Header.Get("Nats-Service-Error"))
		}
		return nil
	})
	return l, l.err
}
