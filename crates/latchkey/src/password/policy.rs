//! Password validators, as Django's `AUTH_PASSWORD_VALIDATORS` defaults:
//! minimum length, common passwords (Django's list of 19,640, see
//! `data/NOTICE.md`), entirely numeric, and too similar to the username or
//! email. No composition rules (ASVS 6.2.5); the password is checked exactly
//! as typed (ASVS 6.2.8).

use std::{collections::HashSet, sync::OnceLock};

use crate::password::RawPassword;
pub use crate::settings::PasswordPolicy;

static COMMON: &str = include_str!("../../data/common-passwords.txt");

fn common_passwords() -> &'static HashSet<&'static str> {
    static SET: OnceLock<HashSet<&'static str>> = OnceLock::new();
    SET.get_or_init(|| COMMON.lines().map(str::trim).filter(|l| !l.is_empty()).collect())
}

/// Python's `SequenceMatcher.quick_ratio`: 2·M/T with M the size of the
/// multiset intersection of the characters. An upper bound of the real
/// ratio, which is what Django compares against.
fn quick_ratio(a: &str, b: &str) -> f64 {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    if a.is_empty() && b.is_empty() {
        return 1.0;
    }
    let mut counts = std::collections::HashMap::new();
    for c in &b {
        *counts.entry(*c).or_insert(0i32) += 1;
    }
    let mut matches = 0;
    for c in &a {
        if let Some(n) = counts.get_mut(c)
            && *n > 0
        {
            *n -= 1;
            matches += 1;
        }
    }
    2.0 * f64::from(matches) / (a.len() + b.len()) as f64
}

/// One reason a password is refused: Django's validator code and message.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PasswordProblem {
    /// Django's code: `password_too_short`, `password_too_common`,
    /// `password_entirely_numeric` or `password_too_similar`.
    pub code: &'static str,
    /// Django's words, for people.
    pub message: String,
}

impl PasswordPolicy {
    /// Every problem with `password`, in words for people; empty when it passes.
    pub fn problems(&self, password: &RawPassword, username: &str, email: &str) -> Vec<String> {
        self.check(password, username, email).into_iter().map(|p| p.message).collect()
    }

    /// Every problem with `password`, with Django's codes; empty when it passes.
    pub fn check(&self, password: &RawPassword, username: &str, email: &str) -> Vec<PasswordProblem> {
        let pw = password.expose();
        let mut out = Vec::new();
        let mut push = |code, message: String| out.push(PasswordProblem { code, message });
        let n = pw.chars().count();
        if n < self.min_length {
            push(
                "password_too_short",
                format!(
                    "This password is too short. It must contain at least {} character{}.",
                    self.min_length,
                    if self.min_length == 1 { "" } else { "s" }
                ),
            );
        }
        if self.refuse_common && common_passwords().contains(pw.trim().to_lowercase().as_str()) {
            push("password_too_common", "This password is too common.".into());
        }
        if self.refuse_numeric && !pw.is_empty() && pw.chars().all(|c| c.is_numeric()) {
            push("password_entirely_numeric", "This password is entirely numeric.".into());
        }
        if let Some(max) = self.max_similarity {
            let lower = pw.to_lowercase();
            for (label, value) in [("username", username), ("email address", email)] {
                if value.is_empty() {
                    continue;
                }
                let value = value.to_lowercase();
                let parts = value.split(|c: char| !c.is_alphanumeric() && c != '_').filter(|p| !p.is_empty());
                let similar = std::iter::once(value.as_str()).chain(parts).any(|part| {
                    // Django's exceeds_maximum_length_ratio: skip parts so much
                    // shorter than the password that the ratio cannot reach the limit.
                    let (p, v) = (lower.chars().count() as f64, part.chars().count() as f64);
                    if p >= 10.0 * v && v < max / 2.0 * p {
                        return false;
                    }
                    quick_ratio(&lower, part) >= max
                });
                if similar {
                    push("password_too_similar", format!("The password is too similar to the {label}."));
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> RawPassword {
        RawPassword::new(s)
    }

    #[test]
    fn a_good_password_passes() {
        assert!(
            PasswordPolicy::default()
                .problems(&p("correct horse battery staple"), "demo", "demo@example.com")
                .is_empty()
        );
    }

    #[test]
    fn short_common_numeric_and_similar_passwords_are_refused_with_djangos_words() {
        let policy = PasswordPolicy::default();
        assert_eq!(
            policy.problems(&p("Xy7!"), "u", ""),
            ["This password is too short. It must contain at least 8 characters."]
        );
        assert_eq!(policy.problems(&p("password1"), "u", ""), ["This password is too common."]);
        assert_eq!(
            policy.problems(&p("PASSWORD1"), "u", ""),
            ["This password is too common."],
            "case-insensitive, as Django"
        );
        assert!(policy.problems(&p("9081726354"), "u", "").contains(&"This password is entirely numeric.".to_owned()));
        assert_eq!(
            policy.problems(&p("alexander-smith"), "alexander.smith", ""),
            ["The password is too similar to the username."]
        );
        assert_eq!(
            policy.problems(&p("jdoe1987works"), "someone", "jdoe1987works@example.com"),
            ["The password is too similar to the email address."]
        );
    }

    #[test]
    fn the_common_list_is_djangos_full_list() {
        assert!(common_passwords().len() > 19_000);
        assert!(common_passwords().contains("123456") && common_passwords().contains("qwerty"));
    }

    #[test]
    fn quick_ratio_matches_pythons() {
        // difflib.SequenceMatcher(None, "abcd", "bcde").quick_ratio() == 0.75
        assert!((quick_ratio("abcd", "bcde") - 0.75).abs() < 1e-9);
        assert!((quick_ratio("abc", "xyz")).abs() < 1e-9);
    }

    #[test]
    fn validators_can_be_relaxed() {
        let lax = PasswordPolicy { min_length: 1, refuse_common: false, refuse_numeric: false, max_similarity: None };
        assert!(lax.problems(&p("123456"), "123456", "").is_empty());
    }
}
