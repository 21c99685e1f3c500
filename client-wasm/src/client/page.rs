//! The client in its page: news from the other tabs, a refresh when the network comes back or
//! the page becomes visible with a token due, and listeners that unsubscribe when dropped.

use std::rc::Weak;

use wasm_bindgen::JsCast;
use wasm_bindgen::closure::Closure;
use wasm_bindgen_futures::spawn_local;
use web_sys::EventTarget;

use super::{AuthClient, AuthState, Inner};
use crate::tabs::Channel;

/// A listener on a page event (`online`, `visibilitychange`), removed when the client is dropped.
pub(super) type PageEvent = (EventTarget, &'static str, Closure<dyn FnMut()>);

impl Drop for Inner {
    fn drop(&mut self) {
        for (target, event, listener) in self.page_events.borrow().iter() {
            let _ = target
                .remove_event_listener_with_callback(event, listener.as_ref().unchecked_ref());
        }
    }
}

impl AuthClient {
    /// Joins the other tabs' channel: when one announces a change, the vault is read again.
    pub(super) fn connect_tabs(&self, name: &str) {
        let weak = std::rc::Rc::downgrade(&self.inner);
        let channel = Channel::join(&["keyward:", name].concat(), move || {
            if let Some(inner) = weak.upgrade() {
                let client = AuthClient { inner };
                spawn_local(async move {
                    // A vault that cannot be read says nothing: the session in memory stays.
                    let Ok(stored) = client.inner.vault.load().await else {
                        return;
                    };
                    let changed = stored != *client.inner.session.borrow();
                    if changed {
                        client.adopt_stored(stored).await;
                    }
                });
            }
        });
        *self.inner.channel.borrow_mut() = channel;
    }

    /// Refresh when the network comes back, and when the page becomes visible with a token due.
    pub(super) fn listen_to_page(&self) {
        let global: EventTarget = js_sys::global().unchecked_into();
        let mut events = Vec::new();
        let on_online = self.page_handler(|client| client.state() == AuthState::Offline);
        let _ =
            global.add_event_listener_with_callback("online", on_online.as_ref().unchecked_ref());
        events.push((global.clone(), "online", on_online));
        if let Some(document) = web_sys::window().and_then(|w| w.document()) {
            let on_visible = self.page_handler(|_| {
                web_sys::window()
                    .and_then(|w| w.document())
                    .is_some_and(|d| d.visibility_state() == web_sys::VisibilityState::Visible)
            });
            let target: EventTarget = document.into();
            let _ = target.add_event_listener_with_callback(
                "visibilitychange",
                on_visible.as_ref().unchecked_ref(),
            );
            events.push((target, "visibilitychange", on_visible));
        }
        *self.inner.page_events.borrow_mut() = events;
    }

    /// A listener that refreshes when `worth_it` says so and the token is due (or the client is
    /// offline, where the retry is the point).
    fn page_handler(
        &self,
        worth_it: impl Fn(&AuthClient) -> bool + 'static,
    ) -> Closure<dyn FnMut()> {
        let weak = std::rc::Rc::downgrade(&self.inner);
        Closure::<dyn FnMut()>::new(move || {
            let Some(inner) = weak.upgrade() else { return };
            let client = AuthClient { inner };
            if !worth_it(&client) {
                return;
            }
            let offline = client.state() == AuthState::Offline;
            match client.due() {
                Some(true) => client.refresh_behind(),
                Some(false) if offline => client.refresh_behind(),
                _ => {}
            }
        })
    }
}

/// Unsubscribes its listener when dropped.
#[must_use = "dropping the subscription unsubscribes at once"]
pub struct Subscription {
    client: Weak<Inner>,
    id: u64,
}

impl Subscription {
    pub(super) fn new(client: Weak<Inner>, id: u64) -> Self {
        Self { client, id }
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        if let Some(inner) = self.client.upgrade() {
            inner
                .listeners
                .borrow_mut()
                .retain(|(id, _)| *id != self.id);
        }
    }
}
