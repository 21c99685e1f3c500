//! An independent relying party: the `openidconnect` crate, as a second app would use it, talks
//! to Keyward over a real socket (discovery, JWKS, token, userinfo, logout), while the user's
//! browser walks Keyward's own sign-in and consent pages.

use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreErrorResponseType, CoreUserInfoClaims,
};
use openidconnect::{
    AccessTokenHash, AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl,
    LogoutRequest, Nonce, OAuth2TokenResponse as _, PkceCodeChallenge, PostLogoutRedirectUrl,
    ProviderMetadataWithLogout, RedirectUrl, RequestTokenError, Scope, TokenResponse as _,
};

use super::*;

/// A server on a real port whose issuer is that port: what the relying party discovers.
async fn served_provider(db: &TestDb) -> (Keyward, String, String) {
    let listener = tokio::net::TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0))
        .await
        .unwrap();
    let issuer = format!("http://localhost:{}", listener.local_addr().unwrap().port());
    let (keyward, key) = with_admin_key(Settings {
        oidc_provider: true,
        issuer: issuer.clone(),
        // A used refresh token shown again is reuse at once.
        refresh_grace: std::time::Duration::ZERO,
        ..db.settings()
    })
    .await;
    let router = keyward.router();
    tokio::spawn(async move {
        let service = router.into_make_service_with_connect_info::<std::net::SocketAddr>();
        axum::serve(listener, service).await.unwrap();
    });
    (keyward, key, issuer)
}

/// The relying party's HTTP client: like any server-side app's, it follows no redirect.
fn http_client() -> reqwest::Client {
    let tls = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(rustls::RootCertStore::empty())
    .with_no_client_auth();
    reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// The browser goes to `url` on the provider and comes back to the app: the URL it comes back
/// to. It signs in and allows the app when asked.
async fn through_the_browser(browser: &mut Browser, url: &url::Url, email: &str) -> url::Url {
    let back = through_the_pages(browser, &url[url::Position::BeforePath..], email).await;
    url::Url::parse(&back).unwrap()
}

#[tokio::test]
async fn the_openidconnect_crate_signs_a_user_in_refreshes_and_signs_out() {
    let db = TestDb::new().await;
    let (keyward, key, issuer) = served_provider(&db).await;
    let back_to = format!("{issuer}/rp/callback");
    let bye = format!("{issuer}/rp/bye");
    let made = register(
        &keyward,
        &key,
        &json!({
            "name": "Reports <app>",
            "type": "confidential",
            "redirect_uris": [back_to],
            "post_logout_redirect_uris": [bye],
            "grant_types": ["authorization_code", "refresh_token"],
        }),
    )
    .await;
    let (client_id, secret) = id_and_secret(&made);
    let user = sign_up(&keyward, "rp@example.com").await;
    let user_id = user["user"]["id"].as_str().unwrap().to_owned();
    let http = http_client();

    // Discovery, with the JWKS it names.
    let issuer_url = IssuerUrl::new(issuer.clone()).unwrap();
    let metadata = ProviderMetadataWithLogout::discover_async(issuer_url, &http)
        .await
        .expect("the provider's metadata is valid OpenID Connect discovery");
    let end_session = metadata
        .additional_metadata()
        .end_session_endpoint
        .clone()
        .expect("an end_session_endpoint");
    let client = CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(client_id.clone()),
        Some(ClientSecret::new(secret.clone())),
    )
    .set_redirect_uri(RedirectUrl::new(back_to.clone()).unwrap());

    // The code flow with PKCE and a nonce: an authorization request's URL, state, verifier
    // and nonce.
    let authorization = || {
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (url, state, nonce) = client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .add_scope(Scope::new("email".into()))
            .add_scope(Scope::new("profile".into()))
            .set_pkce_challenge(challenge)
            .url();
        (url, state, verifier, nonce)
    };
    let (authorize, state, verifier, _) = authorization();
    let mut browser = Browser::new(&keyward);
    let back = through_the_browser(&mut browser, &authorize, "rp@example.com").await;
    assert!(back.as_str().starts_with(&back_to), "{back}");
    let param = |url: &url::Url, name: &str| {
        url.query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    };
    assert_eq!(
        param(&back, "state").as_deref(),
        Some(state.secret().as_str())
    );
    assert_eq!(param(&back, "iss").as_deref(), Some(issuer.as_str()));
    let code = param(&back, "code").expect("a code");

    // A wrong verifier spends the code; the right one then gets nothing either.
    let with_verifier = |verifier| {
        client
            .exchange_code(AuthorizationCode::new(code.clone()))
            .unwrap()
            .set_pkce_verifier(verifier)
            .request_async(&http)
    };
    let wrong = with_verifier(PkceCodeChallenge::new_random_sha256().1).await;
    assert_oauth_error(wrong, CoreErrorResponseType::InvalidGrant);
    let spent = with_verifier(verifier).await;
    assert_oauth_error(spent, CoreErrorResponseType::InvalidGrant);

    // Signed in and consent remembered: straight back with a code.
    let (url, _, verifier_2, nonce_2) = authorization();
    let again = through_the_browser(&mut browser, &url, "rp@example.com").await;
    let code = param(&again, "code").expect("a code");

    let tokens = client
        .exchange_code(AuthorizationCode::new(code))
        .unwrap()
        .set_pkce_verifier(verifier_2)
        .request_async(&http)
        .await
        .expect("the code exchange");
    let id_token = tokens.id_token().expect("an ID token");
    let id_verifier = client.id_token_verifier();
    let claims = id_token
        .claims(&id_verifier, &nonce_2)
        .expect("an ID token the relying party accepts");
    assert_eq!(claims.subject().as_str(), user_id);
    assert_eq!(
        claims.email().map(|email| email.as_str()),
        Some("rp@example.com")
    );
    // The access token is the one the ID token names.
    let hash = AccessTokenHash::from_token(
        tokens.access_token(),
        id_token.signing_alg().unwrap(),
        id_token.signing_key(&id_verifier).unwrap(),
    )
    .unwrap();
    assert_eq!(claims.access_token_hash(), Some(&hash));

    // Userinfo, for the same subject.
    let info: CoreUserInfoClaims = client
        .user_info(
            tokens.access_token().clone(),
            Some(claims.subject().clone()),
        )
        .unwrap()
        .request_async(&http)
        .await
        .expect("userinfo");
    assert_eq!(
        info.email().map(|email| email.as_str()),
        Some("rp@example.com")
    );

    // Refresh rotates: each answer has a new refresh token and an ID token for the same user.
    let first = tokens.refresh_token().expect("a refresh token").clone();
    let mut current = first.clone();
    for _ in 0..2 {
        let next = client
            .exchange_refresh_token(&current)
            .unwrap()
            .request_async(&http)
            .await
            .expect("a refresh");
        let renewed = next.id_token().expect("a new ID token");
        let renewed = renewed
            .claims(&id_verifier, |_: Option<&Nonce>| Ok(()))
            .expect("a renewed ID token the relying party accepts");
        assert_eq!(renewed.subject().as_str(), user_id);
        let rotated = next
            .refresh_token()
            .expect("a rotated refresh token")
            .clone();
        assert_ne!(rotated.secret(), current.secret());
        current = rotated;
    }
    // The first refresh token again is reuse: refused, and the grant ends with its tokens.
    let reused = client
        .exchange_refresh_token(&first)
        .unwrap()
        .request_async(&http)
        .await;
    assert_oauth_error(reused, CoreErrorResponseType::InvalidGrant);
    let after = client
        .exchange_refresh_token(&current)
        .unwrap()
        .request_async(&http)
        .await;
    assert_oauth_error(after, CoreErrorResponseType::InvalidGrant);

    // A new grant from the same sign-in, then RP-initiated logout with its ID token.
    let (url, _, verifier_3, nonce_3) = authorization();
    let again = through_the_browser(&mut browser, &url, "rp@example.com").await;
    let code = param(&again, "code").expect("a code");
    let tokens = client
        .exchange_code(AuthorizationCode::new(code))
        .unwrap()
        .set_pkce_verifier(verifier_3)
        .request_async(&http)
        .await
        .expect("a second code exchange");
    let id_token = tokens.id_token().unwrap().clone();
    id_token.claims(&id_verifier, &nonce_3).unwrap();
    let logout_state = CsrfToken::new_random();
    let logout = LogoutRequest::from(end_session)
        .set_id_token_hint(&id_token)
        .set_client_id(ClientId::new(client_id.clone()))
        .set_post_logout_redirect_uri(PostLogoutRedirectUrl::new(bye.clone()).unwrap())
        .set_state(logout_state.clone())
        .http_get_url();
    let signed_out = browser.get(&logout[url::Position::BeforePath..]).await;
    assert_eq!(
        signed_out.status,
        StatusCode::SEE_OTHER,
        "{}",
        signed_out.body
    );
    let gone_to = url::Url::parse(&signed_out.location.unwrap()).unwrap();
    assert!(gone_to.as_str().starts_with(&bye), "{gone_to}");
    assert_eq!(
        param(&gone_to, "state").as_deref(),
        Some(logout_state.secret().as_str())
    );
    // The app's tokens are dead, and the browser must sign in again.
    let info = client
        .user_info(tokens.access_token().clone(), None)
        .unwrap()
        .request_async::<openidconnect::EmptyAdditionalClaims, _, openidconnect::core::CoreGenderClaim>(&http)
        .await;
    assert!(info.is_err(), "userinfo after logout: {info:?}");
    let refreshed = client
        .exchange_refresh_token(tokens.refresh_token().unwrap())
        .unwrap()
        .request_async(&http)
        .await;
    assert_oauth_error(refreshed, CoreErrorResponseType::InvalidGrant);
    let start = browser.get(&authorize[url::Position::BeforePath..]).await;
    assert!(
        start
            .location
            .as_deref()
            .is_some_and(|to| to.starts_with("/auth/oidc/sign-in")),
        "after logout the browser signs in again: {:?}",
        start.location
    );
}

#[tokio::test]
async fn the_openidconnect_crate_gets_a_machine_token_with_client_credentials() {
    let db = TestDb::new().await;
    let (keyward, key, issuer) = served_provider(&db).await;
    let (client_id, secret) = machine_client(&keyward, &key).await;
    let http = http_client();
    let metadata =
        ProviderMetadataWithLogout::discover_async(IssuerUrl::new(issuer).unwrap(), &http)
            .await
            .unwrap();
    let client_with = |secret: &str| {
        CoreClient::from_provider_metadata(
            metadata.clone(),
            ClientId::new(client_id.clone()),
            Some(ClientSecret::new(secret.to_owned())),
        )
    };

    let tokens = client_with(&secret)
        .exchange_client_credentials()
        .unwrap()
        .add_scope(Scope::new("invoices:read".into()))
        .request_async(&http)
        .await
        .expect("client credentials");
    let claims = verified(
        &keyward,
        tokens.access_token().secret(),
        "https://api.example.com",
    )
    .await;
    assert_eq!(claims["sub"], client_id.as_str());
    assert_eq!(claims["scope"], "invoices:read");
    assert!(tokens.refresh_token().is_none());

    let refused = client_with("kwcs_not-the-secret")
        .exchange_client_credentials()
        .unwrap()
        .request_async(&http)
        .await;
    assert_oauth_error(refused, CoreErrorResponseType::InvalidClient);
}

/// `result` is the provider's OAuth error `expected`.
fn assert_oauth_error<T: std::fmt::Debug, E: std::error::Error + 'static>(
    result: Result<
        T,
        RequestTokenError<E, openidconnect::StandardErrorResponse<CoreErrorResponseType>>,
    >,
    expected: CoreErrorResponseType,
) {
    match result {
        Err(RequestTokenError::ServerResponse(error)) => assert_eq!(error.error(), &expected),
        other => panic!("expected {expected:?}, got {other:?}"),
    }
}
