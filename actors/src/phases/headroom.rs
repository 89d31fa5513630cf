//! What a wallbox could get per building phase after an allocation, with
//! the other cars at their minimum: the room the phase decision measures
//! "the minimum fits" with; and, under a `max_imbalance`, how much a car
//! could take on some phases alone without the phases' spread going over
//! it.

use std::collections::HashMap;

use crate::alloc::{Allocation, EvseInput, PerPhase, SiteInput};

/// The room left per phase under each limit (the site, the EVSE cap, each
/// group), after an allocation, counting every car at the lesser of what
/// it got and its minimum (what it got above its minimum is shared out
/// again by the allocator, so it does not keep another car's minimum out).
#[derive(Debug, Clone)]
pub struct Headroom {
    site: PerPhase,
    groups: HashMap<u32, (u32, PerPhase)>,
    /// The limit on the phases' spread, if any.
    max_imbalance: Option<i64>,
    /// What the imbalance counts besides the cars (the house, with
    /// `imbalance_add`).
    base: PerPhase,
    /// The base and what every car got, per phase.
    load: PerPhase,
}

/// The lesser of each phase.
fn min_phases(a: PerPhase, b: PerPhase) -> PerPhase {
    [0, 1, 2].map(|p| a[p].min(b[p]))
}

impl Headroom {
    /// `evses[i]` got `results[i]`.
    pub fn after(site: &SiteInput, evses: &[EvseInput], results: &[Allocation]) -> Self {
        let mut room = Headroom {
            site: match site.evse_cap_ma {
                Some(cap) => min_phases(site.available_ma, [cap; 3]),
                None => site.available_ma,
            },
            groups: site
                .groups
                .iter()
                .map(|g| (g.id, (g.parent, g.limit_ma)))
                .collect(),
            max_imbalance: site.max_imbalance_ma,
            base: site.imbalance_base_ma,
            load: site.imbalance_base_ma,
        };
        for (e, got) in evses.iter().zip(results) {
            let counted = counted_ma(e, got);
            room.take(e.group, e.phases, counted);
            for (p, load) in room.load.iter_mut().enumerate() {
                if e.phases & (1 << p) != 0 {
                    *load = load.saturating_add(got.target_ma.max(0));
                }
            }
        }
        room
    }

    /// The most a car could take on each of the building phases `mask`
    /// (and on no other) without the phases' spread going over what the
    /// allocator holds it to (`max_imbalance`, or the base's own spread
    /// where the house alone is more uneven: the cars must not make it
    /// worse), every other car as it got (`own`: its input and what it
    /// got, taken out). `None` without a limit, or on all three phases
    /// (which leaves the spread as it is). Each phase it draws on may rise
    /// to that much above each phase it does not.
    pub fn imbalance_room(&self, mask: u8, own: Option<(&EvseInput, &Allocation)>) -> Option<i64> {
        let spread = |l: &PerPhase| {
            l.iter().copied().max().unwrap_or(0) - l.iter().copied().min().unwrap_or(0)
        };
        let limit = self.max_imbalance?.max(spread(&self.base));
        let mut load = self.load;
        if let Some((e, got)) = own {
            for (p, l) in load.iter_mut().enumerate() {
                if e.phases & (1 << p) != 0 {
                    *l = l.saturating_sub(got.target_ma.max(0));
                }
            }
        }
        let on = |p: usize| mask & (1 << p) != 0;
        (0..3)
            .filter(|&a| on(a))
            .flat_map(|a| (0..3).filter(|&b| !on(b)).map(move |b| (a, b)))
            .map(|(a, b)| limit.saturating_add(load[b]).saturating_sub(load[a]))
            .min()
    }

    /// Takes `ma` on the building phases `mask` from every limit that
    /// group `group` is under (given back with a negative `ma`).
    fn take(&mut self, group: u32, mask: u8, ma: i64) {
        if ma == 0 {
            return;
        }
        let take = |room: &mut PerPhase| {
            for (p, r) in room.iter_mut().enumerate() {
                if mask & (1 << p) != 0 {
                    *r = r.saturating_sub(ma);
                }
            }
        };
        take(&mut self.site);
        let mut at = group;
        // A group chain is at most as long as there are groups (settings
        // rule out cycles; the bound keeps a bad one from looping).
        for _ in 0..=self.groups.len() {
            let Some((parent, limit)) = self.groups.get_mut(&at) else {
                break;
            };
            take(limit);
            at = *parent;
        }
    }

    /// The room per building phase for a car in group `group`, with what it
    /// was counted at itself (`own`: its input and what it got, if it was
    /// allocated) given back.
    pub fn for_car(&self, group: u32, own: Option<(&EvseInput, &Allocation)>) -> PerPhase {
        let own_back = |room: PerPhase| match own {
            Some((e, got)) => {
                let counted = counted_ma(e, got);
                [0, 1, 2].map(|p| {
                    if e.phases & (1 << p) != 0 {
                        room[p].saturating_add(counted)
                    } else {
                        room[p]
                    }
                })
            }
            None => room,
        };
        let mut room = own_back(self.site);
        let mut at = group;
        for _ in 0..=self.groups.len() {
            let Some((parent, limit)) = self.groups.get(&at) else {
                break;
            };
            room = min_phases(room, own_back(*limit));
            at = *parent;
        }
        room
    }
}

/// What a car is counted at: an uncontrolled one at what it draws, a
/// controlled one at the lesser of what it got and its minimum.
fn counted_ma(e: &EvseInput, got: &Allocation) -> i64 {
    if e.uncontrolled {
        got.target_ma.max(0)
    } else {
        got.target_ma.clamp(0, e.min_ma.max(0))
    }
}
