//! Helpers for the server's integration tests: a database per test (see `src/testing.rs`) and
//! requests sent through the router.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]
// Tests stand outside the server: they read the clock and draw randomness as a client would.
#![allow(clippy::disallowed_methods)]

#[path = "../../src/testing.rs"]
pub mod testing;

pub mod gateway;
#[cfg(feature = "oauth")]
pub mod oidc;
pub mod passkeys;
pub mod process;
pub mod smtp;
pub mod webhooks;

use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use http_body_util::BodyExt as _;
use keyward_server::Keyward;
use serde_json::{Value, json};
use tower::ServiceExt as _;

pub use testing::TestDb;

/// What came back.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Reply {
    /// The error code of an error reply.
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }
}

/// Sends one request through the router.
pub async fn send(keyward: &Keyward, request: Request<Body>) -> Reply {
    let response = keyward.router().oneshot(request).await.expect("infallible");
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    reply_of(status, headers, &bytes)
}

/// A reply from its parts; a body must be JSON (every Keyward answer is).
pub fn reply_of(status: StatusCode, headers: HeaderMap, bytes: &[u8]) -> Reply {
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(bytes)
            .unwrap_or_else(|err| panic!("not JSON ({err}): {}", String::from_utf8_lossy(bytes)))
    };
    Reply {
        status,
        headers,
        body,
    }
}

pub fn get(uri: &str) -> Request<Body> {
    Request::get(uri).body(Body::empty()).unwrap()
}

/// A request with a JSON body and, when given, a bearer token.
pub fn json_request(method: Method, uri: &str, token: Option<&str>, body: &Value) -> Request<Body> {
    let mut request = Request::builder()
        .method(method)
        .uri(uri)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::USER_AGENT, "keyward-tests/1.0");
    if let Some(token) = token {
        request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    request.body(Body::from(body.to_string())).unwrap()
}

pub fn post(uri: &str, body: &Value) -> Request<Body> {
    json_request(Method::POST, uri, None, body)
}

pub fn authed(method: Method, uri: &str, token: &str) -> Request<Body> {
    Request::builder()
        .method(method)
        .uri(uri)
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap()
}

pub const PASSWORD: &str = "correct horse battery staple";

/// Signs up `email` and returns the `data` of the answer.
pub async fn sign_up(keyward: &Keyward, email: &str) -> Value {
    let reply = send(
        keyward,
        post(
            "/auth/sign-up",
            &json!({ "email": email, "password": PASSWORD }),
        ),
    )
    .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.body);
    reply.body["data"].clone()
}

/// Signs in `email` and returns the `data` of the answer.
pub async fn sign_in(keyward: &Keyward, email: &str) -> Value {
    let reply = send(
        keyward,
        post(
            "/auth/sign-in",
            &json!({ "email": email, "password": PASSWORD }),
        ),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    reply.body["data"].clone()
}

/// Refreshes with `token`.
pub async fn refresh(keyward: &Keyward, token: &str) -> Reply {
    send(
        keyward,
        post("/auth/refresh", &json!({ "refresh_token": token })),
    )
    .await
}

/// `user` (an auth answer) makes an organization named `name` and acts for it: its id, and the
/// session's next access token, which carries it.
#[allow(dead_code)] // not every test file makes one
pub async fn act_for_new_org(keyward: &Keyward, user: &Value, name: &str) -> (String, String) {
    let token = access(user);
    let made = send(
        keyward,
        json_request(
            Method::POST,
            "/auth/orgs",
            Some(&token),
            &json!({ "name": name }),
        ),
    )
    .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.body);
    let org = made.body["data"]["org"]["id"].as_str().unwrap().to_owned();
    let activated = send(
        keyward,
        authed(Method::POST, &format!("/auth/orgs/{org}/activate"), &token),
    )
    .await;
    assert_eq!(activated.status, StatusCode::OK, "{}", activated.body);
    let renewed = refresh(keyward, &refresh_token(user)).await;
    assert_eq!(renewed.status, StatusCode::OK, "{}", renewed.body);
    (org, access(&renewed.body["data"]))
}

/// A connect ticket for `url`, asked for with the unbound (Bearer) `token`.
pub async fn connect_ticket(keyward: &Keyward, token: &str, url: &str) -> String {
    let reply = send(
        keyward,
        json_request(
            Method::POST,
            "/auth/connect-ticket",
            Some(token),
            &json!({ "url": url }),
        ),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.body["data"]["ticket"].as_str().unwrap().to_owned()
}

/// The access token in an auth answer.
pub fn access(data: &Value) -> String {
    data["tokens"]["access_token"].as_str().unwrap().to_owned()
}

/// The refresh token in an auth answer.
pub fn refresh_token(data: &Value) -> String {
    data["tokens"]["refresh_token"].as_str().unwrap().to_owned()
}

/// A device key as a client holds it, to sign DPoP proofs in tests.
pub struct TestDevice {
    pair: aws_lc_rs::signature::EcdsaKeyPair,
    jwk: Value,
    counter: std::sync::atomic::AtomicU64,
}

impl TestDevice {
    pub fn new() -> Self {
        use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _};
        let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
        let point = pair.public_key().as_ref().to_vec();
        let jwk = json!({
            "kty": "EC",
            "crv": "P-256",
            "x": b64(&point[1..33]),
            "y": b64(&point[33..65]),
        });
        Self {
            pair,
            jwk,
            counter: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// The RFC 7638 thumbprint, computed here independently of the server.
    pub fn jkt(&self) -> String {
        use sha2::Digest as _;
        let canonical = format!(
            r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#,
            self.jwk["x"].as_str().unwrap(),
            self.jwk["y"].as_str().unwrap()
        );
        b64(&sha2::Sha256::digest(canonical.as_bytes()))
    }

    /// A proof for `method` `path` on the test server, optionally for `access_token`, with
    /// `nonce`, issued `age_secs` ago.
    pub fn proof_with(
        &self,
        method: &str,
        path: &str,
        access_token: Option<&str>,
        nonce: Option<&str>,
        age_secs: i64,
    ) -> String {
        use sha2::Digest as _;
        let n = self
            .counter
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        let mut claims = json!({
            "jti": format!("jti-{n}-{}", rand_suffix()),
            "htm": method,
            "htu": format!("http://localhost:8787{path}"),
            "iat": now - age_secs,
        });
        if let Some(token) = access_token {
            claims["ath"] = json!(b64(&sha2::Sha256::digest(token.as_bytes())));
        }
        if let Some(nonce) = nonce {
            claims["nonce"] = json!(nonce);
        }
        let header = json!({ "typ": "dpop+jwt", "alg": "ES256", "jwk": self.jwk });
        self.sign_jwt(&header, &claims)
    }

    /// A compact JWS of `header` and `claims`, signed ES256 with this key whatever the header
    /// says (to forge tokens in the security tests).
    pub fn sign_jwt(&self, header: &Value, claims: &Value) -> String {
        let signing_input = format!(
            "{}.{}",
            b64(header.to_string().as_bytes()),
            b64(claims.to_string().as_bytes())
        );
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let signature = self.pair.sign(&rng, signing_input.as_bytes()).unwrap();
        format!("{signing_input}.{}", b64(signature.as_ref()))
    }

    /// The public key as a JWK.
    pub fn jwk(&self) -> &Value {
        &self.jwk
    }

    pub fn proof(&self, method: &str, path: &str, access_token: Option<&str>) -> String {
        self.proof_with(method, path, access_token, None, 0)
    }

    /// A proof for `method` at the full URL `htu` (another server's), for `access_token`.
    #[allow(dead_code)] // not every test file signs for another server
    pub fn proof_at(&self, method: &str, htu: &str, access_token: &str) -> String {
        use sha2::Digest as _;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap();
        let claims = json!({
            "jti": format!("at-{}-{}", now.as_nanos(), rand_suffix()),
            "htm": method,
            "htu": htu,
            "iat": now.as_secs(),
            "ath": b64(&sha2::Sha256::digest(access_token.as_bytes())),
        });
        let header = json!({ "typ": "dpop+jwt", "alg": "ES256", "jwk": self.jwk });
        self.sign_jwt(&header, &claims)
    }
}

fn rand_suffix() -> String {
    let mut bytes = [0u8; 8];
    aws_lc_rs::rand::fill(&mut bytes).unwrap();
    b64(&bytes)
}

pub fn b64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

pub fn unb64(text: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text)
        .unwrap()
}

/// A JSON request with a `DPoP` header, and the access token under `scheme` when given.
pub fn dpop_request(
    method: Method,
    uri: &str,
    scheme_token: Option<(&str, &str)>,
    proof: Option<&str>,
    body: Option<&Value>,
) -> Request<Body> {
    let mut request = Request::builder().method(method).uri(uri).header(
        header::USER_AGENT,
        "Mozilla/5.0 (X11; Linux x86_64) Chrome/156.0 Safari/537.36",
    );
    if let Some((scheme, token)) = scheme_token {
        request = request.header(header::AUTHORIZATION, format!("{scheme} {token}"));
    }
    if let Some(proof) = proof {
        request = request.header("dpop", proof);
    }
    match body {
        Some(body) => request
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_string()))
            .unwrap(),
        None => request.body(Body::empty()).unwrap(),
    }
}

/// The sign-up request for `email`, with a proof by `device` when given (a device-bound
/// session).
pub fn sign_up_request(email: &str, device: Option<&TestDevice>) -> Request<Body> {
    let body = json!({ "email": email, "password": PASSWORD });
    match device {
        Some(device) => {
            let proof = device.proof("POST", "/auth/sign-up", None);
            dpop_request(
                Method::POST,
                "/auth/sign-up",
                None,
                Some(&proof),
                Some(&body),
            )
        }
        None => post("/auth/sign-up", &body),
    }
}

/// Signs up `email` with `device`'s proof: a device-bound session.
pub async fn sign_up_bound(keyward: &Keyward, email: &str, device: &TestDevice) -> Value {
    let reply = send(keyward, sign_up_request(email, Some(device))).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    reply.body["data"].clone()
}

/// `GET /auth/devices` by `device`, with its bound `token`.
pub fn list_devices(device: &TestDevice, token: &str) -> Request<Body> {
    let proof = device.proof("GET", "/auth/devices", Some(token));
    dpop_request(
        Method::GET,
        "/auth/devices",
        Some(("DPoP", token)),
        Some(&proof),
        None,
    )
}

/// A challenge for device `id`, for the verifier `audience`, asked by `device` with `token`.
pub fn challenge_request(
    device: &TestDevice,
    token: &str,
    id: &str,
    audience: &str,
) -> Request<Body> {
    let uri = format!("/auth/devices/{id}/challenge");
    let proof = device.proof("POST", &uri, Some(token));
    dpop_request(
        Method::POST,
        &uri,
        Some(("DPoP", token)),
        Some(&proof),
        Some(&json!({ "audience": audience })),
    )
}

/// `signer`'s answer to `challenge`, handed to Keyward by the verifier `audience`.
pub fn challenge_answer(signer: &TestDevice, challenge: &str, audience: &str) -> Request<Body> {
    let verify = "/auth/devices/challenge/verify";
    let proof = signer.proof_with("POST", verify, None, Some(challenge), 0);
    dpop_request(
        Method::POST,
        verify,
        None,
        None,
        Some(&json!({ "challenge": challenge, "proof": proof, "audience": audience })),
    )
}

/// The id of `device`'s device record, as the device itself lists it with `token`.
pub async fn own_device_id(keyward: &Keyward, device: &TestDevice, token: &str) -> String {
    let devices = send(keyward, list_devices(device, token)).await;
    devices.body["data"]["devices"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// The kinds of the newest `limit` audit events, newest first.
pub async fn audit_kinds(keyward: &Keyward, limit: i64) -> Vec<String> {
    keyward
        .store()
        .recent_audit(limit, None)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect()
}

/// Refreshes `token` with a proof by `device`.
pub async fn refresh_bound(keyward: &Keyward, token: &str, device: &TestDevice) -> Reply {
    let proof = device.proof("POST", "/auth/refresh", None);
    let body = json!({ "refresh_token": token });
    send(
        keyward,
        dpop_request(
            Method::POST,
            "/auth/refresh",
            None,
            Some(&proof),
            Some(&body),
        ),
    )
    .await
}

/// The newest mail of `kind` to `to` in the outbox (no SMTP server here): its `token` link
/// parameter.
pub async fn mailed_token(keyward: &Keyward, kind: &str, to: &str) -> String {
    // Some mails are queued after the answer (a reset link: the answer must not tell whether
    // the address has an account by how long it takes).
    let mut tries = 0;
    let mail = loop {
        let mails = keyward.store().recent_mail(50).await.unwrap();
        if let Some(mail) = mails
            .into_iter()
            .find(|m| m.kind == kind && m.to_address == to)
        {
            break mail;
        }
        tries += 1;
        assert!(tries < 100, "no {kind} mail to {to}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    let received = smtp::Mail {
        to: mail.to_address.clone(),
        from: String::new(),
        subject: mail.subject.clone(),
        text: mail.text_body.clone(),
        html: mail.html_body.clone(),
    };
    received.link().1
}

/// Follows the verification mail sent to `email` at sign-up, signed in as its holder.
pub async fn verify_email(keyward: &Keyward, email: &str, token: &str) {
    let link = mailed_token(keyward, "verify_email", email).await;
    let body = json!({ "token": link });
    let reply = send(
        keyward,
        json_request(
            Method::POST,
            "/auth/email/verification/confirm",
            Some(token),
            &body,
        ),
    )
    .await;
    assert!(reply.status.is_success(), "{}", reply.body);
}

/// The authenticator app's code for `secret` (base32) at `offset` 30-second steps from now.
pub fn totp(secret: &str, offset: i64) -> String {
    use totp_rs::{Algorithm, Secret, TOTP};
    let bytes = Secret::Encoded(secret.to_owned()).to_bytes().unwrap();
    let totp = TOTP::new_unchecked(Algorithm::SHA1, 6, 1, 30, bytes, None, String::new());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    totp.generate(now.saturating_add_signed(offset * 30))
}

/// The claims of `token` (an access token), read as any API would.
pub fn claims_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&unb64(payload)).unwrap()
}

/// How many accounts there are, as the admin API counts them (a page of at most its default).
pub async fn accounts(keyward: &Keyward) -> usize {
    let (_, key) = keyward.create_admin_key("count").await.unwrap();
    let page = send(keyward, authed(Method::GET, "/auth/admin/users", &key)).await;
    page.body["data"]["users"].as_array().unwrap().len()
}
