//! The client in its page: news from the other tabs, a refresh when the network comes back or
//! the page becomes visible with a token due, and listeners that unsubscribe when dropped.

use std::rc::Weak;

use js_sys::Function;
use wasm_bindgen::JsCast;
use wasm_bindgen::closure::Closure;
use wasm_bindgen_futures::spawn_local;

use super::{AuthClient, AuthState, Inner};
use crate::tabs::Channel;

/// The listeners on page events (`online`, `visibilitychange`) and the function that removes
/// them, which runs when the client is dropped.
pub(super) type PageEvents = (Function, [Closure<dyn FnMut()>; 2]);

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some((stop, _)) = self.page_events.borrow().as_ref() {
            let _ = stop.call0(&wasm_bindgen::JsValue::UNDEFINED);
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
        let on_online = self.page_handler(|client| client.state() == AuthState::Offline);
        // `js/io.js` calls this one only when the page has become visible.
        let on_visible = self.page_handler(|_| true);
        let stop = crate::io::listen(
            on_online.as_ref().unchecked_ref(),
            on_visible.as_ref().unchecked_ref(),
        );
        *self.inner.page_events.borrow_mut() = Some((stop, [on_online, on_visible]));
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
