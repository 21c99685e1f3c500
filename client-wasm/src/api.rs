//! Calls to the Keyward server: JSON in and out through the browser's own `fetch` and `JSON`
//! (no JSON library in the wasm: it would cost more bytes than the whole client logic), each with
//! a timeout, and errors sorted into "the server said no" and "the network failed".

use keyward_proto::ErrorCode;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{Request, Response};

use crate::wire::get;
use crate::{Error, io};

/// How long a call to the auth server may take before it counts as a network failure. (Calls
/// to the app's own API through `fetch` have no timeout of ours: the caller's signal decides.)
pub const TIMEOUT_MS: i32 = 15_000;

/// How long a refresh may take: a refresh that timed out is retried 2 s later, and that retry
/// should reach the server within its 10 s grace window.
pub const REFRESH_TIMEOUT_MS: i32 = 6_000;

/// The URL of `path` on the auth server at `base`. A path is under the server's prefix
/// (`/sessions`, never `@elsewhere.example`), and an id in it is one segment: `.` or `..` would
/// not stay one (the browser resolves `/orgs/o1/members/..` to `/orgs/o1/`, another resource
/// than the one named), so a path with such a segment is refused, and nothing is sent.
pub fn server_url(base: &str, path: &str) -> Result<String, Error> {
    if !path.starts_with('/') {
        return Err(Error::OriginNotAllowed {
            origin: "a path that does not start with /".into(),
        });
    }
    let before_query = path.split(['?', '#']).next().unwrap_or(path);
    if before_query
        .split('/')
        .any(|segment| segment == "." || segment == "..")
    {
        return Err(Error::InvalidArgument {
            what: "an id that is . or ..",
        });
    }
    Ok([base, path].concat())
}

/// A request to `url` with `body` (JSON text) as its body, aborted by `signal` (the caller's).
pub fn json_request(
    method: &str,
    url: &str,
    body: Option<&JsValue>,
    signal: Option<&web_sys::AbortSignal>,
) -> Result<Request, Error> {
    io::json_request(method, url, body, signal).map_err(|e| Error::browser("fetch", &e))
}

/// `fetch` of `request` (which stays sendable again) with the `authorization` and `proof`
/// headers when given. With `timeout_ms`, also given up after that long (a network error); the
/// request's own signal (the caller's) is honoured either way, and its abort is
/// [`Error::Aborted`], not a network failure.
pub async fn send(
    request: &Request,
    authorization: Option<&str>,
    proof: Option<&str>,
    timeout_ms: Option<i32>,
) -> Result<Response, Error> {
    let promise = io::send(request, authorization, proof, timeout_ms)
        .map_err(|e| Error::browser("fetch", &e))?;
    match wasm_bindgen_futures::JsFuture::from(promise).await {
        Ok(response) if response.is_null() => Err(Error::Aborted),
        Ok(response) => response
            .dyn_into::<Response>()
            .map_err(|_| Error::Network("fetch did not answer with a Response".into())),
        Err(e) => Err(Error::Network(describe(&e))),
    }
}

/// Reads an enveloped answer: `data` on success (`null` for a 204), the error envelope
/// otherwise.
pub async fn read_data(response: Response) -> Result<JsValue, Error> {
    let status = get(&response, "status").as_f64().unwrap_or(0.0) as u16;
    let read = io::read_json(&response).map_err(|e| Error::Network(describe(&e)))?;
    let json = wasm_bindgen_futures::JsFuture::from(read)
        .await
        .map_err(|e| Error::Network(describe(&e)))?;
    if (200..300).contains(&status) {
        return Ok(if json.is_null() {
            JsValue::NULL
        } else {
            get(&json, "data")
        });
    }
    Err(error_of(status, &json))
}

/// The error an answer with `status` and body `json` (an error envelope, or not) stands for.
pub(crate) fn error_of(status: u16, json: &JsValue) -> Error {
    let error = get(json, "error");
    match (
        get(&error, "code").as_string(),
        get(&error, "message").as_string(),
    ) {
        (Some(code), Some(message)) => Error::Server {
            code: ErrorCode::from_wire(&code),
            message,
            status,
        },
        // No envelope: a proxy or load balancer answered. 5xx and friends are transient.
        _ => Error::Server {
            code: if status >= 500 {
                ErrorCode::Unavailable
            } else {
                ErrorCode::Unknown
            },
            message: [
                "the server answered ",
                &js_sys::Number::from(f64::from(status))
                    .to_string_with_radix(10)
                    .map(String::from)
                    .unwrap_or_default(),
            ]
            .concat(),
            status,
        },
    }
}

fn describe(error: &JsValue) -> String {
    match error.dyn_ref::<js_sys::Error>() {
        Some(error) => String::from(error.message()),
        None => error.as_string().unwrap_or_else(|| "unknown".into()),
    }
}

/// A `setTimeout` that is cleared when dropped.
pub struct Timer {
    /// As `setTimeout` gave it: a number, not always an `i32` (fake clocks count from 1e12).
    id: f64,
    _callback: Closure<dyn FnMut()>,
}

impl Timer {
    /// Calls `f` after `ms` milliseconds, unless the timer is dropped first.
    pub fn start(ms: i32, f: impl FnMut() + 'static) -> Option<Self> {
        let callback = Closure::<dyn FnMut()>::new(f);
        let id = io::set_timeout(callback.as_ref().unchecked_ref(), ms);
        Some(Self {
            id,
            _callback: callback,
        })
    }
}

impl Drop for Timer {
    fn drop(&mut self) {
        io::clear_timeout(self.id);
    }
}
