-- What the account page shows of each session: where it signed in from,
-- with what browser, when it last proved the password, and whether its
-- cookie is persistent. Existing sessions keep working: the new columns
-- are empty (unknown) and "remember" takes the default cookie kind.
ALTER TABLE latchkey_sessions ADD COLUMN ip TEXT NULL;
ALTER TABLE latchkey_sessions ADD COLUMN user_agent TEXT NULL;
ALTER TABLE latchkey_sessions ADD COLUMN authenticated_at BIGINT NULL;
ALTER TABLE latchkey_sessions ADD COLUMN remember BOOLEAN NOT NULL DEFAULT TRUE;
-- A user's sessions, newest first, without a sort.
DROP INDEX latchkey_sessions_user_id;
CREATE INDEX latchkey_sessions_user_created ON latchkey_sessions (user_id, created_at);
