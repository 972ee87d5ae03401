// Package restclient is a typed client of entityconn's Zuora-compatible REST API (contract §4,
// the shared objects of §7, and the sharing settings and as-of reads of §8): it fetches and
// caches an OAuth token, sends the Zuora headers, and turns Zuora error bodies into
// [*APIError] values that [errors.Is] matches against this package's sentinels.
//
// A [Client] is safe for concurrent use. It never retries a call on its own except once after
// a 401, with a fresh token; a caller that retries a command should pass the same
// [IdempotencyKey] so that the server replays the first outcome instead of applying it twice.
package restclient

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// The headers of the API.
const (
	headerEntityIDs      = "Zuora-Entity-Ids"
	headerTrackID        = "Zuora-Track-Id"
	headerIdempotencyKey = "Idempotency-Key"
	headerSequence       = "Entityconn-Sequence"
)

const (
	// tokenMargin is how long before its announced expiry a token stops being used, so that
	// it does not expire between the check and the server's.
	tokenMargin = 30 * time.Second
	// maxBody bounds what the client reads of a successful response (a page of at most 300
	// connections is far smaller).
	maxBody = 32 << 20
	// maxErrorBody bounds what the client reads of an error response.
	maxErrorBody = 64 << 10
	// defaultTimeout bounds a call made with the default HTTP client, whatever its context.
	defaultTimeout = time.Minute
)

// Client calls one entityconn server as one user (an OAuth client id and secret), acting in
// one entity if [WithEntity] is given. It is safe for concurrent use; its zero value is not
// usable, build it with [New].
type Client struct {
	base         string // without a trailing slash
	clientID     string
	clientSecret string
	entity       string
	http         *http.Client

	// tokenLock is a mutex that a waiter can give up on when its context ends: it is held
	// while a token is fetched, so that concurrent calls wait for one fetch instead of each
	// asking for a token of its own.
	tokenLock chan struct{}
	token     string    // guarded by tokenLock; "" = none
	tokenEnd  time.Time // guarded by tokenLock; zero = until a 401
	user      string    // guarded by tokenLock; the user a token's scope named, "" = none yet
}

// Option configures a [Client] in [New].
type Option func(*Client)

// WithHTTPClient makes the client send its requests with hc instead of a default client
// whose timeout is one minute.
func WithHTTPClient(hc *http.Client) Option {
	return func(c *Client) {
		if hc != nil {
			c.http = hc
		}
	}
}

// WithEntity makes every /v1 call act in the entity id, sent as the Zuora-Entity-Ids header.
// Without it the server picks the user's only entity, and refuses (ErrMissing) a user who has
// access to several.
func WithEntity(id string) Option {
	return func(c *Client) { c.entity = id }
}

// New returns a client of the server at baseURL (such as "http://127.0.0.1:8080"; a path
// prefix is kept) that authenticates with the OAuth client credentials clientID and
// clientSecret. It does not contact the server: wrong credentials show up as
// [ErrUnauthenticated] on the first call.
func New(baseURL, clientID, clientSecret string, opts ...Option) *Client {
	c := &Client{
		base:         strings.TrimRight(baseURL, "/"),
		clientID:     clientID,
		clientSecret: clientSecret,
		http:         &http.Client{Timeout: defaultTimeout},
		tokenLock:    make(chan struct{}, 1),
	}
	for _, o := range opts {
		o(c)
	}
	return c
}

// CallOption sets a header of one command call.
type CallOption func(*callOptions)

type callOptions struct {
	idempotencyKey string
	trackID        string
}

// IdempotencyKey sends key as the Idempotency-Key header. The server replays the first
// outcome of a POST with the same key for 24 hours; while the first is still in flight it
// answers [ErrConflict], and for the same key with another body or path [ErrInvalid] (HTTP 422).
func IdempotencyKey(key string) CallOption {
	return func(o *callOptions) { o.idempotencyKey = key }
}

// TrackID sends t (at most 64 characters) as the Zuora-Track-Id header, which the server
// echoes and logs; an [*APIError] carries it back.
func TrackID(t string) CallOption {
	return func(o *callOptions) { o.trackID = t }
}

// tokenResponse is the answer of POST /oauth/token.
type tokenResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int64  `json:"expires_in"`
	Scope       string `json:"scope"`
}

// user returns the user the scope names (user.<id>), or "".
func (tr tokenResponse) user() string {
	for _, sc := range strings.Fields(tr.Scope) {
		if u, ok := strings.CutPrefix(sc, "user."); ok {
			return u
		}
	}
	return ""
}

// lockToken takes tokenLock, or gives up when ctx ends.
func (c *Client) lockToken(ctx context.Context) error {
	select {
	case c.tokenLock <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (c *Client) unlockToken() { <-c.tokenLock }

// accessToken returns the cached token, or fetches one if there is none or it is about to
// expire.
func (c *Client) accessToken(ctx context.Context) (string, error) {
	if err := c.lockToken(ctx); err != nil {
		return "", err
	}
	defer c.unlockToken()
	if c.token != "" && (c.tokenEnd.IsZero() || time.Now().Before(c.tokenEnd)) {
		return c.token, nil
	}
	c.token = ""
	started := time.Now()
	tr, err := c.fetchToken(ctx)
	if err != nil {
		return "", err
	}
	if u := tr.user(); u != "" {
		c.user = u
	}
	switch life := time.Duration(tr.ExpiresIn) * time.Second; {
	case tr.ExpiresIn <= 0:
		// No announced lifetime: keep it until the server refuses it.
		c.token, c.tokenEnd = tr.AccessToken, time.Time{}
	case life > tokenMargin:
		// Counted from before the request, so the margin also covers its round trip.
		c.token, c.tokenEnd = tr.AccessToken, started.Add(life-tokenMargin)
	default:
		// Too short-lived to cache: use it for this call only.
	}
	return tr.AccessToken, nil
}

// User returns the id of the client's user, as the scope of its token names it
// (user.<id>), fetching a token if the client has none. It fails with [ErrUnauthenticated]
// for refused credentials, and with an error wrapping no sentinel when the token's scope
// names no user (a server older than the client).
func (c *Client) User(ctx context.Context) (string, error) {
	if err := c.lockToken(ctx); err != nil {
		return "", err
	}
	user := c.user // the client's credentials are those of one user: once known, it stays
	c.unlockToken()
	if user != "" {
		return user, nil
	}
	if _, err := c.accessToken(ctx); err != nil {
		return "", err
	}
	if err := c.lockToken(ctx); err != nil {
		return "", err
	}
	defer c.unlockToken()
	if c.user == "" {
		return "", fmt.Errorf("restclient: the token's scope names no user (user.<id>)")
	}
	return c.user, nil
}

// dropToken forgets tok after the server refused it, unless another call already replaced it.
func (c *Client) dropToken(ctx context.Context, tok string) error {
	if err := c.lockToken(ctx); err != nil {
		return err
	}
	defer c.unlockToken()
	if c.token == tok {
		c.token = ""
	}
	return nil
}

// fetchToken asks POST /oauth/token for a token with the client credentials grant.
func (c *Client) fetchToken(ctx context.Context) (tokenResponse, error) {
	form := url.Values{
		"grant_type":    {"client_credentials"},
		"client_id":     {c.clientID},
		"client_secret": {c.clientSecret},
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+"/oauth/token", strings.NewReader(form.Encode()))
	if err != nil {
		return tokenResponse{}, fmt.Errorf("restclient: token request: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return tokenResponse{}, fmt.Errorf("restclient: token request: %w", err)
	}
	defer resp.Body.Close()
	body, err := readBody(resp)
	if err != nil {
		return tokenResponse{}, fmt.Errorf("restclient: token request: %w", err)
	}
	if resp.StatusCode/100 != 2 {
		return tokenResponse{}, newAPIError(resp.StatusCode, resp.Header, body, "")
	}
	var tr tokenResponse
	if err := json.Unmarshal(body, &tr); err != nil {
		return tokenResponse{}, fmt.Errorf("restclient: token response: %w", err)
	}
	if tr.AccessToken == "" {
		return tokenResponse{}, fmt.Errorf("restclient: token response without access_token")
	}
	if tr.TokenType != "" && !strings.EqualFold(tr.TokenType, "bearer") {
		return tokenResponse{}, fmt.Errorf("restclient: token type %q is not bearer", tr.TokenType)
	}
	return tr, nil
}

// readBody reads a response body up to the limit for its status.
func readBody(resp *http.Response) ([]byte, error) {
	limit := int64(maxBody)
	if resp.StatusCode/100 != 2 {
		limit = maxErrorBody
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read response: %w", err)
	}
	if int64(len(body)) > limit {
		if resp.StatusCode/100 != 2 {
			return body[:limit], nil // enough to explain the error
		}
		return nil, fmt.Errorf("response body over %d bytes", limit)
	}
	return body, nil
}

// do sends one /v1 call, with a fresh token once more if the server answers 401, decodes a
// successful body into out (when out is not nil) and returns the response headers. A non-2xx
// answer is returned as an *APIError.
func (c *Client) do(ctx context.Context, method, target string, reqBody any, co callOptions, out any) (http.Header, error) {
	var payload []byte
	if reqBody != nil {
		var err error
		if payload, err = json.Marshal(reqBody); err != nil {
			return nil, fmt.Errorf("restclient: %s %s: encode request: %w", method, target, err)
		}
	}
	for attempt := 0; ; attempt++ {
		tok, err := c.accessToken(ctx)
		if err != nil {
			return nil, err
		}
		status, header, body, err := c.send(ctx, method, target, payload, tok, co)
		if err != nil {
			return nil, err
		}
		if status == http.StatusUnauthorized && attempt == 0 {
			// The token may have been revoked or the server restarted: one fresh token.
			if err := c.dropToken(ctx, tok); err != nil {
				return nil, err
			}
			continue
		}
		if status/100 != 2 {
			return nil, newAPIError(status, header, body, co.trackID)
		}
		// Zuora's older endpoints answer some errors with 200 and "success": false.
		var env zuoraBody
		if json.Unmarshal(body, &env) == nil && env.Success != nil && !*env.Success {
			return nil, newAPIError(status, header, body, co.trackID)
		}
		if out != nil {
			if err := json.Unmarshal(body, out); err != nil {
				return nil, fmt.Errorf("restclient: %s %s: decode response: %w", method, target, err)
			}
		}
		return header, nil
	}
}

// send makes one HTTP request and reads its answer.
func (c *Client) send(ctx context.Context, method, target string, payload []byte, tok string, co callOptions) (int, http.Header, []byte, error) {
	var body io.Reader
	if payload != nil {
		body = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(ctx, method, target, body)
	if err != nil {
		return 0, nil, nil, fmt.Errorf("restclient: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Accept", "application/json")
	if payload != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.entity != "" {
		req.Header.Set(headerEntityIDs, c.entity)
	}
	if co.idempotencyKey != "" {
		req.Header.Set(headerIdempotencyKey, co.idempotencyKey)
	}
	if co.trackID != "" {
		req.Header.Set(headerTrackID, co.trackID)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, nil, nil, fmt.Errorf("restclient: %w", err) // *url.Error names method and URL
	}
	defer resp.Body.Close()
	data, err := readBody(resp)
	if err != nil {
		return 0, nil, nil, fmt.Errorf("restclient: %s %s: %w", method, target, err)
	}
	return resp.StatusCode, resp.Header, data, nil
}

// sequenceOf reads the Entityconn-Sequence header; 0 when it is absent or not a number.
func sequenceOf(h http.Header) uint64 {
	n, err := strconv.ParseUint(strings.TrimSpace(h.Get(headerSequence)), 10, 64)
	if err != nil {
		return 0
	}
	return n
}
