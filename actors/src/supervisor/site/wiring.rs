//! The phase estimator (`crate::wiring`) in the cycle: fed every cycle
//! with the fresh, plausible readings of the grid meter and the wallboxes;
//! which rotations load management protects per wallbox; the warning when
//! a configured rotation contradicts a confident measurement; "identify
//! phases" (the probe); and what is kept across a restart.
//!
//! The rotations load management counts a wallbox on:
//! - configured, no contradiction: the configured one;
//! - configured, a confident measurement says another: both (the warning
//!   says so), until the configuration or the measurement changes;
//! - `auto`: the measured one once confident, else all three.
//!
//! A car's current is allocated against every building phase any of these
//! put it on, and what it draws is counted on each building phase any of
//! them puts it on, as a wallbox without a meter is counted on all three
//! phases until its car's phases are known. On the phase the car is really
//! on the house load (the grid less the wallboxes) is then exact; on the
//! others the car's reservation stands in for what it was counted as
//! drawing there. When such a car is lowered, it still draws its old
//! current until it follows, on whichever phase it is really on: so on a
//! phase it may or may not be on it is counted as the larger of what it
//! gets and what it draws (`Tracked::uncertain_floor`, held back by the
//! allocation step), and what it frees there reaches the others the cycle
//! after, once the grid meter shows it gone. No phase is ever over (the
//! property test in `wiring_tests.rs`). Counting its draw as the least any
//! rotation puts there instead would count the car's own draw as house
//! load against it, and pause it every other cycle.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Serialize, Serializer};

use super::budget::Meters;
use super::limits::Plan;
use super::{Site, Tracked};
use crate::alloc::budget::MeterRole;
use crate::alloc::{Allocation, PerPhase, Rotation};
use crate::config::{LearntRotation, PhaseRotation};
use crate::drivers::Reading;
use crate::wiring::{
    CycleObservation, Learnt, PhaseEstimator, Probe, ProbeCandidate, ProbeOutcome, ProbeSettings,
    WallboxObservation, WiringState,
};

const ROTATIONS: [Rotation; 3] = [Rotation::Deg0, Rotation::Deg120, Rotation::Deg240];

/// A set of rotations, bit r for `ROTATIONS[r]`.
pub(super) type Rotations = u8;
pub(super) const ALL_ROTATIONS: Rotations = 0b111;

fn bit(r: Rotation) -> Rotations {
    match r {
        Rotation::Deg0 => 0b001,
        Rotation::Deg120 => 0b010,
        Rotation::Deg240 => 0b100,
    }
}

fn each(set: Rotations) -> impl Iterator<Item = Rotation> {
    ROTATIONS.into_iter().filter(move |r| set & bit(*r) != 0)
}

/// Per wallbox, what "identify phases" does with it (`phase_probe`'s words).
pub type ProbeWallboxes = Vec<(String, &'static str)>;

/// What the cycle keeps of the wiring between runs.
#[derive(Debug, Clone, Default)]
pub(super) struct SiteWiring {
    estimator: PhaseEstimator,
    /// "Identify phases" under way, and the caps it sets this cycle.
    probe: Option<Probe>,
    caps: Vec<(String, i64)>,
    /// What the last probe found, once it ended.
    last_probe: Vec<(String, ProbeOutcome)>,
    /// The wallboxes whose configured rotation a confident measurement
    /// contradicts now (warned once).
    contradicted: BTreeSet<String>,
    /// The wallboxes on `auto` whose measured rotation is in use.
    applied: BTreeSet<String>,
    /// What the log should say: (is a warning, text).
    notices: Vec<(bool, String)>,
    /// The site has a grid meter: "identify phases" needs one.
    has_grid: bool,
}

/// What `get_dev_info` shows of a wallbox's wiring (flattened into its
/// entry).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct WiringView {
    /// The most probable rotation measured (0, 120, 240); null until a car
    /// has drawn here.
    pub phase_rotation_detected: Option<i64>,
    /// Its probability, 0 to 1.
    #[serde(serialize_with = "fraction")]
    pub phase_rotation_confidence: u32,
    /// How far the measurement has got: `not_drawn`, `learning`,
    /// `all_three_phases` (the car plugged in loads every phase alike) or
    /// `confident`.
    pub phase_rotation_state: &'static str,
    /// The rotations load management counts the car on now (one, or more
    /// while it cannot tell which).
    pub phase_rotation_used: Vec<i64>,
    /// Why it counts more than one, for the dashboard; empty when all is
    /// well ("configured 0°, measured 120° (confidence 97 %)").
    pub phase_rotation_warning: String,
    /// The car plugged in now, once it has drawn: on which phases.
    pub phases_detected: Option<PhasesDetected>,
    /// "Identify phases" for this wallbox: empty if never asked, else
    /// `waiting`, `stepping`, `found`, `already_known`, `not_charging`,
    /// `no_room`, `all_three_phases` or `unsure`.
    pub phase_probe: &'static str,
    /// What the allocation held back this cycle on each building phase the
    /// car may or may not be on, beyond what it gets: the rest of what it
    /// draws there (`Tracked::uncertain_floor`), mA. Not shown; the
    /// property tests count it with the limits.
    #[serde(skip)]
    pub held_ma: PerPhase,
}

/// On which phases the car plugged in now draws.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct PhasesDetected {
    /// On how many phases (1 to 3).
    pub count: u8,
    /// Which of the wallbox's phases, bit0 L1 (as `phases`).
    pub wallbox_phases: u8,
    /// Which of the building's phases, bit0 L1: the most probable.
    pub building_phases: u8,
    /// Its probability, 0 to 1.
    #[serde(serialize_with = "fraction")]
    pub confidence: u32,
    /// Read from the wallbox's own meter (else learnt from the grid meter).
    pub measured: bool,
}

/// Millionths as a fraction with three decimals.
#[allow(clippy::trivially_copy_pass_by_ref)]
fn fraction<S: Serializer>(ppm: &u32, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(f64::from(ppm / 1000) / 1000.0)
}

fn ppm(p: f64) -> u32 {
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let x = (p.clamp(0.0, 1.0) * 1e6).round() as u32;
    x
}

fn percent(p: f64) -> String {
    format!("{:.0} %", (p * 100.0).floor())
}

fn probe_word(outcome: &ProbeOutcome) -> &'static str {
    match outcome {
        ProbeOutcome::Waiting => "waiting",
        ProbeOutcome::Stepping => "stepping",
        ProbeOutcome::Found(..) => "found",
        ProbeOutcome::AlreadyKnown(..) => "already_known",
        ProbeOutcome::NotCharging => "not_charging",
        ProbeOutcome::NoRoom => "no_room",
        ProbeOutcome::AllThreePhases => "all_three_phases",
        ProbeOutcome::Unsure(..) => "unsure",
    }
}

impl SiteWiring {
    /// What a wallbox drawing `draw` (its own phases) is counted as on the
    /// building's phases: on each, the most any rotation counted puts there
    /// (see the module documentation).
    pub(super) fn on_building(rotations: Rotations, draw: PerPhase) -> PerPhase {
        each(rotations)
            .map(|r| r.to_building_values(draw))
            .fold([0; 3], |acc, d| [0, 1, 2].map(|p| acc[p].max(d[p])))
    }

    /// Wallbox `id` is no longer contradicted (if it was): says so once.
    fn cleared(&mut self, id: &str, configured: PhaseRotation) {
        if self.contradicted.remove(id) {
            self.notices.push((
                false,
                format!("{id}: phase_rotation {configured} no longer contradicts the grid meter"),
            ));
        }
    }

    /// The log lines since the last call: (is a warning, text).
    pub(super) fn take_notices(&mut self) -> Vec<(bool, String)> {
        std::mem::take(&mut self.notices)
    }
}

impl Tracked {
    /// The building phases the car may be on: its phases under every
    /// rotation counted.
    pub(super) fn building_phases(&self, wallbox_phases: u8) -> u8 {
        each(self.rotations).fold(0, |m, r| m | r.to_building(wallbox_phases))
    }

    /// What it draws (its own phases) on the building's phases, as counted
    /// (`SiteWiring::on_building`).
    pub(super) fn building_draw(&self, draw: PerPhase) -> PerPhase {
        SiteWiring::on_building(self.rotations, draw)
    }

    /// What it is counted as drawing at the least this cycle, on each
    /// building phase it may or may not be on (some rotation counted puts
    /// it there, another does not): what it draws there as counted. On the
    /// phases it surely draws on, and those it is not on, 0. `phases` are
    /// the wallbox phases its draw was counted on (the cars step's): a
    /// relay told to switch in this cycle's phase step still draws there.
    pub(super) fn uncertain_floor(&self, phases: u8) -> PerPhase {
        let surely = each(self.rotations).fold(0b111, |m, r| m & r.to_building(phases));
        let maybe = self.building_phases(phases) & !surely;
        let draw = self.building_draw(self.drawn);
        [0, 1, 2].map(|p| {
            if maybe & (1 << p) != 0 {
                draw[p].max(0)
            } else {
                0
            }
        })
    }

    /// One rotation to read the wallbox's meter by, for formulas: the one in
    /// use, else the configured one, else 0°.
    pub(super) fn likely_rotation(&self) -> Rotation {
        match (each(self.rotations).count(), self.settings.phase_rotation) {
            (1, _) => each(self.rotations).next().unwrap_or_default(),
            (_, PhaseRotation::Fixed(r)) => r,
            (_, PhaseRotation::Auto) => Rotation::Deg0,
        }
    }
}

impl Site {
    /// Feeds the estimator this cycle's readings, moves the probe on and
    /// decides which rotations each wallbox is counted on. Only a cycle
    /// with a fresh grid reading is fed; only fresh, plausible wallbox
    /// readings (a refused reading never gets here: `record`).
    pub(super) fn observe_wiring(&mut self, meters: &Meters) {
        self.wiring.has_grid = meters.has_grid;
        if let Some(grid_ma) = self.fresh_grid() {
            let wallboxes: Vec<WallboxObservation> = self
                .devices
                .iter()
                .filter(|t| t.settings.dev_type.is_wallbox() && t.fresh && !t.offline)
                .filter_map(|t| {
                    let r = t.evse_reading()?;
                    Some(WallboxObservation {
                        id: &t.settings.dev_id,
                        plugged: r.state.vehicle_present(),
                        charging: r.state.charging() && r.charging_enabled,
                        offered_ma: r.offered_ma,
                        meter_ma: r.meter.filter(|m| m.per_phase).map(|m| m.current_ma),
                    })
                })
                .collect();
            self.wiring.estimator.observe(&CycleObservation {
                grid_ma: Some(grid_ma),
                wallboxes: &wallboxes,
            });
            self.step_probe();
        }
        self.decide_rotations();
    }

    /// The grid meters' sum per phase, when every one was read since the
    /// last cycle with real per-phase values.
    fn fresh_grid(&self) -> Option<PerPhase> {
        let mut sum = [0i64; 3];
        let mut any = false;
        for t in &self.devices {
            if t.settings.dev_type.is_evse() || t.settings.role != MeterRole::Grid {
                continue;
            }
            match &t.reading {
                Some(Reading::Meter(m)) if t.fresh && !t.offline && m.per_phase => {
                    let m = if t.settings.invert {
                        m.current_ma.map(i64::saturating_neg)
                    } else {
                        m.current_ma
                    };
                    for (s, v) in sum.iter_mut().zip(m) {
                        *s = s.saturating_add(v);
                    }
                    any = true;
                }
                _ => return None,
            }
        }
        any.then_some(sum)
    }

    fn step_probe(&mut self) {
        let w = &mut self.wiring;
        let Some(probe) = w.probe.as_mut() else {
            return;
        };
        match probe.next(&w.estimator) {
            Some(caps) => w.caps = caps,
            None => {
                w.last_probe = probe.outcomes().to_vec();
                w.notices.push((false, probe_summary(&w.last_probe)));
                w.probe = None;
                w.caps.clear();
            }
        }
    }

    /// Which rotations each wallbox is counted on, with the warnings.
    fn decide_rotations(&mut self) {
        let w = &mut self.wiring;
        for t in self
            .devices
            .iter_mut()
            .filter(|t| t.settings.dev_type.is_wallbox())
        {
            let id = &t.settings.dev_id;
            let measured = w
                .estimator
                .wiring(id)
                .filter(|m| m.state == WiringState::Confident)
                .and_then(|m| Some((m.rotation?, m.confidence)));
            t.rotations = match (t.settings.phase_rotation, measured) {
                (PhaseRotation::Fixed(r), Some((m, p))) if m != r => {
                    if w.contradicted.insert(id.clone()) {
                        w.notices.push((
                            true,
                            format!(
                                "{id}: phase_rotation is configured {}°, but the grid meter \
                                 shows {}° (confidence {}): load management protects the \
                                 phases of both until this is put right",
                                r.degrees(),
                                m.degrees(),
                                percent(p)
                            ),
                        ));
                    }
                    bit(r) | bit(m)
                }
                (PhaseRotation::Fixed(r), _) => {
                    w.cleared(id, t.settings.phase_rotation);
                    bit(r)
                }
                (PhaseRotation::Auto, Some((m, p))) => {
                    w.cleared(id, t.settings.phase_rotation);
                    if w.applied.insert(id.clone()) {
                        w.notices.push((
                            false,
                            format!(
                                "{id}: phase rotation measured {}° (confidence {}), used from now on",
                                m.degrees(),
                                percent(p)
                            ),
                        ));
                    }
                    bit(m)
                }
                (PhaseRotation::Auto, None) => {
                    w.cleared(id, t.settings.phase_rotation);
                    w.applied.remove(id);
                    ALL_ROTATIONS
                }
            };
        }
    }

    /// Lowers what the allocation gives the wallboxes the probe caps (never
    /// raises anything).
    pub(super) fn cap_for_probe(&self, plan: &Plan, allocations: &mut [Allocation]) {
        if self.wiring.caps.is_empty() {
            return;
        }
        for ((i, input), result) in plan.inputs.iter().zip(allocations.iter_mut()) {
            if input.uncontrolled {
                continue;
            }
            let id = &self.devices[*i].settings.dev_id;
            if let Some((_, cap)) = self.wiring.caps.iter().find(|(c, _)| c == id) {
                result.target_ma = result.target_ma.min(*cap);
            }
        }
    }

    /// What `get_dev_info` shows of each wallbox's wiring (after the cars'
    /// step, which makes their views anew).
    pub(super) fn wiring_views(&mut self) {
        let w = &self.wiring;
        let outcomes = w.probe.as_ref().map_or(&w.last_probe[..], |p| p.outcomes());
        for t in self
            .devices
            .iter_mut()
            .filter(|t| t.settings.dev_type.is_wallbox())
        {
            let id = &t.settings.dev_id;
            let known = w.estimator.wiring(id);
            let mut view = WiringView {
                phase_rotation_state: "not_drawn",
                phase_rotation_used: each(t.rotations).map(Rotation::degrees).collect(),
                phase_probe: outcomes
                    .iter()
                    .find(|(o, _)| o == id)
                    .map_or("", |(_, o)| probe_word(o)),
                held_ma: t.view.wiring.held_ma,
                ..WiringView::default()
            };
            if let Some(k) = known {
                view.phase_rotation_detected = k.rotation.map(Rotation::degrees);
                view.phase_rotation_confidence = ppm(k.confidence);
                view.phase_rotation_state = match k.state {
                    WiringState::NotDrawn => "not_drawn",
                    WiringState::Learning => "learning",
                    WiringState::AllThreePhases => "all_three_phases",
                    WiringState::Confident => "confident",
                };
                view.phases_detected = k.car.map(|c| PhasesDetected {
                    count: c.count,
                    wallbox_phases: c.wallbox_phases,
                    building_phases: c.building_phases,
                    confidence: ppm(c.confidence),
                    measured: c.measured,
                });
                if let (PhaseRotation::Fixed(r), true) =
                    (t.settings.phase_rotation, w.contradicted.contains(id))
                {
                    view.phase_rotation_warning = format!(
                        "configured {}°, measured {}° (confidence {})",
                        r.degrees(),
                        k.rotation.map_or(0, Rotation::degrees),
                        percent(k.confidence)
                    );
                }
            }
            t.view.wiring = view;
        }
    }

    /// "Identify phases": steps the charging wallboxes whose rotation is
    /// not known one at a time (only `dev_id`, if given). Answers the plan:
    /// per wallbox what will happen, and the most cycles it takes.
    pub fn identify_phases(
        &mut self,
        dev_id: Option<&str>,
    ) -> Result<(ProbeWallboxes, u32), String> {
        if self.wiring.probe.is_some() {
            return Err("phases are being identified already".into());
        }
        if !self.params.lb_enabled {
            return Err("load management is off (observation mode): nothing can be stepped".into());
        }
        if !self.wiring.has_grid {
            return Err(
                "identifying phases needs a grid meter (role 3) with per-phase currents".into(),
            );
        }
        let wallboxes: Vec<&Tracked> = self
            .devices
            .iter()
            .filter(|t| t.settings.dev_type.is_wallbox())
            .filter(|t| dev_id.is_none_or(|d| t.settings.dev_id.eq_ignore_ascii_case(d)))
            .collect();
        if wallboxes.is_empty() {
            return Err(format!("unknown wallbox: {}", dev_id.unwrap_or("(none)")));
        }
        let candidates: Vec<ProbeCandidate> = wallboxes
            .iter()
            .map(|t| {
                let reading = t.evse_reading().filter(|_| !t.offline);
                let charging = t.settings.device_enabled
                    && t.last_set > 0
                    && reading.as_ref().is_some_and(|r| r.state.charging());
                ProbeCandidate {
                    id: &t.settings.dev_id,
                    charging,
                    current_ma: t.last_set.max(0),
                    min_ma: t.settings.min_charging_cur,
                    metered_ma: reading
                        .and_then(|r| r.meter)
                        .map(|m| m.current_ma.iter().copied().max().unwrap_or(0)),
                }
            })
            .collect();
        let probe = Probe::plan(
            &candidates,
            &self.wiring.estimator,
            ProbeSettings::default(),
        );
        let plan = probe
            .outcomes()
            .iter()
            .map(|(id, o)| (id.clone(), probe_word(o)))
            .collect();
        let longest = probe.longest_cycles();
        self.wiring.notices.push((
            false,
            format!("identifying phases: {}", probe_summary(probe.outcomes())),
        ));
        self.wiring.last_probe.clear();
        self.wiring.probe = Some(probe);
        Ok((plan, longest))
    }

    /// What was learnt about the wallboxes' rotations, to be saved.
    pub fn learnt_rotations(&self) -> BTreeMap<String, LearntRotation> {
        self.devices
            .iter()
            .filter(|t| t.settings.dev_type.is_wallbox())
            .filter_map(|t| {
                let id = &t.settings.dev_id;
                let l = self.wiring.estimator.learnt(id)?;
                Some((
                    id.clone(),
                    LearntRotation {
                        ppm: l.probabilities.map(ppm),
                        steps: l.steps,
                    },
                ))
            })
            .collect()
    }

    /// Takes up what was saved before a restart (invalid entries and
    /// unknown wallboxes are left out).
    pub fn restore_rotations(&mut self, saved: &BTreeMap<String, LearntRotation>) {
        for t in &self.devices {
            let id = &t.settings.dev_id;
            let Some(l) = saved.get(id).filter(|l| l.is_valid()) else {
                continue;
            };
            self.wiring.estimator.restore(
                id,
                &Learnt {
                    probabilities: l.ppm.map(|p| f64::from(p) / 1e6),
                    steps: l.steps,
                },
            );
        }
        self.decide_rotations();
        // What was known before is no news.
        self.wiring.notices.retain(|(warning, _)| *warning);
    }

    /// Forgets what was learnt about the wallboxes that are new boxes now
    /// (reset, another address or type) or are gone.
    pub(super) fn forget_wiring(&mut self, restarted: &[String]) {
        let restarted: std::collections::HashSet<&str> =
            restarted.iter().map(String::as_str).collect();
        let configured: std::collections::HashSet<&str> = self
            .devices
            .iter()
            .map(|t| t.settings.dev_id.as_str())
            .collect();
        let gone: Vec<String> = self
            .wiring
            .estimator
            .ids()
            .filter(|id| restarted.contains(id) || !configured.contains(id))
            .map(str::to_string)
            .collect();
        for id in gone {
            self.wiring.estimator.forget(&id);
            self.wiring.contradicted.remove(&id);
            self.wiring.applied.remove(&id);
        }
        self.decide_rotations();
    }

    /// The log lines of the wiring since the last call: (is a warning, text).
    pub fn take_wiring_notices(&mut self) -> Vec<(bool, String)> {
        self.wiring.take_notices()
    }
}

fn probe_summary(outcomes: &[(String, ProbeOutcome)]) -> String {
    let parts: Vec<String> = outcomes
        .iter()
        .map(|(id, o)| match o {
            ProbeOutcome::Found(r, p) | ProbeOutcome::AlreadyKnown(r, p) => {
                format!("{id} {}: {}° ({})", probe_word(o), r.degrees(), percent(*p))
            }
            ProbeOutcome::Unsure(Some(r), p) => {
                format!("{id} unsure: {}° ({})", r.degrees(), percent(*p))
            }
            other => format!("{id} {}", probe_word(other)),
        })
        .collect();
    if parts.is_empty() {
        "no wallbox".into()
    } else {
        parts.join(", ")
    }
}
