//! Step 4 of the cycle, allocation: the budget and the groups become the
//! allocator's input, and the allocator shares the current among the cars
//! the limits step asks for (`alloc/`, pure). A car whose rotation is
//! uncertain counts, on a phase it may or may not be on, as the larger of
//! what it gets and what it draws (`Tracked::uncertain_floor`).

use super::budget::Budget;
use super::limits::Plan;
use super::names::NameTable;
use super::{Now, Site};
use crate::alloc::{
    allocate, AllocError, Allocation, EvseInput, GroupInput, PerPhase, Reason, SiteInput,
};
use crate::config::SiteParams;

impl Site {
    /// What each car in `plan.inputs` gets, in the order of the inputs
    /// (which this sorts); the cars' turns are settled with it.
    pub(super) fn allocate(
        &mut self,
        plan: &mut Plan,
        budget: &Budget,
        params: &SiteParams,
        names: &NameTable,
        now: &Now,
    ) -> Vec<Allocation> {
        let site_input = SiteInput {
            available_ma: budget.available_ma,
            evse_cap_ma: (params.max_total_evse_current > 0)
                .then_some(params.max_total_evse_current),
            max_imbalance_ma: (params.max_imbalance > 0).then_some(params.max_imbalance),
            imbalance_base_ma: if params.imbalance_add {
                budget.house_ma
            } else {
                [0; 3]
            },
            groups: self.groups(names),
        };
        // Cars with the same priority and turn (plugged in the same cycle)
        // are served by dev_id, not by where they are declared.
        plan.inputs.sort_by(|(a, _), (b, _)| {
            self.devices[*a]
                .settings
                .dev_id
                .cmp(&self.devices[*b].settings.dev_id)
        });
        let mut evse_inputs: Vec<_> = plan.inputs.iter().map(|(_, e)| e.clone()).collect();
        let mut floors: Vec<PerPhase> = plan
            .inputs
            .iter()
            .map(|(i, _)| self.devices[*i].drawn_floor)
            .collect();
        // A car stopped this cycle (paused for its relay to switch, by a
        // rule, by an override) still draws what it drew until it follows:
        // on a phase it may or may not be on, the house load was computed
        // with that draw taken off, so it is held back there as an
        // uncontrolled draw, as for a car the allocation lowers.
        let asked: Vec<bool> = {
            let mut asked = vec![false; self.devices.len()];
            for (i, _) in &plan.inputs {
                asked[*i] = true;
            }
            asked
        };
        for (i, t) in self.devices.iter_mut().enumerate() {
            if asked[i] || !t.settings.dev_type.is_wallbox() || t.drawn_floor == [0; 3] {
                continue;
            }
            t.view.wiring.held_ma = t.drawn_floor;
            for (p, &held) in t.drawn_floor.iter().enumerate().filter(|(_, f)| **f > 0) {
                evse_inputs.push(EvseInput {
                    group: t.settings.group,
                    prio: t.settings.prio,
                    turn: u64::MAX,
                    phases: 1 << p,
                    min_ma: 0,
                    max_ma: held,
                    uncontrolled: true,
                });
                floors.push([0; 3]);
            }
        }
        let results =
            allocate_with_floors(&site_input, &evse_inputs, &floors).unwrap_or_else(|_| {
                // Settings validation rules out unknown groups; should one slip
                // through, nobody charges rather than anybody over a limit.
                evse_inputs
                    .iter()
                    .map(|_| Allocation {
                        target_ma: 0,
                        reason: Reason::MaxCurrent,
                    })
                    .collect()
            });
        for (((i, _), result), floor) in plan.inputs.iter().zip(&results).zip(&floors) {
            self.devices[*i].view.wiring.held_ma = floor.map(|f| (f - result.target_ma).max(0));
        }
        let max_of = |t: &super::Tracked| {
            let cable = match &t.reading {
                Some(crate::drivers::Reading::Evse(r)) if r.cable_ma > 0 => r.cable_ma,
                _ => i64::MAX,
            };
            t.max_charging(names).min(cable)
        };
        self.measure_phase_offers(&site_input, &plan.inputs, &evse_inputs, &results, &max_of);
        let pause_ms = params.min_pause_time_s * 1000;
        for ((i, input), result) in plan.inputs.iter().zip(&results) {
            if input.uncontrolled {
                continue;
            }
            if let Some(turn) = self.devices[*i].turn.as_mut() {
                turn.settle(result.target_ma, now.mono_ms, pause_ms);
            }
        }
        let mut results = results;
        results.truncate(plan.inputs.len());
        results
    }

    fn groups(&self, names: &NameTable) -> Vec<GroupInput> {
        self.devices
            .iter()
            .filter(|t| t.settings.dev_type.is_group())
            .filter_map(|t| {
                Some(GroupInput {
                    id: t.settings.group_number()?,
                    parent: t.settings.group,
                    limit_ma: [t.max_charging(names); 3],
                })
            })
            .collect()
    }
}

/// `allocate`, with each car counted on each phase as at least its floor
/// there. A car the allocation gives less than a floor is capped at what it
/// got, the rest of the floor is held back on that phase (in the car's
/// group and above, as an uncontrolled draw), and everyone is allocated
/// again: the capped car too, by its priority, in an allocation that
/// counts what it still draws, so that a lower-priority car's old draw
/// cannot keep it above its minimum while a higher one is held back. A car
/// given less than its cap in that allocation (what it still draws left
/// less room than the first one thought) is capped at its minimum, and
/// paused if even that does not fit: lowering it does not lower what it
/// draws this cycle, only its share of the next. Each car's cap falls three
/// times at most, so this ends; without floors, or with none above what a
/// car gets, it is one `allocate`. When it ends, every capped car gets its
/// cap, so each phase counts what each car gets and what it still draws.
fn allocate_with_floors(
    site: &SiteInput,
    evses: &[EvseInput],
    floors: &[PerPhase],
) -> Result<Vec<Allocation>, AllocError> {
    // Per car, its cap and why the allocation that set it held it back.
    let mut caps: Vec<Option<Allocation>> = vec![None; evses.len()];
    loop {
        let mut inputs = evses.to_vec();
        for (i, cap) in caps.iter().enumerate() {
            let Some(cap) = cap else { continue };
            inputs[i].max_ma = inputs[i].max_ma.min(cap.target_ma);
            for (p, floor) in floors[i].iter().enumerate() {
                let held = floor - cap.target_ma;
                if held > 0 {
                    inputs.push(EvseInput {
                        phases: 1 << p,
                        min_ma: 0,
                        max_ma: held,
                        uncontrolled: true,
                        ..evses[i].clone()
                    });
                }
            }
        }
        let mut out = allocate(site, &inputs)?;
        out.truncate(evses.len());
        let mut lowered = false;
        for (i, a) in out.iter_mut().enumerate() {
            match caps[i] {
                Some(cap) if a.target_ma < cap.target_ma => {
                    caps[i] = Some(Allocation {
                        target_ma: a.target_ma.min(evses[i].min_ma),
                        reason: a.reason,
                    });
                    lowered = true;
                }
                // At its cap: held there by what set the cap.
                Some(cap) if a.reason == Reason::MaxCurrent => a.reason = cap.reason,
                None if floors[i].iter().any(|&f| f > a.target_ma) => {
                    caps[i] = Some(*a);
                    lowered = true;
                }
                _ => {}
            }
        }
        if !lowered {
            return Ok(out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn car(prio: i64, phases: u8, max_ma: i64) -> EvseInput {
        EvseInput {
            group: 0,
            prio,
            turn: 0,
            phases,
            min_ma: 6000,
            max_ma,
            uncontrolled: false,
        }
    }

    fn site(available: i64) -> SiteInput {
        SiteInput {
            available_ma: [available; 3],
            ..SiteInput::default()
        }
    }

    /// Per phase, what the cars get, each counted as at least its floor.
    fn counted(evses: &[EvseInput], floors: &[PerPhase], out: &[Allocation]) -> PerPhase {
        [0, 1, 2].map(|p| {
            evses
                .iter()
                .zip(floors)
                .zip(out)
                .map(|((e, f), a)| {
                    let gets = if e.phases & (1 << p) != 0 {
                        a.target_ma
                    } else {
                        0
                    };
                    gets.max(f[p])
                })
                .sum()
        })
    }

    #[test]
    fn a_lower_priority_car_that_still_draws_more_is_not_kept_above_its_minimum() {
        // L3 has room for 25 A. The higher-priority car is on L3; the lower
        // one on L1 or L3 (its rotation uncertain), still drawing 15 A
        // there after being lowered. Whatever it gets, it draws 15 A on L3
        // this cycle: 10 A are left for the higher car, which is held by
        // the site; the lower one must not keep 13 A (what the first
        // allocation gave it, not counting its draw).
        let evses = [car(2, 0b100, 12_000), car(1, 0b101, 16_000)];
        let floors = [[0; 3], [15_000, 0, 15_000]];
        let out = allocate_with_floors(&site(25_000), &evses, &floors).unwrap();
        assert_eq!(out[0].target_ma, 10_000);
        assert_eq!(out[0].reason.to_string(), "site L3");
        assert!(out[1].target_ma <= 6000, "{out:?}");
        assert!(counted(&evses, &floors, &out)
            .iter()
            .all(|&ma| ma <= 25_000));
    }

    #[test]
    fn a_car_lowered_below_what_it_draws_keeps_its_cap_and_the_reason_that_set_it() {
        // 26 A on L1. One car may be on L1 or L2 (its rotation uncertain)
        // and still draws 20 A there; the other, of the same priority, is
        // on L1. Whatever the first one gets, it draws 20 A on L1 this
        // cycle: 6 A are left for the other. The first one is held by the
        // site, not by its own maximum (its cap).
        let evses = [car(1, 0b011, 32_000), car(1, 0b001, 32_000)];
        let floors = [[20_000, 20_000, 0], [0; 3]];
        let out = allocate_with_floors(&site(26_000), &evses, &floors).unwrap();
        assert_eq!(out[1].target_ma, 6000, "{out:?}");
        assert!(out[0].target_ma < 20_000, "{out:?}");
        assert_eq!(out[0].reason.to_string(), "site L1");
        assert!(counted(&evses, &floors, &out)
            .iter()
            .all(|&ma| ma <= 26_000));
    }

    #[test]
    fn a_car_that_draws_exactly_what_it_gets_is_lowered_only_as_far_as_it_must() {
        // 30 A per phase. The first car (higher priority, at most 24 A)
        // draws 24 A on L1 only; the second still draws 10 A on L2. The
        // first gets its 24 A at first; once the second's draw is counted,
        // L2 has 20 A left for it, which it keeps: what it still draws fits
        // on L1, so it is not held at its minimum.
        let evses = [car(2, 0b011, 24_000), car(1, 0b010, 32_000)];
        let floors = [[24_000, 0, 0], [0, 10_000, 0]];
        let out = allocate_with_floors(&site(30_000), &evses, &floors).unwrap();
        assert_eq!((out[0].target_ma, out[1].target_ma), (20_000, 0), "{out:?}");
        assert!(counted(&evses, &floors, &out)
            .iter()
            .all(|&ma| ma <= 30_000));
    }

    #[test]
    fn without_floors_above_what_cars_get_it_is_the_allocation() {
        let evses = [car(2, 0b001, 16_000), car(1, 0b111, 16_000)];
        let floors = [[0; 3], [8000; 3]];
        let out = allocate_with_floors(&site(40_000), &evses, &floors).unwrap();
        assert_eq!(out, allocate(&site(40_000), &evses).unwrap());
        assert_eq!(out[1].target_ma, 16_000);
    }
}
