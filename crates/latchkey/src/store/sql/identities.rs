//! `IdentityStore` on SQL, for SQLite and PostgreSQL alike (see `stores.rs`).

/// Implements `IdentityStore` for `$store`, a struct whose `pool` field is a sqlx
/// pool of the database `$db`; expanded by [`super::stores::sql_stores`].
macro_rules! sql_identity_store {
    ($store:ty, $db:ty) => {
        // An anonymous const, so the `use`s below stay inside the expansion.
        const _: () = {
        use sql_prelude::*;

        macro_rules! identity_columns {
            () => { "id, user_id, provider, issuer, subject, email, created_at, last_used_at" };
        }

        type IdentityRow = (i64, i64, String, String, String, String, i64, Option<i64>);

        fn identity(r: IdentityRow) -> Result<$crate::oidc::Identity, StoreError> {
            let (id, user_id, provider, issuer, subject, email, created, used) = r;
            Ok($crate::oidc::Identity {
                id,
                user_id,
                provider,
                issuer,
                subject,
                email,
                created_at: from_ts(created)?,
                last_used_at: used.map(from_ts).transpose()?,
            })
        }

        #[async_trait::async_trait]
        impl $crate::oidc::IdentityStore for $store {
            async fn link(
                &self,
                i: &$crate::oidc::NewIdentity,
                now: OffsetDateTime,
            ) -> Result<Option<$crate::oidc::Identity>, StoreError> {
                let row: Option<IdentityRow> = sqlx::query_as(concat!(
                    "INSERT INTO latchkey_identities (user_id, provider, issuer, subject, email, created_at)
                     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (provider, issuer, subject) DO NOTHING RETURNING ",
                    identity_columns!()
                ))
                .bind(i.user_id)
                .bind(&i.provider)
                .bind(&i.issuer)
                .bind(&i.subject)
                .bind(&i.email)
                .bind(ts(now))
                .fetch_optional(&self.pool)
                .await?;
                row.map(identity).transpose()
            }

            async fn find(
                &self,
                provider: &str,
                issuer: &str,
                subject: &str,
            ) -> Result<Option<$crate::oidc::Identity>, StoreError> {
                let row: Option<IdentityRow> = sqlx::query_as(concat!(
                    "SELECT ", identity_columns!(), " FROM latchkey_identities WHERE provider = $1 AND issuer = $2 AND subject = $3"
                ))
                .bind(provider)
                .bind(issuer)
                .bind(subject)
                .fetch_optional(&self.pool)
                .await?;
                row.map(identity).transpose()
            }

            async fn list(&self, user_id: i64) -> Result<Vec<$crate::oidc::Identity>, StoreError> {
                let rows: Vec<IdentityRow> = sqlx::query_as(concat!(
                    "SELECT ", identity_columns!(), " FROM latchkey_identities WHERE user_id = $1 ORDER BY created_at, id"
                ))
                .bind(user_id)
                .fetch_all(&self.pool)
                .await?;
                rows.into_iter().map(identity).collect()
            }

            async fn unlink(&self, user_id: i64, id: i64) -> Result<bool, StoreError> {
                let r = sqlx::query("DELETE FROM latchkey_identities WHERE id = $1 AND user_id = $2")
                    .bind(id)
                    .bind(user_id)
                    .execute(&self.pool)
                    .await?;
                Ok(r.rows_affected() == 1)
            }

            async fn record_use(&self, id: i64, now: OffsetDateTime) -> Result<(), StoreError> {
                sqlx::query("UPDATE latchkey_identities SET last_used_at = $1 WHERE id = $2")
                    .bind(ts(now))
                    .bind(id)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }
        }
        };
    };
}

pub(crate) use sql_identity_store;
