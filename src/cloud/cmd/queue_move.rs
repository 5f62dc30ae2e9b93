//! `queue.move`: a queued job to another place in the queue; answers the new order.

use serde_json::json;

use super::Outcome;
use crate::cloud::args::MoveArgs;
use crate::cloud::commands::Executor;

pub(super) async fn run(a: MoveArgs, executor: &Executor) -> Outcome {
    let id = executor.resolve(a.job_id).await?;
    let order = executor.gateway.move_job(id, a.index).await?;
    Ok(json!({ "order": order.iter().map(|j| j.0).collect::<Vec<_>>() }))
}
