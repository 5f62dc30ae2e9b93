//! The resume journal: one row per serial job with what a resume after a crash or power cut
//! needs (`domain::ResumePoint`). The printer actor rewrites it when its driver reports a new
//! point (at each layer change and every few seconds, never per line), each write one small
//! savepoint in the store's group commit; a recovery reads it back.

use rusqlite::{OptionalExtension, Row, params};

use super::db::{Db, Writer};
use super::sql::CachedSql;
use super::{Job, StoreError, Transition};
use crate::domain::{JobId, LayerStart, MachineState, ResumePoint};
use crate::events::{EventKind, ResumedFrom};

const COLUMNS: &str = "confirmed_line, confirmed_layer, confirmed_z, layer, layer_line, \
    layer_offset, layer_z, absolute_xyz, absolute_e, x, y, z, e, feed_mm_min, fan, hotend_c, \
    bed_c, tool";

impl Writer<'_> {
    /// Stores `point` as `job`'s journal, replacing the one before.
    pub fn journal(&mut self, job: JobId, point: &ResumePoint) -> Result<(), StoreError> {
        let (l, s) = (&point.layer, &point.layer.state);
        let now = self.now_text().to_owned();
        self.tx.exec(
            &format!(
                "INSERT OR REPLACE INTO job_journal (job_id, {COLUMNS}, updated_at) VALUES \
                 (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, \
                 ?18, ?19, ?20)"
            ),
            params![
                job.0,
                point.confirmed_line as i64,
                point.confirmed_layer,
                point.confirmed_z,
                l.number,
                l.line as i64,
                l.offset as i64,
                l.z,
                s.absolute_xyz,
                s.absolute_e,
                s.x,
                s.y,
                s.z,
                s.e,
                s.feed_mm_min,
                s.fan,
                s.hotend_c,
                s.bed_c,
                s.tool,
                now,
            ],
        )?;
        Ok(())
    }
}

impl Writer<'_> {
    /// An interrupted job prints again from `from`: `interrupted` → `printing` (its end time
    /// cleared, its id and history kept) and a `job:recovered` event saying where.
    pub fn recovered(&mut self, job: JobId, from: ResumedFrom) -> Result<Job, StoreError> {
        self.transition(job, Transition::Recover)?;
        self.tx.exec(
            "UPDATE print_jobs SET completed_at = NULL WHERE id = ?1",
            [job.0],
        )?;
        let job = self.job(job)?;
        self.emit(EventKind::JobRecovered {
            job: job.to_ref(),
            from,
        })?;
        Ok(job)
    }
}

impl Db {
    /// `job`'s journal, if its driver ever reported one.
    pub fn journaled(&self, job: JobId) -> Result<Option<ResumePoint>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM job_journal WHERE job_id = ?1");
        Ok(self.conn().row(&sql, [job.0], point_from_row).optional()?)
    }
}

fn point_from_row(r: &Row<'_>) -> rusqlite::Result<ResumePoint> {
    let state = MachineState {
        absolute_xyz: r.get(7)?,
        absolute_e: r.get(8)?,
        x: r.get(9)?,
        y: r.get(10)?,
        z: r.get(11)?,
        e: r.get(12)?,
        feed_mm_min: r.get(13)?,
        fan: r.get(14)?,
        hotend_c: r.get(15)?,
        bed_c: r.get(16)?,
        tool: r.get(17)?,
    };
    Ok(ResumePoint {
        confirmed_line: r.get::<_, i64>(0)? as u64,
        confirmed_layer: r.get(1)?,
        confirmed_z: r.get(2)?,
        layer: LayerStart {
            number: r.get(3)?,
            line: r.get::<_, i64>(4)? as u64,
            offset: r.get::<_, i64>(5)? as u64,
            z: r.get(6)?,
            state,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jobs::test_support;

    #[test]
    fn a_journal_is_replaced_and_read_back_as_written() {
        let mut db = test_support::db();
        let new = crate::jobs::NewJob {
            file_name: "a.gcode".into(),
            ..Default::default()
        };
        let job = db.submit(new).unwrap().id;
        assert_eq!(db.journaled(job).unwrap(), None);
        let mut point = ResumePoint {
            confirmed_line: 1234,
            confirmed_layer: 7,
            confirmed_z: 1.4,
            layer: LayerStart {
                number: 7,
                line: 1100,
                offset: 40_000,
                z: 1.4,
                state: MachineState {
                    fan: 200,
                    tool: 1,
                    absolute_e: false,
                    e: 12.5,
                    ..MachineState::default()
                },
            },
        };
        db.write(|w| w.journal(job, &point)).unwrap();
        point.confirmed_line = 1300;
        db.write(|w| w.journal(job, &point)).unwrap();
        assert_eq!(db.journaled(job).unwrap(), Some(point));
    }
}
