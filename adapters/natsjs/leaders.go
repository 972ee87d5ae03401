package natsjs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Leaders keeps the Raft leaders of the streams (and durable consumers) a command needs on
// one server: the one that leads the first stream. A command touches several of them (the
// idempotency bucket, the event stream, the views bucket, the durable door's stream and
// consumer); when their leaders are spread over the cluster, losing any one server stalls
// every command until the streams it led have elected again (4 to 9 s, not configurable).
// Kept together, a server that leads nothing can be lost without a stall.
//
// It asks a stream or consumer led elsewhere to step down in favour of that server (the
// JetStream leader step-down request with a preferred placement, nats-server 2.11+), and only
// when that server is a current replica of it, so the transfer is immediate. On a single
// server, or while the first stream has no leader, it does nothing.
type Leaders struct {
	JS jetstream.JetStream
	// Streams are the streams to keep together; the first one's leader is where they go.
	Streams []string
	// Consumers are durable consumers to keep there as well.
	Consumers []ConsumerRef
	// Every is how often the leaders are checked (default 2 s, jittered).
	Every time.Duration
	Log   *slog.Logger
}

// ConsumerRef names a durable consumer of a stream.
type ConsumerRef struct{ Stream, Name string }

// Run checks the leaders every [Leaders.Every] until ctx ends, and soon after JetStream
// announces a new leader of one of them (its leader-elected advisories): after a server is
// lost, each of its groups elects on its own, wherever it can, and the sooner they are
// together again, the smaller the chance that the next failure stalls a command twice.
func (l *Leaders) Run(ctx context.Context) {
	every := l.Every
	if every <= 0 {
		every = 2 * time.Second
	}
	log := l.Log
	if log == nil {
		log = slog.Default()
	}
	elected := make(chan struct{}, 1)
	var subjects []string
	for _, name := range l.Streams {
		subjects = append(subjects, "$JS.EVENT.ADVISORY.STREAM.LEADER_ELECTED."+name)
	}
	for _, c := range l.Consumers {
		subjects = append(subjects, "$JS.EVENT.ADVISORY.CONSUMER.LEADER_ELECTED."+c.Stream+"."+c.Name)
	}
	for _, subject := range subjects {
		sub, err := l.JS.Conn().Subscribe(subject, func(*nats.Msg) {
			select {
			case elected <- struct{}{}:
			default:
			}
		})
		if err != nil {
			log.Warn("leader placement: no leader-elected advisories; checking on a timer only", "err", err)
			continue
		}
		defer func() { _ = sub.Unsubscribe() }()
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(every/2 + rand.N(every)):
		case <-elected:
			// A new leader's replicas report themselves current a moment later.
			select {
			case <-ctx.Done():
				return
			case <-time.After(advisorySettle):
			}
		}
		moved, err := l.Once(ctx)
		if err != nil && ctx.Err() == nil {
			log.Debug("leader placement", "err", err)
		}
		for _, m := range moved {
			log.Info("leader moved", "what", m.What, "from", m.From, "to", m.To)
		}
	}
}

// advisorySettle is how long [Leaders.Run] waits after a leader-elected advisory before it
// checks the leaders.
const advisorySettle = 250 * time.Millisecond

// Settle checks the leaders until a check moves nothing or fails, or ctx ends: for a start,
// so that the first moves happen before the work does. A failure is left to [Leaders.Run].
func (l *Leaders) Settle(ctx context.Context) {
	for {
		moved, err := l.Once(ctx)
		if err != nil || len(moved) == 0 {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// Move is one step-down asked for by [Leaders.Once].
type Move struct{ What, From, To string }

// Once checks the leaders once and asks those elsewhere to move; it returns the moves it
// asked for (a move may still fail; the next check sees it).
func (l *Leaders) Once(ctx context.Context) ([]Move, error) {
	if len(l.Streams) == 0 {
		return nil, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	first, err := l.JS.Stream(ctx, l.Streams[0])
	if err != nil {
		return nil, fmt.Errorf("stream %s: %w", l.Streams[0], err)
	}
	ci := first.CachedInfo().Cluster
	if ci == nil || ci.Leader == "" || len(ci.Replicas) == 0 {
		return nil, nil // one server, or no leader to gather around yet
	}
	target := ci.Leader
	var moves []Move
	var errs []error
	for _, name := range l.Streams[1:] {
		s, err := l.JS.Stream(ctx, name)
		if err != nil {
			errs = append(errs, fmt.Errorf("stream %s: %w", name, err))
			continue
		}
		if from, ok := shouldMove(s.CachedInfo().Cluster, target); ok {
			if err := l.stepDown(ctx, "$JS.API.STREAM.LEADER.STEPDOWN."+name, target); err != nil {
				errs = append(errs, fmt.Errorf("stream %s: %w", name, err))
				continue
			}
			moves = append(moves, Move{What: "stream " + name, From: from, To: target})
		}
	}
	for _, c := range l.Consumers {
		cons, err := l.JS.Consumer(ctx, c.Stream, c.Name)
		if err != nil {
			if !errors.Is(err, jetstream.ErrConsumerNotFound) {
				errs = append(errs, fmt.Errorf("consumer %s: %w", c.Name, err))
			}
			continue
		}
		if from, ok := shouldMove(cons.CachedInfo().Cluster, target); ok {
			if err := l.stepDown(ctx, "$JS.API.CONSUMER.LEADER.STEPDOWN."+c.Stream+"."+c.Name, target); err != nil {
				errs = append(errs, fmt.Errorf("consumer %s: %w", c.Name, err))
				continue
			}
			moves = append(moves, Move{What: "consumer " + c.Name, From: from, To: target})
		}
	}
	return moves, errors.Join(errs...)
}

// shouldMove reports whether a group led by someone other than target should move to it:
// it has a leader, and target is one of its replicas, current and caught up.
func shouldMove(ci *jetstream.ClusterInfo, target string) (from string, ok bool) {
	if ci == nil || ci.Leader == "" || ci.Leader == target {
		return "", false
	}
	for _, p := range ci.Replicas {
		if p != nil && p.Name == target {
			return ci.Leader, p.Current && !p.Offline && p.Lag == 0
		}
	}
	return "", false
}

// stepDown sends a leader step-down request preferring server to.
func (l *Leaders) stepDown(ctx context.Context, subject, to string) error {
	body, err := json.Marshal(map[string]any{"placement": map[string]string{"preferred": to}})
	if err != nil {
		return err
	}
	msg, err := l.JS.Conn().RequestWithContext(ctx, subject, body)
	if err != nil {
		return err
	}
	var resp struct {
		Error *struct {
			Code        int    `json:"code"`
			Description string `json:"description"`
		} `json:"error"`
	}
	if err := json.Unmarshal(msg.Data, &resp); err != nil {
		return fmt.Errorf("step-down answer: %w", err)
	}
	if resp.Error != nil {
		return fmt.Errorf("step-down: %s (%d)", resp.Error.Description, resp.Error.Code)
	}
	return nil
}
