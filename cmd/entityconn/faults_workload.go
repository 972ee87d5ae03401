package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/entityconn/entityconn/adapters/natsclient"
	"github.com/entityconn/entityconn/events/contract"
)

// The doors a command goes through.
const (
	doorREST    = "rest"
	doorNATS    = "nats"
	doorDurable = "durable"
)

var faultDoors = []string{doorREST, doorNATS, doorDurable}

// The final answers of a command.
const (
	answerAcked         = "acked"
	answerRefused       = "refused"
	answerIndeterminate = "indeterminate"
)

// attemptRec is one try of a command.
type attemptRec struct {
	At     time.Time `json:"at"`
	Status int       `json:"status,omitempty"` // HTTP-like status; 0 when nothing answered
	Code   int       `json:"code,omitempty"`   // Zuora code
	Err    string    `json:"err,omitempty"`
	// Replayed: the answer carried Idempotent-Replayed: true (REST), the first outcome of
	// the key.
	Replayed bool `json:"replayed,omitempty"`
}

// cmdRec is one command of the workload, as the JSONL log keeps it.
type cmdRec struct {
	ID           string       `json:"id"` // command id = idempotency key = correlation id
	Door         string       `json:"door"`
	Actor        string       `json:"actor"`  // user id
	Entity       string       `json:"entity"` // acting entity
	Source       string       `json:"source"`
	Target       string       `json:"target"`
	Command      string       `json:"command"` // request, accept, deny, cancel, disconnect
	ConnectionID string       `json:"connectionId,omitempty"`
	Start        time.Time    `json:"start"`
	End          time.Time    `json:"end"`
	Attempts     []attemptRec `json:"attempts"`
	Answer       string       `json:"answer"`
	Sequence     uint64       `json:"sequence,omitempty"`
	Status       int          `json:"status,omitempty"`
	Code         int          `json:"code,omitempty"`
	Message      string       `json:"message,omitempty"`
}

// outcome kinds of one attempt.
const (
	kindAck = iota
	kindRefuse
	kindRetry
)

type attemptResult struct {
	kind       int
	status     int
	code       int
	msg        string
	connID     string
	seq        uint64
	inProgress bool // 409 with a conflict code: the same command is still being handled
	internal   bool // 500 or an internal error code: a service bug
	body       string
	replayed   bool
}

// pairState is what the workers know of a pair's latest connection.
type pairState struct {
	id     string
	status string // Pending, Connected, or a terminal state; "" unknown
}

// workload runs the commands and keeps their log.
type workload struct {
	dir      *faultsDirectory
	cl       *cluster
	http     *http.Client
	maxRetry time.Duration // after this long without a definite answer, indeterminate

	logMu  sync.Mutex
	logW   *bufio.Writer
	logF   *os.File
	recs   []*cmdRec
	tokens sync.Map // user → token

	conns   map[string]*nats.Conn // user → connection
	clients map[string]*natsclient.Client
	jss     map[string]jetstream.JetStream
	svc     *nats.Conn

	outMu    sync.Mutex
	outcomes map[string]durableOutcome // command id → outcome
	waiters  map[string]chan struct{}

	knowMu sync.Mutex
	know   map[[2]string]pairState
	pairs  [][2]string

	stopNew atomic.Bool
	acked   atomic.Int64
	refused atomic.Int64
	indet   atomic.Int64
	inRetry atomic.Int64
	errs500 atomic.Int64
	conf409 atomic.Int64

	errMu      sync.Mutex
	bodies500  []string
	ackTimesMu sync.Mutex
	ackTimes   []time.Time
}

type durableOutcome struct {
	CommandID    string `json:"commandId"`
	OK           bool   `json:"ok"`
	ConnectionID string `json:"connectionId"`
	Sequence     uint64 `json:"sequence"`
	Error        *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

func newWorkload(dir *faultsDirectory, cl *cluster, logPath string) (*workload, error) {
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	w := &workload{
		dir: dir, cl: cl, maxRetry: 30 * time.Second,
		http: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}},
		logF: f, logW: bufio.NewWriter(f),
		conns: map[string]*nats.Conn{}, clients: map[string]*natsclient.Client{}, jss: map[string]jetstream.JetStream{},
		outcomes: map[string]durableOutcome{}, waiters: map[string]chan struct{}{},
		know: map[[2]string]pairState{},
	}
	for _, s := range dir.entities {
		for _, t := range dir.entities {
			if s != t {
				w.pairs = append(w.pairs, [2]string{s, t})
			}
		}
	}
	return w, nil
}

// connect signs every admin in to NATS and starts following the outcomes stream as the
// service.
func (w *workload) connect(ctx context.Context) error {
	url := w.cl.natsURL()
	for _, e := range w.dir.entities {
		u := w.dir.admin[e]
		opts := append(natsclient.SignIn(u, w.dir.secret[u], u),
			nats.MaxReconnects(-1), nats.ReconnectWait(250*time.Millisecond), nats.Timeout(5*time.Second),
			// As the replicas do: leave a node that stopped answering within about 3 s.
			nats.PingInterval(time.Second), nats.MaxPingsOutstanding(3),
			nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {}))
		var nc *nats.Conn
		var err error
		for try := 0; try < 20; try++ {
			if nc, err = nats.Connect(url, opts...); err == nil {
				break
			}
			time.Sleep(500 * time.Millisecond)
		}
		if err != nil {
			return fmt.Errorf("%s signs in to NATS: %w", u, err)
		}
		w.conns[u] = nc
		c, err := natsclient.New(nc, natsclient.WithActor(u, e), natsclient.WithTimeout(5*time.Second))
		if err != nil {
			return err
		}
		w.clients[u] = c
		if w.jss[u], err = jetstream.New(nc); err != nil {
			return err
		}
	}
	svc, err := nats.Connect(url, nats.UserInfo(w.cl.env["NATS_USER"], w.cl.env["NATS_PASSWORD"]),
		nats.MaxReconnects(-1), nats.ReconnectWait(250*time.Millisecond), nats.PingInterval(time.Second), nats.MaxPingsOutstanding(3))
	if err != nil {
		return fmt.Errorf("service identity signs in to NATS: %w", err)
	}
	w.svc = svc
	js, err := jetstream.New(svc)
	if err != nil {
		return err
	}
	go followStream(ctx, js, "ENTITYCONN_OUTCOMES", 0, func(m jetstream.Msg) {
		var o durableOutcome
		if json.Unmarshal(m.Data(), &o) != nil || o.CommandID == "" {
			return
		}
		w.outMu.Lock()
		if _, seen := w.outcomes[o.CommandID]; !seen {
			w.outcomes[o.CommandID] = o
		}
		if ch := w.waiters[o.CommandID]; ch != nil {
			close(ch)
			delete(w.waiters, o.CommandID)
		}
		w.outMu.Unlock()
	})
	return nil
}

// followStream delivers every message of stream from sequence from+1 on, in order, until ctx
// ends, recreating its ordered consumer after any failure.
func followStream(ctx context.Context, js jetstream.JetStream, stream string, from uint64, handle func(jetstream.Msg)) {
	last := from
	for ctx.Err() == nil {
		cfg := jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverAllPolicy}
		if last > 0 {
			cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, last+1
		}
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		cons, err := js.OrderedConsumer(cctx, stream, cfg)
		cancel()
		if err != nil {
			sleepCtx(ctx, 500*time.Millisecond)
			continue
		}
		it, err := cons.Messages()
		if err != nil {
			sleepCtx(ctx, 500*time.Millisecond)
			continue
		}
		stop := context.AfterFunc(ctx, it.Stop)
		for {
			m, err := it.Next()
			if err != nil {
				break
			}
			if md, err := m.Metadata(); err == nil {
				if md.Sequence.Stream <= last {
					continue
				}
				last = md.Sequence.Stream
			}
			handle(m)
		}
		stop()
		it.Stop()
	}
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

func (w *workload) close() {
	for _, nc := range w.conns {
		nc.Close()
	}
	if w.svc != nil {
		w.svc.Close()
	}
	w.logMu.Lock()
	_ = w.logW.Flush()
	_ = w.logF.Close()
	w.logMu.Unlock()
}

// record appends rec to the log.
func (w *workload) record(rec *cmdRec) {
	b, _ := json.Marshal(rec)
	w.logMu.Lock()
	w.recs = append(w.recs, rec)
	_, _ = w.logW.Write(append(b, '\n'))
	w.logMu.Unlock()
}

// records returns every logged command.
func (w *workload) records() []*cmdRec {
	w.logMu.Lock()
	defer w.logMu.Unlock()
	return append([]*cmdRec(nil), w.recs...)
}

// run runs worker number i until stopNew is set; commands in flight then finish (or become
// indeterminate).
func (w *workload) run(ctx context.Context, i int, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, uint64(i)))
	door := faultDoors[i%len(faultDoors)]
	for !w.stopNew.Load() && ctx.Err() == nil {
		var p [2]string
		if rng.IntN(2) == 0 {
			p = w.pairs[rng.IntN(min(6, len(w.pairs)))] // a few hot pairs: concurrent commands on one pair
		} else {
			p = w.pairs[rng.IntN(len(w.pairs))]
		}
		rec := w.decide(p, rng)
		rec.Door = door
		w.execute(ctx, rec, i)
		if !w.stopNew.Load() { // learning may read the lists: not once the load stops
			w.learn(ctx, p, rec)
		}
	}
}

// decide picks a command for pair p from what is known of it.
func (w *workload) decide(p [2]string, rng *rand.Rand) *cmdRec {
	w.knowMu.Lock()
	st := w.know[p]
	w.knowMu.Unlock()
	src, tgt := p[0], p[1]
	rec := &cmdRec{ID: uuid.NewString(), Source: src, Target: tgt}
	as := func(cmd, entity string) *cmdRec {
		rec.Command, rec.Entity, rec.Actor = cmd, entity, w.dir.admin[entity]
		if cmd != "request" {
			rec.ConnectionID = st.id
		}
		return rec
	}
	r := rng.IntN(100)
	switch st.status {
	case "Pending":
		switch {
		case r < 40:
			return as("accept", tgt)
		case r < 60:
			return as("deny", tgt)
		case r < 80:
			return as("cancel", src)
		case r < 90:
			return as("request", src) // refused: the pair has a live connection
		default:
			return as("disconnect", src) // refused: not connected
		}
	case "Connected":
		switch {
		case r < 35:
			return as("disconnect", src)
		case r < 70:
			return as("disconnect", tgt)
		case r < 85:
			return as("request", src)
		default:
			return as("accept", tgt)
		}
	}
	return as("request", src)
}

// learn updates what is known of pair p after rec.
func (w *workload) learn(ctx context.Context, p [2]string, rec *cmdRec) {
	if rec.Answer == answerAcked {
		next := map[string]string{"request": "Pending", "accept": "Connected", "deny": "Denied", "cancel": "Cancelled", "disconnect": "Disconnected"}[rec.Command]
		w.knowMu.Lock()
		cur := w.know[p]
		if rec.Command == "request" || cur.id == rec.ConnectionID {
			w.know[p] = pairState{id: rec.ConnectionID, status: next}
		}
		w.knowMu.Unlock()
		return
	}
	// Refused or indeterminate: ask the service what the pair's latest connection is.
	if st, ok := w.lookup(ctx, p); ok {
		w.knowMu.Lock()
		w.know[p] = st
		w.knowMu.Unlock()
	}
}

// lookup reads the pair's newest connection from the source's outbound list (REST). The
// list is newest first, so it stops at the first page that names the target: reading every
// page would cost the workload more with every connection the run has made, and the
// throughput it measures would fall for that reason alone.
func (w *workload) lookup(ctx context.Context, p [2]string) (pairState, bool) {
	for r := range w.cl.httpURLs {
		st := pairState{}
		err := w.listPages(ctx, r, p[0], "outbound", func(items []listItem) bool {
			for _, it := range items {
				if it.TargetEntityID == p[1] {
					st = pairState{id: it.ID, status: it.Status}
					return false
				}
			}
			return true
		})
		if err != nil {
			continue
		}
		return st, true
	}
	return pairState{}, false
}

// execute runs rec through its door, retrying until a definite answer or maxRetry.
func (w *workload) execute(ctx context.Context, rec *cmdRec, worker int) {
	rec.Start = time.Now()
	deadline := rec.Start.Add(w.maxRetry)
	backoff := 100 * time.Millisecond
	retrying := false
	defer func() {
		if retrying {
			w.inRetry.Add(-1)
		}
		rec.End = time.Now()
		w.record(rec)
	}()
	// No attempt runs past the deadline: a command is indeterminate after maxRetry.
	actx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	for n := 0; ; n++ {
		var res attemptResult
		switch rec.Door {
		case doorREST:
			res = w.restAttempt(actx, rec, (worker+n)%len(w.cl.httpURLs))
		case doorNATS:
			res = w.natsAttempt(actx, rec)
		default:
			res = w.durableAttempt(actx, rec)
		}
		rec.Attempts = append(rec.Attempts, attemptRec{At: time.Now(), Status: res.status, Code: res.code, Err: res.msg, Replayed: res.replayed})
		if res.internal {
			w.errs500.Add(1)
			w.errMu.Lock()
			if len(w.bodies500) < 20 {
				what := strings.TrimSpace(res.body)
				if what == "" {
					what = res.msg
				}
				w.bodies500 = append(w.bodies500, fmt.Sprintf("%s %s %s (command %s): %d %s", rec.Door, rec.Command, rec.Entity, rec.ID, res.status, what))
			}
			w.errMu.Unlock()
		}
		if res.inProgress {
			w.conf409.Add(1)
		}
		switch res.kind {
		case kindAck:
			rec.Answer, rec.Status, rec.Code, rec.Sequence = answerAcked, res.status, res.code, res.seq
			if res.connID != "" {
				rec.ConnectionID = res.connID
			}
			w.acked.Add(1)
			w.ackTimesMu.Lock()
			w.ackTimes = append(w.ackTimes, time.Now())
			w.ackTimesMu.Unlock()
			return
		case kindRefuse:
			rec.Answer, rec.Status, rec.Code, rec.Message = answerRefused, res.status, res.code, res.msg
			w.refused.Add(1)
			return
		}
		if !retrying {
			retrying = true
			w.inRetry.Add(1)
		}
		if time.Now().Add(backoff).After(deadline) || actx.Err() != nil {
			rec.Answer, rec.Status, rec.Code, rec.Message = answerIndeterminate, res.status, res.code, res.msg
			w.indet.Add(1)
			return
		}
		sleepCtx(ctx, backoff/2+time.Duration(rand.Int64N(int64(backoff/2))))
		backoff = min(2*backoff, 2*time.Second)
	}
}

// classify turns an HTTP-like status and Zuora code into the kind of answer it is.
func classify(status, code int) attemptResult {
	r := attemptResult{status: status, code: code}
	switch {
	case status >= 200 && status < 300:
		r.kind = kindAck
	case status == http.StatusConflict && code%100 == 50:
		r.kind, r.inProgress = kindRetry, true
	case status == http.StatusTooManyRequests || status == http.StatusUnauthorized:
		r.kind = kindRetry
	case status >= 500 || status == 0:
		r.kind = kindRetry
		r.internal = status == http.StatusInternalServerError || code%100 == 99 || code%100 == 60
	default:
		r.kind = kindRefuse
	}
	return r
}

// token returns a bearer token of user u (from replica r), cached until refused.
func (w *workload) token(ctx context.Context, r int, u string, fresh bool) (string, error) {
	if t, ok := w.tokens.Load(u); ok && !fresh {
		return t.(string), nil
	}
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {u}, "client_secret": {w.dir.secret[u]}}
	req, err := http.NewRequestWithContext(ctx, "POST", w.cl.httpURLs[r]+"/oauth/token", strings.NewReader(form.Encode()))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := w.http.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var out struct {
		AccessToken string `json:"access_token"`
	}
	if resp.StatusCode != 200 || json.NewDecoder(resp.Body).Decode(&out) != nil || out.AccessToken == "" {
		return "", fmt.Errorf("token for %s: %s", u, resp.Status)
	}
	w.tokens.Store(u, out.AccessToken)
	return out.AccessToken, nil
}

// zuoraError reads the code and message of a Zuora error body.
func zuoraError(body []byte) (int, string) {
	var z struct {
		Reasons []struct {
			Code    json.Number `json:"code"`
			Message string      `json:"message"`
		} `json:"reasons"`
	}
	if json.Unmarshal(body, &z) != nil || len(z.Reasons) == 0 {
		return 0, ""
	}
	n, _ := z.Reasons[0].Code.Int64()
	return int(n), z.Reasons[0].Message
}

func (w *workload) restAttempt(ctx context.Context, rec *cmdRec, r int) attemptResult {
	tok, err := w.token(ctx, r, rec.Actor, false)
	if err != nil {
		return attemptResult{kind: kindRetry, msg: err.Error()}
	}
	method, path, body := "PUT", "/v1/entity-connections/"+rec.ConnectionID+"/"+rec.Command, ""
	switch rec.Command {
	case "request":
		method, path, body = "POST", "/v1/entity-connections", `{"targetEntityId":"`+rec.Target+`"}`
	case "deny", "disconnect":
		body = `{"reason":"faults"}`
	}
	req, err := http.NewRequestWithContext(ctx, method, w.cl.httpURLs[r]+path, strings.NewReader(body))
	if err != nil {
		return attemptResult{kind: kindRetry, msg: err.Error()}
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Zuora-Entity-Ids", rec.Entity)
	req.Header.Set("Idempotency-Key", rec.ID)
	req.Header.Set("Zuora-Track-Id", rec.ID)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := w.http.Do(req)
	if err != nil {
		return attemptResult{kind: kindRetry, msg: err.Error()}
	}
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	_ = resp.Body.Close()
	code, msg := zuoraError(data)
	res := classify(resp.StatusCode, code)
	res.msg, res.body = msg, string(data)
	res.replayed = resp.Header.Get("Idempotent-Replayed") == "true"
	if resp.StatusCode == http.StatusUnauthorized {
		_, _ = w.token(ctx, r, rec.Actor, true)
	}
	if res.kind == kindAck {
		res.seq, _ = strconv.ParseUint(resp.Header.Get("Entityconn-Sequence"), 10, 64)
		var ok struct {
			ID string `json:"id"`
		}
		_ = json.Unmarshal(data, &ok)
		res.connID = ok.ID
	}
	return res
}

func (w *workload) natsAttempt(ctx context.Context, rec *cmdRec) attemptResult {
	c := w.clients[rec.Actor]
	id := natsclient.CommandID(rec.ID)
	var res natsclient.Result
	var err error
	switch rec.Command {
	case "request":
		res, err = c.Request(ctx, rec.Target, id)
	case "accept":
		res, err = c.Accept(ctx, rec.ConnectionID, id)
	case "deny":
		res, err = c.Deny(ctx, rec.ConnectionID, "faults", id)
	case "cancel":
		res, err = c.Cancel(ctx, rec.ConnectionID, id)
	default:
		res, err = c.Disconnect(ctx, rec.ConnectionID, "faults", id)
	}
	if err == nil {
		return attemptResult{kind: kindAck, status: 200, connID: res.ConnectionID, seq: res.Sequence}
	}
	var e *natsclient.Error
	if !errors.As(err, &e) {
		return attemptResult{kind: kindRetry, msg: err.Error()}
	}
	if e.Unwrap() != nil { // the client's own: no responders, no reply in time
		return attemptResult{kind: kindRetry, status: e.Status, msg: e.Error()}
	}
	r := classify(e.Status, e.Code)
	r.msg = e.Message
	return r
}

// durable command names per workload command.
var durableNames = map[string]string{
	"request":    contract.CommandRequestConnection,
	"accept":     contract.CommandAcceptConnection,
	"deny":       contract.CommandDenyConnection,
	"cancel":     contract.CommandCancelConnection,
	"disconnect": contract.CommandDisconnectConnection,
}

// statusOfCategory gives the HTTP-like status of a Zuora category, for durable outcomes.
func statusOfCategory(code int) int {
	switch code % 100 {
	case 10:
		return 403
	case 11:
		return 401
	case 20, 21, 22, 23, 90:
		return 400
	case 30, 50:
		return 409
	case 40:
		return 404
	case 70:
		return 429
	case 61:
		return 503
	}
	return 500
}

// durableAttempt publishes the command (attempt n) and waits up to 10 s for its outcome.
// The first publication carries Nats-Msg-Id = the command id; after an outcome wait that
// timed out it is published again with another message id (the stream would drop the same
// one within its de-duplication window), the same command id: the service replays its first
// outcome.
func (w *workload) durableAttempt(ctx context.Context, rec *cmdRec) attemptResult {
	w.outMu.Lock()
	o, have := w.outcomes[rec.ID]
	ch := w.waiters[rec.ID]
	if !have && ch == nil {
		ch = make(chan struct{})
		w.waiters[rec.ID] = ch
	}
	w.outMu.Unlock()
	if !have {
		body := map[string]string{"commandId": rec.ID, "entityId": rec.Entity}
		if rec.Command == "request" {
			body["targetEntityId"] = rec.Target
		} else {
			body["connectionId"] = rec.ConnectionID
		}
		if rec.Command == "deny" || rec.Command == "disconnect" {
			body["reason"] = "faults"
		}
		data, _ := json.Marshal(body)
		msgID := rec.ID
		timeouts := 0
		for _, a := range rec.Attempts {
			if a.Err == errNoOutcome {
				timeouts++
			}
		}
		if timeouts > 0 {
			msgID = rec.ID + "-" + strconv.Itoa(timeouts)
		}
		msg := &nats.Msg{Subject: "entityconn.commands." + rec.Actor + "." + durableNames[rec.Command], Data: data, Header: nats.Header{}}
		msg.Header.Set("Nats-Msg-Id", msgID)
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, err := w.jss[rec.Actor].PublishMsg(pctx, msg)
		cancel()
		if err != nil {
			return attemptResult{kind: kindRetry, msg: "publish: " + err.Error()}
		}
		select {
		case <-ch:
		case <-time.After(10 * time.Second):
			return attemptResult{kind: kindRetry, msg: errNoOutcome}
		case <-ctx.Done():
			return attemptResult{kind: kindRetry, msg: ctx.Err().Error()}
		}
		w.outMu.Lock()
		o = w.outcomes[rec.ID]
		w.outMu.Unlock()
	}
	if o.OK {
		return attemptResult{kind: kindAck, status: 200, connID: o.ConnectionID, seq: o.Sequence}
	}
	if o.Error == nil {
		return attemptResult{kind: kindRetry, msg: "outcome neither ok nor an error"}
	}
	r := classify(statusOfCategory(o.Error.Code), o.Error.Code)
	r.msg = o.Error.Message
	if r.kind == kindRetry {
		// A transient outcome: forget it, so that the next attempt publishes again.
		w.outMu.Lock()
		delete(w.outcomes, rec.ID)
		w.outMu.Unlock()
	}
	return r
}

const errNoOutcome = "no outcome within 10s"

// listItem is one item of a REST list.
type listItem struct {
	ID             string `json:"id"`
	SourceEntityID string `json:"sourceEntityId"`
	TargetEntityID string `json:"targetEntityId"`
	Status         string `json:"status"`
}

// listAll reads every page of entity's list of type typ from replica r, as its admin.
func (w *workload) listAll(ctx context.Context, r int, entity, typ string) ([]listItem, error) {
	var all []listItem
	err := w.listPages(ctx, r, entity, typ, func(items []listItem) bool {
		all = append(all, items...)
		return true
	})
	return all, err
}

// listPages reads entity's list of type typ from replica r, as its admin, a page at a time,
// while more returns true.
func (w *workload) listPages(ctx context.Context, r int, entity, typ string, more func([]listItem) bool) error {
	u := w.dir.admin[entity]
	for page := 1; page < 10000; page++ {
		tok, err := w.token(ctx, r, u, false)
		if err != nil {
			return err
		}
		req, err := http.NewRequestWithContext(ctx, "GET", fmt.Sprintf("%s/v1/entity-connections?type=%s&pageSize=300&page=%d", w.cl.httpURLs[r], typ, page), nil)
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Zuora-Entity-Ids", entity)
		resp, err := w.http.Do(req)
		if err != nil {
			return err
		}
		data, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode == http.StatusUnauthorized {
			_, _ = w.token(ctx, r, u, true)
		}
		if resp.StatusCode != 200 {
			return fmt.Errorf("list %s %s on r%d: %s %s", entity, typ, r+1, resp.Status, bytes.TrimSpace(data))
		}
		var out struct {
			Items    []listItem `json:"entityConnections"`
			NextPage string     `json:"nextPage"`
		}
		if err := json.Unmarshal(data, &out); err != nil {
			return err
		}
		if !more(out.Items) || out.NextPage == "" {
			return nil
		}
	}
	return nil
}

// ackedBetween counts the acknowledgements in [from, to).
func (w *workload) ackedBetween(from, to time.Time) int {
	w.ackTimesMu.Lock()
	defer w.ackTimesMu.Unlock()
	n := 0
	for _, t := range w.ackTimes {
		if !t.Before(from) && t.Before(to) {
			n++
		}
	}
	return n
}
