//! `MfaStore` on SQL, for SQLite and PostgreSQL alike (see `stores.rs`).

/// Implements `MfaStore` for `$store`, a struct whose `pool` field is a sqlx
/// pool of the database `$db`; expanded by [`super::stores::sql_stores`].
macro_rules! sql_mfa_store {
    ($store:ty, $db:ty) => {
        // An anonymous const, so the `use`s below stay inside the expansion.
        const _: () = {
        use sql_prelude::*;

        macro_rules! webauthn_columns {
            () => { "id, user_id, credential_id, user_handle, name, passkey, sign_count, created_at, last_used_at" };
        }

        #[async_trait::async_trait]
        impl $crate::mfa::TotpStore for $store {
            async fn totp(&self, user_id: i64) -> Result<Option<$crate::mfa::TotpFactor>, StoreError> {
                let row: Option<(String, i64, i64, Option<i64>)> = sqlx::query_as(
                    "SELECT secret, last_step, created_at, last_used_at FROM latchkey_mfa_totp WHERE user_id = $1",
                )
                .bind(user_id)
                .fetch_optional(&self.pool)
                .await?;
                row.map(|(sealed_secret, last_step, created, used)| {
                    Ok($crate::mfa::TotpFactor {
                        sealed_secret,
                        last_step: u64::try_from(last_step).ok(),
                        created_at: from_ts(created)?,
                        last_used_at: used.map(from_ts).transpose()?,
                    })
                })
                .transpose()
            }

            async fn enable_totp(
                &self,
                user_id: i64,
                sealed_secret: &str,
                recovery_codes: &[String],
                now: OffsetDateTime,
            ) -> Result<bool, StoreError> {
                // The factor and its codes, or neither.
                let mut tx = self.pool.begin().await?;
                let added = sqlx::query(
                    "INSERT INTO latchkey_mfa_totp (user_id, secret, created_at) VALUES ($1, $2, $3) ON CONFLICT (user_id) DO NOTHING",
                )
                .bind(user_id)
                .bind(sealed_secret)
                .bind(ts(now))
                .execute(&mut *tx)
                .await?;
                if added.rows_affected() == 0 {
                    return Ok(false);
                }
                if !recovery_codes.is_empty() {
                    insert_recovery_codes(&mut tx, user_id, recovery_codes, now).await?;
                }
                tx.commit().await?;
                Ok(true)
            }

            async fn use_totp_step(&self, user_id: i64, step: u64, now: OffsetDateTime) -> Result<bool, StoreError> {
                // One statement: of two requests with the same code, one wins.
                let r = sqlx::query(
                    "UPDATE latchkey_mfa_totp SET last_step = $2, last_used_at = $3 WHERE user_id = $1 AND last_step < $2",
                )
                .bind(user_id)
                .bind(i64::try_from(step).unwrap_or(i64::MAX))
                .bind(ts(now))
                .execute(&self.pool)
                .await?;
                Ok(r.rows_affected() == 1)
            }

            async fn disable_totp(&self, user_id: i64) -> Result<bool, StoreError> {
                let r = sqlx::query("DELETE FROM latchkey_mfa_totp WHERE user_id = $1").bind(user_id).execute(&self.pool).await?;
                Ok(r.rows_affected() > 0)
            }
        }

        #[async_trait::async_trait]
        impl $crate::mfa::WebauthnStore for $store {
            async fn webauthn_credentials(&self, user_id: i64) -> Result<Vec<$crate::mfa::WebauthnCredential>, StoreError> {
                let rows: Vec<WebauthnRow> = sqlx::query_as(concat!(
                    "SELECT ", webauthn_columns!(), " FROM latchkey_webauthn_credentials WHERE user_id = $1 ORDER BY created_at, id"
                ))
                .bind(user_id)
                .fetch_all(&self.pool)
                .await?;
                rows.into_iter().map(webauthn_credential).collect()
            }

            async fn webauthn_credential(&self, credential_id: &str) -> Result<Option<$crate::mfa::WebauthnCredential>, StoreError> {
                let row: Option<WebauthnRow> = sqlx::query_as(concat!(
                    "SELECT ", webauthn_columns!(), " FROM latchkey_webauthn_credentials WHERE credential_id = $1"
                ))
                .bind(credential_id)
                .fetch_optional(&self.pool)
                .await?;
                row.map(webauthn_credential).transpose()
            }

            async fn add_webauthn_credential(
                &self,
                c: &$crate::mfa::WebauthnCredential,
            ) -> Result<Option<$crate::mfa::WebauthnCredential>, StoreError> {
                let row: Option<WebauthnRow> = sqlx::query_as(concat!(
                    "INSERT INTO latchkey_webauthn_credentials (user_id, credential_id, user_handle, name, passkey, sign_count, created_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (credential_id) DO NOTHING RETURNING ", webauthn_columns!()
                ))
                .bind(c.user_id)
                .bind(&c.credential_id)
                .bind(&c.user_handle)
                .bind(&c.name)
                .bind(&c.passkey)
                .bind(i64::from(c.sign_count))
                .bind(ts(c.created_at))
                .fetch_optional(&self.pool)
                .await?;
                row.map(webauthn_credential).transpose()
            }

            async fn use_webauthn_credential(
                &self,
                id: i64,
                sign_count: u32,
                passkey: &str,
                now: OffsetDateTime,
            ) -> Result<bool, StoreError> {
                // One statement: of two requests with the same assertion (or
                // a clone's), one moves the counter and the other finds it moved.
                let r = sqlx::query(
                    "UPDATE latchkey_webauthn_credentials SET sign_count = $2, passkey = $3, last_used_at = $4
                     WHERE id = $1 AND (sign_count < $2 OR ($2 = 0 AND sign_count = 0))",
                )
                .bind(id)
                .bind(i64::from(sign_count))
                .bind(passkey)
                .bind(ts(now))
                .execute(&self.pool)
                .await?;
                Ok(r.rows_affected() == 1)
            }

            async fn rename_webauthn_credential(&self, user_id: i64, id: i64, name: &str) -> Result<bool, StoreError> {
                let r = sqlx::query("UPDATE latchkey_webauthn_credentials SET name = $3 WHERE id = $2 AND user_id = $1")
                    .bind(user_id)
                    .bind(id)
                    .bind(name)
                    .execute(&self.pool)
                    .await?;
                Ok(r.rows_affected() == 1)
            }

            async fn delete_webauthn_credential(&self, user_id: i64, id: i64) -> Result<bool, StoreError> {
                let r = sqlx::query("DELETE FROM latchkey_webauthn_credentials WHERE id = $2 AND user_id = $1")
                    .bind(user_id)
                    .bind(id)
                    .execute(&self.pool)
                    .await?;
                Ok(r.rows_affected() == 1)
            }
        }

        #[async_trait::async_trait]
        impl $crate::mfa::RecoveryCodeStore for $store {
            async fn recovery_codes_left(&self, user_id: i64) -> Result<u32, StoreError> {
                let n: i64 = sqlx::query_scalar(
                    "SELECT count(*) FROM latchkey_mfa_recovery_codes WHERE user_id = $1 AND used_at IS NULL",
                )
                .bind(user_id)
                .fetch_one(&self.pool)
                .await?;
                Ok(u32::try_from(n).unwrap_or(u32::MAX))
            }

            async fn use_recovery_code(&self, user_id: i64, stored: &str, now: OffsetDateTime) -> Result<bool, StoreError> {
                let r = sqlx::query(
                    "UPDATE latchkey_mfa_recovery_codes SET used_at = $3 WHERE user_id = $1 AND code = $2 AND used_at IS NULL",
                )
                .bind(user_id)
                .bind(stored)
                .bind(ts(now))
                .execute(&self.pool)
                .await?;
                Ok(r.rows_affected() == 1)
            }

            async fn replace_recovery_codes(
                &self,
                user_id: i64,
                recovery_codes: &[String],
                now: OffsetDateTime,
            ) -> Result<(), StoreError> {
                let mut tx = self.pool.begin().await?;
                insert_recovery_codes(&mut tx, user_id, recovery_codes, now).await?;
                tx.commit().await?;
                Ok(())
            }
        }

        #[async_trait::async_trait]
        impl $crate::mfa::MfaStore for $store {
            async fn reset(&self, user_id: i64) -> Result<bool, StoreError> {
                let mut tx = self.pool.begin().await?;
                sqlx::query("DELETE FROM latchkey_mfa_recovery_codes WHERE user_id = $1").bind(user_id).execute(&mut *tx).await?;
                let r = sqlx::query("DELETE FROM latchkey_mfa_totp WHERE user_id = $1").bind(user_id).execute(&mut *tx).await?;
                let w = sqlx::query("DELETE FROM latchkey_webauthn_credentials WHERE user_id = $1").bind(user_id).execute(&mut *tx).await?;
                tx.commit().await?;
                Ok(r.rows_affected() + w.rows_affected() > 0)
            }
        }

        type WebauthnRow = (i64, i64, String, String, String, String, i64, i64, Option<i64>);

        fn webauthn_credential(r: WebauthnRow) -> Result<$crate::mfa::WebauthnCredential, StoreError> {
            let (id, user_id, credential_id, user_handle, name, passkey, sign_count, created, used) = r;
            Ok($crate::mfa::WebauthnCredential {
                id,
                user_id,
                credential_id,
                user_handle,
                name,
                passkey,
                sign_count: u32::try_from(sign_count).unwrap_or(u32::MAX),
                created_at: from_ts(created)?,
                last_used_at: used.map(from_ts).transpose()?,
            })
        }

        /// Replaces the user's recovery codes, inside the caller's transaction.
        async fn insert_recovery_codes(
            c: &mut sql_shared::Conn,
            user_id: i64,
            codes: &[String],
            now: OffsetDateTime,
        ) -> Result<(), sqlx::Error> {
            sqlx::query("DELETE FROM latchkey_mfa_recovery_codes WHERE user_id = $1").bind(user_id).execute(&mut *c).await?;
            for code in codes {
                sqlx::query("INSERT INTO latchkey_mfa_recovery_codes (user_id, code, created_at) VALUES ($1, $2, $3)")
                    .bind(user_id)
                    .bind(code)
                    .bind(ts(now))
                    .execute(&mut *c)
                    .await?;
            }
            Ok(())
        }
        };
    };
}

pub(crate) use sql_mfa_store;
