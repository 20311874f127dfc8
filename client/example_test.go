package client_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/ordo-dev/ordo/client"
)

// A fake Ordo that refuses every withdrawal, to show a refusal as an error.
func refusingServer() *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(http.StatusUnprocessableEntity)
		io.WriteString(w, `{"type":"https://github.com/ordo-dev/ordo/blob/main/docs/problems.md#insufficient_funds",`+
			`"title":"Insufficient funds","status":422,"code":"insufficient_funds",`+
			`"account":{"id":"alice","currency":"USD","status":"active","balance":70,"available":70,"version":3}}`)
	}))
}

func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := client.New("http://127.0.0.1:8080")
	if err != nil {
		log.Fatal(err)
	}
	if _, err := c.OpenAccount(ctx, "alice", "USD", 0); err != nil && !errors.Is(err, client.ErrAccountExists) {
		log.Fatal(err)
	}
	res, err := c.Deposit(ctx, "alice", 100)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("balance:", res.Account.Balance)
}

func ExampleProblem() {
	srv := refusingServer()
	defer srv.Close()
	c, err := client.New(srv.URL)
	if err != nil {
		log.Fatal(err)
	}
	_, err = c.Withdraw(context.Background(), "alice", 100)
	fmt.Println(errors.Is(err, client.ErrInsufficientFunds))
	var p *client.Problem
	if errors.As(err, &p) {
		fmt.Println(p.Status, p.Code, p.Account.Available)
	}
	// Output:
	// true
	// 422 insufficient_funds 70
}

// A conditional withdrawal: applied only if nothing else changed the account
// since it was read.
func ExampleIfMatch() {
	ctx := context.Background()
	c, err := client.New("http://127.0.0.1:8080")
	if err != nil {
		log.Fatal(err)
	}
	acc, err := c.Account(ctx, "alice")
	if err != nil {
		log.Fatal(err)
	}
	_, err = c.Withdraw(ctx, "alice", acc.Available/2, client.IfMatch(acc.Version))
	if errors.Is(err, client.ErrPreconditionFailed) {
		fmt.Println("the account moved on; read it again")
	}
}

// A hold captured in part: the rest returns to the available money.
func ExampleClient_CreateHold() {
	ctx := context.Background()
	c, err := client.New("http://127.0.0.1:8080")
	if err != nil {
		log.Fatal(err)
	}
	h, err := c.CreateHold(ctx, "alice", 30, 15*time.Minute)
	if err != nil {
		log.Fatal(err)
	}
	res, err := c.CaptureHold(ctx, "alice", h.Hold.ID, 20)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.Hold.Status, res.Hold.Captured)
}

// A transfer returns once final; a call cut short by its context says where
// to look the command up.
func ExampleClient_Transfer() {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := client.New("http://127.0.0.1:8080", client.WithHTTPClient(&http.Client{}), client.WithMaxAttempts(8))
	if err != nil {
		log.Fatal(err)
	}
	res, err := c.Transfer(ctx, client.TransferRequest{From: "alice", To: "bob", Amount: 20, Currency: "USD"},
		client.IdempotencyKey("order-1234"))
	var pending *client.PendingError
	switch {
	case errors.As(err, &pending):
		fmt.Println("still pending; retry later with the key", pending.IdempotencyKey)
	case err != nil:
		log.Fatal(err)
	default:
		fmt.Println(res.Transfer.Status, res.Transfer.Reason)
	}
}

func ExampleClient_Holds() {
	ctx := context.Background()
	c, err := client.New("http://127.0.0.1:8080")
	if err != nil {
		log.Fatal(err)
	}
	q := client.HoldsQuery{Status: "open", Limit: 100}
	for {
		page, err := c.Holds(ctx, "alice", q)
		if err != nil {
			log.Fatal(err)
		}
		for _, h := range page.Holds {
			fmt.Println(h.ID, h.Amount, h.ExpiresAt)
		}
		if page.Next == "" {
			break
		}
		q.After = page.Next
	}
}
