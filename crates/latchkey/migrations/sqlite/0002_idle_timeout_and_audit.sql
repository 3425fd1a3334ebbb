-- Per-session idle limit (seconds; 0 = none), fixed at login so a policy
-- change applies to new sessions only.
ALTER TABLE latchkey_sessions ADD COLUMN idle_timeout INTEGER NOT NULL DEFAULT 0;

-- Persisted audit events (login success/failure, logout, throttling, CSRF
-- rejections, password changes, revocations). Never holds a password,
-- session key or token.
CREATE TABLE latchkey_auth_events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    at          INTEGER NOT NULL,
    event       TEXT    NOT NULL,
    username    TEXT    NULL,
    user_id     INTEGER NULL,
    client_ip   TEXT    NULL,
    detail      TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX latchkey_auth_events_at ON latchkey_auth_events (at);
CREATE INDEX latchkey_auth_events_user ON latchkey_auth_events (username, at);
