package upstream

import (
	"testing"
	"time"
)

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
