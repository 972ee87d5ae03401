package natsauth

import (
	"fmt"
	"slices"

	"github.com/nats-io/jwt/v2"

	"github.com/entityconn/entityconn/adapters/natsapi"
	"github.com/entityconn/entityconn/adapters/natsjs"
	"github.com/entityconn/entityconn/domain"
	"github.com/entityconn/entityconn/events"
)

// ErrUnknownUser is returned by [For] for a user id that is not in the directory.
var ErrUnknownUser = fmt.Errorf("%w: no such user", domain.ErrUnauthenticated)

// Rules is one direction of a permission set, in the shape of the NATS server's
// configuration: subjects allowed and subjects denied (a deny wins).
type Rules struct {
	Allow []string `json:"allow,omitempty"`
	Deny  []string `json:"deny,omitempty"`
}

// Permissions is what one directory user may publish and subscribe to on NATS (contract
// §5a), in the shape of a user's "permissions" block of the NATS server's configuration, so
// that operators who run their own NATS authentication can paste it. Responses to requests
// are not allowed (a user serves nothing).
type Permissions struct {
	Publish   Rules `json:"publish"`
	Subscribe Rules `json:"subscribe"`
}

// InboxPrefix is the inbox prefix a user's clients must set (nats.CustomInboxPrefix): replies
// and push-consumer deliveries go there, and no other user may subscribe to it.
func InboxPrefix(userID string) string { return "_INBOX_" + userID }

// viewsStream is the stream behind the views bucket.
const viewsStream = "KV_" + natsjs.BucketViews

// viewKeyPrefixes are the view keys of contract §5 and §7 that start with an entity id.
var viewKeyPrefixes = []string{"outbound", "inbound", "sharedby", "sharedwith"}

// For returns the permissions of user in dir (contract §5a). Per entity E the user can
// access (any role), it may:
//
//   - subscribe to E's events (entityconn.events.E.> and entityconn.events.*.E.>) and to
//     E's outcomes (entityconn.outcomes.E);
//   - create JetStream consumers on ENTITYCONN_EVENTS filtered to those subjects: the filter
//     is a token of the create subject, and the server checks that the consumer's filter
//     equals it, so a consumer without a filter, or with another entity's, is refused;
//   - read E's views (keys outbound.E.*, inbound.E.*, sharedby.E.>, sharedwith.E.>): direct
//     gets whose subject names the key (the body forms name no subject and are refused) and
//     consumers filtered to E's keys (KV watch).
//
// And whatever its entities: publish its own requests and durable commands
// (entityconn.api.<user>.> and entityconn.commands.<user>.>; a service user, any user's),
// discover the micro service ($SRV), bind the views bucket (nats.go's KV reads the stream's
// info), fetch from, acknowledge, flow-control, look up and delete consumers of the two
// streams by name, and receive on its own inbox ([InboxPrefix]). Everything else is
// refused: publishing events, writing, deleting or purging KV keys, reading the directory
// and idempotency buckets, stream and consumer listings, the event stream's info, and any
// other JetStream API call.
//
// Not guaranteed by these subjects (docs/decisions.md, decision 18): a consumer is addressed
// by its name alone once it exists, so a user who knows the name of another's consumer can
// fetch from it or delete it; a durable's name and a push consumer's deliver subject are not
// checked ([ConsumerGuard] deletes, after the fact, those against the rules); and the views
// stream's info, which nats.go's KV needs, can list the bucket's keys (connection ids, no
// content).
//
// It returns [ErrUnknownUser] when user is not in dir. The result is sorted, so that two
// sets compare equal when they allow the same.
func For(dir *domain.Directory, user string) (Permissions, error) {
	u, ok := dir.User(user)
	if !ok {
		return Permissions{}, fmt.Errorf("%w: %q", ErrUnknownUser, user)
	}
	api, commands := natsapi.SubjectPrefix+"."+u.ID+".>", natsapi.CommandPrefix+"."+u.ID+".>"
	if u.Service {
		api, commands = natsapi.SubjectPrefix+".>", natsapi.CommandPrefix+".>"
	}
	pub := []string{
		api, commands,
		// Service discovery (nats micro ls, info, stats).
		"$SRV.PING", "$SRV.INFO", "$SRV.STATS",
		"$SRV.*." + natsapi.ServiceName, "$SRV.*." + natsapi.ServiceName + ".*",
		"$JS.API.INFO",
		"$JS.API.STREAM.INFO." + viewsStream,
	}
	for _, stream := range []string{events.Stream, viewsStream} {
		pub = append(pub,
			"$JS.API.CONSUMER.MSG.NEXT."+stream+".*",
			"$JS.API.CONSUMER.INFO."+stream+".*",
			"$JS.API.CONSUMER.DELETE."+stream+".*",
			// The reply subjects of deliveries carry a timestamp in nanoseconds: another
			// consumer's cannot be guessed.
			"$JS.ACK."+stream+".>",
			"$JS.FC."+stream+".>",
		)
	}
	sub := []string{InboxPrefix(u.ID) + ".>"}
	for _, g := range u.Access {
		e := g.Entity
		for _, filter := range []string{events.SubjectPrefix + "." + e + ".>", events.SubjectPrefix + ".*." + e + ".>"} {
			sub = append(sub, filter)
			pub = append(pub, "$JS.API.CONSUMER.CREATE."+events.Stream+".*."+filter)
		}
		sub = append(sub, natsapi.OutcomePrefix+"."+e)
		for _, p := range viewKeyPrefixes {
			key := "$KV." + natsjs.BucketViews + "." + p + "." + e + ".>"
			pub = append(pub,
				"$JS.API.DIRECT.GET."+viewsStream+"."+key,
				"$JS.API.CONSUMER.CREATE."+viewsStream+".*."+key,
			)
		}
	}
	slices.Sort(pub)
	slices.Sort(sub)
	return Permissions{
		Publish:   Rules{Allow: slices.Compact(pub)},
		Subscribe: Rules{Allow: slices.Compact(sub)},
	}, nil
}

// jwtPermissions returns p as a user JWT carries it.
func (p Permissions) jwtPermissions() jwt.Permissions {
	return jwt.Permissions{
		Pub: jwt.Permission{Allow: slices.Clone(p.Publish.Allow), Deny: slices.Clone(p.Publish.Deny)},
		Sub: jwt.Permission{Allow: slices.Clone(p.Subscribe.Allow), Deny: slices.Clone(p.Subscribe.Deny)},
	}
}

// Equal reports whether p and q allow and deny the same subjects.
func (p Permissions) Equal(q Permissions) bool {
	return slices.Equal(p.Publish.Allow, q.Publish.Allow) && slices.Equal(p.Publish.Deny, q.Publish.Deny) &&
		slices.Equal(p.Subscribe.Allow, q.Subscribe.Allow) && slices.Equal(p.Subscribe.Deny, q.Subscribe.Deny)
}
