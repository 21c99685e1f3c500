//! Calls to the Keyward server: JSON in and out through the browser's own `fetch` and `JSON`
//! (no JSON library in the wasm: it would cost more bytes than the whole client logic), each with
//! a timeout, and errors sorted into "the server said no" and "the network failed".

use js_sys::{Promise, Reflect};
use keyward_proto::{ErrorBody, ErrorCode};
use serde::Serialize;
use serde::de::DeserializeOwned;

use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{AbortController, Headers, Request, RequestInit, Response};

use crate::Error;

/// How long a call may take before it counts as a network failure.
pub const TIMEOUT_MS: i32 = 15_000;

/// How long a refresh may take: a refresh that timed out is retried 2 s later, and that retry
/// should reach the server within its 10 s grace window.
pub const REFRESH_TIMEOUT_MS: i32 = 6_000;

/// An HTTP method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// GET
    Get,
    /// POST
    Post,
    /// PATCH
    Patch,
    /// DELETE
    Delete,
}

impl Method {
    fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Post => "POST",
            Self::Patch => "PATCH",
            Self::Delete => "DELETE",
        }
    }
}

/// JSON text of `value`, through the browser's `JSON.stringify`.
pub fn json_text(value: &impl Serialize) -> Result<JsValue, Error> {
    serde_wasm_bindgen::to_value(value)
        .ok()
        .and_then(|value| js_sys::JSON::stringify(&value).ok())
        .map(JsValue::from)
        .ok_or(Error::Corrupt { what: "request" })
}

/// A request to `url` with `body` (JSON text) as its body.
pub fn json_request(method: Method, url: &str, body: Option<&JsValue>) -> Result<Request, Error> {
    let headers = Headers::new().map_err(|e| Error::browser("fetch", &e))?;
    let init = RequestInit::new();
    init.set_method(method.as_str());
    if let Some(json) = body {
        let _ = headers.set("content-type", "application/json");
        init.set_body(json);
    }
    init.set_headers(&headers);
    Request::new_with_str_and_init(url, &init).map_err(|e| Error::browser("fetch", &e))
}

/// `fetch(request)`, given up after `timeout_ms`; any rejection is a network error.
pub async fn send(request: &Request, timeout_ms: i32) -> Result<Response, Error> {
    let controller = AbortController::new().map_err(|e| Error::browser("fetch", &e))?;
    let timer = Timer::start(timeout_ms, {
        let controller = controller.clone();
        move || controller.abort()
    });
    let request = Request::new_with_request_and_init(request, &{
        let init = RequestInit::new();
        init.set_signal(Some(&controller.signal()));
        init
    })
    .map_err(|e| Error::browser("fetch", &e))?;
    let fetched = JsFuture::from(fetch(&request)).await;
    drop(timer);
    fetched
        .map_err(|e| Error::Network(describe(&e)))?
        .dyn_into::<Response>()
        .map_err(|_| Error::Network("fetch did not answer with a Response".into()))
}

/// Reads an enveloped answer: `data` on success, the error envelope otherwise.
pub async fn read<T: DeserializeOwned>(response: Response) -> Result<T, Error> {
    let data = read_data(response).await?;
    serde_wasm_bindgen::from_value(data).map_err(|_| Error::Corrupt {
        what: "server answer",
    })
}

/// Like [`read`], leaving `data` as the JS value it is (`null` for a 204).
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
            Reflect::get(&json, &"data".into()).unwrap_or(JsValue::UNDEFINED)
        });
    }
    let body: Option<ErrorBody> = Reflect::get(&json, &"error".into())
        .ok()
        .and_then(|error| serde_wasm_bindgen::from_value(error).ok());
    Err(match body {
        Some(body) => Error::Server {
            code: body.code,
            message: body.message,
            status,
        },
        // No envelope: a proxy or load balancer answered. 5xx and friends are transient.
        None => Error::Server {
            code: if status >= 500 {
                ErrorCode::Unavailable
            } else {
                ErrorCode::Unknown
            },
            message: format!("the server answered {status}"),
            status,
        },
    })
}

fn fetch(request: &Request) -> Promise {
    let global = js_sys::global();
    let fetch = Reflect::get(&global, &"fetch".into())
        .ok()
        .and_then(|f| f.dyn_into::<js_sys::Function>().ok());
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
    id: i32,
    _callback: wasm_bindgen::closure::Closure<dyn FnMut()>,
}

impl Timer {
    /// Calls `f` after `ms` milliseconds, unless the timer is dropped first.
    pub fn start(ms: i32, f: impl FnMut() + 'static) -> Option<Self> {
        let callback = wasm_bindgen::closure::Closure::<dyn FnMut()>::new(f);
        let set_timeout = Reflect::get(&js_sys::global(), &"setTimeout".into())
            .ok()?
            .dyn_into::<js_sys::Function>()
            .ok()?;
        let id = set_timeout
            .call2(&JsValue::UNDEFINED, callback.as_ref(), &ms.into())
            .ok()?
            .as_f64()? as i32;
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
            .and_then(|f| f.dyn_into::<js_sys::Function>().ok())
        {
            let _ = clear.call1(&JsValue::UNDEFINED, &self.id.into());
        }
    }
}
