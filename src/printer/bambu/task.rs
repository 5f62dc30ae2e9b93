//! The driver's task: one MQTT connection to the printer's broker (reconnecting with
//! backoff, a long one after a rejected access code), the report topic fed to the tracker,
//! the actor's commands published as requests, and job files uploaded over FTPS while the
//! MQTT connection keeps being served (an upload of a big project takes seconds).

use std::sync::Arc;
use std::time::Duration;

use rumqttc::{
    AsyncClient, ConnectReturnCode, ConnectionError, Event, EventLoop, MqttOptions, NetworkOptions,
    Packet, QoS, TlsConfiguration, Transport,
};
use rustls::ClientConfig;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::BambuSettings;
use super::ftps::FtpsError;
use super::pushall::Pushall;
use super::report::{Answer, Message, Report};
use super::request::{self, PrintFile};
use super::track::{Step, Tracker, print_name};
use super::upload::{self, Start, Upload};
use crate::domain::JobId;
use crate::printer::causes::with_causes;
use crate::printer::driver::{DriverCommand, DriverEnd, DriverReport};
use crate::printer::host::Backoff;

const KEEP_ALIVE: Duration = Duration::from_secs(30);
/// A full X1 status is tens of KiB; rumqttc's default limit is 10 KiB.
const MAX_PACKET_BYTES: usize = 1024 * 1024;
/// Requests waiting for the event loop; the driver sends a few per click. When full,
/// `try_publish` fails and the command is reported as not carried out.
const REQUEST_CAPACITY: usize = 16;
/// A job the printer neither answered nor showed printing in this time failed to start.
const START_PATIENCE: Duration = Duration::from_secs(120);
/// The error code the firmware's authorization control answers commands with.
const AUTHORIZATION_REFUSED: u64 = 84_033_543;

pub struct Driver {
    settings: BambuSettings,
    tls: Arc<ClientConfig>,
    tracker: Tracker,
    report: Report,
    reports: mpsc::Sender<DriverReport>,
    sequence: u64,
    /// The sequence id of the last start request, and until when it may take to show.
    starting: Option<(u64, Instant)>,
    connected: bool,
    backoff: Backoff,
    pushall: Pushall,
}

impl Driver {
    pub fn new(
        settings: BambuSettings,
        tls: Arc<ClientConfig>,
        reports: mpsc::Sender<DriverReport>,
    ) -> Driver {
        Driver {
            tracker: Tracker::new(settings.delete_after_job),
            settings,
            tls,
            report: Report::new(),
            reports,
            sequence: 0,
            starting: None,
            connected: false,
            backoff: Backoff::default(),
            pushall: Pushall::default(),
        }
    }

    fn report_topic(&self) -> String {
        format!("device/{}/report", self.settings.serial)
    }

    fn request_topic(&self) -> String {
        format!("device/{}/request", self.settings.serial)
    }

    fn mqtt(&self) -> (AsyncClient, EventLoop) {
        let s = &self.settings;
        let mut options =
            MqttOptions::new(format!("fluxprint-{}", s.printer), &s.host, s.mqtt_port);
        options
            .set_transport(Transport::tls_with_config(TlsConfiguration::Rustls(
                self.tls.clone(),
            )))
            .set_credentials("bblp", s.access_code.expose())
            .set_keep_alive(KEEP_ALIVE)
            .set_clean_session(true)
            .set_max_packet_size(MAX_PACKET_BYTES, MAX_PACKET_BYTES);
        let (client, mut events) = AsyncClient::new(options, REQUEST_CAPACITY);
        let mut network = NetworkOptions::new();
        network.set_connection_timeout(10);
        network.set_tcp_nodelay(true);
        events.set_network_options(network);
        (client, events)
    }

    pub async fn run(mut self, end: DriverEnd, shutdown: CancellationToken) {
        let mut commands = end.commands;
        let (client, mut events) = self.mqtt();
        let mut upload: Option<Upload> = None;
        let mut retry_at: Option<Instant> = None;
        loop {
            let start_deadline = self.starting.map(|(_, at)| at);
            let pushall_due = self.pushall.due().filter(|_| retry_at.is_none());
            tokio::select! {
                _ = shutdown.cancelled() => break,
                command = commands.recv() => match command {
                    None => break,
                    Some(command) => self.command(command, &client, &mut upload).await,
                },
                done = async { upload.as_mut().expect("guarded").await }, if upload.is_some() => {
                    upload = None;
                    self.uploaded(done, &client).await;
                }
                _ = tokio::time::sleep_until(start_deadline.unwrap_or_else(Instant::now)),
                    if start_deadline.is_some() => self.start_overdue().await,
                _ = tokio::time::sleep_until(pushall_due.unwrap_or_else(Instant::now)),
                    if pushall_due.is_some() => self.ask_pushall(&client, false),
                _ = tokio::time::sleep_until(retry_at.unwrap_or_else(Instant::now)),
                    if retry_at.is_some() => retry_at = None,
                event = events.poll(), if retry_at.is_none() => match event {
                    Ok(event) => self.event(event, &client).await,
                    Err(e) => retry_at = Some(Instant::now() + self.lost(e).await),
                },
            }
        }
        let _ = client.try_disconnect();
        tracing::debug!(printer = %self.settings.printer, "Bambu driver stopped");
    }

    async fn event(&mut self, event: Event, client: &AsyncClient) {
        match event {
            Event::Incoming(Packet::ConnAck(_)) => {
                tracing::info!(printer = %self.settings.printer, host = %self.settings.host,
                    "connected to the Bambu printer's broker");
                self.connected = true;
                self.backoff.reset();
                self.report.reset();
                if let Err(e) = client.try_subscribe(self.report_topic(), QoS::AtMostOnce) {
                    tracing::warn!(printer = %self.settings.printer, error = %e,
                        "cannot subscribe to the printer's reports");
                }
                self.ask_pushall(client, true);
            }
            Event::Incoming(Packet::Publish(publish)) => self.received(&publish.payload).await,
            _ => {}
        }
    }

    /// The connection broke or could not be made: how long to wait before the next try.
    async fn lost(&mut self, error: ConnectionError) -> Duration {
        self.connected = false;
        self.pushall.settled();
        let (reason, wait) = match &error {
            ConnectionError::ConnectionRefused(
                ConnectReturnCode::BadUserNamePassword | ConnectReturnCode::NotAuthorized,
            ) => (
                "the printer rejected the access code (MQTT user bblp)".to_owned(),
                self.settings.refused_backoff,
            ),
            other => (
                format!(
                    "the printer's broker is unreachable: {}",
                    with_causes(other)
                ),
                self.backoff.wait(),
            ),
        };
        tracing::warn!(printer = %self.settings.printer, %reason, retry_in = ?wait,
            "Bambu printer link down");
        let steps = self.tracker.unreachable(reason);
        self.run_steps(steps).await;
        wait
    }

    async fn received(&mut self, payload: &[u8]) {
        match self.report.merge(payload) {
            Ok(Message::Status) => {
                if let Some(snapshot) = self.report.snapshot() {
                    self.pushall.settled();
                    if self.starting.is_some()
                        && snapshot.subtask.is_some()
                        && self.tracker.is_seen_in(&snapshot)
                    {
                        self.starting = None;
                    }
                    let steps = self.tracker.observe(snapshot);
                    self.run_steps(steps).await;
                }
            }
            Ok(Message::Answer(answer)) => self.answer(answer).await,
            Ok(Message::Other) => {}
            Err(e) => tracing::debug!(printer = %self.settings.printer, error = %e,
                "a report that is not JSON"),
        }
    }

    async fn answer(&mut self, answer: Answer) {
        let ours = |seq: u64| answer.sequence_id.as_deref() == Some(&seq.to_string());
        let start = self.starting.is_some_and(|(seq, _)| ours(seq));
        if answer.ok {
            if start {
                self.tracker.start_accepted();
            }
            return;
        }
        let reason = answer
            .reason
            .clone()
            .unwrap_or_else(|| "no reason given".into());
        if answer.err_code == Some(AUTHORIZATION_REFUSED) || reason.contains("verify failed") {
            tracing::warn!(printer = %self.settings.printer, command = %answer.command, %reason,
                "the printer refuses LAN control: monitoring only");
            self.starting = None;
            let why = format!(
                "the printer refuses the gateway's commands ({reason}): turn on its LAN-only \
                 developer mode, then restart the gateway"
            );
            let steps = self.tracker.refused(why);
            self.run_steps(steps).await;
        } else if start {
            self.starting = None;
            let steps = self
                .tracker
                .start_failed(format!("the printer refused the print: {reason}"));
            self.run_steps(steps).await;
        } else {
            tracing::warn!(printer = %self.settings.printer, command = %answer.command, %reason,
                "the printer refused a request");
        }
    }

    async fn command(
        &mut self,
        command: DriverCommand,
        client: &AsyncClient,
        upload: &mut Option<Upload>,
    ) {
        let control = match command {
            DriverCommand::Start { job, file, options } => {
                return self.start(job, Start { file, options }, upload).await;
            }
            DriverCommand::Reattach { job } => {
                self.tracker.track(job, true);
                if let Some(snapshot) = self.report.snapshot() {
                    let steps = self.tracker.observe(snapshot);
                    self.run_steps(steps).await;
                }
                return;
            }
            // The printer prints from its own storage; the actor never asks this driver to
            // recover (its link does not say `recovers`), and a job asked anyway fails.
            DriverCommand::Recover { job, .. } => {
                self.tracker.track(job, false);
                let reason = "a print on a Bambu printer cannot be recovered from a journal";
                let steps = self.tracker.start_failed(reason.into());
                return self.run_steps(steps).await;
            }
            DriverCommand::Pause => "pause",
            DriverCommand::Resume => "resume",
            DriverCommand::Cancel => {
                self.tracker.cancel_requested();
                "stop"
            }
            DriverCommand::EmergencyStop => {
                let seq = self.next_sequence();
                self.publish(client, request::control(seq, "stop"));
                let steps = self.tracker.start_failed("emergency stop".into());
                return self.run_steps(steps).await;
            }
        };
        let seq = self.next_sequence();
        self.publish(client, request::control(seq, control));
    }

    /// Checks the file, then uploads it in the background; the print starts (as its options
    /// say) when it is on the printer ([`Driver::uploaded`]).
    async fn start(&mut self, job: JobId, start: Start, upload: &mut Option<Upload>) {
        let Start { file, options } = start;
        self.tracker.track(job, false);
        let refusal = if self.tracker.monitor_only() {
            Some("the printer is monitor-only: it refuses the gateway's commands".to_owned())
        } else if !self.connected {
            Some("the printer is unreachable".to_owned())
        } else if upload.is_some() {
            Some("another upload to the printer is still running".to_owned())
        } else {
            None
        };
        let print_file = match refusal {
            Some(reason) => Err(reason),
            None => upload::print_file(self.settings.safety.clone(), job, &file, options).await,
        };
        let print_file = match print_file {
            Ok(print_file) => print_file,
            Err(reason) => {
                let steps = self.tracker.start_failed(reason);
                return self.run_steps(steps).await;
            }
        };
        *upload = Some(upload::upload(
            &self.settings,
            self.tls.clone(),
            job,
            file,
            print_file,
        ));
    }

    async fn uploaded(
        &mut self,
        (job, file, sent): (JobId, PrintFile, Result<u64, FtpsError>),
        client: &AsyncClient,
    ) {
        match sent {
            Ok(bytes) => {
                tracing::info!(printer = %self.settings.printer, %job, bytes, file = file.name(),
                    "job file uploaded to the printer");
                self.tracker.uploaded(file.name().to_owned());
                let seq = self.next_sequence();
                self.starting = Some((seq, Instant::now() + START_PATIENCE));
                self.publish(client, request::start(seq, &file, &print_name(job)));
            }
            Err(e) => {
                let steps = self.tracker.start_failed(format!(
                    "could not upload the job's file: {}",
                    with_causes(&e)
                ));
                self.run_steps(steps).await;
            }
        }
    }

    async fn start_overdue(&mut self) {
        self.starting = None;
        let steps = self.tracker.start_failed(format!(
            "the printer did not start the print within {} s",
            START_PATIENCE.as_secs()
        ));
        self.run_steps(steps).await;
    }

    /// Asks for the whole state: on connect, then again while none has come ([`Pushall`]).
    fn ask_pushall(&mut self, client: &AsyncClient, on_connect: bool) {
        match on_connect {
            true => self.pushall.asked_on_connect(Instant::now()),
            false => self.pushall.asked_again(Instant::now()),
        }
        let seq = self.next_sequence();
        self.publish(client, request::pushall(seq));
    }

    fn next_sequence(&mut self) -> u64 {
        self.sequence += 1;
        self.sequence
    }

    /// Hands a request to the event loop; a full queue (a wedged link) is logged.
    fn publish(&self, client: &AsyncClient, request: serde_json::Value) {
        let payload = request.to_string();
        if let Err(e) = client.try_publish(self.request_topic(), QoS::AtMostOnce, false, payload) {
            tracing::warn!(printer = %self.settings.printer, error = %e,
                "cannot send a request to the printer");
        }
    }

    async fn run_steps(&mut self, steps: Vec<Step>) {
        for step in steps {
            match step {
                // Closed only when the actor has stopped, i.e. at shutdown.
                Step::Report(report) => {
                    // An ended job is no longer starting: its start deadline must not
                    // fail the next one.
                    if matches!(report, DriverReport::Finished { .. }) {
                        self.starting = None;
                    }
                    let _ = self.reports.send(report).await;
                }
                Step::Delete { name } => {
                    upload::delete(&self.settings, self.tls.clone(), &name).await
                }
            }
        }
    }
}
