//! `printer.bed-cleared`: the operator says the bed of the printer the envelope names is
//! clear, so the printer may start its next job.

use serde_json::json;

use super::{Outcome, decode};
use crate::cloud::args::NoArgs;
use crate::cloud::commands::Executor;
use crate::cloud::payload::{Envelope, Refusal};
use crate::domain::PrinterId;
use crate::wire::PrinterJson;

/// No args; the printer comes from the envelope and must be there.
pub(super) fn read(envelope: &Envelope) -> Result<PrinterId, Refusal> {
    let _: NoArgs = decode(envelope)?;
    let printer = envelope
        .printer
        .clone()
        .ok_or_else(|| Refusal::Field("\"printer\" names the printer whose bed is clear".into()))?;
    Ok(PrinterId(printer))
}

pub(super) async fn run(printer: &PrinterId, executor: &Executor) -> Outcome {
    Ok(json!(PrinterJson::from(
        &executor.gateway.bed_cleared(printer).await?
    )))
}
