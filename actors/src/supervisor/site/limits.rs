//! Step 3 of the cycle, each wallbox's limits, rules and stops: what the
//! allocator is asked for each car (its maximum after the cable, the
//! override, the charging rules and a stale meter), or why the wallbox is
//! stopped or left uncontrolled instead.

use std::collections::HashMap;

use super::budget::Meters;
use super::names::NameTable;
use super::reason::LbReason;
use super::session::Session;
use super::{Command, Now, Site, Tracked};
use crate::alloc::EvseInput;
use crate::config::{needs_auth, DisablePolicy, SiteParams, User};
use crate::drivers::{EvseState, Reading};
use crate::phases::Switching;
use crate::rules::charging::{combine, Decision, Inputs as RuleInputs, RuleSet};

/// What the allocator is asked, and what was decided without it.
#[derive(Debug, Default)]
pub(super) struct Plan {
    /// The cars the allocator shares the current among, by device.
    pub(super) inputs: Vec<(usize, EvseInput)>,
    /// The wallboxes told what to do without the allocator.
    pub(super) commands: Vec<Command>,
    /// Why, for those wallboxes.
    pub(super) notes: Vec<(usize, LbReason)>,
    /// Per device: its maximum this cycle is a charging rule's wish.
    pub(super) rule_limited: Vec<bool>,
    /// Per device: its maximum this cycle is §14a dimming's.
    pub(super) dimmed: Vec<bool>,
}

impl Plan {
    /// Tells wallbox `device` to stop (0 A, disabled), saying why.
    pub(super) fn stop(&mut self, device: usize, why: LbReason) {
        self.commands.push(Command::current(device, 0, false));
        self.notes.push((device, why));
    }
}

/// What every wallbox's limits are decided with.
struct Context<'a> {
    params: &'a SiteParams,
    names: &'a NameTable,
    meters: &'a Meters,
    users: &'a [User],
    user_rules: &'a HashMap<String, RuleSet>,
    now: &'a Now,
}

impl Site {
    /// Decides each wallbox's limits.
    pub(super) fn limits(
        &mut self,
        params: &SiteParams,
        names: &NameTable,
        meters: &Meters,
        now: &Now,
    ) -> Plan {
        let cx = Context {
            params,
            names,
            meters,
            users: &self.users,
            user_rules: &self.user_rules,
            now,
        };
        let mut plan = Plan {
            rule_limited: vec![false; self.devices.len()],
            dimmed: vec![false; self.devices.len()],
            ..Plan::default()
        };
        for (i, t) in self.devices.iter_mut().enumerate() {
            if t.settings.dev_type.is_wallbox() {
                limit(i, t, &cx, &mut plan);
            }
        }
        plan
    }
}

/// One wallbox's limits.
fn limit(i: usize, t: &mut Tracked, cx: &Context, plan: &mut Plan) {
    let now = cx.now.mono_ms;
    let pause_ms = cx.params.min_pause_time_s * 1000;
    let s = t.settings.clone();
    // The wallbox's own values: its state and its cable's current.
    let (state, cable) = match &t.reading {
        Some(Reading::Evse(r)) => (Some(r.state), r.cable_ma),
        _ => (None, 0),
    };
    let building = t.building_phases(t.phase_mask());
    let max_setting = t.max_charging(cx.names);
    let base = EvseInput {
        group: s.group,
        prio: s.prio,
        turn: t.turn.map_or(u64::MAX, |turn| turn.rank(now, pause_ms)),
        phases: building,
        min_ma: s.min_charging_cur,
        max_ma: max_setting,
        uncontrolled: false,
    };
    if uncontrolled(i, t, state, &base, cx, plan) {
        return;
    }
    let session = t.session.clone().unwrap_or_default();
    let mut max = max_setting;
    if cable > 0 {
        max = max.min(cable);
    }
    if let Some(limit) = session.overrides.max_ma {
        max = max.min(limit);
    }
    // The rules are evaluated even for a paused car, so that what they say
    // is always shown (and their undercut memory is kept).
    let decision = rules(t, &session, max, building, cx);
    t.phases.rule_wish = if t.switching() == Switching::Auto {
        rule_wishes(t, &session, max, cx)
    } else {
        None
    };
    let stop_note = if session.overrides.disabled {
        Some(LbReason::DisabledByOverride)
    } else if needs_auth(cx.users, &s.dev_id) && session.auth.is_none() {
        Some(LbReason::WaitingForAuth)
    } else if let Some(why) = t.phases.why.filter(|_| t.phases.paused) {
        // The relay switches: the car's turn runs on, without current.
        Some(LbReason::Phases(why))
    } else {
        t.turn
            .and_then(|turn| turn.pause_left_secs(now))
            .map(|secs| LbReason::MinPause { secs })
    };
    if let Some(note) = stop_note {
        plan.stop(i, note);
        return;
    }
    if let Some(d) = decision {
        // Riding through an undercut, a car keeps at least its minimum.
        let wish = if d.undercut {
            d.current_ma.max(s.min_charging_cur)
        } else {
            d.current_ma
        };
        if wish < s.min_charging_cur {
            // A stop by a rule is a pause like any other: the car waits at
            // least `min_pause_time` before it starts again, so a rule that
            // flickers does not switch it every cycle.
            if let Some(turn) = t.turn.as_mut() {
                turn.settle(0, now, pause_ms);
            }
            plan.stop(
                i,
                LbReason::ChargingRuleStop {
                    rule: t.view.rule_id.clone(),
                    ma: d.current_ma,
                },
            );
            return;
        }
        if wish < max {
            plan.rule_limited[i] = true;
        }
        max = max.min(wish);
    }
    if cx.meters.any_stale() {
        max = s.min_charging_cur.min(max);
    }
    plan.inputs.push((
        i,
        EvseInput {
            max_ma: max,
            ..base
        },
    ));
}

/// A wallbox load management does not share current with: offline (what
/// it is assumed to draw is reserved), disabled (by the policy), without a
/// reading, in error or without a car. Answers whether it was one.
fn uncontrolled(
    i: usize,
    t: &Tracked,
    state: Option<EvseState>,
    base: &EvseInput,
    cx: &Context,
    plan: &mut Plan,
) -> bool {
    let s = &t.settings;
    if t.offline {
        let assumed = if t.turn.is_some() {
            t.drawn.iter().copied().max().unwrap_or(0).max(0)
        } else {
            0
        };
        if assumed > 0 {
            plan.inputs.push((
                i,
                EvseInput {
                    max_ma: assumed,
                    uncontrolled: true,
                    ..base.clone()
                },
            ));
        }
        plan.notes.push((i, LbReason::ComError));
        return true;
    }
    if !s.device_enabled {
        let policy = cx.params.disable_policy;
        let (current, enable) = match policy {
            DisablePolicy::Minimum => (s.min_charging_cur, true),
            DisablePolicy::NoLimit => (base.max_ma, true),
            DisablePolicy::Stop => (0, false),
        };
        let present = state.is_some_and(EvseState::vehicle_present);
        if present && enable {
            plan.inputs.push((
                i,
                EvseInput {
                    max_ma: current,
                    uncontrolled: true,
                    ..base.clone()
                },
            ));
        }
        plan.commands.push(Command::current(i, current, enable));
        plan.notes.push((i, LbReason::Disabled(policy)));
        return true;
    }
    match state {
        None => plan.notes.push((i, LbReason::NoReading)),
        Some(EvseState::Error) => plan.stop(i, LbReason::WallboxError),
        Some(state) if !state.vehicle_present() => plan.stop(i, LbReason::NoVehicle),
        Some(_) => return false,
    }
    true
}

/// What the charging rules would wish on one phase and on three, mA per
/// phase, for 1p/3p switching: the surplus and the sun spread over that
/// many phases. A what-if: the rules' memory is left as it is. `None`
/// when no rule limits the car.
fn rule_wishes(t: &Tracked, session: &Session, max: i64, cx: &Context) -> Option<(i64, i64)> {
    let drawn = t
        .drawn
        .iter()
        .map(|ma| (*ma).max(0))
        .fold(0, i64::saturating_add);
    let min = t.settings.min_charging_cur;
    let wish = |phases: i64| {
        let inputs = RuleInputs {
            time: cx.now.local,
            max_ma: max,
            min_ma: min,
            solar_ma: cx.meters.solar_sum / phases,
            surplus_ma: drawn.saturating_add(cx.meters.export_sum) / phases,
            price_level: cx.params.price_level,
            names: cx.names,
        };
        let wallbox = if session.overrides.wallbox_rules_off {
            None
        } else {
            t.rules.decide(&inputs, &mut t.rule_memory.clone())
        };
        let user = match &session.auth {
            Some((user, _)) if !session.overrides.user_rules_off => cx
                .user_rules
                .get(user)
                .and_then(|r| r.decide(&inputs, &mut t.user_rule_memory.clone())),
            _ => None,
        };
        combine(wallbox, user).map(|d| {
            if d.undercut {
                d.current_ma.max(min)
            } else {
                d.current_ma
            }
        })
    };
    match (wish(1), wish(3)) {
        (None, None) => None,
        (one, three) => Some((one.unwrap_or(i64::MAX), three.unwrap_or(i64::MAX))),
    }
}

/// What the wallbox's and the user's charging rules decide, shown in the
/// wallbox's view (`rule_id`, `rule_current`).
fn rules(
    t: &mut Tracked,
    session: &Session,
    max: i64,
    building: u8,
    cx: &Context,
) -> Option<Decision> {
    t.view.rule_id = String::new();
    t.view.rule_current = -1;
    let draw = t.drawn;
    let phases_used = i64::from(building.count_ones().max(1));
    let rule_inputs = RuleInputs {
        time: cx.now.local,
        max_ma: max,
        min_ma: t.settings.min_charging_cur,
        solar_ma: cx.meters.solar_sum / phases_used,
        surplus_ma: draw
            .iter()
            .copied()
            .max()
            .unwrap_or(0)
            .max(0)
            .saturating_add(cx.meters.export_sum / phases_used),
        price_level: cx.params.price_level,
        names: cx.names,
    };
    let wallbox_rules = if session.overrides.wallbox_rules_off {
        None
    } else {
        t.rules.decide(&rule_inputs, &mut t.rule_memory)
    };
    let user_rules = match &session.auth {
        Some((user, _)) if !session.overrides.user_rules_off => cx
            .user_rules
            .get(user)
            .and_then(|r| r.decide(&rule_inputs, &mut t.user_rule_memory)),
        _ => None,
    };
    let decision = combine(wallbox_rules, user_rules);
    if let Some(d) = decision {
        let set = if wallbox_rules == Some(d) {
            t.settings.dev_id.clone()
        } else {
            session
                .auth
                .as_ref()
                .map(|(u, _)| u.clone())
                .unwrap_or_default()
        };
        t.view.rule_id = format!(
            "{set}/{}",
            d.rule.map_or("none".to_string(), |r| r.to_string())
        );
        t.view.rule_current = d.current_ma;
    }
    decision
}
