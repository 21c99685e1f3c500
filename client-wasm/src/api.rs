//! Calls to the Keyward server: JSON in and out through the browser's own `fetch` and `JSON`
//! (no JSON library in the wasm: it would cost more bytes than the whole client logic), each with
//! a timeout, and errors sorted into "the server said no" and "the network failed".

use js_sys::{Array, Function, Promise, Reflect};
use keyward_proto::ErrorCode;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{AbortController, Headers, Request, RequestInit, Response};

use crate::Error;
use crate::wire::get;

/// How long a call to the auth server may take before it counts as a network failure. (Calls
/// to the app's own API through `fetch` have no timeout of ours: the caller's signal decides.)
pub const TIMEOUT_MS: i32 = 15_000;

/// How long a refresh may take: a refresh that timed out is retried 2 s later, and that retry
/// should reach the server within its 10 s grace window.
pub const REFRESH_TIMEOUT_MS: i32 = 6_000;

/// A request to `url` with `body` (JSON text) as its body, aborted by `signal` (the caller's).
pub fn json_request(
    method: &str,
    url: &str,
    body: Option<&JsValue>,
    signal: Option<&web_sys::AbortSignal>,
) -> Result<Request, Error> {
    let headers = Headers::new().map_err(|e| Error::browser("fetch", &e))?;
    let init = RequestInit::new();
    init.set_method(method);
    if let Some(json) = body {
        let _ = headers.set("content-type", "application/json");
        init.set_body(json);
    }
    init.set_headers(&headers);
    init.set_signal(signal);
    Request::new_with_str_and_init(url, &init).map_err(|e| Error::browser("fetch", &e))
}

/// `fetch(request)`. With `timeout_ms`, also given up after that long (a network error); the
/// request's own signal (the caller's) is honoured either way, and its abort is
/// [`Error::Aborted`], not a network failure.
pub async fn send(request: &Request, timeout_ms: Option<i32>) -> Result<Response, Error> {
    let mut timer = None;
    let sent = match timeout_ms {
        None => request.clone().map_err(|e| Error::browser("fetch", &e))?,
        Some(ms) => {
            let controller = AbortController::new().map_err(|e| Error::browser("fetch", &e))?;
            timer = Timer::start(ms, {
                let controller = controller.clone();
                move || controller.abort()
            });
            let init = RequestInit::new();
            init.set_signal(Some(&either(&controller.signal(), &request.signal())));
            Request::new_with_request_and_init(request, &init)
                .map_err(|e| Error::browser("fetch", &e))?
        }
    };
    let fetched = JsFuture::from(fetch(&sent)).await;
    drop(timer);
    match fetched {
        Ok(response) => response
            .dyn_into::<Response>()
            .map_err(|_| Error::Network("fetch did not answer with a Response".into())),
        Err(_) if request.signal().aborted() => Err(Error::Aborted),
        Err(e) => Err(Error::Network(describe(&e))),
    }
}

/// A signal that aborts when either does (`AbortSignal.any`, where the browser has it; the
/// timeout's alone otherwise).
fn either(timeout: &web_sys::AbortSignal, caller: &web_sys::AbortSignal) -> web_sys::AbortSignal {
    let any = Reflect::get(&js_sys::global(), &"AbortSignal".into())
        .ok()
        .and_then(|class| Some((get(&class, "any").dyn_into::<Function>().ok()?, class)));
    any.and_then(|(any, class)| {
        any.call1(&class, &Array::of2(timeout, caller))
            .ok()?
            .dyn_into()
            .ok()
    })
    .unwrap_or_else(|| timeout.clone())
}

/// Reads an enveloped answer: `data` on success (`null` for a 204), the error envelope
/// otherwise.
pub async fn read_data(response: Response) -> Result<JsValue, Error> {
    let status = response.status();
    let text = match response.text() {
        Ok(promise) => JsFuture::from(promise)
            .await
            .map_err(|e| Error::Network(describe(&e)))?
            .as_string()
            .unwrap_or_default(),
        Err(e) => return Err(Error::Network(describe(&e))),
    };
    let json = if text.is_empty() {
        JsValue::NULL
    } else {
        js_sys::JSON::parse(&text).unwrap_or(JsValue::UNDEFINED)
    };
    if response.ok() {
        return Ok(if json.is_null() {
            JsValue::NULL
        } else {
            get(&json, "data")
        });
    }
    let error = get(&json, "error");
    Err(
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
        },
    )
}

fn fetch(request: &Request) -> Promise {
    let global = js_sys::global();
    let fetch = Reflect::get(&global, &"fetch".into())
        .ok()
        .and_then(|f| f.dyn_into::<Function>().ok());
    match fetch {
        Some(fetch) => fetch
            .call1(&global, request)
            .ok()
            .and_then(|p| p.dyn_into::<Promise>().ok())
            .unwrap_or_else(|| Promise::reject(&"fetch failed".into())),
        None => Promise::reject(&"fetch is not available".into()),
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
    _callback: wasm_bindgen::closure::Closure<dyn FnMut()>,
}

impl Timer {
    /// Calls `f` after `ms` milliseconds, unless the timer is dropped first.
    pub fn start(ms: i32, f: impl FnMut() + 'static) -> Option<Self> {
        let callback = wasm_bindgen::closure::Closure::<dyn FnMut()>::new(f);
        let set_timeout = Reflect::get(&js_sys::global(), &"setTimeout".into())
            .ok()?
            .dyn_into::<Function>()
            .ok()?;
        let id = set_timeout
            .call2(&JsValue::UNDEFINED, callback.as_ref(), &ms.into())
            .ok()?
            .as_f64()?;
        Some(Self {
            id,
            _callback: callback,
        })
    }
}

impl Drop for Timer {
    fn drop(&mut self) {
        if let Some(clear) = Reflect::get(&js_sys::global(), &"clearTimeout".into())
            .ok()
            .and_then(|f| f.dyn_into::<Function>().ok())
        {
            let _ = clear.call1(&JsValue::UNDEFINED, &self.id.into());
        }
    }
}
