-- WebAuthn credentials (passkeys and security keys). `credential_id` is the
-- authenticator's id (base64url), unique across users: a passkey sign-in
-- finds its account by it. `passkey` is the public key as webauthn-rs
-- serialises it; `sign_count` the authenticator's counter (clones show up as
-- a counter that does not move forward).
CREATE TABLE latchkey_webauthn_credentials (
    id             BIGSERIAL PRIMARY KEY,
    user_id        BIGINT  NOT NULL REFERENCES latchkey_users (id) ON DELETE CASCADE,
    credential_id  TEXT    NOT NULL UNIQUE,
    user_handle    TEXT    NOT NULL,
    name           TEXT    NOT NULL,
    passkey        TEXT    NOT NULL,
    sign_count     BIGINT  NOT NULL DEFAULT 0,
    created_at     BIGINT  NOT NULL,
    last_used_at   BIGINT  NULL
);
CREATE INDEX latchkey_webauthn_credentials_user ON latchkey_webauthn_credentials (user_id, created_at);
