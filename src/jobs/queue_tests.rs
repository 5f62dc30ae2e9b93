//! The claim's rules that the printer actors rely on.

use super::*;
use crate::jobs::test_support::db;

const VOLUME: BuildVolume = BuildVolume {
    x_mm: 250.0,
    y_mm: 210.0,
    z_mm: 210.0,
};

/// A ready, unassigned job whose file is stored as `path`.
fn ready_job(db: &mut Db, path: &str) -> JobId {
    db.write(|w| {
        let file = w.add_file(path, std::path::Path::new(path), "00", 1)?;
        let job = w.insert_job(NewJob {
            file_name: path.into(),
            file: Some(file.id),
            ..NewJob::default()
        })?;
        Ok(job.id)
    })
    .unwrap()
}

#[test]
fn a_sliced_project_is_claimed_only_by_a_printer_that_prints_projects() {
    let mut db = db();
    let project = ready_job(&mut db, "/files/abc-benchy.gcode.3mf");
    let gcode = ready_job(&mut db, "/files/def-part.gcode");
    let mk3s = PrinterId("mk3s".into());
    let claimed = db.claim_next(&mk3s, &VOLUME, false).unwrap();
    assert_eq!(claimed.map(|j| j.id), Some(gcode), "the project is skipped");
    assert_eq!(db.claim_next(&mk3s, &VOLUME, false).unwrap(), None);
    let bambu = PrinterId("bambu".into());
    let claimed = db.claim_next(&bambu, &VOLUME, true).unwrap();
    assert_eq!(claimed.map(|j| j.id), Some(project));
}

#[test]
fn a_project_assigned_to_a_printer_that_cannot_print_it_is_not_claimed() {
    let mut db = db();
    let project = ready_job(&mut db, "/files/abc-benchy.GCODE.3MF");
    let mk3s = PrinterId("mk3s".into());
    db.write(|w| w.set_printer(project, &mk3s)).unwrap();
    assert_eq!(db.claim_next(&mk3s, &VOLUME, false).unwrap(), None);
}

#[test]
fn a_jobs_print_options_are_kept_and_a_job_without_reads_back_none() {
    let mut db = db();
    let options = crate::domain::PrintOptions {
        plate: Some(2),
        use_ams: true,
        ams_mapping: vec![1, -1],
        timelapse: true,
        bed_levelling: false,
    };
    let (with, without) = db
        .write(|w| {
            let with = w.insert_job(NewJob {
                file_name: "p.gcode.3mf".into(),
                options: Some(options.clone()),
                ..NewJob::default()
            })?;
            let without = w.insert_job(NewJob {
                file_name: "q.gcode".into(),
                ..NewJob::default()
            })?;
            Ok((with.id, without.id))
        })
        .unwrap();
    assert_eq!(db.job(with).unwrap().options, Some(options));
    assert_eq!(db.job(without).unwrap().options, None);
}
