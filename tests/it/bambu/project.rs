//! Sliced Bambu projects through the driver itself: a `.gcode.3mf` goes up as the job's
//! project and starts with `project_file` on its plate; a model 3MF (no sliced plate) fails
//! with a message saying what to do. These start the driver without a gateway; `intake`
//! sends projects through the gateway's LAN API.

use super::*;
use fluxprint_gateway::config::SafetyPolicy;
use fluxprint_gateway::domain::PrintOptions;
use fluxprint_gateway::printer::bambu::{self, BambuSettings};
use fluxprint_gateway::printer::driver::{DriverCommand, DriverLink, DriverReport, Outcome};
use fluxprint_gateway::printer::safety::Safety;
use tokio_util::task::TaskTracker;

/// A zip of `entries`, stored (not compressed), as slicers write small members.
fn zip(entries: &[(&str, &[u8])]) -> Vec<u8> {
    zip_packed(entries, false)
}

/// A zip of `entries`, deflated when `deflate` (as Bambu Studio writes a plate's G-code).
pub fn zip_packed(entries: &[(&str, &[u8])], deflate: bool) -> Vec<u8> {
    let (mut out, mut central) = (Vec::new(), Vec::new());
    let method = if deflate { 8 } else { 0 };
    for (name, data) in entries {
        let offset = out.len() as u32;
        let packed = if deflate {
            miniz_oxide::deflate::compress_to_vec(data, 6)
        } else {
            data.to_vec()
        };
        let sizes = [crc32(data), packed.len() as u32, data.len() as u32];
        out.extend(0x0403_4b50u32.to_le_bytes());
        out.extend([20, 0, 0, 0, method, 0, 0, 0, 0, 0]);
        sizes.iter().for_each(|v| out.extend(v.to_le_bytes()));
        out.extend((name.len() as u16).to_le_bytes());
        out.extend([0, 0]);
        out.extend(name.as_bytes());
        out.extend(&packed);
        central.extend(0x0201_4b50u32.to_le_bytes());
        central.extend([20, 0, 20, 0, 0, 0, method, 0, 0, 0, 0, 0]);
        sizes.iter().for_each(|v| central.extend(v.to_le_bytes()));
        central.extend((name.len() as u16).to_le_bytes());
        central.extend([0; 12]);
        central.extend(offset.to_le_bytes());
        central.extend(name.as_bytes());
    }
    let (at, size, count) = (out.len() as u32, central.len() as u32, entries.len() as u16);
    out.extend(central);
    out.extend(0x0605_4b50u32.to_le_bytes());
    out.extend([0, 0, 0, 0]);
    out.extend(count.to_le_bytes());
    out.extend(count.to_le_bytes());
    out.extend(size.to_le_bytes());
    out.extend(at.to_le_bytes());
    out.extend([0, 0]);
    out
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for byte in data {
        crc ^= u32::from(*byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn driver(bench: &Bench, tasks: &TaskTracker, shutdown: CancellationToken) -> DriverLink {
    let DriverConfig::Bambu {
        host,
        mqtt_port,
        ftps_port,
        serial,
        access_code,
        ca_file,
        ..
    } = bench.good_config().driver
    else {
        unreachable!()
    };
    let settings = BambuSettings {
        printer: "bambu".into(),
        host,
        mqtt_port,
        ftps_port,
        serial,
        access_code,
        ca_file,
        delete_after_job: false,
        safety: Safety::from(&SafetyPolicy::default()),
        refused_backoff: bambu::DEFAULT_REFUSED_BACKOFF,
    };
    bambu::start(settings, shutdown, tasks).unwrap()
}

/// The next report that `pick` takes.
async fn next<T>(link: &mut DriverLink, pick: impl Fn(DriverReport) -> Option<T>) -> T {
    loop {
        let report = tokio::time::timeout(JOB_PATIENCE, link.reports.recv())
            .await
            .expect("a report in time")
            .expect("the driver runs");
        if let Some(found) = pick(report) {
            return found;
        }
    }
}

#[tokio::test]
async fn a_sliced_project_starts_on_its_plate_and_a_model_3mf_is_refused_with_advice() {
    let bench = Bench::start("01S00C000000031", Reports::Full);
    let (tasks, shutdown) = (TaskTracker::new(), CancellationToken::new());
    let mut link = driver(&bench, &tasks, shutdown.clone());
    next(&mut link, |r| (r == DriverReport::Connected).then_some(())).await;

    let plate = part("plate 2");
    let project = zip(&[
        ("3D/3dmodel.model", b"<model/>"),
        ("Metadata/plate_2.png", b"png"),
        ("Metadata/plate_2.gcode", plate.as_bytes()),
        ("Metadata/plate_2.gcode.md5", b"0"),
    ]);
    let file = bench.dir.path().join("part.gcode.3mf");
    std::fs::write(&file, &project).unwrap();
    link.commands
        .send(DriverCommand::Start {
            job: JobId(7),
            file,
            options: PrintOptions::default(),
        })
        .await
        .unwrap();
    let outcome = next(&mut link, |r| match r {
        DriverReport::Finished { job, outcome } => Some((job, outcome)),
        _ => None,
    })
    .await;
    assert_eq!(outcome, (JobId(7), Outcome::Completed));
    let request = bench.firmware.with(|fw| {
        (fw.requests.iter())
            .find(|r| r["print"]["command"] == "project_file")
            .cloned()
            .expect("a project_file request")
    });
    assert_eq!(request["print"]["param"], "Metadata/plate_2.gcode");
    assert_eq!(request["print"]["url"], "ftp:///fluxprint-job-7.gcode.3mf");
    assert_eq!(request["print"]["subtask_name"], "fluxprint-job-7");
    assert_eq!(request["print"]["timelapse"], false);
    assert_eq!(request["print"]["bed_levelling"], false);
    assert_eq!(bench.firmware.with(|fw| fw.printed.clone()), vec![project]);

    let model = bench.dir.path().join("model.3mf");
    std::fs::write(&model, zip(&[("3D/3dmodel.model", b"<model/>")])).unwrap();
    link.commands
        .send(DriverCommand::Start {
            job: JobId(8),
            file: model,
            options: PrintOptions::default(),
        })
        .await
        .unwrap();
    let outcome = next(&mut link, |r| match r {
        DriverReport::Finished { job, outcome } => Some((job, outcome)),
        _ => None,
    })
    .await;
    let (JobId(8), Outcome::Failed(why)) = &outcome else {
        panic!("{outcome:?}");
    };
    assert!(
        why.contains("no sliced plate") && why.contains("Bambu Studio"),
        "{why}"
    );
    shutdown.cancel();
    tasks.close();
    tasks.wait().await;
}
