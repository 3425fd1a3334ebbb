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


            #[test]
            fn live_sessions_are_the_signed_in_ones_by_latest_activity() {
                use $crate::page::PageRequest;
                $crate::testing::block_on(async {
                    let fx = $make.await;
                    let s = fx.0.clone();
                    let mut keys = Vec::new();
                    for (user, seen) in [(1, 30), (2, 10), (1, 20)] {
                        let (_, mut r) = session_record(Some(user), now(), Duration::hours(1));
                        r.last_seen = now() + Duration::seconds(seen);
                        s.create(&r).await.unwrap();
                        keys.push(r.key_hash);
                    }
                    let (_, anonymous) = session_record(None, now(), Duration::hours(1));
                    s.create(&anonymous).await.unwrap();
                    let (_, short) = session_record(Some(1), now(), Duration::seconds(5));
                    s.create(&short).await.unwrap();
                    let at = now() + Duration::seconds(60);
                    let all = s.list_live(at, PageRequest::default()).await.unwrap();
                    assert_eq!((all.count, all.count_is_estimate), (3, false), "neither the anonymous nor the expired one");
                    assert_eq!(all.results.iter().map(|r| r.key_hash.clone()).collect::<Vec<_>>(), [keys[0].clone(), keys[2].clone(), keys[1].clone()]);
                    // Activity reorders them.
                    assert!(s.touch(&keys[1], now() + Duration::seconds(40), now() + Duration::hours(2)).await.unwrap());
                    let second = s.list_live(at, PageRequest { offset: 1, limit: 1 }).await.unwrap();
                    assert_eq!((second.count, second.results.len()), (3, 1));
                    assert_eq!(second.results[0].key_hash, keys[0]);
                    assert_eq!(s.list_live(at, PageRequest::default()).await.unwrap().results[0].key_hash, keys[1]);
                    // Ended sessions leave the list.
                    assert!(s.delete(&keys[0]).await.unwrap());
                    assert_eq!(s.delete_user_sessions(2, None).await.unwrap(), 1);
                    let left = s.list_live(at, PageRequest::default()).await.unwrap();
                    assert_eq!(left.results.iter().map(|r| r.key_hash.clone()).collect::<Vec<_>>(), [keys[2].clone()]);
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
                    let mut new = new_user("Demo");
                    (new.first_name, new.last_name) = ("Zoë".into(), "Ångström".into());
                    let u = users.create(&new, now()).await.unwrap();
                    assert_eq!((u.username.as_str(), u.email.as_str(), u.is_active, u.is_staff, u.is_superuser), ("Demo", "x@example.com", true, true, false));
                    assert_eq!((u.first_name.as_str(), u.last_name.as_str()), ("Zoë", "Ångström"));
                    assert_eq!((u.date_joined, u.last_login), (now(), None));
                    assert_eq!(users.by_id(u.id).await.unwrap(), Some(u.clone()));
                    assert_eq!(users.by_username("Demo").await.unwrap(), Some(u.clone()));
                    assert_eq!(users.by_username("demo").await.unwrap(), None);
                    assert!(matches!(users.create(&new_user("Demo"), now()).await, Err(UserStoreError::Duplicate)));
                    assert!(users.create(&new_user("demo"), now()).await.is_ok(), "another case is another user");
                })
            }

            #[test]
            fn an_imported_user_is_written_whole_skipped_when_present_or_overwritten_with_update() {
                $crate::testing::block_on(async {
                    use $crate::users::{Email, Username, import::{ImportOutcome, ImportedUser}};
                    let fx = $make.await;
                    let users = fx.0.clone();
                    let imported = ImportedUser {
                        username: Username::parse("ada").unwrap(),
                        email: Email::parse("ada@example.com").unwrap(),
                        first_name: "Ada".into(),
                        last_name: "Lovelace".into(),
                        password_hash: "pbkdf2_sha256$1000$salt$hash".into(),
                        is_active: false,
                        is_staff: true,
                        is_superuser: true,
                        last_login: Some(now() - Duration::days(3)),
                        date_joined: now() - Duration::days(400),
                    };
                    let ImportOutcome::Inserted(u) = users.import(&imported, false).await.unwrap() else { panic!("inserted") };
                    let read = users.by_username("ada").await.unwrap().unwrap();
                    assert_eq!(read, u);
                    assert_eq!(
                        (read.email.as_str(), read.email_verified, read.first_name.as_str(), read.last_name.as_str(), read.password_hash.as_str()),
                        ("ada@example.com", true, "Ada", "Lovelace", "pbkdf2_sha256$1000$salt$hash")
                    );
                    assert_eq!((read.is_active, read.is_staff, read.is_superuser), (false, true, true));
                    assert_eq!((read.last_login, read.date_joined), (Some(now() - Duration::days(3)), now() - Duration::days(400)));
                    // Again: left alone, or overwritten in place with `update`.
                    let changed = ImportedUser { is_active: true, first_name: "Augusta".into(), ..imported.clone() };
                    assert_eq!(users.import(&changed, false).await.unwrap(), ImportOutcome::Skipped);
                    assert_eq!(users.by_id(u.id).await.unwrap().unwrap().first_name, "Ada", "skipped means untouched");
                    let ImportOutcome::Updated(v) = users.import(&changed, true).await.unwrap() else { panic!("updated") };
                    assert_eq!((v.id, v.first_name.as_str(), v.is_active), (u.id, "Augusta", true));
                    assert_eq!(users.by_id(u.id).await.unwrap(), Some(v), "the next read sees it");
                    let page = users.list(&$crate::users::admin::UserQuery::default()).await.unwrap();
                    assert_eq!(page.results.iter().filter(|x| x.username == "ada").count(), 1, "never duplicated");
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

            async fn seed_people(users: &std::sync::Arc<dyn UserStore>) -> Vec<$crate::User> {
                use $crate::users::{Email, NewUser, Username, UserChanges};
                let mut out = Vec::new();
                for (i, (name, email, staff, superuser)) in [
                    ("alice", "alice@example.org", true, false),
                    ("bob", "bob@Mail.TEST", false, false),
                    ("carol", "CAROL@x.org", false, true),
                    ("dave", "d@x.org", false, false),
                    ("erin_x", "erin50%@x.org", false, false),
                ].into_iter().enumerate() {
                    let new = NewUser {
                        username: Username::parse(name).unwrap(),
                        email: Email::parse(email).unwrap(),
                        email_verified: true,
                        password_hash: "$argon2id$hash".into(),
                        first_name: String::new(),
                        last_name: String::new(),
                        is_staff: staff,
                        is_superuser: superuser,
                    };
                    out.push(users.create(&new, now() + Duration::seconds(i as i64)).await.unwrap());
                }
                let off = UserChanges { is_active: Some(false), ..UserChanges::default() };
                assert!(matches!(users.update(out[3].id, &off).await.unwrap(), $crate::users::UserUpdate::Updated(_)));
                users.record_login(out[1].id, now() + Duration::hours(2)).await.unwrap();
                users.record_login(out[2].id, now() + Duration::hours(1)).await.unwrap();
                out
            }

            #[test]
            fn listing_searches_filters_orders_and_pages() {
                use $crate::users::{UserQuery, admin::UserOrdering};
                use $crate::page::PageRequest;
                $crate::testing::block_on(async {
                    let fx = $make.await;
                    let users = fx.0.clone();
                    seed_people(&users).await;
                    let names = |p: &$crate::page::Page<$crate::User>| p.results.iter().map(|u| u.username.clone()).collect::<Vec<_>>();
                    let list = |q: UserQuery| { let users = users.clone(); async move { users.list(&q).await.unwrap() } };
                    let search = |s: &str| UserQuery { search: Some(s.into()), ..UserQuery::default() };

                    let all = list(UserQuery::default()).await;
                    assert_eq!((all.count, all.count_is_estimate), (5, false));
                    assert_eq!(names(&all), ["erin_x", "dave", "carol", "bob", "alice"], "newest first by default");
                    // Case-insensitive substrings of usernames and addresses,
                    // short (scanned on SQLite) and long (indexed).
                    assert_eq!(names(&list(search("AL")).await), ["alice"]);
                    assert_eq!(names(&list(search("carol")).await), ["carol"], "the address is CAROL@x.org");
                    assert_eq!(names(&list(search("MAIL.test")).await), ["bob"]);
                    assert_eq!(names(&list(search("x.org")).await), ["erin_x", "dave", "carol"]);
                    // LIKE's wildcards are literal characters.
                    assert_eq!(names(&list(search("n50%@")).await), ["erin_x"]);
                    assert_eq!(names(&list(search("%")).await), ["erin_x"]);
                    assert_eq!(list(search("_")).await.count, 1);
                    assert_eq!(list(search("nobody-here")).await.count, 0);
                    assert_eq!(names(&list(UserQuery { is_staff: Some(true), ..UserQuery::default() }).await), ["alice"]);
                    assert_eq!(names(&list(UserQuery { is_superuser: Some(true), ..UserQuery::default() }).await), ["carol"]);
                    assert_eq!(names(&list(UserQuery { is_active: Some(false), ..UserQuery::default() }).await), ["dave"]);
                    let active_non_staff = UserQuery { is_active: Some(true), is_staff: Some(false), search: Some("x.org".into()), ..UserQuery::default() };
                    assert_eq!(names(&list(active_non_staff).await), ["erin_x", "carol"]);
                    let by = |o: &str| UserQuery { ordering: UserOrdering::parse(o).unwrap(), ..UserQuery::default() };
                    assert_eq!(names(&list(by("username")).await), ["alice", "bob", "carol", "dave", "erin_x"]);
                    assert_eq!(names(&list(by("-username")).await), ["erin_x", "dave", "carol", "bob", "alice"]);
                    assert_eq!(names(&list(by("dateJoined")).await), ["alice", "bob", "carol", "dave", "erin_x"]);
                    // Never logged in sorts as the oldest, ties by id.
                    assert_eq!(names(&list(by("lastLogin")).await), ["alice", "dave", "erin_x", "carol", "bob"]);
                    assert_eq!(names(&list(by("-lastLogin")).await), ["bob", "carol", "erin_x", "dave", "alice"]);
                    let page2 = list(UserQuery { page: PageRequest { offset: 2, limit: 2 }, ..by("username") }).await;
                    assert_eq!((page2.count, names(&page2)), (5, vec!["carol".to_owned(), "dave".to_owned()]));
                    let past = list(UserQuery { page: PageRequest { offset: 50, limit: 2 }, ..UserQuery::default() }).await;
                    assert_eq!((past.count, past.results.len()), (5, 0));
                })
            }

            #[test]
            fn an_update_changes_only_what_it_names_and_never_removes_the_last_superuser() {
                use $crate::users::{UserChanges, UserUpdate};
                $crate::testing::block_on(async {
                    let fx = $make.await;
                    let users = fx.0.clone();
                    let people = seed_people(&users).await;
                    let alice = &people[0];
                    let carol = &users.by_id(people[2].id).await.unwrap().unwrap();
                    let named = UserChanges { first_name: Some("Alice".into()), last_name: Some("Liddell".into()), ..UserChanges::default() };
                    let UserUpdate::Updated(got) = users.update(alice.id, &named).await.unwrap() else { panic!("updated") };
                    assert_eq!((got.first_name.as_str(), got.last_name.as_str()), ("Alice", "Liddell"));
                    assert_eq!(users.by_id(alice.id).await.unwrap().unwrap(), got, "the next read sees it");
                    let mut expected = alice.clone();
                    expected.first_name = "Alice".into();
                    expected.last_name = "Liddell".into();
                    assert_eq!(got, expected, "nothing else changed");

                    let moved = UserChanges { email: Some("new@example.org".into()), ..UserChanges::default() };
                    let UserUpdate::Updated(got) = users.update(alice.id, &moved).await.unwrap() else { panic!("updated") };
                    assert_eq!((got.email.as_str(), got.email_verified), ("new@example.org", false), "a new address is unverified");
                    let same = UserChanges { email: Some("new@example.org".into()), email_verified: Some(true), ..UserChanges::default() };
                    let UserUpdate::Updated(got) = users.update(alice.id, &same).await.unwrap() else { panic!("updated") };
                    assert!(got.email_verified);

                    // carol is the only active superuser.
                    for last in [
                        UserChanges { is_superuser: Some(false), ..UserChanges::default() },
                        UserChanges { is_active: Some(false), ..UserChanges::default() },
                    ] {
                        assert_eq!(users.update(carol.id, &last).await.unwrap(), UserUpdate::LastSuperuser);
                        assert_eq!(users.by_id(carol.id).await.unwrap().unwrap(), *carol, "nothing written");
                    }
                    let promote = UserChanges { is_superuser: Some(true), is_staff: Some(true), ..UserChanges::default() };
                    assert!(matches!(users.update(alice.id, &promote).await.unwrap(), UserUpdate::Updated(u) if u.is_superuser && u.is_staff));
                    let demote = UserChanges { is_superuser: Some(false), ..UserChanges::default() };
                    assert!(matches!(users.update(carol.id, &demote).await.unwrap(), UserUpdate::Updated(u) if !u.is_superuser));
                    assert_eq!(users.update(alice.id, &demote).await.unwrap(), UserUpdate::LastSuperuser);
                    assert_eq!(users.update(987_654, &demote).await.unwrap(), UserUpdate::NotFound);
                })
            }

            #[test]
            fn two_operators_demoting_the_last_two_superusers_at_once_leave_one() {
                use $crate::users::{UserChanges, UserUpdate};
                $crate::testing::block_on(async {
                    let fx = $make.await;
                    let users = fx.0.clone();
                    let people = seed_people(&users).await;
                    let promote = UserChanges { is_superuser: Some(true), ..UserChanges::default() };
                    let demote = UserChanges { is_superuser: Some(false), ..UserChanges::default() };
                    for round in 0..5 {
                        // carol and one other are the superusers; both demoted at once.
                        let other = &people[if round % 2 == 0 { 0 } else { 1 }];
                        assert!(matches!(users.update(other.id, &promote).await.unwrap(), UserUpdate::Updated(_)));
                        let (a, b) = $crate::testing::join(users.update(people[2].id, &demote), users.update(other.id, &demote)).await;
                        let outcomes = [a.unwrap(), b.unwrap()];
                        assert_eq!(outcomes.iter().filter(|o| **o == UserUpdate::LastSuperuser).count(), 1, "round {round}: {outcomes:?}");
                        // Whoever stayed superuser: make carol it again.
                        let _ = users.update(people[2].id, &promote).await.unwrap();
                        let _ = users.update(other.id, &demote).await.unwrap();
                    }
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

            #[test]
            fn events_are_queried_by_actor_or_subject_and_kind_newest_first_with_ids() {
                use $crate::page::PageRequest;
                $crate::testing::block_on(async {
                    let fx = $make.await;
                    let audit = fx.0.clone();
                    let events = [
                        AuditEvent::new(now(), "login").username("ann"),
                        AuditEvent::new(now(), "user_deactivated").username("ben").actor("ann"),
                        AuditEvent::new(now(), "login").username("ben"),
                        AuditEvent::new(now(), "login_failed").username("cy"),
                    ];
                    for e in &events {
                        audit.record(e).await.unwrap();
                    }
                    let page = |user: Option<&'static str>, kind: Option<&'static str>, p: PageRequest| {
                        let audit = audit.clone();
                        async move { audit.query(user, kind, p).await.unwrap() }
                    };
                    let all = page(None, None, PageRequest::default()).await;
                    assert_eq!((all.count, all.count_is_estimate), (4, false));
                    assert_eq!(all.results.iter().map(|(_, e)| e.event.as_str()).collect::<Vec<_>>(), ["login_failed", "login", "user_deactivated", "login"]);
                    let ids: Vec<i64> = all.results.iter().map(|(id, _)| *id).collect();
                    assert!(ids.windows(2).all(|w| w[0] > w[1]), "ids, newest first: {ids:?}");
                    assert_eq!(all.results[2].1.actor.as_deref(), Some("ann"));
                    let ann = page(Some("ann"), None, PageRequest::default()).await;
                    assert_eq!(ann.results.iter().map(|(_, e)| e.event.as_str()).collect::<Vec<_>>(), ["user_deactivated", "login"], "as actor and as subject");
                    let ben_logins = page(Some("ben"), Some("login"), PageRequest::default()).await;
                    assert_eq!(ben_logins.count, 1);
                    let second = page(None, Some("login"), PageRequest { offset: 1, limit: 1 }).await;
                    assert_eq!((second.count, second.results[0].1.username.as_deref()), (2, Some("ann")));
                })
            }

        }
    )* };
}

/// Every `KeyStore` and `OutboxStore` behaviour Latchkey relies on, on one
/// `Stores` (keys and the outbox share a database: a key and its mail are
/// kept together or not at all): single use under concurrency, expiry,
/// claims that never overlap, leases that run out, retries, give-ups.
#[macro_export]
macro_rules! mail_store_conformance {
    ($($backend:ident => $make:expr;)*) => { $(
        mod $backend {
            #[allow(unused_imports)]
            use super::*;
            #[allow(unused_imports)]
            use $crate::testing::{time::{Duration, OffsetDateTime}, now, new_user};
            #[allow(unused_imports)]
            use $crate::{keys::{KeyPurpose, KeyRecord, KeyStore, OneTimeKey}, mail::{Job, Mail, OutboxState, OutboxStore}};

            fn mail(to: &str) -> Mail {
                Mail { to: to.into(), subject: "Reset".into(), body: "Open the link.".into() }
            }

            async fn key_for(stores: &$crate::Stores, ttl: Duration) -> (OneTimeKey, KeyRecord) {
                let user = stores.users.create(&new_user(&format!("u{}", OneTimeKey::generate().expose())[..20]), now()).await.unwrap();
                let key = OneTimeKey::generate();
                let rec = KeyRecord {
                    key_hash: key.hash(),
                    purpose: KeyPurpose::PasswordReset,
                    user_id: user.id,
                    email: user.email.clone(),
                    fingerprint: "f".repeat(64),
                    created_at: now(),
                    expires_at: now() + ttl,
                    used_at: None,
                };
                (key, rec)
            }

            #[test]
            fn a_key_is_issued_with_its_mail_and_works_exactly_once() {
                $crate::testing::block_on(async {
                    let fx = $make.await;
                    let s = fx.0.clone();
                    let (_, rec) = key_for(&s, Duration::hours(1)).await;
                    s.keys.issue(&rec, &mail("a@example.com"), now()).await.unwrap();
                    let queued = s.outbox.claim(now(), Duration::minutes(1), 10).await.unwrap();
                    assert_eq!(queued.len(), 1, "the mail is in the outbox");
                    assert_eq!(queued[0].job, Job::Mail(mail("a@example.com")));
                    assert_eq!(s.keys.find(&rec.key_hash, KeyPurpose::PasswordReset, now()).await.unwrap(), Some(rec.clone()));
                    let used = s.keys.consume(&rec.key_hash, KeyPurpose::PasswordReset, now()).await.unwrap().unwrap();
                    assert_eq!(used.used_at, Some(now()));
                    assert_eq!(KeyRecord { used_at: None, ..used }, rec);
                    assert!(s.keys.consume(&rec.key_hash, KeyPurpose::PasswordReset, now()).await.unwrap().is_none(), "single use");
                    assert!(s.keys.find(&rec.key_hash, KeyPurpose::PasswordReset, now()).await.unwrap().is_none());
                    assert!(s.keys.consume(&OneTimeKey::generate().hash(), KeyPurpose::PasswordReset, now()).await.unwrap().is_none());
                })
            }

            #[test]
            fn an_expired_key_is_dead_and_purged() {
                $crate::testing::block_on(async {
                    let fx = $make.await;
                    let s = fx.0.clone();
                    let (_, rec) = key_for(&s, Duration::seconds(10)).await;
                    s.keys.issue(&rec, &mail("a@example.com"), now()).await.unwrap();
                    let later = now() + Duration::seconds(10);
                    assert!(s.keys.find(&rec.key_hash, KeyPurpose::PasswordReset, later).await.unwrap().is_none());
                    assert!(s.keys.consume(&rec.key_hash, KeyPurpose::PasswordReset, later).await.unwrap().is_none());
                    assert_eq!(s.keys.delete_expired(now()).await.unwrap(), 0);
                    assert_eq!(s.keys.delete_expired(later).await.unwrap(), 1);
                })
            }

            #[test]
            fn of_concurrent_uses_of_one_key_exactly_one_succeeds() {
                $crate::testing::block_on(async {
                    let fx = $make.await;
                    let s = fx.0.clone();
                    let (_, rec) = key_for(&s, Duration::hours(1)).await;
                    s.keys.issue(&rec, &mail("a@example.com"), now()).await.unwrap();
                    let tasks: Vec<_> = (0..16).map(|_| {
                        let (k, h) = (s.keys.clone(), rec.key_hash.clone());
                        $crate::testing::tokio::spawn(async move { k.consume(&h, KeyPurpose::PasswordReset, now()).await.unwrap().is_some() })
                    }).collect();
                    let mut wins = 0;
                    for t in tasks {
                        wins += usize::from(t.await.unwrap());
                    }
                    assert_eq!(wins, 1);
                })
            }

            #[test]
            fn claims_take_due_jobs_in_order_and_a_lapsed_lease_gives_them_back() {
                $crate::testing::block_on(async {
                    let fx = $make.await;
                    let s = fx.0.clone();
                    let ids: Vec<i64> = {
                        let mut v = Vec::new();
                        for i in 0..3 { v.push(s.outbox.enqueue(&Job::PasswordReset { email: format!("{i}@example.com") }, now()).await.unwrap()); }
                        v
                    };
                    assert_eq!(s.outbox.backlog().await.unwrap(), 3);
                    let lease = Duration::minutes(1);
                    let first = s.outbox.claim(now(), lease, 2).await.unwrap();
                    assert_eq!(first.iter().map(|i| (i.id, i.attempts)).collect::<Vec<_>>(), vec![(ids[0], 1), (ids[1], 1)]);
                    assert_eq!(first[1].job, Job::PasswordReset { email: "1@example.com".into() });
                    let second = s.outbox.claim(now(), lease, 10).await.unwrap();
                    assert_eq!(second.iter().map(|i| i.id).collect::<Vec<_>>(), vec![ids[2]]);
                    assert!(s.outbox.claim(now() + Duration::seconds(59), lease, 10).await.unwrap().is_empty(), "leases are live");
                    s.outbox.done(ids[0], now()).await.unwrap();
                    assert_eq!(s.outbox.backlog().await.unwrap(), 2);
                    // The sender of ids[1] and ids[2] died: after the lease, they come back.
                    let again = s.outbox.claim(now() + lease, lease, 10).await.unwrap();
                    assert_eq!(again.iter().map(|i| (i.id, i.attempts)).collect::<Vec<_>>(), vec![(ids[1], 2), (ids[2], 2)]);
                    let listed = s.outbox.list(false, 10).await.unwrap();
                    assert_eq!(listed.iter().map(|i| (i.id, i.state)).collect::<Vec<_>>(), vec![(ids[2], OutboxState::Pending), (ids[1], OutboxState::Pending), (ids[0], OutboxState::Done)]);
                })
            }

            #[test]
            fn failures_are_retried_when_due_then_given_up_and_revived_by_an_operator() {
                $crate::testing::block_on(async {
                    let fx = $make.await;
                    let s = fx.0.clone();
                    let id = s.outbox.enqueue(&Job::Mail(mail("b@example.com")), now()).await.unwrap();
                    let lease = Duration::minutes(1);
                    assert_eq!(s.outbox.claim(now(), lease, 10).await.unwrap().len(), 1);
                    s.outbox.failed(id, "connection refused", Some(now() + Duration::seconds(30)), now()).await.unwrap();
                    assert!(s.outbox.claim(now() + Duration::seconds(29), lease, 10).await.unwrap().is_empty(), "not before its time");
                    let retried = s.outbox.claim(now() + Duration::seconds(30), lease, 10).await.unwrap();
                    assert_eq!((retried.len(), retried[0].attempts, retried[0].last_error.as_deref()), (1, 2, Some("connection refused")));
                    s.outbox.failed(id, "550 no such user", None, now()).await.unwrap();
                    assert_eq!(s.outbox.backlog().await.unwrap(), 0);
                    assert!(s.outbox.claim(now() + Duration::days(1), lease, 10).await.unwrap().is_empty(), "given up");
                    let failed = s.outbox.list(true, 10).await.unwrap();
                    assert_eq!((failed.len(), failed[0].state, failed[0].last_error.as_deref()), (1, OutboxState::Failed, Some("550 no such user")));
                    assert_eq!(s.outbox.retry(Some(id + 1000), now()).await.unwrap(), 0);
                    assert_eq!(s.outbox.retry(None, now()).await.unwrap(), 1);
                    assert_eq!(s.outbox.backlog().await.unwrap(), 1);
                    assert_eq!(s.outbox.claim(now(), lease, 10).await.unwrap()[0].attempts, 1, "a revived job starts its attempts again");
                })
            }

            #[test]
            fn an_account_and_its_job_are_created_together_or_not_at_all() {
                $crate::testing::block_on(async {
                    let fx = $make.await;
                    let s = fx.0.clone();
                    let job = Job::VerifyEmail { email: "x@example.com".into() };
                    let u = s.users.create_with_job(&new_user("newbie"), now(), &job, s.outbox.as_ref()).await.unwrap();
                    assert_eq!(s.users.by_username("newbie").await.unwrap(), Some(u));
                    assert_eq!(s.outbox.backlog().await.unwrap(), 1);
                    let dup = s.users.create_with_job(&new_user("newbie"), now(), &job, s.outbox.as_ref()).await;
                    assert!(matches!(dup, Err($crate::users::UserStoreError::Duplicate)), "{dup:?}");
                    assert_eq!(s.outbox.backlog().await.unwrap(), 1, "no job for an account that was not created");
                })
            }

            #[test]
            fn concurrent_claims_never_share_a_job() {
                $crate::testing::block_on(async {
                    let fx = $make.await;
                    let s = fx.0.clone();
                    for i in 0..40 {
                        s.outbox.enqueue(&Job::PasswordReset { email: format!("{i}@example.com") }, now()).await.unwrap();
                    }
                    let tasks: Vec<_> = (0..8).map(|_| {
                        let o = s.outbox.clone();
                        $crate::testing::tokio::spawn(async move {
                            let mut got = Vec::new();
                            loop {
                                let batch = o.claim(now(), Duration::minutes(1), 3).await.unwrap();
                                if batch.is_empty() { return got; }
                                got.extend(batch.into_iter().map(|i| i.id));
                            }
                        })
                    }).collect();
                    let mut all = Vec::new();
                    for t in tasks {
                        all.extend(t.await.unwrap());
                    }
                    all.sort();
                    let n = all.len();
                    all.dedup();
                    assert_eq!((n, all.len()), (40, 40), "every job claimed exactly once");
                })
            }
        }
    )* };
}

/// Every `MfaStore` behaviour: one TOTP factor per user, steps accepted
/// once (also under concurrency), recovery codes single-use (also under
/// concurrency), reset; on a `Stores` (factors belong to its users).
#[macro_export]
macro_rules! mfa_store_conformance {
    ($($backend:ident => $make:expr;)*) => { $(
        mod $backend {
            #[allow(unused_imports)]
            use super::*;
            #[allow(unused_imports)]
            use $crate::testing::{time::{Duration, OffsetDateTime}, now, new_user};
            #[allow(unused_imports)]
            use $crate::mfa::MfaStore;

            async fn users(stores: &$crate::Stores) -> (i64, i64) {
                let a = stores.users.create(&new_user("mfa-a"), now()).await.unwrap();
                let b = stores.users.create(&new_user("mfa-b"), now()).await.unwrap();
                (a.id, b.id)
            }

            #[test]
            fn one_totp_factor_per_user_with_its_codes_and_a_reset_removes_both() {
                $crate::testing::block_on(async {
                    let fx = $make.await;
                    let (a, b) = users(&fx.0).await;
                    let m = fx.0.mfa.clone();
                    assert!(m.totp(a).await.unwrap().is_none());
                    let codes: Vec<String> = (0..10).map(|i| format!("code-{i}")).collect();
                    assert!(m.enable_totp(a, "sealed-1", &codes, now()).await.unwrap());
                    assert!(!m.enable_totp(a, "sealed-2", &codes[..2], now()).await.unwrap(), "one factor per user");
                    let f = m.totp(a).await.unwrap().unwrap();
                    assert_eq!((f.sealed_secret.as_str(), f.last_step, f.created_at, f.last_used_at), ("sealed-1", None, now(), None));
                    assert_eq!(m.recovery_codes_left(a).await.unwrap(), 10, "the second enable wrote nothing");
                    assert!(m.totp(b).await.unwrap().is_none(), "per user");
                    assert!(m.reset(a).await.unwrap());
                    assert!(m.totp(a).await.unwrap().is_none());
                    assert_eq!(m.recovery_codes_left(a).await.unwrap(), 0);
                    assert!(!m.reset(a).await.unwrap());
                })
            }

            #[test]
            fn a_totp_step_is_accepted_once_and_never_an_earlier_one() {
                $crate::testing::block_on(async {
                    let fx = $make.await;
                    let (a, _) = users(&fx.0).await;
                    let m = fx.0.mfa.clone();
                    assert!(!m.use_totp_step(a, 5, now()).await.unwrap(), "no factor, nothing accepted");
                    m.enable_totp(a, "s", &[], now()).await.unwrap();
                    assert!(m.use_totp_step(a, 0, now()).await.unwrap(), "step 0 is a step");
                    assert!(m.use_totp_step(a, 100, now() + Duration::seconds(1)).await.unwrap());
                    assert!(!m.use_totp_step(a, 100, now()).await.unwrap(), "the same step again");
                    assert!(!m.use_totp_step(a, 99, now()).await.unwrap(), "an earlier step");
                    let f = m.totp(a).await.unwrap().unwrap();
                    assert_eq!((f.last_step, f.last_used_at), (Some(100), Some(now() + Duration::seconds(1))));
                    // Two requests with the same code at once: one wins.
                    let (x, y) = $crate::testing::join(m.use_totp_step(a, 101, now()), m.use_totp_step(a, 101, now())).await;
                    assert_eq!([x.unwrap(), y.unwrap()].iter().filter(|w| **w).count(), 1);
                })
            }

            #[test]
            fn recovery_codes_work_once_each_even_at_once_and_are_replaced_whole() {
                $crate::testing::block_on(async {
                    let fx = $make.await;
                    let (a, b) = users(&fx.0).await;
                    let m = fx.0.mfa.clone();
                    let codes: Vec<String> = (0..3).map(|i| format!("code-{i}")).collect();
                    m.enable_totp(a, "s", &codes, now()).await.unwrap();
                    assert!(m.use_recovery_code(a, "code-1", now()).await.unwrap());
                    assert!(!m.use_recovery_code(a, "code-1", now()).await.unwrap(), "single use");
                    assert!(!m.use_recovery_code(b, "code-0", now()).await.unwrap(), "another user's code");
                    assert!(!m.use_recovery_code(a, "nope", now()).await.unwrap());
                    assert_eq!(m.recovery_codes_left(a).await.unwrap(), 2);
                    let (x, y) = $crate::testing::join(m.use_recovery_code(a, "code-2", now()), m.use_recovery_code(a, "code-2", now())).await;
                    assert_eq!([x.unwrap(), y.unwrap()].iter().filter(|w| **w).count(), 1, "one of two at once");
                    m.replace_recovery_codes(a, &["new-0".to_owned(), "new-1".to_owned()], now()).await.unwrap();
                    assert_eq!(m.recovery_codes_left(a).await.unwrap(), 2);
                    assert!(!m.use_recovery_code(a, "code-0", now()).await.unwrap(), "old codes are gone");
                    assert!(m.use_recovery_code(a, "new-1", now()).await.unwrap());
                })
            }

            fn credential(user_id: i64, credential_id: &str) -> $crate::mfa::WebauthnCredential {
                $crate::mfa::WebauthnCredential {
                    id: 0,
                    user_id,
                    credential_id: credential_id.to_owned(),
                    user_handle: format!("handle-{user_id}"),
                    name: format!("key {credential_id}"),
                    passkey: "{}".to_owned(),
                    sign_count: 0,
                    created_at: now(),
                    last_used_at: None,
                }
            }

            #[test]
            fn webauthn_credentials_are_unique_listed_oldest_first_renamed_and_removed_per_user() {
                $crate::testing::block_on(async {
                    let fx = $make.await;
                    let (a, b) = users(&fx.0).await;
                    let m = fx.0.mfa.clone();
                    let first = m.add_webauthn_credential(&credential(a, "cred-1")).await.unwrap().unwrap();
                    let mut later = credential(a, "cred-2");
                    later.created_at = now() + Duration::seconds(5);
                    let second = m.add_webauthn_credential(&later).await.unwrap().unwrap();
                    assert_ne!(first.id, second.id);
                    assert_eq!((first.user_handle.clone(), first.name.as_str(), first.created_at), (format!("handle-{a}"), "key cred-1", now()));
                    assert!(m.add_webauthn_credential(&credential(b, "cred-1")).await.unwrap().is_none(), "a credential id is one account's");
                    let list = m.webauthn_credentials(a).await.unwrap();
                    assert_eq!(list.iter().map(|c| c.credential_id.as_str()).collect::<Vec<_>>(), ["cred-1", "cred-2"]);
                    assert!(m.webauthn_credentials(b).await.unwrap().is_empty());
                    assert_eq!(m.webauthn_credential("cred-2").await.unwrap().map(|c| c.id), Some(second.id));
                    assert!(m.webauthn_credential("nope").await.unwrap().is_none());
                    assert!(!m.rename_webauthn_credential(b, first.id, "stolen").await.unwrap(), "another user's");
                    assert!(m.rename_webauthn_credential(a, first.id, "Laptop").await.unwrap());
                    assert_eq!(m.webauthn_credential("cred-1").await.unwrap().unwrap().name, "Laptop");
                    assert!(!m.delete_webauthn_credential(b, first.id).await.unwrap(), "another user's");
                    assert!(m.delete_webauthn_credential(a, first.id).await.unwrap());
                    assert!(!m.delete_webauthn_credential(a, first.id).await.unwrap());
                    assert_eq!(m.webauthn_credentials(a).await.unwrap().len(), 1);
                    // A reset takes every factor; disabling TOTP takes only TOTP.
                    m.enable_totp(a, "s", &["code".to_owned()], now()).await.unwrap();
                    assert!(m.disable_totp(a).await.unwrap());
                    assert!(!m.disable_totp(a).await.unwrap());
                    assert_eq!((m.webauthn_credentials(a).await.unwrap().len(), m.recovery_codes_left(a).await.unwrap()), (1, 1));
                    assert!(m.reset(a).await.unwrap(), "a passkey is a factor");
                    assert_eq!((m.webauthn_credentials(a).await.unwrap().len(), m.recovery_codes_left(a).await.unwrap()), (0, 0));
                    assert!(!m.reset(a).await.unwrap());
                })
            }

            #[test]
            fn a_webauthn_counter_only_moves_forward_and_one_of_two_same_assertions_wins() {
                $crate::testing::block_on(async {
                    let fx = $make.await;
                    let (a, _) = users(&fx.0).await;
                    let m = fx.0.mfa.clone();
                    let counterless = m.add_webauthn_credential(&credential(a, "synced")).await.unwrap().unwrap();
                    assert!(m.use_webauthn_credential(counterless.id, 0, "{\"v\":1}", now()).await.unwrap(), "no counter: always");
                    assert!(m.use_webauthn_credential(counterless.id, 0, "{\"v\":2}", now()).await.unwrap());
                    let c = m.webauthn_credential("synced").await.unwrap().unwrap();
                    assert_eq!((c.passkey.as_str(), c.last_used_at), ("{\"v\":2}", Some(now())));
                    let mut counted = credential(a, "hardware");
                    counted.sign_count = 3;
                    let k = m.add_webauthn_credential(&counted).await.unwrap().unwrap();
                    assert_eq!(k.sign_count, 3);
                    assert!(!m.use_webauthn_credential(k.id, 3, "{}", now()).await.unwrap(), "the same count again");
                    assert!(!m.use_webauthn_credential(k.id, 2, "{}", now()).await.unwrap(), "backwards: a clone");
                    assert!(!m.use_webauthn_credential(k.id, 0, "{}", now()).await.unwrap(), "a counter that vanished");
                    assert!(m.use_webauthn_credential(k.id, 7, "{}", now()).await.unwrap());
                    assert_eq!(m.webauthn_credential("hardware").await.unwrap().unwrap().sign_count, 7);
                    let (x, y) = $crate::testing::join(
                        m.use_webauthn_credential(k.id, 8, "{}", now()),
                        m.use_webauthn_credential(k.id, 8, "{}", now()),
                    ).await;
                    assert_eq!([x.unwrap(), y.unwrap()].iter().filter(|w| **w).count(), 1, "one of two at once");
                    assert!(!m.use_webauthn_credential(9999, 100, "{}", now()).await.unwrap(), "unknown");
                })
            }
        }
    )* };
}

/// Every `IdentityStore` behaviour: one provider account, one user (also
/// when two link it at once); lists per user, oldest first; unlinking only
/// one's own; sign-ins recorded.
#[macro_export]
macro_rules! identity_store_conformance {
    ($($backend:ident => $make:expr;)*) => { $(
        mod $backend {
            #[allow(unused_imports)]
            use super::*;
            #[allow(unused_imports)]
            use $crate::testing::{time::Duration, now, new_user};
            #[allow(unused_imports)]
            use $crate::oidc::{IdentityStore, NewIdentity};

            fn identity(user_id: i64, provider: &str, subject: &str) -> NewIdentity {
                NewIdentity {
                    user_id,
                    provider: provider.to_owned(),
                    issuer: "https://idp.example".to_owned(),
                    subject: subject.to_owned(),
                    email: format!("{subject}@example.com"),
                }
            }

            #[test]
            fn a_provider_account_links_to_one_user_and_is_found_by_provider_issuer_and_subject() {
                $crate::testing::block_on(async {
                    let fx = $make.await;
                    let a = fx.0.users.create(&new_user("idp-a"), now()).await.unwrap().id;
                    let b = fx.0.users.create(&new_user("idp-b"), now()).await.unwrap().id;
                    let s = fx.0.identities.clone();
                    let first = s.link(&identity(a, "corp", "sub-1"), now()).await.unwrap().unwrap();
                    assert_eq!((first.user_id, first.provider.as_str(), first.subject.as_str(), first.email.as_str()), (a, "corp", "sub-1", "sub-1@example.com"));
                    assert_eq!((first.created_at, first.last_used_at), (now(), None));
                    assert!(s.link(&identity(b, "corp", "sub-1"), now()).await.unwrap().is_none(), "one provider account, one user");
                    assert!(s.link(&identity(a, "corp", "sub-1"), now()).await.unwrap().is_none(), "nor twice to the same");
                    // Another provider, or another issuer, with the same subject is another account.
                    let other = s.link(&identity(b, "google", "sub-1"), now()).await.unwrap().unwrap();
                    let mut elsewhere = identity(b, "corp", "sub-1");
                    elsewhere.issuer = "https://other.example".into();
                    assert!(s.link(&elsewhere, now()).await.unwrap().is_some());
                    assert_eq!(s.find("corp", "https://idp.example", "sub-1").await.unwrap().map(|i| i.user_id), Some(a));
                    assert_eq!(s.find("google", "https://idp.example", "sub-1").await.unwrap().map(|i| i.id), Some(other.id));
                    assert!(s.find("corp", "https://idp.example", "sub-2").await.unwrap().is_none());
                    assert!(s.find("corp", "https://nope.example", "sub-1").await.unwrap().is_none());
                })
            }

            #[test]
            fn identities_are_listed_oldest_first_unlinked_only_by_their_user_and_record_their_use() {
                $crate::testing::block_on(async {
                    let fx = $make.await;
                    let a = fx.0.users.create(&new_user("idp-c"), now()).await.unwrap().id;
                    let b = fx.0.users.create(&new_user("idp-d"), now()).await.unwrap().id;
                    let s = fx.0.identities.clone();
                    let later = s.link(&identity(a, "corp", "late"), now() + Duration::seconds(5)).await.unwrap().unwrap();
                    let early = s.link(&identity(a, "google", "early"), now()).await.unwrap().unwrap();
                    let list = s.list(a).await.unwrap();
                    assert_eq!(list.iter().map(|i| i.id).collect::<Vec<_>>(), [early.id, later.id]);
                    assert!(s.list(b).await.unwrap().is_empty());
                    s.record_use(early.id, now() + Duration::seconds(9)).await.unwrap();
                    assert_eq!(s.find("google", "https://idp.example", "early").await.unwrap().unwrap().last_used_at, Some(now() + Duration::seconds(9)));
                    assert!(!s.unlink(b, early.id).await.unwrap(), "another user's");
                    assert!(s.unlink(a, early.id).await.unwrap());
                    assert!(!s.unlink(a, early.id).await.unwrap(), "gone");
                    assert_eq!(s.list(a).await.unwrap().len(), 1);
                    // Unlinked, the provider account may be linked again (to anyone).
                    assert!(s.link(&identity(b, "google", "early"), now()).await.unwrap().is_some());
                })
            }

            #[test]
            fn of_two_links_of_one_provider_account_at_once_one_wins() {
                $crate::testing::block_on(async {
                    let fx = $make.await;
                    let a = fx.0.users.create(&new_user("idp-e"), now()).await.unwrap().id;
                    let b = fx.0.users.create(&new_user("idp-f"), now()).await.unwrap().id;
                    let s = fx.0.identities.clone();
                    let (x, y) = $crate::testing::join(
                        s.link(&identity(a, "corp", "race"), now()),
                        s.link(&identity(b, "corp", "race"), now()),
                    ).await;
                    assert_eq!([x.unwrap(), y.unwrap()].iter().filter(|w| w.is_some()).count(), 1);
                })
            }
        }
    )* };
}
