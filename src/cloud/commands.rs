//! Executes cloud commands through the same `Gateway` calls the LAN uses (several at once
//! where that is safe: `dispatch`), and answers each with exactly one `reply`. The reply is
//! stored under the command id (for `job.submit` in the job's own transaction) before it is
//! published, so a repeated id gets the same reply again and changes nothing. The command's MQTT publish is acknowledged
//! to the broker only after its reply is on its way: a gateway that dies in between gets the
//! command again after a restart and answers it from the store.

use std::sync::Arc;

use rumqttc::QoS;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::args::{self, AckArgs, JobArgs, JobKey, MoveArgs, NoArgs, ReplayArgs};
use super::gate::{Gate, Stopped};
use super::mqtt::{Message, Received};
use super::payload::{self, Command, Refusal, Reply, Topics};
use super::publisher::Replays;
use super::session::Tag;
use super::submit::Submissions;
use super::telemetry;
use crate::domain::{JobId, PrinterId};
use crate::gateway::{CommandError, Gateway, OutboxRange};
use crate::jobs::StoreError;
use crate::wire::{EstimateJson, JobJson, PrinterJson};

/// Why a command failed, as its error reply says.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    #[error(transparent)]
    Refused(#[from] Refusal),
    #[error(transparent)]
    Command(#[from] CommandError),
    #[error("no job with cloud id {0:?} on this gateway")]
    UnknownCloudJob(String),
}

impl Failure {
    pub fn code(&self) -> &'static str {
        match self {
            Failure::Refused(r) => r.code(),
            Failure::Command(c) => c.code(),
            Failure::UnknownCloudJob(_) => "job_not_found",
        }
    }

    pub fn reply(&self, id: Option<&str>) -> Reply {
        Reply::error(id, self.code(), self.to_string())
    }
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Failure {
        match e {
            StoreError::CloudJobNotFound(id) => Failure::UnknownCloudJob(id),
            e => Failure::Command(e.into()),
        }
    }
}

pub struct Executor {
    pub gateway: Gateway,
    pub gate: Arc<Gate>,
    pub topics: Topics,
    pub replays: Arc<Replays>,
    pub max_command_bytes: usize,
    pub submissions: Submissions,
}

impl Executor {
    /// Answers commands until `shutdown`, several at once where that is safe (`dispatch`).
    pub async fn run(self, commands: mpsc::Receiver<Received>, shutdown: CancellationToken) {
        super::dispatch::run(self, commands, shutdown).await
    }

    /// Answers one command; true once the reply is on its way (then it may be acknowledged).
    pub(super) async fn answer(&self, received: &Received) -> bool {
        let name = self
            .topics
            .command_name(&received.topic)
            .unwrap_or_default();
        let reply = match payload::parse(name, &received.payload, self.max_command_bytes) {
            Err((id, refusal)) => self.refuse(id, refusal).await,
            // A submission looks for its id in its own transaction (one store round trip
            // less): a taken id or cloud job id makes it store nothing and answer the
            // stored reply.
            Ok(command) if command.name == "job.submit" => self.execute(command).await,
            Ok(command) => match self.stored(&command.id).await {
                Some(reply) => reply,
                None => self.execute(command).await,
            },
        };
        // A stopped link leaves the command unacknowledged: the broker sends it again after a
        // restart and the stored reply answers it.
        self.send_reply(received, reply).await.is_ok()
    }

    async fn send_reply(&self, received: &Received, reply: String) -> Result<(), Stopped> {
        let mut message = Message {
            topic: self.topics.reply(),
            payload: reply.into_bytes(),
            qos: QoS::AtLeastOnce,
            retain: false,
            correlation: None,
        };
        self.gate.publish(&message, Tag::Other).await?;
        if let Some(topic) = &received.response_topic {
            message.topic = topic.clone();
            message.correlation = received.correlation.clone();
            self.gate.publish(&message, Tag::Other).await?;
        }
        Ok(())
    }

    async fn stored(&self, id: &str) -> Option<String> {
        match self.gateway.stored_reply(id).await {
            Ok(reply) => reply,
            Err(e) => {
                tracing::error!(error = %e, "reading stored command replies");
                None
            }
        }
    }

    async fn refuse(&self, id: Option<String>, refusal: Refusal) -> String {
        tracing::warn!(id = ?id, error = %refusal, "refused a cloud command");
        let Some(id) = id else {
            return Failure::from(refusal).reply(None).to_json();
        };
        if let Some(stored) = self.stored(&id).await {
            return stored;
        }
        self.remember(&id, Failure::from(refusal).reply(Some(&id)).to_json())
            .await
    }

    /// Stores the reply under the id (a command that changed something already changed it;
    /// the store keeps the first reply should the id have been stored meanwhile).
    pub(super) async fn remember(&self, id: &str, reply: String) -> String {
        let stored = self.gateway.remember_reply(id, reply.clone()).await;
        stored.unwrap_or_else(|e| {
            tracing::error!(error = %e, "storing a command reply");
            reply
        })
    }

    async fn execute(&self, command: Command) -> String {
        if command.name == "job.submit" {
            return self.submissions.submit(self, command).await;
        }
        let reply = match self.run_command(&command).await {
            Ok(result) => Reply::ok(&command.id, result),
            Err(failure) => failure.reply(Some(&command.id)),
        };
        self.remember(&command.id, reply.to_json()).await
    }

    async fn run_command(&self, command: &Command) -> Result<Value, Failure> {
        let gw = &self.gateway;
        let job_json = |job: crate::jobs::Job| json!(JobJson::from(&job));
        Ok(match command.name.as_str() {
            "job.cancel" => job_json(gw.cancel(self.job(&command.args).await?).await?),
            "job.pause" => job_json(gw.pause(self.job(&command.args).await?).await?),
            "job.resume" => job_json(gw.resume(self.job(&command.args).await?).await?),
            "queue.move" => {
                let a: MoveArgs = args::decode(&command.args)?;
                let id = self.resolve(a.job_id).await?;
                let order = gw.move_job(id, a.index).await?;
                json!({ "order": order.iter().map(|j| j.0).collect::<Vec<_>>() })
            }
            "printer.bed-cleared" => {
                let _: NoArgs = args::decode(&command.args)?;
                let printer = command.printer.clone().ok_or_else(|| {
                    Refusal::Field("\"printer\" names the printer whose bed is clear".into())
                })?;
                json!(PrinterJson::from(
                    &gw.bed_cleared(&PrinterId(printer)).await?
                ))
            }
            "estimate" => {
                let volumes = gw.build_volumes(command.printer.as_deref())?;
                let estimate = self
                    .submissions
                    .estimate(args::decode(&command.args)?, &volumes)
                    .await?;
                json!(EstimateJson::new(estimate, &volumes))
            }
            "state.get" => {
                let _: NoArgs = args::decode(&command.args)?;
                json!(telemetry::state_json(gw, true))
            }
            "events.replay" => self.replay(args::decode(&command.args)?).await?,
            "events.ack" => {
                let a: AckArgs = args::decode(&command.args)?;
                let removed = gw.ack_events(a.seq).await?;
                json!({ "acked": a.seq, "removed": removed })
            }
            other => return Err(Refusal::Unknown(other.to_owned()).into()),
        })
    }

    async fn job(&self, raw: &Value) -> Result<JobId, Failure> {
        let a: JobArgs = args::decode(raw)?;
        self.resolve(a.job_id).await
    }

    async fn resolve(&self, key: JobKey) -> Result<JobId, Failure> {
        key.resolve(&self.gateway).await
    }

    /// Rewinds the event publisher to `from`; says which events the outbox still holds.
    async fn replay(&self, a: ReplayArgs) -> Result<Value, Failure> {
        let OutboxRange { first, last } = self.gateway.outbox_range().await?;
        self.replays.request(a.from);
        let from = first.map_or(a.from, |first| a.from.max(first));
        Ok(json!({ "from": from, "last": last }))
    }
}
