//! What the store keeps from a file's analysis (`file_analysis`: estimates, progress table,
//! thumbnail) and, per job, the remaining time while printing and the actual print time once
//! completed, from which each printer's estimate [`Accuracy`] is computed.
//!
//! The progress table is stored as compact JSON, `{"bytes":N,"time":T,"samples":[[o,t],…]}`
//! (about 100 samples, times to 0.1 s): a few kilobytes per file.

use super::sql::CachedSql;
use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};

use super::accuracy::{Accuracy, WINDOW};
use super::db::{Db, Writer};
use super::{FileId, StoreError};
use crate::domain::{JobId, PrinterId};
use crate::gcode::{FileIntel, ProgressTable};

/// A file's thumbnail, ready to serve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Thumbnail {
    pub bytes: Vec<u8>,
    pub mime: String,
}

/// How long a completed job printed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ActualTime {
    /// Timed by the printer's actor from start to end, paused time excluded.
    Printing(f64),
    /// Not timed throughout (the gateway restarted during the print): `completed_at -
    /// started_at`, pauses included.
    Wall,
}

#[derive(Serialize, Deserialize)]
struct StoredTable {
    bytes: u64,
    time: f64,
    samples: Vec<(u64, f64)>,
}

fn encode_table(table: &ProgressTable) -> String {
    let tenths = |t: f64| (t * 10.0).round() / 10.0;
    let stored = StoredTable {
        bytes: table.samples().last().map_or(0, |&(offset, _)| offset),
        time: tenths(table.total_time_s()),
        samples: table
            .samples()
            .iter()
            .map(|&(offset, t)| (offset, tenths(t)))
            .collect(),
    };
    serde_json::to_string(&stored).expect("a progress table always serialises")
}

fn decode_table(text: &str) -> Result<ProgressTable, StoreError> {
    let stored: StoredTable = serde_json::from_str(text)
        .map_err(|e| StoreError::Decode(format!("progress table: {e}")))?;
    Ok(ProgressTable::new(
        stored.samples,
        stored.bytes,
        stored.time,
    ))
}

impl Writer<'_> {
    /// Keeps (or replaces) what the analysis of `file` found.
    pub fn save_file_intel(&mut self, file: FileId, intel: &FileIntel) -> Result<(), StoreError> {
        let thumbnail = intel.thumbnail.as_ref();
        self.tx.exec(
            "INSERT OR REPLACE INTO file_analysis (file_id, estimated_time, slicer_estimated_time, \
             filament_mm, layers, progress, thumbnail, thumbnail_mime, analysed_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            params![
                file.0,
                intel.estimated_time_s as i64,
                intel.slicer_estimate_s.map(|t| t as i64),
                intel.filament_mm,
                intel.layers,
                encode_table(&intel.progress),
                thumbnail.map(|t| t.bytes.as_slice()),
                thumbnail.map(|t| t.format.mime()),
                self.now_text(),
            ],
        )?;
        Ok(())
    }

    /// Gives `job` the analysis's estimates (time, cost, model size).
    pub fn set_job_estimate(&mut self, job: JobId, intel: &FileIntel) -> Result<(), StoreError> {
        self.tx.exec(
            "UPDATE print_jobs SET estimated_time = ?2, estimated_cost = ?3, model_size = ?4 \
             WHERE id = ?1",
            params![
                job.0,
                intel.estimated_time_s as i64,
                intel.estimated_cost,
                intel
                    .model_size_mm
                    .map(|s| serde_json::json!(s).to_string()),
            ],
        )?;
        Ok(())
    }

    /// The seconds left on a printing job (stored before its next status event).
    pub fn set_remaining(&mut self, job: JobId, seconds: Option<u64>) -> Result<(), StoreError> {
        self.tx.exec(
            "UPDATE print_jobs SET remaining_time = ?2 WHERE id = ?1",
            params![job.0, seconds.map(|s| s as i64)],
        )?;
        Ok(())
    }

    /// Records how long a completed job printed (call after its `Complete` transition).
    pub fn record_actual_time(&mut self, id: JobId, actual: ActualTime) -> Result<(), StoreError> {
        let job = self.job(id)?;
        let (seconds, source) = match (actual, job.started_at, job.completed_at) {
            (ActualTime::Printing(s), _, _) => (Some(s), "printing"),
            (ActualTime::Wall, Some(start), Some(end)) => {
                (Some((end - start).as_seconds_f64()), "wall")
            }
            (ActualTime::Wall, _, _) => (None, "wall"),
        };
        self.tx.exec(
            "UPDATE print_jobs SET actual_print_time = ?2, actual_time_source = ?3, \
             remaining_time = NULL WHERE id = ?1",
            params![id.0, seconds, source],
        )?;
        Ok(())
    }
}

impl Db {
    /// The progress table of `file`'s analysis, if it was analysed.
    pub fn progress_table(&self, file: FileId) -> Result<Option<ProgressTable>, StoreError> {
        let text: Option<String> = self
            .conn()
            .row(
                "SELECT progress FROM file_analysis WHERE file_id = ?1",
                [file.0],
                |r| r.get(0),
            )
            .optional()?;
        text.as_deref().map(decode_table).transpose()
    }

    /// The thumbnail kept for `file`, if any.
    pub fn thumbnail(&self, file: FileId) -> Result<Option<Thumbnail>, StoreError> {
        let found: Option<(Option<Vec<u8>>, Option<String>)> = self
            .conn()
            .row(
                "SELECT thumbnail, thumbnail_mime FROM file_analysis WHERE file_id = ?1",
                [file.0],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        Ok(match found {
            Some((Some(bytes), Some(mime))) => Some(Thumbnail { bytes, mime }),
            _ => None,
        })
    }

    /// How well estimates matched `printer`'s last completed jobs.
    pub fn accuracy(&self, printer: &PrinterId) -> Result<Accuracy, StoreError> {
        let mut stmt = self.conn().prepare_cached(
            "SELECT estimated_time, actual_print_time FROM print_jobs \
             WHERE printer_id = ?1 AND status = 'completed' AND estimated_time > 0 \
             AND actual_print_time > 0 ORDER BY completed_at DESC, id DESC LIMIT ?2",
        )?;
        let pairs = stmt
            .query_map(params![printer.as_str(), WINDOW as i64], |r| {
                Ok((r.get::<_, i64>(0)? as f64, r.get::<_, f64>(1)?))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Accuracy::from_pairs(pairs))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jobs::test_support::{db, intel};
    use crate::jobs::{NewJob, Transition};

    #[test]
    fn a_saved_analysis_gives_back_its_progress_table_and_thumbnail() {
        let mut db = db();
        let intel = intel();
        let path = std::path::Path::new("/tmp/t.gcode");
        let file = db
            .write(|w| {
                let file = w.add_file("t.gcode", path, "00", 10)?;
                w.save_file_intel(file.id, &intel)?;
                Ok(file.id)
            })
            .unwrap();
        let table = db.progress_table(file).unwrap().expect("a table");
        let half = intel.progress.samples().last().unwrap().0 / 2;
        let (then, now) = (intel.progress.estimated_at(half), table.estimated_at(half));
        assert!((then - now).abs() < 0.1, "{then} vs {now}");
        let thumbnail = db.thumbnail(file).unwrap().expect("a thumbnail");
        assert_eq!(thumbnail.mime, "image/png");
        assert_eq!(thumbnail.bytes, intel.thumbnail.unwrap().bytes);
        assert_eq!(db.thumbnail(FileId(file.0 + 1)).unwrap(), None);
    }

    #[test]
    fn completed_jobs_with_a_measured_time_count_towards_their_printers_accuracy() {
        let mut db = db();
        let printer = PrinterId("p".into());
        for actual in [110.0, 120.0, 130.0] {
            let job = db
                .submit(NewJob {
                    file_name: "a.gcode".into(),
                    printer: Some(printer.clone()),
                    estimated_time_s: Some(100),
                    ..NewJob::default()
                })
                .unwrap();
            db.write(|w| {
                w.transition(job.id, Transition::Start)?;
                w.transition(job.id, Transition::Complete)?;
                w.record_actual_time(job.id, ActualTime::Printing(actual))
            })
            .unwrap();
        }
        let accuracy = db.accuracy(&printer).unwrap();
        assert_eq!(accuracy.jobs, 3);
        assert!((accuracy.factor - 1.2).abs() < 1e-9);
        assert_eq!(db.accuracy(&PrinterId("q".into())).unwrap().jobs, 0);
    }
}
