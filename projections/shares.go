package projections

import (
	"cmp"
	"slices"
	"strings"

	"github.com/entityconn/entityconn/domain"
	"github.com/entityconn/entityconn/events"
	"github.com/entityconn/entityconn/events/contract"
)

// Share is one object shared over a Connected connection (contract §7) as the lists show it,
// plus the stream sequence of the ObjectShared event: the value of its two keys in the views
// bucket, sharedby.<source>.<target>.<objectType>.<objectId> and
// sharedwith.<target>.<source>.<objectType>.<objectId>, which are deleted when the share ends.
type Share struct {
	contract.SharedObject
	Sequence uint64 `json:"sequence"`
}

// Object returns the object shared.
func (s Share) Object() domain.Object { return domain.Object{Type: s.ObjectType, ID: s.ObjectID} }

// The two directions of a list of shared objects (contract §7): the objects an entity shares
// (it is the source), and those shared with it (it is the target).
const (
	SharedBy   Direction = "sharedby"
	SharedWith Direction = "sharedwith"
)

// ParseShareDirection returns the direction a REST caller names, sharedBy or sharedWith.
func ParseShareDirection(s string) (Direction, bool) {
	switch s {
	case "sharedBy":
		return SharedBy, true
	case "sharedWith":
		return SharedWith, true
	}
	return "", false
}

// ShareKey returns the key of a share's view for entity in direction d, with other the
// entity on the other side: sharedby.<source>.<target>.<type>.<id> or
// sharedwith.<target>.<source>.<type>.<id>.
func ShareKey(d Direction, entity, other string, o domain.Object) string {
	return string(d) + "." + entity + "." + other + "." + o.Type + "." + o.ID
}

// ShareKeys returns the two keys an event of a shared object changes.
func ShareKeys(e events.Event) [2]string {
	o := domain.Object{Type: e.ObjectType, ID: e.ObjectID}
	return [2]string{
		ShareKey(SharedBy, e.SourceEntityID, e.TargetEntityID, o),
		ShareKey(SharedWith, e.TargetEntityID, e.SourceEntityID, o),
	}
}

// ShareFilter returns the KV key filter of all of entity's shares in direction d.
func ShareFilter(d Direction, entity string) string { return string(d) + "." + entity + ".>" }

// IsShareKey reports whether key is the key of a share's view.
func IsShareKey(key string) bool {
	return strings.HasPrefix(key, string(SharedBy)+".") || strings.HasPrefix(key, string(SharedWith)+".")
}

// ApplyShare returns a share's view after the event e at stream sequence seq: the share it
// starts (ObjectShared) or none (ObjectUnshared: the key is deleted). cur is the stored view,
// if exists. changed is false when the event is already in the view (seq ≤ its sequence) or
// is not an event of a shared object.
func ApplyShare(cur Share, exists bool, seq uint64, e events.Event) (next Share, nextExists, changed bool) {
	if !e.Type.Object() || exists && seq <= cur.Sequence {
		return cur, exists, false
	}
	if e.Type == events.TypeObjectUnshared {
		return Share{}, false, exists
	}
	return Share{SharedObject: contract.SharedObject{ObjectType: e.ObjectType, ObjectID: e.ObjectID,
		SourceEntityID: e.SourceEntityID, TargetEntityID: e.TargetEntityID, ConnectionID: e.ConnectionID,
		SharedAt: e.OccurredAt.UTC(), SharedBy: e.ActorUserID}, Sequence: seq}, true, true
}

// FilterShares keeps the shares of objectType, or all of them when it is "".
func FilterShares(ss []Share, objectType string) []Share {
	if objectType == "" {
		return ss
	}
	out := ss[:0:0]
	for _, s := range ss {
		if s.ObjectType == objectType {
			out = append(out, s)
		}
	}
	return out
}

// SortSharesNewestFirst orders shares newest first, then by the entities and the object, so
// that pages are stable.
func SortSharesNewestFirst(ss []Share) {
	slices.SortFunc(ss, func(a, b Share) int {
		if c := b.SharedAt.Compare(a.SharedAt); c != 0 {
			return c
		}
		return cmp.Or(cmp.Compare(a.SourceEntityID, b.SourceEntityID), cmp.Compare(a.TargetEntityID, b.TargetEntityID),
			cmp.Compare(a.ObjectType, b.ObjectType), cmp.Compare(a.ObjectID, b.ObjectID))
	})
}
