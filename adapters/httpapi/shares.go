package httpapi

import (
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/entityconn/entityconn/adapters/app"
	"github.com/entityconn/entityconn/adapters/wire"
	"github.com/entityconn/entityconn/domain"
	"github.com/entityconn/entityconn/projections"
)

// The shared objects of contract §7.

func (s *Server) share(c *call) error {
	return s.shareObject(c, domain.Object{Type: c.r.PathValue("objectType"), ID: c.r.PathValue("objectId")})
}

// shareProduct is Zuora's PUT /v1/catalog/products/{product-id}/share: a share of a Product.
func (s *Server) shareProduct(c *call) error {
	return s.shareObject(c, domain.Object{Type: "Product", ID: c.r.PathValue("productId")})
}

func (s *Server) shareObject(c *call, o domain.Object) error {
	var body struct {
		ToEntityIDs *[]string `json:"toEntityIds"`
	}
	if err := readJSON(c, &body, false); err != nil {
		return err
	}
	if body.ToEntityIDs == nil {
		return errorf(domain.ErrMissingValue, "toEntityIds is required")
	}
	return s.command(c, domain.ShareObject{Object: o, Targets: *body.ToEntityIDs}, succeeded)
}

func (s *Server) unshare(c *call) error {
	var body struct {
		FromEntityIDs *[]string `json:"fromEntityIds"`
	}
	if err := readJSON(c, &body, false); err != nil {
		return err
	}
	if body.FromEntityIDs == nil {
		return errorf(domain.ErrMissingValue, "fromEntityIds is required")
	}
	o := domain.Object{Type: c.r.PathValue("objectType"), ID: c.r.PathValue("objectId")}
	return s.command(c, domain.UnshareObject{Object: o, Targets: *body.FromEntityIDs}, succeeded)
}

func (s *Server) sharedObjects(c *call) error {
	p, err := s.principal(c)
	if err != nil {
		return err
	}
	q := c.r.URL.Query()
	sq, err := parseSharedQuery(q)
	if err != nil {
		return err
	}
	res, err := s.cfg.Service.SharedObjects(c.r.Context(), p, sq)
	if err != nil {
		return err
	}
	out := wire.NewSharedObjects(res)
	if res.More {
		out.NextPage = s.cfg.BaseURL + nextSharedPage(sq)
	}
	return s.ok(c, http.StatusOK, out)
}

// parseSharedQuery reads the parameters of a list of shared objects, with the defaults of a
// list (page 1, 30 a page). The ranges are left to app.Service.SharedObjects.
func parseSharedQuery(q url.Values) (app.SharedQuery, error) {
	sq := app.SharedQuery{Page: 1, PageSize: defaultPageSize, ObjectType: q.Get("objectType")}
	if d := q.Get("direction"); d != "" {
		dir, ok := projections.ParseShareDirection(d)
		if !ok {
			return sq, errorf(domain.ErrInvalidValue, "direction %q must be sharedBy or sharedWith", trunc(d))
		}
		sq.Direction = dir
	}
	var err error
	if sq.Page, err = intParam(q, "page", 1); err != nil {
		return sq, err
	}
	if sq.PageSize, err = intParam(q, "pageSize", defaultPageSize); err != nil {
		return sq, err
	}
	if sq.MinSequence, err = minSequence(q); err != nil {
		return sq, err
	}
	if sq.AsOf, err = asOfParam(q); err != nil {
		return sq, err
	}
	return sq, nil
}

// nextSharedPage is the path and query of the page after sq's.
func nextSharedPage(sq app.SharedQuery) string {
	next := url.Values{}
	switch sq.Direction {
	case projections.SharedBy:
		next.Set("direction", "sharedBy")
	case projections.SharedWith:
		next.Set("direction", "sharedWith")
	}
	if sq.ObjectType != "" {
		next.Set("objectType", sq.ObjectType)
	}
	if !sq.AsOf.IsZero() {
		next.Set("asOf", sq.AsOf.UTC().Format(time.RFC3339Nano))
	}
	next.Set("pageSize", strconv.Itoa(sq.PageSize))
	next.Set("page", strconv.Itoa(sq.Page+1))
	return "/v1/shared-objects?" + next.Encode()
}
