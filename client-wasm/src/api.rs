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
    if has_dot_segment(path) {
        return Err(Error::InvalidArgument {
            what: "an id that is . or ..",
        });
    }
    Ok([base, path].concat())
}

/// Whether `path`, before its query, has a segment the URL standard resolves away: `.` or
/// `..`, either dot also as `%2e` in any case, once the tabs and newlines a URL parser drops
/// are dropped; a backslash separates segments in an http URL as `/` does. (Byte by byte: with
/// `str::split` and its patterns, the npm package's files measured 0.4 KB larger, gzipped.)
fn has_dot_segment(path: &str) -> bool {
    let mut bytes = path
        .bytes()
        .filter(|byte| !matches!(byte, b'\t' | b'\n' | b'\r'));
    // The current segment's dots, or 3 once it has anything else.
    let mut dots = 0u8;
    loop {
        let byte = bytes.next();
        match byte {
            Some(b'.') => dots = (dots + 1).min(3),
            Some(b'%') => {
                dots = match (bytes.next(), bytes.next()) {
                    (Some(b'2'), Some(b'e' | b'E')) => (dots + 1).min(3),
                    _ => 3,
                }
            }
            None | Some(b'/' | b'\\' | b'?' | b'#') => {
                if dots == 1 || dots == 2 {
                    return true;
                }
                if !matches!(byte, Some(b'/' | b'\\')) {
                    return false;
                }
                dots = 0;
            }
            Some(_) => dots = 3,
        }
    }
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

#[cfg(all(test, target_arch = "wasm32"))]
mod tests {
    use wasm_bindgen_test::wasm_bindgen_test;

    use super::*;

    wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

    #[wasm_bindgen_test]
    fn only_paths_the_browser_keeps_as_written_are_sent() {
        let base = "https://auth.example/auth";
        for path in [
            "/orgs/o1/members/u1",
            "/orgs/o1.x/members/..u",
            "/a/.../b",
            "/a/%2e%2f",
            "/a?b=..",
            "/a#..",
            "/",
        ] {
            assert_eq!(server_url(base, path), Ok([base, path].concat()), "{path}");
        }
        // Each of these resolves to another resource than the one named (the WHATWG URL
        // parser drops tabs and newlines, reads `%2e` as a dot and `\` as `/` in http URLs).
        for path in [
            "/orgs/o1/members/..",
            "/orgs/o1/members/.",
            "/orgs/o1/members/%2e%2E",
            "/orgs/o1/members/.%2e/x",
            "/orgs/o1/members\\..",
            "/orgs/o1/members/.\t.",
            "/orgs/o1/members/..?x=1",
        ] {
            let refused = server_url(base, path).unwrap_err();
            assert_eq!(refused.code(), "invalid_request", "{path}");
            // Checked against what the browser makes of it.
            let url = web_sys::Url::new(&[base, path].concat()).unwrap();
            assert!(
                !url.pathname().ends_with(path.split('?').next().unwrap()),
                "{path}"
            );
        }
    }
}
