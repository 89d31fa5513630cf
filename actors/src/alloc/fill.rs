//! Water-filling: the cars of one priority rise together to a common level,
//! each capped at its own maximum, until a constraint they share is full.
//!
//! An event sweep over the level: a car starts rising when the level passes
//! its minimum and stops at its maximum; a constraint (one phase of one
//! limit) freezes every car in it when it fills up. Each constraint's load
//! above the minimums is `slope × level + offset`, so the level at which it
//! fills is one division, kept in a heap and refreshed when its slope changes.
//! Cost: O((cars × constraints per car) × log).

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use super::{phases_of, Constraints, Reason};

/// A car admitted at its minimum.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Member {
    pub(crate) evse: usize,
    pub(crate) min: i64,
    pub(crate) max: i64,
    pub(crate) phases: u8,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum State {
    Below,
    Rising,
    Done(i64, Reason),
}

/// One phase of one constraint.
#[derive(Debug, Clone, Default)]
struct Slot {
    /// Capacity above the members' minimums.
    room: i64,
    /// Members rising now.
    slope: i64,
    /// Load above minimums = slope × level + offset.
    offset: i64,
    version: u32,
    members: Vec<usize>,
}

impl Slot {
    /// The highest level at which this slot still holds.
    fn full_at(&self) -> Option<i64> {
        (self.slope > 0).then(|| (self.room - self.offset).div_euclid(self.slope))
    }
}

/// Levels and reasons for `members`; takes what they use above their
/// minimums out of `cons.room`.
pub(crate) fn water_fill(members: &[Member], cons: &mut Constraints) -> Vec<(i64, Reason)> {
    let slot_of = |k: usize, p: usize| k * 3 + p;
    let mut slots: Vec<Slot> = (0..cons.kinds.len() * 3)
        .map(|s| Slot {
            room: cons.room[s / 3][s % 3],
            ..Slot::default()
        })
        .collect();
    let member_slots: Vec<Vec<usize>> = members
        .iter()
        .map(|m| {
            cons.of_evse[m.evse]
                .iter()
                .flat_map(|&k| phases_of(m.phases).map(move |p| slot_of(k, p)))
                .collect()
        })
        .collect();
    for (i, list) in member_slots.iter().enumerate() {
        for &s in list {
            slots[s].members.push(i);
        }
    }

    let mut state = vec![State::Below; members.len()];
    let mut starts: Vec<usize> = (0..members.len()).collect();
    starts.sort_by_key(|&i| members[i].min);
    let mut stops = starts.clone();
    stops.sort_by_key(|&i| members[i].max);
    let (mut next_start, mut next_stop) = (0, 0);
    let mut heap: BinaryHeap<Reverse<(i64, usize, u32)>> = BinaryHeap::new();
    let mut dirty: Vec<usize> = Vec::new();

    loop {
        while next_stop < stops.len() && matches!(state[stops[next_stop]], State::Done(..)) {
            next_stop += 1;
        }
        while next_start < starts.len() && state[starts[next_start]] != State::Below {
            next_start += 1;
        }
        while let Some(&Reverse((_, s, version))) = heap.peek() {
            if slots[s].version == version && slots[s].slope > 0 {
                break;
            }
            heap.pop();
        }
        let at_stop = stops.get(next_stop).map(|&i| members[i].max);
        let at_start = starts.get(next_start).map(|&i| members[i].min);
        let at_full = heap.peek().map(|Reverse((level, _, _))| *level);
        let Some(level) = [at_stop, at_start, at_full].into_iter().flatten().min() else {
            break;
        };

        // Order at one level: starts, then maxima, then full constraints.
        while let Some(&i) = starts.get(next_start).filter(|&&i| members[i].min == level) {
            if state[i] == State::Below {
                state[i] = State::Rising;
                for &s in &member_slots[i] {
                    slots[s].slope += 1;
                    slots[s].offset -= members[i].min;
                    dirty.push(s);
                }
            }
            next_start += 1;
        }
        if at_stop == Some(level) || at_start == Some(level) {
            while let Some(&i) = stops.get(next_stop).filter(|&&i| members[i].max == level) {
                if state[i] == State::Rising {
                    finish(
                        i,
                        level,
                        Reason::MaxCurrent,
                        &mut state,
                        &member_slots,
                        &mut slots,
                        &mut dirty,
                    );
                }
                next_stop += 1;
            }
        } else if let Some(Reverse((_, s, _))) = heap.pop() {
            let p = s % 3;
            let reason = Reason::Limit(cons.kinds[s / 3], p);
            for i in slots[s].members.clone() {
                match state[i] {
                    State::Rising => finish(
                        i,
                        level,
                        reason,
                        &mut state,
                        &member_slots,
                        &mut slots,
                        &mut dirty,
                    ),
                    State::Below => state[i] = State::Done(members[i].min, reason),
                    State::Done(..) => {}
                }
            }
        }

        dirty.sort_unstable();
        dirty.dedup();
        for s in dirty.drain(..) {
            let slot = &mut slots[s];
            slot.version = slot.version.wrapping_add(1);
            if let Some(full) = slot.full_at() {
                heap.push(Reverse((full.max(level), s, slot.version)));
            }
        }
    }

    members
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let (level, reason) = match state[i] {
                State::Done(level, reason) => (level, reason),
                // Unreachable in practice: every rising member has a stop.
                State::Below | State::Rising => (m.min, Reason::MaxCurrent),
            };
            for &s in &member_slots[i] {
                cons.room[s / 3][s % 3] -= level - m.min;
            }
            (level, reason)
        })
        .collect()
}

/// A rising member stops at `level`.
fn finish(
    i: usize,
    level: i64,
    reason: Reason,
    state: &mut [State],
    member_slots: &[Vec<usize>],
    slots: &mut [Slot],
    dirty: &mut Vec<usize>,
) {
    state[i] = State::Done(level, reason);
    for &s in &member_slots[i] {
        slots[s].slope -= 1;
        slots[s].offset += level;
        dirty.push(s);
    }
}
