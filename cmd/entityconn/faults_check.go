package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/entityconn/entityconn/domain"
	"github.com/entityconn/entityconn/events"
	"github.com/entityconn/entityconn/projections"
)

// storedEvent is one message of ENTITYCONN_EVENTS as the checker sees it.
type storedEvent struct {
	Seq         uint64
	Correlation string // Entityconn-Correlation-Id
	MsgID       string // Nats-Msg-Id
	Event       events.Event
	Err         error // the body did not decode
}

// checkReport is what the checker found in the history: the counts of the summary line
// (but for view mismatches) and a line per finding.
type checkReport struct {
	Acked, Lost, Unexpected, Duplicate, Indeterminate int
	Details                                           []string
	// Expected is the fold of the event log: every connection's view, by connection id.
	Expected map[string]projections.View
}

func (r *checkReport) add(format string, args ...any) {
	r.Details = append(r.Details, fmt.Sprintf(format, args...))
}

// eventTypeOf is the event an acknowledged command must have stored.
var eventTypeOf = map[string]events.Type{
	"request":    events.TypeConnectionRequested,
	"accept":     events.TypeConnectionAccepted,
	"deny":       events.TypeConnectionDenied,
	"cancel":     events.TypeConnectionCancelled,
	"disconnect": events.TypeConnectionDisconnected,
}

// checkHistory checks the command log against the event log:
//   - lost: an acknowledged command with no event carrying its id as correlation id, or
//     whose answer's sequence holds another event, or whose event is not what it asked for;
//   - unexpected: an event with no correlation id, or one that names no command of the log,
//     or a refused one;
//   - duplicate: a command stored twice, or an event that does not fit its pair's state as
//     the log folds it (domain.Evolve): two live connections of one pair, a transition
//     applied twice;
//   - indeterminate: commands with no definite answer.
//
// It also folds the log into every connection's expected view.
func checkHistory(recs []*cmdRec, evs []storedEvent) checkReport {
	rep := checkReport{Expected: map[string]projections.View{}}
	evs = slices.Clone(evs)
	slices.SortFunc(evs, func(a, b storedEvent) int { return cmp.Compare(a.Seq, b.Seq) })
	bySeq := map[uint64]*storedEvent{}
	byCorr := map[string][]*storedEvent{}
	for i := range evs {
		e := &evs[i]
		bySeq[e.Seq] = e
		if e.Correlation != "" {
			byCorr[e.Correlation] = append(byCorr[e.Correlation], e)
		}
	}
	byID := map[string]*cmdRec{}
	for _, r := range recs {
		byID[r.ID] = r
	}

	// Commands against events.
	uncorrelated := 0
	for _, r := range recs {
		switch r.Answer {
		case answerIndeterminate:
			rep.Indeterminate++
			rep.add("indeterminate: %s %s %s→%s by %s via %s (command %s), last attempt: %d %s", r.Command, r.ConnectionID, r.Source, r.Target, r.Actor, r.Door, r.ID, r.Status, r.Message)
		case answerAcked:
			rep.Acked++
		}
		stored := byCorr[r.ID]
		if len(stored) > 1 {
			rep.Duplicate++
			var seqs []uint64
			for _, e := range stored {
				seqs = append(seqs, e.Seq)
			}
			rep.add("duplicate: command %s (%s %s via %s) stored %d times, at sequences %v", r.ID, r.Command, r.ConnectionID, r.Door, len(stored), seqs)
		}
		if r.Answer != answerAcked {
			continue
		}
		if len(stored) == 0 {
			rep.Lost++
			hint := ""
			for _, e := range evs {
				if e.Correlation == "" && e.Err == nil && e.Event.ConnectionID == r.ConnectionID && e.Event.Type == eventTypeOf[r.Command] && e.Event.ActorUserID == r.Actor {
					hint = fmt.Sprintf(" (an event without a correlation id at sequence %d matches its connection, type and actor)", e.Seq)
					uncorrelated++
					break
				}
			}
			rep.add("lost: acked %s %s %s→%s via %s (command %s, sequence %d) has no event%s", r.Command, r.ConnectionID, r.Source, r.Target, r.Door, r.ID, r.Sequence, hint)
			continue
		}
		e := stored[0]
		switch {
		case r.Sequence != 0 && (bySeq[r.Sequence] == nil || bySeq[r.Sequence].Correlation != r.ID):
			rep.Lost++
			rep.add("lost: acked %s via %s (command %s) answered sequence %d, which holds another event (its own is at %d)", r.Command, r.Door, r.ID, r.Sequence, e.Seq)
		case e.Err == nil && (e.Event.Type != eventTypeOf[r.Command] || e.Event.ConnectionID != r.ConnectionID):
			rep.Lost++
			rep.add("lost: acked %s of %s via %s (command %s) stored as %s of %s at sequence %d", r.Command, r.ConnectionID, r.Door, r.ID, e.Event.Type, e.Event.ConnectionID, e.Seq)
		}
	}
	if uncorrelated > 0 {
		rep.add("note: %d lost commands have an event without a correlation id that matches them: their door does not carry the command id into the event's Entityconn-Correlation-Id", uncorrelated)
	}

	// Events against commands, and the fold.
	pairs := map[[2]string]domain.Connection{}
	for _, e := range evs {
		if e.Err != nil {
			rep.Unexpected++
			rep.add("unexpected: event at sequence %d does not decode: %v", e.Seq, e.Err)
			continue
		}
		ev := e.Event
		r := byID[e.Correlation]
		switch {
		case e.Correlation == "":
			rep.Unexpected++
			rep.add("unexpected: %s of %s %s→%s by %s at sequence %d has no correlation id", ev.Type, ev.ConnectionID, ev.SourceEntityID, ev.TargetEntityID, ev.ActorUserID, e.Seq)
		case r == nil:
			rep.Unexpected++
			rep.add("unexpected: %s of %s at sequence %d has correlation id %q, no command of the log", ev.Type, ev.ConnectionID, e.Seq, e.Correlation)
		case r.Answer == answerRefused:
			rep.Unexpected++
			rep.add("unexpected: %s of %s at sequence %d is command %s (%s via %s), which was refused: %d %s", ev.Type, ev.ConnectionID, e.Seq, r.ID, r.Command, r.Door, r.Status, r.Message)
		}
		p := [2]string{ev.SourceEntityID, ev.TargetEntityID}
		next, err := domain.Evolve(pairs[p], ev)
		if err != nil {
			rep.Duplicate++
			what := "does not fit its pair's state"
			if ev.Type == events.TypeConnectionRequested && pairs[p].Status.Live() {
				what = fmt.Sprintf("makes a second live connection: %s is still %s", pairs[p].ID, pairs[p].Status)
			}
			rep.add("duplicate: %s of %s %s→%s at sequence %d (correlation %s) %s (%v)", ev.Type, ev.ConnectionID, ev.SourceEntityID, ev.TargetEntityID, e.Seq, e.Correlation, what, err)
		} else {
			pairs[p] = next
		}
		v, _ := projections.Apply(rep.Expected[ev.ConnectionID], e.Seq, ev)
		rep.Expected[ev.ConnectionID] = v
	}
	return rep
}

// viewKey is how a view is compared: what the list shows and, for the KV views, the
// sequence of the connection's last event.
type viewKey struct {
	Source, Target, Status string
	Sequence               uint64
}

// compareKV compares the expected views with the KV bucket's (key → view); it returns one
// line per difference.
func compareKV(expected map[string]projections.View, kv map[string]projections.View) []string {
	want := map[string]viewKey{}
	for _, v := range expected {
		k := viewKey{v.SourceEntityID, v.TargetEntityID, string(v.Status), v.Sequence}
		want[projections.Key(projections.Outbound, v.SourceEntityID, v.ID)] = k
		want[projections.Key(projections.Inbound, v.TargetEntityID, v.ID)] = k
	}
	var out []string
	for key, w := range want {
		g, ok := kv[key]
		switch {
		case !ok:
			out = append(out, fmt.Sprintf("KV %s missing (want %s at %d)", key, w.Status, w.Sequence))
		case (viewKey{g.SourceEntityID, g.TargetEntityID, string(g.Status), g.Sequence}) != w:
			out = append(out, fmt.Sprintf("KV %s is %s at %d, want %s at %d", key, g.Status, g.Sequence, w.Status, w.Sequence))
		}
	}
	for key := range kv {
		if _, ok := want[key]; !ok {
			out = append(out, fmt.Sprintf("KV %s is there, no event made it", key))
		}
	}
	sort.Strings(out)
	return out
}

// compareList compares one entity's list (one direction, one replica) with the expected
// views.
func compareList(where string, entity string, d projections.Direction, expected map[string]projections.View, got []listItem) []string {
	want := map[string]viewKey{}
	for _, v := range expected {
		if (d == projections.Outbound && v.SourceEntityID == entity) || (d == projections.Inbound && v.TargetEntityID == entity) {
			want[v.ID] = viewKey{v.SourceEntityID, v.TargetEntityID, string(v.Status), 0}
		}
	}
	var out []string
	seen := map[string]bool{}
	for _, it := range got {
		if seen[it.ID] {
			out = append(out, fmt.Sprintf("%s: %s %s lists %s twice", where, entity, d, it.ID))
			continue
		}
		seen[it.ID] = true
		w, ok := want[it.ID]
		switch {
		case !ok:
			out = append(out, fmt.Sprintf("%s: %s %s lists %s (%s), no event made it", where, entity, d, it.ID, it.Status))
		case (viewKey{it.SourceEntityID, it.TargetEntityID, it.Status, 0}) != w:
			out = append(out, fmt.Sprintf("%s: %s %s lists %s as %s %s→%s, want %s", where, entity, d, it.ID, it.Status, it.SourceEntityID, it.TargetEntityID, w.Status))
		}
	}
	for id, w := range want {
		if !seen[id] {
			out = append(out, fmt.Sprintf("%s: %s %s misses %s (%s)", where, entity, d, id, w.Status))
		}
	}
	sort.Strings(out)
	return out
}

// eventLog reads ENTITYCONN_EVENTS incrementally.
type eventLog struct {
	js   jetstream.JetStream
	evs  []storedEvent
	last uint64
}

// catchUp reads every event stored after the last one read, up to the stream's last
// sequence when it is called.
func (l *eventLog) catchUp(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	st, err := l.js.Stream(ctx, events.Stream)
	if err != nil {
		return fmt.Errorf("event stream: %w", err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		return fmt.Errorf("event stream info: %w", err)
	}
	end := info.State.LastSeq
	for l.last < end {
		cons, err := l.js.OrderedConsumer(ctx, events.Stream, jetstream.OrderedConsumerConfig{
			DeliverPolicy: jetstream.DeliverByStartSequencePolicy, OptStartSeq: l.last + 1})
		if err != nil {
			return fmt.Errorf("event stream consumer: %w", err)
		}
		for l.last < end {
			batch, err := cons.Fetch(500, jetstream.FetchMaxWait(2*time.Second))
			if err != nil {
				break
			}
			n := 0
			for m := range batch.Messages() {
				n++
				md, err := m.Metadata()
				if err != nil || md.Sequence.Stream <= l.last {
					continue
				}
				l.last = md.Sequence.Stream
				e := storedEvent{Seq: md.Sequence.Stream, Correlation: m.Headers().Get(events.HeaderCorrelationID), MsgID: m.Headers().Get(events.HeaderMsgID)}
				e.Event, e.Err = events.Decode(m.Data())
				l.evs = append(l.evs, e)
			}
			if batch.Error() != nil || n == 0 {
				break
			}
		}
		if ctx.Err() != nil {
			return errors.New("reading the event stream took over a minute")
		}
	}
	return nil
}

// readKV reads every connection view of ENTITYCONN_VIEWS (key → view).
func readKV(ctx context.Context, js jetstream.JetStream) (map[string]projections.View, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	kv, err := js.KeyValue(ctx, "ENTITYCONN_VIEWS")
	if err != nil {
		return nil, err
	}
	w, err := kv.WatchAll(ctx, jetstream.IgnoreDeletes())
	if err != nil {
		return nil, err
	}
	defer func() { _ = w.Stop() }()
	out := map[string]projections.View{}
	for {
		select {
		case e, ok := <-w.Updates():
			if !ok {
				return nil, errors.New("views watch closed")
			}
			if e == nil {
				return out, nil
			}
			if _, _, _, ok := projections.ParseKey(e.Key()); !ok {
				continue
			}
			var v projections.View
			if err := json.Unmarshal(e.Value(), &v); err != nil {
				return nil, fmt.Errorf("view %s: %w", e.Key(), err)
			}
			out[e.Key()] = v
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// compareLists reads every entity's lists, both directions, from every replica, eight at a
// time, and compares each with the views expected from the log.
func (w *workload) compareLists(ctx context.Context, entities []string, expected map[string]projections.View) []string {
	type job struct {
		r      int
		entity string
		d      projections.Direction
	}
	var jobs []job
	for r := range w.cl.httpURLs {
		for _, e := range entities {
			for _, d := range []projections.Direction{projections.Outbound, projections.Inbound} {
				jobs = append(jobs, job{r, e, d})
			}
		}
	}
	found := make([][]string, len(jobs))
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for i, j := range jobs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			items, err := w.listAll(ctx, j.r, j.entity, string(j.d))
			if err != nil {
				found[i] = []string{err.Error()}
				return
			}
			found[i] = compareList(fmt.Sprintf("r%d", j.r+1), j.entity, j.d, expected, items)
		}()
	}
	wg.Wait()
	var out []string
	for _, f := range found {
		out = append(out, f...)
	}
	return out
}
