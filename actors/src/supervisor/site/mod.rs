//! One cycle's decisions, as pure code: from the latest readings and the
//! clock to the currents each wallbox gets, and the state `get_dev_info`
//! reports. The supervisor actor only does the I/O around it.

use std::collections::HashMap;
use std::sync::Arc;

use serde::Serialize;

mod names;
mod plausible;
#[cfg(test)]
mod properties;
pub mod session;
#[cfg(test)]
mod tests;

use crate::alloc::budget::{self, MeterLoad, MeterRole, Overdraft};
use crate::alloc::turns::TurnState;
use crate::alloc::{allocate, EvseInput, GroupInput, PerPhase, SiteInput};
use crate::config::{
    find_card, needs_auth, CurrentLimit, DeviceSettings, DisablePolicy, SiteParams, User,
};
use crate::devices::DeviceStatus;
use crate::drivers::{EvseReading, EvseState, MeterReading, Reading};
use crate::rules::charging::{combine, Inputs as RuleInputs, LocalTime, Memory, RuleSet};
use crate::rules::formula::Expr;
use names::{limit_now, max_formula, NameTable};
use session::{CardOutcome, Overrides, Session, Transaction, Who};

/// A phase counts as drawing above this (mA) when determining phases.
const PHASE_DRAW_THRESHOLD_MA: i64 = 1000;

/// What the cycle tells one wallbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Command {
    pub device: usize,
    pub current_ma: i64,
    pub enable: bool,
}

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
    /// Why it gets what it gets: the binding constraint.
    pub lb_reason: String,
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
}

#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// Per device, in declaration order: its dev_id and its communication
    /// status after the cycle's poll (`None` for groups).
    pub devices: Vec<(String, Option<DeviceStatus>)>,
    pub title: String,
    pub desc: String,
    pub params: SiteParams,
    pub site: SiteView,
    /// Per device, in declaration order.
    pub evses: Vec<Option<EvseView>>,
    pub meters: Vec<Option<MeterView>>,
    /// ms between the last two cycle starts.
    pub cycle_time_ms: u64,
}

/// What the cycle remembers of one device.
#[derive(Debug, Clone)]
struct Tracked {
    settings: Arc<DeviceSettings>,
    /// When it was configured: silence counts from here until a first reading.
    added_ms: u64,
    reading: Option<Reading>,
    /// ms of the last good reading.
    last_ok: Option<u64>,
    /// A good reading came since the last cycle.
    fresh: bool,
    /// The last reading received, plausible or not, and when (ms): what
    /// the next energy counter is compared with.
    last_raw: Option<(Reading, u64)>,
    /// The last poll failed.
    offline: bool,
    /// While a car is plugged in.
    turn: Option<TurnState>,
    /// Phases seen drawing since plug-in (wallbox side).
    seen_phases: u8,
    last_set: i64,
    view: EvseView,
    /// The car plugged in now: who authorised it, overrides, transaction.
    session: Option<Session>,
    /// An open transaction from before a restart, until the car is seen.
    restored_tx: Option<Transaction>,
    /// The RFID the wallbox reported last.
    rfid_seen: String,
    /// The soft meter (wallboxes without a meter): energy in µJ, and when
    /// it was last brought up to date (ms).
    soft_uj: u64,
    soft_at: Option<u64>,
    /// The wallbox's charging rules, and what their undercut remembers.
    rules: RuleSet,
    rule_memory: Memory,
    user_rule_memory: Memory,
    /// `max_charging_cur` when it is a formula (checked when it was set).
    max_formula: Option<Expr>,
    /// The attached meter's reading this cycle, while it answers.
    attached: Option<MeterReading>,
    /// The phases of the card that authorised the car (its `used_phases`);
    /// 0 = the card does not say.
    card_phases: u8,
    /// Overrides set while no car was plugged in: the next car gets them.
    pending_overrides: Option<Overrides>,
}

impl Tracked {
    fn new(settings: Arc<DeviceSettings>, now: u64) -> Self {
        let settings_rules = settings.charging_rules.clone();
        let settings_max = settings.max_charging_cur.clone();
        Tracked {
            settings,
            added_ms: now,
            reading: None,
            last_ok: None,
            fresh: false,
            last_raw: None,
            offline: false,
            turn: None,
            seen_phases: 0,
            last_set: -1,
            view: EvseView::default(),
            session: None,
            restored_tx: None,
            rfid_seen: String::new(),
            soft_uj: 0,
            soft_at: None,
            rules: RuleSet::new(&settings_rules).unwrap_or_default(),
            rule_memory: Memory::default(),
            user_rule_memory: Memory::default(),
            max_formula: max_formula(&settings_max),
            attached: None,
            card_phases: 0,
            pending_overrides: None,
        }
    }

    /// The wallbox's reading, with the attached meter's values in place of
    /// its own meter while the attached meter answers.
    fn evse_reading(&self) -> Option<EvseReading> {
        let Some(Reading::Evse(r)) = &self.reading else {
            return None;
        };
        let mut r = r.clone();
        if let Some(m) = &self.attached {
            r.meter = Some(m.clone());
        }
        Some(r)
    }

    /// The wallbox's (or group's) limit this cycle, mA. A formula that
    /// cannot be evaluated now (a device it names is missing) gives 0: the
    /// limit guards a fuse, so not knowing it must not mean no limit.
    fn max_charging(&self, names: &NameTable) -> i64 {
        limit_now(
            &self.settings.max_charging_cur,
            self.max_formula.as_ref(),
            names,
        )
    }

    /// The phases the car uses, on the wallbox's side. Never under-count:
    /// all three until the meter shows which.
    fn car_phases(&self) -> u8 {
        match (
            self.card_phases,
            self.settings.used_phases,
            self.seen_phases,
        ) {
            // The card's phases, and any more the meter shows drawing.
            (card, _, seen) if card != 0 => card | seen,
            (0, 0, 0) => 0b111,
            (0, 0, seen) => seen,
            (_, fixed, _) => fixed,
        }
    }

    /// What the wallbox draws per phase (its own side). A silent wallbox
    /// keeps drawing what it drew; after `fault_after_ms` its own fail-safe
    /// current is what it may draw.
    fn draw(&self, now: u64, fault_after_ms: u64) -> PerPhase {
        let reading = self.evse_reading();
        let phases = self.car_phases();
        let silent_for = now.saturating_sub(self.last_ok.unwrap_or(self.added_ms));
        if self.offline && self.turn.is_some() && silent_for > fault_after_ms {
            let mut d = [0; 3];
            for p in wallbox_phases(phases) {
                d[p] = self.settings.fail_safe_current;
            }
            return d;
        }
        measured_draw(
            reading.as_ref(),
            phases,
            self.offline.then_some(self.last_set),
        )
    }

    /// The wallbox's energy counter now: its meter, or the soft meter (Wh).
    fn energy_wh(&self) -> i64 {
        match self.evse_reading() {
            Some(EvseReading { meter: Some(m), .. }) => m.import_wh,
            _ => soft_wh(self.soft_uj),
        }
    }
}

/// Tells wallbox `device` to stop (0 A, disabled), saying why.
fn stop(
    commands: &mut Vec<Command>,
    notes: &mut Vec<(usize, String)>,
    device: usize,
    why: impl Into<String>,
) {
    commands.push(Command {
        device,
        current_ma: 0,
        enable: false,
    });
    notes.push((device, why.into()));
}

/// How long overdraws are not recorded after the site limit changed.
const OVERDRAFT_GRACE_MS: u64 = 10_000;

/// µJ in one Wh.
const UJ_PER_WH: u64 = 3_600_000_000;

fn soft_wh(uj: u64) -> i64 {
    i64::try_from(uj / UJ_PER_WH).unwrap_or(i64::MAX)
}

/// All the state the cycle keeps between runs.
#[derive(Debug, Clone)]
pub struct Site {
    pub params: SiteParams,
    devices: Vec<Tracked>,
    overdraft: Overdraft,
    users: Vec<User>,
    /// Unix seconds now, for the charging log (set before each cycle).
    pub wall_secs: u64,
    /// Transactions closed since the last `take_closed`.
    closed: Vec<Transaction>,
    /// What happened with cards read by the wallboxes, for the log.
    notices: Vec<String>,
    /// The users' charging rules, by user id.
    user_rules: HashMap<String, RuleSet>,
    /// Local time now, for the charging rules (set before each cycle).
    pub local: LocalTime,
    /// After the limits change, overdraws are not recorded until this time
    /// (ms): the cars need a few cycles to follow a lower limit.
    overdraft_grace_until: u64,
    /// `max_total_current` when it is a formula (checked when it was set).
    max_total_formula: Option<Expr>,
    /// The charging-manager variables, by lower-case name.
    cm_vars: Arc<HashMap<String, f64>>,
    /// The house load at the grid meter's last reading (grid less what the
    /// wallboxes drew then): used while that reading is not from this cycle.
    grid_house: Option<PerPhase>,
}

/// The sum of three phases, saturating.
fn total(ma: &PerPhase) -> i64 {
    ma.iter().copied().fold(0, i64::saturating_add)
}

/// W of `ma` at `volts`, saturating.
fn watts(ma: i64, volts: i64) -> i64 {
    ma.saturating_mul(volts) / 1000
}

fn wallbox_phases(mask: u8) -> impl Iterator<Item = usize> {
    (0..3).filter(move |p| mask & (1 << p) != 0)
}

impl Site {
    pub fn new(params: SiteParams, devices: &[Arc<DeviceSettings>], now: u64) -> Self {
        Site {
            max_total_formula: max_formula(&params.max_total_current),
            params,
            devices: devices
                .iter()
                .map(|s| Tracked::new(s.clone(), now))
                .collect(),
            overdraft: Overdraft::default(),
            users: Vec::new(),
            wall_secs: 0,
            closed: Vec::new(),
            notices: Vec::new(),
            overdraft_grace_until: 0,
            user_rules: HashMap::new(),
            local: LocalTime::default(),
            cm_vars: Arc::default(),
            grid_house: None,
        }
    }

    /// The charging-manager variables formulas read as `CM.<name>`.
    pub fn set_cm_vars(&mut self, vars: &std::collections::BTreeMap<String, serde_json::Number>) {
        self.cm_vars = Arc::new(
            vars.iter()
                .filter_map(|(k, v)| Some((k.to_ascii_lowercase(), v.as_f64()?)))
                .collect(),
        );
    }

    /// Takes new parameters and devices. What was tracked about a device
    /// (its readings, the car's turn) is kept by dev_id, except for the
    /// devices in `restarted`, which start afresh.
    pub fn reconfigure(
        &mut self,
        params: SiteParams,
        devices: &[Arc<DeviceSettings>],
        restarted: &[String],
        now: u64,
    ) {
        let mut old = std::mem::take(&mut self.devices);
        self.devices = devices
            .iter()
            .map(|settings| {
                let kept = old
                    .iter()
                    .position(|t| {
                        t.settings.dev_id == settings.dev_id
                            && !restarted.contains(&settings.dev_id)
                    })
                    .map(|i| old.swap_remove(i));
                match kept {
                    Some(mut t) => {
                        if t.settings.max_charging_cur != settings.max_charging_cur {
                            t.max_formula = max_formula(&settings.max_charging_cur);
                        }
                        if t.settings.charging_rules != settings.charging_rules {
                            t.rules = RuleSet::new(&settings.charging_rules).unwrap_or_default();
                            t.rule_memory = Memory::default();
                        }
                        t.settings = settings.clone();
                        t
                    }
                    None => Tracked::new(settings.clone(), now),
                }
            })
            .collect();
        if params.max_total_current != self.params.max_total_current
            || params.reserve_current != self.params.reserve_current
        {
            self.overdraft_grace_until = now + OVERDRAFT_GRACE_MS;
            self.max_total_formula = max_formula(&params.max_total_current);
        }
        self.params = params;
    }

    /// Notes one device's poll: a reading, or that it did not answer.
    /// Devices that are not polled (groups) are given `None`. A reading
    /// outside its plausibility window counts as no answer (the device's
    /// last reading stays in use, as for a silent device); the answer is
    /// then why, for the device's `last_error`.
    pub fn record(
        &mut self,
        device: usize,
        polled: Option<Result<Reading, String>>,
        now: u64,
    ) -> Option<String> {
        let window = self.devices.get(device).map(|t| self.window(t))?;
        let t = self.devices.get_mut(device)?;
        match polled {
            Some(Ok(reading)) => {
                let previous = t.last_raw.as_ref().map(|(r, at)| (r, *at));
                let verdict = plausible::check(&reading, &window, previous, now);
                t.last_raw = Some((reading.clone(), now));
                match verdict {
                    Ok(()) => {
                        t.reading = Some(reading);
                        t.last_ok = Some(now);
                        t.fresh = true;
                        t.offline = false;
                        None
                    }
                    Err(why) => {
                        t.offline = true;
                        Some(format!("implausible reading: {why}"))
                    }
                }
            }
            Some(Err(_)) => {
                t.offline = true;
                None
            }
            None => None,
        }
    }

    /// What a device's readings can be: a wallbox's by its maximum, a
    /// meter's by the site limit.
    fn window(&self, t: &Tracked) -> plausible::Window {
        if t.settings.dev_type.is_evse() {
            let setting = match t.settings.max_charging_cur {
                CurrentLimit::Fixed(ma) => ma,
                CurrentLimit::Formula(_) => plausible::MAX_WALLBOX_MA,
            };
            let offered = match &t.last_raw {
                Some((Reading::Evse(r), _)) => r.offered_ma.clamp(0, plausible::MAX_WALLBOX_MA),
                _ => 0,
            };
            return plausible::Window::wallbox(setting.max(t.last_set).max(offered));
        }
        let limit = match self.params.max_total_current {
            CurrentLimit::Fixed(ma) => ma,
            CurrentLimit::Formula(_) => CurrentLimit::MAX_MA,
        };
        plausible::Window::meter(limit, self.params.meter_plausible_factor)
    }

    /// Resets the largest overdraw seen (`overdraft_cur` set to 0).
    pub fn reset_overdraft(&mut self) {
        self.overdraft.max_seen_ma = 0;
    }

    /// Runs the allocation at `now` (ms): the commands for the wallboxes
    /// (empty in observation mode) and the snapshot for the API.
    pub fn cycle(&mut self, now: u64, cycle_time_ms: u64) -> (Vec<Command>, Snapshot) {
        let params = self.params.clone();
        let stale_after = params.meter_timeout_s * 1000;
        self.attach_meters(now, stale_after);
        // Only the meters the house load is computed from matter: with a
        // grid meter those are the grid and EV meters, else the others.
        let has_grid = self
            .devices
            .iter()
            .any(|t| meter_role(&t.settings) == Some(MeterRole::Grid));
        let mut stale_meters: Vec<String> = Vec::new();
        let mut meters = Vec::new();
        // Whether every meter the house load is computed from was read
        // since the last cycle.
        let mut meters_fresh = true;
        let mut meter_views = vec![None; self.devices.len()];
        // Every meter's reading, for what the rules and formulas see (the
        // budget takes only the meters in `meters`).
        let mut measured = Vec::new();
        for (i, t) in self.devices.iter().enumerate() {
            let Some(role) = meter_role(&t.settings) else {
                continue;
            };
            let reading = match &t.reading {
                Some(Reading::Meter(m)) => Some(inverted(m, t.settings.invert)),
                _ => None,
            };
            if let Some(m) = &reading {
                meter_views[i] = Some(meter_view(m));
                measured.push(MeterLoad {
                    role,
                    current_ma: m.current_ma,
                });
            }
            let used = match role {
                MeterRole::Display => false,
                MeterRole::Grid | MeterRole::Vehicle => has_grid,
                MeterRole::Consumption
                | MeterRole::Production
                | MeterRole::StorageHome
                | MeterRole::StorageAll => !has_grid,
            };
            if !used {
                continue;
            }
            // A meter that never answered tells nothing about the house:
            // as stale as one that stopped answering.
            let silent = t
                .last_ok
                .is_none_or(|at| now.saturating_sub(at) > stale_after);
            if silent || reading.is_none() {
                stale_meters.push(t.settings.dev_id.clone());
            }
            if let Some(m) = reading {
                meters_fresh &= t.fresh;
                meters.push(MeterLoad {
                    role,
                    current_ma: m.current_ma,
                });
            }
        }

        let meter_stale = !stale_meters.is_empty();
        // What the charging rules see: solar production and what would be
        // fed into the grid, summed over the phases (a meter's `part` of its
        // phase sum).
        let sum_of = |roles: &[MeterRole], part: fn(i64) -> i64| -> i64 {
            measured
                .iter()
                .filter(|m| roles.contains(&m.role))
                .map(|m| part(total(&m.current_ma)))
                .fold(0, i64::saturating_add)
        };
        let all = |x: i64| x;
        let charging = |x: i64| x.max(0);
        let discharging = |x: i64| x.saturating_neg().max(0);
        let solar_sum = sum_of(&[MeterRole::Production], all);
        // Batteries (positive while charging, cfos.md §3.10): what a battery
        // charges with is surplus the car may take instead; what a home
        // battery discharges is not surplus, what an "all" battery
        // discharges is.
        let batteries = [MeterRole::StorageHome, MeterRole::StorageAll];
        let export_sum = if has_grid {
            // The grid meter nets the batteries in: take them back out.
            sum_of(&[MeterRole::Grid], all)
                .saturating_neg()
                .saturating_add(sum_of(&batteries, charging))
                .saturating_sub(sum_of(&[MeterRole::StorageHome], discharging))
        } else {
            solar_sum - sum_of(&[MeterRole::Consumption], all)
                + sum_of(&[MeterRole::StorageAll], discharging)
        };
        let mut names = self.names(&params, export_sum, &measured, has_grid, now);
        // The site limit this cycle; like a wallbox's, 0 while its formula
        // cannot be evaluated.
        let max_total_ma = limit_now(
            &params.max_total_current,
            self.max_total_formula.as_ref(),
            &names,
        );
        names.max_total_current = max_total_ma;

        // Plug-in bookkeeping and each wallbox's draw on the building's phases.
        let mut evse_ma = [0i64; 3];
        let mut inputs: Vec<(usize, EvseInput)> = Vec::new();
        let mut commands = Vec::new();
        let mut notes: Vec<(usize, String)> = Vec::new();
        // Wallboxes whose maximum this cycle is a charging rule's wish.
        let mut rule_limited = vec![false; self.devices.len()];
        let pause_ms = params.min_pause_time_s * 1000;
        for (i, t) in self.devices.iter_mut().enumerate() {
            if !t.settings.dev_type.is_wallbox() {
                continue;
            }
            let s = t.settings.clone();
            let rotation = s.phase_rotation;
            let reading = t.evse_reading();
            let present = reading.as_ref().is_some_and(|r| r.state.vehicle_present());
            if !t.offline && reading.is_some() {
                // The soft meter integrates the offered current while charging.
                if let Some(r) = reading
                    .as_ref()
                    .filter(|r| r.meter.is_none() && r.state.charging())
                {
                    let dt = now.saturating_sub(t.soft_at.unwrap_or(now));
                    let phases = if s.used_phases == 0 {
                        3
                    } else {
                        u64::from(s.used_phases.count_ones())
                    };
                    let mw =
                        u64::try_from(r.offered_ma.max(0).saturating_mul(params.voltage.max(0)))
                            .unwrap_or(0);
                    t.soft_uj = t
                        .soft_uj
                        .saturating_add(mw.saturating_mul(phases).saturating_mul(dt));
                }
                t.soft_at = Some(now);
                match (present, &t.turn) {
                    (true, None) => {
                        t.turn = Some(TurnState::plugged(now));
                        t.seen_phases = 0;
                        let energy = t.energy_wh();
                        let tx = t.restored_tx.take().unwrap_or(Transaction {
                            dev_id: s.dev_id.clone(),
                            start: self.wall_secs,
                            energy_start_wh: energy,
                            ..Transaction::default()
                        });
                        let mut session = Session::restored(tx);
                        // Overrides set while no car was there are this car's,
                        // unless it comes back from before a restart with its own.
                        if let Some(pending) = t.pending_overrides.take() {
                            if session.overrides.is_none() {
                                session.overrides = pending;
                            }
                        }
                        t.session = Some(session);
                    }
                    (false, _) => {
                        t.turn = None;
                        t.seen_phases = 0;
                        let energy = t.energy_wh();
                        let open = t
                            .session
                            .take()
                            .map(|s| s.tx)
                            .or_else(|| t.restored_tx.take());
                        if let Some(mut tx) = open {
                            tx.end = self.wall_secs;
                            tx.energy_wh = (energy - tx.energy_start_wh).max(0);
                            self.closed.push(tx);
                        }
                    }
                    _ => {}
                }
                // A card read by the wallbox itself (Power Brain 8096, or the
                // `rfid` of an HTTP wallbox).
                if let Some(r) = reading
                    .as_ref()
                    .filter(|r| !r.rfid.is_empty() && r.rfid != t.rfid_seen)
                {
                    t.rfid_seen.clone_from(&r.rfid);
                    if let Some(session) = t.session.as_mut() {
                        let outcome = match session.present(&self.users, &s.dev_id, &r.rfid) {
                            Ok(done) => done.to_string(),
                            Err(refused) => format!("refused: {refused}"),
                        };
                        self.notices
                            .push(format!("{}: card {}: {outcome}", s.dev_id, r.rfid));
                    }
                }
            }
            if let Some(meter) = reading.as_ref().and_then(|r| r.meter.as_ref()) {
                if meter.per_phase && reading.as_ref().is_some_and(|r| r.state.charging()) {
                    for p in 0..3 {
                        if meter.current_ma[p].unsigned_abs()
                            >= PHASE_DRAW_THRESHOLD_MA.unsigned_abs()
                        {
                            t.seen_phases |= 1 << p;
                        }
                    }
                }
            }
            // A card's `used_phases` holds while the car it authorised charges.
            t.card_phases = t
                .session
                .as_ref()
                .and_then(|session| session.auth.as_ref())
                .and_then(|(_, rfid)| find_card(&self.users, rfid))
                .map_or(0, |(_, card)| card.used_phases);
            let phases = t.car_phases();
            let building = rotation.to_building(phases);
            let draw = t.draw(now, params.evse_fault_after_s * 1000);
            let draw_building = rotation.to_building_values(draw);
            for p in 0..3 {
                evse_ma[p] = evse_ma[p].saturating_add(draw_building[p]);
            }
            t.view = evse_view(
                reading.as_ref(),
                t.offline,
                phases,
                &params,
                t.last_set,
                draw,
            );

            let turn_rank = t.turn.map_or(u64::MAX, |turn| turn.rank(now, pause_ms));
            let max_setting = t.max_charging(&names);
            let base = EvseInput {
                group: s.group,
                prio: s.prio,
                turn: turn_rank,
                phases: building,
                min_ma: s.min_charging_cur,
                max_ma: max_setting,
                uncontrolled: false,
            };
            if t.offline {
                let assumed = if t.turn.is_some() {
                    draw.iter().copied().max().unwrap_or(0).max(0)
                } else {
                    0
                };
                if assumed > 0 {
                    inputs.push((
                        i,
                        EvseInput {
                            max_ma: assumed,
                            uncontrolled: true,
                            ..base
                        },
                    ));
                }
                notes.push((i, "com error".to_string()));
                continue;
            }
            if !s.device_enabled {
                let (current, enable, note) = match params.disable_policy {
                    DisablePolicy::Minimum => {
                        (s.min_charging_cur, true, "disabled: minimum current")
                    }
                    DisablePolicy::NoLimit => (max_setting, true, "disabled: no limit"),
                    DisablePolicy::Stop => (0, false, "disabled"),
                };
                if present && enable {
                    inputs.push((
                        i,
                        EvseInput {
                            max_ma: current,
                            uncontrolled: true,
                            ..base
                        },
                    ));
                }
                commands.push(Command {
                    device: i,
                    current_ma: current,
                    enable,
                });
                notes.push((i, note.to_string()));
                continue;
            }
            match reading.as_ref().map(|r| r.state) {
                None => {
                    notes.push((i, "no reading yet".to_string()));
                    continue;
                }
                Some(EvseState::Error) => {
                    stop(&mut commands, &mut notes, i, "wallbox error");
                    continue;
                }
                Some(state) if !state.vehicle_present() => {
                    stop(&mut commands, &mut notes, i, "no vehicle");
                    continue;
                }
                Some(_) => {}
            }
            let needs_auth = needs_auth(&self.users, &s.dev_id);
            let session = t.session.clone().unwrap_or_default();
            let cable = reading.as_ref().map_or(0, |r| r.cable_ma);
            let mut max = max_setting;
            if cable > 0 {
                max = max.min(cable);
            }
            if let Some(limit) = session.overrides.max_ma {
                max = max.min(limit);
            }
            // The rules are evaluated even for a paused car, so that what
            // they say is always shown (and their undercut memory is kept).
            t.view.rule_id = String::new();
            t.view.rule_current = -1;
            let phases_used = i64::from(building.count_ones().max(1));
            let rule_inputs = RuleInputs {
                time: self.local,
                max_ma: max,
                min_ma: s.min_charging_cur,
                solar_ma: solar_sum / phases_used,
                surplus_ma: draw
                    .iter()
                    .copied()
                    .max()
                    .unwrap_or(0)
                    .max(0)
                    .saturating_add(export_sum / phases_used),
                price_level: params.price_level,
                names: &names,
            };
            let wallbox_rules = if session.overrides.wallbox_rules_off {
                None
            } else {
                t.rules.decide(&rule_inputs, &mut t.rule_memory)
            };
            let user_rules = match &session.auth {
                Some((user, _)) if !session.overrides.user_rules_off => self
                    .user_rules
                    .get(user)
                    .and_then(|r| r.decide(&rule_inputs, &mut t.user_rule_memory)),
                _ => None,
            };
            let decision = combine(wallbox_rules, user_rules);
            if let Some(d) = decision {
                let set = if wallbox_rules == Some(d) {
                    s.dev_id.clone()
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

            let stop_note = if session.overrides.disabled {
                Some("disabled by override".to_string())
            } else if needs_auth && session.auth.is_none() {
                Some("waiting for authorisation".to_string())
            } else {
                t.turn
                    .and_then(|turn| turn.pause_left_secs(now))
                    .map(|left| format!("paused: {left} s left of its minimum pause"))
            };
            if let Some(note) = stop_note {
                stop(&mut commands, &mut notes, i, note);
                continue;
            }
            if let Some(d) = decision {
                // Riding through an undercut, a car keeps at least its minimum.
                let wish = if d.undercut {
                    d.current_ma.max(s.min_charging_cur)
                } else {
                    d.current_ma
                };
                if wish < s.min_charging_cur {
                    // A stop by a rule is a pause like any other: the car
                    // waits at least `min_pause_time` before it starts again,
                    // so a rule that flickers does not switch it every cycle.
                    if let Some(turn) = t.turn.as_mut() {
                        turn.settle(0, now, pause_ms);
                    }
                    stop(
                        &mut commands,
                        &mut notes,
                        i,
                        format!("charging rule {}: {} mA", t.view.rule_id, d.current_ma),
                    );
                    continue;
                }
                if wish < max {
                    rule_limited[i] = true;
                }
                max = max.min(wish);
            }
            if meter_stale {
                max = s.min_charging_cur.min(max);
            }
            inputs.push((
                i,
                EvseInput {
                    max_ma: max,
                    ..base
                },
            ));
        }

        // A grid meter's reading less what the wallboxes draw now would
        // count the wallboxes' change since the reading as house load (and
        // a car that started since as current to spare): an older grid
        // reading goes with the wallboxes' draw at its time.
        let house_ma = match self.grid_house {
            Some(then) if has_grid && !meters_fresh => then,
            _ => budget::house_load(&meters, evse_ma),
        };
        if has_grid && meters_fresh {
            self.grid_house = Some(house_ma);
        }
        if !meters.is_empty() && now >= self.overdraft_grace_until {
            let total = [0, 1, 2].map(|p| house_ma[p].saturating_add(evse_ma[p]));
            self.overdraft.record(total, max_total_ma, now);
        }
        let penalty = self.overdraft.penalty(now);
        let available_ma =
            budget::available(max_total_ma, params.reserve_current, house_ma, penalty);
        let site_input = SiteInput {
            available_ma,
            evse_cap_ma: (params.max_total_evse_current > 0)
                .then_some(params.max_total_evse_current),
            max_imbalance_ma: (params.max_imbalance > 0).then_some(params.max_imbalance),
            imbalance_base_ma: if params.imbalance_add {
                house_ma
            } else {
                [0; 3]
            },
            groups: self.groups(&names),
        };
        // Cars with the same priority and turn (plugged in the same cycle)
        // are served by dev_id, not by where they are declared.
        inputs.sort_by(|(a, _), (b, _)| {
            self.devices[*a]
                .settings
                .dev_id
                .cmp(&self.devices[*b].settings.dev_id)
        });
        let evse_inputs: Vec<EvseInput> = inputs.iter().map(|(_, e)| e.clone()).collect();
        let results = allocate(&site_input, &evse_inputs).unwrap_or_else(|_| {
            // Settings validation rules out unknown groups; should one slip
            // through, nobody charges rather than anybody over a limit.
            evse_inputs
                .iter()
                .map(|_| crate::alloc::Allocation {
                    target_ma: 0,
                    reason: crate::alloc::Reason::MaxCurrent,
                })
                .collect()
        });
        for ((i, input), result) in inputs.iter().zip(&results) {
            let t = &mut self.devices[*i];
            if input.uncontrolled {
                continue;
            }
            let target = result.target_ma;
            if let Some(turn) = t.turn.as_mut() {
                turn.settle(target, now, pause_ms);
            }
            commands.push(Command {
                device: *i,
                current_ma: target,
                enable: target > 0,
            });
            let mut reason = result.reason.to_string();
            if result.reason == crate::alloc::Reason::MaxCurrent && rule_limited[*i] {
                reason = format!("charging rule {}", t.view.rule_id);
            }
            if meter_stale {
                reason = format!("meter stale: {} (minimum current)", stale_meters.join(", "));
            }
            t.view.lb_reason = reason;
        }
        for (i, note) in notes {
            self.devices[i].view.lb_reason = note;
        }

        let mut evse_views = vec![None; self.devices.len()];
        for c in &commands {
            let t = &mut self.devices[c.device];
            if params.lb_enabled {
                t.last_set = c.current_ma;
            }
            if params.lb_enabled {
                t.view.charging_enabled = c.enable;
            }
            t.view.last_set_charging_cur = t.last_set;
            t.view.lb_current = c.current_ma;
        }
        for (i, t) in self.devices.iter_mut().enumerate() {
            if !t.settings.dev_type.is_wallbox() {
                continue;
            }
            t.view.paused = t.turn.is_some_and(|turn| turn.pausing(now))
                || t.view.lb_reason.starts_with("paused");
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

        let volts = params.voltage;
        let snapshot = Snapshot {
            devices: Vec::new(),
            title: String::new(),
            desc: String::new(),
            params: params.clone(),
            site: SiteView {
                cons_evse_power: evse_ma
                    .iter()
                    .map(|ma| watts(*ma, volts))
                    .fold(0, i64::saturating_add),
                avail_evse_power: available_ma
                    .iter()
                    .map(|ma| watts((*ma).max(0), volts))
                    .fold(0, i64::saturating_add),
                available_ma,
                house_ma,
                evse_ma,
                max_total_ma,
                overdraft_cur: self.overdraft.max_seen_ma,
                meter_stale,
            },
            evses: evse_views,
            meters: meter_views,
            cycle_time_ms,
        };
        if !params.lb_enabled {
            commands.clear();
        }
        for t in &mut self.devices {
            t.fresh = false;
        }
        (commands, snapshot)
    }

    /// Gives each wallbox with an `attach` its meter's reading, while that
    /// meter answers (a silent one leaves the wallbox to its own values).
    fn attach_meters(&mut self, now: u64, stale_after: u64) {
        let readings: Vec<Option<MeterReading>> = self
            .devices
            .iter()
            .map(|t| {
                let attach = t.settings.attached()?;
                let meter = self
                    .devices
                    .iter()
                    .find(|m| m.settings.dev_id.eq_ignore_ascii_case(attach))?;
                let fresh = !meter.offline
                    && meter
                        .last_ok
                        .is_some_and(|at| now.saturating_sub(at) <= stale_after);
                match &meter.reading {
                    Some(Reading::Meter(m)) if fresh => Some(inverted(m, meter.settings.invert)),
                    _ => None,
                }
            })
            .collect();
        for (t, reading) in self.devices.iter_mut().zip(readings) {
            t.attached = reading;
        }
    }

    /// The users, for authorisation.
    pub fn set_users(&mut self, users: Vec<User>) {
        self.user_rules = users
            .iter()
            .filter_map(|u| Some((u.id.clone(), RuleSet::new(&u.charging_rules).ok()?)))
            .collect();
        self.users = users;
    }

    /// Open transactions and soft meter readings from before a restart.
    pub fn restore(
        &mut self,
        open: &[Transaction],
        soft_meters: &std::collections::BTreeMap<String, i64>,
    ) {
        for t in &mut self.devices {
            t.restored_tx = open
                .iter()
                .find(|tx| tx.dev_id == t.settings.dev_id)
                .cloned();
            if let Some(wh) = soft_meters.get(&t.settings.dev_id) {
                t.soft_uj = u64::try_from(*wh).unwrap_or(0).saturating_mul(UJ_PER_WH);
            }
        }
    }

    fn wallbox(&mut self, dev_id: &str) -> Result<&mut Tracked, String> {
        self.devices
            .iter_mut()
            .find(|t| {
                t.settings.dev_id.eq_ignore_ascii_case(dev_id) && t.settings.dev_type.is_evse()
            })
            .filter(|t| !t.settings.dev_type.is_group())
            .ok_or_else(|| format!("unknown wallbox: {dev_id}"))
    }

    /// A card or PIN entered for `dev_id`, or without one for the wallbox
    /// that waits for authorisation. Answers the wallbox and what happened.
    pub fn present_rfid(
        &mut self,
        dev_id: Option<&str>,
        rfid: &str,
    ) -> Result<(String, CardOutcome), String> {
        let dev_id = match dev_id {
            Some(d) => d.to_string(),
            None => {
                let users = &self.users;
                let waiting: Vec<String> = self
                    .devices
                    .iter()
                    .filter(|t| t.session.as_ref().is_some_and(|s| s.auth.is_none()))
                    .filter(|t| needs_auth(users, &t.settings.dev_id))
                    .map(|t| t.settings.dev_id.clone())
                    .collect();
                match waiting.as_slice() {
                    [] => return Err("no wallbox is waiting for authorisation".into()),
                    [one] => one.clone(),
                    several => {
                        return Err(format!(
                            "several wallboxes wait for authorisation ({}): give dev_id",
                            several.join(", ")
                        ))
                    }
                }
            }
        };
        let users = self.users.clone();
        let t = self.wallbox(&dev_id)?;
        let real_id = t.settings.dev_id.clone();
        let session = t
            .session
            .as_mut()
            .ok_or_else(|| format!("no vehicle at {real_id}"))?;
        let outcome = session.present(&users, &real_id, rfid)?;
        Ok((real_id, outcome))
    }

    /// `override_device` for the car at `dev_id`.
    pub fn override_device(
        &mut self,
        dev_id: &str,
        flags: &str,
        max_ma: Option<i64>,
        who: &Who,
    ) -> Result<(), String> {
        let users = self.users.clone();
        let t = self.wallbox(dev_id)?;
        let real_id = t.settings.dev_id.clone();
        let min = t.settings.min_charging_cur;
        if let Some(max) = max_ma.filter(|&max| max < min) {
            return Err(format!(
                "mamps: {max} mA is below {real_id}'s minimum of {min} mA (flag C stops charging)"
            ));
        }
        if let Some(session) = t.session.as_mut() {
            return session.override_with(&users, flags, max_ma, who);
        }
        // No car yet: the overrides wait for the next one and end when it
        // is unplugged, as on cFos.
        let mut waiting = Session {
            overrides: t.pending_overrides.clone().unwrap_or_default(),
            ..Session::default()
        };
        waiting.override_with(&users, flags, max_ma, who)?;
        t.pending_overrides = Some(waiting.overrides);
        Ok(())
    }

    /// Reads the soft meter of `dev_id` (Wh) and, with `set`, sets it.
    /// Answers the reading before the change.
    pub fn soft_meter(&mut self, dev_id: &str, set: Option<i64>) -> Result<i64, String> {
        let t = self.wallbox(dev_id)?;
        let before = soft_wh(t.soft_uj);
        if let Some(wh) = set {
            let wh = u64::try_from(wh).map_err(|_| "val: must not be negative".to_string())?;
            t.soft_uj = wh.saturating_mul(UJ_PER_WH);
        }
        Ok(before)
    }

    /// Every wallbox's soft meter, Wh.
    pub fn soft_meters(&self) -> std::collections::BTreeMap<String, i64> {
        self.devices
            .iter()
            .filter(|t| t.soft_uj > 0)
            .map(|t| (t.settings.dev_id.clone(), soft_wh(t.soft_uj)))
            .collect()
    }

    /// The transactions open now.
    pub fn open_transactions(&self) -> Vec<Transaction> {
        self.devices
            .iter()
            .filter_map(|t| {
                t.session
                    .as_ref()
                    .map(Session::saved)
                    .or_else(|| t.restored_tx.clone())
            })
            .collect()
    }

    /// Transactions closed since the last call, and card notices.
    pub fn take_events(&mut self) -> (Vec<Transaction>, Vec<String>) {
        (
            std::mem::take(&mut self.closed),
            std::mem::take(&mut self.notices),
        )
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

fn meter_role(settings: &DeviceSettings) -> Option<MeterRole> {
    if settings.dev_type.is_evse() {
        return None;
    }
    Some(settings.role)
}

fn inverted(m: &MeterReading, invert: bool) -> MeterReading {
    if !invert {
        return m.clone();
    }
    MeterReading {
        current_ma: m.current_ma.map(i64::saturating_neg),
        power_w: m.power_w.saturating_neg(),
        import_wh: m.export_wh,
        export_wh: m.import_wh,
        ..m.clone()
    }
}

fn meter_view(m: &MeterReading) -> MeterView {
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
    }
}

/// What a wallbox draws per wallbox phase: its meter's reading, or, without
/// a meter, the current it is offered on its phases while charging. An
/// offline wallbox is assumed to keep drawing what it was last given.
fn measured_draw(
    reading: Option<&EvseReading>,
    phases: u8,
    offline_last_set: Option<i64>,
) -> PerPhase {
    let mut draw = [0; 3];
    match (reading, offline_last_set) {
        (Some(r), _) if r.meter.is_some() => {
            if let Some(m) = &r.meter {
                draw = m.current_ma;
            }
        }
        (Some(r), None) if r.state.charging() => {
            for p in wallbox_phases(phases) {
                draw[p] = r.offered_ma;
            }
        }
        (_, Some(last)) if last > 0 => {
            for p in wallbox_phases(phases) {
                draw[p] = last;
            }
        }
        _ => {}
    }
    draw
}

fn evse_view(
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
