//! One conformance suite for every session store backend.

use std::sync::Arc;

use latchkey::{
    db::Database,
    session::{MemorySessionStore, SessionKey, SessionRecord, SessionStore, StoreError},
};
use serde_json::json;
use time::{Duration, OffsetDateTime};

fn record(user_id: Option<i64>, now: OffsetDateTime, ttl: Duration) -> (SessionKey, SessionRecord) {
    let key = SessionKey::generate();
    let rec = SessionRecord {
        key_hash: key.hash(),
        user_id,
        auth_hash: "h".into(),
        data: serde_json::Map::new(),
        created_at: now,
        last_seen: now,
        expires_at: now + ttl,
        absolute_expires_at: now + ttl,
        idle_timeout: None,
    };
    (key, rec)
}

fn now() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap()
}

/// A store and whatever must live as long as it (a database, a prefix).
struct Fixture<T: ?Sized>(Arc<T>, #[allow(dead_code)] Option<Box<dyn std::any::Any + Send>>);

async fn with_users(db: &Database) {
    // Sessions reference users; create the users the suite uses (ids 1 and 2).
    let users = db.user_store();
    for name in ["u1", "u2"] {
        let new = latchkey::users::NewUser {
            username: latchkey::users::Username::parse(name).unwrap(),
            email: Default::default(),
            password_hash: "x".into(),
            is_staff: false,
            is_superuser: false,
        };
        users.create(&new, now()).await.unwrap();
    }
}

async fn sqlite_store() -> Fixture<dyn SessionStore> {
    let db = Database::connect("sqlite::memory:", true).await.unwrap();
    db.migrate().await.unwrap();
    with_users(&db).await;
    Fixture(db.session_store(), None)
}

async fn memory_store() -> Fixture<dyn SessionStore> {
    Fixture(Arc::new(MemorySessionStore::new()), None)
}

async fn postgres_store() -> Fixture<dyn SessionStore> {
    let pg = crate::backends::PgDatabase::new().await;
    let db = pg.migrated().await;
    with_users(&db).await;
    Fixture(db.session_store(), Some(Box::new(pg)))
}

async fn redis_store() -> Fixture<dyn SessionStore> {
    let prefix = crate::backends::RedisPrefix::new();
    let store = prefix.store().await;
    Fixture(Arc::new(store), Some(Box::new(prefix)))
}

macro_rules! conformance {
    ($($backend:ident => $make:expr;)*) => { $(
        mod $backend {
            use super::*;

            #[tokio::test]
            async fn create_then_load_round_trips_every_field() {
                let fx = $make.await;
                let s = fx.0.clone();
                let (_, mut r) = record(Some(1), now(), Duration::hours(1));
                r.data.insert("k".into(), json!({"nested": [1, 2]}));
                s.create(&r).await.unwrap();
                assert_eq!(s.load(&r.key_hash, now()).await.unwrap(), Some(r));
            }

            #[tokio::test]
            async fn rotating_a_key_leaves_only_the_new_one_usable() {
                let fx = $make.await;
                let s = fx.0.clone();
                let (_, old) = record(Some(1), now(), Duration::hours(1));
                s.create(&old).await.unwrap();
                // What a login does: delete the old record, create one under a fresh key.
                assert!(s.delete(&old.key_hash).await.unwrap());
                let (_, new) = record(Some(1), now(), Duration::hours(1));
                s.create(&new).await.unwrap();
                assert!(s.load(&old.key_hash, now()).await.unwrap().is_none());
                assert_eq!(s.load(&new.key_hash, now()).await.unwrap().map(|r| r.key_hash), Some(new.key_hash.clone()));
                assert_eq!(s.list_user_sessions(1, now()).await.unwrap().len(), 1);
            }

            #[tokio::test]
            async fn creating_an_existing_key_is_a_conflict_and_changes_nothing() {
                let fx = $make.await;
                let s = fx.0.clone();
                let (_, r) = record(Some(1), now(), Duration::hours(1));
                s.create(&r).await.unwrap();
                let mut other = r.clone();
                other.user_id = Some(2);
                assert!(matches!(s.create(&other).await, Err(StoreError::Conflict)));
                assert_eq!(s.load(&r.key_hash, now()).await.unwrap().unwrap().user_id, Some(1));
            }

            #[tokio::test]
            async fn unknown_and_expired_sessions_load_as_none() {
                let fx = $make.await;
                let s = fx.0.clone();
                assert!(s.load(&SessionKey::generate().hash(), now()).await.unwrap().is_none());
                let (_, r) = record(None, now(), Duration::seconds(10));
                s.create(&r).await.unwrap();
                assert!(s.load(&r.key_hash, now() + Duration::seconds(9)).await.unwrap().is_some());
                assert!(s.load(&r.key_hash, now() + Duration::seconds(10)).await.unwrap().is_none());
            }

            #[tokio::test]
            async fn save_updates_but_never_resurrects_a_deleted_session() {
                let fx = $make.await;
                let s = fx.0.clone();
                let (_, mut r) = record(Some(1), now(), Duration::hours(1));
                s.create(&r).await.unwrap();
                r.data.insert("x".into(), json!(1));
                assert!(s.save(&r).await.unwrap());
                assert_eq!(s.load(&r.key_hash, now()).await.unwrap().unwrap().data["x"], json!(1));
                assert!(s.delete(&r.key_hash).await.unwrap());
                assert!(!s.save(&r).await.unwrap(), "a slow request must not bring a logged-out session back");
                assert!(s.load(&r.key_hash, now()).await.unwrap().is_none());
                assert!(!s.delete(&r.key_hash).await.unwrap());
            }

            #[tokio::test]
            async fn touch_moves_last_seen_and_expiry_but_never_resurrects() {
                let fx = $make.await;
                let s = fx.0.clone();
                let (_, mut r) = record(Some(1), now(), Duration::hours(1));
                r.idle_timeout = Some(Duration::minutes(10));
                r.expires_at = now() + Duration::minutes(10);
                s.create(&r).await.unwrap();
                let later = now() + Duration::minutes(5);
                assert!(s.touch(&r.key_hash, later, later + Duration::minutes(10)).await.unwrap());
                let got = s.load(&r.key_hash, later).await.unwrap().unwrap();
                assert_eq!((got.last_seen, got.expires_at, got.idle_timeout), (later, later + Duration::minutes(10), Some(Duration::minutes(10))));
                s.delete(&r.key_hash).await.unwrap();
                assert!(!s.touch(&r.key_hash, later, later + Duration::minutes(10)).await.unwrap());
                assert!(s.load(&r.key_hash, later).await.unwrap().is_none());
            }

            #[tokio::test]
            async fn concurrent_saves_after_a_delete_do_not_resurrect() {
                let fx = $make.await;
                let s = fx.0.clone();
                let (_, r) = record(Some(1), now(), Duration::hours(1));
                s.create(&r).await.unwrap();
                s.delete(&r.key_hash).await.unwrap();
                let tasks: Vec<_> = (0..16).map(|_| { let s = s.clone(); let r = r.clone(); tokio::spawn(async move { s.save(&r).await.unwrap() }) }).collect();
                for t in tasks {
                    assert!(!t.await.unwrap());
                }
                assert!(s.load(&r.key_hash, now()).await.unwrap().is_none());
            }

            #[tokio::test]
            async fn revoking_a_users_sessions_can_keep_the_current_one() {
                let fx = $make.await;
                let s = fx.0.clone();
                let mut mine = Vec::new();
                for _ in 0..3 {
                    let (_, r) = record(Some(1), now(), Duration::hours(1));
                    s.create(&r).await.unwrap();
                    mine.push(r);
                }
                let (_, theirs) = record(Some(2), now(), Duration::hours(1));
                s.create(&theirs).await.unwrap();
                assert_eq!(s.list_user_sessions(1, now()).await.unwrap().len(), 3);
                assert_eq!(s.delete_user_sessions(1, Some(&mine[0].key_hash)).await.unwrap(), 2);
                let left = s.list_user_sessions(1, now()).await.unwrap();
                assert_eq!(left.len(), 1);
                assert_eq!(left[0].key_hash, mine[0].key_hash);
                assert_eq!(s.delete_user_sessions(1, None).await.unwrap(), 1);
                assert_eq!(s.list_user_sessions(2, now()).await.unwrap().len(), 1, "other users untouched");
            }

            #[tokio::test]
            async fn expired_sessions_are_deleted_in_batches() {
                let fx = $make.await;
                let s = fx.0.clone();
                for i in 0..12 {
                    let (_, r) = record(None, now(), Duration::seconds(if i < 10 { 1 } else { 3600 }));
                    s.create(&r).await.unwrap();
                }
                let later = now() + Duration::seconds(2);
                assert_eq!(s.delete_expired(later, 4).await.unwrap(), 4);
                assert_eq!(latchkey::session::clear_expired(s.as_ref(), later).await.unwrap(), 6);
                assert_eq!(s.delete_expired(later, 4).await.unwrap(), 0);
            }
        }
    )* };
}

conformance! {
    memory => memory_store();
    sqlite => sqlite_store();
    postgres => postgres_store();
    redis => redis_store();
}

mod throttle {
    use latchkey::throttle::{MemoryThrottleStore, ThrottleStore};

    use super::*;

    async fn sqlite() -> Fixture<dyn ThrottleStore> {
        let db = Database::connect("sqlite::memory:", true).await.unwrap();
        db.migrate().await.unwrap();
        Fixture(db.throttle_store(), None)
    }

    async fn memory() -> Fixture<dyn ThrottleStore> {
        Fixture(Arc::new(MemoryThrottleStore::default()), None)
    }

    async fn postgres() -> Fixture<dyn ThrottleStore> {
        let pg = crate::backends::PgDatabase::new().await;
        let db = pg.migrated().await;
        Fixture(db.throttle_store(), Some(Box::new(pg)))
    }

    async fn redis() -> Fixture<dyn ThrottleStore> {
        let prefix = crate::backends::RedisPrefix::new();
        let store = prefix.store().await;
        Fixture(Arc::new(store), Some(Box::new(prefix)))
    }

    macro_rules! throttle_conformance {
        ($($backend:ident => $make:expr;)*) => { $(
            mod $backend {
                use super::*;

                #[tokio::test]
                async fn failures_count_up_within_the_window_and_restart_after_it() {
                    let fx = $make.await;
                let s = fx.0.clone();
                    let w = Duration::minutes(15);
                    for i in 1..=3 {
                        assert_eq!(s.record_failure("k", now(), w).await.unwrap().failures, i);
                    }
                    assert_eq!(s.get("k", now() + Duration::minutes(14), w).await.unwrap().unwrap().failures, 3);
                    assert!(s.get("k", now() + w, w).await.unwrap().is_none());
                    let c = s.record_failure("k", now() + w, w).await.unwrap();
                    assert_eq!((c.failures, c.window_start), (1, now() + w));
                    s.reset("k").await.unwrap();
                    assert!(s.get("k", now() + w, w).await.unwrap().is_none());
                    assert!(s.get("other", now(), w).await.unwrap().is_none());
                }

                #[tokio::test]
                async fn concurrent_failures_are_all_counted() {
                    let fx = $make.await;
                let s = fx.0.clone();
                    let w = Duration::minutes(15);
                    let tasks: Vec<_> = (0..50).map(|_| { let s = s.clone(); tokio::spawn(async move { s.record_failure("k", now(), w).await.unwrap() }) }).collect();
                    for t in tasks { t.await.unwrap(); }
                    assert_eq!(s.get("k", now(), w).await.unwrap().unwrap().failures, 50);
                }
            }
        )* };
    }

    throttle_conformance! {
        memory => memory();
        sqlite => sqlite();
        postgres => postgres();
        redis => redis();
    }
}

mod users_and_audit {
    use latchkey::{
        audit::AuditEvent,
        users::{Email, NewUser, UserStoreError, Username},
    };

    use super::*;

    async fn sqlite() -> (Database, Option<Box<dyn std::any::Any + Send>>) {
        let db = Database::connect("sqlite::memory:", true).await.unwrap();
        db.migrate().await.unwrap();
        (db, None)
    }

    async fn postgres() -> (Database, Option<Box<dyn std::any::Any + Send>>) {
        let pg = crate::backends::PgDatabase::new().await;
        let db = pg.migrated().await;
        (db, Some(Box::new(pg)))
    }

    fn new_user(name: &str) -> NewUser {
        NewUser {
            username: Username::parse(name).unwrap(),
            email: Email::parse("x@example.com").unwrap(),
            password_hash: "$argon2id$hash".into(),
            is_staff: true,
            is_superuser: false,
        }
    }

    macro_rules! user_conformance {
        ($($backend:ident => $make:expr;)*) => { $(
            mod $backend {
                use super::*;

                #[tokio::test]
                async fn users_round_trip_and_usernames_are_unique_and_case_sensitive() {
                    let (db, _guard) = $make.await;
                    let users = db.user_store();
                    let u = users.create(&new_user("Demo"), now()).await.unwrap();
                    assert_eq!((u.username.as_str(), u.email.as_str(), u.is_active, u.is_staff, u.is_superuser), ("Demo", "x@example.com", true, true, false));
                    assert_eq!((u.date_joined, u.last_login), (now(), None));
                    assert_eq!(users.by_id(u.id).await.unwrap(), Some(u.clone()));
                    assert_eq!(users.by_username("Demo").await.unwrap(), Some(u.clone()));
                    assert_eq!(users.by_username("demo").await.unwrap(), None);
                    assert!(matches!(users.create(&new_user("Demo"), now()).await, Err(UserStoreError::Duplicate)));
                    assert!(users.create(&new_user("demo"), now()).await.is_ok(), "another case is another user");
                }

                #[tokio::test]
                async fn updates_apply_to_existing_users_only() {
                    let (db, _guard) = $make.await;
                    let users = db.user_store();
                    let u = users.create(&new_user("bob"), now()).await.unwrap();
                    assert!(users.set_password_hash(u.id, "$argon2id$new").await.unwrap());
                    assert!(users.set_active(u.id, false).await.unwrap());
                    users.record_login(u.id, now() + Duration::hours(1)).await.unwrap();
                    let got = users.by_id(u.id).await.unwrap().unwrap();
                    assert_eq!((got.password_hash.as_str(), got.is_active, got.last_login), ("$argon2id$new", false, Some(now() + Duration::hours(1))));
                    assert!(!users.set_password_hash(9999, "x").await.unwrap());
                    assert!(!users.set_active(9999, true).await.unwrap());
                }

                #[tokio::test]
                async fn audit_events_are_listed_newest_first_and_by_username() {
                    let (db, _guard) = $make.await;
                    let audit = db.stores().audit;
                    for (i, who) in ["a", "b", "a"].iter().enumerate() {
                        let e = AuditEvent::new(now() + Duration::seconds(i as i64), "login_failed").username(who).detail(format!("n{i}"));
                        audit.record(&e).await.unwrap();
                    }
                    let all = audit.list(10, None).await.unwrap();
                    assert_eq!(all.iter().map(|e| e.detail.as_str()).collect::<Vec<_>>(), ["n2", "n1", "n0"]);
                    let a = audit.list(10, Some("a")).await.unwrap();
                    assert_eq!(a.len(), 2);
                    assert_eq!(audit.list(1, None).await.unwrap().len(), 1);
                    assert_eq!(all[0].at, now() + Duration::seconds(2));
                }
            }
        )* };
    }

    user_conformance! {
        sqlite => sqlite();
        postgres => postgres();
    }
}
