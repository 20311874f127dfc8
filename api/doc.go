// Package api is Ordo's HTTP interface (echo).
//
// Every state change is submitted as a command to the commands topic and
// answered synchronously: the handler waits for the outcome on this
// instance's reply partition, and past the wait budget reads Postgres once
// more before answering 202 with the command's URL. Errors are RFC 9457
// problem+json documents; one table (problem.go) maps outcome codes and error
// kinds to statuses.
package api
