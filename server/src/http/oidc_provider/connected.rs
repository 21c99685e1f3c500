//! `/auth/connected-apps`: the apps the signed-in user let sign them in through Keyward, and
//! taking that back.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use keyward_proto::{ConnectedApps, Envelope, ErrorEnvelope};

use crate::domain::Timestamp;
use crate::domain::audit::Client;
use crate::domain::oidc_provider::consent;
use crate::http::extract::AuthUser;
use crate::{Error, Keyward};

/// The apps the user consented to (other apps that sign in through this server), newest first.
#[utoipa::path(
    get,
    path = "/auth/connected-apps",
    tag = "openid provider",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The apps.", body = Envelope<ConnectedApps>),
        (status = 401, description = "`unauthorized`, `invalid_token`, `token_expired` or `session_revoked`.", body = ErrorEnvelope),
    )
)]
pub(crate) async fn connected_apps(
    State(keyward): State<Keyward>,
    user: AuthUser,
) -> Result<Json<Envelope<ConnectedApps>>, Error> {
    let apps = consent::list(keyward.core(), &user.user_id).await?;
    Ok(Json(Envelope::new(ConnectedApps { apps })))
}

/// Takes back the user's consent to an app: its sign-ins for the user end at once, and it asks
/// again next time.
#[utoipa::path(
    delete,
    path = "/auth/connected-apps/{client_id}",
    tag = "openid provider",
    security(("bearer" = [])),
    params(("client_id" = String, Path, description = "The app's `client_id`.")),
    responses(
        (status = 204, description = "Taken back."),
        (status = 401, description = "`unauthorized`, `invalid_token`, `token_expired` or `session_revoked`.", body = ErrorEnvelope),
        (status = 404, description = "`not_found`: the user did not connect this app.", body = ErrorEnvelope),
    )
)]
pub(crate) async fn disconnect_app(
    State(keyward): State<Keyward>,
    user: AuthUser,
    client: Client,
    Path(client_id): Path<String>,
) -> Result<StatusCode, Error> {
    let now = Timestamp::now();
    consent::revoke(keyward.core(), &user.user_id, &client_id, &client, now).await?;
    Ok(StatusCode::NO_CONTENT)
}
