//! Certificate renewal (issue #16, DESIGN "Fleet lifecycle"): after `cloud.renew_at_percent`
//! of its certificate's lifetime (or on the cloud's `cert.renew`), the gateway makes a new
//! key (0600, next to the current one as `<key>.next`) and asks the cloud to sign it with the
//! event `gateway:cert-renewal` `{"csr"}` — an outbox event, so it reaches the cloud at least
//! once even across a lost link. The cloud answers with `cert.install` `{"certificate"}`,
//! which is checked like an enrolled one (our new key, CN = gateway id, chains to
//! `cloud.ca_file`), stored as `<cert>.next`, and presented from the next connection on (the
//! link's TLS identity is swappable; the link reconnects after the reply is sent).
//!
//! The old files stay until a connection with the new certificate succeeded; only then are
//! the `.next` files renamed over them (key first: a crash between the two renames leaves a
//! `.next` certificate for the current key, which the next start finishes). A new identity
//! that does not connect within `SWITCH_PATIENCE` is dropped and the old one presented
//! again. An expired certificate is logged as an error at start and every hour (the broker
//! refuses it: the link's own error says so too).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rcgen::KeyPair;
use tokio::sync::{Notify, watch};
use tokio_util::sync::CancellationToken;

use super::enroll::{self, CertError, FilesError, Issued, KEY_MODE};
use super::gate::{Gate, LinkState};
use super::tls::{self, Identity};
use crate::events::EventKind;
use crate::gateway::{CommandError, Gateway};

mod files;

pub use files::Files;

/// How long a renewed certificate may take to connect before the old one is used again.
const SWITCH_PATIENCE: Duration = Duration::from_secs(60);
/// How long an unanswered request waits before it is asked again (and how often an expired
/// or failing certificate is said again in the log).
const ASK_AGAIN: Duration = Duration::from_secs(3600);

/// Why a renewal step failed; `cert.renew`/`cert.install` reply with it.
#[derive(Debug, thiserror::Error)]
pub enum RenewError {
    #[error("no renewal in flight (no new key waits for a certificate); send cert.renew first")]
    NotAsked,
    #[error("a renewed certificate is being switched to; try again once it connected")]
    Switching,
    #[error("the certificate cannot be used: {0}")]
    Certificate(#[source] CertError),
    #[error("the renewal files: {0}")]
    Files(#[from] FilesError),
    #[error("making the CSR: {0}")]
    Csr(#[source] enroll::EnrollError),
    #[error("the renewed identity: {0}")]
    Tls(#[from] tls::TlsError),
    #[error("recording the renewal request: {0}")]
    Store(#[from] CommandError),
}

impl RenewError {
    pub fn code(&self) -> &'static str {
        match self {
            RenewError::NotAsked => "no_renewal",
            RenewError::Switching => "busy",
            RenewError::Certificate(_) => "certificate_refused",
            _ => "renewal_failed",
        }
    }
}

/// Where a renewal stands.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Phase {
    Idle,
    /// The CSR is in the outbox; asked again after `ASK_AGAIN`.
    Asked {
        at: tokio::time::Instant,
    },
    /// The new identity is presented; `epoch` is the link's connection count when it was.
    Switching {
        epoch: u64,
        reconnect: bool,
        since: tokio::time::Instant,
    },
}

/// The renewal of the link's certificate; shared by the commands and its own task.
pub struct Renewal {
    pub gateway_id: String,
    pub ca_file: PathBuf,
    pub files: Files,
    pub identity: Arc<Identity>,
    pub gateway: Gateway,
    pub gate: Arc<Gate>,
    pub renew_at_percent: u8,
    phase: Mutex<Phase>,
    wake: Notify,
    current: watch::Sender<Option<Issued>>,
}

impl Renewal {
    /// `switching`: the identity presented is the `.next` one (`Files::recover`).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        gateway_id: &str,
        ca_file: &Path,
        files: Files,
        identity: Arc<Identity>,
        gateway: Gateway,
        gate: Arc<Gate>,
        renew_at_percent: u8,
        switching: bool,
    ) -> Renewal {
        let now = tokio::time::Instant::now();
        let phase = if switching {
            Phase::Switching {
                epoch: 0,
                reconnect: false,
                since: now,
            }
        } else {
            Phase::Idle
        };
        let shown = if switching {
            &files.next_cert
        } else {
            &files.cert
        };
        Renewal {
            gateway_id: gateway_id.to_owned(),
            ca_file: ca_file.to_owned(),
            current: watch::Sender::new(enroll::issued_file(shown).ok()),
            files,
            identity,
            gateway,
            gate,
            renew_at_percent,
            phase: Mutex::new(phase),
            wake: Notify::new(),
        }
    }

    fn phase(&self) -> MutexGuard<'_, Phase> {
        self.phase.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The validity of the certificate the link presents (None: unreadable).
    pub fn certificate(&self) -> watch::Receiver<Option<Issued>> {
        self.current.subscribe()
    }

    /// Makes (or reuses) the new key and asks the cloud to sign it.
    pub async fn begin(&self, why: &str) -> Result<(), RenewError> {
        if matches!(*self.phase(), Phase::Switching { .. }) {
            return Err(RenewError::Switching);
        }
        let key = self.next_key()?;
        let csr = enroll::csr_pem(&key, &self.gateway_id).map_err(RenewError::Csr)?;
        let seq = self.gateway.record(EventKind::CertRenewal { csr }).await?;
        *self.phase() = Phase::Asked {
            at: tokio::time::Instant::now(),
        };
        tracing::info!(
            why,
            seq,
            "asked the cloud to renew the certificate (gateway:cert-renewal)"
        );
        Ok(())
    }

    fn next_key(&self) -> Result<KeyPair, FilesError> {
        let path = &self.files.next_key;
        if let Ok(pem) = std::fs::read_to_string(path)
            && let Ok(key) = KeyPair::from_pem(&pem)
        {
            return Ok(key);
        }
        let key = enroll::new_key(path)?;
        enroll::write_atomic(path, key.serialize_pem().as_bytes(), KEY_MODE)?;
        Ok(key)
    }

    /// Checks the cloud's certificate against the new key, CA and id, stores it as `.next`
    /// and presents it from the next connection (`after_reply` starts that connection).
    pub async fn install(&self, pem: &str) -> Result<Issued, RenewError> {
        if matches!(*self.phase(), Phase::Switching { .. }) {
            return Err(RenewError::Switching);
        }
        let key_pem =
            std::fs::read_to_string(&self.files.next_key).map_err(|_| RenewError::NotAsked)?;
        let key = KeyPair::from_pem(&key_pem).map_err(|_| RenewError::NotAsked)?;
        let issued =
            enroll::check_issued(pem.as_bytes(), &key, &self.ca_file, &self.gateway_id, None)
                .map_err(RenewError::Certificate)?;
        enroll::write_atomic(&self.files.next_cert, pem.as_bytes(), 0o644)?;
        if let Err(e) = self
            .identity
            .swap(&self.files.next_cert, &self.files.next_key)
        {
            let _ = std::fs::remove_file(&self.files.next_cert);
            return Err(e.into());
        }
        let epoch = match *self.gate.link().borrow() {
            LinkState::Connected { epoch, .. } => epoch,
            _ => 0,
        };
        *self.phase() = Phase::Switching {
            epoch,
            reconnect: true,
            since: tokio::time::Instant::now(),
        };
        tracing::info!(
            not_after = issued.not_after,
            "renewed certificate checked and stored; reconnecting with it"
        );
        self.wake.notify_one();
        Ok(issued)
    }

    /// Called once a command's reply is queued: after `install`, the link reconnects (the
    /// reply goes out before the DISCONNECT; the broker keeps the session).
    pub fn after_reply(&self) {
        let mut phase = self.phase();
        if let Phase::Switching { reconnect, .. } = &mut *phase
            && *reconnect
        {
            *reconnect = false;
            if self.gate.client().try_disconnect().is_err() {
                tracing::warn!(
                    "could not ask the link to reconnect: the MQTT request queue is full"
                );
            }
        }
    }

    /// Watches the certificate's age and the switch until `shutdown`.
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        let mut link = self.gate.link();
        let mut said = None;
        loop {
            let wait = self.step(&mut said).await;
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = self.wake.notified() => {}
                changed = link.changed() => if changed.is_err() { return },
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// One look at where things stand; returns how long until the next look is due.
    async fn step(&self, said: &mut Option<tokio::time::Instant>) -> Duration {
        let phase = *self.phase();
        match phase {
            Phase::Switching { epoch, since, .. } => self.switching(epoch, since),
            Phase::Idle | Phase::Asked { .. } => {
                let Some(issued) = self.current.borrow().clone() else {
                    return ASK_AGAIN;
                };
                let now = unix_now();
                let due = due_at(&issued, self.renew_at_percent);
                if now >= issued.not_after && said.is_none_or(|at| at.elapsed() >= ASK_AGAIN) {
                    *said = Some(tokio::time::Instant::now());
                    tracing::error!(not_after = issued.not_after, file = %self.files.cert.display(),
                        "the cloud certificate has EXPIRED: the broker refuses the link until \
                         a renewed one is installed (enroll again with a claim, or install one \
                         by hand)");
                }
                if now < due {
                    return Duration::from_secs((due - now) as u64).min(ASK_AGAIN);
                }
                let asked_lately = matches!(phase, Phase::Asked { at } if at.elapsed() < ASK_AGAIN);
                if !asked_lately {
                    tracing::warn!(
                        not_after = issued.not_after,
                        "the cloud certificate is due for renewal"
                    );
                    if let Err(e) = self.begin("due").await {
                        tracing::error!(error = %e, "could not ask for a renewed certificate");
                    }
                }
                ASK_AGAIN
            }
        }
    }

    /// While the new identity is presented: promotes it once a connection with it
    /// succeeded, or drops it after `SWITCH_PATIENCE`.
    fn switching(&self, epoch: u64, since: tokio::time::Instant) -> Duration {
        let connected = matches!(*self.gate.link().borrow(), LinkState::Connected { epoch: e, .. } if e > epoch);
        if connected {
            match self.files.promote() {
                Ok(()) => {
                    let issued = enroll::issued_file(&self.files.cert).ok();
                    tracing::info!(
                        not_after = issued.as_ref().map(|i| i.not_after),
                        "connected with the renewed certificate; it is now the gateway's"
                    );
                    self.current.send_replace(issued);
                }
                Err(e) => tracing::error!(error = %e, "could not promote the renewed certificate"),
            }
            *self.phase() = Phase::Idle;
            return Duration::ZERO;
        }
        let left = SWITCH_PATIENCE.saturating_sub(since.elapsed());
        if !left.is_zero() {
            return left;
        }
        tracing::error!(
            "the broker did not take the renewed certificate within {SWITCH_PATIENCE:?}; \
             going back to the previous one"
        );
        if let Err(e) = self.identity.swap(&self.files.cert, &self.files.key) {
            tracing::error!(error = %e, "the previous certificate cannot be used either");
        }
        let _ = std::fs::remove_file(&self.files.next_cert);
        self.current
            .send_replace(enroll::issued_file(&self.files.cert).ok());
        *self.phase() = Phase::Idle;
        ASK_AGAIN
    }
}

/// When `issued` is due for renewal (Unix seconds).
pub fn due_at(issued: &Issued, percent: u8) -> i64 {
    let life = (issued.not_after - issued.not_before).max(0);
    issued.not_before + life * i64::from(percent) / 100
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renewal_is_due_after_the_configured_share_of_the_lifetime() {
        let issued = Issued {
            common_name: "gw".into(),
            not_before: 1000,
            not_after: 1300,
        };
        assert_eq!(due_at(&issued, 67), 1201);
        assert_eq!(due_at(&issued, 1), 1003);
    }
}
