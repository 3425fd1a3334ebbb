-- Addresses present before verification existed count as verified (an
-- operator set them); users without one are exempt from verification.
ALTER TABLE latchkey_users ADD COLUMN email_verified INTEGER NOT NULL DEFAULT 0;
UPDATE latchkey_users SET email_verified = 1 WHERE email <> '';
CREATE INDEX latchkey_users_email ON latchkey_users (lower(email));

-- Single-use keys (password reset, email verification): only their hash is
-- stored, with what they are for, whose, until when, and when they were used.
-- `fingerprint` binds a reset key to the account's state when it was issued
-- (password, address, last login): any change kills it.
CREATE TABLE latchkey_keys (
    key_hash     TEXT    PRIMARY KEY,
    purpose      TEXT    NOT NULL,
    user_id      INTEGER NOT NULL REFERENCES latchkey_users (id) ON DELETE CASCADE,
    email        TEXT    NOT NULL DEFAULT '',
    fingerprint  TEXT    NOT NULL DEFAULT '',
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    used_at      INTEGER NULL
) WITHOUT ROWID;
CREATE INDEX latchkey_keys_expires_at ON latchkey_keys (expires_at);

-- Work that must survive a crash or an SMTP outage: mails to send and
-- requests that produce mails. A sender claims a row for a lease; a row
-- whose lease ran out (its sender died) is claimed again.
CREATE TABLE latchkey_outbox (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    kind             TEXT    NOT NULL,
    payload          TEXT    NOT NULL,
    created_at       INTEGER NOT NULL,
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  INTEGER NOT NULL,
    claimed_until    INTEGER NOT NULL DEFAULT 0,
    done_at          INTEGER NULL,
    failed_at        INTEGER NULL,
    last_error       TEXT    NULL
);
CREATE INDEX latchkey_outbox_pending ON latchkey_outbox (next_attempt_at) WHERE done_at IS NULL AND failed_at IS NULL;
