//! How each wallbox is wired, learnt from the grid meter: which building
//! phase each of its phases lands on (its rotation, 0°, 120° or 240°), and
//! on which phases the car plugged in draws. Pure code, fed once per cycle;
//! no test pattern is needed while cars charge normally.
//!
//! # What it sees
//!
//! Every cycle, after the poll: the grid meter's current per building
//! phase, and per wallbox whether a car is plugged in and charging, the
//! current it offers, and its own meter per wallbox phase if it has one.
//! It works on the changes from one cycle to the next: the grid's change
//! per phase, and each wallbox's change. The house's load drifts slowly
//! and steps now and then; the cars' currents step whenever load
//! management changes them, a car starts or stops.
//!
//! # The possibilities, and what each predicts
//!
//! Per wallbox the estimator keeps a probability for each combination of
//! - its rotation (3),
//! - the kind of car plugged in now: drawing on the wallbox's L1, on L1 and
//!   L2, or on all three (3) (type 2 cars on one phase use L1),
//! - without a meter, how that car behaves (40): its own limit (0 for a
//!   car that draws nothing, 6 to 32 A, or none) and how fast it ramps up
//!   to a higher offer (at once, 6, 3 or 1.5 A per cycle). Each behaviour
//!   determines exactly what the car draws, cycle by cycle, from the
//!   offers so far: `min(offer, limit)`, approached at its ramp.
//!
//! Each combination predicts what the grid shows of the wallbox's change:
//! - with a meter: the change its meter saw, on the building phases its
//!   rotation puts the drawing wallbox phases on (the phases are taken to
//!   change alike: a charger's small imbalance and the meters' 1 % gain
//!   errors would otherwise add up, cycle after cycle, to evidence that
//!   is not there);
//! - without: the change of the car's draw for that behaviour, on the
//!   building phases of that kind of car and rotation; while ramping, give
//!   or take half of it (real ramps are uneven).
//!
//! # The house's noise
//!
//! The grid's change less what the wallboxes explain is the house's
//! change, whose probability (`noise`) is a mixture: a small wiggle per
//! phase, a one-phase step now and then (a kettle), and on 2 % of the
//! cycles a step on all three phases at once (a heat pump's compressor).
//! The wiggle and how often and how large the one-phase steps are are
//! learnt from the cycles in which no wallbox changed. A mixture, not a
//! bell curve: a kettle switching while a car steps costs a hypothesis one
//! step's worth, not a thousand standard deviations, so one coincidence
//! never decides.
//!
//! # Evidence
//!
//! Each cycle in which a wallbox changed by at least 0.5 A is evidence
//! about it, weighed by Bayes' rule: each combination's probability is
//! multiplied by the probability of the grid's change if it were true,
//! and normalised. The confidence reported is the posterior probability of
//! the rotation (summed over the kinds and behaviours of the car). When the
//! car leaves, what it showed about the rotation stays (if it was seen
//! drawing) and its kind and behaviour are forgotten.
//!
//! What makes this safe when many things change at once:
//! - Other wallboxes that changed in the same cycle are subtracted: as
//!   known where their change is known to within 10 % whatever their
//!   wiring (a metered wallbox whose rotation is found, a three-phase car
//!   on a meter), else as extra noise the size of all their possibilities.
//! - A change counts only if the wallboxes whose change is not known moved,
//!   together, by at most a quarter of it. Load management often moves
//!   many cars at once, by the same amount; averaging each other car anew
//!   every cycle would let a consistent small bias add up (a car that did
//!   not follow is always at hand to explain a neighbour's step), so those
//!   cycles are left out rather than half-trusted. Cars starting, stopping
//!   and taking turns give the changes that stand alone.
//! - No cycle makes one combination more than 1000 times likelier than
//!   another, and none falls below 10⁻¹³ of the best, so the estimator can
//!   always change its mind.
//! - It never reports a rotation for a wallbox where no car has drawn: with
//!   a meter, drawing is at least 1 A on a phase; without, a change of the
//!   offer must have shown in the grid in full (a car following its offer
//!   at once: an appliance hardly matches the offered current), or two
//!   changes as a car at its own limit, and all that is known must say
//!   that the car draws (an appliance of any size is some car's limit).
//!
//! # Limits
//!
//! - A car on all three phases loads every phase alike whatever the
//!   rotation: its rotation cannot be seen, and does not matter for it.
//!   The state says so (`AllThreePhases`); a one- or two-phase car later
//!   shows the rotation.
//! - Cars that always start and change together with another unknown
//!   wallbox give no evidence until one of them changes alone; on a supply
//!   that never binds, a car steps only when it starts and stops. The
//!   probe (below) makes such steps on request.
//! - Without a meter: a one-phase car is taken to draw on the wallbox's L1,
//!   a two-phase car on L1 and L2, as type 2 cars do; an appliance as large
//!   as the offered current switching in the same second as the car starts
//!   looks like the car.
//! - It needs a grid meter with signed per-phase currents (export
//!   negative); a cycle in which it or a drawing wallbox is silent is left
//!   out.
//!
//! How fast it finds the rotation and how often it is right are measured
//! on thousands of random sites in `tests` and in BENCHMARKS.md.
//!
//! # The probe
//!
//! `Probe` plans "identify phases" for the admin: one wallbox at a time is
//! stepped down and back up (a few times, each level held for a few
//! cycles) while the others are held at their current, and only ever
//! lowered: the cycle applies its caps on top of the allocation.
//!
//! # How the cycle uses it
//!
//! Once per cycle, after the poll, `PhaseEstimator::observe` with the grid
//! meter's reading and every wallbox that answered; `wiring(dev_id)` for
//! what is known; `forget(dev_id)` when a wallbox is rewired, replaced or
//! removed.

mod estimator;
mod noise;
mod probe;

#[cfg(test)]
mod tests;

pub use estimator::{
    CarPhases, CycleObservation, Learnt, PhaseEstimator, WallboxObservation, WallboxWiring,
    WiringState, CONFIDENT,
};
pub use probe::{Probe, ProbeCandidate, ProbeOutcome, ProbeSettings};
