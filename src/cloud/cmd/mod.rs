//! The cloud's commands, one variant each, read once from a publish on `cmd/{name}`: the
//! envelope's checks (`payload::check`), then the name, then the command's own typed
//! arguments. `KINDS` is the one place a name appears, with whether the command may overlap
//! others (`dispatch`) and how its arguments are read; each command's arguments and what it
//! does live in its own file, in the way mini-redis's `cmd/` does. A new command is a file, a
//! variant, a line in `KINDS` and an arm in `Command::answer`.
//!
//! A refusal (bad envelope, unknown name, bad arguments) keeps the reply and the `code` it
//! always had, and the turn its name has: a refused `job.cancel` still waits for the
//! `job.submit` before it, so the two cannot race for one command id.

mod bed_cleared;
mod cert;
mod estimate;
mod events;
mod job;
mod queue_move;
mod recover;
mod state_get;
mod submit;
#[cfg(test)]
mod tests;
mod update;

use serde::de::DeserializeOwned;
use serde_json::Value;

use super::args::{self, AckArgs, JobArgs, MoveArgs, NoArgs, RecoverArgs, ReplayArgs};
use super::commands::{Executor, Failure};
use super::payload::{self, Envelope, Refusal, Reply};
use crate::domain::PrinterId;
use CloudCommand as C;
use Runs::{Alone, Alongside};

pub use estimate::Estimate;
pub use submit::Submit;
pub use update::Updates;

/// What a command that answers with a value answers.
type Outcome = Result<Value, Failure>;

/// A command the cloud sent, with its arguments read and checked.
#[derive(Debug)]
pub enum CloudCommand {
    /// `job.submit`
    Submit(Submit),
    /// `job.cancel`
    Cancel(JobArgs),
    /// `job.pause`
    Pause(JobArgs),
    /// `job.resume`
    Resume(JobArgs),
    /// `job.recover`
    Recover(RecoverArgs),
    /// `queue.move`
    Move(MoveArgs),
    /// `printer.bed-cleared`, for the printer the envelope names.
    BedCleared(PrinterId),
    /// `estimate`
    Estimate(Estimate),
    /// `state.get`
    StateGet,
    /// `events.replay`
    Replay(ReplayArgs),
    /// `events.ack`
    Ack(AckArgs),
    /// `cert.renew`
    CertRenew,
    /// `cert.install`
    CertInstall(cert::InstallArgs),
    /// `gateway.update`
    Update(update::UpdateArgs),
}

/// Whether a command may run while other commands run (`dispatch` says why these may).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Runs {
    Alongside,
    Alone,
}

/// Reads a command's arguments (the envelope has passed its checks).
type Read = fn(&Envelope) -> Result<CloudCommand, Refusal>;

/// A command's name, its turn and how its arguments are read.
#[derive(Debug, Clone, Copy)]
struct Kind {
    name: &'static str,
    runs: Runs,
    read: Read,
}

impl Kind {
    const fn new(name: &'static str, runs: Runs, read: Read) -> Kind {
        Kind { name, runs, read }
    }
}

/// Every command the gateway answers.
#[rustfmt::skip]
const KINDS: [Kind; 14] = [
    Kind::new("job.submit",          Alongside, |e| Submit::read(e).map(C::Submit)),
    Kind::new("job.cancel",          Alone,     |e| decode(e).map(C::Cancel)),
    Kind::new("job.pause",           Alone,     |e| decode(e).map(C::Pause)),
    Kind::new("job.resume",          Alone,     |e| decode(e).map(C::Resume)),
    Kind::new("job.recover",         Alone,     |e| decode(e).map(C::Recover)),
    Kind::new("queue.move",          Alone,     |e| decode(e).map(C::Move)),
    Kind::new("printer.bed-cleared", Alone,     |e| bed_cleared::read(e).map(C::BedCleared)),
    Kind::new("estimate",            Alongside, |e| Estimate::read(e).map(C::Estimate)),
    Kind::new("state.get",           Alongside, |e| decode::<NoArgs>(e).map(|_| C::StateGet)),
    Kind::new("events.replay",       Alone,     |e| decode(e).map(C::Replay)),
    Kind::new("events.ack",          Alone,     |e| decode(e).map(C::Ack)),
    Kind::new("cert.renew",          Alone,     |e| decode::<NoArgs>(e).map(|_| C::CertRenew)),
    Kind::new("cert.install",        Alone,     |e| decode(e).map(C::CertInstall)),
    // Alongside: it stays unanswered across the helper's restart, and alone it would hold
    // every later command until then.
    Kind::new("gateway.update",      Alongside, |e| update::UpdateArgs::read(e).map(C::Update)),
];

/// The names in `KINDS`, in its order (`payload::COMMANDS`; the contract test checks each is
/// in docs/asyncapi.yaml).
pub const COMMANDS: [&str; KINDS.len()] = {
    let mut names = [""; KINDS.len()];
    let mut i = 0;
    while i < KINDS.len() {
        names[i] = KINDS[i].name;
        i += 1;
    }
    names
};

fn decode<T: DeserializeOwned>(envelope: &Envelope) -> Result<T, Refusal> {
    args::decode(&envelope.args)
}

/// A command read from its publish, ready to answer.
#[derive(Debug)]
pub struct Command {
    pub id: String,
    pub action: CloudCommand,
    kind: Kind,
}

/// A command that is answered with an error without running: with its id when one could be
/// read (so the reply can name it), and its name's turn.
#[derive(Debug)]
pub struct Refused {
    pub id: Option<String>,
    pub refusal: Refusal,
    kind: Option<Kind>,
}

impl Command {
    /// Reads the publish on `cmd/{name}`: the envelope first, then the name, then the args.
    pub fn parse(name: &str, payload: &[u8], max: usize) -> Result<Command, Refused> {
        let kind = KINDS.iter().find(|k| k.name == name).copied();
        let refused = |id, refusal| Refused { id, refusal, kind };
        let envelope = payload::check(payload, max).map_err(|(id, r)| refused(id, r))?;
        let Some(kind) = kind else {
            return Err(refused(
                Some(envelope.id),
                Refusal::Unknown(name.to_owned()),
            ));
        };
        match (kind.read)(&envelope) {
            Ok(action) => Ok(Command {
                id: envelope.id,
                action,
                kind,
            }),
            Err(refusal) => Err(refused(Some(envelope.id), refusal)),
        }
    }

    /// Whether it may run while other commands run; otherwise it waits for the commands
    /// before it and runs alone.
    pub fn may_overlap(&self) -> bool {
        self.kind.runs == Alongside
    }

    /// Runs the command and answers it, storing the reply under its id first; a repeated id
    /// gets the stored reply and changes nothing.
    pub async fn answer(self, executor: &Executor) -> String {
        let id = self.id;
        // A submission looks for its id in its own transaction (one store round trip less).
        if !matches!(self.action, C::Submit(_)) {
            if let Some(stored) = executor.stored(&id).await {
                return stored;
            }
        }
        let result = match self.action {
            C::Submit(submit) => return submit.answer(&id, executor).await,
            C::Cancel(a) => job::cancel(a, executor).await,
            C::Pause(a) => job::pause(a, executor).await,
            C::Resume(a) => job::resume(a, executor).await,
            C::Recover(a) => recover::run(a, executor).await,
            C::Move(a) => queue_move::run(a, executor).await,
            C::BedCleared(printer) => bed_cleared::run(&printer, executor).await,
            C::Estimate(estimate) => estimate.run(executor).await,
            C::StateGet => Ok(state_get::run(executor)),
            C::Replay(a) => events::replay(a, executor).await,
            C::Ack(a) => events::ack(a, executor).await,
            C::CertRenew => cert::renew(executor).await,
            C::CertInstall(a) => cert::install(a, executor).await,
            C::Update(a) => update::run(&id, a, executor).await,
        };
        let reply = match result {
            Ok(result) => Reply::ok(&id, result),
            Err(failure) => failure.reply(Some(&id)),
        };
        executor.remember(&id, reply.to_json()).await
    }
}

impl Refused {
    /// A refused command keeps its name's turn (an unknown name runs alone).
    pub fn may_overlap(&self) -> bool {
        self.kind.is_some_and(|k| k.runs == Alongside)
    }
}

/// Whether the command may run while other commands run, answered or refused.
pub fn may_overlap(read: &Result<Command, Refused>) -> bool {
    read.as_ref()
        .map_or_else(Refused::may_overlap, Command::may_overlap)
}
