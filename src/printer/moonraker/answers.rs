//! What the driver does with what Moonraker says: frames are read as answers (matched to
//! what they were asked for) or notifications; Klipper's objects are merged (a
//! subscription's or query's whole answer replaces them, a status update is merged in) and
//! shown to the tracker, whose steps are carried out here; Klippy's comings and goings
//! renew the subscription; the answers to a start, a cancel or a history look-up move the
//! job on.

use serde_json::Value;

use super::rpc::{self, Call, Notification, RpcError};
use super::state::Recorded;
use super::task::{Asked, Channel, Driver, Session};
use super::track::{Step, remote_path};
use crate::domain::JobId;
use crate::printer::driver::{DriverReport, Outcome};

impl Driver {
    pub async fn answer(
        &mut self,
        session: &mut Session,
        asked: Asked,
        answer: Result<Value, RpcError>,
    ) {
        match (asked, answer) {
            (Asked::KlippyInfo, answer) => self.klippy_info(session, answer).await,
            (Asked::Subscribe, Ok(mut result)) => {
                session.subscribed = true;
                self.objects.replace(result["status"].take());
                self.look(true).await;
            }
            (Asked::Query, Ok(mut result)) => {
                self.objects.replace(result["status"].take());
                self.look(true).await;
            }
            (Asked::Query, Err(e)) => {
                // Klipper's objects cannot be queried without Klippy.
                tracing::debug!(printer = %self.settings.printer, error = %e, "query refused");
                self.objects.klippy_lost();
                self.look(false).await;
            }
            (Asked::Start(job), Ok(_)) => {
                if self.tracker.started(job) {
                    self.queue.push_back((Call::Cancel, Asked::Cancel));
                }
                // A whole look now: the print must show in it.
                self.queue.push_back((Call::Query, Asked::Query));
            }
            (Asked::Start(job), Err(e)) => {
                let why = format!("Klipper refused to start job {job}: {}", e.message);
                let steps = self.tracker.give_up(Outcome::Failed(why));
                self.run_steps(steps).await;
            }
            (Asked::Cancel, Ok(_)) => match self.heaters_off() {
                Ok(call) => self.queue.push_back((call, Asked::HeatersOff)),
                Err(refusal) => tracing::warn!(printer = %self.settings.printer, %refusal,
                    "heaters left as they are: the printer's safety settings refuse the command"),
            },
            (Asked::History { job }, answer) => self.history(job, answer).await,
            (Asked::Identify, Err(e)) => {
                // Not fatal (an agent of the same name may still be connected, say): the
                // websocket works unnamed.
                tracing::warn!(printer = %self.settings.printer, error = %e,
                    "Moonraker refused the gateway's identification");
            }
            (Asked::Subscribe, Err(e)) => {
                // Klippy is not ready: the subscription follows its next `ready`.
                tracing::debug!(printer = %self.settings.printer, error = %e,
                    "Moonraker refused the subscription");
            }
            (Asked::Control(what), Err(e)) => {
                tracing::warn!(printer = %self.settings.printer, what, error = %e,
                    "Moonraker refused a request");
            }
            (asked @ (Asked::Cancel | Asked::HeatersOff), Err(e)) => {
                tracing::warn!(printer = %self.settings.printer, ?asked, error = %e,
                    "Moonraker refused a request");
            }
            (Asked::Delete { path }, Err(e)) => {
                if self.tracker.delete_refused(path.clone()) {
                    tracing::debug!(printer = %self.settings.printer, path, error = %e,
                        "Moonraker refused to delete the job's file; asking again when idle");
                } else {
                    tracing::warn!(printer = %self.settings.printer, path, error = %e,
                        "cannot delete the job's file on Klipper");
                }
            }
            (
                Asked::Identify | Asked::Control(_) | Asked::HeatersOff | Asked::Delete { .. },
                Ok(_),
            ) => {}
        }
    }

    pub async fn notified(&mut self, session: &mut Session, notification: Notification) {
        match notification {
            Notification::StatusUpdate(diff) => {
                self.objects.merge(diff);
                self.look(false).await;
            }
            // A Klippy that comes back has forgotten the subscription: `printer.info`
            // says when to renew it.
            Notification::KlippyReady => {
                session.subscribed = false;
                self.ask_klippy(session);
            }
            // Klippy's message comes with `printer.info` (and the next status update).
            Notification::KlippyShutdown => self.ask_klippy(session),
            Notification::KlippyDisconnected => {
                session.subscribed = false;
                self.objects.klippy_lost();
                self.look(false).await;
            }
        }
    }

    fn ask_klippy(&mut self, session: &mut Session) {
        if !session.info_pending {
            session.info_pending = true;
            self.queue.push_back((Call::PrinterInfo, Asked::KlippyInfo));
        }
    }

    /// `printer.info`: Klippy's state; subscribe once it is ready.
    async fn klippy_info(&mut self, session: &mut Session, answer: Result<Value, RpcError>) {
        session.info_pending = false;
        match answer {
            Ok(info) => self.objects.klippy_info(&info),
            Err(_) => {
                session.subscribed = false;
                self.objects.klippy_lost();
            }
        }
        let socket = matches!(session.channel, Channel::Socket { .. });
        if socket && !session.subscribed && self.objects.klippy().is_ready() {
            self.queue.push_back((Call::Subscribe, Asked::Subscribe));
        }
        self.look(false).await;
    }

    /// The job's print in Moonraker's history, newest first.
    async fn history(&mut self, job: JobId, answer: Result<Value, RpcError>) {
        let path = remote_path(&self.settings.folder, job);
        let recorded = match answer {
            Ok(list) => recorded(&list, &path),
            Err(e) => {
                // Moonraker without `[history]`: no record to go by.
                tracing::warn!(printer = %self.settings.printer, %job, error = %e,
                    "cannot look up how the job ended in Moonraker's history");
                Recorded::Unknown
            }
        };
        let steps = self.tracker.resolved(job, recorded);
        self.run_steps(steps).await;
    }

    pub async fn incoming(&mut self, session: &mut Session, text: &str) {
        match rpc::parse(text) {
            rpc::Incoming::Answer { id, result } => {
                let asked = match &mut session.channel {
                    Channel::Socket { requests, .. } => requests.answered(id),
                    Channel::Polling => None,
                };
                if let Some(asked) = asked {
                    self.answer(session, asked, result).await;
                }
            }
            rpc::Incoming::Notification(notification) => self.notified(session, notification).await,
            rpc::Incoming::Ignored => {}
        }
    }

    /// Carries out the tracker's steps: reports go to the actor, look-ups and deletions
    /// join the queue.
    pub async fn run_steps(&mut self, steps: Vec<Step>) {
        for step in steps {
            match step {
                Step::Report(report) => {
                    if let DriverReport::Finished { job, outcome } = &report {
                        let printed = self.objects.snapshot(false).printed;
                        tracing::info!(printer = %self.settings.printer, %job, ?outcome,
                            print_duration_s = printed.duration_s,
                            filament_mm = printed.filament_mm, "job ended on Klipper");
                    }
                    // Closed only when the actor has stopped, i.e. at shutdown.
                    let _ = self.reports.send(report).await;
                }
                Step::Resolve { job, .. } => self
                    .queue
                    .push_back((Call::History, Asked::History { job })),
                Step::Delete { path } => {
                    let call = Call::Delete {
                        filename: path.clone(),
                    };
                    self.queue.push_back((call, Asked::Delete { path }));
                }
            }
        }
    }

    /// The tracker's look at Klipper's objects as they are now.
    async fn look(&mut self, fresh: bool) {
        let steps = self.tracker.observe(self.objects.snapshot(fresh));
        self.run_steps(steps).await;
    }
}

/// How the newest print of `path` in a `server.history.list` answer ended.
pub fn recorded(list: &Value, path: &str) -> Recorded {
    let jobs = list["jobs"].as_array().map(Vec::as_slice).unwrap_or(&[]);
    jobs.iter()
        .find(|job| job["filename"].as_str() == Some(path))
        .and_then(|job| job["status"].as_str())
        .map_or(Recorded::Unknown, Recorded::parse)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_newest_record_of_the_jobs_file_tells_how_it_ended() {
        let list = json!({"count": 3, "jobs": [
            {"filename": "benchy.gcode", "status": "in_progress"},
            {"filename": "fluxprint/job-7.gcode", "status": "klippy_shutdown"},
            {"filename": "fluxprint/job-7.gcode", "status": "completed"},
        ]});
        assert!(matches!(
            recorded(&list, "fluxprint/job-7.gcode"),
            Recorded::Failed(_)
        ));
        assert_eq!(recorded(&list, "fluxprint/job-8.gcode"), Recorded::Unknown);
        assert_eq!(recorded(&json!({}), "x"), Recorded::Unknown);
    }
}
