package natsapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	"github.com/entityconn/entityconn/adapters/app"
	"github.com/entityconn/entityconn/adapters/wire"
)

// The micro service's name and subject prefix (contract §5).
const (
	ServiceName    = "entityconn"
	ServiceVersion = "1.0.0"
	SubjectPrefix  = "entityconn.api"
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
	svc   micro.Service
	x     *Executor
	log   *slog.Logger
	ctx   context.Context
	stop  context.CancelFunc
	slots chan struct{}
	wg    sync.WaitGroup
}

// Start registers the micro service entityconn on nc (queue group "q", so that replicas share
// the requests) and serves until Stop. log may be nil.
func Start(nc *nats.Conn, x *Executor, log *slog.Logger) (*Server, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{x: x, log: log, ctx: ctx, stop: cancel, slots: make(chan struct{}, maxInFlight)}
	svc, err := micro.AddService(nc, micro.Config{
		Name:        ServiceName,
		Version:     ServiceVersion,
		Description: "entity connections: request, accept, deny, cancel, disconnect, list, get (contract §5)",
	})
	if err != nil {
		cancel()
		return nil, fmt.Errorf("natsapi: add service: %w", err)
	}
	s.svc = svc
	g := svc.AddGroup(SubjectPrefix)
	for endpoint, name := range Commands {
		if err := g.AddEndpoint(endpoint, s.async(func(req micro.Request) { s.command(req, name) }),
			micro.WithEndpointMetadata(map[string]string{"command": name})); err != nil {
			s.Stop()
			return nil, fmt.Errorf("natsapi: endpoint %s: %w", endpoint, err)
		}
	}
	if err := g.AddEndpoint("list", s.async(s.list)); err != nil {
		s.Stop()
		return nil, fmt.Errorf("natsapi: endpoint list: %w", err)
	}
	if err := g.AddEndpoint("get", s.async(s.get)); err != nil {
		s.Stop()
		return nil, fmt.Errorf("natsapi: endpoint get: %w", err)
	}
	// Make sure the server has the subscriptions before callers are told the door is open.
	if err := nc.Flush(); err != nil {
		s.Stop()
		return nil, fmt.Errorf("natsapi: flush: %w", err)
	}
	return s, nil
}

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

func (s *Server) async(h func(micro.Request)) micro.HandlerFunc {
	return func(req micro.Request) {
		s.slots <- struct{}{}
		s.wg.Go(func() {
			defer func() { <-s.slots }()
			h(req)
		})
	}
}

const requestTimeout = 30 * time.Second

func (s *Server) command(req micro.Request, name string) {
	pid := processID()
	r, err := Decode(req.Data())
	var o Outcome
	if err != nil {
		o = Failure(pid, err)
	} else {
		ctx, cancel := context.WithTimeout(s.ctx, requestTimeout)
		o = s.x.Execute(ctx, name, r, pid)
		cancel()
	}
	if !o.OK() {
		s.fail(req, o)
		return
	}
	h := micro.Headers{HeaderSequence: {strconv.FormatUint(o.Sequence, 10)}, HeaderConnectionID: {o.ConnectionID}}
	if err := req.Respond(o.Body, micro.WithHeaders(h)); err != nil {
		s.log.Warn("natsapi: respond", "err", err)
	}
}

func (s *Server) list(req micro.Request) {
	pid := processID()
	r, err := Decode(req.Data())
	var p app.Principal
	var q app.ListQuery
	if err == nil {
		p, err = r.Principal()
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

func (s *Server) get(req micro.Request) {
	pid := processID()
	r, err := Decode(req.Data())
	var p app.Principal
	if err == nil {
		p, err = r.Principal()
	}
	if err == nil {
		var d app.Detail
		ctx, cancel := context.WithTimeout(s.ctx, requestTimeout)
		d, err = s.x.Service.Get(ctx, p, r.ConnectionID, r.MinSequence)
		cancel()
		if err == nil {
			s.respondJSON(req, wire.NewDetail(d))
			return
		}
	}
	s.fail(req, Failure(pid, err))
}

func (s *Server) respondJSON(req micro.Request, v any) {
	data, _ := json.Marshal(v)
	if err := req.Respond(data); err != nil {
		s.log.Warn("natsapi: respond", "err", err)
	}
}

// fail answers with the micro error headers (an HTTP-like code and the message) and the
// Zuora error body.
func (s *Server) fail(req micro.Request, o Outcome) {
	if o.Status >= 500 {
		s.log.Warn("natsapi: request failed", "subject", req.Subject(), "status", o.Status, "message", o.Message)
	}
	if err := req.Error(strconv.Itoa(o.Status), o.Message, o.Body); err != nil {
		s.log.Warn("natsapi: respond", "err", err)
	}
}

func processID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
