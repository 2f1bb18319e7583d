// Package upstream is the ambassador's upstream client: HTTP/1.1 over
// fasthttp connection pools, dialing of pre-checked addresses only, TLS
// origination and retries under a per-route budget.
//
// The proxy decides where a request may go (routes and policy), then
// hands the request and a *Target to Client.Do. The client never resolves
// a name: it dials only Target.Addrs, the addresses the address guard
// checked, which defeats DNS rebinding.
//
// # Connection pools
//
// Every endpoint ("ip:port") has its own pool for plain http, and every
// TLS server name and endpoint its own pool for https: a connection
// verified for one name is never reused for another, even when both
// resolve to the same address, and a pooled connection is reused only for
// a call whose checked addresses include its remote address. When a
// name's DNS answer changes, the next call dials a new connection to a new
// address. CloseIdleConnections empties the pools; the proxy calls it on
// every table swap. Upstreams are spoken to in HTTP/1.1 (TLS offers only
// http/1.1 in ALPN).
//
// # Retry conditions
//
// A failed try is treated as the status the proxy would answer with, and
// Retry.On selects what is retried:
//
//	failure                          retried when On has
//	dial or TLS handshake failed      ConnectFailure, Status5xx, GatewayError
//	reset/EOF before headers          Reset, Status5xx, GatewayError
//	per-try timeout                   Reset, Status5xx, GatewayError
//	response 5xx                      Status5xx; 502/503/504 also GatewayError; any code in Codes
//
// Only idempotent methods (GET HEAD OPTIONS TRACE PUT DELETE) are retried
// unless Retry.NonIdempotent is set; a connect failure is retried for every
// method because nothing was sent. Request bodies are replayed when they
// arrived whole, or buffered up to 64 KiB; larger bodies are streamed once
// and never retried. Each retry costs a token from the route's budget.
//
// # Address fallback
//
// A try whose dial failed (refused, unreachable, DialTimeout, TLS handshake
// failed) is followed at once by a try to an address of the target not yet
// tried in the call, when the body can be sent again and the call has time
// left. It is not a retry: it takes no budget token, waits no backoff and
// does not use up an attempt, so a route without retries still reaches a
// live address of a name whose first address is down. Unlike Go's dialer,
// each address gets the whole DialTimeout, within the per-try and call
// timeouts; a per-try timeout that fires during a dial ends the attempt.
// Once every address was tried, retries skip the addresses whose dial
// failed in the call. Target.Attempts counts fallback tries too.
package upstream
