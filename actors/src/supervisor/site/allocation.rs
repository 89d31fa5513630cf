//! Step 4 of the cycle, allocation: the budget and the groups become the
//! allocator's input, and the allocator shares the current among the cars
//! the limits step asks for (`alloc/`, pure).

use super::budget::Budget;
use super::limits::Plan;
use super::names::NameTable;
use super::{Now, Site};
use crate::alloc::{allocate, Allocation, GroupInput, Reason, SiteInput};
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
        let results = allocate(&site_input, &evse_inputs).unwrap_or_else(|_| {
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
