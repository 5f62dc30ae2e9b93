//! The `[cloud]` link options beyond the broker URL and the TLS files: protocol version,
//! keepalive, telemetry pace, the command size limit and the events outbox retention.
//! Every key has a default; each is range-checked so a typo cannot make the link useless
//! (a zero keepalive, a one-byte command limit) or the outbox unbounded.

use std::ops::RangeInclusive;
use std::time::Duration;

use super::Problem;
use super::raw::RawCloud;
use super::validate::Problems;

/// MQTT protocol version of the cloud link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MqttVersion {
    /// MQTT 3.1.1 (`cloud.mqtt_version = 4`).
    V4,
    /// MQTT 5 (`cloud.mqtt_version = 5`, the default).
    V5,
}

/// `[cloud]` link options, validated, defaults applied.
#[derive(Debug, Clone, PartialEq)]
pub struct LinkOptions {
    pub mqtt_version: MqttVersion,
    pub keepalive: Duration,
    /// Telemetry pace while no printer prints.
    pub telemetry_idle: Duration,
    /// Telemetry pace while any printer prints.
    pub telemetry_printing: Duration,
    /// Larger command payloads get an error reply and are not parsed.
    pub max_command_bytes: usize,
    /// Beyond this many unacknowledged events the oldest leave the outbox (with an
    /// `events:dropped` event saying which).
    pub outbox_max_events: u64,
    /// Unacknowledged events older than this leave the outbox (with `events:dropped`).
    pub outbox_max_age: Duration,
    /// `renew_at_percent`: the share of the certificate's lifetime after which the gateway
    /// asks for a new one (`gateway:cert-renewal`).
    pub renew_at_percent: u8,
}

pub const DEFAULT_KEEPALIVE_S: u64 = 30;
pub const DEFAULT_TELEMETRY_INTERVAL_S: u64 = 5;
pub const DEFAULT_TELEMETRY_PRINTING_INTERVAL_S: u64 = 2;
pub const DEFAULT_MAX_COMMAND_BYTES: u64 = 64 * 1024;
pub const DEFAULT_OUTBOX_MAX_EVENTS: u64 = 100_000;
pub const DEFAULT_OUTBOX_MAX_AGE_DAYS: u64 = 30;
/// Two thirds of the lifetime: a one-year certificate is renewed four months ahead, a 90-day
/// one a month ahead — time for an offline gateway or a slow cloud.
pub const DEFAULT_RENEW_AT_PERCENT: u64 = 67;
/// The MQTT packet size the link accepts and sends; commands are capped far below it by
/// `max_command_bytes`, so a too-large command is answered rather than dropping the link.
pub const MAX_PACKET_BYTES: u64 = 1024 * 1024;

impl Default for LinkOptions {
    fn default() -> Self {
        let secs = Duration::from_secs;
        LinkOptions {
            mqtt_version: MqttVersion::V5,
            keepalive: secs(DEFAULT_KEEPALIVE_S),
            telemetry_idle: secs(DEFAULT_TELEMETRY_INTERVAL_S),
            telemetry_printing: secs(DEFAULT_TELEMETRY_PRINTING_INTERVAL_S),
            max_command_bytes: DEFAULT_MAX_COMMAND_BYTES as usize,
            outbox_max_events: DEFAULT_OUTBOX_MAX_EVENTS,
            outbox_max_age: secs(DEFAULT_OUTBOX_MAX_AGE_DAYS * 86_400),
            renew_at_percent: DEFAULT_RENEW_AT_PERCENT as u8,
        }
    }
}

pub(crate) fn link_options(raw: &RawCloud, problems: &mut Problems) -> Option<LinkOptions> {
    let mut check = |key: &str, value: Option<u64>, default: u64, range: RangeInclusive<u64>| {
        let value = value.unwrap_or(default);
        let checked = if range.contains(&value) {
            Ok(value)
        } else {
            Err(Problem::OutOfRange {
                value,
                min: *range.start(),
                max: *range.end(),
            })
        };
        problems.check(&format!("cloud.{key}"), checked)
    };
    let version = check("mqtt_version", raw.mqtt_version, 5, 4..=5);
    let keepalive = check(
        "keepalive_s",
        raw.keepalive_s,
        DEFAULT_KEEPALIVE_S,
        5..=3600,
    );
    let idle = check(
        "telemetry_interval_s",
        raw.telemetry_interval_s,
        DEFAULT_TELEMETRY_INTERVAL_S,
        1..=3600,
    );
    let printing = check(
        "telemetry_printing_interval_s",
        raw.telemetry_printing_interval_s,
        DEFAULT_TELEMETRY_PRINTING_INTERVAL_S,
        1..=3600,
    );
    let command = check(
        "max_command_bytes",
        raw.max_command_bytes,
        DEFAULT_MAX_COMMAND_BYTES,
        1024..=MAX_PACKET_BYTES / 2,
    );
    let events = check(
        "outbox_max_events",
        raw.outbox_max_events,
        DEFAULT_OUTBOX_MAX_EVENTS,
        100..=10_000_000,
    );
    let age = check(
        "outbox_max_age_days",
        raw.outbox_max_age_days,
        DEFAULT_OUTBOX_MAX_AGE_DAYS,
        1..=3650,
    );
    let renew = check(
        "renew_at_percent",
        raw.renew_at_percent,
        DEFAULT_RENEW_AT_PERCENT,
        1..=99,
    );
    Some(LinkOptions {
        mqtt_version: if version? == 4 {
            MqttVersion::V4
        } else {
            MqttVersion::V5
        },
        keepalive: Duration::from_secs(keepalive?),
        telemetry_idle: Duration::from_secs(idle?),
        telemetry_printing: Duration::from_secs(printing?),
        max_command_bytes: command? as usize,
        outbox_max_events: events?,
        outbox_max_age: Duration::from_secs(age? * 86_400),
        renew_at_percent: renew? as u8,
    })
}
