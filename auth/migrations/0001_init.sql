-- Users sign in to the UI and send HTTP Basic credentials (Grafana data sources).
-- password_hash is a PHC-style argon2id string; times are Unix milliseconds.
CREATE TABLE users (
    name          TEXT    PRIMARY KEY,
    role          TEXT    NOT NULL CHECK (role IN ('viewer', 'editor', 'admin')),
    password_hash TEXT    NOT NULL,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
) STRICT;

-- API keys and ingest tokens. Only the SHA-256 of the secret is kept: the secret is
-- 32 random bytes, so a fast hash is enough and lookup is by hash.
CREATE TABLE tokens (
    name          TEXT    PRIMARY KEY,
    role          TEXT    NOT NULL CHECK (role IN ('viewer', 'editor', 'admin', 'ingest')),
    secret_sha256 TEXT    NOT NULL UNIQUE,
    created_at    INTEGER NOT NULL,
    last_used_at  INTEGER
) STRICT;

-- Small facts about this database, such as whether the ingest token was generated.
CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) STRICT;
