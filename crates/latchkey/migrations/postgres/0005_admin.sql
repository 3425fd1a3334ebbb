-- The admin: names on users, the indexes its lists need, who acted in the
-- audit trail, and the live sessions by activity.
ALTER TABLE latchkey_users ADD COLUMN first_name TEXT NOT NULL DEFAULT '';
ALTER TABLE latchkey_users ADD COLUMN last_name TEXT NOT NULL DEFAULT '';

-- Each ordering reads its first page off an index, ties broken by id;
-- never-logged-in users sort as the oldest.
CREATE INDEX latchkey_users_date_joined ON latchkey_users (date_joined, id);
CREATE INDEX latchkey_users_last_login ON latchkey_users (last_login NULLS FIRST, id);
-- The rare side of each filter is read off a small partial index.
CREATE INDEX latchkey_users_staff ON latchkey_users (id) WHERE is_staff;
CREATE INDEX latchkey_users_superuser ON latchkey_users (id) WHERE is_superuser;
CREATE INDEX latchkey_users_inactive ON latchkey_users (id) WHERE NOT is_active;

-- Case-insensitive substring search (lower(x) LIKE '%term%') is served by
-- pg_trgm's GIN indexes. pg_trgm ships with PostgreSQL and is a trusted
-- extension (a database owner may create it); where it cannot be
-- created, the search still works, by scanning.
DO $$
BEGIN
    CREATE EXTENSION IF NOT EXISTS pg_trgm;
EXCEPTION WHEN OTHERS THEN
    RAISE NOTICE 'pg_trgm unavailable (%): user search will scan', SQLERRM;
END $$;
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm') THEN
        EXECUTE 'CREATE INDEX latchkey_users_username_trgm ON latchkey_users USING gin (lower(username) gin_trgm_ops)';
        EXECUTE 'CREATE INDEX latchkey_users_email_trgm ON latchkey_users USING gin (lower(email) gin_trgm_ops)';
    END IF;
END $$;

-- Who did it, when it was not the user themselves (an operator).
ALTER TABLE latchkey_auth_events ADD COLUMN actor TEXT NULL;
CREATE INDEX latchkey_auth_events_actor ON latchkey_auth_events (actor, id);
CREATE INDEX latchkey_auth_events_event ON latchkey_auth_events (event, id);

-- Every signed-in session, most recent activity first.
CREATE INDEX latchkey_sessions_last_seen ON latchkey_sessions (last_seen) WHERE user_id IS NOT NULL;
