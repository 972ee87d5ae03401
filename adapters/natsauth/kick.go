package natsauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// Kicker closes every NATS connection signed in as a user, so that the user's clients sign in
// again and get the permissions the directory gives now (or are refused).
type Kicker interface {
	Kick(ctx context.Context, user string) (int, error)
}

// ServerKicker closes connections on an embedded server.
type ServerKicker struct{ Server *server.Server }

// Kick closes the connections of user on the server and returns how many it closed.
func (k ServerKicker) Kick(_ context.Context, user string) (int, error) {
	cz, err := k.Server.Connz(&server.ConnzOptions{User: user, Limit: 1 << 20})
	if err != nil {
		return 0, err
	}
	n := 0
	for _, c := range cz.Conns {
		if err := k.Server.DisconnectClientByID(c.Cid); err == nil {
			n++
		}
	}
	return n, nil
}

// SystemKicker closes connections on a NATS cluster through its system account: NC must be
// signed in as a system account user. It asks every server for the user's connections
// ($SYS.REQ.SERVER.PING.CONNZ, answers gathered for Wait, 1 s when 0) and has each closed by
// the server that holds it ($SYS.REQ.SERVER.<id>.KICK). A server that does not answer in
// time keeps its connections: Kick then reports how many it closed and no error, since it
// cannot know of them.
type SystemKicker struct {
	NC *nats.Conn
	// Account restricts the search to one account ("" for all).
	Account string
	Wait    time.Duration
}

// Kick closes the connections signed in as user on every server that answers.
func (k SystemKicker) Kick(ctx context.Context, user string) (int, error) {
	wait := k.Wait
	if wait <= 0 {
		wait = time.Second
	}
	req, _ := json.Marshal(map[string]any{"user": user, "acc": k.Account, "auth": true, "limit": 1 << 16})
	inbox := k.NC.NewRespInbox()
	sub, err := k.NC.SubscribeSync(inbox)
	if err != nil {
		return 0, fmt.Errorf("natsauth: connections of %s: %w", user, err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	if err := k.NC.PublishRequest("$SYS.REQ.SERVER.PING.CONNZ", inbox, req); err != nil {
		return 0, fmt.Errorf("natsauth: connections of %s: %w", user, err)
	}
	type conns struct {
		Server struct {
			ID string `json:"id"`
		} `json:"server"`
		Data struct {
			Conns []struct {
				Cid uint64 `json:"cid"`
			} `json:"connections"`
		} `json:"data"`
	}
	var found []conns
	gather, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	for {
		m, err := sub.NextMsgWithContext(gather)
		if err != nil {
			break
		}
		var c conns
		if json.Unmarshal(m.Data, &c) == nil && c.Server.ID != "" {
			found = append(found, c)
		}
	}
	n := 0
	var errs []error
	for _, c := range found {
		for _, conn := range c.Data.Conns {
			body, _ := json.Marshal(server.KickClientReq{CID: conn.Cid})
			rctx, cancel := context.WithTimeout(ctx, wait)
			reply, err := k.NC.RequestWithContext(rctx, "$SYS.REQ.SERVER."+c.Server.ID+".KICK", body)
			cancel()
			var resp struct {
				Error *struct {
					Description string `json:"description"`
				} `json:"error"`
			}
			switch {
			case err != nil:
				errs = append(errs, err)
			case json.Unmarshal(reply.Data, &resp) == nil && resp.Error != nil:
				errs = append(errs, errors.New(resp.Error.Description))
			default:
				n++
			}
		}
	}
	if len(errs) > 0 {
		return n, fmt.Errorf("natsauth: close connections of %s: %w", user, errors.Join(errs...))
	}
	return n, nil
}
