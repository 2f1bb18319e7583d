package xds

import (
	"container/list"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
)

// TokenReview is what the token authority (the Kubernetes API server's
// TokenReview API) says of a bearer token.
type TokenReview struct {
	Authenticated bool
	// User is the token's user, system:serviceaccount:<ns>:<sa> for a
	// ServiceAccount token.
	User string
	// Audiences are the requested audiences the token is valid for.
	Audiences []string
	// Error is the authority's reason for not authenticating, if any.
	Error string
}

// TokenReviewer asks the token authority about a token, for audiences.
// The error is for a review that could not be made (the authority is
// unreachable), not for a token it refused.
type TokenReviewer interface {
	ReviewToken(ctx context.Context, token string, audiences []string) (TokenReview, error)
}

// TokenOptions configure bearer-token authentication.
type TokenOptions struct {
	// Reviewer checks tokens. Required to accept tokens.
	Reviewer TokenReviewer
	// Audience is the audience a token must be issued for; "" means
	// "meshlite".
	Audience string
	// CacheSize bounds the cached reviews; 0 means 4096. The least
	// recently used goes first.
	CacheSize int
	// CacheTTL is how long an accepted token's review is kept (never past
	// the token's own expiry); 0 means 1m.
	CacheTTL time.Duration
	// NegativeTTL is how long a refused token's review is kept; 0 means
	// 5s.
	NegativeTTL time.Duration
	// ReviewTimeout bounds one review; 0 means 10s.
	ReviewTimeout time.Duration
}

// DefaultAudience is the audience of the ServiceAccount tokens ambassadors
// send (their projected token volume's audience).
const DefaultAudience = "meshlite"

// tokenAuth authenticates bearer tokens through a TokenReviewer, caching
// the verdicts by the token's hash.
type tokenAuth struct {
	opts TokenOptions
	now  func() time.Time

	mu    sync.Mutex
	order *list.List // of *review, most recently used first
	byKey map[[32]byte]*list.Element
}

type review struct {
	key     [32]byte
	id      Identity
	err     error // the refusal, when the token was refused
	expires time.Time
}

// errBadToken is a token the authority refused or that names no
// ServiceAccount.
type errBadToken struct{ msg string }

func (e *errBadToken) Error() string { return "xds: token refused: " + e.msg }

func newTokenAuth(opts TokenOptions) *tokenAuth {
	if opts.Audience == "" {
		opts.Audience = DefaultAudience
	}
	if opts.CacheSize <= 0 {
		opts.CacheSize = 4096
	}
	if opts.CacheTTL <= 0 {
		opts.CacheTTL = time.Minute
	}
	if opts.NegativeTTL <= 0 {
		opts.NegativeTTL = 5 * time.Second
	}
	if opts.ReviewTimeout <= 0 {
		opts.ReviewTimeout = 10 * time.Second
	}
	return &tokenAuth{opts: opts, now: time.Now, order: list.New(), byKey: map[[32]byte]*list.Element{}}
}

// authenticate returns the token's identity, an *errBadToken when it is
// refused, or another error when it could not be reviewed; cached says
// the verdict came from the cache.
func (a *tokenAuth) authenticate(ctx context.Context, token string) (id Identity, cached bool, err error) {
	key := sha256.Sum256([]byte(token))
	if c, ok := a.lookup(key); ok {
		return c.id, true, c.err
	}
	ctx, cancel := context.WithTimeout(ctx, a.opts.ReviewTimeout)
	defer cancel()
	rev, err := a.opts.Reviewer.ReviewToken(ctx, token, []string{a.opts.Audience})
	if err != nil {
		return Identity{}, false, fmt.Errorf("xds: token review: %w", err)
	}
	id, err = a.judge(rev)
	ttl := a.opts.NegativeTTL
	if err == nil {
		ttl = a.opts.CacheTTL
		if exp, ok := tokenExpiry(token); ok {
			ttl = min(ttl, exp.Sub(a.now()))
		}
	}
	if ttl > 0 {
		a.store(&review{key: key, id: id, err: err, expires: a.now().Add(ttl)})
	}
	return id, false, err
}

// judge turns a review into an identity or a refusal.
func (a *tokenAuth) judge(rev TokenReview) (Identity, error) {
	switch {
	case !rev.Authenticated:
		msg := "not authenticated"
		if rev.Error != "" {
			msg += ": " + rev.Error
		}
		return Identity{}, &errBadToken{msg}
	case !slices.Contains(rev.Audiences, a.opts.Audience):
		return Identity{}, &errBadToken{fmt.Sprintf("not issued for audience %q (valid for %q)", a.opts.Audience, rev.Audiences)}
	}
	id, err := tokenIdentity(rev.User)
	if err != nil {
		return Identity{}, &errBadToken{err.Error()}
	}
	return id, nil
}

func (a *tokenAuth) lookup(key [32]byte) (*review, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	e, ok := a.byKey[key]
	if !ok {
		return nil, false
	}
	c := e.Value.(*review)
	if !a.now().Before(c.expires) {
		a.order.Remove(e)
		delete(a.byKey, key)
		return nil, false
	}
	a.order.MoveToFront(e)
	return c, true
}

func (a *tokenAuth) store(c *review) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if e, ok := a.byKey[c.key]; ok {
		a.order.Remove(e)
	}
	a.byKey[c.key] = a.order.PushFront(c)
	for a.order.Len() > a.opts.CacheSize {
		last := a.order.Back()
		a.order.Remove(last)
		delete(a.byKey, last.Value.(*review).key)
	}
}

// cacheLen is the number of cached reviews.
func (a *tokenAuth) cacheLen() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.order.Len()
}

// tokenExpiry reads the exp claim of a JWT without verifying it: it only
// shortens how long a review the authority made is cached.
func tokenExpiry(token string) (time.Time, bool) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return time.Time{}, false
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return time.Time{}, false
	}
	var claims struct {
		Exp *int64 `json:"exp"`
	}
	if err := json.Unmarshal(payload, &claims); err != nil || claims.Exp == nil {
		return time.Time{}, false
	}
	return time.Unix(*claims.Exp, 0), true
}

// bearerToken returns the token of an "authorization: Bearer <token>"
// value.
func bearerToken(values []string) (string, error) {
	if len(values) == 0 {
		return "", nil
	}
	if len(values) > 1 {
		return "", errors.New("more than one authorization header")
	}
	scheme, tok, ok := strings.Cut(values[0], " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(tok) == "" {
		return "", errors.New("authorization is not \"Bearer <token>\"")
	}
	return strings.TrimSpace(tok), nil
}
