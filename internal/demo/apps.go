// Package demo holds small stand-ins for the services of the seed scenario:
// a random-number API and a time-check service. They serve on loopback for
// `make demo` and the end-to-end tests.
package demo

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync/atomic"
	"time"
)

// NumbersPath is where the numbers API serves a random number.
const NumbersPath = "/sixeyed/kiamol/master/ch03/numbers/rng"

// Numbers returns the random-number API. With failAfter > 0 it answers 500
// once it has served failAfter numbers, as an unhealthy instance would.
func Numbers(failAfter int) http.Handler {
	var calls atomic.Int64
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+NumbersPath, func(w http.ResponseWriter, r *http.Request) {
		if n := calls.Add(1); failAfter > 0 && n > int64(failAfter) {
			http.Error(w, "numbers-api: unhealthy after "+fmt.Sprint(failAfter)+" calls", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintf(w, "%d\n", rand.IntN(100)+1)
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	return mux
}

// Timecheck returns the time-check service: the time at /, health at /healthz.
func Timecheck() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, time.Now().UTC().Format(time.RFC3339))
	})
	return mux
}
