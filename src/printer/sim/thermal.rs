//! Heater model: each heater moves linearly toward its target (heating at the configured
//! rate, cooling at half of it, never below ambient), so the time a temperature is reached is
//! known exactly and the firmware can sleep until then instead of ticking.

use crate::config::{FirmwareFlavor, SimConfig};

/// Temperatures within this distance count as equal (float rounding only).
const EPSILON_C: f64 = 1e-6;

/// Which heater a command or fault is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaterId {
    Hotend,
    Bed,
}

impl HeaterId {
    /// How Marlin names the heater in `Heater_ID:` messages.
    pub(super) fn marlin_id(self) -> &'static str {
        match self {
            HeaterId::Hotend => "0",
            HeaterId::Bed => "bed",
        }
    }
}

/// A heater's temperature and target, for tests and the status page.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HeaterState {
    pub current_c: f64,
    pub target_c: f64,
}

#[derive(Debug, Clone)]
pub(super) struct Heater {
    temp: f64,
    target: f64,
    heat_per_ms: f64,
    cool_per_ms: f64,
    ambient: f64,
    max_c: f64,
}

impl Heater {
    fn new(rate_c_per_s: f64, config: &SimConfig, max_c: f64) -> Self {
        let heat_per_ms = rate_c_per_s * config.speed_up / 1000.0;
        Self {
            temp: config.ambient_c,
            target: 0.0,
            heat_per_ms,
            cool_per_ms: heat_per_ms / 2.0,
            ambient: config.ambient_c,
            max_c,
        }
    }

    pub(super) fn state(&self) -> HeaterState {
        HeaterState {
            current_c: self.temp,
            target_c: self.target,
        }
    }

    pub(super) fn set_target(&mut self, target: f64) {
        self.target = if target.is_finite() {
            target.max(0.0)
        } else {
            0.0
        };
    }

    /// Where cooling stops: the target, or the room when the target is below it.
    fn floor(&self) -> f64 {
        self.target.max(self.ambient)
    }

    fn advance(&mut self, dt_ms: u64) {
        let dt = dt_ms as f64;
        if self.temp < self.target {
            self.temp = (self.temp + self.heat_per_ms * dt).min(self.target);
        } else if self.temp > self.floor() {
            self.temp = (self.temp - self.cool_per_ms * dt).max(self.floor());
        }
    }

    /// Milliseconds until the temperature reaches `goal`, or `None` if it never will.
    pub(super) fn ms_until(&self, goal: f64) -> Option<u64> {
        let gap = goal - self.temp;
        if gap.abs() < EPSILON_C {
            return Some(0);
        }
        let ms = if gap > 0.0 && goal <= self.target + EPSILON_C {
            gap / self.heat_per_ms
        } else if gap < 0.0 && goal >= self.floor() - EPSILON_C {
            -gap / self.cool_per_ms
        } else {
            return None;
        };
        // `as` saturates; a sane config never comes near u64::MAX milliseconds.
        Some(ms.ceil() as u64)
    }

    /// Whether an `M109`-style wait for `goal` is over; `cooling_too` is the `R` form.
    pub(super) fn reached(&self, goal: f64, cooling_too: bool) -> bool {
        if cooling_too {
            (self.temp - goal).abs() < EPSILON_C
        } else {
            self.temp >= goal - EPSILON_C
        }
    }

    fn over_max(&self) -> bool {
        self.temp >= self.max_c - EPSILON_C
    }

    /// Marlin's `@:` power on AVR's 0..127 scale.
    fn power(&self) -> u8 {
        if self.temp < self.target - EPSILON_C {
            127
        } else if self.target > 0.0 {
            32
        } else {
            0
        }
    }
}

/// The hotend and the bed.
#[derive(Debug, Clone)]
pub(super) struct Thermal {
    pub(super) hotend: Heater,
    pub(super) bed: Heater,
}

impl Thermal {
    pub(super) fn new(config: &SimConfig) -> Self {
        Self {
            hotend: Heater::new(config.hotend_heat_rate_c_per_s, config, config.max_hotend_c),
            bed: Heater::new(config.bed_heat_rate_c_per_s, config, config.max_bed_c),
        }
    }

    pub(super) fn heater(&self, id: HeaterId) -> &Heater {
        match id {
            HeaterId::Hotend => &self.hotend,
            HeaterId::Bed => &self.bed,
        }
    }

    pub(super) fn heater_mut(&mut self, id: HeaterId) -> &mut Heater {
        match id {
            HeaterId::Hotend => &mut self.hotend,
            HeaterId::Bed => &mut self.bed,
        }
    }

    pub(super) fn advance(&mut self, dt_ms: u64) {
        self.hotend.advance(dt_ms);
        self.bed.advance(dt_ms);
    }

    pub(super) fn switch_off(&mut self) {
        self.hotend.set_target(0.0);
        self.bed.set_target(0.0);
    }

    /// A heater at or past its MAXTEMP.
    pub(super) fn over_max(&self) -> Option<HeaterId> {
        [HeaterId::Hotend, HeaterId::Bed]
            .into_iter()
            .find(|id| self.heater(*id).over_max())
    }

    /// Milliseconds until some heater crosses its MAXTEMP, when one is heading there.
    pub(super) fn ms_until_over_max(&self) -> Option<u64> {
        [&self.hotend, &self.bed]
            .into_iter()
            .filter(|h| h.target > h.max_c)
            .filter_map(|h| h.ms_until(h.max_c))
            .min()
    }

    /// The temperature report without the leading `ok`, with Marlin's leading space.
    pub(super) fn report(&self, flavor: FirmwareFlavor) -> String {
        let (h, b) = (&self.hotend, &self.bed);
        match flavor {
            FirmwareFlavor::Marlin => format!(
                " T:{:.2} /{:.2} B:{:.2} /{:.2} @:{} B@:{}",
                h.temp,
                h.target,
                b.temp,
                b.target,
                h.power(),
                b.power()
            ),
            FirmwareFlavor::Prusa => format!(
                " T:{:.1} /{:.1} B:{:.1} /{:.1} T0:{:.1} /{:.1} @:{} B@:{} P:0.0 A:{:.1}",
                h.temp,
                h.target,
                b.temp,
                b.target,
                h.temp,
                h.target,
                h.power(),
                b.power(),
                h.ambient
            ),
            FirmwareFlavor::Klipper => format!(
                " B:{:.1} /{:.1} T0:{:.1} /{:.1}",
                b.temp, b.target, h.temp, h.target
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heater_reaches_its_target_at_the_configured_rate_and_cools_to_ambient() {
        let config = SimConfig::default();
        let mut thermal = Thermal::new(&config);
        thermal.hotend.set_target(205.0);
        assert_eq!(thermal.hotend.ms_until(205.0), Some(90_000));
        thermal.advance(45_000);
        assert!((thermal.hotend.state().current_c - 115.0).abs() < 1e-9);
        thermal.advance(45_000);
        assert!(thermal.hotend.reached(205.0, false));
        thermal.switch_off();
        assert_eq!(thermal.hotend.ms_until(25.0), Some(180_000));
        assert_eq!(thermal.hotend.ms_until(20.0), None);
    }

    #[test]
    fn a_target_above_maxtemp_is_reported_as_heading_for_a_fault() {
        let config = SimConfig::default();
        let mut thermal = Thermal::new(&config);
        thermal.hotend.set_target(300.0);
        let eta = thermal.ms_until_over_max().expect("heading past MAXTEMP");
        assert_eq!(eta, 125_000);
        thermal.advance(eta);
        assert_eq!(thermal.over_max(), Some(HeaterId::Hotend));
    }
}
