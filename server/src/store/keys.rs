//! Signing keys at rest (sealed; see `domain::keys`).

use super::Error;
use super::{Pool, Store};

/// A signing key as stored.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct SigningKeyRow {
    /// Key id: the RFC 7638 thumbprint.
    pub kid: String,
    /// When it was made (ms).
    pub created_at: i64,
    /// When a newer key replaced it (ms); `None` while it signs.
    pub retired_at: Option<i64>,
    /// Uncompressed P-256 point.
    pub public_key: Vec<u8>,
    /// PKCS#8, sealed under the master secret with the kid as context.
    pub sealed_private_key: Vec<u8>,
}

impl Store {
    /// Every stored signing key.
    pub async fn signing_keys(&self) -> Result<Vec<SigningKeyRow>, Error> {
        let rows = on_pool!(self, pool => sqlx::query_as(
            "SELECT kid, created_at, retired_at, public_key, sealed_private_key FROM signing_keys",
        )
        .fetch_all(pool)
        .await)?;
        Ok(rows)
    }

    /// Adds `key` as the signing key: the keys that signed until now are retired at the new
    /// key's creation time, in the same transaction, with `audit` appended.
    pub async fn add_signing_key(
        &self,
        key: &SigningKeyRow,
        audit: &super::AuditRow,
    ) -> Result<(), Error> {
        on_writer!(self, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query("UPDATE signing_keys SET retired_at = $1 WHERE retired_at IS NULL")
                .bind(key.created_at)
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "INSERT INTO signing_keys (kid, created_at, retired_at, public_key, sealed_private_key) \
                 VALUES ($1, $2, NULL, $3, $4)",
            )
            .bind(&key.kid)
            .bind(key.created_at)
            .bind(&key.public_key)
            .bind(&key.sealed_private_key)
            .execute(&mut *tx)
            .await?;
            insert_audit!(&mut *tx, audit);
            tx.commit().await?;
        });
        Ok(())
    }
}
