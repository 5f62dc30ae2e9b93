//! The per-printer metric families, read at scrape time: state (one series per possible
//! state, 1 for the current one), progress, temperatures (actual and target per heater), and
//! the figures each driver keeps about its link (for serial printers the line counters and
//! the `ok` latency histogram), written out by their names and kinds without knowing them.
//!
//! A `Collector` rather than registered metrics: one family per name with a `printer` label
//! on each series, written from a snapshot taken when the scrape starts.

use std::fmt;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeGaugeValue, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;

use crate::domain::Temperature;
use crate::printer::figures::{Figure, Reading};
use crate::printer::{PrinterHandle, PrinterStatus};

/// Every state a printer can show, so each has a series.
const PRINTER_STATES: [&str; 8] = [
    "disconnected",
    "idle",
    "printing",
    "paused",
    "printing-external",
    "awaiting-bed-clear",
    "error",
    "monitor-only",
];

type Labels = Vec<(&'static str, String)>;

#[derive(Debug)]
struct Sample {
    status: PrinterStatus,
    /// The driver's own figures about its link (serial counters, …).
    figures: Vec<Figure>,
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
                    figures: p.figures(),
                })
                .collect(),
        )
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
        self.encode_figures(&mut encoder)
    }
}

impl PrinterSamples {
    /// The drivers' figures: one family per name, in the order they are first met, with a
    /// series per printer that has it. A printer whose figure of that name is of another
    /// kind than the family's is left out of it (two drivers disagreeing on a name).
    fn encode_figures(&self, encoder: &mut DescriptorEncoder) -> fmt::Result {
        let mut families: Vec<&Figure> = Vec::new();
        for figure in self.0.iter().flat_map(|s| &s.figures) {
            if !families.iter().any(|f| f.name == figure.name) {
                families.push(figure);
            }
        }
        for first in families {
            let kind = match first.reading {
                Reading::Counter(_) => MetricType::Counter,
                Reading::Gauge(_) => MetricType::Gauge,
                Reading::Histogram(_) => MetricType::Histogram,
            };
            let mut family = encoder.encode_descriptor(first.name, first.help, None, kind)?;
            let same = |f: &&Figure| f.name == first.name && f.reading.same_kind(&first.reading);
            for sample in &self.0 {
                if let Some(figure) = sample.figures.iter().find(same) {
                    let labels = sample.printer();
                    encode_reading(family.encode_family(&labels)?, &figure.reading)?;
                }
            }
        }
        Ok(())
    }
}

/// One printer's series of a figure.
fn encode_reading(mut series: MetricEncoder, reading: &Reading) -> fmt::Result {
    match reading {
        Reading::Counter(value) => series.encode_counter::<NoLabelSet, u64, u64>(value, None),
        Reading::Gauge(value) => series.encode_gauge(value),
        Reading::Histogram(h) => {
            series.encode_histogram::<NoLabelSet>(h.sum, h.count, &h.buckets, None)
        }
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

#[cfg(test)]
mod tests {
    use prometheus_client::registry::Registry;

    use super::*;
    use crate::domain::{PrinterId, PrinterState, Temperatures};
    use crate::printer::figures::Histogram;

    fn sample(id: &str, figures: Vec<Figure>) -> Sample {
        let status = PrinterStatus {
            id: PrinterId(id.into()),
            state: PrinterState::Idle,
            temperatures: Temperatures::default(),
            current: None,
            accuracy: Default::default(),
            external: None,
        };
        Sample { status, figures }
    }

    fn scrape(samples: Vec<Sample>) -> String {
        let mut registry = Registry::with_prefix("fluxprint");
        registry.register_collector(Box::new(PrinterSamples(samples)));
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        text
    }

    #[test]
    fn each_figure_is_one_family_with_a_series_per_printer_that_has_it() {
        let latency = Histogram {
            buckets: vec![(0.1, 2), (f64::INFINITY, 1)],
            sum: 0.5,
            count: 3,
        };
        let a = vec![
            Figure::counter("link_lines", "Lines", 7),
            Figure::gauge("link_mode", "Mode", 1),
            Figure::histogram("link_latency_seconds", "Latency", latency),
        ];
        let b = vec![
            Figure::counter("link_lines", "Lines", 9),
            // Another kind under a name already taken: left out rather than mislabelled.
            Figure::counter("link_mode", "Mode", 5),
        ];
        let text = scrape(vec![sample("a", a), sample("none", vec![]), sample("b", b)]);
        let lines: Vec<&str> = text.lines().collect();
        for expected in [
            "# TYPE fluxprint_link_lines counter",
            "fluxprint_link_lines_total{printer=\"a\"} 7",
            "fluxprint_link_lines_total{printer=\"b\"} 9",
            "# TYPE fluxprint_link_mode gauge",
            "fluxprint_link_mode{printer=\"a\"} 1",
            "# TYPE fluxprint_link_latency_seconds histogram",
            "fluxprint_link_latency_seconds_count{printer=\"a\"} 3",
            "fluxprint_link_latency_seconds_bucket{le=\"+Inf\",printer=\"a\"} 3",
        ] {
            assert!(lines.contains(&expected), "{expected} missing from\n{text}");
        }
        assert_eq!(text.matches("# TYPE fluxprint_link_lines ").count(), 1);
        let of_none = |l: &&str| l.starts_with("fluxprint_link") && l.contains("\"none\"");
        assert!(!lines.iter().any(of_none), "{text}");
        assert!(!text.contains("fluxprint_link_mode_total"), "{text}");
        assert!(!text.contains("printer=\"b\"} 5"), "{text}");
        let at = |needle: &str| text.find(needle).unwrap();
        assert!(
            at("fluxprint_link_lines ") < at("fluxprint_link_mode ")
                && at("fluxprint_link_mode ") < at("fluxprint_link_latency_seconds ")
        );
    }
}
