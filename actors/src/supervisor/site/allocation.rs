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
        let evse_inputs: Vec<_> = plan.inputs.iter().map(|(_, e)| e.clone()).collect();
        let floors: Vec<PerPhase> = plan
            .inputs
            .iter()
            .map(|(i, _)| self.devices[*i].uncertain_floor())
            .collect();
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
        let pause_ms = params.min_pause_time_s * 1000;
        for ((i, input), result) in plan.inputs.iter().zip(&results) {
            if input.uncontrolled {
                continue;
            }
            if let Some(turn) = self.devices[*i].turn.as_mut() {
                turn.settle(result.target_ma, now.mono_ms, pause_ms);
            }
        }
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
/// there. A car the allocation gives less than a floor keeps what it got,
/// the rest of the floor is held back on that phase (in the car's group
/// and above, as an uncontrolled draw), and the others are allocated
/// again. Each round fixes at least one more car, so it ends; without
/// floors, or with none above what a car gets, it is one `allocate`.
fn allocate_with_floors(
    site: &SiteInput,
    evses: &[EvseInput],
    floors: &[PerPhase],
) -> Result<Vec<Allocation>, AllocError> {
    let mut fixed: Vec<Option<Allocation>> = vec![None; evses.len()];
    loop {
        let mut inputs = evses.to_vec();
        for (i, fix) in fixed.iter().enumerate() {
            let Some(fix) = fix else { continue };
            inputs[i].uncontrolled = true;
            inputs[i].max_ma = fix.target_ma;
            for (p, floor) in floors[i].iter().enumerate() {
                let held = floor - fix.target_ma;
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
        let mut more = false;
        for (i, a) in out.iter_mut().enumerate() {
            match fixed[i] {
                Some(fix) => *a = fix,
                None if floors[i].iter().any(|&f| f > a.target_ma) => {
                    fixed[i] = Some(*a);
                    more = true;
                }
                None => {}
            }
        }
        if !more {
            return Ok(out);
        }
    }
}
