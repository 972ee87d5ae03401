package bench

import (
	"context"
	"fmt"
	"io"
	"sync/atomic"

	"github.com/entityconn/entityconn/adapters/app"
	"github.com/entityconn/entityconn/domain"
)

// benchShares measures share commands in-process (contract §7): each shares an object not
// shared before over one of a pool of Connected connections, requested and accepted before
// the phase (not measured), in turn: sixteen per concurrent client, so that a connection's
// next share comes well after its last, as the connection commands each have a pair of their
// own. Its ratio is to the rate of connection commands (in-process, the same run), not to
// raw appends.
func benchShares(ctx context.Context, st *Stack, cfg benchConfig, progress io.Writer, next func() (string, string), connRate float64) (benchResult, error) {
	type pair struct{ src, tgt string }
	pool := make([]pair, min(16*cfg.concurrency, cfg.ops))
	for i := range pool {
		src, tgt := next()
		res, err := st.Service.Execute(ctx, app.Principal{UserID: "bench", EntityID: src}, app.CommandID{}, domain.RequestConnection{Target: tgt})
		if err != nil {
			return benchResult{}, fmt.Errorf("request %s→%s: %w", src, tgt, err)
		}
		if _, err := st.Service.Execute(ctx, app.Principal{UserID: "bench", EntityID: tgt}, app.CommandID{}, domain.AcceptConnection{ConnectionID: res.ConnectionID}); err != nil {
			return benchResult{}, fmt.Errorf("accept %s→%s: %w", src, tgt, err)
		}
		pool[i] = pair{src, tgt}
	}
	var n atomic.Int64
	g0 := groupStats(st)
	l := runLoad(ctx, "entityconn in-process share commands", cfg, progress, func(ctx context.Context) error {
		i := n.Add(1)
		p := pool[int(i)%len(pool)]
		_, err := st.Service.Execute(ctx, app.Principal{UserID: "bench", EntityID: p.src}, app.CommandID{},
			domain.ShareObject{Object: domain.Object{Type: "Product", ID: fmt.Sprintf("P-%d", i)}, Targets: []string{p.tgt}})
		return err
	})
	if l.err != nil {
		return benchResult{}, l.err
	}
	r := l.result(0)
	if connRate > 0 {
		r.Ratio = r.OpsPerSec / connRate
	}
	r.Note = fmt.Sprintf("a new object shared over one of %d Connected connections each; ratio to the in-process connection commands' rate of this run; %s", len(pool), groupNote(g0, groupStats(st)))
	return r, nil
}
