//! The §14a step of the cycle, between the limits and the allocation:
//! whether the grid operator dims the site now (a `grid_dimming_formula`,
//! e.g. a Power Brain's S0 input `E1.input1` or a charging-manager variable,
//! or `cmd=set_grid_dimming`), and while it does, what each wallbox may get
//! at most, so that together they stay within what BK6-22-300 lets the
//! operator dim them to (`phases/dimming.rs`, pure). Its start and end are
//! logged and kept for the dimming log.

use super::limits::Plan;
use super::names::NameTable;
use super::reason::LbReason;
use super::{Now, Site};
use crate::phases::dimming::{caps, regulated_minimum_w, Want};
use crate::rules::formula;

/// The dimming state, as `get_dev_info` shows it (`params.grid_dimming`).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct DimmingView {
    pub active: bool,
    /// Unix seconds of the last start or end; 0 never.
    pub since: u64,
    /// What dims: `command`, `formula` or both.
    pub source: String,
    /// What the wallboxes may draw together while dimmed, W.
    pub limit_w: i64,
}

/// The dimming log's lines: `unix time,start|end,source,limit_w`.
pub const DIMMING_CSV_HEADER: &str = "time,event,source,limit_w\n";

impl Site {
    /// `cmd=set_grid_dimming`: dims (or stops dimming) until told otherwise.
    pub fn set_grid_dimming(&mut self, active: bool) {
        self.dimming_command = active;
    }

    /// The dimming log lines since the last call.
    pub fn take_dimming_events(&mut self) -> Vec<String> {
        std::mem::take(&mut self.dimming_events)
    }

    /// Whether the site is dimmed now; notes a start or an end.
    pub(super) fn follow_dimming(&mut self, names: &NameTable, now: &Now) {
        // A formula that cannot be evaluated now (its device is silent, or
        // has not answered yet) keeps what it said last.
        let by_formula = match self.dimming_formula.as_ref() {
            Some(expr) => match formula::eval(expr, names) {
                Ok(value) => value > 0.0,
                Err(_) => self.dimming.active && self.dimming.source.contains("formula"),
            },
            None => false,
        };
        let active = by_formula || self.dimming_command;
        let source = match (self.dimming_command, by_formula) {
            (true, true) => "command, formula",
            (true, false) => "command",
            (false, true) => "formula",
            (false, false) => "",
        };
        let wallboxes = self
            .devices
            .iter()
            .filter(|t| t.settings.dev_type.is_wallbox())
            .count();
        let limit_w = regulated_minimum_w(wallboxes);
        let d = &mut self.dimming;
        if active != d.active {
            let event = if active { "start" } else { "end" };
            let logged = if active { source } else { d.source.as_str() };
            self.dimming_events
                .push(format!("{},{event},{logged},{limit_w}\n", now.wall_secs));
            d.since = now.wall_secs;
        }
        d.active = active;
        if active {
            d.source = source.to_string();
        }
        d.limit_w = limit_w;
    }

    /// While dimmed: caps the cars the allocator is asked for, in its order
    /// (priority, then turn), within the regulated total less what the
    /// uncontrolled wallboxes draw; a car whose minimum no longer fits
    /// waits, saying why.
    pub(super) fn dim(&self, plan: &mut Plan, volts: i64) {
        if !self.dimming.active {
            return;
        }
        let volts = volts.max(1);
        let mut budget_w = self.dimming.limit_w;
        for (_, e) in plan.inputs.iter().filter(|(_, e)| e.uncontrolled) {
            let phases = i64::from(e.phases.count_ones().max(1));
            budget_w =
                budget_w.saturating_sub(e.max_ma.max(0).saturating_mul(phases) * volts / 1000);
        }
        let mut order: Vec<usize> = (0..plan.inputs.len())
            .filter(|&k| !plan.inputs[k].1.uncontrolled)
            .collect();
        order.sort_by(|&a, &b| {
            let (ea, eb) = (&plan.inputs[a].1, &plan.inputs[b].1);
            eb.prio
                .cmp(&ea.prio)
                .then(ea.turn.cmp(&eb.turn))
                .then_with(|| {
                    self.devices[plan.inputs[a].0]
                        .settings
                        .dev_id
                        .cmp(&self.devices[plan.inputs[b].0].settings.dev_id)
                })
        });
        let wants: Vec<Want> = order
            .iter()
            .map(|&k| {
                let e = &plan.inputs[k].1;
                Want {
                    phases: i64::from(e.phases.count_ones().max(1)),
                    min_ma: e.min_ma,
                    max_ma: e.max_ma,
                }
            })
            .collect();
        let capped = caps(budget_w, volts, &wants);
        let limit_w = self.dimming.limit_w;
        let mut waiting = Vec::new();
        for (&k, cap) in order.iter().zip(capped) {
            let (device, e) = &mut plan.inputs[k];
            if cap == 0 {
                waiting.push(*device);
            } else if cap < e.max_ma {
                e.max_ma = cap;
                plan.dimmed[*device] = true;
            }
        }
        plan.inputs.retain(|(device, _)| !waiting.contains(device));
        for device in waiting {
            plan.stop(device, LbReason::GridDimming { limit_w });
        }
    }
}
