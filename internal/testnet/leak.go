package testnet

import "go.uber.org/goleak"

// FasthttpLeaks are the goroutines fasthttp keeps past a test by design, for
// goleak to ignore: its process-wide Date header clock, and the cleaners of
// a server's worker pool and of a client's connection pool, which sleep out
// their period (at most 10 s) before they see that they were stopped.
func FasthttpLeaks() []goleak.Option {
	return []goleak.Option{
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.updateServerDate.func1"),
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*workerPool).Start.func2"),
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*HostClient).connsCleaner"),
	}
}
