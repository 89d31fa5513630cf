//! Properties of the whole cycle (`Site::cycle`), on random sites run for
//! many cycles: groups nested up to four deep, the cap for all EVSEs, the
//! reserve, phase imbalance with and without `imbalance_add`, wallboxes
//! turned by 0/120/240° with one-, two- and three-phase cars, a grid meter
//! that is missing or goes silent, and house load steps that overdraw.
//!
//! A small physical model stands beside the cycle: cars draw what they were
//! last offered (up to their own maximum) on their phases, the grid meter
//! shows the house plus the cars. The properties are checked on the
//! commands each cycle sends:
//! - no phase of the site, of the EVSE cap or of any group gets more than
//!   its limit;
//! - strict priority: no lower-priority car is above its minimum while a
//!   higher one sharing the full limit is held back;
//! - no spare current: a car below its maximum is held back by a limit that
//!   is actually full (the one `lb_reason` names), or by the imbalance;
//! - the commands do not depend on the order the devices are declared in;
//! - among equal priorities, no car waits forever;
//! - wallboxes that switch between one and three phases (`auto`, the
//!   relay modelled as a Power Brain's: the car pauses, then draws on the
//!   new phases) keep every limit during and after a switch, are counted
//!   on every phase they draw on, switch only when the box allows it, and
//!   at most once per minimum interval.

use std::collections::BTreeMap;
use std::sync::Arc;

use proptest::prelude::*;

use super::{Command, Now, Site, Snapshot};
use crate::alloc::{PerPhase, STEP_MA};
use crate::config::{CurrentLimit, DeviceSettings, SiteParams};
use crate::drivers::{EvseReading, EvseState, FailSafe, MeterReading, Reading, Relay};
use crate::transport::DeviceError;

/// Cycles run per site, one second apart.
const CYCLES: u64 = 40;

#[derive(Debug, Clone)]
struct GroupSpec {
    number: u32,
    parent: u32,
    limit_ma: i64,
}

#[derive(Debug, Clone)]
struct WallboxSpec {
    group: u32,
    prio: i64,
    rotation: i64,
    max_ma: i64,
    cable_ma: i64,
    /// The car's phases on the wallbox's side: 1p, 2p or 3p.
    car_phases: u8,
    /// What the car takes at most, mA.
    car_max_ma: i64,
    /// The cycle at which the car is plugged in.
    plug_at: u64,
    /// `phase_switching = "auto"`.
    switching: bool,
    /// The box allows switching with a car plugged in (8113 bit 8).
    switch_allowed: bool,
}

#[derive(Debug, Clone)]
struct SiteSpec {
    max_total_ma: i64,
    reserve_ma: i64,
    evse_cap_ma: i64,
    max_imbalance_ma: i64,
    imbalance_add: bool,
    groups: Vec<GroupSpec>,
    wallboxes: Vec<WallboxSpec>,
    grid_meter: bool,
    /// House load per phase, and the cycle from which a second level holds.
    house: [PerPhase; 2],
    house_step_at: u64,
    /// Cycles in which the grid meter does not answer.
    meter_silent: std::ops::Range<u64>,
    /// With a period (cycles), the house load flickers between its two
    /// levels instead of stepping once.
    house_flicker: u64,
}

fn group_strategy() -> impl Strategy<Value = Vec<GroupSpec>> {
    prop::collection::vec((0u32..5, 6_000i64..40_000), 0..6).prop_map(|raw| {
        let mut groups: Vec<GroupSpec> = Vec::new();
        let mut depth: BTreeMap<u32, u32> = BTreeMap::new();
        for (n, (parent_pick, limit_ma)) in raw.into_iter().enumerate() {
            let number = u32::try_from(n).unwrap_or(0) + 1;
            // A parent among the groups before, as long as the chain stays
            // within four groups.
            let parent = match parent_pick % number {
                0 => 0,
                p if depth.get(&p).is_some_and(|d| *d < 4) => p,
                _ => 0,
            };
            let level = depth.get(&parent).map_or(1, |d| d + 1);
            depth.insert(number, level);
            groups.push(GroupSpec {
                number,
                parent,
                limit_ma,
            });
        }
        groups
    })
}

fn wallbox_strategy(groups: u32) -> impl Strategy<Value = WallboxSpec> {
    (
        0..=groups,
        1i64..3,
        prop::sample::select(vec![0i64, 120, 240]),
        6_000i64..32_000,
        prop::sample::select(vec![32_000i64, 20_000, 13_000]),
        prop::sample::select(vec![0b001u8, 0b011, 0b111]),
        6_000i64..32_000,
        0u64..10,
        (prop::bool::weighted(0.3), prop::bool::weighted(0.8)),
    )
        .prop_map(
            |(
                group,
                prio,
                rotation,
                max_ma,
                cable_ma,
                car_phases,
                car_max_ma,
                plug_at,
                (switching, switch_allowed),
            )| {
                WallboxSpec {
                    group,
                    prio,
                    rotation,
                    max_ma,
                    cable_ma,
                    car_phases,
                    car_max_ma,
                    plug_at,
                    switching,
                    switch_allowed,
                }
            },
        )
}

fn site_strategy() -> impl Strategy<Value = SiteSpec> {
    group_strategy().prop_flat_map(|groups| {
        let count = u32::try_from(groups.len()).unwrap_or(0);
        (
            Just(groups),
            prop::collection::vec(wallbox_strategy(count), 1..8),
            (10_000i64..80_000, 0i64..5_000),
            prop::option::of(10_000i64..60_000),
            prop::option::of(4_000i64..25_000),
            any::<bool>(),
            prop::bool::weighted(0.8),
            [
                prop::array::uniform3(-5_000i64..20_000),
                prop::array::uniform3(-5_000i64..25_000),
            ],
            0u64..CYCLES,
            (0u64..CYCLES, 0u64..20),
        )
            .prop_map(
                |(
                    groups,
                    wallboxes,
                    (max_total_ma, reserve_ma),
                    cap,
                    imbalance,
                    imbalance_add,
                    grid_meter,
                    house,
                    house_step_at,
                    (silent_from, silent_for),
                )| SiteSpec {
                    max_total_ma,
                    reserve_ma,
                    evse_cap_ma: cap.unwrap_or(0),
                    max_imbalance_ma: imbalance.unwrap_or(0),
                    imbalance_add,
                    groups,
                    wallboxes,
                    grid_meter,
                    house,
                    house_step_at,
                    meter_silent: silent_from..silent_from + silent_for,
                    house_flicker: 0,
                },
            )
    })
}

/// The building phase of wallbox phase `p` on a wallbox turned by
/// `degrees` (its L1 on the building's L2 at 120°, on L3 at 240°): the
/// model's own reading of the wiring, not the cycle's.
fn building_phase(degrees: i64, p: usize) -> usize {
    (p + usize::try_from(degrees / 120).unwrap_or(0)) % 3
}

/// A wallbox-side phase mask on the building's phases.
fn to_building(degrees: i64, mask: u8) -> u8 {
    (0..3)
        .filter(|p| mask & (1 << p) != 0)
        .fold(0, |acc, p| acc | (1 << building_phase(degrees, p)))
}

fn device(toml: &str) -> Arc<DeviceSettings> {
    Arc::new(toml::from_str(toml).expect("a valid device"))
}

/// Wallbox `k`'s dev_id: above the group numbers, so that it names no group.
fn wallbox_id(k: usize) -> String {
    format!("E{}", 20 + k)
}

impl SiteSpec {
    fn params(&self) -> SiteParams {
        SiteParams {
            max_total_current: CurrentLimit::Fixed(self.max_total_ma),
            reserve_current: self.reserve_ma,
            max_total_evse_current: self.evse_cap_ma,
            max_imbalance: self.max_imbalance_ma,
            imbalance_add: self.imbalance_add,
            min_pause_time_s: 20,
            meter_timeout_s: 3,
            ..SiteParams::default()
        }
    }

    /// The devices, by dev_id.
    fn devices(&self) -> Vec<(String, Arc<DeviceSettings>)> {
        let mut out = Vec::new();
        for g in &self.groups {
            let id = format!("E{}", g.number);
            out.push((
                id.clone(),
                device(&format!(
                    "dev_id = \"{id}\"\ndev_type = \"evse_group\"\ngroup = {}\nmax_charging_cur = {}\n",
                    g.parent, g.limit_ma
                )),
            ));
        }
        for (k, w) in self.wallboxes.iter().enumerate() {
            let id = wallbox_id(k);
            let switching = if w.switching {
                format!(
                    "phase_switching = \"auto\"\nphase_switch_pause_s = {SWITCH_PAUSE_S}\n\
                     phase_switch_min_interval_s = {SWITCH_INTERVAL_S}\n"
                )
            } else {
                String::new()
            };
            out.push((
                id.clone(),
                device(&format!(
                    "dev_id = \"{id}\"\ndev_type = \"evse_powerbrain\"\naddress = \"10.0.0.{k}:502\"\n\
                     group = {}\nprio = {}\nphase_rotation = {}\nmax_charging_cur = {}\n{switching}",
                    w.group, w.prio, w.rotation, w.max_ma
                )),
            ));
        }
        if self.grid_meter {
            out.push((
                "M1".to_string(),
                device("dev_id = \"M1\"\ndev_type = \"meter_sdm630\"\naddress = \"10.0.0.99:502\"\nrole = 3\n"),
            ));
        }
        out
    }

    fn house_at(&self, cycle: u64) -> PerPhase {
        if let Some(period) = cycle.checked_div(self.house_flicker) {
            return self.house[usize::from(period % 2 == 1)];
        }
        self.house[usize::from(cycle >= self.house_step_at)]
    }

    /// The groups `group` is in, innermost first.
    fn chain(&self, mut group: u32) -> Vec<u32> {
        let mut out = Vec::new();
        while group != 0 {
            out.push(group);
            group = self
                .groups
                .iter()
                .find(|g| g.number == group)
                .map_or(0, |g| g.parent);
        }
        out
    }
}

/// One wallbox as the cycle sees it after a cycle.
#[derive(Debug, Clone)]
struct Seen {
    /// Held back beyond `command` on phases it may or may not be on.
    held: PerPhase,
    command: i64,
    reason: String,
    /// Building phases the cycle counts it on (all three until known).
    counted: u8,
    /// Building phases the car really draws on.
    actual: u8,
    plugged: bool,
    /// The cycle told the relay to switch though the box does not allow it.
    refused_switch: bool,
}

/// The physical plant beside the cycle, and the cycle itself.
struct Run {
    spec: SiteSpec,
    /// Index in the site's device list of each dev_id.
    index: BTreeMap<String, usize>,
    site: Site,
    /// Per wallbox: what it was last told (mA, 0 = off).
    offered: Vec<i64>,
    /// Per wallbox: phases seen drawing since plug-in (wallbox side).
    seen_phases: Vec<u8>,
    /// The house load when the grid meter last answered: while it is
    /// silent (up to `meter_timeout`) the cycle cannot know better.
    house_known: PerPhase,
    /// Per wallbox: its relay is on one phase.
    relay_one: Vec<bool>,
    /// Per wallbox: the charge pilot is off for a switch until (ms).
    cp_off_until: Vec<u64>,
    /// Per wallbox: the cycles at which its relay switched with a car.
    switches: Vec<Vec<u64>>,
}

/// The switch pause and the minimum interval of the switchable wallboxes.
const SWITCH_PAUSE_S: u64 = 5;
const SWITCH_INTERVAL_S: u64 = 60;

impl Run {
    fn new(spec: &SiteSpec, order: &[usize]) -> Self {
        let all = spec.devices();
        let devices: Vec<(String, Arc<DeviceSettings>)> =
            order.iter().map(|&i| all[i].clone()).collect();
        let settings: Vec<Arc<DeviceSettings>> = devices.iter().map(|(_, d)| d.clone()).collect();
        let index = devices
            .iter()
            .enumerate()
            .map(|(i, (id, _))| (id.clone(), i))
            .collect();
        Run {
            site: Site::new(spec.params(), &settings, 0),
            index,
            offered: vec![0; spec.wallboxes.len()],
            seen_phases: vec![0; spec.wallboxes.len()],
            house_known: [0; 3],
            relay_one: vec![false; spec.wallboxes.len()],
            cp_off_until: vec![0; spec.wallboxes.len()],
            switches: vec![Vec::new(); spec.wallboxes.len()],
            spec: spec.clone(),
        }
    }

    fn plugged(&self, k: usize, cycle: u64) -> bool {
        cycle >= self.spec.wallboxes[k].plug_at
    }

    /// The wallbox phases car `k` draws on: its own, or L1 alone while
    /// the relay is on one phase.
    fn car_phases(&self, k: usize) -> u8 {
        if self.relay_one[k] {
            0b001
        } else {
            self.spec.wallboxes[k].car_phases
        }
    }

    /// What car `k` draws per wallbox phase now.
    fn car_draw(&self, k: usize, cycle: u64) -> PerPhase {
        let w = &self.spec.wallboxes[k];
        let switching = cycle * 1000 < self.cp_off_until[k];
        let ma = if self.plugged(k, cycle) && !switching {
            self.offered[k].min(w.car_max_ma)
        } else {
            0
        };
        let phases = self.car_phases(k);
        [0, 1, 2].map(|p| if phases & (1 << p) != 0 { ma } else { 0 })
    }

    /// Runs cycle `cycle`: readings in, commands out.
    fn step(&mut self, cycle: u64) -> (Vec<Command>, Snapshot, Vec<Seen>) {
        let now = cycle * 1000;
        let mut evse_building = [0i64; 3];
        for k in 0..self.spec.wallboxes.len() {
            let w = &self.spec.wallboxes[k];
            let draw = self.car_draw(k, cycle);
            for (p, ma) in draw.iter().enumerate() {
                evse_building[building_phase(w.rotation, p)] += ma;
            }
            let plugged = self.plugged(k, cycle);
            let state = match (plugged, draw.iter().any(|&d| d > 0)) {
                (false, _) => EvseState::Waiting,
                (true, false) => EvseState::Present,
                (true, true) => EvseState::Charging,
            };
            if !plugged {
                self.seen_phases[k] = 0;
            } else if state == EvseState::Charging {
                for (p, ma) in draw.iter().enumerate() {
                    if *ma >= 1000 {
                        self.seen_phases[k] |= 1 << p;
                    }
                }
            }
            let reading = Reading::Evse(EvseReading {
                state,
                charging_enabled: self.offered[k] > 0,
                offered_ma: self.offered[k],
                cable_ma: if plugged { w.cable_ma } else { 0 },
                meter: Some(MeterReading {
                    current_ma: draw,
                    voltage_v: [230; 3],
                    power_w: draw.iter().sum::<i64>() * 230 / 1000,
                    per_phase: true,
                    ..MeterReading::default()
                }),
                fail_safe: FailSafe::default(),
                rfid: String::new(),
                inputs: 0,
                relay: w.switching.then(|| Relay {
                    one_phase: self.relay_one[k],
                    switch_allowed: w.switch_allowed,
                    cp_off_s: 0,
                }),
                transaction_start_wh: None,
            });
            let i = self.index[&wallbox_id(k)];
            self.site.record(i, Some(Ok(reading)), now);
        }
        if let Some(&m) = self.index.get("M1") {
            let polled = if self.spec.meter_silent.contains(&cycle) {
                Err(DeviceError::Timeout(1000))
            } else {
                let house = self.spec.house_at(cycle);
                self.house_known = house;
                Ok(Reading::Meter(MeterReading {
                    current_ma: [0, 1, 2].map(|p| house[p] + evse_building[p]),
                    voltage_v: [230; 3],
                    per_phase: true,
                    ..MeterReading::default()
                }))
            };
            self.site.record(m, Some(polled), now);
        }
        let (commands, snapshot) = self.site.cycle(Now::mono(now), 1000);
        let mut seen = Vec::new();
        for k in 0..self.spec.wallboxes.len() {
            let w = &self.spec.wallboxes[k];
            let i = self.index[&wallbox_id(k)];
            let relay = commands
                .iter()
                .find(|c| c.device == i)
                .and_then(|c| c.one_phase);
            let mut refused_switch = false;
            if let Some(one) = relay.filter(|one| *one != self.relay_one[k]) {
                let plugged = self.plugged(k, cycle);
                // Like a Power Brain: with a car, only when allowed, and
                // then with the charge pilot off for the pause.
                if plugged && !w.switch_allowed {
                    refused_switch = true;
                } else {
                    self.relay_one[k] = one;
                    self.seen_phases[k] = 0;
                    if plugged {
                        self.cp_off_until[k] = now + SWITCH_PAUSE_S * 1000;
                        self.switches[k].push(cycle);
                    }
                }
            }
            let command = commands.iter().find(|c| c.device == i).map_or(0, |c| {
                if c.enable {
                    c.current_ma
                } else {
                    0
                }
            });
            self.offered[k] = command;
            // On every rotation the cycle counts the wallbox on: the
            // configured one, and the measured one where they differ. A
            // relay on one phase is counted on its L1 (and any phase seen
            // since) under each of them too: while the grid meter has not
            // ruled a rotation out, the car may draw there.
            let rotations = snapshot.evses[i]
                .as_ref()
                .map_or_else(Vec::new, |v| v.wiring.phase_rotation_used.clone());
            let on_rotations =
                |phases| rotations.iter().fold(0, |m, r| m | to_building(*r, phases));
            let counted = match self.seen_phases[k] {
                _ if self.relay_one[k] => on_rotations(0b001 | self.seen_phases[k]),
                0 => 0b111,
                phases => on_rotations(phases),
            };
            seen.push(Seen {
                command,
                held: snapshot.evses[i]
                    .as_ref()
                    .map_or([0; 3], |v| v.wiring.held_ma),
                reason: snapshot.evses[i]
                    .as_ref()
                    .map(|v| v.lb_reason.to_string())
                    .unwrap_or_default(),
                counted,
                actual: to_building(w.rotation, self.car_phases(k)),
                plugged: self.plugged(k, cycle),
                refused_switch,
            });
        }
        (commands, snapshot, seen)
    }
}

/// Sum of the commands on building phase `p` of the wallboxes `members`,
/// counted on `phases_of` each.
/// What the allocation held back on building phase `p` for `members`.
fn held_on(seen: &[Seen], members: &[usize], p: usize) -> i64 {
    members.iter().map(|&k| seen[k].held[p]).sum()
}

fn load_on(seen: &[Seen], members: &[usize], p: usize, phases_of: fn(&Seen) -> u8) -> i64 {
    members
        .iter()
        .filter(|&&k| phases_of(&seen[k]) & (1 << p) != 0)
        .map(|&k| seen[k].command)
        .sum()
}

/// The limits of the site: name as `lb_reason` writes it, per-phase room
/// for the cars (before their commands), and the wallboxes under it.
fn limits(spec: &SiteSpec, snapshot: &Snapshot) -> Vec<(String, PerPhase, Vec<usize>)> {
    let everyone: Vec<usize> = (0..spec.wallboxes.len()).collect();
    let mut out = vec![(
        "site".to_string(),
        snapshot.site.available_ma,
        everyone.clone(),
    )];
    if spec.evse_cap_ma > 0 {
        out.push((
            "max_total_evse_current".to_string(),
            [spec.evse_cap_ma; 3],
            everyone.clone(),
        ));
    }
    for g in &spec.groups {
        let members = everyone
            .iter()
            .copied()
            .filter(|&k| spec.chain(spec.wallboxes[k].group).contains(&g.number))
            .collect();
        out.push((format!("group E{}", g.number), [g.limit_ma; 3], members));
    }
    out
}

/// "site L2" → ("site", 1); "paused: no minimum (group E3 L1)" → ("group E3", 0).
fn limit_named(reason: &str) -> Option<(String, usize)> {
    let inner = reason
        .strip_prefix("paused: no minimum (")
        .and_then(|r| r.strip_suffix(')'))
        .unwrap_or(reason);
    let (name, phase) = inner.rsplit_once(" L")?;
    let p: usize = phase.parse().ok()?;
    (1..=3).contains(&p).then(|| (name.to_string(), p - 1))
}

fn min_ma() -> i64 {
    6000
}

/// What wallbox `k` may get at most this cycle.
fn max_of(w: &WallboxSpec) -> i64 {
    (w.max_ma.min(w.cable_ma)) / STEP_MA * STEP_MA
}

fn check_cycle(
    spec: &SiteSpec,
    cycle: u64,
    house: PerPhase,
    snapshot: &Snapshot,
    seen: &[Seen],
) -> Result<(), TestCaseError> {
    let stale = snapshot.site.meter_stale;
    let all: Vec<usize> = (0..seen.len()).collect();
    // Nobody charges without a car, or above its own maximum; a car is
    // counted on every phase it draws on, and a relay is switched only
    // where the box allows it.
    for (k, s) in seen.iter().enumerate() {
        prop_assert!(
            s.command == 0 || s.actual & !s.counted == 0,
            "cycle {cycle}: E{} draws on {:03b} but is counted on {:03b}",
            20 + k,
            s.actual,
            s.counted
        );
        prop_assert!(
            !s.refused_switch,
            "cycle {cycle}: E{} switched though the box does not allow it",
            20 + k
        );
        prop_assert!(
            s.plugged || s.command == 0,
            "E{}: current without a car",
            20 + k
        );
        prop_assert!(
            s.command == 0 || (s.command >= min_ma() && s.command <= max_of(&spec.wallboxes[k])),
            "E{}: {} mA is not 0 or between its minimum and maximum",
            20 + k,
            s.command
        );
        if stale {
            prop_assert!(s.command <= min_ma(), "a stale meter means the minimum");
        }
    }
    // The site: what the cars really draw fits beside the house and the reserve.
    if spec.grid_meter && !stale {
        for (p, house) in house.iter().enumerate() {
            let cars = load_on(seen, &all, p, |s| s.actual);
            let room = (spec.max_total_ma - spec.reserve_ma - house).max(0);
            prop_assert!(
                cars <= room,
                "cycle {cycle}: site L{} gets {cars} mA with {house} mA of house load under {} mA less {} reserve",
                p + 1,
                spec.max_total_ma,
                spec.reserve_ma
            );
        }
    }
    if !spec.grid_meter {
        for p in 0..3 {
            let cars = load_on(seen, &all, p, |s| s.actual);
            prop_assert!(cars <= (spec.max_total_ma - spec.reserve_ma).max(0));
        }
    }
    // The EVSE cap and every group: on every phase, as counted.
    for (name, room, members) in limits(spec, snapshot).iter().skip(1) {
        for (p, room) in room.iter().enumerate() {
            let given = load_on(seen, members, p, |s| s.counted) + held_on(seen, members, p);
            prop_assert!(
                given <= (*room).max(0),
                "cycle {cycle}: {name} L{} gets {given} mA over its {room} mA",
                p + 1
            );
        }
    }
    // The imbalance, once the cars' phases are known: a car whose phases
    // are not is neither charging nor still drawing what it was lowered
    // from (held back on the phases it may be on, where the allocation
    // counts it, until the grid meter shows it gone).
    let known = |s: &Seen| s.counted == s.actual || (s.command == 0 && s.held == [0; 3]);
    if spec.max_imbalance_ma > 0 && seen.iter().all(known) {
        // With imbalance_add, the house load as the cycle knows it.
        let base = if spec.imbalance_add {
            snapshot.site.house_ma
        } else {
            [0; 3]
        };
        let load = [0, 1, 2].map(|p| base[p] + load_on(seen, &all, p, |s| s.actual));
        let spread = |l: &PerPhase| l.iter().max().unwrap_or(&0) - l.iter().min().unwrap_or(&0);
        // With the house counted, the house alone may be more uneven than
        // the limit: then the cars must not make it worse.
        prop_assert!(
            spread(&load) <= spec.max_imbalance_ma.max(spread(&base)),
            "cycle {cycle}: imbalance {} mA over {} mA: {load:?} (house {base:?})",
            spread(&load),
            spec.max_imbalance_ma
        );
    }
    check_reasons(spec, cycle, snapshot, seen)
}

/// Every car held below its maximum names a limit that is full, and no
/// lower-priority car sharing it is above its minimum.
fn check_reasons(
    spec: &SiteSpec,
    cycle: u64,
    snapshot: &Snapshot,
    seen: &[Seen],
) -> Result<(), TestCaseError> {
    if snapshot.site.meter_stale {
        return Ok(());
    }
    let limits = limits(spec, snapshot);
    for (k, s) in seen.iter().enumerate() {
        let w = &spec.wallboxes[k];
        if !s.plugged || s.command >= max_of(w) || max_of(w) < min_ma() {
            continue;
        }
        let reason = s.reason.as_str();
        if reason.starts_with("paused: ") && reason.ends_with("minimum pause") {
            continue;
        }
        // 1p/3p switching says why the car is on one phase or waits for
        // its relay, in place of the limit.
        if w.switching
            && (reason.starts_with("1p")
                || reason.starts_with("3p")
                || reason.starts_with("paused: switching"))
        {
            continue;
        }
        if reason.starts_with("imbalance") || reason.starts_with("paused: imbalance") {
            prop_assert!(spec.max_imbalance_ma > 0, "imbalance named without a limit");
            continue;
        }
        if reason.starts_with("paused: another car's turn") {
            // The room is kept for a car of the same priority that waits.
            prop_assert!(
                seen.iter().enumerate().any(|(j, o)| j != k
                    && o.plugged
                    && o.command == 0
                    && spec.wallboxes[j].prio == w.prio
                    && o.reason.starts_with("paused: no minimum")),
                "cycle {cycle}: E{} gives way to nobody",
                20 + k
            );
            continue;
        }
        let Some((name, p)) = limit_named(reason) else {
            return Err(TestCaseError::fail(format!(
                "cycle {cycle}: E{} gets {} of {} mA, reason {reason:?} names no limit",
                20 + k,
                s.command,
                max_of(w)
            )));
        };
        let Some((_, room, members)) = limits.iter().find(|(n, _, _)| *n == name) else {
            return Err(TestCaseError::fail(format!("unknown limit in {reason:?}")));
        };
        prop_assert!(members.contains(&k), "E{}: {name} is not its limit", 20 + k);
        prop_assert!(
            s.counted & (1 << p) != 0,
            "E{}: not on L{} of {name}",
            20 + k,
            p + 1
        );
        let sharing: Vec<usize> = members
            .iter()
            .copied()
            .filter(|&j| seen[j].counted & (1 << p) != 0)
            .collect();
        if s.held != [0; 3] {
            // Lowered while its rotation is uncertain: capped at what an
            // allocation gave it, and allocated again with what it still
            // draws held back; the limit it names was full in the
            // allocation that set its cap.
            continue;
        }
        let left = room[p] - load_on(seen, &sharing, p, |s| s.counted) - held_on(seen, &sharing, p);
        // Targets are rounded down to 100 mA each.
        let slack = STEP_MA * i64::try_from(sharing.len()).unwrap_or(1);
        let needed = if s.command == 0 { min_ma() } else { slack };
        prop_assert!(
            left < needed,
            "cycle {cycle}: E{} gets {} mA for {reason:?}, but {name} L{} has {left} mA left",
            20 + k,
            s.command,
            p + 1
        );
        // Strict priority: a lower priority sharing the full limit has at
        // most its minimum.
        for &j in &sharing {
            prop_assert!(
                spec.wallboxes[j].prio >= w.prio || seen[j].command <= min_ma(),
                "cycle {cycle}: E{} (prio {}) gets {} mA while E{} (prio {}) is held by {name} L{}",
                20 + j,
                spec.wallboxes[j].prio,
                seen[j].command,
                20 + k,
                w.prio,
                p + 1
            );
        }
    }
    Ok(())
}

fn run_all(spec: &SiteSpec, order: &[usize]) -> Result<Vec<Vec<i64>>, TestCaseError> {
    let mut run = Run::new(spec, order);
    let mut history = Vec::new();
    for cycle in 0..CYCLES {
        let (_, snapshot, seen) = run.step(cycle);
        check_cycle(spec, cycle, run.house_known, &snapshot, &seen)?;
        history.push(seen.iter().map(|s| s.command).collect());
    }
    Ok(history)
}

proptest! {
    #![proptest_config(crate::property_cases(300))]

    #[test]
    fn every_cycle_keeps_the_limits_the_priorities_and_names_a_full_limit(
        spec in site_strategy(),
        seed in any::<u64>(),
    ) {
        let count = spec.devices().len();
        let forward: Vec<usize> = (0..count).collect();
        let history = run_all(&spec, &forward)?;
        // The same site declared in another order decides the same.
        let mut shuffled = forward.clone();
        let mut x = seed | 1;
        for i in (1..shuffled.len()).rev() {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            shuffled.swap(i, usize::try_from(x % (i as u64 + 1)).unwrap_or(0));
        }
        let again = run_all(&spec, &shuffled)?;
        prop_assert_eq!(history, again, "declared in the order {:?}", shuffled);
    }

    #[test]
    fn among_equal_priorities_no_car_waits_forever(
        cars in prop::collection::vec((prop::sample::select(vec![0b001u8, 0b011, 0b111]), 0i64..3), 2..6),
        room_for in 1usize..3,
    ) {
        // A site with room for `room_for` minimums; the others take turns.
        let limit = 6_000 * i64::try_from(room_for).unwrap_or(1) + 5_000;
        let spec = SiteSpec {
            max_total_ma: limit,
            reserve_ma: 0,
            evse_cap_ma: 0,
            max_imbalance_ma: 0,
            imbalance_add: false,
            groups: Vec::new(),
            wallboxes: cars
                .iter()
                .map(|&(car_phases, rot)| WallboxSpec {
                    group: 0,
                    prio: 1,
                    rotation: rot * 120,
                    max_ma: 16_000,
                    cable_ma: 32_000,
                    car_phases,
                    car_max_ma: 16_000,
                    plug_at: 0,
                    switching: false,
                    switch_allowed: true,
                })
                .collect(),
            grid_meter: true,
            house: [[0; 3]; 2],
            house_step_at: 0,
            meter_silent: 0..0,
            house_flicker: 0,
        };
        let order: Vec<usize> = (0..spec.devices().len()).collect();
        let mut run = Run::new(&spec, &order);
        // A turn lasts min_pause_time (20 s): every car's turn comes within
        // one round of all of them, and then some.
        let rounds = u64::try_from(cars.len()).unwrap_or(1) * 20 * 2 + 20;
        let mut charged = vec![false; cars.len()];
        for cycle in 0..rounds {
            let (_, snapshot, seen) = run.step(cycle);
            check_cycle(&spec, cycle, run.house_known, &snapshot, &seen)?;
            for (k, s) in seen.iter().enumerate() {
                charged[k] |= s.command > 0;
            }
        }
        prop_assert!(charged.iter().all(|c| *c), "a car never charged: {charged:?}");
    }

    /// Switchable wallboxes under a house load that flickers across what
    /// three phases need, for ten simulated minutes: every limit holds in
    /// every cycle (checked as above), and no wallbox switches more often
    /// than once per minimum interval (plus the first switch).
    #[test]
    fn switchable_wallboxes_keep_the_limits_and_the_minimum_interval(
        spec in site_strategy(),
        flicker in 3u64..90,
    ) {
        let mut spec = spec;
        for w in &mut spec.wallboxes {
            w.switching = true;
        }
        spec.house_flicker = flicker;
        spec.meter_silent = 0..0;
        let order: Vec<usize> = (0..spec.devices().len()).collect();
        let mut run = Run::new(&spec, &order);
        let cycles = 600;
        for cycle in 0..cycles {
            let (_, snapshot, seen) = run.step(cycle);
            check_cycle(&spec, cycle, run.house_known, &snapshot, &seen)?;
        }
        let bound = cycles / SWITCH_INTERVAL_S + 1;
        for (k, switches) in run.switches.iter().enumerate() {
            prop_assert!(
                switches.len() as u64 <= bound,
                "E{} switched {} times in {} s: {:?}",
                20 + k,
                switches.len(),
                cycles,
                switches
            );
            for pair in switches.windows(2) {
                prop_assert!(pair[1] - pair[0] >= SWITCH_INTERVAL_S, "E{}: {:?}", 20 + k, switches);
            }
        }
    }
}

/// A 16 A three-phase car, plugged in from the start, at a wallbox turned
/// by `rotation` that switches 1p/3p (`auto`) and allows it.
fn switchable_three_phase_car(rotation: i64) -> WallboxSpec {
    WallboxSpec {
        group: 0,
        prio: 1,
        rotation,
        max_ma: 16_000,
        cable_ma: 32_000,
        car_phases: 0b111,
        car_max_ma: 16_000,
        plug_at: 0,
        switching: true,
        switch_allowed: true,
    }
}

/// The house on L1 leaves too little for three phases, then enough, then
/// too little again: the car goes to one phase (the wallbox's L1 is the
/// building's L2), back to three once that has held, and to one again,
/// with its pause each time (the hold is half the 60 s interval); the
/// limits hold throughout.
#[test]
fn a_full_phase_sends_a_switchable_car_to_one_phase_and_back() {
    let spec = SiteSpec {
        max_total_ma: 16_000,
        reserve_ma: 0,
        evse_cap_ma: 0,
        max_imbalance_ma: 0,
        imbalance_add: false,
        groups: Vec::new(),
        wallboxes: vec![switchable_three_phase_car(120)],
        grid_meter: true,
        house: [[12_000, 2_000, 2_000], [2_000; 3]],
        house_step_at: 0,
        meter_silent: 0..0,
        house_flicker: 200,
    };
    let order: Vec<usize> = (0..spec.devices().len()).collect();
    let mut run = Run::new(&spec, &order);
    let mut phases_at = Vec::new();
    for cycle in 0..600 {
        let (_, snapshot, seen) = run.step(cycle);
        if let Err(e) = check_cycle(&spec, cycle, run.house_known, &snapshot, &seen) {
            panic!("{e}");
        }
        phases_at.push((seen[0].actual, seen[0].command, seen[0].reason.clone()));
    }
    let switches = &run.switches[0];
    assert_eq!(switches.len(), 3, "{switches:?}");
    // To one phase at once, back after the hold, down again at once.
    assert!(switches[0] <= 3, "{switches:?}");
    assert!((200 + 30..200 + 40).contains(&switches[1]), "{switches:?}");
    assert!((400..404).contains(&switches[2]), "{switches:?}");
    // During each pause the car gets nothing.
    for &at in switches {
        for cycle in at..at + SWITCH_PAUSE_S {
            let (_, command, reason) = &phases_at[usize::try_from(cycle).unwrap_or(0)];
            assert_eq!(*command, 0, "cycle {cycle}: {reason}");
        }
    }
    // On one phase, on the building's L2, with the reason said.
    let (actual, command, reason) = &phases_at[100];
    assert_eq!((*actual, *command > 0), (0b010, true), "{reason}");
    let (actual, _, _) = &phases_at[350];
    assert_eq!(*actual, 0b111);
    assert!(
        phases_at[215].2.starts_with("1p: 3p fits for"),
        "{}",
        phases_at[215].2
    );
}

/// The house fills L1 so that three phases do not fit; on one phase the
/// car (its L1 on the building's L3) would have room under the site
/// limit, but not under `max_imbalance` (5 A between the phases, less than
/// a one-phase minimum): it is not switched to one phase only to be
/// paused for the imbalance. With `imbalance_add` the house alone is more
/// uneven than that, the allocator only keeps the cars from making it
/// worse, and the car does go to one phase and charges there.
#[test]
fn a_switchable_car_goes_to_one_phase_only_where_the_imbalance_lets_it_charge() {
    let spec = |imbalance_add| SiteSpec {
        max_total_ma: 16_000,
        reserve_ma: 0,
        evse_cap_ma: 0,
        max_imbalance_ma: 5_000,
        imbalance_add,
        groups: Vec::new(),
        wallboxes: vec![switchable_three_phase_car(240)],
        grid_meter: true,
        house: [[12_000, 0, 0]; 2],
        house_step_at: 0,
        meter_silent: 0..0,
        house_flicker: 0,
    };
    for imbalance_add in [false, true] {
        let spec = spec(imbalance_add);
        let order: Vec<usize> = (0..spec.devices().len()).collect();
        let mut run = Run::new(&spec, &order);
        let mut last = None;
        for cycle in 0..120 {
            let (_, snapshot, seen) = run.step(cycle);
            if let Err(e) = check_cycle(&spec, cycle, run.house_known, &snapshot, &seen) {
                panic!("imbalance_add {imbalance_add}: {e}");
            }
            let s = &seen[0];
            assert!(
                !s.reason.starts_with("paused: imbalance"),
                "imbalance_add {imbalance_add}, cycle {cycle}: switched, then paused: {}",
                s.reason
            );
            last = Some(s.clone());
        }
        let last = last.expect("cycles ran");
        if imbalance_add {
            assert_eq!(run.switches[0].len(), 1, "{:?}", run.switches[0]);
            assert_eq!(last.actual, 0b100, "{}", last.reason);
            assert!(last.command >= 6000, "{}", last.reason);
        } else {
            assert!(run.switches[0].is_empty(), "{:?}", run.switches[0]);
            assert_eq!(last.command, 0, "{}", last.reason);
        }
    }
}
