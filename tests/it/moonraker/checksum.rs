//! The upload carries the SHA-256 of the bytes the safety check read, and Moonraker
//! verifies it: a file that changed between the check and the upload never prints.

use super::*;
use fluxprint_gateway::printer::driver::{DriverCommand, DriverLink, DriverReport, Outcome};
use fluxprint_gateway::printer::moonraker::{self, KlipperSafety, MoonrakerSettings};
use tokio_util::task::TaskTracker;

async fn next_report(link: &mut DriverLink) -> DriverReport {
    loop {
        let report = tokio::time::timeout(JOB_PATIENCE, link.reports.recv())
            .await
            .expect("the driver reported nothing")
            .expect("the driver stopped");
        if !matches!(report, DriverReport::Temperatures(_)) {
            return report;
        }
    }
}

#[tokio::test]
async fn a_file_that_changed_between_the_safety_check_and_the_upload_is_refused_by_moonrakers_checksum()
 {
    let bench = Bench::start().await;
    let peer = bench.peer;
    let settings = MoonrakerSettings::new(
        "klipper",
        peer.url.clone(),
        Some(Secret::new(&peer.api_key)),
        KlipperSafety::from(&Default::default()),
    );
    let (shutdown, tasks) = (CancellationToken::new(), TaskTracker::new());
    let mut link = moonraker::start(settings, shutdown.clone(), &tasks).unwrap();
    assert_eq!(next_report(&mut link).await, DriverReport::Connected);

    // Every read of this file gives other bytes of the same length: the check hashes one
    // text, the upload sends another, as with a file rewritten while its job starts.
    let file = std::path::PathBuf::from("/proc/sys/kernel/random/uuid");
    let job = JobId(4242);
    link.commands
        .send(DriverCommand::Start {
            job,
            file,
            options: Default::default(),
        })
        .await
        .unwrap();
    let report = next_report(&mut link).await;
    let DriverReport::Finished {
        job: ended,
        outcome: Outcome::Failed(reason),
    } = report
    else {
        panic!("expected the job to fail, got {report:?}");
    };
    assert_eq!(ended, job);
    assert!(reason.contains("File checksum mismatch"), "{reason}");
    assert!(reason.contains("422"), "{reason}");
    assert!(
        !peer.gcodes.join("fluxprint/job-4242.gcode").exists(),
        "Moonraker kept nothing of the refused file"
    );
    shutdown.cancel();
    tasks.close();
    tasks.wait().await;
}
