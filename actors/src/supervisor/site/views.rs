//! Step 5 of the cycle, commands and views: what each wallbox is told and
//! why (`lb_reason`), and what `get_dev_info` shows of the wallboxes, the
//! meters and the site.

use serde::Serialize;

use super::budget::{Budget, Meters};
use super::limits::Plan;
use super::reason::LbReason;
use super::session::Overrides;
use super::{soft_wh, total, watts, Command, Now, Site};
use crate::alloc::{Allocation, PerPhase, Reason};
use crate::config::{needs_auth, SiteParams};
use crate::devices::DeviceStatus;
use crate::drivers::{EvseReading, EvseState, MeterReading, Storage};
use crate::phases::{Switching, Why};

/// The load-management state of one wallbox, as `get_dev_info` shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct EvseView {
    pub state: u8,
    pub charging_enabled: bool,
    pub cur_charging_power: i64,
    pub total_energy: i64,
    pub current_l1: i64,
    pub current_l2: i64,
    pub current_l3: i64,
    /// Phases in use now (wallbox side, bit0 L1).
    pub phases: u8,
    pub paused: bool,
    pub pause_time: u64,
    pub pause_min_time: u64,
    /// mA last written; -1 if never.
    pub last_set_charging_cur: i64,
    /// mA load management gives it this cycle (written unless observing).
    pub lb_current: i64,
    /// A user is assigned to this wallbox: a car needs authorising.
    pub needs_auth: bool,
    /// The user who authorised the car plugged in now (their id).
    pub user: String,
    /// That user's name.
    pub user_name: String,
    /// Whether that user's name may be shown to anyone (`display`).
    #[serde(skip)]
    pub user_display: bool,
    /// Overrides in force for this car, a bit mask as cFos reports it:
    /// bit 0 `C` (charging disabled), bit 1 `E` (wallbox rules off), bit 2
    /// `U` (user rules off).
    pub overrides: u8,
    /// The current cap set with `mamps` for this car, mA; -1 none.
    pub ov_cur: i64,
    /// The charging rule that decides now (`E1/0`: the wallbox's first rule,
    /// `anna/2`: the user's third; `E1/none`: rules, none matching).
    pub rule_id: String,
    /// What that rule wishes, mA; -1 without rules.
    pub rule_current: i64,
    /// 1p/3p switching in force (`off`, `auto`, `1p`, `3p`): the setting,
    /// or the car's `switch_phases` override.
    pub phases_in_force: &'static str,
    /// The phases its relay is set to (1 or 3); 0 without switching.
    pub relay_phases: u8,
    /// Relay switches since the daemon started.
    pub phase_switches: u64,
    /// The car plugged in now was woken (`wake_up`).
    pub woken: bool,
    /// Why it gets what it gets: the binding constraint (`lb_reason`,
    /// `lb_reason_code`, `lb_reason_args`).
    #[serde(flatten)]
    pub lb_reason: LbReason,
    /// How it is wired, as measured (`wiring.rs`).
    #[serde(flatten)]
    pub wiring: super::WiringView,
}

/// What one meter reports, after `invert`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct MeterView {
    pub import: i64,
    pub export: i64,
    pub power_w: i64,
    pub current_l1: i64,
    pub current_l2: i64,
    pub current_l3: i64,
    pub voltage_l1: i64,
    pub voltage_l2: i64,
    pub voltage_l3: i64,
    /// The battery behind the meter, where the device reports one (left
    /// out otherwise).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub storage: Option<Storage>,
}

/// What the site reports.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SiteView {
    /// W drawn by all wallboxes.
    pub cons_evse_power: i64,
    /// W the wallboxes may draw in all (available current × voltage).
    pub avail_evse_power: i64,
    /// mA per phase the wallboxes may draw.
    pub available_ma: PerPhase,
    /// mA per phase of non-EVSE load.
    pub house_ma: PerPhase,
    /// mA per phase drawn by the wallboxes.
    pub evse_ma: PerPhase,
    /// The site limit this cycle (`max_total_current`, evaluated), mA.
    pub max_total_ma: i64,
    pub overdraft_cur: i64,
    pub meter_stale: bool,
    /// §14a dimming.
    pub grid_dimming: super::DimmingView,
}

#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// Per device, in declaration order: its dev_id and its communication
    /// status after the cycle's poll (`None` for groups), shared with the
    /// supervisor's copy (a snapshot of 10 000 devices copies no status).
    pub devices: Vec<(String, Option<std::sync::Arc<DeviceStatus>>)>,
    pub title: String,
    pub desc: String,
    pub params: SiteParams,
    pub site: SiteView,
    /// Per device, in declaration order.
    pub evses: Vec<Option<EvseView>>,
    pub meters: Vec<Option<MeterView>>,
    /// ms between the last two cycle starts.
    pub cycle_time_ms: u64,
    /// Cycles skipped since start because the one before still ran (the
    /// supervisor's live count).
    pub cycle_overruns: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl Site {
    /// The commands (none in observation mode) and the snapshot.
    pub(super) fn commands_and_views(
        &mut self,
        plan: Plan,
        allocations: &[Allocation],
        budget: &Budget,
        meters: Meters,
        params: &SiteParams,
        now: &Now,
    ) -> (Vec<Command>, Snapshot) {
        let mut commands = self.commands(plan, allocations, &meters);
        for c in &commands {
            let t = &mut self.devices[c.device];
            if params.lb_enabled {
                t.last_set = c.current_ma;
                t.view.charging_enabled = c.enable;
            }
            t.view.last_set_charging_cur = t.last_set;
            t.view.lb_current = c.current_ma;
        }
        let volts = params.voltage;
        let snapshot = Snapshot {
            params: params.clone(),
            site: SiteView {
                cons_evse_power: budget
                    .evse_ma
                    .iter()
                    .map(|ma| watts(*ma, volts))
                    .fold(0, i64::saturating_add),
                avail_evse_power: budget
                    .available_ma
                    .iter()
                    .map(|ma| watts((*ma).max(0), volts))
                    .fold(0, i64::saturating_add),
                available_ma: budget.available_ma,
                house_ma: budget.house_ma,
                evse_ma: budget.evse_ma,
                max_total_ma: budget.max_total_ma,
                overdraft_cur: self.overdraft.max_seen_ma,
                meter_stale: meters.any_stale(),
                grid_dimming: self.dimming.clone(),
            },
            evses: self.evse_views(params, now.mono_ms),
            meters: meters.views,
            ..Snapshot::default()
        };
        if !params.lb_enabled {
            commands.clear();
        }
        for t in &mut self.devices {
            t.fresh = false;
        }
        (commands, snapshot)
    }

    /// The commands: those decided before the allocation and what it
    /// gives; each wallbox's `lb_reason` says why.
    fn commands(
        &mut self,
        plan: Plan,
        allocations: &[Allocation],
        meters: &Meters,
    ) -> Vec<Command> {
        let Plan {
            inputs,
            mut commands,
            notes,
            rule_limited,
            dimmed,
        } = plan;
        for ((i, input), result) in inputs.iter().zip(allocations) {
            if input.uncontrolled {
                continue;
            }
            let t = &mut self.devices[*i];
            let target = result.target_ma;
            commands.push(Command::current(*i, target, target > 0));
            t.view.lb_reason = if meters.any_stale() {
                LbReason::MeterStale {
                    meters: meters.stale.clone(),
                }
            } else if result.reason == Reason::MaxCurrent && dimmed[*i] {
                LbReason::GridDimming {
                    limit_w: self.dimming.limit_w,
                }
            } else if result.reason == Reason::MaxCurrent && rule_limited[*i] {
                LbReason::ChargingRule {
                    rule: t.view.rule_id.clone(),
                }
            } else {
                LbReason::Alloc(result.reason)
            };
        }
        for (i, note) in notes {
            self.devices[i].view.lb_reason = note;
        }
        commands
    }

    /// Per device, in declaration order: the wallboxes' views.
    fn evse_views(&mut self, params: &SiteParams, now: u64) -> Vec<Option<EvseView>> {
        let mut evse_views = vec![None; self.devices.len()];
        for (i, t) in self.devices.iter_mut().enumerate() {
            if !t.settings.dev_type.is_wallbox() {
                continue;
            }
            let mode = t.switching();
            t.view.phases_in_force = mode.key();
            t.view.relay_phases = match mode {
                crate::phases::Switching::Off => 0,
                _ => u8::try_from(t.phases.state.phases.count()).unwrap_or(3),
            };
            t.view.phase_switches = t.phases.state.switches;
            t.view.woken = t.phases.wake.woken_at.is_some();
            // What the allocator or a rule says is true but tells less
            // than why the car is on one phase, or waits for a switch;
            // except where the allocator gives it nothing: then why it
            // waits (its minimum does not fit, another car's turn) is what
            // there is to tell, and a car of its priority gives way to it.
            let phase_why = t.phases.why.filter(|w| {
                !matches!(w, Why::Fixed(_) | Why::NotAllowed) && mode != Switching::Off
            });
            if let Some(why) = phase_why {
                let replaced = match &t.view.lb_reason {
                    LbReason::Alloc(_) => !t.view.lb_reason.is_pause(),
                    LbReason::ChargingRule { .. } | LbReason::ChargingRuleStop { .. } => true,
                    _ => false,
                };
                if replaced {
                    t.view.lb_reason = LbReason::Phases(why);
                }
            }
            t.view.paused =
                t.turn.is_some_and(|turn| turn.pausing(now)) || t.view.lb_reason.is_pause();
            t.view.pause_time = t
                .turn
                .filter(|_| t.view.paused)
                .map_or(0, |turn| turn.pause_secs(now));
            t.view.pause_min_time = params.min_pause_time_s;
            t.view.needs_auth = needs_auth(&self.users, &t.settings.dev_id);
            let session = t.session.as_ref();
            t.view.user = session
                .and_then(|s| s.auth.as_ref())
                .map(|(u, _)| u.clone())
                .unwrap_or_default();
            let user = self.users.iter().find(|u| u.id == t.view.user);
            t.view.user_name = user.map(|u| u.name.clone()).unwrap_or_default();
            t.view.user_display = user.is_some_and(crate::config::shown_while_plugged_in);
            let overrides = session
                .map(|s| &s.overrides)
                .or(t.pending_overrides.as_ref());
            t.view.overrides = overrides.map(Overrides::mask).unwrap_or_default();
            t.view.ov_cur = overrides.and_then(|o| o.max_ma).unwrap_or(-1);
            if !matches!(t.evse_reading(), Some(EvseReading { meter: Some(_), .. })) {
                t.view.total_energy = soft_wh(t.soft_uj);
            }
            evse_views[i] = Some(t.view.clone());
        }
        evse_views
    }
}

pub(super) fn meter_view(m: &MeterReading) -> MeterView {
    MeterView {
        import: m.import_wh,
        export: m.export_wh,
        power_w: m.power_w,
        current_l1: m.current_ma[0],
        current_l2: m.current_ma[1],
        current_l3: m.current_ma[2],
        voltage_l1: m.voltage_v[0],
        voltage_l2: m.voltage_v[1],
        voltage_l3: m.voltage_v[2],
        storage: m.storage.clone(),
    }
}

pub(super) fn evse_view(
    reading: Option<&EvseReading>,
    offline: bool,
    phases: u8,
    params: &SiteParams,
    last_set: i64,
    draw: PerPhase,
) -> EvseView {
    let state = if offline {
        EvseState::Offline
    } else {
        reading.map_or(EvseState::Offline, |r| r.state)
    };
    let meter = reading.and_then(|r| r.meter.as_ref());
    EvseView {
        state: state.code(),
        charging_enabled: reading.is_some_and(|r| r.charging_enabled),
        cur_charging_power: meter
            .map_or_else(|| watts(total(&draw), params.voltage), |m| m.power_w),
        total_energy: meter.map_or(0, |m| m.import_wh),
        current_l1: draw[0],
        current_l2: draw[1],
        current_l3: draw[2],
        phases: if state.charging() { phases } else { 0 },
        last_set_charging_cur: last_set,
        ..EvseView::default()
    }
}
