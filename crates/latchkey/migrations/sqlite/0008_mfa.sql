-- Second factors: a user's TOTP secret (sealed with a key derived from the
-- secret key), the last step accepted (a code is accepted once), and their
-- recovery codes (an HMAC of each, keyed by the secret key).
CREATE TABLE latchkey_mfa_totp (
    user_id       INTEGER PRIMARY KEY REFERENCES latchkey_users (id) ON DELETE CASCADE,
    secret        TEXT    NOT NULL,
    last_step     INTEGER NOT NULL DEFAULT -1,
    created_at    INTEGER NOT NULL,
    last_used_at  INTEGER NULL
);
CREATE TABLE latchkey_mfa_recovery_codes (
    user_id     INTEGER NOT NULL REFERENCES latchkey_users (id) ON DELETE CASCADE,
    code        TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    used_at     INTEGER NULL,
    PRIMARY KEY (user_id, code)
) WITHOUT ROWID;
