//! Executes cloud commands (`cmd`) through the same `Gateway` calls the LAN uses (several at
//! once where that is safe: `dispatch`), and answers each with exactly one `reply`. The reply
//! is stored under the command id (for `job.submit` in the job's own transaction) before it
//! is published, so a repeated id gets the same reply again and changes nothing. The
//! command's MQTT publish is acknowledged to the broker only after its reply is on its way: a
//! gateway that dies in between gets the command again after a restart and answers it from
//! the store.

use std::sync::Arc;

use rumqttc::QoS;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::args::{JobKey, ReplayArgs};
use super::cmd::{Command, Refused};
use super::gate::{Gate, Stopped};
use super::mqtt::{Incoming, Message, Received};
use super::payload::{Refusal, Reply, Topics};
use super::publisher::Replays;
use super::renew::{RenewError, Renewal};
use super::session::Tag;
use super::submit::Submissions;
use crate::domain::JobId;
use crate::gateway::{CommandError, Gateway, OutboxRange};

/// Why a command failed, as its error reply says.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    #[error(transparent)]
    Refused(#[from] Refusal),
    #[error(transparent)]
    Command(#[from] CommandError),
    #[error("no job with cloud id {0:?} on this gateway")]
    UnknownCloudJob(String),
    #[error(transparent)]
    Renewal(#[from] RenewError),
}

impl Failure {
    pub fn code(&self) -> &'static str {
        match self {
            Failure::Refused(r) => r.code(),
            Failure::Command(c) => c.code(),
            Failure::UnknownCloudJob(_) => "job_not_found",
            Failure::Renewal(r) => r.code(),
        }
    }

    pub fn reply(&self, id: Option<&str>) -> Reply {
        Reply::error(id, self.code(), self.to_string())
    }
}

pub struct Executor {
    pub gateway: Gateway,
    pub gate: Arc<Gate>,
    pub topics: Topics,
    pub replays: Arc<Replays>,
    pub max_command_bytes: usize,
    pub submissions: Submissions,
    pub renewal: Arc<Renewal>,
    /// `gateway.update`'s key, downloader and files.
    pub updates: Arc<super::cmd::Updates>,
}

impl Executor {
    /// Answers commands until `shutdown`, several at once where that is safe (`dispatch`).
    pub async fn run(self, commands: mpsc::Receiver<Incoming>, shutdown: CancellationToken) {
        super::dispatch::run(self, commands, shutdown).await
    }

    /// Reads the command in a publish (`Command::parse`).
    pub(super) fn read(&self, received: &Received) -> Result<Command, Refused> {
        let name = self
            .topics
            .command_name(&received.topic)
            .unwrap_or_default();
        Command::parse(&name, &received.payload, self.max_command_bytes)
    }

    /// Answers one command; true once the reply is on its way (then it may be acknowledged).
    pub(super) async fn answer(&self, received: &Received, read: Result<Command, Refused>) -> bool {
        let reply = match read {
            Err(refused) => self.refuse(refused.id, refused.refusal).await,
            Ok(command) => command.answer(self).await,
        };
        // A stopped link leaves the command unacknowledged: the broker sends it again after a
        // restart and the stored reply answers it.
        let sent = self.send_reply(received, reply).await.is_ok();
        // After `cert.install` the link reconnects with the new certificate, once the reply
        // is queued ahead of the DISCONNECT.
        self.renewal.after_reply();
        sent
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

    pub(super) async fn stored(&self, id: &str) -> Option<String> {
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

    pub(super) async fn resolve(&self, key: JobKey) -> Result<JobId, Failure> {
        key.resolve(&self.gateway).await
    }

    /// Rewinds the event publisher to `from`; says which events the outbox still holds.
    pub(super) async fn replay(&self, a: ReplayArgs) -> Result<Value, Failure> {
        let OutboxRange { first, last } = self.gateway.outbox_range().await?;
        self.replays.request(a.from);
        let from = first.map_or(a.from, |first| a.from.max(first));
        Ok(json!({ "from": from, "last": last }))
    }

    /// Drops the events up to and including `seq` from the outbox; says how many went.
    pub(super) async fn ack_events(&self, seq: u64) -> Result<usize, Failure> {
        Ok(self.gateway.ack_events(seq).await?)
    }
}
