//! What the formulas of one cycle read: the values behind the names of
//! `rules/names.rs`, copied from the readings once per cycle and looked up
//! only when a formula asks. A name is parsed by the same [`names::parse`]
//! the checker uses, so what a formula may name and what the cycle can
//! read are one list.

use std::collections::HashMap;
use std::sync::Arc;

use super::budget::Meters;
use super::{total, watts, Now, Site};
use crate::alloc::budget::MeterRole;
use crate::alloc::PerPhase;
use crate::config::{CurrentLimit, SiteParams};
use crate::drivers::evse_powerbrain;
use crate::drivers::{EvseReading, MeterReading, Reading};
use crate::rules::charging::LocalTime;
use crate::rules::formula::{self, Expr, Names};
use crate::rules::names::{
    self, CmField, DateField, DeviceField, GlobalMeter, Name, ParamField, PhaseField, SurplusField,
};

/// A wallbox as formulas see it: its state, the current it offers (mA)
/// and its inputs.
#[derive(Debug, Clone, Copy)]
struct NamedEvse {
    state: u8,
    offered_ma: i64,
    inputs: u8,
}

/// A meter's values formulas read (not the whole reading: the table is
/// made every cycle, for every device).
#[derive(Debug, Clone, Copy)]
struct NamedMeter {
    power_w: i64,
    current_ma: PerPhase,
    import_wh: i64,
    export_wh: i64,
}

impl From<&MeterReading> for NamedMeter {
    fn from(m: &MeterReading) -> Self {
        NamedMeter {
            power_w: m.power_w,
            current_ma: m.current_ma,
            import_wh: m.import_wh,
            export_wh: m.export_wh,
        }
    }
}

/// A device for formulas: lower-case dev_id, its wallbox values, its meter.
#[derive(Debug, Clone)]
struct NamedDevice {
    dev_id: Arc<str>,
    evse: Option<NamedEvse>,
    meter: Option<NamedMeter>,
}

/// The measured global meters `GM.*`, per building phase, mA.
#[derive(Debug, Clone, Copy, Default)]
struct Globals {
    grid_demand: PerPhase,
    consumed: PerPhase,
    produced: PerPhase,
    consumed_evse: PerPhase,
    storage_home: PerPhase,
    storage_all: PerPhase,
    error: PerPhase,
}

/// Values formulas can name, for one cycle.
pub(super) struct NameTable {
    devices: Vec<NamedDevice>,
    local: LocalTime,
    wall_secs: u64,
    price_level: Option<i64>,
    /// The site limit this cycle, mA (0 until it is evaluated).
    pub(super) max_total_current: i64,
    max_total_evse_current: i64,
    reserve_current: i64,
    /// The inputs of the first Power Brain wallbox (`PB.input1`, `PB.input2`).
    pb_inputs: Option<u8>,
    /// What would be fed into the grid, summed over the phases, mA.
    export_sum: i64,
    /// Wallboxes charging now.
    num_charging: i64,
    voltage: i64,
    global: Globals,
    /// The charging-manager variables `CM.<name>`, by lower-case name.
    cm_vars: Arc<HashMap<String, f64>>,
}

impl NameTable {
    /// cFos's surplus (cfos.md §3.10): what goes out to the grid plus what
    /// the cars draw, over all phases, mA.
    fn surplus_sum(&self) -> i64 {
        self.export_sum
            .saturating_add(total(&self.global.consumed_evse))
    }

    fn global(&self, meter: GlobalMeter) -> PerPhase {
        let g = &self.global;
        match meter {
            GlobalMeter::GridDemand => g.grid_demand,
            GlobalMeter::Consumed => g.consumed,
            GlobalMeter::Produced => g.produced,
            GlobalMeter::ConsumedEvse => g.consumed_evse,
            // The site limit less what is drawn that is not cars.
            GlobalMeter::AvailableEvse => [0, 1, 2].map(|p| {
                self.max_total_current
                    .saturating_sub(g.grid_demand[p].saturating_sub(g.consumed_evse[p]))
            }),
            GlobalMeter::StorageHome => g.storage_home,
            GlobalMeter::StorageAll => g.storage_all,
            GlobalMeter::Error => g.error,
        }
    }

    fn date(&self, field: DateField) -> Option<i64> {
        let minutes = self.local.minute_of_day;
        let calendar = self.local.calendar;
        Some(match field {
            DateField::Year => i64::from(calendar.year),
            DateField::Month => i64::from(calendar.month.saturating_sub(1)),
            DateField::Day => i64::from(calendar.day),
            DateField::Yearday => i64::from(calendar.yearday),
            DateField::Weekday => i64::from((self.local.weekday + 1) % 7),
            DateField::Hour => i64::from(minutes / 60),
            DateField::Minute => i64::from(minutes % 60),
            DateField::Second => i64::from(calendar.second),
            DateField::Dayminute => i64::from(minutes),
            DateField::Daysecond => i64::from(minutes) * 60 + i64::from(calendar.second),
            DateField::Dst => i64::from(calendar.dst),
            DateField::Timestamp => i64::try_from(self.wall_secs).ok()?,
        })
    }

    fn cm(&self, field: CmField) -> Option<i64> {
        Some(match field {
            CmField::PriceLevel => self.price_level?,
            CmField::MaxTotalCurrent => self.max_total_current,
            CmField::MaxTotalEvseCurrent => self.max_total_evse_current,
            CmField::NumCharging => self.num_charging,
            CmField::Surplus => watts(self.surplus_sum(), self.voltage),
        })
    }

    fn param(&self, field: ParamField) -> Option<i64> {
        Some(match field {
            ParamField::MaxTotalCurrent => self.max_total_current,
            ParamField::MaxTotalEvseCurrent => self.max_total_evse_current,
            ParamField::ReserveCurrent => self.reserve_current,
            ParamField::Voltage => self.voltage,
            ParamField::PriceLevel => self.price_level?,
        })
    }

    fn phases(&self, ma: PerPhase, field: PhaseField) -> Option<i64> {
        Some(match field {
            PhaseField::Current => ma.iter().copied().max()?,
            PhaseField::Phase(p) => *ma.get(p)?,
            PhaseField::PowerW => watts(total(&ma), self.voltage),
        })
    }

    fn device(&self, dev_id: &str, field: DeviceField) -> Option<i64> {
        let device = self.devices.iter().find(|d| &*d.dev_id == dev_id)?;
        let evse = device.evse.as_ref();
        let meter = device.meter.as_ref();
        Some(match field {
            DeviceField::State => i64::from(evse?.state),
            DeviceField::Offered => evse?.offered_ma,
            DeviceField::Input(input) => input.of(evse?.inputs),
            DeviceField::Meter(PhaseField::PowerW) => meter?.power_w,
            DeviceField::Meter(PhaseField::Current) => meter?.current_ma.iter().copied().max()?,
            DeviceField::Meter(PhaseField::Phase(p)) => *meter?.current_ma.get(p)?,
            DeviceField::ImportWh => meter?.import_wh,
            DeviceField::ExportWh => meter?.export_wh,
        })
    }
}

impl Names for NameTable {
    #[allow(clippy::cast_precision_loss)]
    fn lookup(&self, path: &[String]) -> Option<f64> {
        let value = match names::parse(path).ok()? {
            Name::Date(field) => self.date(field)?,
            Name::Cm(field) => self.cm(field)?,
            Name::CmVar(name) => return self.cm_vars.get(name).copied(),
            Name::Param(field) => self.param(field)?,
            Name::Pb(input) => input.of(self.pb_inputs?),
            Name::Surplus(SurplusField::Current) => self.surplus_sum() / 3,
            Name::Surplus(SurplusField::PowerW) => watts(self.surplus_sum(), self.voltage),
            Name::Global(meter, field) => self.phases(self.global(meter), field)?,
            Name::Device(dev_id, field) => self.device(dev_id, field)?,
        };
        Some(value as f64)
    }
}

impl Site {
    /// The names formulas can use this cycle: devices' values, `date.*`,
    /// `CM.*`, `GM.*`, `param(…)`.
    pub(super) fn names(&self, params: &SiteParams, meters: &Meters, now: &Now) -> NameTable {
        let measured = &meters.measured;
        let sum = |roles: &[MeterRole]| -> PerPhase {
            let mut total = [0i64; 3];
            for m in measured.iter().filter(|m| roles.contains(&m.role)) {
                for (t, ma) in total.iter_mut().zip(m.current_ma) {
                    *t = (*t).saturating_add(ma);
                }
            }
            total
        };
        let produced = sum(&[MeterRole::Production]);
        let grid_demand = if meters.has_grid {
            sum(&[MeterRole::Grid])
        } else {
            let used = sum(&[
                MeterRole::Consumption,
                MeterRole::StorageHome,
                MeterRole::StorageAll,
            ]);
            [0, 1, 2].map(|p| used[p].saturating_sub(produced[p]))
        };
        let global = Globals {
            grid_demand,
            consumed: [0, 1, 2].map(|p| grid_demand[p].saturating_add(produced[p])),
            produced,
            consumed_evse: self.evse_meters(),
            storage_home: sum(&[MeterRole::StorageHome]),
            storage_all: sum(&[MeterRole::StorageAll]),
            error: self.fault_current(now.mono_ms, params.evse_fault_after_s * 1000),
        };
        let num_charging = self
            .devices
            .iter()
            .filter(|t| matches!(&t.reading, Some(Reading::Evse(e)) if e.state.charging()))
            .count();
        NameTable {
            global,
            num_charging: i64::try_from(num_charging).unwrap_or(i64::MAX),
            max_total_evse_current: params.max_total_evse_current,
            reserve_current: params.reserve_current,
            pb_inputs: self.devices.iter().find_map(|t| match &t.reading {
                Some(Reading::Evse(e)) if t.settings.dev_type.is(&evse_powerbrain::DRIVER) => {
                    Some(e.inputs)
                }
                _ => None,
            }),
            devices: self.named_devices(),
            local: now.local,
            wall_secs: now.wall_secs,
            price_level: params.price_level,
            // Set by the cycle once the site formula, if any, is evaluated.
            max_total_current: 0,
            export_sum: meters.export_sum,
            voltage: params.voltage,
            cm_vars: self.cm_vars.clone(),
        }
    }

    /// What the wallboxes' own meters show, on the building's phases.
    fn evse_meters(&self) -> PerPhase {
        let mut consumed_evse = [0i64; 3];
        for t in &self.devices {
            if let Some(EvseReading { meter: Some(m), .. }) = t.evse_reading() {
                let building = t.likely_rotation().to_building_values(m.current_ma);
                for (total, ma) in consumed_evse.iter_mut().zip(building) {
                    *total = (*total).saturating_add(ma);
                }
            }
        }
        consumed_evse
    }

    /// Fault current (cfos.md §3.8): what the silent wallboxes with a car
    /// are counted as drawing, on the building's phases.
    fn fault_current(&self, now: u64, fault_after_ms: u64) -> PerPhase {
        let mut error = [0i64; 3];
        for t in self
            .devices
            .iter()
            .filter(|t| t.offline && t.turn.is_some())
        {
            let draw = t.building_draw(t.draw(now, fault_after_ms));
            for (total, ma) in error.iter_mut().zip(draw) {
                *total = (*total).saturating_add(ma);
            }
        }
        error
    }

    fn named_devices(&self) -> Vec<NamedDevice> {
        self.devices
            .iter()
            .map(|t| {
                let (evse, meter) = match (&t.reading, t.evse_reading()) {
                    (Some(Reading::Meter(m)), _) => (None, Some(NamedMeter::from(m))),
                    (_, Some(e)) => (
                        Some(NamedEvse {
                            state: e.state.code(),
                            offered_ma: e.offered_ma,
                            inputs: e.inputs,
                        }),
                        e.meter.as_ref().map(NamedMeter::from),
                    ),
                    _ => (None, None),
                };
                NamedDevice {
                    dev_id: t.id_lower.clone(),
                    evse,
                    meter,
                }
            })
            .collect()
    }
}

/// A limit's value this cycle, mA: the number, or the formula (parsed in
/// `parsed`) evaluated; 0 while it cannot be evaluated.
pub(super) fn limit_now(limit: &CurrentLimit, parsed: Option<&Expr>, names: &NameTable) -> i64 {
    match (limit, parsed) {
        (CurrentLimit::Fixed(ma), _) => *ma,
        (CurrentLimit::Formula(_), Some(expr)) => {
            formula::eval(expr, names).map_or(0, CurrentLimit::from_formula_value)
        }
        (CurrentLimit::Formula(_), None) => 0,
    }
}

/// A limit's formula, parsed once when it is set.
pub(super) fn max_formula(limit: &CurrentLimit) -> Option<Expr> {
    match limit {
        CurrentLimit::Fixed(_) => None,
        CurrentLimit::Formula(text) => formula::parse(text).ok(),
    }
}
