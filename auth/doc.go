// Package auth answers "who is this request?" for lookout: it owns the users, API keys and ingest
// tokens kept in the small SQLite database <data-dir>/meta.db.
//
// It sits beside the data path rather than on it. cmd/lookout, the composition root, opens the
// [Service] and hands it to the packages that need it; web and ingest never import auth, they declare
// the small interfaces they call (AuthenticateRequest for the UI and APIs, AuthenticateIngest for
// OTLP) and the Service satisfies them. cmd/lookout also calls it directly for the token and user
// subcommands, which may run while a server has the same meta.db open: the database runs in WAL mode
// with a busy timeout, and negative lookups are never cached, so a token the CLI creates works on the
// running server at once.
//
// On first start Open creates the user admin, with the configured password or a generated one
// written to <data-dir>/initial-admin-password, and, unless an ingest token is configured or ingest
// authentication is off, generates an ingest token written to <data-dir>/ingest-token. Both files
// are mode 0600 and are the operator's copy: the database keeps only hashes (argon2id for passwords,
// SHA-256 for high-entropy tokens). No secret is ever written to a log line.
//
// Successful verifications are cached briefly (a minute for passwords, 30 seconds for API keys) so
// that a Grafana data source polling every few seconds does not pay argon2 on each request. Changing
// a password or revoking a key clears the cache of the process that made the change; another process
// (the server, when the CLI revoked a key) stops accepting the old credential when its cache entry
// expires.
//
// The web UI signs people in with [Service.Login], which starts a server-side session stored in
// meta.db: the browser holds a random 256-bit session id in a cookie (shown once, stored only as
// its SHA-256, never logged) and each page gets the session's CSRF token. A session ends after
// Config.SessionTTL (12 hours) whatever happens, after Config.SessionIdleTimeout (2 hours) unused,
// on [Service.Logout], or when its user is deleted or their password changes. [Service.Session]
// looks one up, with the user's current role; answers are cached for 30 seconds, so a change made by
// another process takes effect within that. Password sign-ins, through the form or HTTP Basic, are
// rate limited: after 5 failures for a user name or 20 from a client address within 15 minutes,
// further attempts fail with ErrRateLimited, without running argon2, until enough of those
// failures are 15 minutes old. The web layer decides which address a request comes from (it alone
// knows whether to trust a proxy) and passes it in; the counts live in memory, are bounded, and
// start afresh when the process does.
package auth
