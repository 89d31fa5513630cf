//! How much current the EVSEs may draw: the site limit less the reserve,
//! the load that is not EVSEs, and a penalty after an overdraw. Pure code.
//!
//! The non-EVSE ("house") load per phase comes from:
//! - a grid meter (role 3): grid − what the EVSEs draw (their meters, or an
//!   EV-consumption meter, role 4, measuring all of them); or else
//! - consumption (1) and storage (5, 6) meters, less production (2); or else
//! - nothing: no meters, so the site limit is shared as if the house drew 0.

use std::collections::VecDeque;

use super::PerPhase;

/// What a meter is for in the load calculation (`role` in the API).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MeterRole {
    Display,
    Consumption,
    Production,
    Grid,
    Vehicle,
    StorageHome,
    StorageAll,
}

impl MeterRole {
    pub fn from_code(code: i64) -> Option<Self> {
        Some(match code {
            0 => MeterRole::Display,
            1 => MeterRole::Consumption,
            2 => MeterRole::Production,
            3 => MeterRole::Grid,
            4 => MeterRole::Vehicle,
            5 => MeterRole::StorageHome,
            6 => MeterRole::StorageAll,
            _ => return None,
        })
    }

    pub fn code(self) -> i64 {
        match self {
            MeterRole::Display => 0,
            MeterRole::Consumption => 1,
            MeterRole::Production => 2,
            MeterRole::Grid => 3,
            MeterRole::Vehicle => 4,
            MeterRole::StorageHome => 5,
            MeterRole::StorageAll => 6,
        }
    }
}

/// One meter's currents on the building's phases (signed, mA).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MeterLoad {
    pub role: MeterRole,
    pub current_ma: PerPhase,
}

// All budget arithmetic saturates: a reading at the edge of `i64` (which
// plausibility checks refuse before it gets here) must never wrap round
// into a large free current.

fn add(a: PerPhase, b: PerPhase) -> PerPhase {
    [0, 1, 2].map(|p| a[p].saturating_add(b[p]))
}

fn sub(a: PerPhase, b: PerPhase) -> PerPhase {
    [0, 1, 2].map(|p| a[p].saturating_sub(b[p]))
}

fn sum_of(meters: &[MeterLoad], roles: &[MeterRole]) -> Option<PerPhase> {
    meters
        .iter()
        .filter(|m| roles.contains(&m.role))
        .map(|m| m.current_ma)
        .reduce(add)
}

/// The load that is not EVSEs, per phase. `evse_draw_ma` is what the EVSEs
/// draw on each building phase (measured, or assumed where unmetered).
pub fn house_load(meters: &[MeterLoad], evse_draw_ma: PerPhase) -> PerPhase {
    if let Some(grid) = sum_of(meters, &[MeterRole::Grid]) {
        let evses = sum_of(meters, &[MeterRole::Vehicle]).unwrap_or(evse_draw_ma);
        return sub(grid, evses);
    }
    let consumption = sum_of(
        meters,
        &[
            MeterRole::Consumption,
            MeterRole::StorageHome,
            MeterRole::StorageAll,
        ],
    )
    .unwrap_or([0; 3]);
    let production = sum_of(meters, &[MeterRole::Production]).unwrap_or([0; 3]);
    sub(consumption, production)
}

/// How long an overdraw keeps lowering the available current (cfos: 5 min,
/// so the fuse can cool).
pub const OVERDRAFT_PENALTY_MS: u64 = 5 * 60 * 1000;

/// Remembers overdraws above the site limit.
#[derive(Debug, Clone, Default)]
pub struct Overdraft {
    recent: VecDeque<(u64, PerPhase)>,
    /// Largest overdraw seen (mA), `overdraft_cur` in the API; resettable.
    pub max_seen_ma: i64,
}

impl Overdraft {
    /// Notes the site's total load per phase at `now` (ms).
    pub fn record(&mut self, total_ma: PerPhase, limit_ma: i64, now: u64) {
        let over = total_ma.map(|t| t.saturating_sub(limit_ma).max(0));
        if over.iter().any(|o| *o > 0) {
            self.max_seen_ma = self
                .max_seen_ma
                .max(over.iter().copied().max().unwrap_or(0));
            self.recent.push_back((now, over));
        }
        while self
            .recent
            .front()
            .is_some_and(|(at, _)| now.saturating_sub(*at) >= OVERDRAFT_PENALTY_MS)
        {
            self.recent.pop_front();
        }
    }

    /// The largest overdraw per phase in the last five minutes.
    pub fn penalty(&self, now: u64) -> PerPhase {
        self.recent
            .iter()
            .filter(|(at, _)| now.saturating_sub(*at) < OVERDRAFT_PENALTY_MS)
            .fold([0; 3], |acc, (_, o)| {
                [acc[0].max(o[0]), acc[1].max(o[1]), acc[2].max(o[2])]
            })
    }
}

/// What the EVSEs may draw per phase.
pub fn available(
    max_total_ma: i64,
    reserve_ma: i64,
    house_ma: PerPhase,
    penalty_ma: PerPhase,
) -> PerPhase {
    [0, 1, 2].map(|p| {
        max_total_ma
            .saturating_sub(reserve_ma)
            .saturating_sub(house_ma[p])
            .saturating_sub(penalty_ma[p])
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meter(role: MeterRole, current_ma: PerPhase) -> MeterLoad {
        MeterLoad { role, current_ma }
    }

    #[test]
    fn roles_have_the_api_codes() {
        let roles = [
            (0, MeterRole::Display),
            (1, MeterRole::Consumption),
            (2, MeterRole::Production),
            (3, MeterRole::Grid),
            (4, MeterRole::Vehicle),
            (5, MeterRole::StorageHome),
            (6, MeterRole::StorageAll),
        ];
        for (code, role) in roles {
            assert_eq!(MeterRole::from_code(code), Some(role));
            assert_eq!(role.code(), code);
        }
        assert_eq!(MeterRole::from_code(7), None);
        assert_eq!(MeterRole::from_code(-1), None);
    }

    #[test]
    fn grid_meter_minus_evses_is_the_house() {
        let meters = [meter(MeterRole::Grid, [26_000, 26_000, 10_000])];
        assert_eq!(
            house_load(&meters, [16_000, 16_000, 0]),
            [10_000, 10_000, 10_000]
        );
        // PV export shows as negative house load, which frees current.
        let meters = [meter(MeterRole::Grid, [-5000, 0, 0])];
        assert_eq!(house_load(&meters, [0; 3]), [-5000, 0, 0]);
    }

    #[test]
    fn an_ev_consumption_meter_replaces_the_wallbox_meters() {
        let meters = [
            meter(MeterRole::Grid, [30_000; 3]),
            meter(MeterRole::Vehicle, [20_000; 3]),
        ];
        assert_eq!(house_load(&meters, [0; 3]), [10_000; 3]);
    }

    #[test]
    fn consumption_less_production_without_a_grid_meter() {
        let meters = [
            meter(MeterRole::Consumption, [8000, 2000, 2000]),
            meter(MeterRole::Production, [4000, 4000, 4000]),
            meter(MeterRole::StorageHome, [1000, 500, 250]),
            meter(MeterRole::Display, [99_000; 3]),
        ];
        assert_eq!(house_load(&meters, [7; 3]), [5000, -1500, -1750]);
        assert_eq!(house_load(&[], [7; 3]), [0; 3], "no meters: static sharing");
    }

    #[test]
    fn the_worked_example_of_the_cfos_documentation() {
        // 15 kW house connection (≈21.7 A), 0.5 kW reserve, 2.5 kW load, 4 kW PV:
        // EVSEs get 15 − 0.5 − 2.5 + 4 = 16 kW. Per phase at 230 V, in mA:
        let per_phase = |w: i64| w * 1000 / (3 * 230);
        let meters = [
            meter(MeterRole::Consumption, [per_phase(2500); 3]),
            meter(MeterRole::Production, [per_phase(4000); 3]),
        ];
        let house = house_load(&meters, [0; 3]);
        let avail = available(per_phase(15_000), per_phase(500), house, [0; 3]);
        assert_eq!(
            avail,
            [per_phase(15_000) - per_phase(500) - per_phase(2500) + per_phase(4000); 3]
        );
        assert!((avail[0] - per_phase(16_000)).abs() <= 2);
    }

    #[test]
    fn an_overdraw_lowers_the_limit_for_five_minutes() {
        let mut o = Overdraft::default();
        o.record([33_000, 31_000, 20_000], 32_000, 1000);
        assert_eq!(o.max_seen_ma, 1000);
        assert_eq!(o.penalty(1000), [1000, 0, 0]);
        o.record([32_000, 32_500, 0], 32_000, 2000);
        assert_eq!(o.penalty(2000), [1000, 500, 0]);
        assert_eq!(o.penalty(1000 + OVERDRAFT_PENALTY_MS), [0, 500, 0]);
        o.record([0; 3], 32_000, 2000 + OVERDRAFT_PENALTY_MS);
        assert_eq!(o.penalty(2000 + OVERDRAFT_PENALTY_MS), [0; 3]);
        assert_eq!(o.max_seen_ma, 1000, "the maximum stays until reset");
        // Five minutes: still there a millisecond before, gone at the end.
        let mut o = Overdraft::default();
        o.record([33_500; 3], 32_000, 0);
        assert_eq!(o.penalty(299_999), [1500; 3], "every phase over");
        assert_eq!(o.penalty(300_000), [0; 3]);
    }
}
