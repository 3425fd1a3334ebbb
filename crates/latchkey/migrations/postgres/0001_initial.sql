-- The PostgreSQL schema: the same tables and meaning as SQLite's migrations
-- 1 and 2 together. Times are Unix seconds; sessions are keyed by the
-- SHA-256 of the cookie value. Text comparison is case-sensitive, so
-- usernames are too, as in Django.
CREATE TABLE latchkey_users (
    id            BIGSERIAL PRIMARY KEY,
    username      TEXT    NOT NULL UNIQUE,
    email         TEXT    NOT NULL DEFAULT '',
    password      TEXT    NOT NULL,
    is_active     BOOLEAN NOT NULL DEFAULT TRUE,
    is_staff      BOOLEAN NOT NULL DEFAULT FALSE,
    is_superuser  BOOLEAN NOT NULL DEFAULT FALSE,
    last_login    BIGINT  NULL,
    date_joined   BIGINT  NOT NULL
);

CREATE TABLE latchkey_sessions (
    key_hash             TEXT   PRIMARY KEY,
    user_id              BIGINT NULL REFERENCES latchkey_users (id) ON DELETE CASCADE,
    auth_hash            TEXT   NOT NULL DEFAULT '',
    data                 TEXT   NOT NULL DEFAULT '{}',
    created_at           BIGINT NOT NULL,
    last_seen            BIGINT NOT NULL,
    expires_at           BIGINT NOT NULL,
    absolute_expires_at  BIGINT NOT NULL,
    idle_timeout         BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX latchkey_sessions_user_id ON latchkey_sessions (user_id);
CREATE INDEX latchkey_sessions_expires_at ON latchkey_sessions (expires_at);

CREATE TABLE latchkey_meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE latchkey_throttle (
    key            TEXT   PRIMARY KEY,
    failures       BIGINT NOT NULL,
    window_start   BIGINT NOT NULL,
    blocked_until  BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE latchkey_auth_events (
    id          BIGSERIAL PRIMARY KEY,
    at          BIGINT NOT NULL,
    event       TEXT   NOT NULL,
    username    TEXT   NULL,
    user_id     BIGINT NULL,
    client_ip   TEXT   NULL,
    detail      TEXT   NOT NULL DEFAULT ''
);
CREATE INDEX latchkey_auth_events_at ON latchkey_auth_events (at);
CREATE INDEX latchkey_auth_events_user ON latchkey_auth_events (username, at);
