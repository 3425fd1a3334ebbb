-- Second factors: a user's TOTP secret (sealed with a key derived from the
-- secret key), the last step accepted (a code is accepted once), and their
-- recovery codes (an HMAC of each, keyed by the secret key).
CREATE TABLE latchkey_mfa_totp (
    user_id       BIGINT PRIMARY KEY REFERENCES latchkey_users (id) ON DELETE CASCADE,
    secret        TEXT    NOT NULL,
    last_step     BIGINT  NOT NULL DEFAULT -1,
    created_at    BIGINT  NOT NULL,
    last_used_at  BIGINT  NULL
);
CREATE TABLE latchkey_mfa_recovery_codes (
    user_id     BIGINT NOT NULL REFERENCES latchkey_users (id) ON DELETE CASCADE,
    code        TEXT    NOT NULL,
    created_at  BIGINT  NOT NULL,
    used_at     BIGINT  NULL,
    PRIMARY KEY (user_id, code)
);
