//! Recovering an interrupted job from its journal (`POST /api/jobs/{id}/recover`, the cloud's
//! `job.recover`): the plan is made here from the store (journal, file), then the printer's
//! actor checks its bed and link, stores the recovery and hands the plan to its driver.

use super::{CommandError, Gateway};
use crate::domain::JobId;
use crate::jobs::Job;
use crate::printer::recovery::{self, RecoverOptions, Recovery};

impl Gateway {
    /// What recovering `id` with `options` would do (nothing is changed): the layer, its Z,
    /// the prologue. Refused for the same reasons as [`Gateway::recover`], except the bed.
    pub async fn recovery_plan(
        &self,
        id: JobId,
        options: RecoverOptions,
    ) -> Result<Recovery, CommandError> {
        let job = self.job(id).await?;
        let recovers = match &job.printer {
            Some(printer) => self.printer(printer)?.recovers(),
            None => false,
        };
        Ok(recovery::plan(&self.store, &job, recovers, options).await?)
    }

    /// Prints the interrupted job `id` again from its journal (or `options.from_layer`):
    /// the job keeps its id and history, `job:recovered` says where it resumed.
    pub async fn recover(
        &self,
        id: JobId,
        options: RecoverOptions,
    ) -> Result<(Job, Recovery), CommandError> {
        let plan = self.recovery_plan(id, options).await?;
        self.printer(&plan.printer)?.recover(plan.clone()).await?;
        Ok((self.job(id).await?, plan))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gateway::testing;

    #[tokio::test]
    async fn a_job_that_is_not_interrupted_or_unknown_is_refused_with_its_reason() {
        let standalone = testing::StandaloneGateway::without_printers();
        let gateway = &standalone.gateway;
        let err = gateway
            .recover(JobId(4242), RecoverOptions::default())
            .await
            .unwrap_err();
        assert_eq!(err.code(), "job_not_found");
        standalone.queue_in_one_commit(1).await;
        let job = gateway.queue().await.unwrap()[0].id;
        let err = gateway
            .recover(job, RecoverOptions::default())
            .await
            .unwrap_err();
        assert_eq!(err.code(), "conflict", "{err}");
        assert!(err.to_string().contains("only an interrupted job"), "{err}");
        let err = gateway
            .recovery_plan(
                job,
                RecoverOptions {
                    z_offset_mm: 9.0,
                    from_layer: None,
                },
            )
            .await
            .unwrap_err();
        assert_eq!(err.code(), "bad_request");
    }
}
