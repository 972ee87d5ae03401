package httpapi

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/entityconn/entityconn/adapters/app"
	"github.com/entityconn/entityconn/adapters/wire"
	"github.com/entityconn/entityconn/domain"
	"github.com/entityconn/entityconn/projections"
)

func errorf(family error, format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{family}, args...)...)
}

// dummyHash is compared against when a client id is unknown, so that the answer takes as
// long as for a wrong secret and does not reveal which client ids exist.
var dummyHash, _ = bcrypt.GenerateFromPassword([]byte("entityconn-no-such-client"), bcrypt.DefaultCost)

// tokenResponse is the OAuth 2.0 token response of contract §4, with Zuora's jti: the
// token's id.
type tokenResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int    `json:"expires_in"`
	Scope       string `json:"scope"`
	JTI         string `json:"jti"`
}

// token answers the client credentials grant, within the limits of
// [TokenRequestsPerSecondPerAddress] and [FailedSignInsPerSecondPerClient]: over them it
// answers 429 with Retry-After.
func (s *Server) token(c *call) error {
	now := s.cfg.Now()
	if lim := s.byAddress.get(addressKey(c.r.RemoteAddr), now); !lim.AllowN(now, 1) {
		return tooMany(c, retryAfter(lim, now), "too many token requests from this address")
	}
	if err := c.r.ParseForm(); err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return errBodyTooLarge
		}
		return errorf(domain.ErrInvalidValue, "form body: %v", err)
	}
	form := c.r.PostForm
	if gt := form.Get("grant_type"); gt != "client_credentials" {
		if gt == "" {
			return errorf(domain.ErrMissingValue, "grant_type is required and must be client_credentials")
		}
		return fmt.Errorf("%w: grant_type %q is not supported: use client_credentials", errUnsupportedGrantType, trunc(gt))
	}
	id, secret := form.Get("client_id"), form.Get("client_secret")
	if bid, bsecret, ok := c.r.BasicAuth(); ok && id == "" {
		id, secret = bid, bsecret
	}
	if id == "" || secret == "" {
		return errorf(domain.ErrMissingValue, "client_id and client_secret are required")
	}
	// The same key for known and unknown client ids, so that the limit does not tell them
	// apart; hashed, so that long made-up ids cost no more memory than short ones.
	clientKey := sha256.Sum256([]byte(id))
	failures := s.byClient.get(string(clientKey[:]), now)
	if failures.TokensAt(now) < 1 {
		return tooMany(c, retryAfter(failures, now), "too many failed sign-ins for this client")
	}
	dir := s.cfg.Directory.Current()
	if dir == nil {
		return errorf(app.ErrUnavailable, "no directory loaded")
	}
	u, found := dir.UserByClientID(id)
	hash := dummyHash
	if found {
		hash = []byte(u.SecretHash)
	}
	if err := bcrypt.CompareHashAndPassword(hash, []byte(secret)); err != nil || !found {
		// Reserve rather than Allow: concurrent failures all count, even into debt.
		failures.ReserveN(now, 1)
		return errorf(domain.ErrUnauthenticated, "invalid client credentials")
	}
	var restrict []string
	if scope := strings.TrimSpace(form.Get("scope")); scope != "" {
		for _, sc := range strings.Fields(scope) {
			if sc == userScope(u.ID) {
				continue // the scope a token is issued with names its user: asking for it changes nothing
			}
			e, ok := strings.CutPrefix(sc, "entity.")
			if _, has := dir.RoleOf(u.ID, e); !ok || !has {
				return fmt.Errorf("%w: %q: the client has no access to it (scopes are entity.<id>)", errInvalidScope, trunc(sc))
			}
			restrict = append(restrict, e)
		}
	}
	scopes := []string{userScope(u.ID)}
	for _, g := range u.Access {
		if len(restrict) == 0 || (Claims{Entities: restrict}).Allows(g.Entity) {
			scopes = append(scopes, "entity."+g.Entity)
		}
	}
	c.w.Header().Set("Cache-Control", "no-store")
	token, claims := s.cfg.Tokens.Grant(u.ID, restrict)
	return s.ok(c, http.StatusOK, tokenResponse{
		AccessToken: token,
		TokenType:   "bearer",
		ExpiresIn:   int(TokenTTL / time.Second),
		Scope:       strings.Join(scopes, " "),
		JTI:         claims.ID,
	})
}

// userScope is the scope that names a token's user, first in the scope of a token response,
// as Zuora's token responses name theirs (user.<id>): it tells a client which user it is,
// for GET /v1/users/{username}/accessible-entities.
func userScope(user string) string { return "user." + user }

// entities answers the tenant's whole hierarchy in Zuora's shape, to any user of the
// directory. Zuora's query parameter provisioned picks the provisioned entities (true) or
// the others (false): every entity of the directory is provisioned.
func (s *Server) entities(c *call) error {
	tenant, all, err := s.cfg.Service.Hierarchy(c.claims.User)
	if err != nil {
		return err
	}
	switch p := c.r.URL.Query().Get("provisioned"); p {
	case "", "true":
	case "false":
		all = nil
	default:
		return errorf(domain.ErrInvalidValue, "provisioned %q must be true or false", trunc(p))
	}
	return s.ok(c, http.StatusOK, wire.NewEntities(tenant, all))
}

// accessibleEntities answers the entities a user can access, with its role in each: the
// caller's own (those its token is valid for, when the token is restricted by scope), or,
// for an admin of an entity the token is valid for, anyone's.
func (s *Server) accessibleEntities(c *call) error {
	user := c.r.PathValue("username")
	tenant, access, err := s.cfg.Service.AccessibleEntities(c.claims.User, user, c.claims.Allows)
	if err != nil {
		return err
	}
	if user == c.claims.User {
		access = slices.DeleteFunc(access, func(a app.EntityAccess) bool { return !c.claims.Allows(a.ID) })
	}
	return s.ok(c, http.StatusOK, wire.NewAccessibleEntities(tenant, access))
}

func (s *Server) request(c *call) error {
	var body struct {
		TargetEntityID *string `json:"targetEntityId"`
	}
	if err := readJSON(c, &body, false); err != nil {
		return err
	}
	if body.TargetEntityID == nil {
		return errorf(domain.ErrMissingValue, "targetEntityId is required")
	}
	return s.command(c, domain.RequestConnection{Target: *body.TargetEntityID}, func(r app.Result) any {
		return wire.Requested{ID: r.ConnectionID, Status: string(r.Status), Success: true}
	})
}

func (s *Server) accept(c *call) error {
	if err := readJSON(c, &struct{}{}, true); err != nil {
		return err
	}
	return s.command(c, domain.AcceptConnection{ConnectionID: c.r.PathValue("id")}, succeeded)
}

func (s *Server) cancel(c *call) error {
	if err := readJSON(c, &struct{}{}, true); err != nil {
		return err
	}
	return s.command(c, domain.CancelConnection{ConnectionID: c.r.PathValue("id")}, succeeded)
}

type reasonBody struct {
	Reason string `json:"reason"`
}

func (s *Server) deny(c *call) error {
	var body reasonBody
	if err := readJSON(c, &body, true); err != nil {
		return err
	}
	return s.command(c, domain.DenyConnection{ConnectionID: c.r.PathValue("id"), Reason: body.Reason}, succeeded)
}

func (s *Server) disconnect(c *call) error {
	var body reasonBody
	if err := readJSON(c, &body, true); err != nil {
		return err
	}
	return s.command(c, domain.DisconnectConnection{ConnectionID: c.r.PathValue("id"), Reason: body.Reason}, succeeded)
}

func succeeded(app.Result) any { return wire.Done{Success: true} }

// command runs cmd for the caller. With an Idempotency-Key, the service records the key's
// first outcome and replays it for 24 h (rule 5), except "unavailable" outcomes, which a
// retry may change; a replayed answer carries Idempotent-Replayed: true.
func (s *Server) command(c *call, cmd domain.Command, body func(app.Result) any) error {
	p, err := s.principal(c)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(c.r.Context(), app.CommandTimeout)
	defer cancel()
	if t := c.r.Header.Get(HeaderTrackID); t != "" {
		ctx = app.WithCorrelationID(ctx, t)
	}
	key := c.r.Header.Get(HeaderIdempotencyKey)
	if key != "" && (len(key) > maxIdempotencyKeyLen || !printable(key)) {
		return errorf(domain.ErrInvalidValue, "%s must be 1 to %d printable ASCII characters", HeaderIdempotencyKey, maxIdempotencyKeyLen)
	}
	res, err := s.cfg.Service.Execute(ctx, p, app.CommandID{Door: app.DoorREST, Key: key}, cmd)
	if res.FromRecord || app.IsRecorded(err) {
		c.w.Header().Set(HeaderReplayed, "true")
	}
	if err != nil {
		return err
	}
	c.w.Header().Set(HeaderSequence, strconv.FormatUint(res.Sequence, 10))
	return s.ok(c, http.StatusOK, body(res))
}

func (s *Server) list(c *call) error {
	p, err := s.principal(c)
	if err != nil {
		return err
	}
	q := c.r.URL.Query()
	lq, err := parseListQuery(q)
	if err != nil {
		return err
	}
	res, err := s.cfg.Service.List(c.r.Context(), p, lq)
	if err != nil {
		return err
	}
	out := wire.NewList(res)
	if res.More {
		out.NextPage = s.cfg.BaseURL + nextPage(lq)
	}
	return s.ok(c, http.StatusOK, out)
}

// nextPage is the path and query of the page after lq's: only the list's own parameters, as
// parsed (never what the client wrote, nor minSequence, which the next page does not need).
func nextPage(lq app.ListQuery) string {
	next := url.Values{}
	if lq.Direction != "" {
		next.Set("type", string(lq.Direction))
	}
	if lq.Status != domain.StatusNone {
		next.Set("status", string(lq.Status))
	}
	if !lq.AsOf.IsZero() {
		next.Set("asOf", lq.AsOf.UTC().Format(time.RFC3339Nano))
	}
	next.Set("pageSize", strconv.Itoa(lq.PageSize))
	next.Set("page", strconv.Itoa(lq.Page+1))
	return "/v1/entity-connections?" + next.Encode()
}

// parseListQuery reads the list parameters of contract §4 from q, with their defaults (page 1,
// 30 a page). Errors wrap domain.ErrInvalidValue and name the parameter. The ranges of page
// and pageSize are left to app.ListQuery.Validate, which every door's list goes through.
func parseListQuery(q url.Values) (app.ListQuery, error) {
	lq := app.ListQuery{Page: 1, PageSize: defaultPageSize}
	switch t := q.Get("type"); strings.ToLower(t) {
	case "":
	case "outbound":
		lq.Direction = projections.Outbound
	case "inbound":
		lq.Direction = projections.Inbound
	default:
		return lq, errorf(domain.ErrInvalidValue, "type %q must be outbound or inbound", trunc(t))
	}
	if st := q.Get("status"); st != "" {
		for _, known := range domain.Statuses {
			if strings.EqualFold(st, string(known)) {
				lq.Status = known
			}
		}
		if lq.Status == domain.StatusNone {
			if _, err := domain.ParseStatus(trunc(st)); err != nil {
				return lq, err
			}
		}
	}
	var err error
	if lq.Page, err = intParam(q, "page", 1); err != nil {
		return lq, err
	}
	if lq.PageSize, err = intParam(q, "pageSize", defaultPageSize); err != nil {
		return lq, err
	}
	if lq.MinSequence, err = minSequence(q); err != nil {
		return lq, err
	}
	if lq.AsOf, err = asOfParam(q); err != nil {
		return lq, err
	}
	return lq, nil
}

// asOfParam reads the asOf parameter of contract §8: an RFC 3339 time, or none (zero).
func asOfParam(q url.Values) (time.Time, error) {
	v := q.Get("asOf")
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, errorf(domain.ErrInvalidValue, "asOf %q is not an RFC 3339 time such as 2026-10-31T00:00:00Z", trunc(v))
	}
	return t, nil
}

func (s *Server) get(c *call) error {
	p, err := s.principal(c)
	if err != nil {
		return err
	}
	minSeq, err := minSequence(c.r.URL.Query())
	if err != nil {
		return err
	}
	asOf, err := asOfParam(c.r.URL.Query())
	if err != nil {
		return err
	}
	var d app.Detail
	if asOf.IsZero() {
		d, err = s.cfg.Service.Get(c.r.Context(), p, c.r.PathValue("id"), minSeq)
	} else {
		d, err = s.cfg.Service.GetAsOf(c.r.Context(), p, c.r.PathValue("id"), asOf)
	}
	if err != nil {
		return err
	}
	return s.ok(c, http.StatusOK, wire.NewDetail(d))
}

func intParam(q url.Values, name string, def int) (int, error) {
	v := q.Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, errorf(domain.ErrInvalidValue, "%s %q is not a whole number", name, trunc(v))
	}
	return n, nil
}

func minSequence(q url.Values) (uint64, error) {
	v := q.Get("minSequence")
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return 0, errorf(domain.ErrInvalidValue, "minSequence %q is not a stream sequence", trunc(v))
	}
	return n, nil
}

// CheckBaseURL checks a base URL for [Config.BaseURL]: absolute http or https, with a host
// and nothing after the path. It returns it without a trailing slash.
func CheckBaseURL(base string) (string, error) {
	u, err := url.Parse(base)
	switch {
	case err != nil:
		return "", fmt.Errorf("base URL %q: %w", base, err)
	case u.Scheme != "http" && u.Scheme != "https", u.Host == "":
		return "", fmt.Errorf("base URL %q: want an absolute http or https URL", base)
	case u.User != nil, u.RawQuery != "", u.ForceQuery, u.Fragment != "":
		return "", fmt.Errorf("base URL %q: want no user, query or fragment", base)
	}
	return strings.TrimRight(base, "/"), nil
}
