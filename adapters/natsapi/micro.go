package natsapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	"github.com/entityconn/entityconn/adapters/app"
	"github.com/entityconn/entityconn/adapters/wire"
	"github.com/entityconn/entityconn/domain"
	"github.com/entityconn/entityconn/events"
	"github.com/entityconn/entityconn/events/contract"
)

// The micro service's name and subject prefix (contract §5), and the prefixes of the durable
// command door's subjects (package natscmd), which NATS permissions name too.
const (
	ServiceName    = "entityconn"
	ServiceVersion = "1.0.0"
	SubjectPrefix  = "entityconn.api"
	// CommandPrefix starts every durable command subject: entityconn.commands.<userId>.<CommandName>.
	CommandPrefix = "entityconn.commands"
	// OutcomePrefix starts every outcome subject: entityconn.outcomes.<entityId>.
	OutcomePrefix = "entityconn.outcomes"
)

// Headers of a successful command's reply.
const (
	HeaderSequence     = "Entityconn-Sequence"
	HeaderConnectionID = "Entityconn-Connection-Id"
)

// maxInFlight bounds the requests one process handles at once. The micro package calls a
// handler for one request at a time per endpoint; handlers hand the work to a goroutine so
// that 64 callers are served concurrently, and this bounds those goroutines.
const maxInFlight = 512

// Server is the micro service. Stop it with Stop.
type Server struct {
	nc    *nats.Conn
	svc   micro.Service
	x     *Executor
	log   *slog.Logger
	ctx   context.Context
	stop  context.CancelFunc
	slots chan struct{}
	wg    sync.WaitGroup
}

// Start registers the micro service entityconn on nc (queue group "q", so that replicas share
// the requests) and serves until Stop. Its endpoints listen on entityconn.api.*.<endpoint>:
// the user token is the actor. log may be nil.
func Start(nc *nats.Conn, x *Executor, log *slog.Logger) (*Server, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{nc: nc, x: x, log: log, ctx: ctx, stop: cancel, slots: make(chan struct{}, maxInFlight)}
	svc, err := micro.AddService(nc, micro.Config{
		Name:        ServiceName,
		Version:     ServiceVersion,
		Description: "entity connections: request, accept, deny, cancel, disconnect, list, get, share, unshare, shared, settings on entityconn.api.<userId>.<endpoint> (contract §5, §7, §8)",
	})
	if err != nil {
		cancel()
		return nil, fmt.Errorf("natsapi: add service: %w", err)
	}
	s.svc = svc
	add := func(endpoint string, h func(micro.Request, string), meta map[string]string) error {
		err := svc.AddEndpoint(endpoint, s.async(h), micro.WithEndpointSubject(SubjectPrefix+".*."+endpoint), micro.WithEndpointMetadata(meta))
		if err != nil {
			return fmt.Errorf("natsapi: endpoint %s: %w", endpoint, err)
		}
		return nil
	}
	for endpoint, name := range Commands {
		if err := add(endpoint, func(req micro.Request, user string) { s.command(req, name, user) }, map[string]string{"command": name}); err != nil {
			s.Stop()
			return nil, err
		}
	}
	if err := add("list", s.list, nil); err != nil {
		s.Stop()
		return nil, err
	}
	if err := add("get", s.get, nil); err != nil {
		s.Stop()
		return nil, err
	}
	if err := add("shared", s.shared, nil); err != nil {
		s.Stop()
		return nil, err
	}
	if err := add("settings", s.settings, map[string]string{"command": contract.CommandChangeSharingSettings, "changes": "when the body has autoAcceptFrom"}); err != nil {
		s.Stop()
		return nil, err
	}
	// Make sure the server has the subscriptions before callers are told the door is open.
	if err := nc.Flush(); err != nil {
		s.Stop()
		return nil, fmt.Errorf("natsapi: flush: %w", err)
	}
	return s, nil
}

// Subject returns the subject of endpoint for user: entityconn.api.<user>.<endpoint>.
func Subject(user, endpoint string) string { return SubjectPrefix + "." + user + "." + endpoint }

// Stop unregisters the service and waits for the requests in flight to be answered.
func (s *Server) Stop() {
	if s.svc != nil {
		_ = s.svc.Stop()
	}
	s.wg.Wait()
	s.stop()
}

// Info returns the service's identity as micro reports it.
func (s *Server) Info() micro.Info { return s.svc.Info() }

// async hands a request to a goroutine of its own (at most maxInFlight at once), with the
// user its subject names. A request without a reply subject, or whose reply subject is a
// JetStream one (a consumer's delivery, which a user may point anywhere), is not a caller's
// request: it is dropped. A panic while handling a request becomes a 500 answer and a log
// line, never the end of the process.
func (s *Server) async(h func(micro.Request, string)) micro.HandlerFunc {
	return func(req micro.Request) {
		if reply := req.Reply(); reply == "" || strings.HasPrefix(reply, "$JS.") {
			s.log.Warn("natsapi: message without a caller's reply subject ignored", "subject", req.Subject(), "reply", reply)
			return
		}
		s.slots <- struct{}{}
		s.wg.Go(func() {
			defer func() { <-s.slots }()
			defer func() {
				if p := recover(); p != nil {
					pid := processID()
					s.log.Error("natsapi: panic while handling a request", "subject", req.Subject(), "processId", pid, "panic", p, "stack", string(debug.Stack()))
					s.fail(req, Failure(pid, fmt.Errorf("panic: %v", p)))
				}
			}()
			user, _, _ := SubjectUser(SubjectPrefix, req.Subject())
			h(req, user)
		})
	}
}

const requestTimeout = 30 * time.Second

// HeaderCorrelationID is the request header whose value the command's event carries as its
// correlation id (as the durable door's commands do); without it, the command id.
const HeaderCorrelationID = events.HeaderCorrelationID

// HeaderTimeout is the request header in which a caller says how long it waits for the
// reply, in milliseconds; the command then ends in time to answer ([app.RequestTimeout]).
const HeaderTimeout = "Entityconn-Timeout-Ms"

// callerTimeout reads [HeaderTimeout]: 0 when it is missing or not a whole number of
// milliseconds from 1 to 3,600,000.
func callerTimeout(h micro.Headers) time.Duration {
	v := nats.Header(h).Get(HeaderTimeout)
	if v == "" || len(v) > 7 {
		return 0
	}
	ms, err := strconv.Atoi(v)
	if err != nil || ms < 1 || ms > 3_600_000 {
		return 0
	}
	return time.Duration(ms) * time.Millisecond
}

// correlationID returns the correlation id a request's event carries: the header's, if it
// is a valid command id, else the command id.
func correlationID(h micro.Headers, commandID string) string {
	if v := nats.Header(h).Get(HeaderCorrelationID); v != "" && len(v) <= MaxCommandIDLength {
		return v
	}
	return commandID
}

func (s *Server) command(req micro.Request, name, user string) {
	r, err := Decode(req.Data())
	if err != nil {
		s.fail(req, Failure(processID(), err))
		return
	}
	s.execute(req, r, name, user)
}

// execute runs the command name that r describes and answers it: the REST body with the
// sequence header (and the connection id header for a connection's command), or the error.
func (s *Server) execute(req micro.Request, r Request, name, user string) {
	pid := processID()
	ctx, cancel := context.WithTimeout(s.ctx, app.RequestTimeout(callerTimeout(req.Headers())))
	if corr := correlationID(req.Headers(), r.CommandID); corr != "" {
		ctx = app.WithCorrelationID(ctx, corr)
	}
	o := s.x.Execute(ctx, name, user, r, pid)
	cancel()
	if !o.OK() {
		s.fail(req, o)
		return
	}
	h := nats.Header{HeaderSequence: {strconv.FormatUint(o.Sequence, 10)}}
	if o.ConnectionID != "" { // a share, an unshare or a settings change names no one connection
		h.Set(HeaderConnectionID, o.ConnectionID)
	}
	s.respond(req, h, o.Body)
}

func (s *Server) list(req micro.Request, user string) {
	pid := processID()
	r, err := Decode(req.Data())
	var p app.Principal
	var q app.ListQuery
	if err == nil {
		p, err = r.Principal(user)
	}
	if err == nil {
		q, err = r.ListQuery()
	}
	if err == nil {
		var res app.ListResult
		ctx, cancel := context.WithTimeout(s.ctx, requestTimeout)
		res, err = s.x.Service.List(ctx, p, q)
		cancel()
		if err == nil {
			s.respondJSON(req, wire.NewList(res))
			return
		}
	}
	s.fail(req, Failure(pid, err))
}

func (s *Server) get(req micro.Request, user string) {
	pid := processID()
	r, err := Decode(req.Data())
	var p app.Principal
	if err == nil {
		p, err = r.Principal(user)
	}
	var asOf time.Time
	if err == nil {
		asOf, err = r.AsOfTime()
	}
	if err == nil {
		var d app.Detail
		ctx, cancel := context.WithTimeout(s.ctx, requestTimeout)
		if asOf.IsZero() {
			d, err = s.x.Service.Get(ctx, p, r.ConnectionID, r.MinSequence)
		} else {
			d, err = s.x.Service.GetAsOf(ctx, p, r.ConnectionID, asOf)
		}
		cancel()
		if err == nil {
			s.respondJSON(req, wire.NewDetail(d))
			return
		}
	}
	s.fail(req, Failure(pid, err))
}

// shared answers a list of the objects the acting entity shares or that are shared with it
// (contract §7): the REST body without nextPage, as list answers (a full page may have a
// next one).
func (s *Server) shared(req micro.Request, user string) {
	pid := processID()
	r, err := Decode(req.Data())
	var p app.Principal
	var q app.SharedQuery
	if err == nil {
		p, err = r.Principal(user)
	}
	if err == nil {
		q, err = r.SharedQuery()
	}
	if err == nil {
		var res app.SharedResult
		ctx, cancel := context.WithTimeout(s.ctx, requestTimeout)
		res, err = s.x.Service.SharedObjects(ctx, p, q)
		cancel()
		if err == nil {
			s.respondJSON(req, wire.NewSharedObjects(res))
			return
		}
	}
	s.fail(req, Failure(pid, err))
}

// settings reads or changes the acting entity's sharing settings (contract §8). The rule: a
// body with autoAcceptFrom (a list: entity ids, ["*"] for every source, [] for none) changes
// them, as the command ChangeSharingSettings, answered as the other commands are
// ({"success":true} and the sequence header; the same commandId replays the first outcome);
// a body without it reads them and answers the body of GET /v1/entity-sharing-settings,
// {"autoAcceptFrom":[..],"success":true}. Any user of the entity may read them, only an
// admin change them. Two bodies that look like a change gone wrong are refused rather than
// read: autoAcceptFrom null (400, category 20) and a commandId without autoAcceptFrom (400,
// category 21).
func (s *Server) settings(req micro.Request, user string) {
	r, err := Decode(req.Data())
	switch {
	case err != nil:
	case r.AutoAcceptFrom != nil:
		s.execute(req, r, contract.CommandChangeSharingSettings, user)
		return
	case nullField(req.Data(), "autoAcceptFrom"):
		err = fmt.Errorf("%w: autoAcceptFrom is null: send a list of entity ids, [\"*\"] for every source or [] for none to change the settings, or leave it out to read them", domain.ErrInvalidValue)
	case r.CommandID != "":
		err = fmt.Errorf("%w: autoAcceptFrom is required with a commandId: a body with commandId changes the settings; leave both out to read them", domain.ErrMissingValue)
	}
	var p app.Principal
	if err == nil {
		p, err = r.Principal(user)
	}
	if err == nil {
		var set domain.Settings
		ctx, cancel := context.WithTimeout(s.ctx, requestTimeout)
		set, _, err = s.x.Service.SharingSettings(ctx, p)
		cancel()
		if err == nil {
			from := set.AutoAcceptFrom
			if from == nil {
				from = []string{}
			}
			s.respondJSON(req, wire.SharingSettings{AutoAcceptFrom: from, Success: true})
			return
		}
	}
	s.fail(req, Failure(processID(), err))
}

// nullField reports whether the JSON object data has the field name set to null (matched
// as encoding/json matches names: case-insensitively).
func nullField(data []byte, name string) bool {
	var fields map[string]json.RawMessage
	if json.Unmarshal(data, &fields) != nil {
		return false
	}
	for k, v := range fields {
		if strings.EqualFold(k, name) && string(v) == "null" {
			return true
		}
	}
	return false
}

func (s *Server) respondJSON(req micro.Request, v any) {
	data, _ := json.Marshal(v)
	s.respond(req, nil, data)
}

// respond publishes the reply to req itself rather than through req's Respond and Error: the
// micro package reads what those record once the handler returns, which with the work handed
// to a goroutine would race with them. So micro's statistics count requests, not errors.
func (s *Server) respond(req micro.Request, h nats.Header, data []byte) {
	if err := s.nc.PublishMsg(&nats.Msg{Subject: req.Reply(), Header: h, Data: data}); err != nil {
		s.log.Warn("natsapi: respond", "err", err)
	}
}

// fail answers with the micro error headers (an HTTP-like code and the message) and the
// Zuora error body.
func (s *Server) fail(req micro.Request, o Outcome) {
	if o.Status >= 500 {
		s.log.Warn("natsapi: request failed", "subject", req.Subject(), "status", o.Status, "message", o.Message)
	}
	s.respond(req, nats.Header{micro.ErrorCodeHeader: {strconv.Itoa(o.Status)}, micro.ErrorHeader: {o.Message}}, o.Body)
}

func processID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
