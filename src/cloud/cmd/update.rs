//! `gateway.update` (issue #16): check the release signature, download and verify the new
//! binary, wait until no printer prints (unless `when = "now"`), stage it and ask the
//! privileged helper (`update::apply`) to swap it in. The command is not answered by the
//! process that stages it: that process is restarted by the helper, the broker delivers the
//! unacknowledged command again, and the daemon that then runs (the new version, or the old
//! one after a rollback) answers it from the helper's `outcome.json`: one reply, one final
//! `gateway:update` event.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use serde_json::json;
use url::Url;

use super::{Envelope, Outcome as Answer, decode};
use crate::cloud::commands::{Executor, Failure};
use crate::cloud::fetch::{Fetcher, FileSpec};
use crate::cloud::payload::Refusal;
use crate::domain::PrinterState;
use crate::events::{EventKind, UpdateStep};
use crate::update::{self, Outcome, Request, UpdateFiles};

/// How often a command waiting for the helper's outcome looks for it.
const OUTCOME_POLL: Duration = Duration::from_millis(200);
/// How often a deferred update looks at the printers without an event.
const IDLE_RECHECK: Duration = Duration::from_secs(1);

/// `gateway.update` args.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateArgs {
    pub version: String,
    pub url: String,
    pub sha256: String,
    pub signature: String,
    #[serde(default)]
    pub when: When,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum When {
    /// After every printer's print ended.
    #[default]
    Idle,
    /// At once, printing or not.
    Now,
}

impl UpdateArgs {
    pub(super) fn read(envelope: &Envelope) -> Result<UpdateArgs, Refusal> {
        let args: UpdateArgs = decode(envelope)?;
        if args.version.is_empty() || args.version.len() > 64 {
            return Err(Refusal::Field(
                "\"version\" must be 1 to 64 characters".into(),
            ));
        }
        Ok(args)
    }
}

/// What `gateway.update` needs beyond the executor: the release key, the downloader and the
/// files it shares with the helper.
#[derive(Debug)]
pub struct Updates {
    pub public_key: Option<[u8; 32]>,
    pub fetcher: Arc<Fetcher>,
    pub files: UpdateFiles,
}

pub(super) async fn run(id: &str, args: UpdateArgs, executor: &Executor) -> Answer {
    let updates = &executor.updates;
    if let Some(outcome) = pending_outcome(&updates.files, id).await {
        return finish(outcome, executor).await;
    }
    let step = |stage, reason| step(executor, stage, &args.version, reason);
    if let Err(e) =
        update::verify_signature(updates.public_key.as_ref(), &args.sha256, &args.signature)
    {
        step("refused", Some(e.to_string())).await;
        return Err(Refusal::Update(e.to_string()).into());
    }
    step("downloading", None).await;
    let staged = match download(&args, updates).await {
        Ok(staged) => staged,
        Err(reason) => {
            step("refused", Some(reason.clone())).await;
            return Err(Refusal::Update(reason).into());
        }
    };
    step("verifying", None).await;
    if args.when == When::Idle && printing(executor) {
        step("waiting-idle", None).await;
        wait_idle(executor).await;
    }
    step("installing", None).await;
    if let Err(e) = request(id, &args, &staged, &updates.files) {
        step("refused", Some(e.clone())).await;
        return Err(Refusal::Update(e).into());
    }
    // The helper restarts this process; the command is answered by the next one.
    let outcome = wait_outcome(&updates.files, id).await;
    finish(outcome, executor).await
}

/// Downloads the release into the update directory; its SHA-256 is checked on the way.
async fn download(args: &UpdateArgs, updates: &Updates) -> Result<PathBuf, String> {
    let url = Url::parse(&args.url).map_err(|e| format!("url: {e}"))?;
    updates.files.create_dir().map_err(|e| e.to_string())?;
    let spec = FileSpec {
        name: format!("fluxprint-gateway-{}", args.version),
        url,
        sha256: args.sha256.clone(),
        size: None,
    };
    let release = updates
        .fetcher
        .fetch_release(&spec, updates.files.dir())
        .await
        .map_err(|e| e.to_string())?;
    Ok(release.path)
}

/// Moves the verified binary to `staged` and writes the request the path unit waits for.
fn request(
    id: &str,
    args: &UpdateArgs,
    staged: &PathBuf,
    files: &UpdateFiles,
) -> Result<(), String> {
    std::fs::rename(staged, files.staged()).map_err(|e| format!("staging: {e}"))?;
    let request = Request {
        id: id.to_owned(),
        version: args.version.clone(),
        sha256: args.sha256.to_ascii_lowercase(),
        signature: args.signature.clone(),
    };
    update::write_json(&files.request(), &request).map_err(|e| e.to_string())
}

/// The outcome for `id` if the helper finished it, waiting while it still works on it.
async fn pending_outcome(files: &UpdateFiles, id: &str) -> Option<Outcome> {
    let named = |r: Option<Request>| r.is_some_and(|r| r.id == id);
    let in_progress = named(update::read_json(&files.request()).ok().flatten())
        || named(update::read_json(&files.applying()).ok().flatten());
    let outcome: Option<Outcome> = update::read_json(&files.outcome()).ok().flatten();
    match outcome {
        Some(outcome) if outcome.id == id => Some(outcome),
        _ if in_progress => Some(wait_outcome(files, id).await),
        _ => None,
    }
}

async fn wait_outcome(files: &UpdateFiles, id: &str) -> Outcome {
    loop {
        if let Ok(Some(outcome)) = update::read_json::<Outcome>(&files.outcome())
            && outcome.id == id
        {
            return outcome;
        }
        tokio::time::sleep(OUTCOME_POLL).await;
    }
}

/// The final event and the reply, once; the outcome file goes (the reply is stored).
async fn finish(outcome: Outcome, executor: &Executor) -> Answer {
    let stage = if outcome.stage == "committed" {
        "committed"
    } else {
        "rolled-back"
    };
    step(executor, stage, &outcome.version, outcome.reason.clone()).await;
    if let Err(e) = update::remove(&executor.updates.files.outcome()) {
        tracing::warn!(error = %e, "removing the update outcome");
    }
    match stage {
        "committed" => Ok(json!({ "version": outcome.version, "stage": stage })),
        _ => Err(Failure::from(Refusal::RolledBack(
            outcome.reason.unwrap_or_default(),
        ))),
    }
}

fn printing(executor: &Executor) -> bool {
    executor.gateway.printer_statuses().iter().any(|p| {
        matches!(
            p.state,
            PrinterState::Printing { .. }
                | PrinterState::Paused { .. }
                | PrinterState::PrintingExternal { .. }
        )
    })
}

/// Waits until no printer prints, looking again at every event and at least every
/// `IDLE_RECHECK` (a printer's status may change just after the event that announced it).
async fn wait_idle(executor: &Executor) {
    let mut events = executor.gateway.subscribe();
    while printing(executor) {
        // A lagged or closed channel only means looking again.
        let _ = tokio::time::timeout(IDLE_RECHECK, events.recv()).await;
    }
}

async fn step(executor: &Executor, stage: &'static str, version: &str, reason: Option<String>) {
    tracing::info!(stage, version, reason = ?reason, "gateway update");
    let kind = EventKind::Update(UpdateStep {
        stage,
        version: version.to_owned(),
        reason,
    });
    if let Err(e) = executor.gateway.record_event(kind).await {
        tracing::error!(error = %e, "recording a gateway:update event");
    }
}
