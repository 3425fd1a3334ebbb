//! The store conformance suites: one macro per store trait, each a module
//! of tests per backend. A backend is `name => expression;`, the expression
//! a future of a [`Fixture`](super::Fixture) (evaluated inside the
//! generated module, which sees its parent's items).

/// Every `SessionStore` behaviour Latchkey relies on: round trips, key
/// rotation, conflicts, expiry, no resurrection by a late save or touch,
/// revocation with a kept session, batched purges.
#[macro_export]
macro_rules! session_store_conformance {
    ($($backend:ident => $make:expr;)*) => { $(
        mod $backend {
            #[allow(unused_imports)]
            use super::*;
            #[allow(unused_imports)]
            use $crate::testing::{serde_json::json, time::{Duration, OffsetDateTime}, now, session_record, new_user};
            #[allow(unused_imports)]
            use $crate::session::{SessionKey, SessionStore};
            #[allow(unused_imports)]
            use $crate::StoreError;

            #[test]
            fn create_then_load_round_trips_every_field() {
                $crate::testing::block_on(async {
                    let fx = $make.await;
                    let s = fx.0.clone();
                    let (_, mut r) = session_record(Some(1), now(), Duration::hours(1));
                    r.data.insert("k".into(), json!({"nested": [1, 2]}));
                    s.create(&r).await.unwrap();
                    assert_eq!(s.load(&r.key_hash, now()).await.unwrap(), Some(r));
                })
            }

            #[test]
            fn rotating_a_key_leaves_only_the_new_one_usable() {
                $crate::testing::block_on(async {
                    let fx = $make.await;
                    let s = fx.0.clone();
                    let (_, old) = session_record(Some(1), now(), Duration::hours(1));
                    s.create(&old).await.unwrap();
                    // What a login does: delete the old record, create one under a fresh key.
                    assert!(s.delete(&old.key_hash).await.unwrap());
                    let (_, new) = session_record(Some(1), now(), Duration::hours(1));
                    s.create(&new).await.unwrap();
                    assert!(s.load(&old.key_hash, now()).await.unwrap().is_none());
                    assert_eq!(s.load(&new.key_hash, now()).await.unwrap().map(|r| r.key_hash), Some(new.key_hash.clone()));
                    assert_eq!(s.list_user_sessions(1, now()).await.unwrap().len(), 1);
                })
            }

            #[test]
            fn creating_an_existing_key_is_a_conflict_and_changes_nothing() {
                $crate::testing::block_on(async {
                    let fx = $make.await;
                    let s = fx.0.clone();
                    let (_, r) = session_record(Some(1), now(), Duration::hours(1));
                    s.create(&r).await.unwrap();
                    let mut other = r.clone();
                    other.user_id = Some(2);
                    assert!(matches!(s.create(&other).await, Err(StoreError::Conflict)));
                    assert_eq!(s.load(&r.key_hash, now()).await.unwrap().unwrap().user_id, Some(1));
                })
            }

            #[test]
            fn unknown_and_expired_sessions_load_as_none() {
                $crate::testing::block_on(async {
                    let fx = $make.await;
                    let s = fx.0.clone();
                    assert!(s.load(&SessionKey::generate().hash(), now()).await.unwrap().is_none());
                    let (_, r) = session_record(None, now(), Duration::seconds(10));
                    s.create(&r).await.unwrap();
                    assert!(s.load(&r.key_hash, now() + Duration::seconds(9)).await.unwrap().is_some());
                    assert!(s.load(&r.key_hash, now() + Duration::seconds(10)).await.unwrap().is_none());
                })
            }

            #[test]
            fn save_updates_but_never_resurrects_a_deleted_session() {
                $crate::testing::block_on(async {
                    let fx = $make.await;
                    let s = fx.0.clone();
                    let (_, mut r) = session_record(Some(1), now(), Duration::hours(1));
                    s.create(&r).await.unwrap();
                    r.data.insert("x".into(), json!(1));
                    assert!(s.save(&r).await.unwrap());
                    assert_eq!(s.load(&r.key_hash, now()).await.unwrap().unwrap().data["x"], json!(1));
                    assert!(s.delete(&r.key_hash).await.unwrap());
                    assert!(!s.save(&r).await.unwrap(), "a slow request must not bring a logged-out session back");
                    assert!(s.load(&r.key_hash, now()).await.unwrap().is_none());
                    assert!(!s.delete(&r.key_hash).await.unwrap());
                })
            }

            #[test]
            fn touch_moves_last_seen_and_expiry_but_never_resurrects() {
                $crate::testing::block_on(async {
                    let fx = $make.await;
                    let s = fx.0.clone();
                    let (_, mut r) = session_record(Some(1), now(), Duration::hours(1));
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
                })
            }

            #[test]
            fn concurrent_saves_after_a_delete_do_not_resurrect() {
                $crate::testing::block_on(async {
                    let fx = $make.await;
                    let s = fx.0.clone();
                    let (_, r) = session_record(Some(1), now(), Duration::hours(1));
                    s.create(&r).await.unwrap();
                    s.delete(&r.key_hash).await.unwrap();
                    let tasks: Vec<_> = (0..16).map(|_| { let s = s.clone(); let r = r.clone(); $crate::testing::tokio::spawn(async move { s.save(&r).await.unwrap() }) }).collect();
                    for t in tasks {
                        assert!(!t.await.unwrap());
                    }
                    assert!(s.load(&r.key_hash, now()).await.unwrap().is_none());
                })
            }

            #[test]
            fn revoking_a_users_sessions_can_keep_the_current_one() {
                $crate::testing::block_on(async {
                    let fx = $make.await;
                    let s = fx.0.clone();
                    let mut mine = Vec::new();
                    for _ in 0..3 {
                        let (_, r) = session_record(Some(1), now(), Duration::hours(1));
                        s.create(&r).await.unwrap();
                        mine.push(r);
                    }
                    let (_, theirs) = session_record(Some(2), now(), Duration::hours(1));
                    s.create(&theirs).await.unwrap();
                    assert_eq!(s.list_user_sessions(1, now()).await.unwrap().len(), 3);
                    assert_eq!(s.delete_user_sessions(1, Some(&mine[0].key_hash)).await.unwrap(), 2);
                    let left = s.list_user_sessions(1, now()).await.unwrap();
                    assert_eq!(left.len(), 1);
                    assert_eq!(left[0].key_hash, mine[0].key_hash);
                    assert_eq!(s.delete_user_sessions(1, None).await.unwrap(), 1);
                    assert_eq!(s.list_user_sessions(2, now()).await.unwrap().len(), 1, "other users untouched");
                })
            }

            #[test]
            fn a_users_sessions_list_newest_first_with_where_they_came_from() {
                $crate::testing::block_on(async {
                    let fx = $make.await;
                    let s = fx.0.clone();
                    let mut made = Vec::new();
                    for (i, ua) in ["First/1", "Second/2", "Third/3"].into_iter().enumerate() {
                        let created = now() + Duration::seconds(i as i64 * 10);
                        let (_, mut r) = session_record(Some(2), created, Duration::hours(1));
                        r.user_agent = Some(ua.into());
                        r.ip = Some(format!("2001:db8::{i}"));
                        r.remember = i != 1;
                        s.create(&r).await.unwrap();
                        made.push(r);
                    }
                    let (_, anonymous) = session_record(None, now(), Duration::hours(1));
                    s.create(&anonymous).await.unwrap();
                    let listed = s.list_user_sessions(2, now() + Duration::seconds(30)).await.unwrap();
                    made.reverse();
                    assert_eq!(listed, made, "newest first, every field as stored");
                    assert!(listed[1].remember == false && listed[0].authenticated_at.is_some());
                })
            }

            #[test]
            fn a_save_stamps_a_new_authentication_time() {
                $crate::testing::block_on(async {
                    let fx = $make.await;
                    let s = fx.0.clone();
                    let (_, mut r) = session_record(Some(1), now(), Duration::hours(1));
                    r.authenticated_at = None;
                    s.create(&r).await.unwrap();
                    assert_eq!(s.load(&r.key_hash, now()).await.unwrap().unwrap().authenticated_at, None);
                    r.authenticated_at = Some(now() + Duration::seconds(5));
                    assert!(s.save(&r).await.unwrap());
                    assert_eq!(s.load(&r.key_hash, now()).await.unwrap().unwrap().authenticated_at, r.authenticated_at);
                })
            }

            #[test]
            fn every_change_is_seen_by_the_next_read_even_after_a_read() {
                $crate::testing::block_on(async {
                    // Reads first, so a caching store has the old value to get wrong.
                    let fx = $make.await;
                    let s = fx.0.clone();
                    let (_, mut r) = session_record(Some(1), now(), Duration::hours(1));
                    r.idle_timeout = Some(Duration::minutes(30));
                    s.create(&r).await.unwrap();
                    assert!(s.load(&r.key_hash, now()).await.unwrap().is_some());
                    r.data.insert("k".into(), json!("v2"));
                    assert!(s.save(&r).await.unwrap());
                    assert_eq!(s.load(&r.key_hash, now()).await.unwrap().unwrap().data["k"], json!("v2"));
                    let later = now() + Duration::minutes(1);
                    assert!(s.touch(&r.key_hash, later, later + Duration::minutes(30)).await.unwrap());
                    let got = s.load(&r.key_hash, later).await.unwrap().unwrap();
                    assert_eq!((got.last_seen, got.expires_at), (later, later + Duration::minutes(30)));
                    assert!(s.delete(&r.key_hash).await.unwrap());
                    assert!(s.load(&r.key_hash, later).await.unwrap().is_none(), "a deleted session is never served");
                    let (_, other) = session_record(Some(2), now(), Duration::hours(1));
                    s.create(&other).await.unwrap();
                    assert!(s.load(&other.key_hash, now()).await.unwrap().is_some());
                    assert_eq!(s.delete_user_sessions(2, None).await.unwrap(), 1);
                    assert!(s.load(&other.key_hash, now()).await.unwrap().is_none(), "a revoked session is never served");
                })
            }

            #[test]
            fn expired_sessions_are_deleted_in_batches() {
                $crate::testing::block_on(async {
                    let fx = $make.await;
                    let s = fx.0.clone();
                    for i in 0..12 {
                        let (_, r) = session_record(None, now(), Duration::seconds(if i < 10 { 1 } else { 3600 }));
                        s.create(&r).await.unwrap();
                    }
                    let later = now() + Duration::seconds(2);
                    assert_eq!(s.delete_expired(later, 4).await.unwrap(), 4);
                    assert_eq!($crate::session::clear_expired(s.as_ref(), later).await.unwrap(), 6);
                    assert_eq!(s.delete_expired(later, 4).await.unwrap(), 0);
                })
            }

        }
    )* };
}

/// Every `ThrottleStore` behaviour: windows, resets, no lost counts under
/// concurrency.
#[macro_export]
macro_rules! throttle_store_conformance {
    ($($backend:ident => $make:expr;)*) => { $(
        mod $backend {
            #[allow(unused_imports)]
            use super::*;
            #[allow(unused_imports)]
            use $crate::testing::{serde_json::json, time::{Duration, OffsetDateTime}, now, session_record, new_user};
            #[allow(unused_imports)]
            use $crate::throttle::ThrottleStore;

            #[test]
            fn failures_count_up_within_the_window_and_restart_after_it() {
                $crate::testing::block_on(async {
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
                })
            }

            #[test]
            fn concurrent_failures_are_all_counted() {
                $crate::testing::block_on(async {
                    let fx = $make.await;
                let s = fx.0.clone();
                    let w = Duration::minutes(15);
                    let tasks: Vec<_> = (0..50).map(|_| { let s = s.clone(); $crate::testing::tokio::spawn(async move { s.record_failure("k", now(), w).await.unwrap() }) }).collect();
                    for t in tasks { t.await.unwrap(); }
                    assert_eq!(s.get("k", now(), w).await.unwrap().unwrap().failures, 50);
                })
            }

        }
    )* };
}

/// Every `UserStore` behaviour: round trips, unique case-sensitive names,
/// updates of existing users only.
#[macro_export]
macro_rules! user_store_conformance {
    ($($backend:ident => $make:expr;)*) => { $(
        mod $backend {
            #[allow(unused_imports)]
            use super::*;
            #[allow(unused_imports)]
            use $crate::testing::{serde_json::json, time::{Duration, OffsetDateTime}, now, session_record, new_user};
            #[allow(unused_imports)]
            use $crate::users::{UserStore, UserStoreError};

            #[test]
            fn users_round_trip_and_usernames_are_unique_and_case_sensitive() {
                $crate::testing::block_on(async {
                    let fx = $make.await;
                    let users = fx.0.clone();
                    let u = users.create(&new_user("Demo"), now()).await.unwrap();
                    assert_eq!((u.username.as_str(), u.email.as_str(), u.is_active, u.is_staff, u.is_superuser), ("Demo", "x@example.com", true, true, false));
                    assert_eq!((u.date_joined, u.last_login), (now(), None));
                    assert_eq!(users.by_id(u.id).await.unwrap(), Some(u.clone()));
                    assert_eq!(users.by_username("Demo").await.unwrap(), Some(u.clone()));
                    assert_eq!(users.by_username("demo").await.unwrap(), None);
                    assert!(matches!(users.create(&new_user("Demo"), now()).await, Err(UserStoreError::Duplicate)));
                    assert!(users.create(&new_user("demo"), now()).await.is_ok(), "another case is another user");
                })
            }

            #[test]
            fn every_change_to_a_user_is_seen_by_the_next_read_even_after_a_read() {
                $crate::testing::block_on(async {
                    let fx = $make.await;
                    let users = fx.0.clone();
                    let u = users.create(&new_user("carol"), now()).await.unwrap();
                    assert!(users.by_id(u.id).await.unwrap().unwrap().is_active);
                    assert!(users.set_password_hash(u.id, "$argon2id$changed").await.unwrap());
                    assert_eq!(users.by_id(u.id).await.unwrap().unwrap().password_hash, "$argon2id$changed");
                    assert!(users.set_active(u.id, false).await.unwrap());
                    assert!(!users.by_id(u.id).await.unwrap().unwrap().is_active, "a deactivated user is never served active");
                    users.record_login(u.id, now() + Duration::hours(2)).await.unwrap();
                    assert_eq!(users.by_id(u.id).await.unwrap().unwrap().last_login, Some(now() + Duration::hours(2)));
                })
            }

            #[test]
            fn updates_apply_to_existing_users_only() {
                $crate::testing::block_on(async {
                    let fx = $make.await;
                    let users = fx.0.clone();
                    let u = users.create(&new_user("bob"), now()).await.unwrap();
                    assert!(users.set_password_hash(u.id, "$argon2id$new").await.unwrap());
                    assert!(users.set_active(u.id, false).await.unwrap());
                    users.record_login(u.id, now() + Duration::hours(1)).await.unwrap();
                    let got = users.by_id(u.id).await.unwrap().unwrap();
                    assert_eq!((got.password_hash.as_str(), got.is_active, got.last_login), ("$argon2id$new", false, Some(now() + Duration::hours(1))));
                    assert!(!users.set_password_hash(9999, "x").await.unwrap());
                    assert!(!users.set_active(9999, true).await.unwrap());
                })
            }


        }
    )* };
}

/// Every `AuditStore` behaviour: newest first, filtered by username.
#[macro_export]
macro_rules! audit_store_conformance {
    ($($backend:ident => $make:expr;)*) => { $(
        mod $backend {
            #[allow(unused_imports)]
            use super::*;
            #[allow(unused_imports)]
            use $crate::testing::{serde_json::json, time::{Duration, OffsetDateTime}, now, session_record, new_user};
            #[allow(unused_imports)]
            use $crate::audit::{AuditEvent, AuditStore};

            #[test]
            fn audit_events_are_listed_newest_first_and_by_username() {
                $crate::testing::block_on(async {
                    let fx = $make.await;
                    let audit = fx.0.clone();
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
                })
            }

        }
    )* };
}
