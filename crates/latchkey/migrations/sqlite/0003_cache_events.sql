-- Invalidations of the read-through cache (see src/cache.rs): every
-- instance polls the rows after its cursor; old rows are pruned.
CREATE TABLE latchkey_cache_events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    payload TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX latchkey_cache_events_created ON latchkey_cache_events (created_at);
