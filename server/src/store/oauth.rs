//! Sign-in with OpenID Connect providers: identities, sign-ins in flight, and the codes the app
//! exchanges for a session.

use super::passkeys::Removal;
use super::{AuditRow, Error, Pool, Store};
use crate::domain::{SessionId, UserId};

/// A sign-in (or a link) started at a provider (only hashes of its `state` and browser
/// binding).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct OAuthFlowRow {
    /// SHA-256 of `state`.
    pub state_hash: Vec<u8>,
    /// A sign-in's: SHA-256 of the cookie value that binds it to the browser that started it.
    pub binding_hash: Option<Vec<u8>>,
    /// A link's: the session that started it (and must finish it).
    pub link_session: Option<SessionId>,
    /// A link's: the account it is for.
    pub link_user: Option<UserId>,
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

/// The identity a provider proved for a link, waiting for the session that started it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct PendingLink {
    /// The account the link is for.
    pub user_id: UserId,
    /// The challenge the page's verifier must meet.
    pub app_challenge: String,
    /// The provider's id.
    pub provider: String,
    /// Its issuer.
    pub issuer: String,
    /// The user's subject there.
    pub subject: String,
    /// The address it vouched for, if it gave one.
    pub email: Option<String>,
}

/// A provider's first sign-in, waiting for the app to exchange its code: the account it makes
/// then, in the transaction of its first session, once the post-authentication hook allows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingSignUp {
    /// The provider's id.
    pub provider: String,
    /// Its issuer.
    pub issuer: String,
    /// The user's subject there.
    pub subject: String,
    /// The address it vouched for.
    pub email: String,
    /// The user's name there, if it gave one.
    pub name: Option<String>,
}

/// What an app's code is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OAuthCode {
    /// A session of this account.
    SignIn(UserId),
    /// A new account, with its first session.
    SignUp(PendingSignUp),
}

/// An `oauth_codes` row taken for a sign-in: a user, or the identity of a first sign-in.
#[derive(sqlx::FromRow)]
struct CodeRow {
    user_id: Option<UserId>,
    app_challenge: String,
    provider: Option<String>,
    issuer: Option<String>,
    subject: Option<String>,
    email: Option<String>,
    name: Option<String>,
}

impl CodeRow {
    /// The code's purpose and challenge; `None` for a row the table's checks should have kept
    /// out.
    fn into_code(self) -> Option<(OAuthCode, String)> {
        let code = match self.user_id {
            Some(user_id) => OAuthCode::SignIn(user_id),
            None => OAuthCode::SignUp(PendingSignUp {
                provider: self.provider?,
                issuer: self.issuer?,
                subject: self.subject?,
                email: self.email?,
                name: self.name,
            }),
        };
        Some((code, self.app_challenge))
    }
}

/// What linking an identity did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Linked {
    /// It is the account's now.
    New,
    /// It was the account's already.
    Already,
    /// Another account has it.
    Taken,
}

impl Store {
    /// Stores a sign-in started at a provider.
    pub async fn insert_oauth_flow(&self, flow: &OAuthFlowRow) -> Result<(), Error> {
        on_writer!(self, pool => sqlx::query(
            "INSERT INTO oauth_flows (state_hash, binding_hash, link_session, link_user, \
             provider, nonce, pkce_verifier, redirect_to, app_challenge, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(&flow.state_hash)
        .bind(flow.binding_hash.as_deref())
        .bind(flow.link_session.as_ref())
        .bind(flow.link_user.as_ref())
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

    /// Uses up the flow whose `state` hashes to `state_hash` (expired or not: the caller
    /// decides): a sign-in only when started by the browser whose cookie hashes to
    /// `binding_hash`, a link whatever the browser (its session finishes it); `None` when there
    /// is none. Another browser's callback leaves a sign-in as it is.
    pub async fn take_oauth_flow(
        &self,
        state_hash: &[u8],
        binding_hash: Option<&[u8]>,
    ) -> Result<Option<OAuthFlowRow>, Error> {
        let row = on_writer!(self, pool => sqlx::query_as(
            "DELETE FROM oauth_flows WHERE state_hash = $1 \
             AND (binding_hash = $2 OR link_session IS NOT NULL) RETURNING \
             state_hash, binding_hash, link_session, link_user, provider, nonce, \
             pkce_verifier, redirect_to, app_challenge, expires_at",
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

    /// Stores a code the app exchanges, with the verifier of `app_challenge`, for what `code`
    /// is for: a session of its user, or a first sign-in's new account (with the identity the
    /// provider proved).
    pub async fn insert_oauth_code(
        &self,
        code_hash: &[u8],
        code: &OAuthCode,
        app_challenge: &str,
        expires_at: i64,
    ) -> Result<(), Error> {
        let (user_id, sign_up) = match code {
            OAuthCode::SignIn(user_id) => (Some(user_id), None),
            OAuthCode::SignUp(sign_up) => (None, Some(sign_up)),
        };
        on_writer!(self, pool => sqlx::query(
            "INSERT INTO oauth_codes (code_hash, user_id, app_challenge, expires_at, provider, \
             issuer, subject, email, name) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(code_hash)
        .bind(user_id)
        .bind(app_challenge)
        .bind(expires_at)
        .bind(sign_up.map(|s| s.provider.as_str()))
        .bind(sign_up.map(|s| s.issuer.as_str()))
        .bind(sign_up.map(|s| s.subject.as_str()))
        .bind(sign_up.map(|s| s.email.as_str()))
        .bind(sign_up.and_then(|s| s.name.as_deref()))
        .execute(pool)
        .await
        .map(drop))?;
        Ok(())
    }

    /// Uses up the code with `code_hash` if it is still good at `now`: what it is for, and the
    /// challenge its verifier must meet. A link's code is not taken.
    pub async fn take_oauth_code(
        &self,
        code_hash: &[u8],
        now: i64,
    ) -> Result<Option<(OAuthCode, String)>, Error> {
        let row: Option<CodeRow> = on_writer!(self, pool => sqlx::query_as(
            "DELETE FROM oauth_codes WHERE code_hash = $1 AND expires_at > $2 \
             AND link_session IS NULL \
             RETURNING user_id, app_challenge, provider, issuer, subject, email, name",
        )
        .bind(code_hash)
        .bind(now)
        .fetch_optional(pool)
        .await)?;
        Ok(row.and_then(CodeRow::into_code))
    }

    /// Stores a link's code: the identity `link` proved, for `session` to finish with the
    /// verifier of its challenge.
    pub async fn insert_link_code(
        &self,
        code_hash: &[u8],
        session: &SessionId,
        link: &PendingLink,
        expires_at: i64,
    ) -> Result<(), Error> {
        on_writer!(self, pool => sqlx::query(
            "INSERT INTO oauth_codes (code_hash, user_id, app_challenge, expires_at, \
             link_session, provider, issuer, subject, email) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(code_hash)
        .bind(link.user_id)
        .bind(&link.app_challenge)
        .bind(expires_at)
        .bind(session)
        .bind(&link.provider)
        .bind(&link.issuer)
        .bind(&link.subject)
        .bind(link.email.as_deref())
        .execute(pool)
        .await
        .map(drop))?;
        Ok(())
    }

    /// Uses up the link code with `code_hash` if `session` started it and it is still good at
    /// `now`. Another session's attempt leaves it as it is.
    pub async fn take_link_code(
        &self,
        code_hash: &[u8],
        session: &SessionId,
        now: i64,
    ) -> Result<Option<PendingLink>, Error> {
        let row = on_writer!(self, pool => sqlx::query_as(
            "DELETE FROM oauth_codes WHERE code_hash = $1 AND link_session = $2 \
             AND expires_at > $3 RETURNING user_id, app_challenge, provider, issuer, subject, email",
        )
        .bind(code_hash)
        .bind(session)
        .bind(now)
        .fetch_optional(pool)
        .await)?;
        Ok(row)
    }

    /// Links `identity` to its user for `session`, appending `audit` when it is new to the
    /// account; `None`, and nothing written, when the session has ended. The user's row is
    /// written first, as the mailbox's proof does: a link and a proof that ends the session (and
    /// drops what was linked before it) cannot interleave and leave the link behind.
    pub async fn link_identity(
        &self,
        identity: &IdentityRow,
        session: &SessionId,
        audit: &AuditRow,
    ) -> Result<Option<Linked>, Error> {
        on_writer!(self, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query("UPDATE users SET updated_at = updated_at WHERE id = $1")
                .bind(identity.user_id)
                .execute(&mut *tx)
                .await?;
            let live: Option<String> = sqlx::query_scalar(
                "SELECT id FROM sessions WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL",
            )
            .bind(session)
            .bind(identity.user_id)
            .fetch_optional(&mut *tx)
            .await?;
            if live.is_none() {
                tx.rollback().await?;
                return Ok(None);
            }
            let inserted = insert_identity!(&mut *tx, identity);
            if inserted != 1 {
                let owner: Option<UserId> = sqlx::query_scalar(
                    "SELECT user_id FROM identities WHERE issuer = $1 AND subject = $2",
                )
                .bind(&identity.issuer)
                .bind(&identity.subject)
                .fetch_optional(&mut *tx)
                .await?;
                tx.rollback().await?;
                return Ok(Some(if owner == Some(identity.user_id) {
                    Linked::Already
                } else {
                    Linked::Taken
                }));
            }
            insert_audit!(&mut *tx, audit);
            tx.commit().await?;
            Ok::<_, Error>(Some(Linked::New))
        })
    }

    /// The identities linked to `user_id`, oldest first.
    pub async fn identities(&self, user_id: &UserId) -> Result<Vec<IdentityRow>, Error> {
        let rows = on_pool!(self, pool => sqlx::query_as(
            "SELECT id, user_id, provider, issuer, subject, email, created_at FROM identities \
             WHERE user_id = $1 ORDER BY created_at, id",
        )
        .bind(user_id)
        .fetch_all(pool)
        .await)?;
        Ok(rows)
    }

    /// Unlinks `user_id`'s identity `id`, appending `audit`, unless it is the account's last
    /// way to sign in (no password, no passkey, no other identity; see `another_way_in!`).
    pub async fn unlink_identity(
        &self,
        user_id: &UserId,
        id: &str,
        audit: &AuditRow,
    ) -> Result<Removal, Error> {
        on_writer!(self, pool => {
            let mut tx = pool.begin().await?;
            let another = another_way_in!(tx, user_id, id);
            let exists: Option<String> =
                sqlx::query_scalar("SELECT id FROM identities WHERE id = $1 AND user_id = $2")
                    .bind(id)
                    .bind(user_id)
                    .fetch_optional(&mut *tx)
                    .await?;
            if exists.is_none() {
                tx.rollback().await?;
                return Ok(Removal::NotFound);
            }
            if !another {
                tx.rollback().await?;
                return Ok(Removal::LastSignInMethod);
            }
            sqlx::query("DELETE FROM identities WHERE id = $1 AND user_id = $2")
                .bind(id)
                .bind(user_id)
                .execute(&mut *tx)
                .await?;
            insert_audit!(&mut *tx, audit);
            tx.commit().await?;
            Ok::<_, Error>(Removal::Removed)
        })
    }
}
