package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/lookout-dev/lookout/auth"
)

// tokenCmd runs "lookout token create|list|revoke". It opens the metadata
// database directly, so it works whether or not a server is running on
// the same data directory; a created token is accepted at once.
func tokenCmd(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "usage: lookout token create|list|revoke [flags]")
		return 2
	}
	sub, args := args[0], args[1:]
	fs := flag.NewFlagSet("token "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	dataDir := fs.String("data-dir", "", "data directory (env LOOKOUT_DATA_DIR, default ./lookout-data)")
	name := fs.String("name", "", "token name")
	role := fs.String("role", "", "viewer, editor, admin or ingest")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	dir := *dataDir
	if dir == "" {
		dir = getenv("LOOKOUT_DATA_DIR")
	}
	if dir == "" {
		dir = defaultConfig().DataDir
	}
	ctx := context.Background()
	svc, err := auth.Open(ctx, auth.Config{DataDir: dir, AdminPassword: getenv("LOOKOUT_ADMIN_PASSWORD"), IngestToken: getenv("LOOKOUT_INGEST_TOKEN")}, auth.Options{})
	if err != nil {
		fmt.Fprintf(stderr, "lookout: %v\n", err)
		return 1
	}
	defer svc.Close()
	switch sub {
	case "create":
		r, err := auth.ParseRole(*role)
		if err != nil {
			fmt.Fprintf(stderr, "lookout: %v\n", err)
			return 2
		}
		n := *name
		if n == "" {
			n = fmt.Sprintf("%s-%s", r, time.Now().UTC().Format("20060102-150405"))
		}
		secret, err := svc.CreateToken(ctx, n, r)
		if err != nil {
			fmt.Fprintf(stderr, "lookout: %v\n", err)
			return 1
		}
		fmt.Fprintf(stderr, "created %s token %q; it is shown only once:\n", r, n)
		fmt.Fprintln(stdout, secret)
		return 0
	case "list":
		toks, err := svc.ListTokens(ctx)
		if err != nil {
			fmt.Fprintf(stderr, "lookout: %v\n", err)
			return 1
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tROLE\tCREATED\tLAST USED")
		for _, t := range toks {
			last := "never"
			if !t.LastUsedAt.IsZero() {
				last = t.LastUsedAt.UTC().Format(time.RFC3339)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", t.Name, t.Role, t.CreatedAt.UTC().Format(time.RFC3339), last)
		}
		tw.Flush()
		return 0
	case "revoke":
		if *name == "" {
			fmt.Fprintln(stderr, "lookout: token revoke needs --name")
			return 2
		}
		if err := svc.RevokeToken(ctx, *name); err != nil {
			fmt.Fprintf(stderr, "lookout: %v\n", err)
			return 1
		}
		fmt.Fprintf(stdout, "revoked %q\n", *name)
		return 0
	}
	fmt.Fprintf(stderr, "lookout: unknown token command %q (create, list, revoke)\n", sub)
	return 2
}
