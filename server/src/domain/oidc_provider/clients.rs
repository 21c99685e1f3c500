//! The clients (relying parties) registered with Keyward as an OpenID Connect provider.
//!
//! Registration rules, checked on every change as a whole:
//! - a name of 1 to 100 characters, without control or invisible formatting characters (the
//!   consent page shows it);
//! - redirect URIs (1 to 10, with the `authorization_code` grant only): absolute, `https`, or
//!   `http` on a loopback address (anywhere outside production), without credentials, a fragment
//!   or a wildcard, kept byte for byte as given; post-logout redirect URIs likewise (0 to 10);
//! - scopes: `openid`, `email`, `profile`, `org`, and the app's own API scopes
//!   (`[A-Za-z0-9_.:-]`, 1 to 64 characters);
//! - grants: `authorization_code` (with `refresh_token` if wanted), and `client_credentials`
//!   for a confidential client with an `audience` only;
//! - an audience that is not Keyward's own (its tokens' `aud`, the issuer, the userinfo
//!   endpoint), so a client's access token is never taken for a user's token of this server.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use keyward_proto::{
    ClientChanges, ClientRegistered, ClientType, ErrorCode, NewClient, OidcClient,
    RotateClientSecret,
};
use sha2::{Digest as _, Sha256};

use crate::Error;
use crate::domain::admin::Acting;
use crate::domain::audit::{self, AuditKind, EventExt as _};
use crate::domain::core::Core;
use crate::domain::{Random, Timestamp, constant_time_eq, fit_name};
use crate::store::ClientRow;

/// The grants a client may have.
pub const GRANTS: [&str; 3] = ["authorization_code", "refresh_token", "client_credentials"];

/// At most this many redirect URIs of each kind.
const MAX_URIS: usize = 10;

/// At most this many scopes.
const MAX_SCOPES: usize = 50;

/// How long a rotated-out secret is accepted beside the new one, unless the rotation says now:
/// a day to deploy the new one with no failed request meanwhile.
pub const ROTATION_OVERLAP: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

fn bad_request(message: impl Into<std::borrow::Cow<'static, str>>) -> Error {
    Error::rejected(ErrorCode::InvalidRequest, message)
}

fn not_found() -> Error {
    Error::rejected(ErrorCode::NotFound, "No such client.")
}

/// `id` when it has the form of a `client_id` (`kwc_` and 22 base64url characters).
pub fn well_formed_id(id: &str) -> Option<&str> {
    let body = id.strip_prefix("kwc_")?;
    (body.len() == 22
        && body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
    .then_some(id)
}

/// A new `client_id`: `kwc_` and 16 random bytes, base64url.
fn new_id(random: &Random) -> String {
    format!("kwc_{}", URL_SAFE_NO_PAD.encode(random.bytes::<16>()))
}

/// A new secret (`kwcs_` and 32 random bytes, base64url), with the hash that is stored.
fn new_secret(random: &Random) -> (String, Vec<u8>) {
    let secret = format!("kwcs_{}", URL_SAFE_NO_PAD.encode(random.bytes::<32>()));
    let hash = secret_hash(&secret);
    (secret, hash)
}

/// What is stored of a secret: its SHA-256 (256 random bits need no slow hash).
fn secret_hash(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

/// Whether `secret` is confidential client `row`'s secret at `now`: its current one, or the one
/// before the last rotation while that is still accepted. Compared in constant time.
pub fn authenticates(row: &ClientRow, secret: &str, now: Timestamp) -> bool {
    let presented = secret_hash(secret);
    let current = row
        .secret_hash
        .as_deref()
        .is_some_and(|hash| constant_time_eq(hash, &presented));
    let previous = row.previous_until.is_some_and(|until| until > now.millis())
        && row
            .previous_secret_hash
            .as_deref()
            .is_some_and(|hash| constant_time_eq(hash, &presented));
    current | previous
}

/// The client's redirect URIs, as registered.
pub fn redirect_uris(row: &ClientRow) -> Vec<String> {
    uris_of(&row.redirect_uris)
}

/// The client's post-logout redirect URIs, as registered.
pub fn post_logout_redirect_uris(row: &ClientRow) -> Vec<String> {
    uris_of(&row.post_logout_redirect_uris)
}

/// Whether the client may use `grant`.
pub fn has_grant(row: &ClientRow, grant: &str) -> bool {
    row.grant_types.split_whitespace().any(|g| g == grant)
}

/// A registration, checked (see the module's rules).
struct Registration {
    name: String,
    redirect_uris: Vec<String>,
    post_logout_redirect_uris: Vec<String>,
    scopes: Vec<String>,
    grant_types: Vec<String>,
    audience: Option<String>,
    skip_consent: bool,
}

impl Registration {
    /// Checks every field, and how they go together, for a client of type `kind`.
    fn checked(self, core: &Core, kind: ClientType) -> Result<Self, Error> {
        let Some(name) = fit_name(&self.name, 100).filter(|name| !name.is_empty()) else {
            return Err(bad_request(
                "`name` is 1 to 100 characters, without control or invisible formatting characters.",
            ));
        };
        let name = name.to_owned();
        let grant_types = unique(&self.grant_types);
        if grant_types.is_empty() {
            return Err(bad_request(format!(
                "`grant_types` names at least one of {}.",
                GRANTS.join(", ")
            )));
        }
        if let Some(unknown) = grant_types.iter().find(|g| !GRANTS.contains(&g.as_str())) {
            return Err(bad_request(format!(
                "`{unknown}` is not a grant; the grants are {} (there is no implicit or \
                 password grant).",
                GRANTS.join(", ")
            )));
        }
        let has = |grant: &str| grant_types.iter().any(|g| g == grant);
        if has("refresh_token") && !has("authorization_code") {
            return Err(bad_request(
                "`refresh_token` comes with `authorization_code`: refresh tokens are issued for \
                 a user's sign-in.",
            ));
        }
        let audience = match self.audience.as_deref().map(str::trim) {
            None => None,
            Some(audience) => Some(checked_audience(core, audience)?),
        };
        if has("client_credentials") {
            if kind == ClientType::Public {
                return Err(bad_request(
                    "A public client has no secret, so it cannot use `client_credentials`.",
                ));
            }
            if audience.is_none() {
                return Err(bad_request(
                    "A client with `client_credentials` names the API its tokens are for, in \
                     `audience`.",
                ));
            }
        }
        let redirect_uris = unique(&self.redirect_uris);
        let post_logout_redirect_uris = unique(&self.post_logout_redirect_uris);
        if has("authorization_code") {
            if redirect_uris.is_empty() {
                return Err(bad_request(
                    "`redirect_uris` lists where sign-ins return to (1 to 10).",
                ));
            }
        } else if !redirect_uris.is_empty() || !post_logout_redirect_uris.is_empty() {
            return Err(bad_request(
                "Redirect URIs are for the `authorization_code` grant, which this client does \
                 not have.",
            ));
        }
        for (field, uris) in [
            ("redirect_uris", &redirect_uris),
            ("post_logout_redirect_uris", &post_logout_redirect_uris),
        ] {
            if uris.len() > MAX_URIS {
                return Err(bad_request(format!("`{field}` lists at most {MAX_URIS}.")));
            }
            for uri in uris {
                checked_uri(core, field, uri)?;
            }
        }
        let scopes = unique(&self.scopes);
        if scopes.len() > MAX_SCOPES {
            return Err(bad_request(format!("`scopes` lists at most {MAX_SCOPES}.")));
        }
        if let Some(bad) = scopes.iter().find(|s| !is_scope(s)) {
            return Err(bad_request(format!(
                "`{bad}` is not a scope: 1 to 64 of A-Z, a-z, 0-9 and `_.:-`."
            )));
        }
        Ok(Self {
            name,
            redirect_uris,
            post_logout_redirect_uris,
            scopes,
            grant_types,
            audience,
            skip_consent: self.skip_consent,
        })
    }

    /// Writes the registration into `row`.
    fn write_into(self, row: &mut ClientRow) {
        row.name = self.name;
        row.redirect_uris = json_list(&self.redirect_uris);
        row.post_logout_redirect_uris = json_list(&self.post_logout_redirect_uris);
        row.scopes = self.scopes.join(" ");
        row.grant_types = self.grant_types.join(" ");
        row.audience = self.audience;
        row.skip_consent = i32::from(self.skip_consent);
    }

    /// The registration `row` holds.
    fn of(row: &ClientRow) -> Self {
        Self {
            name: row.name.clone(),
            redirect_uris: uris_of(&row.redirect_uris),
            post_logout_redirect_uris: uris_of(&row.post_logout_redirect_uris),
            scopes: words(&row.scopes),
            grant_types: words(&row.grant_types),
            audience: row.audience.clone(),
            skip_consent: row.skip_consent != 0,
        }
    }
}

/// `list` without repeats, in its order.
fn unique(list: &[String]) -> Vec<String> {
    let mut seen: Vec<String> = Vec::with_capacity(list.len());
    for item in list {
        if !seen.contains(item) {
            seen.push(item.clone());
        }
    }
    seen
}

/// An OpenID Connect scope, or an API scope: 1 to 64 of `[A-Za-z0-9_.:-]`.
fn is_scope(scope: &str) -> bool {
    (1..=64).contains(&scope.len())
        && scope
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.:-".contains(&b))
}

/// A redirect URI of `field`, checked (see the module's rules). It is kept as given: checked
/// here, compared byte for byte later.
fn checked_uri(core: &Core, field: &str, text: &str) -> Result<(), Error> {
    let refuse = |why: &str| Err(bad_request(format!("`{field}`: `{text}` {why}.")));
    if text.len() > 2000
        || text.contains(['#', '*'])
        || text.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return refuse(
            "is not a redirect URI: at most 2000 characters, without spaces, control \
             characters, a fragment or a wildcard",
        );
    }
    let Ok(url) = url::Url::parse(text) else {
        return refuse("is not an absolute URI");
    };
    if !url.username().is_empty() || url.password().is_some() {
        return refuse("carries credentials");
    }
    let loopback = matches!(url.host(), Some(url::Host::Domain("localhost")))
        || matches!(url.host(), Some(url::Host::Ipv4(ip)) if ip.is_loopback())
        || matches!(url.host(), Some(url::Host::Ipv6(ip)) if ip.is_loopback());
    match url.scheme() {
        "https" if url.host().is_some() => Ok(()),
        "http" if loopback || !core.settings.production => Ok(()),
        "http" => refuse("is http: in production only https, or http on a loopback address"),
        _ => refuse("is not https (or http on a loopback address)"),
    }
}

/// A client's `audience`, checked: 1 to 200 characters without spaces or control characters,
/// and none of this server's own audiences.
pub fn checked_audience(core: &Core, audience: &str) -> Result<String, Error> {
    if audience.is_empty()
        || audience.chars().count() > 200
        || audience
            .chars()
            .any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(bad_request(
            "`audience` is 1 to 200 characters, without spaces or control characters.",
        ));
    }
    let issuer = core.settings.issuer.trim_end_matches('/');
    let userinfo = format!("{issuer}/auth/oidc/userinfo");
    let ours = [core.settings.audience(), issuer, &userinfo];
    if ours
        .iter()
        .any(|own| own.trim_end_matches('/') == audience.trim_end_matches('/'))
    {
        return Err(bad_request(
            "`audience` names this server itself: a client's access tokens must never pass for \
             its users' own tokens. Name the client's API.",
        ));
    }
    Ok(audience.to_owned())
}

fn json_list(list: &[String]) -> String {
    serde_json::to_string(list).unwrap_or_else(|_| "[]".into())
}

fn uris_of(column: &str) -> Vec<String> {
    serde_json::from_str(column).unwrap_or_default()
}

fn words(column: &str) -> Vec<String> {
    column.split_whitespace().map(str::to_owned).collect()
}

fn kind_of(row: &ClientRow) -> ClientType {
    if row.kind == "public" {
        ClientType::Public
    } else {
        ClientType::Confidential
    }
}

/// A client as the API shows it.
pub fn view(row: &ClientRow, now: Timestamp) -> OidcClient {
    let registration = Registration::of(row);
    OidcClient {
        client_id: row.id.clone(),
        name: registration.name,
        kind: kind_of(row),
        redirect_uris: registration.redirect_uris,
        post_logout_redirect_uris: registration.post_logout_redirect_uris,
        scopes: registration.scopes,
        grant_types: registration.grant_types,
        audience: registration.audience,
        skip_consent: registration.skip_consent,
        created_at: Timestamp::from_millis(row.created_at).to_rfc3339(),
        updated_at: Timestamp::from_millis(row.updated_at).to_rfc3339(),
        previous_secret_until: row
            .previous_until
            .filter(|until| *until > now.millis())
            .map(|until| Timestamp::from_millis(until).to_rfc3339()),
    }
}

/// The audit detail of a change to client `id`: who made it, and the client.
fn with_client(act: &Acting<'_>, id: &str, name: Option<&str>) -> serde_json::Value {
    let mut detail = act.by.detail();
    if let Some(fields) = detail.as_object_mut() {
        fields.insert("client".into(), id.into());
        if let Some(name) = name {
            fields.insert("name".into(), name.into());
        }
    }
    detail
}

/// `POST /auth/admin/clients`: registers a client; a confidential one gets its secret, returned
/// this once.
pub async fn create(
    core: &Core,
    new: NewClient,
    act: &Acting<'_>,
    random: &Random,
) -> Result<ClientRegistered, Error> {
    let grant_types = new
        .grant_types
        .unwrap_or_else(|| vec!["authorization_code".to_owned(), "refresh_token".to_owned()]);
    let signs_users_in = grant_types.iter().any(|g| g == "authorization_code");
    let scopes = new.scopes.unwrap_or_else(|| {
        if signs_users_in {
            ["openid", "email", "profile"].map(str::to_owned).to_vec()
        } else {
            Vec::new()
        }
    });
    let registration = Registration {
        name: new.name,
        redirect_uris: new.redirect_uris,
        post_logout_redirect_uris: new.post_logout_redirect_uris.unwrap_or_default(),
        scopes,
        grant_types,
        audience: new.audience,
        skip_consent: new.skip_consent.unwrap_or(false),
    }
    .checked(core, new.kind)?;
    let secret = (new.kind == ClientType::Confidential).then(|| new_secret(random));
    let mut row = ClientRow {
        id: new_id(random),
        name: String::new(),
        kind: match new.kind {
            ClientType::Confidential => "confidential",
            ClientType::Public => "public",
        }
        .to_owned(),
        secret_hash: secret.as_ref().map(|(_, hash)| hash.clone()),
        previous_secret_hash: None,
        previous_until: None,
        redirect_uris: String::new(),
        post_logout_redirect_uris: String::new(),
        scopes: String::new(),
        grant_types: String::new(),
        audience: None,
        skip_consent: 0,
        created_at: act.now.millis(),
        updated_at: act.now.millis(),
    };
    registration.write_into(&mut row);
    let event = audit::event(AuditKind::OidcClientCreated, act.now, act.client)
        .detail(with_client(act, &row.id, Some(&row.name)));
    core.store.insert_oidc_client(&row, &event).await?;
    Ok(ClientRegistered {
        client: view(&row, act.now),
        client_secret: secret.map(|(secret, _)| secret),
    })
}

/// `GET /auth/admin/clients`: every client, oldest first.
pub async fn list(core: &Core, now: Timestamp) -> Result<Vec<OidcClient>, Error> {
    let rows = core.store.oidc_clients().await?;
    Ok(rows.iter().map(|row| view(row, now)).collect())
}

/// Client `id`, or `not_found`.
async fn existing(core: &Core, id: &str) -> Result<ClientRow, Error> {
    let id = well_formed_id(id).ok_or_else(not_found)?;
    core.store.oidc_client(id).await?.ok_or_else(not_found)
}

/// `GET /auth/admin/clients/{id}`.
pub async fn get(core: &Core, id: &str, now: Timestamp) -> Result<OidcClient, Error> {
    Ok(view(&existing(core, id).await?, now))
}

/// What a change did to a client: `{field: {from, to}}` for each field of its registration that
/// changed (a client holds nothing secret but its secret, which is not among them).
fn changes_between(before: &OidcClient, after: &OidcClient) -> serde_json::Value {
    let (Ok(serde_json::Value::Object(before)), Ok(serde_json::Value::Object(after))) =
        (serde_json::to_value(before), serde_json::to_value(after))
    else {
        return serde_json::Value::Null;
    };
    let mut changes = serde_json::Map::new();
    for (field, to) in &after {
        let from = before
            .get(field)
            .cloned()
            .unwrap_or(serde_json::Value::Null);
        if field != "updated_at" && from != *to {
            changes.insert(field.clone(), serde_json::json!({ "from": from, "to": to }));
        }
    }
    for (field, from) in &before {
        if !after.contains_key(field) && field != "previous_secret_until" {
            changes.insert(
                field.clone(),
                serde_json::json!({ "from": from, "to": null }),
            );
        }
    }
    serde_json::Value::Object(changes)
}

/// `PATCH /auth/admin/clients/{id}`: changes what is given (a list replaces the list), checked
/// with the rest as a registration is; nothing to change is refused. Its type never changes.
pub async fn update(
    core: &Core,
    id: &str,
    changes: ClientChanges,
    act: &Acting<'_>,
) -> Result<OidcClient, Error> {
    if changes == ClientChanges::default() {
        return Err(bad_request(
            "Nothing to change: give at least one of `name`, `redirect_uris`, \
             `post_logout_redirect_uris`, `scopes`, `grant_types`, `audience`, `skip_consent`.",
        ));
    }
    let mut row = existing(core, id).await?;
    let before = view(&row, act.now);
    let was = Registration::of(&row);
    Registration {
        name: changes.name.unwrap_or(was.name),
        redirect_uris: changes.redirect_uris.unwrap_or(was.redirect_uris),
        post_logout_redirect_uris: changes
            .post_logout_redirect_uris
            .unwrap_or(was.post_logout_redirect_uris),
        scopes: changes.scopes.unwrap_or(was.scopes),
        grant_types: changes.grant_types.unwrap_or(was.grant_types),
        audience: changes.audience.unwrap_or(was.audience),
        skip_consent: changes.skip_consent.unwrap_or(was.skip_consent),
    }
    .checked(core, kind_of(&row))?
    .write_into(&mut row);
    row.updated_at = act.now.millis();
    let mut detail = with_client(act, &row.id, Some(&row.name));
    if let Some(fields) = detail.as_object_mut() {
        fields.insert(
            "changes".into(),
            changes_between(&before, &view(&row, act.now)),
        );
    }
    let event = audit::event(AuditKind::OidcClientUpdated, act.now, act.client).detail(detail);
    core.store
        .update_oidc_client(&row, &event)
        .await?
        .map(|row| view(&row, act.now))
        .ok_or_else(not_found)
}

/// `POST /auth/admin/clients/{id}/rotate-secret`: a new secret for a confidential client,
/// returned this once. The previous one is accepted too for [`ROTATION_OVERLAP`], or no more
/// from now on with `now` (it leaked).
pub async fn rotate_secret(
    core: &Core,
    id: &str,
    how: RotateClientSecret,
    act: &Acting<'_>,
    random: &Random,
) -> Result<ClientRegistered, Error> {
    let row = existing(core, id).await?;
    if kind_of(&row) == ClientType::Public {
        return Err(bad_request("A public client has no secret to rotate."));
    }
    let (secret, hash) = new_secret(random);
    let previous_until = (!how.now).then(|| act.now.plus(ROTATION_OVERLAP).millis());
    let mut detail = with_client(act, &row.id, None);
    if let Some(fields) = detail.as_object_mut() {
        fields.insert("previous_refused_now".into(), how.now.into());
    }
    let event =
        audit::event(AuditKind::OidcClientSecretRotated, act.now, act.client).detail(detail);
    let row = core
        .store
        .rotate_oidc_client_secret(&row.id, (&hash, previous_until), act.now.millis(), &event)
        .await?
        .ok_or_else(not_found)?;
    Ok(ClientRegistered {
        client: view(&row, act.now),
        client_secret: Some(secret),
    })
}

/// `DELETE /auth/admin/clients/{id}`: the client is gone; its secret and `client_id` are
/// refused from now on.
pub async fn delete(core: &Core, id: &str, act: &Acting<'_>) -> Result<(), Error> {
    let id = well_formed_id(id).ok_or_else(not_found)?;
    let event = audit::event(AuditKind::OidcClientDeleted, act.now, act.client)
        .detail(with_client(act, id, None));
    if core.store.delete_oidc_client(id, &event).await? {
        Ok(())
    } else {
        Err(not_found())
    }
}
