//! Which cloud commands run at the same time, and the order their MQTT publishes are
//! acknowledged in.
//!
//! Commands are read on arrival (`cmd::Command::parse`) and admitted in arrival order.
//! `job.submit`, `estimate` and `state.get` may overlap each other (`cmd::may_overlap`, also
//! when refused): each submission is its own transaction (the store groups them into one
//! commit) and an estimate or a state read changes nothing. Every other command waits for the
//! commands before it and runs alone, so a `job.cancel` sent after a `job.submit` finds the
//! job, and two changes to one job happen in the order they were sent. The same id arriving
//! twice at once still gets one reply: the store keeps the first reply stored under an id,
//! and a submission whose id or cloud job id is taken changes nothing (see `cmd::submit`).
//!
//! MQTT wants the PUBACKs of QoS 1 publishes in the order the publishes arrived, so one task
//! acknowledges them in that order, each once its reply is on its way.

use std::sync::Arc;

use tokio::sync::{
    OwnedRwLockReadGuard, OwnedRwLockWriteGuard, OwnedSemaphorePermit, RwLock, Semaphore, mpsc,
    oneshot,
};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::cmd;
use super::commands::Executor;
use super::gate::Gate;
use super::mqtt::Incoming;

/// Commands being answered or waiting for their acknowledgement at once (the broker's window,
/// `mqtt::RECEIVE_MAXIMUM`); the next one waits for a slot. Each holds at most one command
/// payload and its reply.
pub(super) const PARALLEL_COMMANDS: usize = 256;

/// A command's place in the order: shared with its neighbours, or alone.
enum Turn {
    Shared(#[expect(dead_code, reason = "held, never read")] OwnedRwLockReadGuard<()>),
    Alone(#[expect(dead_code, reason = "held, never read")] OwnedRwLockWriteGuard<()>),
}

/// A command admitted and not acknowledged yet.
struct Pending {
    received: Incoming,
    /// Whether its reply went out.
    answered: oneshot::Receiver<bool>,
    _slot: OwnedSemaphorePermit,
}

/// Answers commands until `shutdown`; answers still running then are dropped unacknowledged
/// (the broker sends those commands again and the stored replies answer them).
pub async fn run(
    executor: Executor,
    mut commands: mpsc::Receiver<Incoming>,
    shutdown: CancellationToken,
) {
    let executor = Arc::new(executor);
    let order = Arc::new(RwLock::new(()));
    let slots = Arc::new(Semaphore::new(PARALLEL_COMMANDS));
    // Never full: every entry holds one of the slots.
    let (acks, pending) = mpsc::channel(PARALLEL_COMMANDS);
    let mut running = JoinSet::new();
    running.spawn(acknowledge_in_order(executor.gate.clone(), pending));
    loop {
        let received = tokio::select! {
            Some(received) = commands.recv() => received,
            Some(_) = running.join_next() => continue,
            _ = shutdown.cancelled() => break,
            else => break,
        };
        let read = executor.read(&received);
        let admitted = tokio::select! {
            admitted = admit(cmd::may_overlap(&read), &order, &slots) => admitted,
            _ = shutdown.cancelled() => break,
        };
        let Some((turn, slot)) = admitted else { break };
        let (done, answered) = oneshot::channel();
        let entry = Pending {
            received: received.clone(),
            answered,
            _slot: slot,
        };
        if acks.send(entry).await.is_err() {
            break;
        }
        let executor = executor.clone();
        running.spawn(async move {
            let sent = executor.answer(&received, read).await;
            drop(turn);
            let _ = done.send(sent);
        });
    }
    running.shutdown().await;
}

/// Waits for a slot, then for the command's turn (`None` once the semaphore is closed, which
/// it never is while `run` holds it).
async fn admit(
    alongside: bool,
    order: &Arc<RwLock<()>>,
    slots: &Arc<Semaphore>,
) -> Option<(Turn, OwnedSemaphorePermit)> {
    let slot = slots.clone().acquire_owned().await.ok()?;
    let turn = if alongside {
        Turn::Shared(order.clone().read_owned().await)
    } else {
        Turn::Alone(order.clone().write_owned().await)
    };
    Some((turn, slot))
}

async fn acknowledge_in_order(gate: Arc<Gate>, mut pending: mpsc::Receiver<Pending>) {
    while let Some(Pending {
        received,
        answered,
        _slot,
    }) = pending.recv().await
    {
        // A command whose reply did not go out (the link stopped) stays unacknowledged: the
        // broker sends it again after a restart and the stored reply answers it.
        if matches!(answered.await, Ok(true)) && gate.ack(&received).await.is_err() {
            return;
        }
    }
}
