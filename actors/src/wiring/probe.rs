//! "Identify phases", when the admin asks for it: the charging wallboxes
//! whose rotation is not yet known are stepped one at a time, down and
//! back up a few times, while the others are held where they are, so that
//! each step stands alone in the grid meter. Pure: a plan of caps per
//! cycle, which the cycle applies on top of its allocation (the lower of
//! the two wins). A cap is never above the current the wallbox had when the
//! probe started, so the probe can only lower currents: no phase of the
//! site or of a group can go over its limit because of it.

use super::estimator::{PhaseEstimator, WiringState};
use crate::alloc::Rotation;

/// How the probe steps.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProbeSettings {
    /// How far a metered wallbox is stepped down, mA. A wallbox without a
    /// meter goes down to its minimum instead: only that is surely below
    /// what its car draws, whatever the car's own limit.
    pub depth_ma: i64,
    /// Cycles each level is held, so that a slowly ramping car gets there.
    pub hold_cycles: u32,
    /// Steps down and up per wallbox at most.
    pub pulses: u32,
    /// A wallbox is done once its rotation is this probable.
    pub enough: f64,
}

impl Default for ProbeSettings {
    fn default() -> Self {
        ProbeSettings {
            depth_ma: 4000,
            hold_cycles: 3,
            pulses: 3,
            enough: 0.99,
        }
    }
}

/// A wallbox as the cycle sees it when the probe starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProbeCandidate<'a> {
    pub id: &'a str,
    /// A car charges (state C or D).
    pub charging: bool,
    /// What load management gives it now, mA.
    pub current_ma: i64,
    /// Its `min_charging_cur`, mA.
    pub min_ma: i64,
    /// What its own meter shows now on its most loaded phase, mA; `None`
    /// without a meter.
    pub metered_ma: Option<i64>,
}

/// What the probe found out about a wallbox.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ProbeOutcome {
    /// Not yet stepped.
    Waiting,
    /// Being stepped now.
    Stepping,
    /// Its rotation is known, with this probability.
    Found(Rotation, f64),
    /// Its rotation was known before the probe.
    AlreadyKnown(Rotation, f64),
    /// No car charges there: there is nothing to step.
    NotCharging,
    /// Its car draws too little above its minimum to step it (less than
    /// 1 A), and the probe never raises a current.
    NoRoom,
    /// Its car draws on all three phases: no step shows the rotation.
    AllThreePhases,
    /// Stepped, but the grid did not show it clearly enough (the house was
    /// too busy); the most probable rotation and its probability.
    Unsure(Option<Rotation>, f64),
}

/// A step of less than this (mA) is not worth making.
const SMALLEST_STEP_MA: i64 = 1000;

#[derive(Debug, Clone)]
struct Target {
    id: String,
    low_ma: i64,
}

/// A probe under way.
#[derive(Debug, Clone)]
pub struct Probe {
    settings: ProbeSettings,
    targets: Vec<Target>,
    /// Every charging wallbox, held at its current when the probe started.
    holds: Vec<(String, i64)>,
    /// The target being stepped, and the cycle within its steps.
    current: usize,
    cycle: u32,
    outcomes: Vec<(String, ProbeOutcome)>,
}

impl Probe {
    /// Plans a probe of `candidates` (the wallboxes as the cycle sees them
    /// now), skipping those whose rotation is already known.
    pub fn plan(
        candidates: &[ProbeCandidate<'_>],
        estimator: &PhaseEstimator,
        settings: ProbeSettings,
    ) -> Probe {
        let mut targets = Vec::new();
        let mut outcomes = Vec::new();
        let mut holds = Vec::new();
        for c in candidates {
            let wiring = estimator.wiring(c.id);
            let known = wiring.as_ref().and_then(|w| {
                w.rotation
                    .filter(|_| w.confidence >= settings.enough)
                    .map(|r| (r, w.confidence))
            });
            if c.charging {
                holds.push((c.id.to_string(), c.current_ma));
            }
            let outcome = if let Some((r, p)) = known {
                ProbeOutcome::AlreadyKnown(r, p)
            } else if !c.charging || c.current_ma <= 0 {
                ProbeOutcome::NotCharging
            } else {
                let high = c.current_ma;
                let low = match c.metered_ma {
                    Some(draw) => c.min_ma.max(high.min(draw) - settings.depth_ma),
                    None => c.min_ma,
                };
                if high - low < SMALLEST_STEP_MA {
                    ProbeOutcome::NoRoom
                } else {
                    targets.push(Target {
                        id: c.id.to_string(),
                        low_ma: low,
                    });
                    ProbeOutcome::Waiting
                }
            };
            outcomes.push((c.id.to_string(), outcome));
        }
        Probe {
            settings,
            targets,
            holds,
            current: 0,
            cycle: 0,
            outcomes,
        }
    }

    /// The caps for this cycle (dev_id, mA), after the estimator has seen
    /// this cycle's readings; `None` once the probe is done (the caps are
    /// lifted). Every charging wallbox is capped at its current from the
    /// start of the probe, the one being stepped lower on its low steps.
    pub fn next(&mut self, estimator: &PhaseEstimator) -> Option<Vec<(String, i64)>> {
        let settings = self.settings;
        let steps = settings.pulses * 2 * settings.hold_cycles.max(1);
        loop {
            let target = self.targets.get(self.current)?.clone();
            let wiring = estimator.wiring(&target.id);
            let done = match &wiring {
                Some(w) if w.confidence >= settings.enough => Some(ProbeOutcome::Found(
                    w.rotation.unwrap_or_default(),
                    w.confidence,
                )),
                // A pulse shows a car on all three phases; more do not help.
                Some(w) if w.state == WiringState::AllThreePhases && self.cycle >= steps / 2 => {
                    Some(ProbeOutcome::AllThreePhases)
                }
                Some(w) if self.cycle >= steps => {
                    Some(ProbeOutcome::Unsure(w.rotation, w.confidence))
                }
                None if self.cycle >= steps => Some(ProbeOutcome::Unsure(None, 0.0)),
                _ => None,
            };
            if let Some(outcome) = done {
                self.set(&target.id, outcome);
                self.current += 1;
                self.cycle = 0;
                continue;
            }
            self.set(&target.id, ProbeOutcome::Stepping);
            let low = (self.cycle / settings.hold_cycles.max(1)).is_multiple_of(2);
            self.cycle += 1;
            let caps = self
                .holds
                .iter()
                .map(|(id, hold)| {
                    let cap = if *id == target.id && low {
                        target.low_ma
                    } else {
                        *hold
                    };
                    (id.clone(), cap)
                })
                .collect();
            return Some(caps);
        }
    }

    fn set(&mut self, id: &str, outcome: ProbeOutcome) {
        if let Some((_, o)) = self.outcomes.iter_mut().find(|(i, _)| i == id) {
            *o = outcome;
        }
    }

    /// What the probe found so far, per wallbox, in the order planned.
    pub fn outcomes(&self) -> &[(String, ProbeOutcome)] {
        &self.outcomes
    }

    /// The most cycles the probe can take: every target stepped in full.
    pub fn longest_cycles(&self) -> u32 {
        let per_target = self.settings.pulses * 2 * self.settings.hold_cycles.max(1);
        u32::try_from(self.targets.len())
            .unwrap_or(u32::MAX)
            .saturating_mul(per_target)
    }
}
