// Package httpapi serves entityconn's Zuora-compatible REST API (contract §4), its health,
// readiness and metrics endpoints, its OpenAPI description and, when given one, the web page.
package httpapi

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/entityconn/entityconn/adapters/app"
	"github.com/entityconn/entityconn/adapters/telemetry"
	"github.com/entityconn/entityconn/adapters/zuora"
	"github.com/entityconn/entityconn/domain"
)

// MaxBodyBytes bounds request bodies (contract §4): larger ones get 413.
const MaxBodyBytes = 64 << 10

// MaxTrackIDLength bounds Zuora-Track-Id (contract §4).
const MaxTrackIDLength = 64

// Headers this API reads or writes.
const (
	HeaderEntityIDs      = "Zuora-Entity-Ids"
	HeaderTrackID        = "Zuora-Track-Id"
	HeaderRequestID      = "Zuora-Request-Id"
	HeaderIdempotencyKey = "Idempotency-Key"
	HeaderReplayed       = "Idempotent-Replayed"
	HeaderSequence       = "Entityconn-Sequence"
	maxIdempotencyKeyLen = 255
	contentTypeJSON      = "application/json; charset=utf-8"
	defaultPageSize      = 30
)

//go:embed openapi.yaml
var openAPI []byte

// Config holds what the API works with. Service, Tokens and Directory are required.
type Config struct {
	Service   *app.Service
	Tokens    *Tokens
	Directory app.Directory
	Metrics   *telemetry.Metrics
	Log       *slog.Logger
	// Ready reports whether the service can take traffic (/readyz); nil means always.
	Ready func(context.Context) error
	// UI, when set, serves the web page and its assets under /.
	UI http.Handler
	// Now is the API's clock (rate limits); nil means time.Now. Tokens have their own.
	Now func() time.Time
	// BaseURL, when set, makes nextPage links absolute: the service's public URL, such as
	// https://api.example.com (see CheckBaseURL). When empty they are relative (path and
	// query): a link is never built from the request's Host or forwarded headers, which the
	// client writes.
	BaseURL string
}

// Server is the HTTP handler of the API. Safe for concurrent use.
type Server struct {
	cfg Config
	mux *http.ServeMux
	// closing is closed by CloseStreams: open change streams end.
	closing     chan struct{}
	closingOnce sync.Once
	// byAddress and byClient limit POST /oauth/token.
	byAddress, byClient *limiters
	// streams counts the open change streams per user.
	streams streamCounts
}

// CloseStreams ends the open change streams, which would otherwise keep a graceful shutdown
// waiting. Register it with http.Server.RegisterOnShutdown.
func (s *Server) CloseStreams() { s.closingOnce.Do(func() { close(s.closing) }) }

// contextUntil returns a context that ends with parent or when closing is closed.
func contextUntil(parent context.Context, closing <-chan struct{}) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(parent)
	go func() {
		select {
		case <-closing:
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, cancel
}

// Route is one endpoint of the API, as registered and as the OpenAPI document must describe it.
type Route struct {
	Method string
	Path   string // in OpenAPI form, e.g. /v1/entity-connections/{id}
	auth   bool   // needs a bearer token
	// limited is true for a route that may answer 429 (a rate limit or a cap).
	limited bool
	handle  func(*Server, *call) error
	// under names a pattern whose 405 fallback also covers this path (a literal path below a
	// wildcard one cannot have a method-less pattern of its own).
	under string
	// oauth is true for the token endpoint, whose errors carry OAuth 2.0's fields too.
	oauth bool
}

// Routes returns the API's endpoints (without the web page).
func Routes() []Route {
	return []Route{
		{Method: "POST", Path: "/oauth/token", handle: (*Server).token, limited: true, oauth: true},
		{Method: "GET", Path: "/v1/entities", auth: true, handle: (*Server).entities},
		{Method: "GET", Path: "/v1/users/{username}/accessible-entities", auth: true, handle: (*Server).accessibleEntities},
		{Method: "POST", Path: "/v1/entity-connections", auth: true, handle: (*Server).request},
		{Method: "GET", Path: "/v1/entity-connections", auth: true, handle: (*Server).list},
		{Method: "GET", Path: "/v1/entity-connections/{id}", auth: true, handle: (*Server).get},
		{Method: "GET", Path: "/v1/entity-connections/changes", auth: true, handle: (*Server).changes, under: "/v1/entity-connections/{id}", limited: true},
		{Method: "PUT", Path: "/v1/entity-connections/{id}/accept", auth: true, handle: (*Server).accept},
		{Method: "PUT", Path: "/v1/entity-connections/{id}/deny", auth: true, handle: (*Server).deny},
		{Method: "PUT", Path: "/v1/entity-connections/{id}/cancel", auth: true, handle: (*Server).cancel},
		{Method: "PUT", Path: "/v1/entity-connections/{id}/disconnect", auth: true, handle: (*Server).disconnect},
		{Method: "PUT", Path: "/v1/shared-objects/{objectType}/{objectId}/share", auth: true, handle: (*Server).share},
		{Method: "PUT", Path: "/v1/shared-objects/{objectType}/{objectId}/unshare", auth: true, handle: (*Server).unshare},
		{Method: "PUT", Path: "/v1/catalog/products/{productId}/share", auth: true, handle: (*Server).shareProduct},
		{Method: "GET", Path: "/v1/shared-objects", auth: true, handle: (*Server).sharedObjects},
		{Method: "GET", Path: "/v1/entity-sharing-settings", auth: true, handle: (*Server).sharingSettings},
		{Method: "PUT", Path: "/v1/entity-sharing-settings", auth: true, handle: (*Server).changeSharingSettings},
		{Method: "GET", Path: "/healthz", handle: (*Server).healthz},
		{Method: "GET", Path: "/readyz", handle: (*Server).readyz},
		{Method: "GET", Path: "/metrics"},
		{Method: "GET", Path: "/openapi.yaml", handle: (*Server).openapi},
	}
}

// New returns the API handler.
func New(cfg Config) *Server {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	cfg.BaseURL = strings.TrimRight(cfg.BaseURL, "/")
	s := &Server{cfg: cfg, mux: http.NewServeMux(), closing: make(chan struct{}),
		byAddress: newLimiters(TokenRequestsPerSecondPerAddress, TokenRequestBurstPerAddress),
		byClient:  newLimiters(FailedSignInsPerSecondPerClient, FailedSignInBurstPerClient),
	}
	paths := map[string]bool{}
	for _, rt := range Routes() {
		pattern := rt.Method + " " + rt.Path
		if rt.Path == "/metrics" {
			var h http.Handler = http.NotFoundHandler()
			if cfg.Metrics != nil {
				h = promhttp.HandlerFor(cfg.Metrics.Registry, promhttp.HandlerOpts{})
			}
			s.mux.Handle(pattern, s.instrument(pattern, h))
			continue
		}
		s.mux.Handle(pattern, s.endpoint(pattern, rt))
		if !paths[rt.Path] && rt.under == "" {
			paths[rt.Path] = true
			s.mux.Handle(rt.Path, s.endpoint(rt.Path, Route{handle: (*Server).methodNotAllowed}))
		}
	}
	if cfg.UI != nil {
		// Method-less: a "GET /" pattern would conflict with the method-less 405 patterns of
		// the API's paths. The UI answers other methods with 405 itself.
		s.mux.Handle("/", s.instrument("/", cfg.UI))
	}
	s.mux.Handle("/v1/", s.endpoint("/v1/", Route{handle: (*Server).notFound}))
	return s
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// call is one request in flight.
type call struct {
	w         http.ResponseWriter
	r         *http.Request
	processID string
	claims    Claims
	status    int
	wrote     bool
	oauth     bool // answer errors with OAuthErrorBody
}

func (s *Server) endpoint(pattern string, rt Route) http.Handler {
	return s.instrument(pattern, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := &call{w: w, r: r, processID: zuora.NewRequestID(), oauth: rt.oauth}
		w.Header().Set(HeaderRequestID, c.processID)
		defer func() {
			if p := recover(); p != nil {
				s.cfg.Log.Error("http: panic", "pattern", pattern, "panic", p)
				if !c.wrote {
					s.fail(c, errors.New("internal error"))
				}
			}
		}()
		if err := s.prepare(c, rt.auth); err != nil {
			s.fail(c, err)
			return
		}
		if err := rt.handle(s, c); err != nil {
			s.fail(c, err)
		}
	}))
}

// prepare checks what every call must have: a sane track id, a body within bounds and, for
// the /v1 API, a valid token.
func (s *Server) prepare(c *call, auth bool) error {
	if t := c.r.Header.Get(HeaderTrackID); t != "" {
		if len(t) > MaxTrackIDLength || !printable(t) {
			return errorf(domain.ErrInvalidValue, "%s must be at most %d printable ASCII characters", HeaderTrackID, MaxTrackIDLength)
		}
		c.w.Header().Set(HeaderTrackID, t)
	}
	if c.r.ContentLength > MaxBodyBytes {
		return errBodyTooLarge
	}
	c.r.Body = http.MaxBytesReader(c.w, c.r.Body, MaxBodyBytes)
	if !auth {
		return nil
	}
	h := c.r.Header.Get("Authorization")
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return errorf(domain.ErrUnauthenticated, "an Authorization: Bearer <token> header is required (get a token from POST /oauth/token)")
	}
	claims, err := s.cfg.Tokens.Verify(strings.TrimSpace(token))
	if err != nil {
		return err
	}
	c.claims = claims
	return nil
}

// principal resolves the acting entity of an authenticated call from Zuora-Entity-Ids, or,
// when the header is absent, the user's only entity.
func (s *Server) principal(c *call) (app.Principal, error) {
	p := app.Principal{UserID: c.claims.User}
	h := strings.TrimSpace(c.r.Header.Get(HeaderEntityIDs))
	if h == "" {
		all, err := s.cfg.Service.Entities(p.UserID)
		if err != nil {
			return p, err
		}
		var allowed []string
		for _, e := range all {
			if c.claims.Allows(e.ID) {
				allowed = append(allowed, e.ID)
			}
		}
		if len(allowed) != 1 {
			return p, errorf(domain.ErrMissingValue, "%s is required when the user has access to more than one entity", HeaderEntityIDs)
		}
		p.EntityID = allowed[0]
		return p, nil
	}
	ids := strings.Split(h, ",")
	for i := range ids {
		ids[i] = strings.TrimSpace(ids[i])
	}
	for _, id := range ids[1:] {
		if id != ids[0] {
			return p, errorf(domain.ErrInvalidValue, "%s must name exactly one entity", HeaderEntityIDs)
		}
	}
	p.EntityID = ids[0]
	if !c.claims.Allows(p.EntityID) {
		return p, errorf(domain.ErrPermission, "the access token is not valid for entity %q", trunc(p.EntityID))
	}
	return p, nil
}

// readJSON decodes the request body into v with [zuora.DecodeJSON]: an unknown field is
// category 21, a body that is not one JSON object category 90. A body of another
// Content-Type than JSON ([checkContentType]) is 415, category 90. An empty body leaves v
// as it is when optional is true, and is a missing value (22) otherwise.
func readJSON(c *call, v any, optional bool) error {
	data, err := io.ReadAll(c.r.Body)
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return errBodyTooLarge
		}
		return errorf(domain.ErrInvalidValue, "reading the request body: %v", err)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		if optional {
			return nil
		}
		return errorf(domain.ErrMissingValue, "a JSON request body is required")
	}
	if err := checkContentType(c.r.Header.Get("Content-Type")); err != nil {
		return err
	}
	return zuora.DecodeJSON(data, v)
}

// checkContentType accepts the Content-Type of a JSON request body: application/json, with
// no parameter but charset=utf-8 (JSON is UTF-8, RFC 8259), or none at all, the body then
// being read as JSON. Anything else, application/x-www-form-urlencoded (what curl -d sends
// unless told otherwise) included, wraps [zuora.ErrUnsupportedMediaType] (415, category 90).
func checkContentType(ct string) error {
	if strings.TrimSpace(ct) == "" {
		return nil
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil {
		return fmt.Errorf("%w: Content-Type %q: %v; send the body as application/json", zuora.ErrUnsupportedMediaType, trunc(ct), err)
	}
	if mt != "application/json" {
		return fmt.Errorf("%w: Content-Type %q; send the body as application/json", zuora.ErrUnsupportedMediaType, trunc(mt))
	}
	for k, v := range params {
		if k != "charset" || !strings.EqualFold(v, "utf-8") {
			return fmt.Errorf("%w: Content-Type parameter %s=%q; JSON is sent as UTF-8, with at most charset=utf-8", zuora.ErrUnsupportedMediaType, trunc(k), trunc(v))
		}
	}
	return nil
}

// ok writes a successful JSON response.
func (s *Server) ok(c *call, status int, body any) error {
	data, err := json.Marshal(body)
	if err != nil {
		return err
	}
	s.write(c, status, data)
	return nil
}

func (s *Server) write(c *call, status int, data []byte) {
	c.w.Header().Set("Content-Type", contentTypeJSON)
	if status == http.StatusServiceUnavailable && c.w.Header().Get("Retry-After") == "" {
		c.w.Header().Set("Retry-After", strconv.Itoa(zuora.RetryAfter))
	}
	c.w.WriteHeader(status)
	c.wrote, c.status = true, status
	_, _ = c.w.Write(append(data, '\n'))
}

// fail writes err as a Zuora error body with the status of its family; on the token
// endpoint, with OAuth 2.0's fields too (OAuthErrorBody).
func (s *Server) fail(c *call, err error) {
	status, data := s.errorResponse(c, err)
	if status == http.StatusUnauthorized {
		scheme := "Bearer"
		if c.oauth {
			scheme = "Basic" // the client authenticates itself to the token endpoint
		}
		c.w.Header().Set("WWW-Authenticate", scheme+` realm="entityconn"`)
	}
	s.write(c, status, data)
}

func (s *Server) errorResponse(c *call, err error) (int, []byte) {
	status, body := zuora.Error(c.processID, err)
	switch {
	case status == http.StatusInternalServerError:
		s.cfg.Log.Error("http: internal error", "processId", c.processID, "err", err)
	case status == http.StatusServiceUnavailable:
		s.cfg.Log.Warn("http: unavailable", "processId", c.processID, "err", err)
	}
	if c.oauth {
		data, _ := json.Marshal(OAuthErrorBody{Error: oauthError(err, status), Description: body.Reasons[0].Message, ErrorBody: body})
		return status, data
	}
	data, _ := json.Marshal(body)
	return status, data
}

func (s *Server) notFound(c *call) error {
	return errorf(domain.ErrNotFound, "no endpoint %s %s", c.r.Method, c.r.URL.Path)
}

var errMethod = errors.New("method not allowed")

func (s *Server) methodNotAllowed(c *call) error {
	data, _ := json.Marshal(ErrorBody{ProcessID: c.processID, Reasons: []Reason{{Code: zuora.CodeBase + zuora.CategoryUnsupported, Message: errMethod.Error() + ": " + c.r.Method + " " + c.r.URL.Path}}})
	s.write(c, http.StatusMethodNotAllowed, data)
	return nil
}

func (s *Server) healthz(c *call) error {
	return s.ok(c, http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) readyz(c *call) error {
	if s.cfg.Ready != nil {
		ctx, cancel := context.WithTimeout(c.r.Context(), 2*time.Second)
		defer cancel()
		if err := s.cfg.Ready(ctx); err != nil {
			return s.ok(c, http.StatusServiceUnavailable, map[string]string{"status": "not ready", "reason": err.Error()})
		}
	}
	return s.ok(c, http.StatusOK, map[string]string{"status": "ready"})
}

func (s *Server) openapi(c *call) error {
	c.w.Header().Set("Content-Type", "application/yaml")
	c.wrote, c.status = true, http.StatusOK
	_, err := c.w.Write(openAPI)
	return err
}

// instrument records metrics and a debug log line per request.
func (s *Server) instrument(pattern string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		h.ServeHTTP(sw, r)
		s.cfg.Metrics.HTTP(pattern, statusText(sw.status), time.Since(start))
		s.cfg.Log.Debug("http", "method", r.Method, "path", r.URL.Path, "status", sw.status, "duration", time.Since(start))
	})
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(status int) {
	w.status = status
	w.ResponseWriter.WriteHeader(status)
}

// Flush lets server-sent events through the wrapper.
func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func statusText(code int) string {
	const digits = "0123456789"
	return string([]byte{digits[code/100%10], digits[code/10%10], digits[code%10]})
}

func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

func trunc(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}
