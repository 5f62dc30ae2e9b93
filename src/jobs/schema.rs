//! Schema migrations, keyed on `PRAGMA user_version`.
//!
//! Version 1 is the product's seed schema (`print_jobs` with the seed's columns, by name).
//! Version 2 extends it for the gateway: printer, queue position, source, stored files, the
//! events outbox, processed command ids and the bed-clear interlock. Version 3 keeps what the
//! analysis of a file found (`file_analysis`: estimates, progress table, thumbnail) and, per
//! job, the remaining time while printing and the actual print time once completed, for the
//! per-printer estimate accuracy. Version 4 indexes the queue position; version 5 adds the
//! serial resume journal; version 6 keeps a job's print options (`print_options`, JSON of
//! `domain::PrintOptions`, NULL when none were given). Migrations only ever add;
//! a database from any earlier version opens, one from a newer version is refused untouched.

use rusqlite::Connection;

/// Each entry migrates from version `index` to `index + 1`.
const MIGRATIONS: &[&str] = &[
    V1_SEED,
    V2_GATEWAY,
    V3_INTEL,
    V4_QUEUE_END,
    V5_JOURNAL,
    V6_PRINT_OPTIONS,
];

pub const LATEST_VERSION: i64 = MIGRATIONS.len() as i64;

const V1_SEED: &str = "
CREATE TABLE print_jobs (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id     TEXT,
    file_name      TEXT NOT NULL,
    status         TEXT NOT NULL,
    progress       INTEGER NOT NULL DEFAULT 0,
    material_type  TEXT,
    print_settings TEXT,
    queued_at      TEXT NOT NULL,
    started_at     TEXT,
    completed_at   TEXT,
    estimated_time INTEGER,
    estimated_cost REAL
);
";

const V2_GATEWAY: &str = "
CREATE TABLE files (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    display_name TEXT NOT NULL,
    path         TEXT NOT NULL,
    sha256       TEXT NOT NULL,
    size         INTEGER NOT NULL,
    created_at   TEXT NOT NULL
);
ALTER TABLE print_jobs ADD COLUMN cloud_job_id TEXT;
ALTER TABLE print_jobs ADD COLUMN printer_id TEXT;
ALTER TABLE print_jobs ADD COLUMN quality TEXT;
ALTER TABLE print_jobs ADD COLUMN source TEXT NOT NULL DEFAULT 'lan';
ALTER TABLE print_jobs ADD COLUMN file_id INTEGER REFERENCES files(id);
ALTER TABLE print_jobs ADD COLUMN queue_position INTEGER;
ALTER TABLE print_jobs ADD COLUMN stage TEXT;
ALTER TABLE print_jobs ADD COLUMN error TEXT;
ALTER TABLE print_jobs ADD COLUMN model_size TEXT;
ALTER TABLE print_jobs ADD COLUMN updated_at TEXT;
UPDATE print_jobs SET queue_position = id, updated_at = queued_at;
UPDATE print_jobs SET stage = 'ready' WHERE status = 'queued';
CREATE UNIQUE INDEX print_jobs_cloud_job_id ON print_jobs(cloud_job_id);
CREATE INDEX print_jobs_queue ON print_jobs(status, queue_position);

CREATE TABLE events (
    seq     INTEGER PRIMARY KEY AUTOINCREMENT,
    at      TEXT NOT NULL,
    type    TEXT NOT NULL,
    payload TEXT NOT NULL
);
CREATE TABLE commands (
    id    TEXT PRIMARY KEY,
    reply TEXT NOT NULL,
    at    TEXT NOT NULL
);
CREATE TABLE printers (
    id               TEXT PRIMARY KEY,
    bed_clear_needed INTEGER NOT NULL DEFAULT 0,
    last_job         INTEGER
);
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
";

// `progress` is the progress table as JSON `{"bytes":N,"samples":[[offset,seconds],…]}`;
// `actual_time_source` says how `actual_print_time` was measured: `printing` (the actor timed
// the print, pauses excluded) or `wall` (completed_at - started_at, after a restart).
const V3_INTEL: &str = "
CREATE TABLE file_analysis (
    file_id               INTEGER PRIMARY KEY REFERENCES files(id) ON DELETE CASCADE,
    estimated_time        INTEGER NOT NULL,
    slicer_estimated_time INTEGER,
    filament_mm           REAL NOT NULL,
    layers                INTEGER,
    progress              TEXT NOT NULL,
    thumbnail             BLOB,
    thumbnail_mime        TEXT,
    analysed_at           TEXT NOT NULL
);
ALTER TABLE print_jobs ADD COLUMN remaining_time INTEGER;
ALTER TABLE print_jobs ADD COLUMN actual_print_time INTEGER;
ALTER TABLE print_jobs ADD COLUMN actual_time_source TEXT;
CREATE INDEX print_jobs_finished ON print_jobs(printer_id, status, completed_at);
";

/// A new job goes to `max(queue_position) + 1`: without an index on the position alone that
/// maximum scans every job ever kept (`print_jobs_queue` leads with the status), so each insert
/// cost grew with the history (about 0.1 ms per insert at 1,000 jobs on the dev machine).
const V4_QUEUE_END: &str = "
CREATE INDEX print_jobs_position ON print_jobs(queue_position);
";

/// Version 5: what a serial job's resume needs after a crash or power cut (`jobs::journal`),
/// one row per job, rewritten at each layer change and every few seconds while it prints.
const V5_JOURNAL: &str = "
CREATE TABLE job_journal (
    job_id          INTEGER PRIMARY KEY REFERENCES print_jobs(id) ON DELETE CASCADE,
    confirmed_line  INTEGER NOT NULL,
    confirmed_layer INTEGER NOT NULL,
    confirmed_z     REAL NOT NULL,
    layer           INTEGER NOT NULL,
    layer_line      INTEGER NOT NULL,
    layer_offset    INTEGER NOT NULL,
    layer_z         REAL NOT NULL,
    absolute_xyz    INTEGER NOT NULL,
    absolute_e      INTEGER NOT NULL,
    x               REAL NOT NULL,
    y               REAL NOT NULL,
    z               REAL NOT NULL,
    e               REAL NOT NULL,
    feed_mm_min     REAL NOT NULL,
    fan             INTEGER NOT NULL,
    hotend_c        REAL NOT NULL,
    bed_c           REAL NOT NULL,
    tool            INTEGER NOT NULL,
    updated_at      TEXT NOT NULL
);
";

/// Version 6: how a Bambu printer is to print the job's project (plate, AMS, timelapse, bed
/// levelling), as the submitter asked; NULL for every earlier job and for jobs without options.
const V6_PRINT_OPTIONS: &str = "
ALTER TABLE print_jobs ADD COLUMN print_options TEXT;
";

/// What the database's version says about it.
#[derive(Debug, PartialEq, Eq)]
pub enum Version {
    Current,
    Migrated { from: i64 },
    TooNew(i64),
}

/// Brings the database up to `LATEST_VERSION`, one transaction per step, or reports that it is
/// from a newer build (and then changes nothing).
pub fn migrate(conn: &mut Connection) -> rusqlite::Result<Version> {
    let found: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if found > LATEST_VERSION {
        return Ok(Version::TooNew(found));
    }
    if found == LATEST_VERSION {
        return Ok(Version::Current);
    }
    for (from, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", from as i64 + 1)?;
        tx.commit()?;
    }
    Ok(Version::Migrated { from: found })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_end_of_the_queue_is_found_through_an_index_not_a_scan() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn).unwrap();
        let plan: String = conn
            .query_row(
                "EXPLAIN QUERY PLAN SELECT coalesce(max(queue_position), 0) + 1 FROM print_jobs",
                [],
                |r| r.get(3),
            )
            .unwrap();
        assert!(plan.contains("print_jobs_position"), "{plan}");
    }

    #[test]
    fn a_new_database_migrates_to_the_latest_version_and_then_stays() {
        let mut conn = Connection::open_in_memory().unwrap();
        assert_eq!(migrate(&mut conn).unwrap(), Version::Migrated { from: 0 });
        assert_eq!(migrate(&mut conn).unwrap(), Version::Current);
    }

    #[test]
    fn a_version_2_database_gains_the_analysis_table_and_keeps_its_jobs() {
        let mut conn = Connection::open_in_memory().unwrap();
        for (version, sql) in MIGRATIONS[..2].iter().enumerate() {
            conn.execute_batch(sql).unwrap();
            conn.pragma_update(None, "user_version", version as i64 + 1)
                .unwrap();
        }
        conn.execute(
            "INSERT INTO print_jobs (file_name, status, queued_at, estimated_time) \
             VALUES ('a.gcode', 'completed', '2024-01-01T00:00:00Z', 600)",
            [],
        )
        .unwrap();
        assert_eq!(migrate(&mut conn).unwrap(), Version::Migrated { from: 2 });
        let (estimate, actual): (i64, Option<i64>) = conn
            .query_row(
                "SELECT estimated_time, actual_print_time FROM print_jobs",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!((estimate, actual), (600, None));
        let analyses: i64 = conn
            .query_row("SELECT count(*) FROM file_analysis", [], |r| r.get(0))
            .unwrap();
        assert_eq!(analyses, 0);
    }

    #[test]
    fn a_version_5_database_keeps_its_jobs_without_print_options() {
        let mut conn = Connection::open_in_memory().unwrap();
        for (version, sql) in MIGRATIONS[..5].iter().enumerate() {
            conn.execute_batch(sql).unwrap();
            conn.pragma_update(None, "user_version", version as i64 + 1)
                .unwrap();
        }
        conn.execute(
            "INSERT INTO print_jobs (file_name, status, queued_at) \
             VALUES ('a.gcode.3mf', 'queued', '2024-01-01T00:00:00Z')",
            [],
        )
        .unwrap();
        assert_eq!(migrate(&mut conn).unwrap(), Version::Migrated { from: 5 });
        let options: Option<String> = conn
            .query_row("SELECT print_options FROM print_jobs", [], |r| r.get(0))
            .unwrap();
        assert_eq!(options, None);
    }

    #[test]
    fn a_newer_database_is_reported_and_left_alone() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "user_version", LATEST_VERSION + 1)
            .unwrap();
        assert_eq!(
            migrate(&mut conn).unwrap(),
            Version::TooNew(LATEST_VERSION + 1)
        );
        let tables: i64 = conn
            .query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))
            .unwrap();
        assert_eq!(tables, 0);
    }
}
