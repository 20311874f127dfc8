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
// Requests go over plain HTTP/1.1 keep-alive connections, written and read
// on the client's own goroutine (see connTransport): the load generator
// usually shares the machine with what it measures, and should take as
// little of it as it can.
package bench
