//! The estimator: fed once per cycle, it keeps for every wallbox the
//! probability of each rotation, and for the car plugged in the
//! probability of each way it may draw. The method is described in the
//! documentation of `wiring`.

use std::collections::HashMap;

use super::noise::HouseNoise;
use crate::alloc::{PerPhase, Rotation};

/// A rotation at least this probable counts as found.
pub const CONFIDENT: f64 = 0.95;

/// A wallbox changing its draw by less than this (A) in a cycle is not
/// evidence about it.
const STEP_A: f64 = 0.5;
/// A wallbox whose change this cycle is known to within this share of the
/// change (plus `KNOWN_ABS_A`), whatever its wiring, is subtracted as known.
const KNOWN_SHARE: f64 = 0.1;
const KNOWN_ABS_A: f64 = 0.05;
/// A wallbox's change is evidence only when the wallboxes whose change is
/// not known changed, together, by at most this share of it.
const ISOLATION: f64 = 0.25;
/// No single cycle makes one possibility more than this many times likelier
/// than another: protection against what the noise model does not know.
const MAX_RATIO_PER_CYCLE: f64 = 1000.0;
/// No possibility falls below e^-30 (1e-13) of the best: it stays able to
/// come back.
const FLOOR: f64 = -30.0;
/// Meter error and timing: the part of a change that may go unexplained.
const MODEL_SHARE: f64 = 0.05;
/// A wallbox phase draws when its meter shows at least this, A.
const DRAWING_A: f64 = 1.0;
/// Without a meter, a car counts as drawing once a change of its offer
/// showed in the grid in full (the car follows the offer: "it draws" at
/// least `SHOWN_RATIO` times likelier than "it does not"), or two changes
/// showed as a car drawing less than offered (at its own limit): an
/// appliance switching in the same second can look like one such change,
/// as any appliance's current is some car's limit, but it hardly matches
/// the offered current.
const SHOWN_CHANGES: u32 = 2;
const SHOWN_RATIO: f64 = 100.0;

/// The ways a car draws on the wallbox's phases when no meter says: one
/// phase (the wallbox's L1, as type 2 cars do), two (L1 and L2), three.
const CAR_KINDS: [u8; 3] = [0b001, 0b011, 0b111];
const ROTATIONS: [Rotation; 3] = [Rotation::Deg0, Rotation::Deg120, Rotation::Deg240];
/// The limits a car behind a wallbox without a meter may have, A per
/// phase: 0 (a full battery, a car that does not draw), common on-board
/// charger and cable limits, and none.
const CAR_LIMITS_A: [f64; 10] = [
    0.0,
    6.0,
    8.0,
    10.0,
    13.0,
    16.0,
    20.0,
    25.0,
    32.0,
    f64::INFINITY,
];
const LIMITS: usize = CAR_LIMITS_A.len();
/// How far a car's draw rises towards a higher offer in one cycle, A: at
/// once, or ramping more slowly; and how common each is.
const RAMPS_A: [f64; 4] = [f64::INFINITY, 6.0, 3.0, 1.5];
const RAMP_PRIOR: [f64; 4] = [0.55, 0.2, 0.15, 0.1];
const RAMPS: usize = RAMPS_A.len();
/// A ramping car's change in a cycle is known to within this share of it.
const RAMP_UNCERTAINTY: f64 = 0.5;
/// Ways a car behind a wallbox without a meter may behave: its limit ×
/// its ramp. Each determines, from the offers so far, what the car draws.
const BEHAVIOURS: usize = LIMITS * RAMPS;
/// Hypotheses per wallbox: rotation × kind of car × its behaviour.
const HYPOTHESES: usize = 3 * 3 * BEHAVIOURS;

fn hypothesis(rotation: usize, kind: usize, behaviour: usize) -> usize {
    (rotation * 3 + kind) * BEHAVIOURS + behaviour
}

fn limit_of(behaviour: usize) -> f64 {
    CAR_LIMITS_A[behaviour / RAMPS]
}

fn ramp_of(behaviour: usize) -> f64 {
    RAMPS_A[behaviour % RAMPS]
}

/// Prior probability of each behaviour: limits alike, ramps as common as
/// `RAMP_PRIOR` says.
fn behaviour_prior(behaviour: usize) -> f64 {
    #[allow(clippy::cast_precision_loss)]
    let per_limit = 1.0 / LIMITS as f64;
    per_limit * RAMP_PRIOR[behaviour % RAMPS]
}

/// The hypotheses of one rotation.
fn of_rotation(rotation: usize) -> std::ops::Range<usize> {
    hypothesis(rotation, 0, 0)..hypothesis(rotation + 1, 0, 0)
}

/// What one wallbox reports in a cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WallboxObservation<'a> {
    /// Its dev_id (any name that stays the same from cycle to cycle).
    pub id: &'a str,
    /// A car is plugged in (IEC 61851 state B, C or D). A change means
    /// another car.
    pub plugged: bool,
    /// The car may draw now (state C or D, charging enabled).
    pub charging: bool,
    /// The current the wallbox offers the car now, mA per phase
    /// (`EvseReading::offered_ma`).
    pub offered_ma: i64,
    /// Its own meter, mA per wallbox phase (L1, L2, L3 of the wallbox);
    /// `None` without a meter or with one that has no per-phase values.
    pub meter_ma: Option<PerPhase>,
}

/// What the estimator is fed once per cycle, after the poll.
#[derive(Debug, Clone, Copy)]
pub struct CycleObservation<'a> {
    /// The grid meter (role 3), mA per building phase, signed (+ import);
    /// the sum if there are several. `None` when it did not answer.
    pub grid_ma: Option<PerPhase>,
    /// Every wallbox that answered this cycle. One that did not is left
    /// out: a cycle in which a wallbox that was drawing went silent is not
    /// used.
    pub wallboxes: &'a [WallboxObservation<'a>],
}

/// How far the estimator has got with a wallbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WiringState {
    /// No car has drawn current here yet: nothing is known.
    NotDrawn,
    /// Cars have drawn, the rotation is not yet found.
    Learning,
    /// The car plugged in now draws on all three phases, and no earlier
    /// car showed the rotation: every rotation loads the building alike.
    AllThreePhases,
    /// The most probable rotation has at least `CONFIDENT` probability.
    Confident,
}

/// How the car plugged in now draws.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CarPhases {
    /// On how many phases (1 to 3).
    pub count: u8,
    /// On which of the wallbox's phases (bit0 L1).
    pub wallbox_phases: u8,
    /// On which of the building's phases (bit0 L1), the most probable.
    pub building_phases: u8,
    /// The probability of `building_phases`.
    pub confidence: f64,
    /// Read from the wallbox's own meter (else learnt from the grid meter).
    pub measured: bool,
}

/// What the estimator knows about one wallbox.
#[derive(Debug, Clone, PartialEq)]
pub struct WallboxWiring {
    /// Probability of each rotation: 0°, 120°, 240°.
    pub probabilities: [f64; 3],
    /// The most probable rotation, once a car has drawn here.
    pub rotation: Option<Rotation>,
    /// Its probability (0 before a car has drawn).
    pub confidence: f64,
    pub state: WiringState,
    /// Cycles whose change was evidence about this wallbox.
    pub steps: u32,
    /// The car plugged in now, once it has drawn.
    pub car: Option<CarPhases>,
}

/// What is kept of a wallbox across a restart (`PhaseEstimator::learnt`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Learnt {
    /// Probability of each rotation: 0°, 120°, 240°.
    pub probabilities: [f64; 3],
    /// Cycles whose change was evidence about it.
    pub steps: u32,
}

/// What a wallbox draws, in A, as far as the cycle can tell.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Draw {
    /// Its meter, per wallbox phase.
    Metered([f64; 3]),
    /// No meter: the current offered while charging, else 0. The car
    /// draws this or its own limit, whichever is lower.
    Offered(f64),
}

/// How a wallbox's draw changed since the last cycle.
#[derive(Debug, Clone, PartialEq)]
enum Delta {
    /// Its meter: by `amps` on each of the wallbox phases in `mask` (those
    /// drawing before or after). The phases are taken as changing alike:
    /// the small differences between them (a charger's imbalance, the
    /// meters' gain errors) would otherwise add up, cycle after cycle, to
    /// evidence that is not there.
    Metered { mask: u8, amps: f64 },
    /// No meter: what it offered while charging, before and now, and by
    /// how much the car's draw changed if it behaves each way.
    Offered {
        before: f64,
        after: f64,
        changes: Box<[Followed; BEHAVIOURS]>,
    },
}

/// How a car's draw changed in a cycle if it behaves one way.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
struct Followed {
    /// A.
    change: f64,
    /// The car was ramping: real ramps are not as even as the model's, so
    /// the change is known only to within half of it.
    ramping: bool,
}

impl Followed {
    fn variance(&self) -> f64 {
        if self.ramping {
            (RAMP_UNCERTAINTY * self.change).powi(2)
        } else {
            0.0
        }
    }
}

impl Delta {
    fn is_none(&self) -> bool {
        match self {
            Delta::Metered { amps, .. } => *amps == 0.0,
            Delta::Offered { changes, .. } => changes.iter().all(|c| c.change == 0.0),
        }
    }

    /// How much it changed, A: the meter's change, or the largest the car
    /// may have made.
    fn size(&self) -> f64 {
        match self {
            Delta::Metered { amps, .. } => amps.abs(),
            Delta::Offered { changes, .. } => {
                changes.iter().fold(0.0, |m: f64, c| m.max(c.change.abs()))
            }
        }
    }
}

/// The change of a metered wallbox: by the mean change of the phases
/// drawing before or after.
fn metered_delta(before: [f64; 3], after: [f64; 3]) -> Delta {
    let mask = drawing_mask(before) | drawing_mask(after);
    let on: Vec<usize> = (0..3).filter(|p| mask & (1 << p) != 0).collect();
    let amps = if on.is_empty() {
        0.0
    } else {
        #[allow(clippy::cast_precision_loss)]
        let n = on.len() as f64;
        on.iter().map(|&p| after[p] - before[p]).sum::<f64>() / n
    };
    Delta::Metered { mask, amps }
}

fn on_phases(mask: u8, amps: f64) -> [f64; 3] {
    [0, 1, 2].map(|j| if mask & (1 << j) != 0 { amps } else { 0.0 })
}

/// Mean and variance per phase of what the grid shows of a change.
#[derive(Debug, Clone, Copy, Default)]
struct Moments {
    mean: [f64; 3],
    var: [f64; 3],
}

/// A wallbox whose draw changed this cycle.
#[derive(Debug, Clone)]
struct Change {
    wallbox: usize,
    delta: Delta,
    size: f64,
    /// What it adds to the background of the others' judgement: its learnt
    /// moments when known, else its moments knowing nothing.
    background: Moments,
    known: bool,
}

impl Change {
    fn new(wallbox: usize, slot: &Wallbox, delta: Delta) -> Self {
        // Per phase: the mean and mean square of the change, knowing
        // nothing and knowing what is known.
        let mut sums = [[0.0; 4]; 3];
        match &delta {
            Delta::Metered { mask, amps } => {
                let p = slot.rotation_probabilities();
                for (r, rotation) in ROTATIONS.iter().enumerate() {
                    let predicted = on_phases(rotation.to_building(*mask), *amps);
                    for (sum, x) in sums.iter_mut().zip(predicted) {
                        sum[0] += x / 3.0;
                        sum[1] += x * x / 3.0;
                        sum[2] += p[r] * x;
                        sum[3] += p[r] * x * x;
                    }
                }
            }
            Delta::Offered { changes, .. } => {
                // The car's change lands on phase j if j is in its footprint.
                let learnt = slot.footprints();
                let flat = flat_footprints();
                for (j, sum) in sums.iter_mut().enumerate() {
                    let with_j = |by_mask: &dyn Fn(usize) -> f64| -> f64 {
                        (1..8).filter(|m| m & (1 << j) != 0).map(by_mask).sum()
                    };
                    let flat_j = with_j(&|m| flat[m]);
                    for (b, followed) in changes.iter().enumerate() {
                        let learnt_j = with_j(&|m| learnt[m][b]);
                        let (x, square) = (
                            followed.change,
                            followed.change * followed.change + followed.variance(),
                        );
                        sum[0] += flat_j * behaviour_prior(b) * x;
                        sum[1] += flat_j * behaviour_prior(b) * square;
                        sum[2] += learnt_j * x;
                        sum[3] += learnt_j * square;
                    }
                }
            }
        }
        let moments = |m: usize| Moments {
            mean: sums.map(|s| s[m]),
            var: sums.map(|s| (s[m + 1] - s[m] * s[m]).max(0.0)),
        };
        let flat = moments(0);
        let learnt = moments(2);
        let size = delta.size();
        // Known: what the grid shows of it is known to within a tenth,
        // whichever way it is wired and however its car follows.
        let spread = learnt.var.iter().fold(0.0, |m: f64, v| m.max(*v)).sqrt();
        let known = spread <= KNOWN_SHARE * size + KNOWN_ABS_A;
        Change {
            wallbox,
            delta,
            size,
            background: if known { learnt } else { flat },
            known,
        }
    }
}

/// Probability of each building footprint knowing nothing.
fn flat_footprints() -> [f64; 8] {
    let mut f = [0.0; 8];
    for r in ROTATIONS {
        for kind in CAR_KINDS {
            f[usize::from(r.to_building(kind))] += 1.0 / 9.0;
        }
    }
    f
}

#[derive(Debug, Clone)]
struct Wallbox {
    id: String,
    /// ln weight of each (rotation, kind of the car plugged in now, its
    /// behaviour); what earlier cars showed is in the rotations' weights.
    weights: [f64; HYPOTHESES],
    /// The same as probabilities, kept up to date with the weights, and
    /// summed per rotation.
    probabilities: [f64; HYPOTHESES],
    rotations: [f64; 3],
    /// ln weights of the rotations before the car plugged in now.
    before_car: [f64; 3],
    plugged: bool,
    /// Last cycle's draw and the cycle it was seen in.
    last: Option<(Draw, u64)>,
    /// Without a meter: what the car draws now if it behaves each way, A,
    /// followed from the offers cycle by cycle.
    draws: [f64; BEHAVIOURS],
    /// A car has drawn here.
    drawn: bool,
    /// The car plugged in now has drawn.
    car_drawn: bool,
    /// Wallbox phases the meter saw the car plugged in now draw on.
    metered_phases: u8,
    /// Without a meter: changes of the offer to the car plugged in now
    /// that showed in the grid.
    shown: u32,
    /// The last draw came from a meter.
    metered: bool,
    steps: u32,
}

fn car_prior() -> [f64; HYPOTHESES] {
    let mut prior = [0.0; HYPOTHESES];
    for (h, p) in prior.iter_mut().enumerate() {
        *p = (behaviour_prior(h % BEHAVIOURS) / 9.0).ln();
    }
    prior
}

impl Wallbox {
    fn new(id: &str) -> Self {
        let mut slot = Wallbox {
            id: id.to_string(),
            weights: car_prior(),
            probabilities: [0.0; HYPOTHESES],
            rotations: [1.0 / 3.0; 3],
            before_car: [0.0; 3],
            plugged: false,
            last: None,
            draws: [0.0; BEHAVIOURS],
            drawn: false,
            car_drawn: false,
            metered_phases: 0,
            shown: 0,
            metered: false,
            steps: 0,
        };
        slot.normalise();
        slot
    }

    /// The car left (or another came): what it showed about the rotation
    /// stays if it was seen drawing (a car that never drew teaches nothing),
    /// its kind and behaviour are forgotten.
    fn next_car(&mut self) {
        let rotations = if self.car_drawn {
            [0, 1, 2].map(|r| log_sum(&self.weights[of_rotation(r)]))
        } else {
            self.before_car
        };
        self.before_car = rotations;
        let prior = car_prior();
        for (r, weight) in rotations.iter().enumerate() {
            for h in of_rotation(r) {
                // The prior spreads 1/9 over rotation and kind; the
                // rotation's own weight replaces its third.
                self.weights[h] = weight + prior[h] + 3f64.ln();
            }
        }
        self.normalise();
        self.draws = [0.0; BEHAVIOURS];
        self.car_drawn = false;
        self.metered_phases = 0;
        self.shown = 0;
    }

    /// Keeps the best weight at ln 1 and none below `FLOOR` of it, so that
    /// new evidence can always change its mind; brings the probabilities
    /// up to date.
    fn normalise(&mut self) {
        let top = max_of(&self.weights);
        if !top.is_finite() {
            self.weights = car_prior();
            return self.normalise();
        }
        for l in &mut self.weights {
            *l = (*l - top).max(FLOOR);
        }
        let w = self.weights.map(f64::exp);
        let total: f64 = w.iter().sum();
        self.probabilities = w.map(|x| x / total);
        self.rotations = [0, 1, 2].map(|r| self.probabilities[of_rotation(r)].iter().sum());
    }

    fn rotation_probabilities(&self) -> [f64; 3] {
        self.rotations
    }

    /// Probability of each (building footprint, behaviour), the footprint
    /// as a mask 1..=7 (index = mask).
    fn footprints(&self) -> [[f64; BEHAVIOURS]; 8] {
        let mut f = [[0.0; BEHAVIOURS]; 8];
        for (r, rotation) in ROTATIONS.iter().enumerate() {
            for (k, kind) in CAR_KINDS.iter().enumerate() {
                let mask = usize::from(rotation.to_building(*kind));
                for (b, x) in f[mask].iter_mut().enumerate() {
                    *x += self.probabilities[hypothesis(r, k, b)];
                }
            }
        }
        f
    }

    /// Probability that the car plugged in now does not draw (limit 0).
    fn not_drawing(&self) -> f64 {
        (0..HYPOTHESES)
            .filter(|h| limit_of(h % BEHAVIOURS) == 0.0)
            .map(|h| self.probabilities[h])
            .sum()
    }

    /// Follows the car's draw, for every way it may behave, to an offer of
    /// `offered` (A, 0 when not charging); answers the change of each.
    fn follow(&mut self, offered: f64) -> [Followed; BEHAVIOURS] {
        let mut changes = [Followed::default(); BEHAVIOURS];
        for (b, draw) in self.draws.iter_mut().enumerate() {
            let target = offered.min(limit_of(b));
            let (next, ramping) = if target <= *draw {
                (target, false)
            } else {
                ((*draw + ramp_of(b)).min(target), ramp_of(b).is_finite())
            };
            changes[b] = Followed {
                change: next - *draw,
                ramping,
            };
            *draw = next;
        }
        changes
    }

    /// After a gap: the car is taken to have settled at the offer.
    fn settle(&mut self, offered: f64) {
        for (b, draw) in self.draws.iter_mut().enumerate() {
            *draw = offered.min(limit_of(b));
        }
    }
}

fn max_of(values: &[f64]) -> f64 {
    values.iter().copied().fold(f64::NEG_INFINITY, f64::max)
}

fn log_sum(values: &[f64]) -> f64 {
    let top = max_of(values);
    if top == f64::NEG_INFINITY {
        return top;
    }
    top + values.iter().map(|v| (v - top).exp()).sum::<f64>().ln()
}

fn amps(ma: i64) -> f64 {
    #[allow(clippy::cast_precision_loss)]
    let a = ma as f64 / 1000.0;
    a
}

/// The wallbox phases drawing at least `DRAWING_A`.
fn drawing_mask(amps: [f64; 3]) -> u8 {
    (0..3)
        .filter(|&p| amps[p].abs() >= DRAWING_A)
        .fold(0, |m, p| m | (1 << p))
}

/// Learns the wiring of the wallboxes from the grid meter. Pure: fed once
/// per cycle with `observe`, asked with `wiring`.
#[derive(Debug, Clone, Default)]
pub struct PhaseEstimator {
    wallboxes: Vec<Wallbox>,
    index: HashMap<String, usize>,
    noise: HouseNoise,
    last_grid: Option<([f64; 3], u64)>,
    cycle: u64,
}

impl PhaseEstimator {
    pub fn new() -> Self {
        PhaseEstimator::default()
    }

    /// Forgets what was learnt about a wallbox (it was rewired, replaced
    /// or removed).
    pub fn forget(&mut self, id: &str) {
        if let Some(i) = self.index.remove(id) {
            self.wallboxes.swap_remove(i);
            if let Some(moved) = self.wallboxes.get(i) {
                self.index.insert(moved.id.clone(), i);
            }
        }
    }

    /// Feeds one cycle's readings.
    pub fn observe(&mut self, obs: &CycleObservation<'_>) {
        self.cycle += 1;
        let cycle = self.cycle;
        let mut usable = true;
        let mut changes = Vec::new();
        let mut unplugged = Vec::new();
        let mut seen = vec![false; self.wallboxes.len()];
        for w in obs.wallboxes {
            let i = match self.index.get(w.id) {
                Some(&i) => i,
                None => {
                    self.index.insert(w.id.to_string(), self.wallboxes.len());
                    self.wallboxes.push(Wallbox::new(w.id));
                    seen.push(false);
                    self.wallboxes.len() - 1
                }
            };
            if std::mem::replace(&mut seen[i], true) {
                // The same wallbox twice: the cycle cannot be trusted.
                usable = false;
                continue;
            }
            let slot = &mut self.wallboxes[i];
            match (slot.plugged, w.plugged) {
                (false, true) => slot.next_car(),
                // The step of a car leaving is judged with what is known of
                // that car; another car's hypotheses start after it.
                (true, false) => unplugged.push(i),
                _ => {}
            }
            slot.plugged = w.plugged;
            let draw = match w.meter_ma {
                Some(m) => Draw::Metered(m.map(amps)),
                None if w.charging => Draw::Offered(amps(w.offered_ma).max(0.0)),
                None => Draw::Offered(0.0),
            };
            slot.metered = w.meter_ma.is_some();
            if let (Draw::Metered(a), true) = (draw, w.plugged) {
                slot.metered_phases |= drawing_mask(a);
                if drawing_mask(a) != 0 {
                    slot.drawn = true;
                    slot.car_drawn = true;
                }
            }
            let previous = slot.last.filter(|(_, at)| at + 1 == cycle);
            let delta = match (previous, draw) {
                (Some((Draw::Metered(a), _)), Draw::Metered(b)) => Some(metered_delta(a, b)),
                (Some((Draw::Offered(before), _)), Draw::Offered(after)) => Some(Delta::Offered {
                    before,
                    after,
                    changes: Box::new(slot.follow(after)),
                }),
                (_, Draw::Offered(after)) => {
                    slot.settle(after);
                    None
                }
                _ => None,
            };
            slot.last = Some((draw, cycle));
            match delta {
                Some(d) if d.is_none() => {}
                Some(d) => changes.push(Change::new(i, slot, d)),
                // Its change is unknown: the grid's change cannot be explained.
                None => usable = false,
            }
        }
        // A wallbox that was drawing and went silent changed unknowably.
        for (slot, seen) in self.wallboxes.iter_mut().zip(&seen) {
            if !seen {
                if let Some((d, _)) = slot.last.take() {
                    usable &= match d {
                        Draw::Metered(a) => drawing_mask(a) == 0,
                        Draw::Offered(a) => a == 0.0,
                    };
                }
            }
        }
        let grid = obs.grid_ma.map(|g| g.map(amps));
        let grid_change = match (self.last_grid, grid) {
            (Some((a, at)), Some(b)) if at + 1 == cycle => Some([0, 1, 2].map(|j| b[j] - a[j])),
            _ => None,
        };
        self.last_grid = grid.map(|g| (g, cycle));
        if let Some(grid_change) = grid_change.filter(|_| usable) {
            self.judge(grid_change, &changes);
        }
        for i in unplugged {
            self.wallboxes[i].next_car();
        }
    }

    /// Weighs the grid's change against each wallbox's possibilities.
    fn judge(&mut self, grid_change: [f64; 3], changes: &[Change]) {
        let model_var: f64 = changes.iter().map(|c| (MODEL_SHARE * c.size).powi(2)).sum();
        let mut background = Moments {
            mean: [0.0; 3],
            var: [model_var; 3],
        };
        for c in changes {
            for j in 0..3 {
                background.mean[j] += c.background.mean[j];
                background.var[j] += c.background.var[j];
            }
        }
        let steps: Vec<&Change> = changes.iter().filter(|c| c.size >= STEP_A).collect();
        if steps.is_empty() {
            let residual = [0, 1, 2].map(|j| grid_change[j] - background.mean[j]);
            self.noise.learn(residual);
            return;
        }
        let unknown: f64 = changes.iter().filter(|c| !c.known).map(|c| c.size).sum();
        for change in steps {
            let others = unknown - if change.known { 0.0 } else { change.size };
            if others <= ISOLATION * change.size {
                self.judge_one(grid_change, change, background);
            }
        }
    }

    /// Judges one change: the grid's change less the background (every
    /// other change: known ones as they are known, the others spread over
    /// all their possibilities) is compared with what each possibility
    /// predicts, under the house's noise; the evidence goes to the wallbox.
    fn judge_one(&mut self, grid_change: [f64; 3], change: &Change, background: Moments) {
        let own = change.background;
        let target = [0, 1, 2].map(|j| grid_change[j] - (background.mean[j] - own.mean[j]));
        let var = [0, 1, 2].map(|j| background.var[j] - own.var[j]);
        let likelihood = |predicted: [f64; 3], variance: [f64; 3]| -> f64 {
            let residual = [0, 1, 2].map(|j| target[j] - predicted[j]);
            self.noise
                .log_likelihood(residual, [0, 1, 2].map(|j| var[j] + variance[j]))
        };
        let mut evidence = [f64::NEG_INFINITY; HYPOTHESES];
        // Unmetered: the evidence per (footprint, behaviour).
        let mut car = [[f64::NEG_INFINITY; BEHAVIOURS]; 8];
        match &change.delta {
            Delta::Metered { mask, amps } => {
                for (r, rotation) in ROTATIONS.iter().enumerate() {
                    let l = likelihood(on_phases(rotation.to_building(*mask), *amps), [0.0; 3]);
                    evidence[of_rotation(r)].fill(l);
                }
            }
            Delta::Offered { changes, .. } => {
                // Behaviours often change the draw alike: each different
                // change is weighed once per footprint.
                let mut distinct: Vec<Followed> = Vec::with_capacity(8);
                let which: Vec<usize> = changes
                    .iter()
                    .map(|f| match distinct.iter().position(|d| d == f) {
                        Some(i) => i,
                        None => {
                            distinct.push(*f);
                            distinct.len() - 1
                        }
                    })
                    .collect();
                for (mask, by_behaviour) in car.iter_mut().enumerate().skip(1) {
                    #[allow(clippy::cast_possible_truncation)]
                    let m = mask as u8;
                    let ls: Vec<f64> = distinct
                        .iter()
                        .map(|f| likelihood(on_phases(m, f.change), on_phases(m, f.variance())))
                        .collect();
                    for (e, i) in by_behaviour.iter_mut().zip(&which) {
                        *e = ls[*i];
                    }
                }
                for (r, rotation) in ROTATIONS.iter().enumerate() {
                    for (k, kind) in CAR_KINDS.iter().enumerate() {
                        let mask = usize::from(rotation.to_building(*kind));
                        for (b, e) in car[mask].iter().enumerate() {
                            evidence[hypothesis(r, k, b)] = *e;
                        }
                    }
                }
            }
        }
        let top = max_of(&evidence);
        if !top.is_finite() {
            return;
        }
        let floor = top - MAX_RATIO_PER_CYCLE.ln();
        let slot = &mut self.wallboxes[change.wallbox];
        if let Delta::Offered { before, after, .. } = change.delta {
            // Did this change show in the grid: is a car that draws much
            // likelier than one that does not? In full (it follows the
            // offer at once), or only as a car at its own limit or ramping?
            let best = |keep: &dyn Fn(usize) -> bool| {
                car.iter()
                    .flat_map(|by| by.iter().enumerate())
                    .filter(|(b, _)| keep(*b))
                    .map(|(_, l)| *l)
                    .fold(f64::NEG_INFINITY, f64::max)
            };
            let still = best(&|b| limit_of(b) == 0.0);
            let full = best(&|b| {
                limit_of(b) > 0.0 && limit_of(b) >= before.max(after) && ramp_of(b) == f64::INFINITY
            });
            let limited = best(&|b| limit_of(b) > 0.0);
            if full - still >= SHOWN_RATIO.ln() {
                slot.shown += SHOWN_CHANGES;
            } else if limited - still >= SHOWN_RATIO.ln() {
                slot.shown += 1;
            }
        }
        for (l, e) in slot.weights.iter_mut().zip(evidence) {
            *l += e.max(floor) - top;
        }
        slot.normalise();
        slot.steps = slot.steps.saturating_add(1);
        // ... and all that is known says it draws.
        if slot.shown >= SHOWN_CHANGES && slot.not_drawing() < 1.0 - CONFIDENT {
            slot.drawn = true;
            slot.car_drawn = true;
        }
    }

    /// What is known about wallbox `id`; `None` if it was never observed.
    pub fn wiring(&self, id: &str) -> Option<WallboxWiring> {
        let slot = &self.wallboxes[*self.index.get(id)?];
        let probabilities = slot.rotation_probabilities();
        let (best, p) = probabilities
            .iter()
            .copied()
            .enumerate()
            .fold((0, 0.0), |b, (r, p)| if p > b.1 { (r, p) } else { b });
        let car = (slot.plugged && slot.car_drawn).then(|| car_phases(slot, &probabilities));
        let state = if !slot.drawn {
            WiringState::NotDrawn
        } else if p >= CONFIDENT {
            WiringState::Confident
        } else if car.is_some_and(|c| c.count == 3 && c.confidence >= CONFIDENT) {
            WiringState::AllThreePhases
        } else {
            WiringState::Learning
        };
        Some(WallboxWiring {
            probabilities,
            rotation: slot.drawn.then_some(ROTATIONS[best]),
            confidence: if slot.drawn { p } else { 0.0 },
            state,
            steps: slot.steps,
            car,
        })
    }

    /// What was learnt about wallbox `id` that outlives its car, to be
    /// kept across a restart: the probability of each rotation, once a car
    /// has drawn there (`None` before).
    pub fn learnt(&self, id: &str) -> Option<Learnt> {
        let slot = &self.wallboxes[*self.index.get(id)?];
        if !slot.drawn {
            return None;
        }
        // What the car plugged in now showed counts once it has drawn.
        let weights = if slot.car_drawn {
            [0, 1, 2].map(|r| log_sum(&slot.weights[of_rotation(r)]))
        } else {
            slot.before_car
        };
        let top = max_of(&weights);
        let w = weights.map(|l| (l - top).exp());
        let total: f64 = w.iter().sum();
        Some(Learnt {
            probabilities: w.map(|x| x / total),
            steps: slot.steps,
        })
    }

    /// Takes up what was learnt about wallbox `id` before a restart, as if
    /// its cars had been seen again. Probabilities that are not finite,
    /// negative or all zero are ignored.
    pub fn restore(&mut self, id: &str, learnt: &Learnt) {
        let p = learnt.probabilities;
        if p.iter().any(|x| !x.is_finite() || *x < 0.0) || p.iter().sum::<f64>() <= 0.0 {
            return;
        }
        self.forget(id);
        let mut slot = Wallbox::new(id);
        slot.before_car = p.map(|x| x.ln().max(FLOOR));
        slot.drawn = true;
        slot.steps = learnt.steps;
        slot.next_car();
        self.index.insert(id.to_string(), self.wallboxes.len());
        self.wallboxes.push(slot);
    }

    /// The ids of the wallboxes it knows.
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.wallboxes.iter().map(|w| w.id.as_str())
    }

    /// The house's wiggle the estimator has learnt, mA per phase (its
    /// standard deviation from one cycle to the next).
    pub fn house_noise_ma(&self) -> PerPhase {
        #[allow(clippy::cast_possible_truncation)]
        self.noise.sd().map(|a| (a * 1000.0).round() as i64)
    }
}

fn car_phases(slot: &Wallbox, rotations: &[f64; 3]) -> CarPhases {
    if slot.metered && slot.metered_phases != 0 {
        let mask = slot.metered_phases;
        let mut by_mask = [0.0; 8];
        for (r, p) in rotations.iter().enumerate() {
            by_mask[usize::from(ROTATIONS[r].to_building(mask))] += p;
        }
        let (building, confidence) = most_probable(&by_mask);
        return CarPhases {
            count: phase_count(mask),
            wallbox_phases: mask,
            building_phases: building,
            confidence,
            measured: true,
        };
    }
    let by_mask = slot.footprints().map(|limits| limits.iter().sum());
    let (building, confidence) = most_probable(&by_mask);
    let count = phase_count(building);
    CarPhases {
        count,
        wallbox_phases: CAR_KINDS[usize::from(count.clamp(1, 3) - 1)],
        building_phases: building,
        confidence,
        measured: false,
    }
}

fn phase_count(mask: u8) -> u8 {
    #[allow(clippy::cast_possible_truncation)]
    let n = (mask & 0b111).count_ones() as u8;
    n
}

/// The mask with the highest probability, and it.
fn most_probable(by_mask: &[f64; 8]) -> (u8, f64) {
    let mut best = (0b111u8, 0.0);
    for (mask, p) in (0u8..).zip(by_mask) {
        if *p > best.1 {
            best = (mask, *p);
        }
    }
    best
}
