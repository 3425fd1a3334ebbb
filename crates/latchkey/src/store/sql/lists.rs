//! The operator's lists in SQL (users, sessions, audit events), built once
//! for both dialects. Only the search differs: PostgreSQL serves
//! `lower(x) LIKE '%term%'` from pg_trgm indexes; SQLite has an FTS5
//! trigram index (migration 7) and, for terms too short for a trigram or
//! matches too many to sort, scans the ordering's index with `LIKE`.
//!
//! Flags and numbers are written into the statement as literals, not
//! bound: a partial index (`WHERE is_staff`) serves a query only when the
//! planner can see the condition, which it cannot through a parameter.
//! Nothing from the request is written in: only booleans, integers and
//! fixed column names; the search term is always bound (`$1`).

use crate::{
    page::{EXACT_COUNT_LIMIT, PageRequest},
    users::admin::{UserOrderField, UserQuery},
};

/// How a backend searches users.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(not(all(feature = "sqlite", feature = "postgres")), allow(dead_code))]
pub(crate) enum UserSearch {
    /// `lower(username) LIKE $1 OR lower(email) LIKE $1`, indexed by pg_trgm.
    Trigram,
    /// The `latchkey_users_search` FTS5 table (trigram tokenizer).
    Fts5,
}

/// How many of the newest users the estimate beyond the exact count samples.
pub(crate) const ESTIMATE_SAMPLE: u64 = 10_000;

/// The statements of one user listing.
#[derive(Debug)]
pub(crate) struct UserList {
    /// Counts matches, up to `EXACT_COUNT_LIMIT + 1`.
    pub count: String,
    /// The page, when at most `EXACT_COUNT_LIMIT` match.
    pub page: String,
    /// The page when more match: scans the ordering's index (with SQLite's
    /// FTS, sorting every match would cost more than finding a page of them).
    pub dense_page: String,
    /// Matches among the newest [`ESTIMATE_SAMPLE`] users.
    pub sample: String,
    /// `$1` of `count` and `page`, if they bind one.
    pub arg: Option<String>,
    /// `$1` of `dense_page` and `sample`, if they bind one.
    pub like_arg: Option<String>,
}

/// A LIKE pattern matching `term` anywhere, `\` escaping LIKE's wildcards.
fn contains_pattern(term: &str) -> String {
    let mut p = String::with_capacity(term.len() + 2);
    p.push('%');
    for c in term.chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
}

/// An FTS5 query for the phrase `term` (quotes doubled, so any text is one
/// phrase): with the trigram tokenizer, a case-insensitive substring match.
fn fts_phrase(term: &str) -> String {
    format!("\"{}\"", term.replace('"', "\"\""))
}

fn filters(q: &UserQuery, t: &str) -> Vec<String> {
    let mut w = Vec::new();
    for (want, col) in [(q.is_active, "is_active"), (q.is_staff, "is_staff"), (q.is_superuser, "is_superuser")] {
        match want {
            Some(true) => w.push(format!("{t}{col}")),
            Some(false) => w.push(format!("NOT {t}{col}")),
            None => {}
        }
    }
    w
}

fn order_by(q: &UserQuery, t: &str) -> String {
    let (asc, desc) = ("ASC", "DESC");
    let dir = if q.ordering.descending { desc } else { asc };
    match q.ordering.field {
        // Usernames are unique: no tie to break.
        UserOrderField::Username => format!("{t}username {dir}"),
        UserOrderField::DateJoined => format!("{t}date_joined {dir}, {t}id {dir}"),
        // Never-logged-in users are the oldest: first ascending, last descending.
        UserOrderField::LastLogin if q.ordering.descending => format!("{t}last_login DESC NULLS LAST, {t}id DESC"),
        UserOrderField::LastLogin => format!("{t}last_login ASC NULLS FIRST, {t}id ASC"),
    }
}

fn and(conds: &[String]) -> String {
    if conds.is_empty() { String::new() } else { format!(" WHERE {}", conds.join(" AND ")) }
}

fn limit(p: PageRequest) -> String {
    format!(" LIMIT {} OFFSET {}", p.limit, p.offset_i64())
}

/// The statements listing the users `q` selects, for a backend searching with `search`.
pub(crate) fn user_list(q: &UserQuery, search: UserSearch) -> UserList {
    let cap = EXACT_COUNT_LIMIT + 1;
    let term = q.search_term();
    let like_cond = "(lower(username) LIKE $1 ESCAPE '\\' OR lower(email) LIKE $1 ESCAPE '\\')".to_owned();
    let plain = filters(q, "");
    let mut like_where = plain.clone();
    if term.is_some() {
        like_where.push(like_cond);
    }
    let like_where = and(&like_where);
    let like_arg = term.as_deref().map(contains_pattern);
    let dense_page = format!("SELECT * FROM latchkey_users{like_where} ORDER BY {}{}", order_by(q, ""), limit(q.page));
    let sample = format!(
        "SELECT count(*) FROM (SELECT * FROM latchkey_users ORDER BY id DESC LIMIT {ESTIMATE_SAMPLE}) s{like_where}"
    );
    let fts = search == UserSearch::Fts5 && term.as_deref().is_some_and(|t| t.chars().count() >= 3);
    if !fts {
        return UserList {
            count: format!("SELECT count(*) FROM (SELECT 1 FROM latchkey_users{like_where} LIMIT {cap}) c"),
            page: dense_page.clone(),
            dense_page,
            sample,
            arg: like_arg.clone(),
            like_arg,
        };
    }
    // Driven by the FTS match, which yields rowids lazily: counting stops
    // at the cap whatever the number of matches.
    let mut w = vec!["latchkey_users_search MATCH $1".to_owned()];
    w.extend(filters(q, "u."));
    let from = format!("latchkey_users_search s JOIN latchkey_users u ON u.id = s.rowid{}", and(&w));
    UserList {
        count: format!("SELECT count(*) FROM (SELECT 1 FROM {from} LIMIT {cap}) c"),
        page: format!("SELECT u.* FROM {from} ORDER BY {}{}", order_by(q, "u."), limit(q.page)),
        dense_page,
        sample,
        arg: term.as_deref().map(fts_phrase),
        like_arg,
    }
}

/// Updates a user with `UserChanges` in one statement (`$1` id, `$2`
/// email, `$3` email verified, `$4`/`$5` names, `$6` active, `$7` staff,
/// `$8` superuser; NULL keeps a column), refusing, by matching no row, a
/// change that would leave no active superuser.
pub(crate) const UPDATE_USER: &str = "UPDATE latchkey_users SET
    email_verified = CASE WHEN $3 IS NOT NULL THEN $3 WHEN $2 IS NOT NULL AND $2 <> email THEN FALSE ELSE email_verified END,
    email = coalesce($2, email),
    first_name = coalesce($4, first_name),
    last_name = coalesce($5, last_name),
    is_active = coalesce($6, is_active),
    is_staff = coalesce($7, is_staff),
    is_superuser = coalesce($8, is_superuser)
  WHERE id = $1 AND (
    NOT (is_active AND is_superuser AND (coalesce($6, TRUE) = FALSE OR coalesce($8, TRUE) = FALSE))
    OR EXISTS (SELECT 1 FROM latchkey_users o WHERE o.id <> $1 AND o.is_active AND o.is_superuser))
  RETURNING *";

/// Every live signed-in session (`$1` now), most recent activity first.
pub(crate) fn session_list(page: PageRequest) -> (String, String) {
    let cap = EXACT_COUNT_LIMIT + 1;
    let live = "user_id IS NOT NULL AND expires_at > $1";
    (
        format!("SELECT count(*) FROM (SELECT 1 FROM latchkey_sessions WHERE {live} LIMIT {cap}) c"),
        format!("SELECT * FROM latchkey_sessions WHERE {live} ORDER BY last_seen DESC, key_hash{}", limit(page)),
    )
}

/// Audit events of a user (`$1`: actor or subject, NULL for all) and of
/// a kind (`$2`, NULL for all), newest first: (count, page, sample).
pub(crate) fn event_list(page: PageRequest) -> (String, String, String) {
    let cap = EXACT_COUNT_LIMIT + 1;
    let cond = "($1 IS NULL OR username = $1 OR actor = $1) AND ($2 IS NULL OR event = $2)";
    (
        format!("SELECT count(*) FROM (SELECT 1 FROM latchkey_auth_events WHERE {cond} LIMIT {cap}) c"),
        format!("SELECT * FROM latchkey_auth_events WHERE {cond} ORDER BY id DESC{}", limit(page)),
        format!(
            "SELECT count(*) FROM (SELECT * FROM latchkey_auth_events ORDER BY id DESC LIMIT {ESTIMATE_SAMPLE}) s WHERE {cond}"
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::users::admin::UserOrdering;

    #[test]
    fn like_patterns_escape_wildcards() {
        assert_eq!(contains_pattern("a_b%c\\"), "%a\\_b\\%c\\\\%");
        assert_eq!(fts_phrase("say \"hi\""), "\"say \"\"hi\"\"\"");
    }

    #[test]
    fn nothing_from_the_request_is_written_into_the_statement() {
        let q = UserQuery {
            search: Some("x'; DROP TABLE latchkey_users; --".into()),
            is_staff: Some(true),
            ordering: UserOrdering::parse("-lastLogin").unwrap(),
            ..UserQuery::default()
        };
        for search in [UserSearch::Trigram, UserSearch::Fts5] {
            let l = user_list(&q, search);
            for sql in [&l.count, &l.page, &l.dense_page, &l.sample] {
                assert!(!sql.contains("DROP"), "{sql}");
            }
            assert!(l.page.contains("is_staff") && l.page.contains("last_login DESC NULLS LAST"));
        }
    }

    #[test]
    fn short_terms_scan_on_sqlite() {
        let q = UserQuery { search: Some("ab".into()), ..UserQuery::default() };
        assert!(!user_list(&q, UserSearch::Fts5).page.contains("MATCH"));
        let q = UserQuery { search: Some("abc".into()), ..UserQuery::default() };
        assert!(user_list(&q, UserSearch::Fts5).page.contains("MATCH"));
    }
}
