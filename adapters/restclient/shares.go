package restclient

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/entityconn/entityconn/events/contract"
)

// SharedObject is one object shared over a Connected connection (contract §7), as the list
// of shared objects shows it.
type SharedObject = contract.SharedObject

// SharedOptions filters and pages [Client.SharedObjects]. Zero fields are left to the
// server's defaults.
type SharedOptions struct {
	// Direction is "sharedBy" (the objects the acting entity shares), "sharedWith" (those
	// shared with it), or empty for both.
	Direction string
	// ObjectType keeps only objects of this type, such as "Product".
	ObjectType string
	// Page is the page number, from 1.
	Page int
	// PageSize is the number of items per page, at most 300.
	PageSize int
	// MinSequence makes the server answer only once its views include this stream sequence
	// (waiting at most 5 s, then [ErrUnavailable]).
	MinSequence uint64
	// AsOf, when not zero, lists the objects shared as of that instant, from the event log
	// (contract §8); a time in the future fails with [ErrInvalid].
	AsOf time.Time
}

// SharedPage is one page of shared objects, newest share first.
type SharedPage struct {
	Items []SharedObject
	// NextPage is the server's URL of the next page, or empty on the last page.
	NextPage string
}

// Share shares the object (objectType, such as "Product", and objectID) from the acting
// entity with each of targets, at most 50 entities, over their Connected connections
// (PUT /v1/shared-objects/{objectType}/{objectId}/share): with all of them or, if any
// refuses, with none. Sharing an object again is a success that stores nothing. The returned
// Result has the stream sequence of the last event and no connection id. It fails with
// [ErrPermission] unless the user is an admin of the acting entity, [ErrRuleViolation] if a
// target has no Connected connection from the acting entity (the message names it),
// [ErrInvalid] for a malformed type or id, a target named twice or the acting entity itself,
// and [ErrMissing] for an empty type, id or list of targets (without calling the server).
func (c *Client) Share(ctx context.Context, objectType, objectID string, targets []string, opts ...CallOption) (Result, error) {
	return c.objectCommand(ctx, objectType, objectID, "share", contract.ShareRequest{ToEntityIDs: targets}, len(targets), opts)
}

// Unshare stops sharing the object from the acting entity with each of targets: all of them
// or none (PUT /v1/shared-objects/{objectType}/{objectId}/unshare). It fails with
// [ErrRuleViolation] if the object is not shared with one of them (the message names it);
// other errors are as for [Client.Share].
func (c *Client) Unshare(ctx context.Context, objectType, objectID string, targets []string, opts ...CallOption) (Result, error) {
	return c.objectCommand(ctx, objectType, objectID, "unshare", contract.UnshareRequest{FromEntityIDs: targets}, len(targets), opts)
}

func (c *Client) objectCommand(ctx context.Context, objectType, objectID, action string, body any, targets int, opts []CallOption) (Result, error) {
	switch {
	case objectType == "":
		return Result{}, fmt.Errorf("%w: object type is empty", ErrMissing)
	case objectID == "":
		return Result{}, fmt.Errorf("%w: object id is empty", ErrMissing)
	case targets == 0:
		return Result{}, fmt.Errorf("%w: no entity to share with or unshare from", ErrMissing)
	}
	h, err := c.do(ctx, http.MethodPut, c.base+"/v1/shared-objects/"+url.PathEscape(objectType)+"/"+url.PathEscape(objectID)+"/"+action,
		body, collect(opts), nil)
	if err != nil {
		return Result{}, err
	}
	return Result{Sequence: sequenceOf(h)}, nil
}

// SharedObjects returns one page of the objects the acting entity shares and of those shared
// with it (GET /v1/shared-objects). The page's Items is never nil. Any user of the acting
// entity may read it. It fails with [ErrInvalid] for an unknown direction, a malformed object
// type or a page out of range.
func (c *Client) SharedObjects(ctx context.Context, opts SharedOptions) (SharedPage, error) {
	q := url.Values{}
	if opts.Direction != "" {
		q.Set("direction", opts.Direction)
	}
	if opts.ObjectType != "" {
		q.Set("objectType", opts.ObjectType)
	}
	pageParams(q, opts.Page, opts.PageSize, opts.MinSequence, opts.AsOf)
	return c.sharedPage(ctx, c.base+"/v1/shared-objects"+query(q))
}

func (c *Client) sharedPage(ctx context.Context, target string) (SharedPage, error) {
	var out contract.SharedObjects
	if _, err := c.do(ctx, http.MethodGet, target, nil, callOptions{}, &out); err != nil {
		return SharedPage{}, err
	}
	if out.SharedObjects == nil {
		out.SharedObjects = []SharedObject{}
	}
	return SharedPage{Items: out.SharedObjects, NextPage: out.NextPage}, nil
}

// SharedObjectsAll returns every shared object that opts selects, from opts.Page (or the
// first) to the last page, by following each page's nextPage on the client's own base URL,
// as [Client.ListAll] does, and with the same non-guarantee: the pages are not one snapshot.
func (c *Client) SharedObjectsAll(ctx context.Context, opts SharedOptions) ([]SharedObject, error) {
	page, err := c.SharedObjects(ctx, opts)
	if err != nil {
		return nil, err
	}
	return allPages(ctx, c, "/v1/shared-objects", page.Items, page.NextPage, func(ctx context.Context, target string) ([]SharedObject, string, error) {
		p, err := c.sharedPage(ctx, target)
		return p.Items, p.NextPage, err
	})
}
