-- Users, with Django's auth_user fields. SQLite's default BINARY collation
-- keeps usernames case-sensitive, as Django's are.
CREATE TABLE latchkey_users (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    username      TEXT    NOT NULL UNIQUE,
    email         TEXT    NOT NULL DEFAULT '',
    password      TEXT    NOT NULL,
    is_active     INTEGER NOT NULL DEFAULT 1,
    is_staff      INTEGER NOT NULL DEFAULT 0,
    is_superuser  INTEGER NOT NULL DEFAULT 0,
    last_login    INTEGER NULL,
    date_joined   INTEGER NOT NULL
);

-- Sessions are keyed by the SHA-256 of the cookie value, never the value
-- itself. Times are Unix seconds. user_id is indexed for "log out everywhere"
-- and per-user listing; expires_at for the batched purge.
CREATE TABLE latchkey_sessions (
    key_hash             TEXT    PRIMARY KEY,
    user_id              INTEGER NULL REFERENCES latchkey_users (id) ON DELETE CASCADE,
    auth_hash            TEXT    NOT NULL DEFAULT '',
    data                 TEXT    NOT NULL DEFAULT '{}',
    created_at           INTEGER NOT NULL,
    last_seen            INTEGER NOT NULL,
    expires_at           INTEGER NOT NULL,
    absolute_expires_at  INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX latchkey_sessions_user_id ON latchkey_sessions (user_id);
CREATE INDEX latchkey_sessions_expires_at ON latchkey_sessions (expires_at);

-- Installation-wide values such as the generated secret key.
CREATE TABLE latchkey_meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- Failed-login counters (used by throttling).
CREATE TABLE latchkey_throttle (
    key            TEXT    PRIMARY KEY,
    failures       INTEGER NOT NULL,
    window_start   INTEGER NOT NULL,
    blocked_until  INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
