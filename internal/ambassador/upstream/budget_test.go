package upstream

import (
	"context"
	"testing"
	"time"

	"github.com/meshlite/meshlite/pkg/routes"
)

func TestBudgetStopsRetries(t *testing.T) {
	rec := &recorder{script: statuses(503)}
	srv, ep := newUpstream(t, rec)
	// No refill: the bucket holds 1 token, each call adds 0.25.
	tr := newTestTransport(t, Options{BudgetRatio: 0.25, BudgetPerSecond: -1})
	want := []int{2, 1, 1, 1, 2}
	for i, w := range want {
		tg := targetFor("svc.test", Retry{Attempts: 3, On: routes.RetryOn{GatewayError: true}}, ep)
		res, _, err := send(t, tr, context.Background(), "GET", srv.URL+"/", nil, tg)
		if err != nil || res.StatusCode != 503 {
			t.Fatalf("call %d: %v, %v; want the last 503", i, res, err)
		}
		if tg.Attempts != w {
			t.Errorf("call %d: Attempts = %d, want %d", i, tg.Attempts, w)
		}
	}
	if got := counterValue(t, tr.metrics.exhausted.WithLabelValues("r")); got != 5 {
		t.Errorf("retry_budget_exhausted_total = %v, want 5", got)
	}
	if got := counterValue(t, tr.metrics.retries.WithLabelValues("r", reasonStatus)); got != 2 {
		t.Errorf("retries_total = %v, want 2", got)
	}
}

func TestBudgetRefill(t *testing.T) {
	now := time.Unix(1000, 0)
	b := newBudget(0, 2)
	b.now = func() time.Time { return now }
	takes := func() int {
		n := 0
		for n < 100 && b.withdraw("r") { // bounded: a broken bucket must not hang the test
			n++
		}
		return n
	}
	if n := takes(); n != 2 {
		t.Fatalf("a new bucket gave %d tokens, want its capacity 2", n)
	}
	now = now.Add(500 * time.Millisecond)
	if n := takes(); n != 1 {
		t.Errorf("after 0.5 s at 2/s: %d tokens, want 1", n)
	}
	now = now.Add(time.Hour)
	if n := takes(); n != 2 {
		t.Errorf("after an hour: %d tokens, want the capacity 2", n)
	}
	if !b.withdraw("other") {
		t.Error("an empty bucket for route r emptied route other's bucket")
	}
}
