// Command lookout is a self-hosted observability stack in one binary: OTLP
// ingest of logs, traces and metrics, storage, search and alerting.
//
// Usage:
//
//	lookout [serve] [flags]     run everything (the default)
//	lookout version             print the version
//	lookout check-config        validate the configuration, exit 1 on problems
//	lookout token create|list|revoke ...   manage API keys and ingest tokens
//	lookout demo [flags]        run lookout and a small demo system sending to it
//	lookout healthcheck         exit 0 when the local lookout is ready
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/lookout-dev/lookout/alerts"
)

// version and commit are set at build time with -ldflags
// "-X main.version=... -X main.commit=...", as the Dockerfile does.
var (
	version = "dev"
	commit  = ""
)

func main() {
	os.Exit(run(os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

// run is main without the process: it returns the exit code.
func run(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	cmd := "serve"
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "serve":
		cfg, err := loadConfig("serve", args, getenv, stderr)
		if err != nil {
			return configError(stderr, err)
		}
		// A SIGHUP before serve listens for it (to reload) must not kill
		// the process, as its default action would.
		signal.Ignore(syscall.SIGHUP)
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
		defer stop()
		if err := serve(ctx, cfg, stderr, nil); err != nil {
			fmt.Fprintf(stderr, "lookout: %v\n", err)
			return 1
		}
		return 0
	case "version":
		if commit != "" {
			fmt.Fprintf(stdout, "lookout %s (commit %s)\n", buildVersion(), commit)
		} else {
			fmt.Fprintf(stdout, "lookout %s\n", buildVersion())
		}
		return 0
	case "check-config":
		cfg, err := loadConfig("check-config", args, getenv, stderr)
		if err != nil {
			return configError(stderr, err)
		}
		// The TLS files load as serve would load them.
		if _, err := openTLS(cfg, slog.New(slog.DiscardHandler), nil); err != nil {
			return configError(stderr, err)
		}
		warnings, err := alerts.CheckFiles(alerts.Config{
			RuleFiles:          cfg.Rules,
			LogRuleFiles:       cfg.LogRules,
			AlertmanagerConfig: cfg.AlertmanagerConfig,
		}, nil)
		// Warnings do not fail the check, as promtool's lint warnings do
		// not without --lint-fatal.
		for _, w := range warnings {
			fmt.Fprintf(stderr, "lookout: warning: %v\n", w)
		}
		if err != nil {
			return configError(stderr, err)
		}
		fmt.Fprintln(stdout, "configuration is valid")
		return 0
	case "token":
		return tokenCmd(args, getenv, stdout, stderr)
	case "demo":
		return demoCmd(args, getenv, stdout, stderr)
	case "healthcheck":
		return healthcheckCmd(args, getenv, stdout, stderr)
	case "help", "-h", "--help":
		usage(stdout)
		return 0
	default:
		fmt.Fprintf(stderr, "lookout: unknown command %q\n\n", cmd)
		usage(stderr)
		return 2
	}
}

func configError(stderr io.Writer, err error) int {
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	fmt.Fprintf(stderr, "lookout: invalid configuration:\n%v\n", err)
	return 1
}

func usage(w io.Writer) {
	fmt.Fprint(w, `Usage: lookout <command> [flags]

Commands:
  serve          run lookout (the default); see "lookout serve -h" for flags
  version        print the version
  check-config   validate flags, environment, the config file, rule files,
                 log rule files and the Alertmanager configuration
  token create   create an API key or ingest token: --name N --role viewer|editor|admin|ingest
  token list     list tokens (never their secrets)
  token revoke   revoke a token: --name N
  demo           run lookout with a small shop of services sending it logs,
                 traces and metrics: --duration D --rate N, or --target URL
                 to send to a running lookout; see "lookout demo -h"
  healthcheck    exit 0 when the lookout at --http-addr answers /readyz
                 with 200 (the Docker image's HEALTHCHECK): --timeout D
`)
}

func buildVersion() string {
	if version != "dev" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return version
}
