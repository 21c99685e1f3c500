//! Coordination between the tabs of one origin: one refresh at a time (Web Locks), and news of
//! a change for the others (BroadcastChannel).
//!
//! The Web Locks request is a few lines of `js/io.js` (web-sys only offers Web Locks behind
//! `--cfg=web_sys_unstable_apis`, which every app using this crate would then have to set).

use std::future::Future;

use js_sys::Promise;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::{BroadcastChannel, MessageEvent};

/// How long a tab waits for another tab's refresh before going ahead without the lock: a tab
/// frozen in the middle of a refresh must not block the others for ever. Short enough that the
/// token the frozen tab used is still inside the server's 10 s grace window, which gives this
/// tab the same successor.
const LOCK_WAIT_MS: u32 = 5_000;

/// Runs `work` while holding the exclusive lock `name` across this origin's tabs. Without Web
/// Locks, or when the lock is not granted within 5 s, runs it anyway.
pub async fn with_lock<F>(name: &str, work: F) -> Result<JsValue, JsValue>
where
    F: Future<Output = Result<JsValue, JsValue>> + 'static,
{
    let work = Closure::once_into_js(move || -> Promise { crate::promise(work) });
    JsFuture::from(crate::io::with_lock(name, LOCK_WAIT_MS, &work)?).await
}

/// A BroadcastChannel that tells this origin's other tabs the session changed (never what it
/// changed to: they re-read the encrypted vault). Closed on drop.
pub struct Channel {
    channel: BroadcastChannel,
    _listener: Closure<dyn FnMut(MessageEvent)>,
}

impl Channel {
    /// Joins the channel `name`; `on_change` runs when another tab announces a change.
    pub fn join(name: &str, on_change: impl Fn() + 'static) -> Option<Self> {
        let channel = BroadcastChannel::new(name).ok()?;
        let listener =
            Closure::<dyn FnMut(MessageEvent)>::new(move |_event: MessageEvent| on_change());
        channel.set_onmessage(Some(listener.as_ref().unchecked_ref()));
        Some(Self {
            channel,
            _listener: listener,
        })
    }

    /// Tells the other tabs the session changed.
    pub fn announce(&self) {
        let _ = self.channel.post_message(&"changed".into());
    }
}

impl Drop for Channel {
    fn drop(&mut self) {
        self.channel.set_onmessage(None);
        self.channel.close();
    }
}
