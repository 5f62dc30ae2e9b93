//! A host driver between two sessions with its host: how long it waits before it tries
//! again (1 s after the first failure, doubling up to 30 s, back to 1 s once a connection
//! works), and the wait itself, during which the actor's commands are still answered (a
//! start fails at once, a re-attach is kept for the next session).

use std::future::Future;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::printer::driver::DriverCommand;

const FIRST: Duration = Duration::from_secs(1);
const MAX: Duration = Duration::from_secs(30);

#[derive(Debug)]
pub struct Backoff {
    next: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff { next: FIRST }
    }
}

impl Backoff {
    /// The wait before the next try; the one after it is twice as long.
    pub fn wait(&mut self) -> Duration {
        let wait = self.next;
        self.next = (self.next * 2).min(MAX);
        wait
    }

    /// The host answered: the next failure waits the first delay again.
    pub fn reset(&mut self) {
        self.next = FIRST;
    }
}

/// A driver whose host is out of reach.
pub trait Offline {
    /// The actor's `command` while there is no session with the host.
    fn offline_command(&mut self, command: DriverCommand) -> impl Future<Output = ()> + Send;
}

/// Waits out `wait` while `driver` still answers `commands`; false on shutdown.
pub async fn wait_offline(
    driver: &mut impl Offline,
    wait: Duration,
    commands: &mut mpsc::Receiver<DriverCommand>,
    shutdown: &CancellationToken,
) -> bool {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return false,
            _ = tokio::time::sleep_until(deadline) => return true,
            command = commands.recv() => match command {
                None => return false,
                Some(command) => driver.offline_command(command).await,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_up_to_thirty_seconds_and_start_again_after_a_reset() {
        let mut backoff = Backoff::default();
        let waits: Vec<u64> = (0..7).map(|_| backoff.wait().as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 30, 30]);
        backoff.reset();
        assert_eq!(backoff.wait(), FIRST);
    }
}
