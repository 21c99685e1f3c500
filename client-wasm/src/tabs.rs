//! Coordination between the tabs of one origin: one refresh at a time (Web Locks), and news of
//! a change for the others (BroadcastChannel).
//!
//! web-sys only offers Web Locks behind `--cfg=web_sys_unstable_apis`, which every app using
//! this crate would then have to set; the two calls needed are bound here instead.

use std::future::Future;

use js_sys::{Function, Object, Promise, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::{BroadcastChannel, MessageEvent};

#[wasm_bindgen]
extern "C" {
    /// `navigator.locks`.
    type LockManager;

    #[wasm_bindgen(method, js_name = request)]
    fn request_with_options(
        this: &LockManager,
        name: &str,
        options: &JsValue,
        callback: &Function,
    ) -> Promise;
}

fn lock_manager() -> Option<LockManager> {
    let navigator = Reflect::get(&js_sys::global(), &"navigator".into()).ok()?;
    let locks = Reflect::get(&navigator, &"locks".into()).ok()?;
    (!locks.is_undefined() && !locks.is_null()).then(|| locks.unchecked_into())
}

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
    let Some(locks) = lock_manager() else {
        return work.await;
    };
    // The work is shared between the lock's callback and the fallback path: whichever runs it
    // first takes it.
    let work = std::rc::Rc::new(std::cell::RefCell::new(Some(work)));
    let in_lock = {
        let work = std::rc::Rc::clone(&work);
        Closure::once_into_js(move |_lock: JsValue| -> Promise {
            match work.borrow_mut().take() {
                Some(work) => crate::promise(work),
                None => Promise::resolve(&JsValue::UNDEFINED),
            }
        })
    };
    let options = Object::new();
    if let Some(signal) = timeout_signal(LOCK_WAIT_MS) {
        let _ = Reflect::set(&options, &"signal".into(), &signal);
    }
    let granted =
        JsFuture::from(locks.request_with_options(name, &options, in_lock.unchecked_ref())).await;
    let pending = work.borrow_mut().take();
    match pending {
        // The lock was never granted (timed out): do the work without it.
        Some(work) => work.await,
        None => granted,
    }
}

fn timeout_signal(ms: u32) -> Option<JsValue> {
    let abort_signal = Reflect::get(&js_sys::global(), &"AbortSignal".into()).ok()?;
    let timeout = Reflect::get(&abort_signal, &"timeout".into())
        .ok()?
        .dyn_into::<Function>()
        .ok()?;
    timeout.call1(&abort_signal, &ms.into()).ok()
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
