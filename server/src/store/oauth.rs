//! Sign-in with OpenID Connect providers: identities, sign-ins in flight, and the codes the app
//! exchanges for a session.

use super::{AuditRow, Error, Pool, Store, UserRow};
use crate::domain::UserId;

/// A sign-in started at a provider (only hashes of its `state` and browser binding).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct OAuthFlowRow {
    /// SHA-256 of `state`.
    pub state_hash: Vec<u8>,
    /// SHA-256 of the cookie value that binds it to the browser that started it.
    pub binding_hash: Vec<u8>,
    /// The provider's id.
    pub provider: String,
    /// The `nonce` the ID token must carry.
    pub nonce: String,
    /// The PKCE verifier for the code exchange.
    pub pkce_verifier: String,
    /// Where the app gets the outcome.
    pub redirect_to: String,
    /// When it stops working (ms).
    pub expires_at: i64,
}

/// An account's identity at a provider.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct IdentityRow {
    /// Its id.
    pub id: String,
    /// Whose.
    pub user_id: UserId,
    /// The provider's id (in settings).
    pub provider: String,
    /// The provider's issuer.
    pub issuer: String,
    /// The user's subject at that issuer.
    pub subject: String,
    /// The address the provider gave, if any.
    pub email: Option<String>,
    /// When it was linked (ms).
    pub created_at: i64,
}

impl Store {
    /// Stores a sign-in started at a provider.
    pub async fn insert_oauth_flow(&self, flow: &OAuthFlowRow) -> Result<(), Error> {
        on_writer!(self, pool => sqlx::query(
            "INSERT INTO oauth_flows (state_hash, binding_hash, provider, nonce, pkce_verifier, \
             redirect_to, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&flow.state_hash)
        .bind(&flow.binding_hash)
        .bind(&flow.provider)
        .bind(&flow.nonce)
        .bind(&flow.pkce_verifier)
        .bind(&flow.redirect_to)
        .bind(flow.expires_at)
        .execute(pool)
        .await
        .map(drop))?;
        Ok(())
    }

    /// Uses up the sign-in whose `state` hashes to `state_hash` (expired or not: the caller
    /// decides); `None` when there is none.
    pub async fn take_oauth_flow(&self, state_hash: &[u8]) -> Result<Option<OAuthFlowRow>, Error> {
        let row = on_writer!(self, pool => sqlx::query_as(
            "DELETE FROM oauth_flows WHERE state_hash = $1 RETURNING state_hash, binding_hash, \
             provider, nonce, pkce_verifier, redirect_to, expires_at",
        )
        .bind(state_hash)
        .fetch_optional(pool)
        .await)?;
        Ok(row)
    }

    /// The account with the identity (`issuer`, `subject`), if any.
    pub async fn identity_user(
        &self,
        issuer: &str,
        subject: &str,
    ) -> Result<Option<UserId>, Error> {
        let user = on_pool!(self, pool => sqlx::query_scalar(
            "SELECT user_id FROM identities WHERE issuer = $1 AND subject = $2",
        )
        .bind(issuer)
        .bind(subject)
        .fetch_optional(pool)
        .await)?;
        Ok(user)
    }

    /// Creates `user` with its first `identity`, appending `audit`; `false`, and nothing
    /// written, when the address is taken.
    pub async fn create_user_with_identity(
        &self,
        user: &UserRow,
        identity: &IdentityRow,
        audit: &AuditRow,
    ) -> Result<bool, Error> {
        on_writer!(self, pool => {
            let mut tx = pool.begin().await?;
            let inserted = sqlx::query(
                "INSERT INTO users (id, email, email_key, email_verified_at, name, password_hash, \
                 created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7) \
                 ON CONFLICT (email_key) DO NOTHING",
            )
            .bind(user.id)
            .bind(&user.email)
            .bind(&user.email_key)
            .bind(user.email_verified_at)
            .bind(user.name.as_deref())
            .bind(user.password_hash.as_deref())
            .bind(user.created_at)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if inserted != 1 {
                return Ok(false);
            }
            sqlx::query(
                "INSERT INTO identities (id, user_id, provider, issuer, subject, email, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(&identity.id)
            .bind(identity.user_id)
            .bind(&identity.provider)
            .bind(&identity.issuer)
            .bind(&identity.subject)
            .bind(identity.email.as_deref())
            .bind(identity.created_at)
            .execute(&mut *tx)
            .await?;
            insert_audit!(&mut *tx, audit);
            tx.commit().await?;
            Ok::<_, Error>(true)
        })
    }

    /// Stores a code the app exchanges for a session of `user_id`.
    pub async fn insert_oauth_code(
        &self,
        code_hash: &[u8],
        user_id: &UserId,
        expires_at: i64,
    ) -> Result<(), Error> {
        on_writer!(self, pool => sqlx::query(
            "INSERT INTO oauth_codes (code_hash, user_id, expires_at) VALUES ($1, $2, $3)",
        )
        .bind(code_hash)
        .bind(user_id)
        .bind(expires_at)
        .execute(pool)
        .await
        .map(drop))?;
        Ok(())
    }

    /// Uses up the code with `code_hash` if it is still good at `now`: its user.
    pub async fn take_oauth_code(
        &self,
        code_hash: &[u8],
        now: i64,
    ) -> Result<Option<UserId>, Error> {
        let user = on_writer!(self, pool => sqlx::query_scalar(
            "DELETE FROM oauth_codes WHERE code_hash = $1 AND expires_at > $2 RETURNING user_id",
        )
        .bind(code_hash)
        .bind(now)
        .fetch_optional(pool)
        .await)?;
        Ok(user)
    }
}
