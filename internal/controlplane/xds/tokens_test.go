package xds

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

// fakeReviewer answers from a table of tokens and counts the reviews.
type fakeReviewer struct {
	mu      sync.Mutex
	answers map[string]TokenReview
	err     error
	calls   map[string]int
}

func newFakeReviewer(answers map[string]TokenReview) *fakeReviewer {
	return &fakeReviewer{answers: answers, calls: map[string]int{}}
}

func (f *fakeReviewer) ReviewToken(_ context.Context, token string, audiences []string) (TokenReview, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls[token]++
	if f.err != nil {
		return TokenReview{}, f.err
	}
	rev, ok := f.answers[token]
	if !ok {
		return TokenReview{Error: "unknown token"}, nil
	}
	if len(audiences) != 1 || audiences[0] != DefaultAudience {
		return TokenReview{}, fmt.Errorf("asked for audiences %q", audiences)
	}
	return rev, nil
}

func (f *fakeReviewer) count(token string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[token]
}

func saReview(ns, sa string) TokenReview {
	return TokenReview{Authenticated: true, User: "system:serviceaccount:" + ns + ":" + sa, Audiences: []string{DefaultAudience}}
}

// jwt is an unsigned token with an exp claim.
func jwt(exp time.Time) string {
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"none"}`)) + "." + enc(fmt.Appendf(nil, `{"exp":%d}`, exp.Unix())) + ".sig"
}

// clock is a settable time source.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func TestTokenAuthCachesReviews(t *testing.T) {
	c := &clock{t: time.Unix(1_800_000_000, 0)}
	short := jwt(c.t.Add(20 * time.Second)) // expires before the 1m TTL
	rev := newFakeReviewer(map[string]TokenReview{
		"good":  saReview("team-a", "default"),
		short:   saReview("team-a", "default"),
		"wrong": {Authenticated: true, User: "system:serviceaccount:team-a:default", Audiences: nil},
		"user":  {Authenticated: true, User: "alice", Audiences: []string{DefaultAudience}},
	})
	a := newTokenAuth(TokenOptions{Reviewer: rev, CacheSize: 3})
	a.now = c.now
	ctx := context.Background()

	id, cached, err := a.authenticate(ctx, "good")
	if err != nil || cached || id.Namespace != "team-a" {
		t.Fatalf("first review = %+v, cached %v, %v", id, cached, err)
	}
	c.t = c.t.Add(59 * time.Second)
	if id, cached, err = a.authenticate(ctx, "good"); err != nil || !cached || id.Namespace != "team-a" || rev.count("good") != 1 {
		t.Fatalf("within the TTL: %+v, cached %v, %v, %d reviews; want one review", id, cached, err, rev.count("good"))
	}
	c.t = c.t.Add(2 * time.Second)
	if _, cached, _ = a.authenticate(ctx, "good"); cached || rev.count("good") != 2 {
		t.Fatalf("after the TTL the token must be reviewed again (cached %v, %d reviews)", cached, rev.count("good"))
	}

	a.authenticate(ctx, short)
	c.t = c.t.Add(21 * time.Second)
	if _, cached, _ = a.authenticate(ctx, short); cached {
		t.Fatal("a review outlived its token's expiry")
	}

	var bad *errBadToken
	for _, tok := range []string{"wrong", "user", "unknown"} {
		if _, _, err := a.authenticate(ctx, tok); !errors.As(err, &bad) {
			t.Fatalf("token %q: err = %v, want a refusal", tok, err)
		}
	}
	if _, cached, err := a.authenticate(ctx, "unknown"); !cached || !errors.As(err, &bad) {
		t.Fatalf("a refusal is cached briefly: cached %v, %v", cached, err)
	}
	c.t = c.t.Add(6 * time.Second)
	if _, cached, _ := a.authenticate(ctx, "unknown"); cached {
		t.Fatal("a refusal was cached past NegativeTTL")
	}
	if n := a.cacheLen(); n > 3 {
		t.Fatalf("cache holds %d reviews, bound is 3", n)
	}
}

func TestTokenAuthDoesNotCacheFailedReviews(t *testing.T) {
	rev := newFakeReviewer(nil)
	rev.err = errors.New("connection refused")
	a := newTokenAuth(TokenOptions{Reviewer: rev})
	for range 2 {
		_, _, err := a.authenticate(context.Background(), "t")
		var bad *errBadToken
		if err == nil || errors.As(err, &bad) {
			t.Fatalf("err = %v, want a review error (not a refusal)", err)
		}
	}
	if rev.count("t") != 2 {
		t.Fatalf("%d reviews, want 2: a failed review must not be cached", rev.count("t"))
	}
}

func TestTokenAuthEvictsLeastRecentlyUsed(t *testing.T) {
	rev := newFakeReviewer(map[string]TokenReview{"a": saReview("n", "a"), "b": saReview("n", "b"), "c": saReview("n", "c")})
	a := newTokenAuth(TokenOptions{Reviewer: rev, CacheSize: 2})
	ctx := context.Background()
	a.authenticate(ctx, "a")
	a.authenticate(ctx, "b")
	a.authenticate(ctx, "a") // a is now the most recent
	a.authenticate(ctx, "c") // evicts b
	if _, cached, _ := a.authenticate(ctx, "a"); !cached {
		t.Error("a was evicted, want b (least recently used)")
	}
	if _, cached, _ := a.authenticate(ctx, "b"); cached {
		t.Error("b is still cached beyond the bound")
	}
}
