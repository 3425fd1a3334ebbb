-- How many times an aggregated event happened (unauthenticated rejections are
-- written as one row per kind and client every few seconds, not one per request).
ALTER TABLE latchkey_auth_events ADD COLUMN count BIGINT NOT NULL DEFAULT 1;
