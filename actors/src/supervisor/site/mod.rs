//! One cycle's decisions, as pure code: from the latest readings and the
//! clock to the currents each wallbox gets, and the state `get_dev_info`
//! reports. The supervisor actor only does the I/O around it.
//!
//! [`Site::cycle`] runs five steps, each in its own file: `budget.rs`
//! (meters and roles → the site budget), `cars.rs` (plug-in, cards, the
//! soft meter, phases), `limits.rs` (each wallbox's limits, rules and
//! stops), `allocation.rs` (the allocator) and `views.rs` (commands and
//! what `get_dev_info` shows). `names.rs` is what formulas read,
//! `requests.rs` what the API asks between cycles.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

mod allocation;
mod budget;
mod cars;
mod dimming;
mod limits;
mod names;
mod phases;
mod plausible;
#[cfg(test)]
mod properties;
mod reason;
mod requests;
pub mod session;
#[cfg(test)]
mod tests;
mod views;
mod wiring;
#[cfg(test)]
mod wiring_tests;

use crate::alloc::budget::Overdraft;
use crate::alloc::turns::TurnState;
use crate::alloc::PerPhase;
use crate::config::{CurrentLimit, DeviceSettings, SiteParams, User};
use crate::drivers::{EvseReading, MeterReading, Reading};
use crate::rules::charging::{LocalTime, Memory, RuleSet};
use crate::rules::formula::Expr;
use crate::transport::DeviceError;
pub use dimming::{DimmingView, DIMMING_CSV_HEADER};
use names::{limit_now, max_formula, NameTable};
pub use reason::LbReason;
use session::{Overrides, Session, Transaction};
pub use views::{EvseView, MeterView, SiteView, Snapshot};
pub use wiring::WiringView;

/// The time a cycle runs at.
#[derive(Debug, Clone, Copy, Default)]
pub struct Now {
    /// The monotonic clock, ms: every duration is measured on it.
    pub mono_ms: u64,
    /// Unix seconds, for the charging log and `date.timestamp`.
    pub wall_secs: u64,
    /// The local time, for the charging rules and `date.*`.
    pub local: LocalTime,
}

impl Now {
    /// `mono_ms` on the monotonic clock, at the start of the Unix epoch.
    pub fn mono(mono_ms: u64) -> Self {
        Now {
            mono_ms,
            ..Now::default()
        }
    }
}

/// What the cycle tells one wallbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Command {
    pub device: usize,
    pub current_ma: i64,
    pub enable: bool,
    /// Set the 1p/3p relay: `Some(true)` one phase, `Some(false)` three.
    pub one_phase: Option<bool>,
    /// Wake the car (the charge pilot off for a moment).
    pub wake: bool,
}

impl Command {
    /// Tells wallbox `device` its current (0: disabled).
    pub fn current(device: usize, current_ma: i64, enable: bool) -> Self {
        Command {
            device,
            current_ma,
            enable,
            one_phase: None,
            wake: false,
        }
    }
}

/// What the cycle remembers of one device.
#[derive(Debug, Clone)]
struct Tracked {
    settings: Arc<DeviceSettings>,
    /// The dev_id in lower case, as formulas name it (made once, not
    /// every cycle).
    id_lower: Arc<str>,
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
    /// What it draws this cycle, per wallbox phase (set by the cars step).
    drawn: PerPhase,
    /// What it is counted as drawing at the least on the building phases
    /// it may or may not be on (set by the cars step, with `drawn`).
    drawn_floor: PerPhase,
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
    /// The rotations load management counts it on (`wiring.rs`).
    rotations: wiring::Rotations,
    /// 1p/3p switching (see `phases.rs`).
    phases: phases::Switch,
}

impl Tracked {
    fn new(settings: Arc<DeviceSettings>, now: u64) -> Self {
        let settings_rules = settings.charging_rules.clone();
        let settings_max = settings.max_charging_cur.clone();
        Tracked {
            id_lower: settings.dev_id.to_ascii_lowercase().into(),
            settings,
            added_ms: now,
            reading: None,
            last_ok: None,
            fresh: false,
            last_raw: None,
            offline: false,
            turn: None,
            seen_phases: 0,
            drawn: [0; 3],
            drawn_floor: [0; 3],
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
            rotations: wiring::ALL_ROTATIONS,
            phases: phases::Switch::default(),
        }
    }

    /// New settings of the same device: what is derived from them is
    /// derived again where they changed; the rest is kept.
    fn take_settings(&mut self, settings: Arc<DeviceSettings>) {
        if self.settings.max_charging_cur != settings.max_charging_cur {
            self.max_formula = max_formula(&settings.max_charging_cur);
        }
        if self.settings.charging_rules != settings.charging_rules {
            self.rules = RuleSet::new(&settings.charging_rules).unwrap_or_default();
            self.rule_memory = Memory::default();
        }
        if self.settings.dev_id != settings.dev_id {
            self.id_lower = settings.dev_id.to_ascii_lowercase().into();
        }
        self.settings = settings;
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
        let phases = self.phase_mask();
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
    /// Transactions closed since the last `take_closed`.
    closed: Vec<Transaction>,
    /// What happened with cards read by the wallboxes, for the log.
    notices: Vec<String>,
    /// The users' charging rules, by user id.
    user_rules: HashMap<String, RuleSet>,
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
    /// The phase estimator, the probe and the wiring warnings.
    wiring: wiring::SiteWiring,
    /// §14a: `grid_dimming` parsed, dimming by `cmd=set_grid_dimming`, the
    /// state, and the dimming log's lines not yet written.
    dimming_formula: Option<Expr>,
    dimming_command: bool,
    dimming: DimmingView,
    dimming_events: Vec<String>,
    /// How long the last cycle's steps took (the `/metrics` of each step).
    steps: StepTimes,
}

/// How long the steps of one cycle took.
#[derive(Debug, Clone, Copy, Default)]
pub struct StepTimes {
    /// Meters, cars and roles to the site's budget.
    pub budget: Duration,
    /// Phases, wake-ups, each wallbox's limits, dimming.
    pub limits: Duration,
    /// The allocator.
    pub allocation: Duration,
    /// Commands and the views the API shows.
    pub views: Duration,
}

/// `grid_dimming_formula` parsed (checked when it was set); none when empty.
fn dimming_formula(text: &str) -> Option<Expr> {
    if text.trim().is_empty() {
        return None;
    }
    crate::rules::formula::parse(text).ok()
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
            dimming_formula: dimming_formula(&params.grid_dimming_formula),
            max_total_formula: max_formula(&params.max_total_current),
            params,
            devices: devices
                .iter()
                .map(|s| Tracked::new(s.clone(), now))
                .collect(),
            overdraft: Overdraft::default(),
            users: Vec::new(),
            closed: Vec::new(),
            notices: Vec::new(),
            overdraft_grace_until: 0,
            user_rules: HashMap::new(),
            cm_vars: Arc::default(),
            grid_house: None,
            wiring: wiring::SiteWiring::default(),
            dimming_command: false,
            dimming: DimmingView::default(),
            dimming_events: Vec::new(),
            steps: StepTimes::default(),
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
        let fresh: HashSet<&str> = restarted.iter().map(String::as_str).collect();
        // The same devices in the same order (a change of some of them):
        // each is updated where it is, and one untouched is not even looked
        // at (its settings are the same allocation).
        let in_place = self.devices.len() == devices.len()
            && self
                .devices
                .iter()
                .zip(devices)
                .all(|(t, s)| Arc::ptr_eq(&t.settings, s) || t.settings.dev_id == s.dev_id);
        if in_place {
            for (t, settings) in self.devices.iter_mut().zip(devices) {
                if fresh.contains(settings.dev_id.as_str()) {
                    *t = Tracked::new(settings.clone(), now);
                } else if !Arc::ptr_eq(&t.settings, settings) {
                    t.take_settings(settings.clone());
                }
            }
        } else {
            // By dev_id (a site may have thousands of devices).
            let mut old: HashMap<String, Tracked> = std::mem::take(&mut self.devices)
                .into_iter()
                .map(|t| (t.settings.dev_id.clone(), t))
                .collect();
            self.devices = devices
                .iter()
                .map(|settings| {
                    let kept = if fresh.contains(settings.dev_id.as_str()) {
                        None
                    } else {
                        old.remove(&settings.dev_id)
                    };
                    match kept {
                        Some(mut t) => {
                            t.take_settings(settings.clone());
                            t
                        }
                        None => Tracked::new(settings.clone(), now),
                    }
                })
                .collect();
        }
        if params.max_total_current != self.params.max_total_current
            || params.reserve_current != self.params.reserve_current
        {
            self.overdraft_grace_until = now + OVERDRAFT_GRACE_MS;
            self.max_total_formula = max_formula(&params.max_total_current);
        }
        if params.grid_dimming_formula != self.params.grid_dimming_formula {
            self.dimming_formula = dimming_formula(&params.grid_dimming_formula);
        }
        self.params = params;
        self.forget_wiring(restarted);
    }

    /// Notes one device's poll: a reading, or that it did not answer.
    /// Devices that are not polled (groups) are given `None`. A reading
    /// outside its plausibility window counts as no answer (the device's
    /// last reading stays in use, as for a silent device); the answer is
    /// then why, for the device's `last_error`.
    pub fn record(
        &mut self,
        device: usize,
        polled: Option<Result<Reading, DeviceError>>,
        now: u64,
    ) -> Option<DeviceError> {
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
                        Some(DeviceError::Implausible(format!(
                            "implausible reading: {why}"
                        )))
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

    /// Runs the allocation at `now`: the commands for the wallboxes (empty
    /// in observation mode) and the snapshot for the API.
    pub fn cycle(&mut self, now: Now, cycle_time_ms: u64) -> (Vec<Command>, Snapshot) {
        let began = Instant::now();
        let params = self.params.clone();
        let stale_after = params.meter_timeout_s * 1000;
        self.attach_meters(now.mono_ms, stale_after);
        let meters = self.read_meters(now.mono_ms, stale_after);
        self.observe_wiring(&meters);
        let mut names = self.names(&params, &meters, &now);
        // The site limit this cycle; like a wallbox's, 0 while its formula
        // cannot be evaluated.
        let max_total_ma = limit_now(
            &params.max_total_current,
            self.max_total_formula.as_ref(),
            &names,
        );
        names.max_total_current = max_total_ma;
        let evse_ma = self.follow_cars(&params, &now);
        let budget = self.budget(&meters, evse_ma, max_total_ma, &params, &now);
        let budgeted = Instant::now();
        self.decide_phases(&now);
        self.wake_cars(&now);
        let mut plan = self.limits(&params, &names, &meters, &now);
        self.follow_dimming(&names, &now);
        self.dim(&mut plan, params.voltage);
        let limited = Instant::now();
        let mut allocations = self.allocate(&mut plan, &budget, &params, &names, &now);
        self.cap_for_probe(&plan, &mut allocations);
        let allocated = Instant::now();
        self.wiring_views();
        let (mut commands, mut snapshot) =
            self.commands_and_views(plan, &allocations, &budget, meters, &params, &now);
        self.phase_commands(&mut commands);
        snapshot.cycle_time_ms = cycle_time_ms;
        self.steps = StepTimes {
            budget: budgeted.duration_since(began),
            limits: limited.duration_since(budgeted),
            allocation: allocated.duration_since(limited),
            views: allocated.elapsed(),
        };
        (commands, snapshot)
    }

    /// How long the last cycle's steps took.
    pub fn steps(&self) -> StepTimes {
        self.steps
    }

    /// The users, for authorisation.
    pub fn users(&self) -> &[User] {
        &self.users
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
