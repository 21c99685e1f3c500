//! The HTTP room: routes, extractors and the mapping of errors to responses. Handlers parse and
//! respond; decisions live in `domain`, persistence in `store`.

// The edge: handlers read the clock and draw from the operating system, once per request, and
// hand both to the domain.
#![allow(clippy::disallowed_methods)]

mod accounts;
pub(crate) mod admin;
pub(crate) mod check;
mod client;
mod devices;
mod error;
pub(crate) mod extract;
mod gateway;
mod lifecycle;
mod meta;
mod mfa;
#[cfg(feature = "oauth")]
mod oauth;
#[cfg(feature = "oidc-provider")]
mod oidc_provider;
mod orgs;
mod passkeys;
mod sessions;
mod tickets;

use std::sync::{Arc, LazyLock};
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::handler::HandlerWithoutStateExt;
use axum::http::{HeaderName, HeaderValue, Method, header};
use axum::response::IntoResponse;
use axum::routing::get;
use tower::ServiceBuilder;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::services::ServeDir;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;
use utoipa::openapi::OpenApi as OpenApiDoc;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::{Content, Ref, RefOr, Required, ResponseBuilder};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::Keyward;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Keyward",
        description = "Authentication for web apps. Every success is `{\"data\": …}`; every failure an HTTP status with `{\"error\": {\"code\", \"message\"}}`, where `code` is stable.",
    ),
    modifiers(&BearerAuth),
    tags(
        (name = "accounts", description = "Sign-up, sign-in, the signed-in user."),
        (name = "sessions", description = "Refresh, sign-out, the user's sessions."),
        (name = "devices", description = "Device keys (DPoP): list, rename, revoke, challenges."),
        (name = "passkeys", description = "Passkeys (WebAuthn): register, sign up, sign in, manage."),
        (name = "lifecycle", description = "Email verification, password reset and change, email change, magic links."),
        (name = "mfa", description = "TOTP second factors: enrol, confirm, recovery codes, the second step of a sign-in."),
        (name = "tickets", description = "Connect tickets: WebSockets and EventSource, which cannot send headers."),
        (name = "resource servers", description = "For servers that are not this process: token introspection and ticket redemption (with a server key), forward auth for gateways."),
        (name = "admin", description = "Operators' tools, with an admin key: users searched and paged, one user in full, their sessions ended, the audit log, webhooks, OpenID Connect clients."),
        (name = "openid provider", description = "Keyward as an OpenID Connect provider for your other apps (setting `oidc_provider`): OAuth's wire, form requests and bare JSON answers, as standard client libraries expect."),
        (name = "meta", description = "Health, keys, this document."),
    )
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut OpenApiDoc) {
        if let Some(components) = openapi.components.as_mut() {
            let mut scheme = Http::new(HttpAuthScheme::Bearer);
            scheme.bearer_format = Some("JWT".into());
            components.add_security_scheme("bearer", SecurityScheme::Http(scheme));
            let mut key = Http::new(HttpAuthScheme::Bearer);
            key.bearer_format = Some("kws_… (a server key)".into());
            components.add_security_scheme("server_key", SecurityScheme::Http(key));
            let mut admin = Http::new(HttpAuthScheme::Bearer);
            admin.bearer_format = Some("kwa_… (an admin key)".into());
            components.add_security_scheme("admin_key", SecurityScheme::Http(admin));
            let basic = Http::new(HttpAuthScheme::Basic);
            components.add_security_scheme("client_secret_basic", SecurityScheme::Http(basic));
        }
    }
}

/// The routes, and the OpenAPI document generated from them.
fn api() -> (Router<Keyward>, OpenApiDoc) {
    let (router, mut doc) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(accounts::sign_up))
        .routes(routes!(accounts::sign_in))
        .routes(routes!(accounts::me))
        .routes(routes!(sessions::refresh))
        .routes(routes!(sessions::sign_out))
        .routes(routes!(sessions::list_sessions))
        .routes(routes!(sessions::revoke_session))
        .routes(routes!(devices::list_devices))
        .routes(routes!(devices::rename_device, devices::revoke_device))
        .routes(routes!(devices::challenge_device))
        .routes(routes!(devices::verify_challenge))
        .routes(routes!(tickets::connect_ticket))
        .routes(routes!(gateway::redeem_ticket))
        .routes(routes!(gateway::introspect))
        .routes(routes!(gateway::forward))
        .routes(routes!(lifecycle::send_verification))
        .routes(routes!(lifecycle::confirm_verification))
        .routes(routes!(lifecycle::forgot_password))
        .routes(routes!(lifecycle::reset_password))
        .routes(routes!(lifecycle::change_password))
        .routes(routes!(lifecycle::change_email))
        .routes(routes!(lifecycle::confirm_email_change))
        .routes(routes!(lifecycle::send_magic_link))
        .routes(routes!(lifecycle::verify_magic_link))
        .routes(routes!(mfa::enrol, mfa::disable))
        .routes(routes!(mfa::confirm))
        .routes(routes!(mfa::regenerate))
        .routes(routes!(mfa::verify))
        .routes(routes!(mfa::step_up))
        .routes(routes!(passkeys::register_options))
        .routes(routes!(passkeys::register_verify))
        .routes(routes!(passkeys::sign_up_options))
        .routes(routes!(passkeys::sign_up_verify))
        .routes(routes!(passkeys::sign_in_options))
        .routes(routes!(passkeys::sign_in_verify))
        .routes(routes!(passkeys::list_passkeys))
        .routes(routes!(passkeys::rename_passkey, passkeys::remove_passkey))
        .routes(routes!(orgs::create_org, orgs::list_orgs))
        .routes(routes!(orgs::get_org, orgs::update_org, orgs::delete_org))
        .routes(routes!(orgs::list_members))
        .routes(routes!(orgs::change_member, orgs::remove_member))
        .routes(routes!(orgs::transfer_org))
        .routes(routes!(orgs::activate_org))
        .routes(routes!(orgs::invite, orgs::list_invitations))
        .routes(routes!(orgs::resend_invitation))
        .routes(routes!(orgs::revoke_invitation))
        .routes(routes!(orgs::accept_invitation))
        .routes(routes!(admin::list_users))
        .routes(routes!(admin::get_user))
        .routes(routes!(admin::end_sessions))
        .routes(routes!(admin::disable_user))
        .routes(routes!(admin::enable_user))
        .routes(routes!(admin::delete_user))
        .routes(routes!(admin::start_password_reset))
        .routes(routes!(admin::audit_log))
        .routes(routes!(admin::create_webhook, admin::list_webhooks))
        .routes(routes!(admin::delete_webhook, admin::update_webhook))
        .routes(routes!(admin::enable_webhook))
        .routes(routes!(admin::rotate_webhook_secret))
        .routes(routes!(admin::webhook_deliveries))
        .routes(routes!(admin::redeliver_webhook))
        .routes(routes!(admin::test_webhook))
        .routes(routes!(meta::health))
        .routes(routes!(meta::jwks))
        .split_for_parts();
    #[cfg(feature = "oauth")]
    let (router, mut doc) = {
        let (oauth_router, oauth_doc) = OpenApiRouter::new()
            .routes(routes!(oauth::providers))
            .routes(routes!(oauth::start))
            .routes(routes!(oauth::callback))
            .routes(routes!(oauth::exchange))
            .routes(routes!(oauth::link))
            .routes(routes!(oauth::identities, oauth::finish_link))
            .routes(routes!(oauth::unlink))
            .split_for_parts();
        doc.merge(oauth_doc);
        (router.merge(oauth_router), doc)
    };
    #[cfg(feature = "oidc-provider")]
    let (router, mut doc) = {
        use oidc_provider::{clients, connected, pages, protocol, session};
        let (provider_router, provider_doc) = OpenApiRouter::new()
            .routes(routes!(clients::create_client, clients::list_clients))
            .routes(routes!(
                clients::get_client,
                clients::update_client,
                clients::delete_client
            ))
            .routes(routes!(clients::rotate_client_secret))
            .routes(routes!(connected::connected_apps))
            .routes(routes!(connected::disconnect_app))
            .routes(routes!(session::browser_session))
            .routes(routes!(protocol::token))
            .routes(routes!(protocol::revoke))
            .routes(routes!(protocol::userinfo, protocol::userinfo_post))
            .routes(routes!(protocol::discovery))
            .split_for_parts();
        doc.merge(provider_doc);
        // The pages answer HTML and redirects: routed, not in the document.
        use axum::routing::post;
        let pages = Router::new()
            .route(
                "/auth/oidc/authorize",
                get(pages::authorize_endpoint).post(pages::authorize_form),
            )
            .route(
                "/auth/oidc/sign-in",
                get(pages::sign_in_page).post(pages::sign_in),
            )
            .route("/auth/oidc/sign-in/mfa", post(pages::sign_in_mfa))
            .route("/auth/oidc/continue", get(pages::continue_page))
            .route(
                "/auth/oidc/end-session",
                get(pages::end_session).post(pages::end_session),
            )
            .route(
                "/auth/oidc/end-session/confirm",
                post(pages::end_session_confirmed),
            )
            .route(
                "/auth/oidc/consent",
                get(pages::consent_page).post(pages::consent),
            )
            .route(
                "/.well-known/oauth-authorization-server",
                get(protocol::discovery),
            );
        (router.merge(provider_router).merge(pages), doc)
    };
    describe_json_bodies(&mut doc);
    (router, doc)
}

/// Operations whose JSON body may be left out (the handlers read an absent body as `{}`).
const OPTIONAL_BODIES: [&str; 4] = [
    "/auth/sign-out",
    "/auth/admin/clients/{id}/rotate-secret",
    "/auth/passkeys/register/options",
    "/auth/passkeys/sign-in/options",
];

/// What [`extract::Json`] answers for every route with a JSON body, written into each such
/// operation once here rather than on every handler: 400 `invalid_request`, 413
/// `payload_too_large`, 415 `unsupported_media_type`. Marks the optional bodies as such.
fn describe_json_bodies(doc: &mut OpenApiDoc) {
    let refusals = [
        (
            "400",
            "`invalid_request`: malformed JSON, wrong types, unknown fields.",
        ),
        ("413", "`payload_too_large`: the body is over 64 KiB."),
        ("415", "`unsupported_media_type`: the body is not JSON."),
    ];
    for (path, item) in doc.paths.paths.iter_mut() {
        // The OpenID Connect provider's protocol endpoints take forms and refuse in OAuth's
        // words; each documents its own refusals.
        if [
            "/auth/oidc/token",
            "/auth/oidc/revoke",
            "/auth/oidc/userinfo",
        ]
        .contains(&path.as_str())
        {
            continue;
        }
        let operations = [
            &mut item.post,
            &mut item.put,
            &mut item.patch,
            &mut item.delete,
        ];
        for operation in operations.into_iter().flatten() {
            let Some(body) = operation.request_body.as_mut() else {
                continue;
            };
            if let RefOr::T(body) = body
                && OPTIONAL_BODIES.contains(&path.as_str())
            {
                body.required = Some(Required::False);
            }
            for (status, description) in refusals {
                operation
                    .responses
                    .responses
                    .entry(status.to_owned())
                    .or_insert_with(|| {
                        ResponseBuilder::new()
                            .description(description)
                            .content(
                                "application/json",
                                Content::new(Some(Ref::from_schema_name("ErrorEnvelope"))),
                            )
                            .build()
                            .into()
                    });
            }
        }
    }
}

/// The OpenAPI 3.1 document, as served at `/auth/openapi.json`.
pub fn openapi_json() -> String {
    API.1.to_string()
}

/// The routes and the document served at `/auth/openapi.json`, made once per process: they
/// depend on this build alone, and making them (the document above all) was nearly all of what
/// a router cost, 30 ms a call unoptimised.
static API: LazyLock<(Router<Keyward>, Arc<str>)> = LazyLock::new(|| {
    let (routes, doc) = api();
    (routes, spec_json(doc).into())
});

fn spec_json(mut doc: OpenApiDoc) -> String {
    doc.info.version = env!("CARGO_PKG_VERSION").into();
    doc.to_pretty_json().unwrap_or_default()
}

pub(crate) fn router(keyward: Keyward) -> Router {
    let (routes, spec) = &*API;
    let spec = Arc::clone(spec);
    let routes = routes
        .clone()
        .route(
            "/auth/openapi.json",
            get(move || {
                let spec = Arc::clone(&spec);
                async move {
                    (
                        [(
                            header::CONTENT_TYPE,
                            HeaderValue::from_static("application/json"),
                        )],
                        spec.to_string(),
                    )
                        .into_response()
                }
            }),
        )
        .method_not_allowed_fallback(meta::method_not_allowed);
    let routes = match &keyward.core().settings.static_dir {
        // The app's files may be the page other apps send users to (the sign-in page Keyward
        // ships, or the app's own): never framed by another site (a framed Continue or
        // Disconnect can be clicked by trickery), their address (a pending request in it) kept
        // from other sites, their types not sniffed. A header already set is left alone.
        Some(dir) => {
            let page_header = |name, value| {
                SetResponseHeaderLayer::if_not_present(name, HeaderValue::from_static(value))
            };
            routes.fallback_service(
                ServiceBuilder::new()
                    .layer(page_header(header::X_FRAME_OPTIONS, "DENY"))
                    .layer(page_header(
                        header::CONTENT_SECURITY_POLICY,
                        "frame-ancestors 'none'",
                    ))
                    .layer(page_header(header::REFERRER_POLICY, "same-origin"))
                    .layer(page_header(header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
                    .service(
                        // Another method than GET or HEAD: not a page, and answered as any
                        // route nobody serves (404 with the error envelope, not a bare 405).
                        ServeDir::new(dir)
                            .append_index_html_on_directories(true)
                            .call_fallback_on_method_not_allowed(true)
                            .not_found_service(meta::not_found.into_service()),
                    ),
            )
        }
        None => routes.fallback(meta::not_found),
    };
    let settings = &keyward.core().settings;
    let cors = cors(&settings.origins(), settings.oidc_provider);
    routes
        // Keyward's own routes: the app's request check is not theirs (`check`).
        .layer(axum::Extension(check::OwnRoute))
        .layer(DefaultBodyLimit::max(extract::MAX_BODY))
        .layer(cors)
        .layer(TraceLayer::new_for_http())
        .with_state(keyward)
}

/// The OpenID Connect provider's endpoints that browser-based apps on any site call with
/// `fetch`: discovery, the keys, the token endpoint, userinfo, revocation. None reads a cookie
/// (a client proves itself with a code and its verifier, a secret, or an access token), so
/// letting every origin read their answers gives a page nothing it could not get from a server.
/// The sign-in pages are navigations, not `fetch`: they stay closed.
const OPEN_TO_EVERY_ORIGIN: [&str; 6] = [
    "/.well-known/openid-configuration",
    "/.well-known/oauth-authorization-server",
    "/.well-known/jwks.json",
    "/auth/oidc/token",
    "/auth/oidc/userinfo",
    "/auth/oidc/revoke",
];

/// Browsers may call the API from the allowed origins only (and, with the OpenID Connect
/// provider on, its fetch endpoints from any: [`OPEN_TO_EVERY_ORIGIN`]). No cookies are involved
/// (tokens travel in headers), so credentials are not allowed either.
fn cors(origins: &[String], provider: bool) -> CorsLayer {
    let allow_origin = if origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        let listed: Vec<HeaderValue> = origins
            .iter()
            .filter_map(|o| HeaderValue::from_str(o).ok())
            .collect();
        AllowOrigin::predicate(move |origin, parts| {
            listed.contains(origin)
                || (provider
                    && origin != "null"
                    && OPEN_TO_EVERY_ORIGIN.contains(&parts.uri.path()))
        })
    };
    CorsLayer::new()
        .allow_origin(allow_origin)
        .allow_methods([Method::GET, Method::POST, Method::PATCH, Method::DELETE])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            HeaderName::from_static("dpop"),
        ])
        .expose_headers([
            header::RETRY_AFTER,
            header::WWW_AUTHENTICATE,
            header::DATE,
            HeaderName::from_static("dpop-nonce"),
        ])
        .max_age(Duration::from_secs(600))
}
