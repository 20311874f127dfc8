// Package api is Ordo's HTTP interface (echo).
//
// Every state change is submitted as a command to the commands topic and
// answered synchronously: the handler waits for the broker's
// acknowledgement (at most the produce timeout), then for the outcome on
// this instance's reply partition (at most the wait budget), and then reads
// Postgres once more (at most the read timeout) before answering 202 with
// the command's URL. Errors are RFC 9457
// problem+json documents; one table (problem.go) maps outcome codes and error
// kinds to statuses.
package api
