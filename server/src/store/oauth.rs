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
    /// The SHA-256 (base64url) of the verifier the page that started it keeps.
    pub app_challenge: String,
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
             redirect_to, app_challenge, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&flow.state_hash)
        .bind(&flow.binding_hash)
        .bind(&flow.provider)
        .bind(&flow.nonce)
        .bind(&flow.pkce_verifier)
        .bind(&flow.redirect_to)
        .bind(&flow.app_challenge)
        .bind(flow.expires_at)
        .execute(pool)
        .await
        .map(drop))?;
        Ok(())
    }

    /// Uses up the sign-in whose `state` hashes to `state_hash`, started by the browser whose
    /// cookie hashes to `binding_hash` (expired or not: the caller decides); `None` when there
    /// is none. Another browser's callback leaves it as it is.
    pub async fn take_oauth_flow(
        &self,
        state_hash: &[u8],
        binding_hash: &[u8],
    ) -> Result<Option<OAuthFlowRow>, Error> {
        let row = on_writer!(self, pool => sqlx::query_as(
            "DELETE FROM oauth_flows WHERE state_hash = $1 AND binding_hash = $2 RETURNING \
             state_hash, binding_hash, provider, nonce, pkce_verifier, redirect_to, \
             app_challenge, expires_at",
        )
        .bind(state_hash)
        .bind(binding_hash)
        .fetch_optional(pool)
        .await)?;
        Ok(row)
    }

    /// Deletes sign-ins and codes that stopped working before `before` (ms).
    pub async fn purge_oauth(&self, before: i64) -> Result<u64, Error> {
        on_writer!(self, pool => {
            let flows = sqlx::query("DELETE FROM oauth_flows WHERE expires_at < $1")
                .bind(before)
                .execute(pool)
                .await?
                .rows_affected();
            let codes = sqlx::query("DELETE FROM oauth_codes WHERE expires_at < $1")
                .bind(before)
                .execute(pool)
                .await?
                .rows_affected();
            Ok::<_, Error>(flows + codes)
        })
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
    /// written, when the address is taken or the identity has an account already.
    pub async fn create_user_with_identity(
        &self,
        user: &UserRow,
        identity: &IdentityRow,
        audit: &AuditRow,
    ) -> Result<bool, Error> {
        on_writer!(self, pool => {
            let mut tx = pool.begin().await?;
            let inserted = insert_user!(&mut *tx, user);
            if inserted != 1 {
                tx.rollback().await?;
                return Ok(false);
            }
            let linked = sqlx::query(
                "INSERT INTO identities (id, user_id, provider, issuer, subject, email, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (issuer, subject) DO NOTHING",
            )
            .bind(&identity.id)
            .bind(identity.user_id)
            .bind(&identity.provider)
            .bind(&identity.issuer)
            .bind(&identity.subject)
            .bind(identity.email.as_deref())
            .bind(identity.created_at)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if linked != 1 {
                // A concurrent first sign-in of the same identity made its account first.
                tx.rollback().await?;
                return Ok(false);
            }
            insert_audit!(&mut *tx, audit);
            tx.commit().await?;
            Ok::<_, Error>(true)
        })
    }

    /// Stores a code the app exchanges, with the verifier of `app_challenge`, for a session
    /// of `user_id`.
    pub async fn insert_oauth_code(
        &self,
        code_hash: &[u8],
        user_id: &UserId,
        app_challenge: &str,
        expires_at: i64,
    ) -> Result<(), Error> {
        on_writer!(self, pool => sqlx::query(
            "INSERT INTO oauth_codes (code_hash, user_id, app_challenge, expires_at) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(code_hash)
        .bind(user_id)
        .bind(app_challenge)
        .bind(expires_at)
        .execute(pool)
        .await
        .map(drop))?;
        Ok(())
    }

    /// Uses up the code with `code_hash` if it is still good at `now`: its user and the
    /// challenge its verifier must meet.
    pub async fn take_oauth_code(
        &self,
        code_hash: &[u8],
        now: i64,
    ) -> Result<Option<(UserId, String)>, Error> {
        let row = on_writer!(self, pool => sqlx::query_as(
            "DELETE FROM oauth_codes WHERE code_hash = $1 AND expires_at > $2 \
             RETURNING user_id, app_challenge",
        )
        .bind(code_hash)
        .bind(now)
        .fetch_optional(pool)
        .await)?;
        Ok(row)
    }
}
