//! Starting the next job: claimed from the store when the printer is up, empty and its bed
//! clear, then handed to the driver with its file and print options.

use std::time::Instant;

use super::Actor;
use crate::config::{DriverConfig, PrinterConfig};
use crate::jobs::{BedState, Job, StoreError, Transition};
use crate::printer::driver::DriverCommand;
use crate::printer::status::Link;
use crate::printer::timing::Tracking;
use crate::printer::tracked::{current_of, progress_table};

impl Actor {
    /// Starts the next job when the printer is up, empty and its bed clear.
    pub(super) async fn start_next_job(&mut self) -> Result<(), StoreError> {
        let bed_ok = self.bed == BedState::Clear || self.config.auto_start;
        while self.current.is_none() && self.link == Link::Ready && bed_ok {
            let (printer, volume) = (self.config.id.clone(), self.config.build_volume);
            let projects = prints_projects(&self.config);
            let Some(job) = self
                .store
                .call(move |db| db.claim_next(&printer, &volume, projects))
                .await?
            else {
                break;
            };
            let table = progress_table(&self.store, &job).await?;
            let tracking = Tracking::started(table, &self.accuracy, Instant::now());
            self.current = Some(current_of(&job, &tracking));
            self.tracking = Some(tracking);
            if let Err(reason) = self.hand_to_driver(&job).await {
                tracing::warn!(printer = %self.config.id, job = %job.id, %reason, "job could not start");
                self.current = None;
                self.tracking = None;
                self.apply(job.id, Transition::Fail(reason)).await?;
            }
        }
        self.publish(false).await
    }

    async fn hand_to_driver(&self, job: &Job) -> Result<(), String> {
        let file_id = job.file.ok_or("the job has no file")?;
        let file = self
            .store
            .call(move |db| db.file(file_id))
            .await
            .map_err(|e| e.to_string())?
            .ok_or("the job's file is not in the store")?;
        if !file.path.is_file() {
            return Err(format!("the job's file {} is missing", file.path.display()));
        }
        self.tell_driver(DriverCommand::Start {
            job: job.id,
            file: file.path,
            options: job.options.clone().unwrap_or_default(),
        })
        .map_err(|e| e.to_string())
    }
}

/// Whether the printer's driver starts sliced Bambu projects (`.gcode.3mf`).
pub(super) fn prints_projects(config: &PrinterConfig) -> bool {
    matches!(config.driver, DriverConfig::Bambu { .. })
}
