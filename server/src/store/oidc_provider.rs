//! Keyward as an OpenID Connect provider: the clients (relying parties) registered with it.

use super::{AuditRow, Error, Pool, Store};

/// A registered client as stored.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ClientRow {
    /// Its `client_id` (`kwc_…`).
    pub id: String,
    /// Its name, shown on the consent page.
    pub name: String,
    /// `confidential` or `public`.
    pub kind: String,
    /// SHA-256 of a confidential client's secret.
    pub secret_hash: Option<Vec<u8>>,
    /// SHA-256 of the secret before the last rotation, accepted too until `previous_until`.
    pub previous_secret_hash: Option<Vec<u8>>,
    /// Until when (ms).
    pub previous_until: Option<i64>,
    /// The redirect URIs, a JSON array.
    pub redirect_uris: String,
    /// The post-logout redirect URIs, a JSON array.
    pub post_logout_redirect_uris: String,
    /// The scopes it may ask for, space-separated.
    pub scopes: String,
    /// Its grants, space-separated.
    pub grant_types: String,
    /// The API its access tokens are for.
    pub audience: Option<String>,
    /// 1 when users are never asked to consent.
    pub skip_consent: i32,
    /// When it was registered (ms).
    pub created_at: i64,
    /// When it last changed (ms).
    pub updated_at: i64,
}

macro_rules! client_columns {
    () => {
        "id, name, kind, secret_hash, previous_secret_hash, previous_until, redirect_uris, \
         post_logout_redirect_uris, scopes, grant_types, audience, skip_consent, created_at, \
         updated_at"
    };
}

impl Store {
    /// Registers client `row`, with `audit`.
    pub async fn insert_oidc_client(&self, row: &ClientRow, audit: &AuditRow) -> Result<(), Error> {
        on_writer!(self, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query(concat!(
                "INSERT INTO oidc_clients (",
                client_columns!(),
                ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
            ))
            .bind(&row.id)
            .bind(&row.name)
            .bind(&row.kind)
            .bind(row.secret_hash.as_deref())
            .bind(row.previous_secret_hash.as_deref())
            .bind(row.previous_until)
            .bind(&row.redirect_uris)
            .bind(&row.post_logout_redirect_uris)
            .bind(&row.scopes)
            .bind(&row.grant_types)
            .bind(row.audience.as_deref())
            .bind(row.skip_consent)
            .bind(row.created_at)
            .bind(row.updated_at)
            .execute(&mut *tx)
            .await?;
            insert_audit!(&mut *tx, audit);
            tx.commit().await?;
            Ok(())
        })
    }

    /// Every client, oldest first.
    pub async fn oidc_clients(&self) -> Result<Vec<ClientRow>, Error> {
        let sql = concat!(
            "SELECT ",
            client_columns!(),
            " FROM oidc_clients ORDER BY created_at, id"
        );
        let rows = on_pool!(self, pool => sqlx::query_as(sql).fetch_all(pool).await)?;
        Ok(rows)
    }

    /// Client `id`.
    pub async fn oidc_client(&self, id: &str) -> Result<Option<ClientRow>, Error> {
        let sql = concat!(
            "SELECT ",
            client_columns!(),
            " FROM oidc_clients WHERE id = $1"
        );
        let row = on_pool!(self, pool => sqlx::query_as(sql).bind(id).fetch_optional(pool).await)?;
        Ok(row)
    }

    /// Writes what an admin may change of client `row` (all but its type, secrets and times of
    /// making), with `audit`: the client as it is now, if it still exists.
    pub async fn update_oidc_client(
        &self,
        row: &ClientRow,
        audit: &AuditRow,
    ) -> Result<Option<ClientRow>, Error> {
        let sql = concat!(
            "UPDATE oidc_clients SET name = $2, redirect_uris = $3, \
             post_logout_redirect_uris = $4, scopes = $5, grant_types = $6, audience = $7, \
             skip_consent = $8, updated_at = $9 WHERE id = $1 RETURNING ",
            client_columns!()
        );
        change_row!(
            self,
            ClientRow,
            sql,
            audit,
            &row.id,
            &row.name,
            &row.redirect_uris,
            &row.post_logout_redirect_uris,
            &row.scopes,
            &row.grant_types,
            row.audience.as_deref(),
            row.skip_consent,
            row.updated_at
        )
    }

    /// Gives confidential client `id` the secret hashed as `hash` at `now` (ms), with `audit`.
    /// The one it had is accepted too until `previous_until` (ms), or from now on no more when
    /// that is `None`. The client, if there is such a confidential one.
    pub async fn rotate_oidc_client_secret(
        &self,
        id: &str,
        (hash, previous_until): (&[u8], Option<i64>),
        now: i64,
        audit: &AuditRow,
    ) -> Result<Option<ClientRow>, Error> {
        let sql = concat!(
            "UPDATE oidc_clients SET previous_secret_hash = CASE WHEN $3 > $4 THEN secret_hash \
             END, previous_until = CASE WHEN $3 > $4 THEN $3 END, secret_hash = $2, \
             updated_at = $4 WHERE id = $1 AND kind = 'confidential' RETURNING ",
            client_columns!()
        );
        // Without an overlap the previous secret's time is now: not after now, so kept as none.
        let until = previous_until.unwrap_or(now);
        change_row!(self, ClientRow, sql, audit, id, hash, until, now)
    }

    /// Deletes client `id`, with `audit`: whether it existed.
    pub async fn delete_oidc_client(&self, id: &str, audit: &AuditRow) -> Result<bool, Error> {
        on_writer!(self, pool => {
            let mut tx = pool.begin().await?;
            let deleted = sqlx::query("DELETE FROM oidc_clients WHERE id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if deleted == 0 {
                tx.rollback().await?;
                return Ok(false);
            }
            insert_audit!(&mut *tx, audit);
            tx.commit().await?;
            Ok(true)
        })
    }
}
