package upstream

import (
	"context"
	"testing"

	"github.com/meshlite/meshlite/pkg/routes"
)

// The Client case of budget_test.go (TestBudgetRefill tests the budget
// both engines share).
func TestClientBudgetStopsRetries(t *testing.T) {
	rec := &recorder{script: statuses(503)}
	srv, ep := newUpstream(t, rec)
	// No refill: the bucket holds 1 token, each call adds 0.25.
	cl := newTestClient(t, Options{BudgetRatio: 0.25, BudgetPerSecond: -1})
	want := []int{2, 1, 1, 1, 2}
	for i, w := range want {
		tg := targetFor("svc.test", Retry{Attempts: 3, On: routes.RetryOn{GatewayError: true}}, ep)
		res, err := sendClient(t, cl, context.Background(), "GET", srv.URL+"/", nil, tg)
		if err != nil || res.status != 503 {
			t.Fatalf("call %d: %+v, %v; want the last 503", i, res, err)
		}
		if tg.Attempts != w {
			t.Errorf("call %d: Attempts = %d, want %d", i, tg.Attempts, w)
		}
	}
	if got := counterValue(t, cl.metrics.exhausted.WithLabelValues("r")); got != 5 {
		t.Errorf("retry_budget_exhausted_total = %v, want 5", got)
	}
	if got := counterValue(t, cl.metrics.retries.WithLabelValues("r", reasonStatus)); got != 2 {
		t.Errorf("retries_total = %v, want 2", got)
	}
}
