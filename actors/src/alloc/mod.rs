//! The allocator: divides the current the site can spare among the cars,
//! per building phase, by priority, fairly, and never above a limit.
//!
//! Pure code (no actix, tokio, clock or I/O), so every rule is tested alone.
//!
//! How one allocation runs:
//! 1. Every limit becomes a constraint per phase: the site (what EVSEs may
//!    draw after house load and reserve), the cap for all EVSEs together,
//!    and each group with its ancestors. Uncontrolled EVSEs (a wallbox that
//!    stopped answering) are counted against every constraint first.
//! 2. Priorities are served strictly, highest first. Within a priority,
//!    cars get their minimum in turn order (first come, first served, with
//!    round robin decided by the caller's `turn`); a car whose minimum does
//!    not fit is paused, with the limit that stopped it as the reason. Its
//!    minimum is then kept free from the cars after it in turn order (if it
//!    would fit were they not there), so that cars loading other phases
//!    cannot keep it waiting turn after turn.
//! 3. What is left is shared by water-filling: all cars of the priority rise
//!    together towards one level, each capped at its maximum, until a
//!    constraint they share is full (max-min fairness).
//! 4. Targets are rounded down to 100 mA.
//! 5. Phase imbalance: while the most and least loaded phase differ by more
//!    than the limit, cars that load the heavy phase but not the light one
//!    are reduced (lowest priority, latest turn first), then paused; those
//!    targets become caps, and steps 1 to 5 run again, so that what the cuts
//!    freed goes by priority to cars that can take it.
//!
//! The safety invariant, property-tested: no phase of the site, of the EVSE
//! cap or of any group is ever given more than its limit.
//!
//! Cost, for n EVSEs, g groups of depth at most d, and "classes" (EVSEs
//! with the same group and phases share their limits; at most 8 per group
//! and 8 outside groups, so c ≤ 8(g + 1), usually far fewer than n):
//! - the serving order: two stable radix sorts, O(n) per byte in which the
//!   keys differ (a byte or two of priority and turn in practice);
//! - admission: O(n × (d + 2) × 3) room checks;
//! - water-filling, per priority: O(m) to sort its m cars' starts and stops
//!   by level (radix) and to read each car's level off its class, plus
//!   O(events × classes per slot × log slots) for the sweep, which moves
//!   per class, not per car;
//! - the imbalance: O(n) per round; each round that cuts a car reruns the
//!   allocation with the cut as a cap, so a site where the imbalance binds
//!   costs one allocation per round (see `allocate_nested` in BENCHMARKS.md).
//!
//! Altogether O(n + c·d) per round.

pub mod budget;
mod fill;
pub mod turns;

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::fmt;

/// mA per building phase, L1..L3.
pub type PerPhase = [i64; 3];

/// Targets are multiples of this (mA).
pub const STEP_MA: i64 = 100;

/// The largest magnitude of any current the allocator works with, mA
/// (2^40 mA, about a million times any real fuse). Every input is clamped to
/// it, so no sum of them (even over millions of EVSEs) and no level × count
/// in the water-filling can overflow an `i64`, whatever a device reported.
pub const MAX_INPUT_MA: i64 = 1 << 40;

fn clamp_ma(ma: i64) -> i64 {
    ma.clamp(-MAX_INPUT_MA, MAX_INPUT_MA)
}

fn clamp_phases(ma: PerPhase) -> PerPhase {
    ma.map(clamp_ma)
}

/// The site with every current within `±MAX_INPUT_MA`.
fn clamped_site(site: &SiteInput) -> SiteInput {
    SiteInput {
        available_ma: clamp_phases(site.available_ma),
        evse_cap_ma: site.evse_cap_ma.map(clamp_ma),
        max_imbalance_ma: site.max_imbalance_ma.map(clamp_ma),
        imbalance_base_ma: clamp_phases(site.imbalance_base_ma),
        groups: site
            .groups
            .iter()
            .map(|g| GroupInput {
                limit_ma: clamp_phases(g.limit_ma),
                ..g.clone()
            })
            .collect(),
    }
}

/// The EVSEs with every current within `±MAX_INPUT_MA` (borrowed when they
/// already are, as they always are from real settings).
fn clamped_evses(evses: &[EvseInput]) -> std::borrow::Cow<'_, [EvseInput]> {
    let inside = |ma: i64| (-MAX_INPUT_MA..=MAX_INPUT_MA).contains(&ma);
    if evses.iter().all(|e| inside(e.min_ma) && inside(e.max_ma)) {
        return std::borrow::Cow::Borrowed(evses);
    }
    std::borrow::Cow::Owned(
        evses
            .iter()
            .map(|e| EvseInput {
                min_ma: clamp_ma(e.min_ma),
                max_ma: clamp_ma(e.max_ma),
                ..e.clone()
            })
            .collect(),
    )
}

/// Wiring of a wallbox's L1/L2/L3 to the building's phases.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Rotation {
    /// L1, L2, L3 on L1, L2, L3.
    #[default]
    Deg0,
    /// L1, L2, L3 on L2, L3, L1.
    Deg120,
    /// L1, L2, L3 on L3, L1, L2.
    Deg240,
}

impl Rotation {
    pub fn from_degrees(degrees: i64) -> Option<Self> {
        match degrees {
            0 => Some(Rotation::Deg0),
            120 => Some(Rotation::Deg120),
            240 => Some(Rotation::Deg240),
            _ => None,
        }
    }

    pub fn degrees(self) -> i64 {
        match self {
            Rotation::Deg0 => 0,
            Rotation::Deg120 => 120,
            Rotation::Deg240 => 240,
        }
    }

    fn shift(self) -> usize {
        match self {
            Rotation::Deg0 => 0,
            Rotation::Deg120 => 1,
            Rotation::Deg240 => 2,
        }
    }

    /// The building phase (0..3) of wallbox phase `phase` (0..3).
    pub fn building_phase(self, phase: usize) -> usize {
        (phase + self.shift()) % 3
    }

    /// Maps a wallbox-side phase mask (bit0 L1) to building phases.
    pub fn to_building(self, mask: u8) -> u8 {
        (0..3)
            .filter(|p| mask & (1 << p) != 0)
            .fold(0, |acc, p| acc | (1 << self.building_phase(p)))
    }

    /// Maps per-phase values measured at the wallbox to building phases.
    pub fn to_building_values(self, values: PerPhase) -> PerPhase {
        let mut out = [0; 3];
        for (p, v) in values.iter().enumerate() {
            out[self.building_phase(p)] = *v;
        }
        out
    }
}

/// A limit the allocator honours.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Constraint {
    /// What the site can spare for EVSEs.
    Site,
    /// `max_total_evse_current`: all EVSEs together.
    EvseTotal,
    /// An `evse_group` (dev_id `E<n>` is group n).
    Group(u32),
}

impl fmt::Display for Constraint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Constraint::Site => write!(f, "site"),
            Constraint::EvseTotal => write!(f, "max_total_evse_current"),
            Constraint::Group(n) => write!(f, "group E{n}"),
        }
    }
}

/// Why an EVSE got what it got: the binding constraint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// Got its own maximum (`max_charging_cur`, cable, car).
    MaxCurrent,
    /// Held back by a limit on a phase (0..3).
    Limit(Constraint, usize),
    /// Reduced to keep the phase imbalance within its limit; heavy phase.
    Imbalance(usize),
    /// Paused: its minimum does not fit under this limit.
    NoMinimum(Constraint, usize),
    /// Paused: even its minimum would exceed the imbalance limit.
    PausedImbalance(usize),
    /// Paused: the room under this limit is kept for a car before it in
    /// turn order, which waits for its minimum.
    GivesWay(Constraint, usize),
    /// Not controlled (e.g. not answering): counted at its assumed draw.
    Uncontrolled,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let phase = |p: &usize| format!("L{}", p + 1);
        match self {
            Reason::MaxCurrent => write!(f, "max_charging_cur"),
            Reason::Limit(c, p) => write!(f, "{c} {}", phase(p)),
            Reason::Imbalance(p) => write!(f, "imbalance {}", phase(p)),
            Reason::NoMinimum(c, p) => write!(f, "paused: no minimum ({c} {})", phase(p)),
            Reason::PausedImbalance(p) => write!(f, "paused: imbalance {}", phase(p)),
            Reason::GivesWay(c, p) => write!(f, "paused: another car's turn ({c} {})", phase(p)),
            Reason::Uncontrolled => write!(f, "not controlled"),
        }
    }
}

/// A group of EVSEs with its own per-phase limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupInput {
    pub id: u32,
    /// 0 = directly under the site.
    pub parent: u32,
    /// mA per phase.
    pub limit_ma: PerPhase,
}

/// The site, as the allocator sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SiteInput {
    /// What all EVSEs together may draw per building phase: the site limit
    /// less reserve, house load and overdraft penalty. May be negative.
    pub available_ma: PerPhase,
    /// Cap for all EVSEs together per phase (`max_total_evse_current`).
    pub evse_cap_ma: Option<i64>,
    /// Largest allowed difference between the most and least loaded phase.
    pub max_imbalance_ma: Option<i64>,
    /// Load counted in the imbalance besides the EVSEs (`imbalance_add`).
    pub imbalance_base_ma: PerPhase,
    pub groups: Vec<GroupInput>,
}

/// One EVSE that wants current or draws it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvseInput {
    /// Its group; 0 = none.
    pub group: u32,
    /// Higher is served first.
    pub prio: i64,
    /// Within a priority, lower is served first (plug-in order, round robin).
    pub turn: u64,
    /// Building phases it draws on (bit0 L1), after rotation.
    pub phases: u8,
    pub min_ma: i64,
    pub max_ma: i64,
    /// Not controlled: draws `max_ma` whatever happens, counted first.
    pub uncontrolled: bool,
}

/// What one EVSE gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Allocation {
    /// mA per phase it draws on; 0 = paused.
    pub target_ma: i64,
    pub reason: Reason,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AllocError {
    #[error("EVSE {index} names group E{group}, which does not exist")]
    UnknownGroup { index: usize, group: u32 },
    #[error("group E{0} is its own ancestor")]
    GroupCycle(u32),
}

/// The constraints of one allocation, per phase ("slots": constraint × 3 +
/// phase), and the "classes" of EVSEs: EVSEs with the same constraints
/// and phases are in the same slots, so their slot lists are built once.
pub(crate) struct Constraints {
    pub(crate) kinds: Vec<Constraint>,
    /// The capacity left in each slot, mA.
    pub(crate) room: Vec<i64>,
    /// Per class its slots (constraints in chain order, phases L1..L3), flat.
    class_start: Vec<usize>,
    class_slots: Vec<u32>,
    /// Per EVSE its class.
    class_of: Vec<u32>,
}

impl Constraints {
    /// The slots of class `class`.
    pub(crate) fn slots_of_class(&self, class: u32) -> &[u32] {
        &self.class_slots[self.class_range(class)]
    }

    /// Where class `class`'s slots are in `class_slots`.
    fn class_range(&self, class: u32) -> std::ops::Range<usize> {
        let c = class as usize;
        self.class_start[c]..self.class_start[c + 1]
    }

    fn class_count(&self) -> usize {
        self.class_start.len() - 1
    }
}

/// A hasher for small integer keys (group ids): one multiplication
/// instead of SipHash, which showed in the profile.
#[derive(Default)]
struct IdHasher(u64);

impl std::hash::Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }

    fn write_u32(&mut self, n: u32) {
        self.0 = (u64::from(n) ^ 0x5bd1_e995).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

type IdMap<V> = HashMap<u32, V, std::hash::BuildHasherDefault<IdHasher>>;

fn build_constraints(site: &SiteInput, evses: &[EvseInput]) -> Result<Constraints, AllocError> {
    let mut kinds = vec![Constraint::Site];
    let mut room: Vec<i64> = site.available_ma.to_vec();
    if let Some(cap) = site.evse_cap_ma {
        kinds.push(Constraint::EvseTotal);
        room.extend([cap; 3]);
    }
    let shared = kinds.len();
    let mut group_index = IdMap::default();
    let mut parents = IdMap::default();
    for g in &site.groups {
        group_index.insert(g.id, kinds.len());
        parents.insert(g.id, g.parent);
        kinds.push(Constraint::Group(g.id));
        room.extend(g.limit_ma);
    }
    // The constraint lists that occur: chain 0 without a group, then one
    // per group that an EVSE names, built once. A class is a chain and a
    // phase mask: `class_at[chain * 8 + mask]`.
    let mut chains: Vec<Vec<usize>> = vec![(0..shared).collect()];
    let mut chain_of_group: IdMap<usize> = IdMap::default();
    let mut class_at: Vec<u32> = vec![u32::MAX; 8];
    let mut class_start = vec![0];
    let mut class_slots = Vec::new();
    let mut class_of = Vec::with_capacity(evses.len());
    for (index, e) in evses.iter().enumerate() {
        let chain = if e.group == 0 {
            0
        } else if let Some(&c) = chain_of_group.get(&e.group) {
            c
        } else {
            let mut list: Vec<usize> = (0..shared).collect();
            let mut group = e.group;
            while group != 0 {
                let k = *group_index
                    .get(&group)
                    .ok_or(AllocError::UnknownGroup { index, group })?;
                if list.contains(&k) {
                    return Err(AllocError::GroupCycle(group));
                }
                list.push(k);
                group = parents.get(&group).copied().unwrap_or(0);
            }
            chain_of_group.insert(e.group, chains.len());
            chains.push(list);
            class_at.extend([u32::MAX; 8]);
            chains.len() - 1
        };
        let mask = e.phases & 0b111;
        let at = chain * 8 + usize::from(mask);
        if class_at[at] == u32::MAX {
            class_at[at] = (class_start.len() - 1) as u32;
            for &k in &chains[chain] {
                class_slots.extend(phases_of(mask).map(|p| (k * 3 + p) as u32));
            }
            class_start.push(class_slots.len());
        }
        class_of.push(class_at[at]);
    }
    Ok(Constraints {
        kinds,
        room,
        class_start,
        class_slots,
        class_of,
    })
}

fn phases_of(mask: u8) -> impl Iterator<Item = usize> {
    (0..3).filter(move |p| mask & (1 << p) != 0)
}

fn round_up(ma: i64) -> i64 {
    ma.div_euclid(STEP_MA) * STEP_MA
        + if ma.rem_euclid(STEP_MA) == 0 {
            0
        } else {
            STEP_MA
        }
}

fn round_down(ma: i64) -> i64 {
    ma.div_euclid(STEP_MA) * STEP_MA
}

/// Sorts `(key, index)` pairs by key, stably: a radix sort, least
/// significant byte first, skipping the bytes every key has alike (a few
/// priorities, levels within a few hundred steps: one or two passes).
/// O(n) per pass where a comparison sort was O(n log n) and the largest
/// part of the allocator's profile.
pub(crate) fn radix_sort(items: &mut Vec<(u64, usize)>, spare: &mut Vec<(u64, usize)>) {
    // Below a few hundred items the counting costs more than comparing.
    if items.len() < 256 {
        items.sort_by_key(|item| item.0);
        return;
    }
    // Only the bytes in which some keys differ need a pass.
    let (all, any) = items.iter().fold((u64::MAX, 0), |(all, any), &(key, _)| {
        (all & key, any | key)
    });
    spare.clear();
    spare.resize(items.len(), (0, 0));
    for byte in (0..8).filter(|byte| ((all ^ any) >> (8 * byte)) & 0xff != 0) {
        let digit = |key: u64| ((key >> (8 * byte)) & 0xff) as usize;
        let mut at = [0usize; 256];
        for &(key, _) in items.iter() {
            at[digit(key)] += 1;
        }
        let mut sum = 0;
        for a in at.iter_mut() {
            (*a, sum) = (sum, sum + *a);
        }
        for &item in items.iter() {
            let b = digit(item.0);
            spare[at[b]] = item;
            at[b] += 1;
        }
        std::mem::swap(items, spare);
    }
}

/// Allocates current to every EVSE; one `Allocation` per input, in order.
pub fn allocate(site: &SiteInput, evses: &[EvseInput]) -> Result<Vec<Allocation>, AllocError> {
    let site = &clamped_site(site);
    let evses = clamped_evses(evses);
    let Some(limit) = site.max_imbalance_ma else {
        return allocate_limits(site, &evses).map(|(out, _)| out);
    };
    // The imbalance is held by capping cars; the allocation then runs again
    // with those caps, so that what the cuts freed goes by priority and turn
    // to cars that can take it. Caps only fall, so this ends.
    let mut capped = evses;
    let mut held: Vec<Option<Reason>> = Vec::new();
    loop {
        let (mut out, order) = allocate_limits(site, &capped)?;
        let cuts = hold_imbalance(site.imbalance_base_ma, limit, &capped, &order, &mut out);
        if cuts.is_empty() {
            // A car held at its imbalance cap says so.
            for (i, reason) in held.iter().enumerate() {
                if let Some(reason) = *reason {
                    if out[i].target_ma == capped[i].max_ma {
                        out[i].reason = reason;
                    }
                }
            }
            return Ok(out);
        }
        held.resize(capped.len(), None);
        let caps = capped.to_mut();
        for i in cuts {
            caps[i].max_ma = out[i].target_ma;
            held[i] = Some(out[i].reason);
        }
    }
}

/// One allocation under the limits, without the imbalance; also answers
/// the serving order.
fn allocate_limits(
    site: &SiteInput,
    evses: &[EvseInput],
) -> Result<(Vec<Allocation>, Vec<usize>), AllocError> {
    let mut cons = build_constraints(site, evses)?;
    let mut out = vec![
        Allocation {
            target_ma: 0,
            reason: Reason::MaxCurrent,
        };
        evses.len()
    ];

    // Uncontrolled EVSEs draw what they draw: count it first.
    for (i, e) in evses.iter().enumerate().filter(|(_, e)| e.uncontrolled) {
        let draw = e.max_ma.max(0);
        for &s in &cons.class_slots[cons.class_range(cons.class_of[i])] {
            cons.room[s as usize] -= draw;
        }
        out[i] = Allocation {
            target_ma: draw,
            reason: Reason::Uncontrolled,
        };
    }

    // The serving order: priority (highest first), then turn, then index.
    // Radix sorts are stable: by turn first, then by priority.
    let mut keys: Vec<(u64, usize)> = evses
        .iter()
        .enumerate()
        .filter(|(_, e)| !e.uncontrolled)
        .map(|(i, e)| (e.turn, i))
        .collect();
    let mut spare = Vec::new();
    radix_sort(&mut keys, &mut spare);
    // Highest priority first: the sign bit flipped orders an i64 as u64,
    // and the complement reverses it.
    let descending = |prio: i64| !((prio as u64) ^ (1 << 63));
    for key in &mut keys {
        key.0 = descending(evses[key.1].prio);
    }
    radix_sort(&mut keys, &mut spare);
    let order: Vec<usize> = keys.iter().map(|k| k.1).collect();
    let candidates = candidates_in_order(&order, evses, &cons.class_of);

    let mut scratch = fill::Scratch::new(cons.class_count(), cons.room.len());
    let mut admitted = Vec::new();
    // What the level may use, and what is kept for cars that wait.
    let mut level_room = Vec::new();
    let mut kept: Vec<i64> = vec![0; cons.room.len()];
    for level in candidates.chunk_by(|a, b| a.prio == b.prio) {
        admitted.clear();
        level_room.clone_from(&cons.room);
        kept.fill(0);
        for &Candidate {
            evse: i,
            min,
            max,
            class,
            ..
        } in level
        {
            if max < min || class == NO_PHASES {
                continue;
            }
            let slots = &cons.class_slots[cons.class_range(class)];
            let (full, blocked) = first_blocking(slots, min, &cons.room, &kept);
            match blocked {
                Some(s) => {
                    let (kind, p) = (cons.kinds[s / 3], s % 3);
                    out[i].reason = if full.is_some() {
                        Reason::NoMinimum(kind, p)
                    } else {
                        Reason::GivesWay(kind, p)
                    };
                    // Its minimum would fit were the level's other cars
                    // not there: keep it from the cars after it in turn.
                    if first_below(slots, min, |s| level_room[s]).is_none() {
                        for &s in slots {
                            kept[s as usize] += min;
                        }
                    }
                }
                None => {
                    for &s in slots {
                        cons.room[s as usize] -= min;
                    }
                    admitted.push(fill::Member {
                        evse: i,
                        min,
                        max,
                        class,
                    });
                }
            }
        }
        fill::water_fill(&admitted, &mut cons, &mut scratch, &mut out);
    }
    Ok((out, order))
}

/// What admission reads of one EVSE, in serving order.
#[derive(Debug, Clone, Copy)]
struct Candidate {
    evse: usize,
    prio: i64,
    /// Its minimum and maximum, rounded to whole steps.
    min: i64,
    max: i64,
    /// Its class, or `NO_PHASES` if it draws on no phase.
    class: u32,
}

/// The class of a candidate that draws on no phase (it gets nothing).
const NO_PHASES: u32 = u32::MAX;

/// The candidates of `order`, gathered once into an array in that order.
/// Admission then reads them one after another in memory; reading
/// `evses[i]` and `class_of[i]` in serving order inside the admission loop
/// was a cache miss per EVSE, which the loop waited for each time (the
/// loop was 62 % of `allocate/10000`, that read alone 9 %). Here the reads
/// do not depend on each other, so the processor overlaps their misses.
fn candidates_in_order(order: &[usize], evses: &[EvseInput], class_of: &[u32]) -> Vec<Candidate> {
    order
        .iter()
        .map(|&i| {
            let e = &evses[i];
            Candidate {
                evse: i,
                prio: e.prio,
                min: round_up(e.min_ma.max(STEP_MA)),
                max: round_down(e.max_ma),
                class: if e.phases & 0b111 == 0 {
                    NO_PHASES
                } else {
                    class_of[i]
                },
            }
        })
        .collect()
}

/// In one pass over `slots`: the first whose room is below `min` (its
/// minimum does not fit), and the first that blocks it, that one or else
/// the first whose room less what is `kept` for waiting cars is below `min`.
fn first_blocking(
    slots: &[u32],
    min: i64,
    room: &[i64],
    kept: &[i64],
) -> (Option<usize>, Option<usize>) {
    let mut short = None;
    for &s in slots {
        let s = s as usize;
        if room[s] < min {
            return (Some(s), Some(s));
        }
        if short.is_none() && room[s] - kept[s] < min {
            short = Some(s);
        }
    }
    (None, short)
}

/// The first of `slots` whose room is below `min`.
fn first_below(slots: &[u32], min: i64, room: impl Fn(usize) -> i64) -> Option<usize> {
    slots.iter().map(|&s| s as usize).find(|&s| room(s) < min)
}

/// Load per phase from the base plus every EVSE's target.
fn phase_load(base: PerPhase, evses: &[EvseInput], out: &[Allocation]) -> PerPhase {
    let mut load = base;
    for (e, a) in evses.iter().zip(out) {
        for p in phases_of(e.phases) {
            load[p] += a.target_ma;
        }
    }
    load
}

/// Reduces, then pauses, cars on the heavy phase until the imbalance holds;
/// answers the cars it cut.
/// `order` is the serving order; the reverse gives way first. The load is
/// kept up to date with each cut, and the scan for the next candidate goes
/// on where it stopped while the heavy and light phases stay the same.
fn hold_imbalance(
    base: PerPhase,
    limit: i64,
    evses: &[EvseInput],
    order: &[usize],
    out: &mut [Allocation],
) -> Vec<usize> {
    let mut cuts = Vec::new();
    let mut load = phase_load(base, evses, out);
    let spread = |load: &PerPhase| {
        let heavy = (0..3)
            .max_by_key(|&p| (load[p], std::cmp::Reverse(p)))
            .unwrap_or(0);
        let light = (0..3).min_by_key(|&p| (load[p], p)).unwrap_or(0);
        (heavy, light, load[heavy] - load[light] - limit)
    };
    if spread(&load).2 <= 0 {
        return cuts;
    }
    for pausing in [false, true] {
        let mut cursor = 0;
        let mut pair = None;
        loop {
            let (heavy, light, excess) = spread(&load);
            if excess <= 0 {
                return cuts;
            }
            if pair != Some((heavy, light)) {
                pair = Some((heavy, light));
                cursor = 0;
            }
            let eligible = |i: usize, out: &[Allocation]| {
                let on = |p: usize| evses[i].phases & (1 << p) != 0;
                let min = round_up(evses[i].min_ma.max(STEP_MA));
                on(heavy)
                    && !on(light)
                    && out[i].target_ma > 0
                    && (pausing || out[i].target_ma > min)
            };
            let Some(found) = order
                .iter()
                .rev()
                .skip(cursor)
                .position(|&i| eligible(i, out))
            else {
                break;
            };
            cursor += found;
            let i = order[order.len() - 1 - cursor];
            let min = round_up(evses[i].min_ma.max(STEP_MA));
            let before = out[i].target_ma;
            out[i] = if pausing {
                Allocation {
                    target_ma: 0,
                    reason: Reason::PausedImbalance(heavy),
                }
            } else {
                Allocation {
                    target_ma: (before - round_up(excess)).max(min),
                    reason: Reason::Imbalance(heavy),
                }
            };
            for p in phases_of(evses[i].phases) {
                load[p] += out[i].target_ma - before;
            }
            cuts.push(i);
        }
    }
    cuts
}
