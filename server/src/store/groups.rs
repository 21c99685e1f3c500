//! Writes that arrive together, committed together.
//!
//! Under load, a database spends its time on commits rather than rows: PostgreSQL waits for a
//! WAL flush per commit, and SQLite writes every page a transaction touched to the WAL, whole.
//! Some writes are frequent, small and independent (a refresh-token rotation, a DPoP proof id);
//! those go through a queue whose task writes whatever is queued as one group, in one statement
//! and one commit. Nothing waits for a group to fill: a group is what queued while the previous
//! one was being written (and, after one pass of the scheduler, what arrived meanwhile), so a lone
//! write commits at once.

use std::future::Future;
use std::sync::Arc;

use sqlx::AssertSqlSafe;
use tokio::sync::{mpsc, oneshot};

use super::Error;

/// At most this many writes share a commit.
pub(super) const MAX_GROUP: usize = 64;

/// One write waiting for its group, and where its outcome goes.
pub(super) type Pending<T, R> = (T, oneshot::Sender<Result<R, Error>>);

/// The way into a group writer.
pub(super) type Queue<T, R> = mpsc::UnboundedSender<Pending<T, R>>;

/// Starts a task that writes queued items with `write`, one group at a time, and answers each
/// item with its outcome (`write` returns one per item, in order). The task ends when every
/// sender of the returned queue is gone.
pub(super) fn start<T, R, F, Fut>(write: F) -> Queue<T, R>
where
    T: Send + 'static,
    R: Send + 'static,
    F: Fn(Vec<T>) -> Fut + Send + 'static,
    Fut: Future<Output = Vec<Result<R, Error>>> + Send,
{
    let (sender, mut queue) = mpsc::unbounded_channel::<Pending<T, R>>();
    tokio::spawn(async move {
        let mut group = Vec::with_capacity(MAX_GROUP);
        while queue.recv_many(&mut group, MAX_GROUP).await > 0 {
            // One pass of the scheduler before the group closes: writes whose requests are
            // already running on the other worker (a DPoP proof being verified) join this group
            // instead of waiting for the next one. Measured on PostgreSQL with DPoP: groups of
            // ~12 instead of ~6.5, 7 % more requests/s; a lone write waits a few µs more.
            tokio::task::yield_now().await;
            while group.len() < MAX_GROUP {
                let Ok(item) = queue.try_recv() else { break };
                group.push(item);
            }
            let (items, answers): (Vec<T>, Vec<_>) = group.drain(..).unzip();
            let outcomes = write(items).await;
            for (answer, outcome) in answers.into_iter().zip(outcomes) {
                // The request may have gone (cancelled); what it asked for is written anyway.
                let _ = answer.send(outcome);
            }
        }
    });
    sender
}

/// Queues `item` on `queue` and waits for its outcome.
pub(super) async fn submit<T, R>(queue: &Queue<T, R>, item: T) -> Result<R, Error> {
    let (answer, outcome) = oneshot::channel();
    let stopped = || Error::internal("a database writer has stopped");
    queue.send((item, answer)).map_err(|_| stopped())?;
    outcome.await.map_err(|_| stopped())?
}

/// The statement for each group size, 1 to [`MAX_GROUP`] items: only the number of
/// placeholders differs (`text(n)`), and each text is prepared once per connection.
pub(super) fn texts(text: impl Fn(usize) -> String) -> Vec<Arc<str>> {
    (1..=MAX_GROUP).map(|n| text(n).into()).collect()
}

/// `$from`, `$from + 1`, … `n` placeholders, comma-separated.
pub(super) fn placeholders(n: usize, from: usize) -> String {
    (from..from + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The text for `n` items in `texts`.
pub(super) fn text_for(
    texts: &[Arc<str>],
    n: usize,
) -> Result<AssertSqlSafe<Arc<str>>, sqlx::Error> {
    let text = n.checked_sub(1).and_then(|i| texts.get(i));
    let text = text.ok_or_else(|| sqlx::Error::Protocol(format!("a group of {n} items")))?;
    Ok(AssertSqlSafe(Arc::clone(text)))
}
