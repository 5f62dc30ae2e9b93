//! Recovering an interrupted job on this printer: the bed-clear interlock (the bed must still
//! hold that job's part), the store's `interrupted` → `printing` with `job:recovered`, then
//! the plan handed to the driver.

use std::time::Instant;

use super::Actor;
use crate::events::ResumedFrom;
use crate::jobs::BedState;
use crate::printer::driver::{DriverCommand, Outcome};
use crate::printer::handle::PrinterError;
use crate::printer::recovery::{RecoverError, Recovery};
use crate::printer::status::Link;
use crate::printer::timing::Tracking;
use crate::printer::tracked::{current_of, progress_table};

impl Actor {
    /// Prints an interrupted job again: only on a connected, empty printer whose bed still
    /// holds that job's part (the bed-clear interlock: a cleared bed has nothing to resume).
    pub(super) async fn recover(&mut self, recovery: Recovery) -> Result<(), PrinterError> {
        let printer = self.config.id.clone();
        if self.current.is_some() || matches!(self.link, Link::External(_)) {
            return Err(PrinterError::Printing(printer));
        }
        if self.link != Link::Ready {
            return Err(PrinterError::NotConnected(printer));
        }
        match self.bed {
            BedState::Clear => return Err(RecoverError::BedCleared(printer).into()),
            BedState::NeedsClearing {
                last_job: Some(holds),
            } if holds != recovery.job => {
                return Err(RecoverError::BedHoldsAnother { printer, holds }.into());
            }
            BedState::NeedsClearing { .. } => {}
        }
        let (job, layer) = (recovery.job, recovery.layer);
        let from = ResumedFrom {
            layer: layer.number,
            z_mm: layer.z + recovery.z_offset_mm,
            line: layer.line,
        };
        self.bed = BedState::NeedsClearing {
            last_job: Some(job),
        };
        let bed = self.bed;
        let stored = self
            .store
            .call(move |db| {
                db.write(|w| {
                    w.set_bed(&printer, bed)?;
                    w.recovered(job, from)
                })
            })
            .await?;
        let table = progress_table(&self.store, &stored).await?;
        let tracking = Tracking::started(table, &self.accuracy, Instant::now());
        self.current = Some(current_of(&stored, &tracking));
        self.tracking = Some(tracking);
        tracing::warn!(printer = %self.config.id, %job, layer = layer.number, z_mm = from.z_mm,
            line = layer.line, "recovering an interrupted job");
        let command = DriverCommand::Recover {
            job,
            file: recovery.file,
            layer: Box::new(layer),
            prologue: recovery.prologue,
        };
        if let Err(e) = self.tell_driver(command) {
            self.end_current(Outcome::Interrupted(e.to_string()))
                .await?;
            return Err(e);
        }
        self.publish(false).await?;
        Ok(())
    }
}
