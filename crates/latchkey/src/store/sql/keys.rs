//! `KeyStore` on SQL, for SQLite and PostgreSQL alike (see `stores.rs`).

/// Implements `KeyStore` for `$store`, a struct whose `pool` field is a sqlx
/// pool of the database `$db`; expanded by [`super::stores::sql_stores`].
macro_rules! sql_key_store {
    ($store:ty, $db:ty) => {
        // An anonymous const, so the `use`s below stay inside the expansion.
        const _: () = {
        use sql_prelude::*;

        #[async_trait::async_trait]
        impl $crate::keys::KeyStore for $store {
            async fn issue(&self, k: &$crate::keys::KeyRecord, mail: &$crate::mail::Mail, now: OffsetDateTime) -> Result<(), StoreError> {
                // The key and its mail, or neither.
                let mut tx = self.pool.begin().await?;
                sqlx::query(
                    "INSERT INTO latchkey_keys (key_hash, purpose, user_id, email, fingerprint, created_at, expires_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(&k.key_hash)
                .bind(k.purpose.as_str())
                .bind(k.user_id)
                .bind(&k.email)
                .bind(&k.fingerprint)
                .bind(ts(k.created_at))
                .bind(ts(k.expires_at))
                .execute(&mut *tx)
                .await?;
                sql_shared::insert_job(&mut tx, &$crate::mail::Job::Mail(mail.clone()), now).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn find(
                &self,
                key_hash: &str,
                purpose: $crate::keys::KeyPurpose,
                now: OffsetDateTime,
            ) -> Result<Option<$crate::keys::KeyRecord>, StoreError> {
                let row = sqlx::query(
                    "SELECT * FROM latchkey_keys WHERE key_hash = $1 AND purpose = $2 AND used_at IS NULL AND expires_at > $3",
                )
                .bind(key_hash)
                .bind(purpose.as_str())
                .bind(ts(now))
                .fetch_optional(&self.pool)
                .await?;
                row.as_ref().map(rows::key).transpose()
            }

            async fn consume(
                &self,
                key_hash: &str,
                purpose: $crate::keys::KeyPurpose,
                now: OffsetDateTime,
            ) -> Result<Option<$crate::keys::KeyRecord>, StoreError> {
                // One statement: of two concurrent uses, one finds used_at set.
                let row = sqlx::query(
                    "UPDATE latchkey_keys SET used_at = $1
                     WHERE key_hash = $2 AND purpose = $3 AND used_at IS NULL AND expires_at > $1 RETURNING *",
                )
                .bind(ts(now))
                .bind(key_hash)
                .bind(purpose.as_str())
                .fetch_optional(&self.pool)
                .await?;
                row.as_ref().map(rows::key).transpose()
            }

            async fn delete_expired(&self, now: OffsetDateTime) -> Result<u64, StoreError> {
                let r = sqlx::query("DELETE FROM latchkey_keys WHERE expires_at <= $1").bind(ts(now)).execute(&self.pool).await?;
                Ok(r.rows_affected())
            }
        }
        };
    };
}

pub(crate) use sql_key_store;
