//! `job.recover`: print an interrupted serial job again from its journal (or from
//! `from_layer`, with an optional `z_offset_mm`), the same `Gateway::recover` the LAN's
//! `POST /api/jobs/{id}/recover` makes; answered with the job and what the printer does.

use serde_json::json;

use super::Outcome;
use crate::cloud::args::RecoverArgs;
use crate::cloud::commands::Executor;
use crate::printer::RecoverOptions;
use crate::wire::{JobJson, RecoveryJson};

pub(super) async fn run(a: RecoverArgs, executor: &Executor) -> Outcome {
    let job = executor.resolve(a.job_id).await?;
    let options = RecoverOptions {
        z_offset_mm: a.z_offset_mm.unwrap_or(0.0),
        from_layer: a.from_layer,
    };
    let (job, plan) = executor.gateway.recover(job, options).await?;
    Ok(json!({
        "job": JobJson::from(&job),
        "recovery": RecoveryJson::from(&plan),
    }))
}
