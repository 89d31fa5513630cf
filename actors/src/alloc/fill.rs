//! Water-filling: the cars of one priority rise together to a common level,
//! each capped at its own maximum, until a constraint they share is full.
//!
//! An event sweep over the level: a car starts rising when the level passes
//! its minimum and stops at its maximum; a constraint (one phase of one
//! limit, a "slot") freezes every car in it when it fills up. Each slot's
//! load above the minimums is `slope × level + offset`, so the level at
//! which it fills is one division, kept in a heap and refreshed when its
//! slope changes.
//!
//! Cars of one class (the same constraints and phases) are in exactly the
//! same slots, so the sweep counts cars per class instead of following each
//! car: a start or stop changes its class's count, a full slot freezes the
//! classes in it, and each car's level is read off its class at the end.
//! Cost: O(cars) to sort the events by level (radix), plus O(classes × slots
//! per class × log slots) for the sweep; there are far fewer classes than
//! cars (a site with 10 groups has at most 77).

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use super::{radix_sort, Allocation, Constraints, Reason};

/// No entry (in the maps from global to local indices).
const NONE: u32 = u32::MAX;

/// A car admitted at its minimum.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Member {
    pub(crate) evse: usize,
    pub(crate) min: i64,
    pub(crate) max: i64,
    pub(crate) class: u32,
}

/// Buffers kept across the priorities of one allocation. The maps from
/// global slot and class numbers to local ones are all `NONE` between calls.
#[derive(Debug, Default)]
pub(crate) struct Scratch {
    local_class: Vec<u32>,
    local_slot: Vec<u32>,
    events: Vec<(u64, usize)>,
    spare: Vec<(u64, usize)>,
}

impl Scratch {
    pub(crate) fn new(classes: usize, slots: usize) -> Self {
        Scratch {
            local_class: vec![NONE; classes],
            local_slot: vec![NONE; slots],
            ..Scratch::default()
        }
    }
}

/// One class present in this priority.
#[derive(Debug, Clone, Copy)]
struct Class {
    /// Global class number (for its slots in `Constraints`).
    global: u32,
    /// Members rising now.
    rising: i64,
    /// Frozen by a full slot at this level, for this reason.
    frozen: Option<(i64, Reason)>,
    /// Changes to its slots' slope and offset from this event.
    d_slope: i64,
    d_offset: i64,
    /// Listed in `Sweep::touched`.
    touched: bool,
    /// Members taken above their minimums at the end (mA).
    given: i64,
}

/// One slot some member of this priority is in.
#[derive(Debug, Clone, Copy)]
struct Slot {
    global: usize,
    /// Capacity above the members' minimums.
    room: i64,
    /// Members rising now.
    slope: i64,
    /// Load above minimums = slope × level + offset.
    offset: i64,
    version: u32,
    dirty: bool,
}

impl Slot {
    /// The highest level at which this slot still holds.
    fn full_at(&self) -> Option<i64> {
        (self.slope > 0).then(|| (self.room - self.offset).div_euclid(self.slope))
    }
}

/// The sweep's state: local classes and slots and the links between them.
struct Sweep {
    classes: Vec<Class>,
    slots: Vec<Slot>,
    /// Per local class its local slots, flat (`class_slots[c]` is a range).
    class_slot_start: Vec<usize>,
    class_slot_list: Vec<usize>,
    /// Per local slot the local classes in it, flat.
    slot_class_start: Vec<usize>,
    slot_class_list: Vec<usize>,
    /// Classes whose `d_slope`/`d_offset` are set, and slots changed.
    touched: Vec<usize>,
    dirty: Vec<usize>,
}

impl Sweep {
    fn slots_of(&self, c: usize) -> &[usize] {
        &self.class_slot_list[self.class_slot_start[c]..self.class_slot_start[c + 1]]
    }

    /// Notes `count` members of class `c` starting (+) or stopping (−) at `level`.
    fn change(&mut self, c: usize, count: i64, level: i64) {
        let class = &mut self.classes[c];
        if !class.touched {
            class.touched = true;
            self.touched.push(c);
        }
        class.rising += count;
        class.d_slope += count;
        class.d_offset -= count * level;
    }

    /// Applies the touched classes' changes to their slots.
    fn apply(&mut self) {
        for t in 0..self.touched.len() {
            let c = self.touched[t];
            let (d_slope, d_offset) = (self.classes[c].d_slope, self.classes[c].d_offset);
            self.classes[c].d_slope = 0;
            self.classes[c].d_offset = 0;
            self.classes[c].touched = false;
            for k in self.class_slot_start[c]..self.class_slot_start[c + 1] {
                let s = self.class_slot_list[k];
                let slot = &mut self.slots[s];
                slot.slope += d_slope;
                slot.offset += d_offset;
                if !slot.dirty {
                    slot.dirty = true;
                    self.dirty.push(s);
                }
            }
        }
        self.touched.clear();
    }

    /// Freezes every class in slot `s` that still rises.
    fn freeze(&mut self, s: usize, level: i64, reason: Reason) {
        for k in self.slot_class_start[s]..self.slot_class_start[s + 1] {
            let c = self.slot_class_list[k];
            if self.classes[c].frozen.is_none() {
                self.classes[c].frozen = Some((level, reason));
                let rising = self.classes[c].rising;
                if rising != 0 {
                    self.change(c, -rising, level);
                }
            }
        }
        self.apply();
    }
}

/// Sets the target and reason of every member in `out`, and takes what
/// they use above their minimums out of `cons.room`.
pub(crate) fn water_fill(
    members: &[Member],
    cons: &mut Constraints,
    scratch: &mut Scratch,
    out: &mut [Allocation],
) {
    // Local numbers for the classes and slots of these members.
    let mut sweep = Sweep {
        classes: Vec::new(),
        slots: Vec::new(),
        class_slot_start: vec![0],
        class_slot_list: Vec::new(),
        slot_class_start: Vec::new(),
        slot_class_list: Vec::new(),
        touched: Vec::new(),
        dirty: Vec::new(),
    };
    let mut class_of = Vec::with_capacity(members.len());
    for m in members {
        let g = m.class as usize;
        if scratch.local_class[g] == NONE {
            scratch.local_class[g] = sweep.classes.len() as u32;
            sweep.classes.push(Class {
                global: m.class,
                rising: 0,
                frozen: None,
                d_slope: 0,
                d_offset: 0,
                touched: false,
                given: 0,
            });
            for &s in cons.slots_of_class(m.class) {
                let s = s as usize;
                if scratch.local_slot[s] == NONE {
                    scratch.local_slot[s] = sweep.slots.len() as u32;
                    sweep.slots.push(Slot {
                        global: s,
                        room: cons.room[s],
                        slope: 0,
                        offset: 0,
                        version: 0,
                        dirty: false,
                    });
                }
                sweep.class_slot_list.push(scratch.local_slot[s] as usize);
            }
            sweep.class_slot_start.push(sweep.class_slot_list.len());
        }
        class_of.push(scratch.local_class[g] as usize);
    }
    // Which classes each slot holds (counted, then placed).
    let mut counts = vec![0usize; sweep.slots.len() + 1];
    for &s in &sweep.class_slot_list {
        counts[s + 1] += 1;
    }
    for s in 0..sweep.slots.len() {
        counts[s + 1] += counts[s];
    }
    sweep.slot_class_start.clone_from(&counts);
    sweep.slot_class_list = vec![0; sweep.class_slot_list.len()];
    for c in 0..sweep.classes.len() {
        for k in sweep.class_slot_start[c]..sweep.class_slot_start[c + 1] {
            let s = sweep.class_slot_list[k];
            sweep.slot_class_list[counts[s]] = c;
            counts[s] += 1;
        }
    }

    // Starts and stops in order of their level (levels are above 0).
    let level_key = |ma: i64| u64::try_from(ma).unwrap_or(0);
    let sorted_by = |scratch: &mut Scratch, level: &dyn Fn(&Member) -> i64| {
        let mut events = std::mem::take(&mut scratch.events);
        events.clear();
        events.extend(
            members
                .iter()
                .enumerate()
                .map(|(i, m)| (level_key(level(m)), i)),
        );
        radix_sort(&mut events, &mut scratch.spare);
        events
    };
    let starts = sorted_by(scratch, &|m| m.min);
    let stops = sorted_by(scratch, &|m| m.max);

    let frozen = |sweep: &Sweep, i: usize| sweep.classes[class_of[i]].frozen.is_some();
    let (mut next_start, mut next_stop) = (0, 0);
    // Slots full at the same level are taken in their global order.
    let mut heap: BinaryHeap<Reverse<(i64, usize, usize, u32)>> = BinaryHeap::new();
    loop {
        // A frozen class's members neither start nor stop any more.
        while next_stop < stops.len() && frozen(&sweep, stops[next_stop].1) {
            next_stop += 1;
        }
        while next_start < starts.len() && frozen(&sweep, starts[next_start].1) {
            next_start += 1;
        }
        while let Some(&Reverse((_, _, s, version))) = heap.peek() {
            if sweep.slots[s].version == version && sweep.slots[s].slope > 0 {
                break;
            }
            heap.pop();
        }
        let at_stop = stops.get(next_stop).map(|&(_, i)| members[i].max);
        let at_start = starts.get(next_start).map(|&(_, i)| members[i].min);
        let at_full = heap.peek().map(|Reverse((level, _, _, _))| *level);
        let Some(level) = [at_stop, at_start, at_full].into_iter().flatten().min() else {
            break;
        };

        // Order at one level: starts, then maxima, then full constraints.
        while let Some(&(_, i)) = starts
            .get(next_start)
            .filter(|&&(_, i)| members[i].min == level)
        {
            if !frozen(&sweep, i) {
                sweep.change(class_of[i], 1, level);
            }
            next_start += 1;
        }
        sweep.apply();
        if at_stop == Some(level) || at_start == Some(level) {
            while let Some(&(_, i)) = stops
                .get(next_stop)
                .filter(|&&(_, i)| members[i].max == level)
            {
                if !frozen(&sweep, i) {
                    sweep.change(class_of[i], -1, level);
                }
                next_stop += 1;
            }
            sweep.apply();
        } else if let Some(Reverse((_, global, s, _))) = heap.pop() {
            let reason = Reason::Limit(cons.kinds[global / 3], global % 3);
            sweep.freeze(s, level, reason);
        }

        for &s in &sweep.dirty {
            let slot = &mut sweep.slots[s];
            slot.dirty = false;
            slot.version = slot.version.wrapping_add(1);
            if let Some(full) = slot.full_at() {
                heap.push(Reverse((full.max(level), slot.global, s, slot.version)));
            }
        }
        sweep.dirty.clear();
    }

    // A member stopped at its maximum unless its class froze below it.
    for (m, &c) in members.iter().zip(&class_of) {
        let (level, reason) = match sweep.classes[c].frozen {
            Some((at, reason)) if m.max > at => (at.max(m.min), reason),
            _ => (m.max, Reason::MaxCurrent),
        };
        let target_ma = super::round_down(level);
        // What the car is given (rounded down to 100 mA) is what it
        // takes from the room; the remainder stays for the cars after.
        sweep.classes[c].given += target_ma - m.min;
        out[m.evse] = Allocation { target_ma, reason };
    }
    for c in 0..sweep.classes.len() {
        for &s in sweep.slots_of(c) {
            cons.room[sweep.slots[s].global] -= sweep.classes[c].given;
        }
    }

    // Leave the maps empty for the next priority.
    for class in &sweep.classes {
        scratch.local_class[class.global as usize] = NONE;
    }
    for slot in &sweep.slots {
        scratch.local_slot[slot.global] = NONE;
    }
    scratch.events = starts;
    scratch.spare = stops;
}
