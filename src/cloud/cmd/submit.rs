//! `job.submit`: a job whose file the gateway downloads. The job is committed in stage
//! `fetching` together with the command's reply (so the reply goes out only for a committed
//! job, and a repeated id or cloud job id finds it and changes nothing); the download then
//! runs in its own task (`Submissions`).

use serde_json::json;

use crate::cloud::args::{self, SubmitArgs};
use crate::cloud::commands::{Executor, Failure};
use crate::cloud::fetch::FileSpec;
use crate::cloud::payload::{Envelope, Refusal, Reply};
use crate::domain::{PrinterId, QueuedStage};
use crate::jobs::{Job, JobSource, NewJob};
use crate::wire::JobJson;

/// The job to queue and the file to download for it.
#[derive(Debug)]
pub struct Submit {
    /// Boxed: with its print options a job is most of the command's size.
    pub(super) job: Box<NewJob>,
    pub(super) file: FileSpec,
}

impl Submit {
    /// Reads and checks the args (`SubmitArgs::check`); the job's printer is the one in the
    /// args, else the envelope's.
    pub(super) fn read(envelope: &Envelope) -> Result<Submit, Refusal> {
        let a: SubmitArgs = args::decode(&envelope.args)?;
        a.check()?;
        let file = a.file.spec()?;
        Ok(Submit {
            job: Box::new(new_job(a, envelope.printer.clone())),
            file,
        })
    }

    /// Queues the job and answers; the download continues in its own task. The reply is
    /// stored in the job's transaction; a taken id or cloud job id makes that transaction
    /// store nothing, and the stored reply answers.
    pub(super) async fn answer(self, id: &str, executor: &Executor) -> String {
        let material = self.job.material.clone();
        let key = id.to_owned();
        let budget = executor.submissions.retry_budget().as_secs();
        let committed = executor
            .gateway
            .submit_answering(*self.job, id.to_owned(), move |job| {
                accepted(&key, job, budget).to_json()
            })
            .await;
        match committed {
            Ok(job) => {
                let gateway = executor.gateway.clone();
                executor
                    .submissions
                    .start_fetch(gateway, job.id, self.file, material);
                accepted(id, &job, budget).to_json()
            }
            Err(e) => {
                let reply = Failure::from(e).reply(Some(id)).to_json();
                executor.remember(id, reply).await
            }
        }
    }
}

/// The job as queued, and how long its download may keep retrying (`fetch_retry_budget_s`:
/// the job either has its file or has failed by then, once the download has started).
fn accepted(id: &str, job: &Job, retry_budget_s: u64) -> Reply {
    let mut result = json!(JobJson::from(job));
    result["fetch_retry_budget_s"] = json!(retry_budget_s);
    result["options"] = json!(job.options);
    Reply::ok(id, result)
}

fn new_job(a: SubmitArgs, envelope_printer: Option<String>) -> NewJob {
    NewJob {
        cloud_job_id: Some(a.job_id),
        project_id: a.project_id,
        file_name: a.file.name,
        stage: Some(QueuedStage::Fetching),
        printer: a.printer.or(envelope_printer).map(PrinterId),
        material: a.material,
        quality: a.quality,
        print_settings: a.settings.map(|s| s.to_string()),
        options: a.options,
        source: Some(JobSource::Cloud),
        ..NewJob::default()
    }
}
