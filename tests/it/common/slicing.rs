//! Helpers for the slicing tests: the real PrusaSlicer (its absence fails the test with
//! the fix), STL models written by code, and a job's statuses followed through its events.

use std::path::PathBuf;

use fluxprint_gateway::domain::{JobId, JobStatus};
use fluxprint_gateway::events::{Event, EventKind};
use fluxprint_gateway::gateway::Gateway;

use super::PATIENCE;

pub const PRUSA_SLICER: &str = "/usr/bin/prusa-slicer";

/// The real slicer; its absence fails the test with the fix, never skips it.
pub fn prusa_slicer() -> PathBuf {
    let path = PathBuf::from(PRUSA_SLICER);
    assert!(
        path.is_file(),
        "{PRUSA_SLICER} is missing: these tests slice with the real PrusaSlicer; \
         run `apt-get install prusa-slicer` (scripts/test installs it)"
    );
    path
}

/// A binary STL of an axis-aligned cube with `side` mm edges, corner at the origin, with
/// outward unit normals (PrusaSlicer takes a binary file whose first bytes are all ASCII
/// for an ASCII one, so a model of round sizes needs the normals' sign bits to load).
pub fn cube_stl(side: f32) -> Vec<u8> {
    let corner = |i: usize| [i & 1, i >> 1 & 1, i >> 2 & 1].map(|bit| bit as f32 * side);
    // Two outward-facing triangles per face (corners indexed by their x, y, z bits).
    let faces: [[usize; 3]; 12] = [
        [0, 2, 1],
        [1, 2, 3],
        [4, 5, 6],
        [5, 7, 6],
        [0, 1, 4],
        [1, 5, 4],
        [2, 6, 3],
        [3, 6, 7],
        [0, 4, 2],
        [2, 4, 6],
        [1, 3, 5],
        [3, 7, 5],
    ];
    let mut stl = b"binary STL: a cube for the slicer tests".to_vec();
    stl.resize(80, b' ');
    stl.extend_from_slice(&(faces.len() as u32).to_le_bytes());
    for face in faces {
        let [a, b, c] = face.map(corner);
        let (u, v) = (
            [0, 1, 2].map(|k| b[k] - a[k]),
            [0, 1, 2].map(|k| c[k] - a[k]),
        );
        let normal = [
            u[1] * v[2] - u[2] * v[1],
            u[2] * v[0] - u[0] * v[2],
            u[0] * v[1] - u[1] * v[0],
        ]
        .map(|n| n.signum() * f32::from(n != 0.0));
        for value in normal.into_iter().chain([a, b, c].into_iter().flatten()) {
            stl.extend_from_slice(&value.to_le_bytes());
        }
        stl.extend_from_slice(&[0_u8; 2]);
    }
    stl
}

/// Waits until the job's status satisfies `ok`; returns every status its events showed,
/// from the first (read back from the outbox, so nothing before the call is missed).
pub async fn follow(
    gw: &Gateway,
    id: JobId,
    what: &str,
    ok: impl Fn(&JobStatus) -> bool,
) -> Vec<JobStatus> {
    let mut events = gw.subscribe();
    let past = gw.events_after(0, 100_000).await.unwrap();
    let mut last_seq = past.last().map_or(0, |e| e.seq);
    let mut seen = Vec::new();
    for event in past {
        note(&mut seen, id, event);
    }
    while !seen.last().is_some_and(&ok) {
        let event = tokio::time::timeout(PATIENCE, events.recv()).await;
        let Ok(Ok(event)) = event else {
            panic!("job {id} never became {what}; it went {seen:?}");
        };
        if event.seq > last_seq {
            last_seq = event.seq;
            note(&mut seen, id, event);
        }
    }
    seen
}

/// Adds the status a job event for `id` shows, when it changed.
fn note(seen: &mut Vec<JobStatus>, id: JobId, event: Event) {
    if let EventKind::JobQueued(job) | EventKind::JobStatus(job) = event.kind
        && job.id == id
        && seen.last() != Some(&job.status)
    {
        seen.push(job.status);
    }
}
