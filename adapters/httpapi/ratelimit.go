package httpapi

import (
	"fmt"
	"math"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/entityconn/entityconn/adapters/zuora"
)

// Limits of POST /oauth/token, per process (each replica counts on its own). Every request
// counts against its remote address; only failed sign-ins (unknown client id or wrong
// secret) count against the client id, so a client that signs in correctly is never
// refused for its own successes, while guessing one client's secret stays slow from any
// number of addresses. Once a client id is over its limit, every request for it is refused
// without checking the secret, including a right one, until the limit refills: the price of
// not letting guesses through.
const (
	TokenRequestsPerSecondPerAddress = 10
	TokenRequestBurstPerAddress      = 20
	FailedSignInsPerSecondPerClient  = 5
	FailedSignInBurstPerClient       = 10
)

// maxLimiterKeys bounds the keys (addresses, client ids) each limiter set remembers, so that
// requests with made-up client ids cannot grow memory without bound.
const maxLimiterKeys = 10_000

// limiterSweepEvery is how often idle limiters are forgotten.
const limiterSweepEvery = time.Minute

// limiters holds a token bucket per key, created on first use and forgotten once it is
// full again (idle: it holds no state a new one would not have). At most maxLimiterKeys are
// kept; when that many are in use at once, arbitrary ones are dropped, which can only make
// the limit more lenient for their keys. Safe for concurrent use.
type limiters struct {
	limit rate.Limit
	burst int

	mu    sync.Mutex
	m     map[string]*rate.Limiter
	swept time.Time
}

func newLimiters(perSecond float64, burst int) *limiters {
	return &limiters{limit: rate.Limit(perSecond), burst: burst, m: map[string]*rate.Limiter{}}
}

// get returns the limiter of key.
func (l *limiters) get(key string, now time.Time) *rate.Limiter {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.swept) >= limiterSweepEvery || len(l.m) >= maxLimiterKeys {
		l.sweep(now)
	}
	lim, ok := l.m[key]
	if !ok {
		lim = rate.NewLimiter(l.limit, l.burst)
		l.m[key] = lim
	}
	return lim
}

// sweep forgets idle limiters and, if still too many remain, arbitrary ones. l.mu is held.
func (l *limiters) sweep(now time.Time) {
	l.swept = now
	for k, lim := range l.m {
		if lim.TokensAt(now) >= float64(l.burst) {
			delete(l.m, k)
		}
	}
	for k := range l.m {
		if len(l.m) < maxLimiterKeys*3/4 {
			break
		}
		delete(l.m, k)
	}
}

// size is the number of keys remembered.
func (l *limiters) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.m)
}

// retryAfter is how long until lim has a token again, in whole seconds, at least 1.
func retryAfter(lim *rate.Limiter, now time.Time) int {
	missing := 1 - lim.TokensAt(now)
	if missing <= 0 || lim.Limit() <= 0 {
		return 1
	}
	return max(1, int(math.Ceil(missing/float64(lim.Limit()))))
}

// tooMany returns an error wrapping zuora.ErrTooManyRequests and sets Retry-After.
func tooMany(c *call, seconds int, what string) error {
	c.w.Header().Set("Retry-After", strconv.Itoa(seconds))
	return fmt.Errorf("%w: %s; retry after %d s", zuora.ErrTooManyRequests, what, seconds)
}

// addressKey is the key of a remote address: the IP, or for IPv6 its /64 network, which one
// subscriber usually holds whole. The address is the connection's, never a forwarded header
// (which the client writes): behind a proxy every client shares the proxy's limit.
func addressKey(remoteAddr string) string {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		host = remoteAddr
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	ip = ip.Unmap()
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.String()
	}
	return ip.String()
}
