//! The outbox sender: claims due jobs, carries them out (a mail is handed
//! to the transport; a password-reset request becomes a key and a mail per
//! account), and records the outcome. Every serving instance runs one; the
//! store's claims make sure each job has one sender at a time.

use std::time::Duration;

use super::Mailing;

use crate::mail::{Job, OutboxItem, next_attempt};

/// Jobs claimed per round.
const BATCH: u32 = 20;
/// How often an idle sender looks for due jobs (retries, other instances'
/// jobs); a job enqueued by this instance wakes it at once.
pub(crate) const OUTBOX_POLL: Duration = Duration::from_secs(1);

impl Mailing {
    /// How long a claim lasts: a sender that dies leaves its jobs to others
    /// after this. Longer than any one delivery may take.
    fn outbox_lease(&self) -> time::Duration {
        let t = self.core.settings().email.timeout.saturating_mul(3).max(Duration::from_secs(60));
        time::Duration::try_from(t).unwrap_or(time::Duration::minutes(1))
    }

    /// One round: claims due jobs and carries them out; returns how many
    /// were claimed. A store failure is logged and the round ends (the
    /// loop tries again).
    pub async fn process_outbox(&self) -> usize {
        let now = self.core.clock().now();
        let items = match self.outbox.claim(now, self.outbox_lease(), BATCH).await {
            Ok(items) => items,
            Err(e) => {
                tracing::warn!(target: "latchkey::mail", error = %e, "cannot claim outbox jobs");
                return 0;
            }
        };
        let n = items.len();
        for item in items {
            self.carry_out(item).await;
        }
        n
    }

    async fn carry_out(&self, item: OutboxItem) {
        let outcome = match &item.job {
            Job::Mail(mail) => self.transport().send(mail).await.map_err(|e| e.to_string()),
            Job::PasswordReset { email } => self.issue_password_resets(email).await.map_err(|e| e.to_string()),
            Job::VerifyEmail { email } => self.issue_verifications(email).await.map_err(|e| e.to_string()),
        };
        let now = self.core.clock().now();
        let recorded = match outcome {
            Ok(()) => self.outbox.done(item.id, now).await,
            Err(error) => {
                let s = &self.core.settings().email;
                let retry_at = next_attempt(now, item.attempts, s.retry_delay, s.max_attempts);
                let level = if retry_at.is_some() { "retrying" } else { "giving up" };
                tracing::warn!(target: "latchkey::mail", id = item.id, kind = item.job.kind(), attempts = item.attempts, %error, "outbox job failed; {level}");
                self.outbox.failed(item.id, &error, retry_at, now).await
            }
        };
        if let Err(e) = recorded {
            // The claim runs out and the job is tried again: at least once, never lost.
            tracing::warn!(target: "latchkey::mail", id = item.id, error = %e, "cannot record an outbox outcome");
        }
    }

    /// Spawns the sender loop (servers call this). It runs a round whenever
    /// a job is enqueued here, and every second otherwise (for retries and
    /// other instances' jobs).
    pub fn run_outbox(&self) -> tokio::task::JoinHandle<()> {
        let mail = self.clone();
        tokio::spawn(async move {
            loop {
                // A full batch may mean more is due: go again at once.
                if mail.process_outbox().await >= BATCH as usize {
                    continue;
                }
                tokio::select! {
                    _ = mail.wake.notified() => {}
                    _ = tokio::time::sleep(OUTBOX_POLL) => {}
                }
            }
        })
    }
}
