//! Step 1 of the cycle, meters and roles → the site budget: which meters
//! the house load is computed from and whether they are fresh, what the
//! rules see of the sun and the grid, and (once the wallboxes' draw is
//! known) the house load, the overdraw and what the wallboxes may draw.

use super::views::{meter_view, MeterView};
use super::{total, Now, Site};
use crate::alloc::budget::{self, MeterLoad, MeterRole};
use crate::alloc::PerPhase;
use crate::config::{DeviceSettings, SiteParams};
use crate::drivers::{MeterReading, Reading};

/// The meters this cycle.
#[derive(Debug, Default)]
pub(super) struct Meters {
    pub(super) has_grid: bool,
    /// The meters the house load is computed from that are silent or never
    /// answered, by dev_id: while there are any, cars get their minimum.
    pub(super) stale: Vec<String>,
    /// The readings the house load is computed from.
    pub(super) used: Vec<MeterLoad>,
    /// Every one of those was read since the last cycle.
    pub(super) fresh: bool,
    /// Every meter's reading, for what the rules and formulas see.
    pub(super) measured: Vec<MeterLoad>,
    /// Per device, in declaration order.
    pub(super) views: Vec<Option<MeterView>>,
    /// Solar production, summed over the phases, mA.
    pub(super) solar_sum: i64,
    /// What would be fed into the grid, summed over the phases, mA.
    pub(super) export_sum: i64,
}

impl Meters {
    pub(super) fn any_stale(&self) -> bool {
        !self.stale.is_empty()
    }
}

/// The site's budget this cycle, per building phase, mA.
#[derive(Debug, Clone, Copy)]
pub(super) struct Budget {
    /// The site limit (`max_total_current`, evaluated).
    pub(super) max_total_ma: i64,
    /// What the wallboxes draw.
    pub(super) evse_ma: PerPhase,
    /// What the rest of the house draws.
    pub(super) house_ma: PerPhase,
    /// What the wallboxes may draw.
    pub(super) available_ma: PerPhase,
}

impl Site {
    /// Gives each wallbox with an `attach` its meter's reading, while that
    /// meter answers (a silent one leaves the wallbox to its own values).
    pub(super) fn attach_meters(&mut self, now: u64, stale_after: u64) {
        // Only the wallboxes with an `attach` (a list of them all, with
        // 10 000 devices, was the largest allocation of the cycle).
        let readings: Vec<(usize, Option<MeterReading>)> = self
            .devices
            .iter()
            .enumerate()
            .filter_map(|(i, t)| Some((i, t.settings.attached()?)))
            .map(|(i, attach)| {
                let meter = self
                    .devices
                    .iter()
                    .find(|m| m.settings.dev_id.eq_ignore_ascii_case(attach));
                let reading = meter.and_then(|meter| {
                    let fresh = !meter.offline
                        && meter
                            .last_ok
                            .is_some_and(|at| now.saturating_sub(at) <= stale_after);
                    match &meter.reading {
                        Some(Reading::Meter(m)) if fresh => {
                            Some(inverted(m, meter.settings.invert))
                        }
                        _ => None,
                    }
                });
                (i, reading)
            })
            .collect();
        for t in &mut self.devices {
            t.attached = None;
        }
        for (i, reading) in readings {
            self.devices[i].attached = reading;
        }
    }

    /// The meters by their roles. Only the meters the house load is
    /// computed from matter for it: with a grid meter those are the grid
    /// and EV meters, else the others.
    pub(super) fn read_meters(&self, now: u64, stale_after: u64) -> Meters {
        let has_grid = self
            .devices
            .iter()
            .any(|t| meter_role(&t.settings) == Some(MeterRole::Grid));
        let mut meters = Meters {
            has_grid,
            fresh: true,
            views: vec![None; self.devices.len()],
            ..Meters::default()
        };
        for (i, t) in self.devices.iter().enumerate() {
            let Some(role) = meter_role(&t.settings) else {
                continue;
            };
            let reading = match &t.reading {
                Some(Reading::Meter(m)) => Some(inverted(m, t.settings.invert)),
                _ => None,
            };
            if let Some(m) = &reading {
                meters.views[i] = Some(meter_view(m));
                meters.measured.push(MeterLoad {
                    role,
                    current_ma: m.current_ma,
                });
            }
            let used = match role {
                MeterRole::Display => false,
                MeterRole::Grid | MeterRole::Vehicle => has_grid,
                MeterRole::Consumption
                | MeterRole::Production
                | MeterRole::StorageHome
                | MeterRole::StorageAll => !has_grid,
            };
            if !used {
                continue;
            }
            // A meter that never answered tells nothing about the house:
            // as stale as one that stopped answering.
            let silent = t
                .last_ok
                .is_none_or(|at| now.saturating_sub(at) > stale_after);
            if silent || reading.is_none() {
                meters.stale.push(t.settings.dev_id.clone());
            }
            if let Some(m) = reading {
                meters.fresh &= t.fresh;
                meters.used.push(MeterLoad {
                    role,
                    current_ma: m.current_ma,
                });
            }
        }
        meters.solar_sum = sum_of(&meters.measured, &[MeterRole::Production], |x| x);
        meters.export_sum = export_sum(&meters.measured, has_grid);
        meters
    }

    /// The house load and what the wallboxes may draw, given what they draw
    /// now (`evse_ma`); records an overdraw of the site limit.
    pub(super) fn budget(
        &mut self,
        meters: &Meters,
        evse_ma: PerPhase,
        max_total_ma: i64,
        params: &SiteParams,
        now: &Now,
    ) -> Budget {
        // A grid meter's reading less what the wallboxes draw now would
        // count the wallboxes' change since the reading as house load (and
        // a car that started since as current to spare): an older grid
        // reading goes with the wallboxes' draw at its time.
        let house_ma = match self.grid_house {
            Some(then) if meters.has_grid && !meters.fresh => then,
            _ => budget::house_load(&meters.used, evse_ma),
        };
        if meters.has_grid && meters.fresh {
            self.grid_house = Some(house_ma);
        }
        if !meters.used.is_empty() && now.mono_ms >= self.overdraft_grace_until {
            let total = [0, 1, 2].map(|p| house_ma[p].saturating_add(evse_ma[p]));
            self.overdraft.record(total, max_total_ma, now.mono_ms);
        }
        let penalty = self.overdraft.penalty(now.mono_ms);
        Budget {
            max_total_ma,
            evse_ma,
            house_ma,
            available_ma: budget::available(
                max_total_ma,
                params.reserve_current,
                house_ma,
                penalty,
            ),
        }
    }
}

/// What the meters with these roles show, each meter's phase sum taken
/// through `part`, summed.
fn sum_of(measured: &[MeterLoad], roles: &[MeterRole], part: fn(i64) -> i64) -> i64 {
    measured
        .iter()
        .filter(|m| roles.contains(&m.role))
        .map(|m| part(total(&m.current_ma)))
        .fold(0, i64::saturating_add)
}

/// What would be fed into the grid, summed over the phases, mA: what the
/// charging rules see as surplus.
fn export_sum(measured: &[MeterLoad], has_grid: bool) -> i64 {
    let all = |x: i64| x;
    let charging = |x: i64| x.max(0);
    let discharging = |x: i64| x.saturating_neg().max(0);
    // Batteries (positive while charging, cfos.md §3.10): what a battery
    // charges with is surplus the car may take instead; what a home
    // battery discharges is not surplus, what an "all" battery
    // discharges is.
    let batteries = [MeterRole::StorageHome, MeterRole::StorageAll];
    if has_grid {
        // The grid meter nets the batteries in: take them back out.
        sum_of(measured, &[MeterRole::Grid], all)
            .saturating_neg()
            .saturating_add(sum_of(measured, &batteries, charging))
            .saturating_sub(sum_of(measured, &[MeterRole::StorageHome], discharging))
    } else {
        sum_of(measured, &[MeterRole::Production], all)
            - sum_of(measured, &[MeterRole::Consumption], all)
            + sum_of(measured, &[MeterRole::StorageAll], discharging)
    }
}

fn meter_role(settings: &DeviceSettings) -> Option<MeterRole> {
    if settings.dev_type.is_evse() {
        return None;
    }
    Some(settings.role)
}

fn inverted(m: &MeterReading, invert: bool) -> MeterReading {
    if !invert {
        return m.clone();
    }
    MeterReading {
        current_ma: m.current_ma.map(i64::saturating_neg),
        power_w: m.power_w.saturating_neg(),
        import_wh: m.export_wh,
        export_wh: m.import_wh,
        ..m.clone()
    }
}
