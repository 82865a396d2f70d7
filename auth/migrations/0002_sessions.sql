-- Signed-in UI sessions. Only the SHA-256 of the session id (the cookie value, 32 random
-- bytes) is kept, as for API keys. csrf is the session's anti-CSRF token: not a credential on
-- its own, it is sent back in pages and compared with what forms submit. Times are Unix
-- milliseconds; a session ends at expires_at or after an idle timeout since last_seen_at,
-- whichever comes first. Deleting a user deletes their sessions.
CREATE TABLE sessions (
    id_sha256    TEXT    PRIMARY KEY,
    user         TEXT    NOT NULL REFERENCES users (name) ON DELETE CASCADE,
    csrf         TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL
) STRICT;

CREATE INDEX sessions_user ON sessions (user, created_at);
CREATE INDEX sessions_expires_at ON sessions (expires_at);
