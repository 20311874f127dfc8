// Package bench generates load against any service that speaks Ordo's HTTP
// contract and reports throughput, latency percentiles (HdrHistogram),
// outcome counts and an audit of the final balances against the outcomes
// the clients saw.
//
// Closed loop (Clients workers, each sending its next request when the last
// is answered) measures capacity; open loop (a fixed arrival Rate, latency
// measured from each request's scheduled start) shows queueing. Every
// request carries an Idempotency-Key, so a request whose outcome is unknown
// (timeout, 202, 5xx) is resolved after the run by sending it again.
//
// A share of the requests (Config.ReplayPercent) re-send an earlier
// command with its body and key, as a client whose answer got lost does;
// the audit counts its effect once and requires the original's answer.
//
// Requests go through net/http's Transport by default, set up as a
// service's client would be (an idle pool as large as the clients).
// TransportLean is a leaner HTTP/1.1 transport, each request written and
// read on the client's own goroutine (see connTransport), for profiling a
// system with the generator in its process.
package bench
