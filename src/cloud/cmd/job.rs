//! `job.cancel`, `job.pause`, `job.resume`: one job, named by the cloud's id or the gateway's
//! number (`args::JobKey`), changed by the same `Gateway` calls the LAN's buttons make.

use serde_json::json;

use super::Outcome;
use crate::cloud::args::JobArgs;
use crate::cloud::commands::Executor;
use crate::wire::JobJson;

pub(super) async fn cancel(a: JobArgs, executor: &Executor) -> Outcome {
    let job = executor.resolve(a.job_id).await?;
    Ok(json!(JobJson::from(&executor.gateway.cancel(job).await?)))
}

pub(super) async fn pause(a: JobArgs, executor: &Executor) -> Outcome {
    let job = executor.resolve(a.job_id).await?;
    Ok(json!(JobJson::from(&executor.gateway.pause(job).await?)))
}

pub(super) async fn resume(a: JobArgs, executor: &Executor) -> Outcome {
    let job = executor.resolve(a.job_id).await?;
    Ok(json!(JobJson::from(&executor.gateway.resume(job).await?)))
}
