-- The admin: names on users, the indexes its lists need, who acted in the
-- audit trail, and the live sessions by activity.
ALTER TABLE latchkey_users ADD COLUMN first_name TEXT NOT NULL DEFAULT '';
ALTER TABLE latchkey_users ADD COLUMN last_name TEXT NOT NULL DEFAULT '';

-- Each ordering reads its first page off an index, ties broken by id.
CREATE INDEX latchkey_users_date_joined ON latchkey_users (date_joined, id);
CREATE INDEX latchkey_users_last_login ON latchkey_users (last_login, id);
-- The rare side of each filter (staff, superusers, inactive users) is
-- read off a small partial index, then sorted; the common side scans the
-- ordering index and stops at the page's end.
CREATE INDEX latchkey_users_staff ON latchkey_users (id) WHERE is_staff;
CREATE INDEX latchkey_users_superuser ON latchkey_users (id) WHERE is_superuser;
CREATE INDEX latchkey_users_inactive ON latchkey_users (id) WHERE NOT is_active;

-- Case-insensitive substring search over username and email: an FTS5
-- trigram index (SQLite 3.34+) kept in step by triggers. It costs about
-- three times the text it indexes and one more index write per user
-- insert or address change; terms shorter than three characters have no
-- trigram and scan instead.
CREATE VIRTUAL TABLE latchkey_users_search USING fts5(
    username, email, content = 'latchkey_users', content_rowid = 'id', tokenize = 'trigram');
INSERT INTO latchkey_users_search (latchkey_users_search) VALUES ('rebuild');
CREATE TRIGGER latchkey_users_search_insert AFTER INSERT ON latchkey_users BEGIN
    INSERT INTO latchkey_users_search (rowid, username, email) VALUES (new.id, new.username, new.email);
END;
CREATE TRIGGER latchkey_users_search_delete AFTER DELETE ON latchkey_users BEGIN
    INSERT INTO latchkey_users_search (latchkey_users_search, rowid, username, email)
        VALUES ('delete', old.id, old.username, old.email);
END;
CREATE TRIGGER latchkey_users_search_update AFTER UPDATE OF username, email ON latchkey_users
    WHEN old.username IS NOT new.username OR old.email IS NOT new.email BEGIN
    INSERT INTO latchkey_users_search (latchkey_users_search, rowid, username, email)
        VALUES ('delete', old.id, old.username, old.email);
    INSERT INTO latchkey_users_search (rowid, username, email) VALUES (new.id, new.username, new.email);
END;

-- Who did it, when it was not the user themselves (an operator).
ALTER TABLE latchkey_auth_events ADD COLUMN actor TEXT NULL;
CREATE INDEX latchkey_auth_events_actor ON latchkey_auth_events (actor, id);
CREATE INDEX latchkey_auth_events_event ON latchkey_auth_events (event, id);

-- Every signed-in session, most recent activity first.
CREATE INDEX latchkey_sessions_last_seen ON latchkey_sessions (last_seen) WHERE user_id IS NOT NULL;
