//! The per-printer metric families, read at scrape time: state (one series per possible
//! state, 1 for the current one), progress, temperatures (actual and target per heater), and
//! for serial printers the link's counters and `ok` latency histogram.
//!
//! A `Collector` rather than registered metrics: one family per name with a `printer` label
//! on each series, written from a snapshot taken when the scrape starts.

use std::fmt;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeGaugeValue, NoLabelSet};
use prometheus_client::metrics::MetricType;

use crate::domain::Temperature;
use crate::printer::serial::{LatencySnapshot, StatsSnapshot};
use crate::printer::{PrinterHandle, PrinterStatus};

/// Every state a printer can show, so each has a series.
const PRINTER_STATES: [&str; 7] = [
    "disconnected",
    "idle",
    "printing",
    "paused",
    "printing-external",
    "awaiting-bed-clear",
    "error",
];

type Labels = Vec<(&'static str, String)>;

/// A serial counter family: name, help, and how to read it from a snapshot.
type SerialCounter = (&'static str, &'static str, fn(&StatsSnapshot) -> u64);

#[derive(Debug)]
struct Sample {
    status: PrinterStatus,
    serial: Option<(StatsSnapshot, LatencySnapshot)>,
}

/// Every printer as it is at the start of a scrape.
#[derive(Debug)]
pub(super) struct PrinterSamples(Vec<Sample>);

impl PrinterSamples {
    pub(super) fn now(printers: &[PrinterHandle]) -> PrinterSamples {
        PrinterSamples(
            printers
                .iter()
                .map(|p| Sample {
                    status: p.status(),
                    serial: p.serial_stats().map(|s| (s.snapshot(), s.ok_latency())),
                })
                .collect(),
        )
    }

    fn serial(&self) -> impl Iterator<Item = (&Sample, &StatsSnapshot)> {
        self.0
            .iter()
            .filter_map(|s| s.serial.as_ref().map(|(stats, _)| (s, stats)))
    }
}

impl Sample {
    fn printer(&self) -> Labels {
        vec![("printer", self.status.id.to_string())]
    }

    fn heaters(&self) -> impl Iterator<Item = (Labels, &Temperature)> {
        let hotends = self.status.temperatures.hotends.iter().enumerate();
        let hotends = hotends.map(|(i, t)| (format!("hotend{i}"), t));
        let bed = self
            .status
            .temperatures
            .bed
            .iter()
            .map(|t| ("bed".into(), t));
        hotends.chain(bed).map(|(heater, t)| {
            let mut labels = self.printer();
            labels.push(("heater", heater));
            (labels, t)
        })
    }
}

impl Collector for PrinterSamples {
    fn encode(&self, mut encoder: DescriptorEncoder) -> fmt::Result {
        let states = self.0.iter().flat_map(|s| {
            PRINTER_STATES.into_iter().map(move |state| {
                let mut labels = s.printer();
                labels.push(("state", state.to_owned()));
                (labels, i64::from(s.status.state.as_str() == state))
            })
        });
        let help = "Printer state: 1 for the state it is in, 0 for the others";
        gauges(&mut encoder, "printer_state", help, states)?;
        let progress = self.0.iter().map(|s| {
            let percent = s.status.current.map_or(0, |c| c.progress.get());
            (s.printer(), i64::from(percent))
        });
        let help = "Progress of the job on the printer, percent (0 without a job)";
        gauges(&mut encoder, "printer_progress_percent", help, progress)?;
        let actual = self.0.iter().flat_map(|s| s.heaters());
        let actual = actual.map(|(labels, t)| (labels, t.actual_c));
        let help = "Heater temperature, degrees Celsius";
        gauges(&mut encoder, "printer_temperature_celsius", help, actual)?;
        let target = self.0.iter().flat_map(|s| s.heaters());
        let target = target.filter_map(|(labels, t)| t.target_c.map(|c| (labels, c)));
        let help = "Heater target temperature, degrees Celsius";
        gauges(
            &mut encoder,
            "printer_temperature_target_celsius",
            help,
            target,
        )?;
        self.encode_serial(&mut encoder)
    }
}

impl PrinterSamples {
    fn encode_serial(&self, encoder: &mut DescriptorEncoder) -> fmt::Result {
        let counters: [SerialCounter; 6] = [
            (
                "serial_lines_sent",
                "Numbered lines written to the printer, resends included",
                |s| s.lines_sent,
            ),
            (
                "serial_lines_acked",
                "Lines the printer acknowledged with ok",
                |s| s.lines_acked,
            ),
            (
                "serial_bytes_written",
                "Bytes written to the serial port",
                |s| s.bytes_written,
            ),
            (
                "serial_resend_requests",
                "Lines the firmware asked to have resent",
                |s| s.resend_requests,
            ),
            (
                "serial_timeouts",
                "Times the printer did not answer in time",
                |s| s.timeouts,
            ),
            (
                "serial_flow_fallbacks",
                "Times windowed streaming fell back to ping-pong",
                |s| s.fallbacks,
            ),
        ];
        for (name, help, value) in counters {
            let mut family = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
            for (sample, stats) in self.serial() {
                family
                    .encode_family(&sample.printer())?
                    .encode_counter::<NoLabelSet, u64, u64>(&value(stats), None)?;
            }
        }
        let windowed = self
            .serial()
            .map(|(s, stats)| (s.printer(), i64::from(stats.windowed)));
        let help = "Flow control: 1 windowed, 0 ping-pong";
        gauges(encoder, "serial_flow_windowed", help, windowed)?;
        let help = "Time from a line's write to its ok, seconds";
        let mut family = encoder.encode_descriptor(
            "serial_ok_latency_seconds",
            help,
            None,
            MetricType::Histogram,
        )?;
        for sample in &self.0 {
            if let Some((_, latency)) = &sample.serial {
                family
                    .encode_family(&sample.printer())?
                    .encode_histogram::<NoLabelSet>(
                        latency.sum_seconds,
                        latency.count,
                        &latency.buckets,
                        None,
                    )?;
            }
        }
        Ok(())
    }
}

/// One gauge family `name` with a series per `(labels, value)`.
fn gauges<V: EncodeGaugeValue>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    series: impl Iterator<Item = (Labels, V)>,
) -> fmt::Result {
    let mut family = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
    for (labels, value) in series {
        family.encode_family(&labels)?.encode_gauge(&value)?;
    }
    Ok(())
}
