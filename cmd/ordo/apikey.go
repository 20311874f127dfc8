package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/ordo-dev/ordo/apikey"
	"github.com/ordo-dev/ordo/ledger"
	"github.com/ordo-dev/ordo/ledger/postgres"
)

// apikeyCmd is `ordo apikey`: create, list and revoke API keys in
// Postgres.
func apikeyCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "apikey",
		Short: "Create, list and revoke API keys",
		Long: `API keys let clients call "ordo api": Authorization: Bearer ordo_<id>_<secret>.
A key has a scope (read: GETs; write: reads and commands; admin: everything,
the API's /metrics included) and optionally an account prefix: a key for
"shop-a:" can only read and move the money of accounts whose IDs start with
"shop-a:". Postgres stores the secret's argon2id hash, never the secret:
"create" prints it once. A revoked key is refused by every API instance
within its --auth-cache-ttl (5s by default).`,
	}
	root.AddCommand(apikeyCreateCmd(), apikeyListCmd(), apikeyRevokeCmd())
	return root
}

// apikeySub builds a subcommand that needs only the database URL.
func apikeySub(use, short string, args cobra.PositionalArgs, run func(ctx context.Context, databaseURL string, args []string) error) (*cobra.Command, *flagSet) {
	o := defaultOptions()
	fs := &flagSet{o: &o}
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Args:  args,
		RunE: func(cmd *cobra.Command, args []string) error {
			if fs.err != nil {
				return fs.err
			}
			if o.DatabaseURL == "" {
				return errors.New("--database-url (DATABASE_URL) is required")
			}
			ctx, stop := signalContext(cmd.Context())
			defer stop()
			return run(ctx, o.DatabaseURL, args)
		},
	}
	fs.fs = cmd.Flags()
	fs.databaseURL()
	return cmd, fs
}

func apikeyCreateCmd() *cobra.Command {
	var name, scope, accounts string
	cmd, fs := apikeySub("create", "Create an API key and print its secret, once", cobra.NoArgs,
		func(ctx context.Context, databaseURL string, _ []string) error {
			return createAPIKey(ctx, databaseURL, name, scope, accounts, os.Stdout, os.Stderr)
		})
	cmd.Long = `Creates an API key and prints it (ordo_<id>_<secret>) on standard output,
alone, so that a script can capture it; the explanation goes to standard
error. The secret is not stored and cannot be shown again: a lost key is
revoked and replaced.`
	fs.fs.StringVar(&name, "name", "", "what the key is for, shown by list (required)")
	fs.fs.StringVar(&scope, "scope", "", "read (GETs), write (reads and commands) or admin (everything) (required)")
	fs.fs.StringVar(&accounts, "accounts", "", `limit the key to the accounts whose IDs start with this prefix, such as "shop-a:" (default: every account)`)
	return cmd
}

func apikeyListCmd() *cobra.Command {
	cmd, _ := apikeySub("list", "List the API keys (never their secrets)", cobra.NoArgs,
		func(ctx context.Context, databaseURL string, _ []string) error {
			return listAPIKeys(ctx, databaseURL, os.Stdout)
		})
	return cmd
}

func apikeyRevokeCmd() *cobra.Command {
	cmd, _ := apikeySub("revoke <id>", "Revoke an API key: every API instance refuses it within its --auth-cache-ttl", cobra.ExactArgs(1),
		func(ctx context.Context, databaseURL string, args []string) error {
			return revokeAPIKey(ctx, databaseURL, args[0], os.Stdout)
		})
	return cmd
}

// openKeyStore opens a small store for the apikey commands.
func openKeyStore(ctx context.Context, databaseURL string) (*postgres.Store, error) {
	return postgres.Open(ctx, databaseURL, postgres.Options{MaxConns: 2})
}

// createAPIKey creates a key, prints its token alone on out and what it
// allows on info.
func createAPIKey(ctx context.Context, databaseURL, name, scope, accounts string, out, info io.Writer) error {
	if name == "" {
		return errors.New("--name is required")
	}
	sc, err := apikey.ParseScope(scope)
	if err != nil {
		return fmt.Errorf("--scope: %w", err)
	}
	if accounts != "" {
		if err := ledger.ValidateAccountID("--accounts", accounts); err != nil {
			return err
		}
	}
	token, id, hash, err := apikey.Generate()
	if err != nil {
		return err
	}
	store, err := openKeyStore(ctx, databaseURL)
	if err != nil {
		return err
	}
	defer store.Close()
	k, err := store.CreateAPIKey(ctx, apikey.Key{ID: id, Name: name, Scope: sc, AccountPrefix: accounts, Hash: hash})
	if err != nil {
		return err
	}
	fmt.Fprintf(info, "Created API key %s %q: scope %s, %s.\nThis is the only time its secret is shown; keep it in a secret store:\n", k.ID, k.Name, k.Scope, accountsText(k.AccountPrefix))
	fmt.Fprintln(out, token)
	return nil
}

func accountsText(prefix string) string {
	if prefix == "" {
		return "every account"
	}
	return "accounts starting with " + strconv.Quote(prefix)
}

// listAPIKeys prints every key, without secrets or hashes.
func listAPIKeys(ctx context.Context, databaseURL string, out io.Writer) error {
	store, err := openKeyStore(ctx, databaseURL)
	if err != nil {
		return err
	}
	defer store.Close()
	keys, err := store.APIKeys(ctx)
	if err != nil {
		return err
	}
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "ID\tNAME\tSCOPE\tACCOUNTS\tCREATED\tREVOKED")
	for _, k := range keys {
		prefix, revoked := "*", "-"
		if k.AccountPrefix != "" {
			prefix = k.AccountPrefix + "*"
		}
		if k.RevokedAt != nil {
			revoked = k.RevokedAt.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", k.ID, k.Name, k.Scope, prefix, k.CreatedAt.UTC().Format(time.RFC3339), revoked)
	}
	return w.Flush()
}

// revokeAPIKey revokes the key with the ID.
func revokeAPIKey(ctx context.Context, databaseURL, id string, out io.Writer) error {
	store, err := openKeyStore(ctx, databaseURL)
	if err != nil {
		return err
	}
	defer store.Close()
	at, err := store.RevokeAPIKey(ctx, id)
	if errors.Is(err, ledger.ErrNotFound) {
		return fmt.Errorf("no API key %q (see ordo apikey list)", id)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "Revoked API key %s at %s; every API instance refuses it within its --auth-cache-ttl.\n", id, at.UTC().Format(time.RFC3339))
	return nil
}
