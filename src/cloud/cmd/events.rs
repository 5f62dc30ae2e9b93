//! `events.replay` and `events.ack`: the cloud steering the event outbox (`publisher`):
//! send the events from `seq` again, or drop the ones it has. The outbox is read and trimmed
//! by the executor (`Executor::replay`, `Executor::ack_events`).

use serde_json::json;

use super::Outcome;
use crate::cloud::args::{AckArgs, ReplayArgs};
use crate::cloud::commands::Executor;

/// Answers which events the outbox still holds (`from`, `last`).
pub(super) async fn replay(a: ReplayArgs, executor: &Executor) -> Outcome {
    executor.replay(a).await
}

/// The cloud has every event up to and including `a.seq`: they leave the outbox.
pub(super) async fn ack(a: AckArgs, executor: &Executor) -> Outcome {
    let removed = executor.ack_events(a.seq).await?;
    Ok(json!({ "acked": a.seq, "removed": removed }))
}
