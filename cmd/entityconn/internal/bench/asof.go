package bench

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/google/uuid"

	"github.com/entityconn/entityconn/adapters/app"
	"github.com/entityconn/entityconn/domain"
	"github.com/entityconn/entityconn/projections"
)

// asOfChanged is the share of a sampled entity's outbound connections that are accepted
// before the as-of reads, so that an as-of time before the acceptance must fold their events
// from the log.
const asOfChanged = 5

// benchAsOf measures as-of reads (contract §8) on the stored connections: one connection
// with its history, and one entity's list (both directions), each as of a random time within
// the span the connections were requested over. Before it, a fifth of the outbound
// connections of the sampled entities are accepted, after that span: a list as of a time in
// it folds those connections' events from the log, the others come from the list index.
func benchAsOf(ctx context.Context, st *Stack, entities, samples int, from, to time.Time) ([]benchResult, []projections.View, error) {
	sampled := make([]string, min(samples, 100, entities))
	for i := range sampled {
		sampled[i] = fmt.Sprintf("e%d", rand.IntN(entities))
	}
	var conns, acceptedConns []projections.View
	accepted := 0
	for _, ent := range sampled {
		out := st.Index.List(ent, projections.Outbound)
		for i, v := range out {
			conns = append(conns, v)
			if i%asOfChanged != 0 || v.Status != domain.StatusPending {
				continue
			}
			_, err := st.Service.Execute(ctx, app.Principal{UserID: "bench", EntityID: v.TargetEntityID},
				app.CommandID{Door: app.DoorREST, Key: uuid.NewString()}, domain.AcceptConnection{ConnectionID: v.ID})
			if err != nil {
				return nil, nil, fmt.Errorf("accept %s: %w", v.ID, err)
			}
			accepted++
			acceptedConns = append(acceptedConns, v)
		}
	}
	if len(conns) == 0 {
		return nil, nil, fmt.Errorf("no connections of the sampled entities")
	}
	span := to.Sub(from)
	at := func() time.Time { return from.Add(time.Duration(rand.Int64N(int64(span) + 1))) }

	one := make([]time.Duration, samples)
	for i := range one {
		v := conns[rand.IntN(len(conns))]
		t := time.Now()
		_, err := st.Service.GetAsOf(ctx, app.Principal{UserID: "bench", EntityID: v.SourceEntityID}, v.ID, at())
		if err != nil && !errorsIsNotFound(err) {
			return nil, nil, fmt.Errorf("get as of: %w", err)
		}
		one[i] = time.Since(t)
	}
	// The accepted connections as of now: their two events are read from the log, by
	// sequence; the first read of a message block the server has not read lately loads it.
	var logged []time.Duration
	if len(acceptedConns) > 0 {
		var err error
		if logged, err = asOfFromLog(ctx, st, acceptedConns, samples); err != nil {
			return nil, nil, err
		}
	}
	lists := make([]time.Duration, samples)
	for i := range lists {
		ent := sampled[rand.IntN(len(sampled))]
		t := time.Now()
		if _, err := st.Service.List(ctx, app.Principal{UserID: "bench", EntityID: ent}, app.ListQuery{Page: 1, PageSize: 30, AsOf: at()}); err != nil {
			return nil, nil, fmt.Errorf("list as of: %w", err)
		}
		lists[i] = time.Since(t)
	}
	r1 := benchResult{Phase: "as-of one connection", Ops: samples,
		Note: fmt.Sprintf("a random connection of %d sampled entities, with its history, as of a random time in the %v its connections were requested over: unchanged since its request then, or not requested yet, so the list index answers", len(sampled), span.Round(time.Millisecond))}
	r1.P50Ms, r1.P99Ms = percentiles(one)
	results := []benchResult{r1}
	if logged != nil {
		r := benchResult{Phase: "as-of one connection, from the log", Ops: samples,
			Note: fmt.Sprintf("one of the %d accepted connections as of now, its request and acceptance read from the log by sequence; the first read of one of the server's message blocks (8 MB) since it was last read loads the block whole", len(acceptedConns))}
		r.P50Ms, r.P99Ms = percentiles(logged)
		results = append(results, r)
	}
	r2 := benchResult{Phase: "as-of one entity's list", Ops: samples,
		Note: fmt.Sprintf("a page of one of those entities, both directions, as of such a time; %d of their %d outbound connections accepted since, read from the log", accepted, len(conns))}
	r2.P50Ms, r2.P99Ms = percentiles(lists)
	return append(results, r2), acceptedConns, nil
}

// asOfFromLog reads n random connections of accepted as of now, and returns how long each
// took: their request and acceptance are read from the log by sequence.
func asOfFromLog(ctx context.Context, st *Stack, accepted []projections.View, n int) ([]time.Duration, error) {
	lat := make([]time.Duration, n)
	for i := range lat {
		v := accepted[rand.IntN(len(accepted))]
		t := time.Now()
		d, err := st.Service.GetAsOf(ctx, app.Principal{UserID: "bench", EntityID: v.SourceEntityID}, v.ID, t)
		if err != nil {
			return nil, fmt.Errorf("get as of now: %w", err)
		}
		lat[i] = time.Since(t)
		if len(d.History) != 2 {
			return nil, fmt.Errorf("get as of now: %s has %d events in its history, want its request and acceptance", v.ID, len(d.History))
		}
	}
	return lat, nil
}

// errorsIsNotFound reports whether err says the connection did not exist (yet) at the time.
func errorsIsNotFound(err error) bool { return errors.Is(err, domain.ErrNotFound) }
