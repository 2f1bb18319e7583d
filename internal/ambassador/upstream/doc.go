// Package upstream is the ambassador's upstream transport: a tuned
// connection pool, dialing of pre-checked addresses only, TLS origination
// and retries under a per-route budget.
//
// The proxy handler decides where a request may go (routes and policy), then
// stores a *Target in the request context with WithTarget and hands the
// request to Transport.RoundTrip. The transport never resolves a name: it
// dials only Target.Addrs, the addresses the address guard checked, which
// defeats DNS rebinding.
//
// # Connection pools
//
// Plain http requests are sent with the URL host set to the chosen
// endpoint ("ip:port"), so the pool is keyed per endpoint and a retry that
// picks an untried address really reaches a different endpoint. The Host
// header still carries the target name.
//
// https requests are sent with the URL host set to the target name and the
// chosen endpoint ("[name/ip]:port"), so the pool is keyed per name and
// endpoint: a connection verified for one name is never reused for another
// name, even when both resolve to the same address. The Host header and the
// TLS server name carry the name alone.
//
// Either way a pooled connection is reused only for a call whose checked
// addresses include the connection's remote address: when a name's DNS
// answer changes, the next call dials a new connection to a new address
// and never reuses one to an address it no longer checked. HTTP/2
// multiplexes every request to one name and endpoint on one connection.
// CloseIdleConnections empties the pool; the proxy calls it on every table
// swap.
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
// method because nothing was sent. Request bodies are replayed from GetBody
// when set, or buffered up to 64 KiB; larger bodies are streamed once and
// never retried. Each retry costs a token from the route's budget.
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
