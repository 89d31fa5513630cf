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

/// Member indices ordered by `level(member)`. Levels are non-negative and
/// below 2^31 mA, so level and index pack into one `u64` and sort fast.
fn by_level(members: &[Member], level: impl Fn(&Member) -> i64) -> Vec<usize> {
    // Usually every car has the same minimum: then any order will do.
    if members.windows(2).all(|w| level(&w[0]) == level(&w[1])) {
        return (0..members.len()).collect();
    }
    let mut keys: Vec<u64> = members
        .iter()
        .enumerate()
        .map(|(i, m)| {
            (u64::try_from(level(m).clamp(0, i64::from(u32::MAX))).unwrap_or(0) << 32)
                | (i as u64 & 0xffff_ffff)
        })
        .collect();
    keys.sort_unstable();
    keys.into_iter()
        .map(|k| (k & 0xffff_ffff) as usize)
        .collect()
}

/// Every member's slots in one array (no allocation per member).
struct MemberSlots {
    flat: Vec<usize>,
    start: Vec<usize>,
}

impl MemberSlots {
    fn of(&self, i: usize) -> &[usize] {
        &self.flat[self.start[i]..self.start[i + 1]]
    }
}

/// Slots whose slope changed since the last event, each once.
struct Dirty {
    list: Vec<usize>,
    marked: Vec<bool>,
}

impl Dirty {
    fn push(&mut self, slot: usize) {
        if !self.marked[slot] {
            self.marked[slot] = true;
            self.list.push(slot);
        }
    }

    fn take(&mut self) -> Vec<usize> {
        for &s in &self.list {
            self.marked[s] = false;
        }
        std::mem::take(&mut self.list)
    }
}

/// One slot per constraint and phase, and which slots each member fills.
fn slots_of(members: &[Member], cons: &Constraints) -> (Vec<Slot>, MemberSlots) {
    let slot_of = |k: usize, p: usize| k * 3 + p;
    let mut slots: Vec<Slot> = (0..cons.kinds.len() * 3)
        .map(|s| Slot {
            room: cons.room[s / 3][s % 3],
            ..Slot::default()
        })
        .collect();
    let mut member_slots = MemberSlots {
        flat: Vec::with_capacity(members.len() * 6),
        start: Vec::with_capacity(members.len() + 1),
    };
    for m in members {
        member_slots.start.push(member_slots.flat.len());
        for &k in cons.of_evse(m.evse) {
            member_slots
                .flat
                .extend(phases_of(m.phases).map(|p| slot_of(k, p)));
        }
    }
    member_slots.start.push(member_slots.flat.len());
    // Size each slot's member list once (the site's holds nearly everyone).
    let mut counts = vec![0usize; slots.len()];
    for &s in &member_slots.flat {
        counts[s] += 1;
    }
    for (slot, count) in slots.iter_mut().zip(counts) {
        slot.members.reserve_exact(count);
    }
    for i in 0..members.len() {
        for &s in member_slots.of(i) {
            slots[s].members.push(i);
        }
    }
    (slots, member_slots)
}

/// Levels and reasons for `members`; takes what they use above their
/// minimums out of `cons.room`.
pub(crate) fn water_fill(members: &[Member], cons: &mut Constraints) -> Vec<(i64, Reason)> {
    let (mut slots, member_slots) = slots_of(members, cons);

    let mut state = vec![State::Below; members.len()];
    let starts = by_level(members, |m| m.min);
    let stops = by_level(members, |m| m.max);
    let (mut next_start, mut next_stop) = (0, 0);
    let mut heap: BinaryHeap<Reverse<(i64, usize, u32)>> = BinaryHeap::new();
    let mut dirty = Dirty {
        list: Vec::new(),
        marked: vec![false; slots.len()],
    };

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
                for &s in member_slots.of(i) {
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
            // A slot fills once: its member list is not needed afterwards.
            for i in std::mem::take(&mut slots[s].members) {
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

        for s in dirty.take() {
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
            // What the car is given (rounded down to 100 mA) is what it
            // takes from the room; the remainder stays for the cars after.
            for &s in member_slots.of(i) {
                cons.room[s / 3][s % 3] -= super::round_down(level) - m.min;
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
    member_slots: &MemberSlots,
    slots: &mut [Slot],
    dirty: &mut Dirty,
) {
    state[i] = State::Done(level, reason);
    for &s in member_slots.of(i) {
        slots[s].slope -= 1;
        slots[s].offset += level;
        dirty.push(s);
    }
}
