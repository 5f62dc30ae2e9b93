//! systemd service notifications: readiness, status text, stopping and the watchdog.
//!
//! The unit runs with `Type=notify` and `WatchdogSec=`. systemd hands us a datagram socket in
//! `NOTIFY_SOCKET` and a watchdog period in `WATCHDOG_USEC`; we write `KEY=VALUE` lines to it.
//! Sending is a single non-blocking datagram write done here with std (the `sd-notify` crate
//! can only target the socket named in the environment, which tests cannot set safely).
//! Outside systemd (`NOTIFY_SOCKET` unset) every notification is a successful no-op.
//!
//! The watchdog is only fed while the gateway is actually healthy: [`run_watchdog`] asks an
//! `alive` check before every ping and goes silent for good once it fails, so that systemd
//! restarts a gateway whose printer actors or job store have died.

use std::io;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

/// Failure to talk to systemd's notification socket.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// `NOTIFY_SOCKET` names something other than a path or an abstract socket.
    #[error("NOTIFY_SOCKET={value:?} is not a unix socket path or @abstract name")]
    UnsupportedSocket { value: String },
    /// The socket address could not be built (for example, a path that is too long).
    #[error("invalid notification socket {socket}")]
    Address {
        socket: String,
        #[source]
        source: io::Error,
    },
    /// The datagram could not be sent.
    #[error("cannot send {message:?} to systemd notification socket {socket}")]
    Send {
        message: String,
        socket: String,
        #[source]
        source: io::Error,
    },
}

/// Sends notifications to systemd; a no-op when not running under systemd.
///
/// Cheap to clone: clones share one unbound datagram socket.
#[derive(Debug, Clone)]
pub struct Notifier {
    target: Option<Arc<Target>>,
}

#[derive(Debug)]
struct Target {
    /// Shown in errors: the path, or `@name` for an abstract socket.
    display: String,
    address: SocketAddr,
    socket: UnixDatagram,
}

impl Notifier {
    /// The notifier for the socket systemd named in `NOTIFY_SOCKET`, or a no-op one when the
    /// variable is unset or empty.
    pub fn from_env() -> Result<Self, NotifyError> {
        match std::env::var_os("NOTIFY_SOCKET") {
            None => Ok(Self::disabled()),
            Some(value) if value.is_empty() => Ok(Self::disabled()),
            Some(value) => Self::from_socket_value(&value.to_string_lossy()),
        }
    }

    /// A notifier that writes to the datagram socket bound at `path`.
    pub fn to_socket(path: impl Into<PathBuf>) -> Result<Self, NotifyError> {
        let path = path.into();
        let display = path.display().to_string();
        let address = SocketAddr::from_pathname(&path).map_err(|source| NotifyError::Address {
            socket: display.clone(),
            source,
        })?;
        Self::with_address(display, address)
    }

    /// A notifier that sends nothing and always succeeds.
    pub fn disabled() -> Self {
        Self { target: None }
    }

    /// Whether notifications go anywhere (we run under systemd).
    pub fn is_enabled(&self) -> bool {
        self.target.is_some()
    }

    /// Tells systemd that start-up is complete.
    pub fn ready(&self) -> Result<(), NotifyError> {
        self.send("READY=1\n")
    }

    /// Sets the one-line status `systemctl status` shows. Line breaks become spaces so that a
    /// status text can never smuggle in another assignment.
    pub fn status(&self, text: &str) -> Result<(), NotifyError> {
        let line: String = text
            .chars()
            .map(|c| if c == '\n' || c == '\r' { ' ' } else { c })
            .collect();
        self.send(&format!("STATUS={line}\n"))
    }

    /// Tells systemd that an orderly shutdown has begun.
    pub fn stopping(&self) -> Result<(), NotifyError> {
        self.send("STOPPING=1\n")
    }

    /// Feeds the watchdog once.
    pub fn watchdog(&self) -> Result<(), NotifyError> {
        self.send("WATCHDOG=1\n")
    }

    fn from_socket_value(value: &str) -> Result<Self, NotifyError> {
        if value.starts_with('/') {
            return Self::to_socket(value);
        }
        let Some(name) = value.strip_prefix('@') else {
            return Err(NotifyError::UnsupportedSocket {
                value: value.to_owned(),
            });
        };
        Self::with_address(value.to_owned(), abstract_address(name, value)?)
    }

    fn with_address(display: String, address: SocketAddr) -> Result<Self, NotifyError> {
        let socket = UnixDatagram::unbound()
            .and_then(|socket| socket.set_nonblocking(true).map(|()| socket))
            .map_err(|source| NotifyError::Address {
                socket: display.clone(),
                source,
            })?;
        let target = Target {
            display,
            address,
            socket,
        };
        Ok(Self {
            target: Some(Arc::new(target)),
        })
    }

    /// Non-blocking on purpose: this runs on async worker threads, and a notification that
    /// systemd cannot take right now is better reported than waited for.
    fn send(&self, message: &str) -> Result<(), NotifyError> {
        let Some(target) = &self.target else {
            return Ok(());
        };
        target
            .socket
            .send_to_addr(message.as_bytes(), &target.address)
            .map(drop)
            .map_err(|source| NotifyError::Send {
                message: message.trim_end().to_owned(),
                socket: target.display.clone(),
                source,
            })
    }
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn abstract_address(name: &str, value: &str) -> Result<SocketAddr, NotifyError> {
    #[cfg(target_os = "android")]
    use std::os::android::net::SocketAddrExt;
    #[cfg(target_os = "linux")]
    use std::os::linux::net::SocketAddrExt;
    SocketAddr::from_abstract_name(name.as_bytes()).map_err(|source| NotifyError::Address {
        socket: value.to_owned(),
        source,
    })
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn abstract_address(_name: &str, value: &str) -> Result<SocketAddr, NotifyError> {
    Err(NotifyError::UnsupportedSocket {
        value: value.to_owned(),
    })
}

/// How often to feed the watchdog: half of `WATCHDOG_USEC`, when systemd set it for this
/// process (`WATCHDOG_PID` unset or equal to our pid); `None` when the watchdog is off.
pub fn watchdog_interval() -> Option<Duration> {
    let usec = std::env::var("WATCHDOG_USEC").ok();
    let pid = std::env::var("WATCHDOG_PID").ok();
    interval_from(usec.as_deref(), pid.as_deref(), std::process::id())
}

fn interval_from(usec: Option<&str>, pid: Option<&str>, our_pid: u32) -> Option<Duration> {
    if let Some(pid) = pid
        && pid.trim().parse::<u32>().ok() != Some(our_pid)
    {
        return None;
    }
    let usec: u64 = usec?.trim().parse().ok()?;
    (usec > 0).then(|| Duration::from_micros(usec) / 2)
}

/// Feeds the systemd watchdog every `interval` while `alive()` holds, until `shutdown`.
///
/// The first ping goes out at once. When `alive()` returns false the task logs one error and
/// ends without pinging again, so systemd's watchdog expires and it restarts the gateway.
pub async fn run_watchdog(
    notifier: Notifier,
    interval: Duration,
    alive: impl Fn() -> bool,
    shutdown: CancellationToken,
) {
    let mut ticker = tokio::time::interval(interval);
    // After a stall, ping once and keep the period rather than bursting to catch up.
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = ticker.tick() => {}
        }
        if !alive() {
            tracing::error!(
                "a printer actor or the job store has stopped; no longer feeding the systemd \
                 watchdog so that systemd restarts the gateway"
            );
            return;
        }
        if let Err(error) = notifier.watchdog() {
            tracing::warn!(
                error = &error as &dyn std::error::Error,
                "watchdog ping failed"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;
    use std::sync::atomic::{AtomicBool, Ordering};

    fn bind_receiver(path: &Path) -> UnixDatagram {
        let socket = UnixDatagram::bind(path).expect("bind notification socket");
        socket.set_nonblocking(true).expect("non-blocking receiver");
        socket
    }

    fn receive(socket: &UnixDatagram) -> String {
        let mut buffer = [0u8; 256];
        let length = socket.recv(&mut buffer).expect("a datagram is waiting");
        String::from_utf8(buffer[..length].to_vec()).expect("utf-8 datagram")
    }

    fn assert_nothing_waiting(socket: &UnixDatagram) {
        let mut buffer = [0u8; 256];
        let error = socket.recv(&mut buffer).expect_err("no datagram expected");
        assert_eq!(error.kind(), io::ErrorKind::WouldBlock);
    }

    #[test]
    fn ready_status_stopping_and_watchdog_arrive_as_datagrams() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify.sock");
        let receiver = bind_receiver(&path);
        let notifier = Notifier::to_socket(&path).unwrap();

        notifier.ready().unwrap();
        notifier.status("2 printers, 1 printing").unwrap();
        notifier.watchdog().unwrap();
        notifier.stopping().unwrap();

        assert_eq!(receive(&receiver), "READY=1\n");
        assert_eq!(receive(&receiver), "STATUS=2 printers, 1 printing\n");
        assert_eq!(receive(&receiver), "WATCHDOG=1\n");
        assert_eq!(receive(&receiver), "STOPPING=1\n");
        assert_nothing_waiting(&receiver);
    }

    #[test]
    fn status_text_cannot_inject_another_assignment() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify.sock");
        let receiver = bind_receiver(&path);
        let notifier = Notifier::to_socket(&path).unwrap();

        notifier.status("printer says\nREADY=1\r\nok").unwrap();

        assert_eq!(receive(&receiver), "STATUS=printer says READY=1  ok\n");
    }

    #[test]
    fn disabled_notifier_succeeds_without_sending() {
        let notifier = Notifier::disabled();
        assert!(!notifier.is_enabled());
        assert!(notifier.ready().is_ok());
        assert!(notifier.status("anything").is_ok());
        assert!(notifier.watchdog().is_ok());
        assert!(notifier.stopping().is_ok());
    }

    #[test]
    fn sending_to_a_missing_socket_names_the_socket() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nobody-listens.sock");
        let notifier = Notifier::to_socket(&path).unwrap();

        let error = notifier.ready().unwrap_err();

        assert!(error.to_string().contains("nobody-listens.sock"), "{error}");
        assert!(error.to_string().contains("READY=1"), "{error}");
    }

    #[test]
    fn socket_values_other_than_paths_and_abstract_names_are_refused() {
        let error = Notifier::from_socket_value("vsock:2:1234").unwrap_err();
        assert!(matches!(error, NotifyError::UnsupportedSocket { .. }));
        assert!(
            Notifier::from_socket_value("@fluxprint-test")
                .unwrap()
                .is_enabled()
        );
    }

    #[test]
    fn watchdog_interval_is_half_the_period_systemd_gives_us() {
        let interval = interval_from(Some("20000000"), None, 42);
        assert_eq!(interval, Some(Duration::from_secs(10)));
        assert_eq!(interval_from(Some("20000000"), Some("42"), 42), interval);
    }

    #[test]
    fn watchdog_meant_for_another_process_or_unset_or_garbled_is_off() {
        assert_eq!(interval_from(Some("20000000"), Some("7"), 42), None);
        assert_eq!(interval_from(None, None, 42), None);
        assert_eq!(interval_from(Some("soon"), None, 42), None);
        assert_eq!(interval_from(Some("0"), None, 42), None);
    }

    #[tokio::test(start_paused = true)]
    async fn watchdog_pings_every_interval_and_stops_for_good_once_not_alive() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify.sock");
        let receiver = tokio::net::UnixDatagram::bind(&path).unwrap();
        let notifier = Notifier::to_socket(&path).unwrap();
        let alive = Arc::new(AtomicBool::new(true));
        let interval = Duration::from_secs(10);
        let started = tokio::time::Instant::now();
        let check = Arc::clone(&alive);
        let task = tokio::spawn(run_watchdog(
            notifier,
            interval,
            move || check.load(Ordering::SeqCst),
            CancellationToken::new(),
        ));

        let mut buffer = [0u8; 64];
        for _ in 0..3 {
            let length = receiver.recv(&mut buffer).await.unwrap();
            assert_eq!(&buffer[..length], b"WATCHDOG=1\n");
        }
        assert_eq!(started.elapsed(), interval * 2);

        alive.store(false, Ordering::SeqCst);
        tokio::time::timeout(interval * 5, task)
            .await
            .expect("watchdog task ends once not alive")
            .unwrap();
        let error = receiver.try_recv(&mut buffer).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::WouldBlock);
    }

    #[tokio::test(start_paused = true)]
    async fn watchdog_ends_on_shutdown() {
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(run_watchdog(
            Notifier::disabled(),
            Duration::from_secs(10),
            || true,
            shutdown.clone(),
        ));

        shutdown.cancel();

        tokio::time::timeout(Duration::from_secs(1), task)
            .await
            .expect("watchdog task ends on shutdown")
            .unwrap();
    }
}
