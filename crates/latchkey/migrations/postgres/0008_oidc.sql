-- Accounts at OpenID Connect providers linked to users. OpenID Connect makes
-- (issuer, subject) unique; the provider's id in the settings is kept too, so
-- two configured providers on one issuer (two clients) stay apart.
CREATE TABLE latchkey_identities (
    id             BIGSERIAL PRIMARY KEY,
    user_id        BIGINT  NOT NULL REFERENCES latchkey_users (id) ON DELETE CASCADE,
    provider       TEXT    NOT NULL,
    issuer         TEXT    NOT NULL,
    subject        TEXT    NOT NULL,
    email          TEXT    NOT NULL DEFAULT '',
    created_at     BIGINT  NOT NULL,
    last_used_at   BIGINT  NULL,
    UNIQUE (provider, issuer, subject)
);
CREATE INDEX latchkey_identities_user ON latchkey_identities (user_id, created_at);
