//! `estimate`: how long a file would print and what it would cost, on the printer the
//! envelope names or on every printer. The file is fetched (checked like a job's), estimated
//! and removed again: an estimate stores nothing.

use serde_json::json;

use super::Outcome;
use crate::cloud::args::{self, EstimateArgs};
use crate::cloud::commands::Executor;
use crate::cloud::fetch::FileSpec;
use crate::cloud::payload::{Envelope, Refusal};
use crate::gcode::estimate::Quality;
use crate::wire::EstimateJson;

/// The file to estimate, for which printers, material and quality.
#[derive(Debug)]
pub struct Estimate {
    pub(super) printer: Option<String>,
    pub(super) file: FileSpec,
    pub(super) plate: Option<u32>,
    pub(super) material: String,
    pub(super) quality: Quality,
}

impl Estimate {
    /// Reads the args; PLA and standard quality unless they say otherwise.
    pub(super) fn read(envelope: &Envelope) -> Result<Estimate, Refusal> {
        let a: EstimateArgs = args::decode(&envelope.args)?;
        let file = a.file.spec()?;
        let quality = match a.quality.as_deref() {
            Some(q) => Quality::parse(q).map_err(|e| Refusal::Field(e.to_string()))?,
            None => Quality::Standard,
        };
        Ok(Estimate {
            printer: envelope.printer.clone(),
            file,
            plate: a.plate,
            material: a.material.unwrap_or_else(|| "PLA".to_owned()),
            quality,
        })
    }

    pub(super) async fn run(self, executor: &Executor) -> Outcome {
        let volumes = executor.gateway.build_volumes(self.printer.as_deref())?;
        let estimate = executor
            .submissions
            .estimate(
                &self.file,
                self.plate,
                self.material,
                self.quality,
                &volumes,
            )
            .await?;
        Ok(json!(EstimateJson::new(estimate, &volumes)))
    }
}
