//! The supervisor: runs the load-management cycle. Every `cycle_time` it
//! polls all devices at once (each bounded by the Modbus timeout, so a dead
//! device costs at most that, never the sum), lets the pure `Site` decide,
//! tells each wallbox its current, and keeps the snapshot the API reports.

mod clock;
mod health;
mod params;
mod plausible;
#[cfg(test)]
mod properties;
pub mod session;
mod site;
#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use serde_json::{Map, Value};
use slog::{debug, info, o, warn, Logger};
use tokio::sync::watch;

pub use clock::{Clock, ManualClock};
pub use health::{CycleHealth, STALLED_AFTER_PERIODS};
pub use params::SiteParams;
pub use session::{Transaction, Who};
pub use site::{Command, EvseView, MeterView, Site, SiteView, Snapshot};

use crate::devices::{Apply, DeviceStatus, GetStatus, Poll, Refused};
use crate::history::{self, History};
use crate::metrics::{DeviceLabel, Metrics};
use crate::plant::Plant;
use crate::store::{self, AppendLog, State, Store, StoreError, Update};

/// The latest cycle's state, for `get_dev_info`.
#[derive(Debug, Message)]
#[rtype(result = "Arc<Snapshot>")]
pub struct GetSnapshot;

/// Decides again now, with the latest pushed values of the HTTP-input
/// devices and the last readings of the others (no Modbus wait): a pushed
/// value acts at once. Answers with the new snapshot.
#[derive(Debug, Message)]
#[rtype(result = "Arc<Snapshot>")]
pub struct Reevaluate;

/// Polls every device and decides now; answers with the new snapshot.
/// A supervisor on a manual clock cycles only when sent this.
#[derive(Debug, Message)]
#[rtype(result = "Arc<Snapshot>")]
pub struct CycleNow;

/// A change of the configuration through the API; answers what changed,
/// in words for the log (`store::changes`).
#[derive(Debug, Message)]
#[rtype(result = "Result<Vec<String>, ConfigError>")]
pub enum Configure {
    /// A `set_params` body: parameters and/or `devices`.
    SetParams(Map<String, Value>),
    DeleteDevice(String),
    /// Delete and re-create: the same settings, a fresh actor and session.
    ResetDevice(String),
    /// A `set_user` body; `admin` says whether the caller gave the
    /// password, `proof` is the card or PIN given instead.
    SetUser {
        body: Map<String, Value>,
        admin: bool,
        proof: Option<String>,
    },
}

/// A card or PIN for a wallbox (`enter_rfid`); answers the wallbox.
#[derive(Debug, Message)]
#[rtype(result = "Result<String, ConfigError>")]
pub struct PresentRfid {
    pub dev_id: Option<String>,
    pub rfid: String,
}

/// `override_device` for the car at a wallbox.
#[derive(Debug, Message)]
#[rtype(result = "Result<(), ConfigError>")]
pub struct OverrideDevice {
    pub dev_id: String,
    pub flags: String,
    pub max_ma: Option<i64>,
    pub who: Who,
}

/// Sets (`Some`) or removes (`None`) a charging-manager variable
/// (`set_cm_vars`); written before it takes effect.
#[derive(Debug, Message)]
#[rtype(result = "Result<(), ConfigError>")]
pub struct SetCmVar {
    pub name: String,
    pub value: Option<serde_json::Number>,
}

/// Reads (and with `set`, sets) a soft meter; answers the reading before.
#[derive(Debug, Message)]
#[rtype(result = "Result<i64, ConfigError>")]
pub struct SoftMeter {
    pub dev_id: String,
    pub set: Option<i64>,
}

/// The history's points for a query (`get_history`).
#[derive(Debug, Message)]
#[rtype(result = "Result<history::Series, ConfigError>")]
pub struct GetHistory(pub history::Query);

/// The history as it is saved (at shutdown).
#[derive(Debug, Message)]
#[rtype(result = "History")]
pub struct TakeHistory;

/// Saves what runs on (open transactions, soft meters): every minute, and
/// at shutdown. Answers when written.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct Flush;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The change was refused; nothing changed.
    #[error("{0}")]
    Rejected(String),
    #[error("unknown device: {0}")]
    UnknownDevice(String),
    #[error("{0}")]
    Store(StoreError),
}

/// Has the store apply and write a change; answers the new state.
async fn write_state(store: &Addr<Store>, change: store::Change) -> Result<State, ConfigError> {
    match store.send(Update(change)).await {
        Ok(Ok(state)) => Ok(state),
        Ok(Err(StoreError::Rejected(reason))) => Err(ConfigError::Rejected(reason)),
        Ok(Err(e)) => Err(ConfigError::Store(e)),
        Err(e) => Err(ConfigError::Rejected(format!("store unavailable: {e}"))),
    }
}

/// One device as the supervisor reaches it.
struct Supervised {
    dev_id: String,
    poll: Option<Recipient<Poll>>,
    status: Option<Recipient<GetStatus>>,
    last_status: Option<DeviceStatus>,
    apply: Option<Recipient<Apply>>,
    refuse: Option<Recipient<Refused>>,
    http_input: bool,
    /// A poll was sent and has not been answered yet.
    in_flight: bool,
}

pub struct Supervisor {
    site: Site,
    plant: Plant,
    /// The running devices, for the API.
    published: watch::Sender<Arc<Plant>>,
    devices: Vec<Supervised>,
    /// The configuration in force (as last written by the store).
    state: State,
    store: Addr<Store>,
    /// Bumped at every reconfiguration: a cycle that started before one
    /// drops its readings (the device list changed under it).
    generation: u64,
    timer: Option<SpawnHandle>,
    clock: Clock,
    snapshot: Arc<Snapshot>,
    /// Every new snapshot, for those who follow them (the simulated plant).
    snapshots: watch::Sender<Arc<Snapshot>>,
    /// Each transaction as it closes (MQTT's `ta_log`).
    closed: tokio::sync::broadcast::Sender<Transaction>,
    /// What the site and the wallboxes did, for the charts.
    history: History,
    last_start: Option<u64>,
    running: bool,
    metrics: Arc<Metrics>,
    health: Arc<CycleHealth>,
    /// The wallboxes whose car was paused at the last decision.
    paused: Vec<String>,
    /// A test hook: after this many cycles the cycle hangs (see `stall_after`).
    stall_after: Option<u64>,
    log: Logger,
}

fn supervised(plant: &Plant) -> Vec<Supervised> {
    plant
        .devices()
        .iter()
        .map(|d| Supervised {
            dev_id: d.settings.dev_id.clone(),
            poll: d.poll_recipient(),
            status: d.status_recipient(),
            last_status: None,
            apply: d.apply_recipient(),
            refuse: d.refused_recipient(),
            http_input: d.settings.dev_type.is_http_input(),
            in_flight: false,
        })
        .collect()
}

impl Supervisor {
    pub fn new(
        state: State,
        plant: Plant,
        published: watch::Sender<Arc<Plant>>,
        store: Addr<Store>,
        log: &Logger,
    ) -> Self {
        let settings: Vec<_> = plant.devices().iter().map(|d| d.settings.clone()).collect();
        published.send_replace(Arc::new(plant.clone()));
        let mut site = Site::new(state.params.clone(), &settings, 0);
        site.set_users(state.users.clone());
        site.set_cm_vars(&state.cm_vars);
        site.restore(&state.open_transactions, &state.soft_meters);
        let health = Arc::new(CycleHealth::new(state.params.cycle_time_ms));
        Supervisor {
            metrics: plant.metrics().clone(),
            health,
            paused: Vec::new(),
            stall_after: None,
            site,
            devices: supervised(&plant),
            plant,
            published,
            state,
            store,
            generation: 0,
            timer: None,
            clock: Clock::system(),
            snapshot: Arc::new(Snapshot::default()),
            snapshots: watch::channel(Arc::new(Snapshot::default())).0,
            closed: tokio::sync::broadcast::channel(64).0,
            history: History::new(),
            last_start: None,
            running: false,
            log: log.new(o!("component" => "supervisor")),
        }
    }

    /// Follows the snapshots: a new one after every decision.
    pub fn snapshots(&self) -> watch::Receiver<Arc<Snapshot>> {
        self.snapshots.subscribe()
    }

    /// Follows the transactions as they close (a slow reader misses the
    /// oldest, and is told so).
    pub fn closed_transactions(&self) -> tokio::sync::broadcast::Receiver<Transaction> {
        self.closed.subscribe()
    }

    /// Continues `history` (loaded at start).
    #[must_use]
    pub fn with_history(mut self, history: History) -> Self {
        self.history = history;
        self
    }

    /// Takes its time from `clock` instead of the system's.
    #[must_use]
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// For tests of the watchdog only: after `cycles` cycles the cycle hangs
    /// for good, as one waiting on something that never comes would (the
    /// actor itself still answers). The daemon sets this only in debug
    /// builds, from `CHARGEBRAIN_DEBUG_STALL_CYCLE_AFTER`.
    #[must_use]
    pub fn stall_after(mut self, cycles: u64) -> Self {
        self.stall_after = Some(cycles);
        self
    }

    /// Whether the cycle runs, for readers that must not ask the actor.
    pub fn health(&self) -> Arc<CycleHealth> {
        self.health.clone()
    }

    /// Puts a new configuration into force: devices start, stop or restart,
    /// parameters take effect, the API sees the new device list.
    fn apply_state(
        &mut self,
        state: State,
        restart: &[String],
        ctx: &mut Context<Self>,
    ) -> Result<(), ConfigError> {
        // A device that is reset, or now talks to another box, starts
        // afresh (the plant restarts exactly those); one whose name, limits
        // or rules changed keeps its actor, its car's session, pause and
        // overrides.
        let before: Vec<String> = self
            .plant
            .devices()
            .iter()
            .map(|d| d.settings.dev_id.clone())
            .collect();
        let fresh = self
            .plant
            .reconcile(&state.devices, restart)
            .map_err(|e| ConfigError::Rejected(e.to_string()))?;
        let settings: Vec<_> = self
            .plant
            .devices()
            .iter()
            .map(|d| d.settings.clone())
            .collect();
        for gone in before
            .iter()
            .filter(|id| !settings.iter().any(|d| d.dev_id == **id))
        {
            self.metrics.forget_device(gone);
        }
        let now = self.now_ms();
        let cycle_changed = state.params.cycle_time_ms != self.site.params.cycle_time_ms;
        self.health.set_period(state.params.cycle_time_ms);
        self.site
            .reconfigure(state.params.clone(), &settings, &fresh, now);
        self.site.set_users(state.users.clone());
        self.site.set_cm_vars(&state.cm_vars);
        // A running device keeps its last known status until its next poll:
        // a reconfiguration is no communication error.
        let mut devices = supervised(&self.plant);
        for d in &mut devices {
            if !fresh.contains(&d.dev_id) {
                d.last_status = self
                    .devices
                    .iter()
                    .find(|old| old.dev_id == d.dev_id)
                    .and_then(|old| old.last_status.clone());
            }
        }
        self.devices = devices;
        self.generation += 1;
        self.published.send_replace(Arc::new(self.plant.clone()));
        if !fresh.is_empty() {
            info!(self.log, "devices (re)started"; "dev_ids" => fresh.join(","));
        }
        self.state = state;
        if cycle_changed {
            self.start_timer(ctx);
        }
        Ok(())
    }

    /// Decides with the readings at hand, tells the wallboxes, and keeps
    /// the snapshot the API reports.
    fn decide(&mut self, now: u64, cycle_time: u64) {
        self.site.wall_secs = self.clock.unix_secs();
        self.site.local = self.clock.local_time(now);
        let began = Instant::now();
        let (commands, mut snapshot) = self.site.cycle(now, cycle_time);
        self.metrics
            .decision_duration
            .observe(began.elapsed().as_secs_f64());
        self.count_pauses(&snapshot);
        self.keep_records();
        for (i, view) in snapshot.evses.iter().enumerate() {
            if let (Some(view), Some(d)) = (view, self.devices.get(i)) {
                debug!(self.log, "decision"; "device" => &d.dev_id, "current_ma" => view.lb_current,
                    "reason" => &view.lb_reason, "paused" => view.paused);
            }
        }
        snapshot.title.clone_from(&self.state.title);
        snapshot.desc.clone_from(&self.state.desc);
        snapshot.devices = self
            .devices
            .iter()
            .map(|d| (d.dev_id.clone(), d.last_status.clone()))
            .collect();
        // What a wallbox was last actually written, as its actor reports it
        // (a command that did not get through is not reported as set).
        for (view, d) in snapshot.evses.iter_mut().zip(&self.devices) {
            if let Some(view) = view {
                view.last_set_charging_cur = d
                    .last_status
                    .as_ref()
                    .and_then(|st| st.written_ma)
                    .unwrap_or(-1);
            }
        }
        for c in commands {
            let Some(device) = self.devices.get(c.device) else {
                continue;
            };
            if let Some(apply) = device.apply.as_ref() {
                let request = apply.send(Apply {
                    current_ma: c.current_ma,
                    enable: c.enable,
                });
                let (log, dev_id) = (self.log.clone(), device.dev_id.clone());
                actix::spawn(async move {
                    if let Ok(Err(e)) = request.await {
                        // The device logs its failures itself, once.
                        debug!(log, "could not set a wallbox"; "device" => dev_id, "error" => %e);
                    }
                });
            }
        }
        self.snapshot = Arc::new(snapshot);
        self.snapshots.send_replace(self.snapshot.clone());
    }

    /// Counts the pauses that began with this decision.
    fn count_pauses(&mut self, snapshot: &Snapshot) {
        let paused: Vec<String> = snapshot
            .evses
            .iter()
            .zip(&self.devices)
            .filter(|(view, _)| view.as_ref().is_some_and(|v| v.paused))
            .map(|(_, d)| d.dev_id.clone())
            .collect();
        for dev_id in paused.iter().filter(|id| !self.paused.contains(id)) {
            self.metrics
                .wallbox_pauses
                .get_or_create(&DeviceLabel {
                    dev_id: dev_id.clone(),
                })
                .inc();
        }
        self.paused = paused;
    }

    /// Logs card events, appends closed transactions to the charging log,
    /// and saves the open ones when they changed (a plug-in, a card).
    fn keep_records(&mut self) {
        let (closed, notices) = self.site.take_events();
        for notice in notices {
            info!(self.log, "card"; "event" => notice);
        }
        if !closed.is_empty() {
            info!(self.log, "transactions closed"; "count" => closed.len());
            for tx in &closed {
                // Nobody listening is no error.
                let _ = self.closed.send(tx.clone());
            }
            self.store.do_send(AppendLog(closed));
        }
        let open = self.site.open_transactions();
        if open != self.state.open_transactions {
            let save = self.save_running(open, None);
            actix::spawn(async move {
                let _ = save.await;
            });
        }
    }

    /// Writes the open transactions (and soft meters) to the state file.
    fn save_running(
        &mut self,
        open: Vec<Transaction>,
        soft_meters: Option<std::collections::BTreeMap<String, i64>>,
    ) -> Request<Store, Update> {
        self.state.open_transactions.clone_from(&open);
        if let Some(soft) = &soft_meters {
            self.state.soft_meters.clone_from(soft);
        }
        self.store.send(Update(Box::new(move |state: &mut State| {
            state.open_transactions = open;
            if let Some(soft) = soft_meters {
                state.soft_meters = soft;
            }
            Ok(())
        })))
    }

    /// Notes the cycle just decided in the history.
    fn record_history(&mut self) {
        let snapshot = &self.snapshot;
        let v = &snapshot.site;
        let ma = |x: i64| i32::try_from(x).unwrap_or(if x < 0 { i32::MIN } else { i32::MAX });
        let site = history::SiteValues {
            current: [0, 1, 2].map(|p| ma(v.house_ma[p].saturating_add(v.evse_ma[p]))),
            house: v.house_ma.map(ma),
            limit: ma(v.max_total_ma),
        };
        let evses =
            snapshot
                .devices
                .iter()
                .zip(&snapshot.evses)
                .filter_map(|((dev_id, _), view)| {
                    let view = view.as_ref()?;
                    let drawn = view.current_l1.max(view.current_l2).max(view.current_l3);
                    Some((
                        dev_id.as_str(),
                        history::EvseValues {
                            offered: ma(view.lb_current),
                            drawn: ma(drawn),
                            power: ma(view.cur_charging_power),
                        },
                    ))
                });
        self.history.record(self.clock.unix_ms(), site, evses);
    }

    fn start_timer(&mut self, ctx: &mut Context<Self>) {
        if let Some(timer) = self.timer.take() {
            ctx.cancel_future(timer);
        }
        if matches!(self.clock, Clock::Manual(_)) {
            return;
        }
        let every = Duration::from_millis(self.site.params.cycle_time_ms);
        self.timer = Some(ctx.run_interval(every, |act, ctx| {
            let cycle = act.cycle(false, ctx);
            ctx.spawn(cycle.map(|_, _, _| ()));
        }));
    }

    fn now_ms(&self) -> u64 {
        self.clock.now_ms()
    }

    /// Polls (everything, or only the HTTP-input devices), decides,
    /// applies. The returned future resolves once the snapshot is updated.
    ///
    /// Each device's poll runs on its own: its result is recorded when it
    /// comes, however late. The cycle decides once every device polled now
    /// has answered or, at the latest, three quarters of a cycle after it
    /// started, with the readings that are in: a late device has missed
    /// this cycle (its last reading stays in use) and is not polled again
    /// until it answers, and nobody waits for it.
    fn cycle(
        &mut self,
        http_only: bool,
        ctx: &mut Context<Self>,
    ) -> ResponseActFuture<Self, Arc<Snapshot>> {
        if !http_only {
            if self.running {
                self.metrics.cycle_overruns.inc();
                return Box::pin(fut::ready(self.snapshot.clone()));
            }
            self.running = true;
            if self
                .stall_after
                .is_some_and(|after| self.health.cycles() >= after)
            {
                // The test hook: this cycle never ends, so none follows.
                warn!(
                    self.log,
                    "the cycle hangs on purpose (CHARGEBRAIN_DEBUG_STALL_CYCLE_AFTER)"
                );
                return Box::pin(fut::ready(self.snapshot.clone()));
            }
        }
        let began = Instant::now();
        let start = self.now_ms();
        let cycle_time = if http_only {
            self.snapshot.cycle_time_ms
        } else {
            let period = self.last_start.map_or(0, |last| start.saturating_sub(last));
            self.last_start = Some(start);
            period
        };
        let mut answered = Vec::new();
        for i in 0..self.devices.len() {
            let d = &mut self.devices[i];
            if d.in_flight || (http_only && !d.http_input) {
                continue;
            }
            let Some(poll) = d.poll.clone() else {
                continue;
            };
            d.in_flight = true;
            let (done, answer) = tokio::sync::oneshot::channel::<()>();
            answered.push(answer);
            ctx.spawn(self.poll_one(i, poll).map(move |(), _, _| {
                let _ = done.send(());
            }));
        }
        let budget = Duration::from_millis(self.site.params.cycle_time_ms * 3 / 4);
        let gather = async move {
            // The polls run at once; awaiting them in turn costs the slowest.
            let all = async {
                for answer in answered {
                    let _ = answer.await;
                }
            };
            let _ = tokio::time::timeout(budget, all).await;
        };
        Box::pin(gather.into_actor(self).map(move |(), act, _| {
            let now = act.now_ms();
            act.decide(now, cycle_time);
            if !http_only {
                act.record_history();
            }
            debug!(act.log, "cycle"; "ms" => now.saturating_sub(start),
                "available_ma" => ?act.snapshot.site.available_ma, "house_ma" => ?act.snapshot.site.house_ma);
            if !http_only {
                act.running = false;
                act.metrics
                    .cycle_duration
                    .observe(began.elapsed().as_secs_f64());
                let charging = act
                    .snapshot
                    .evses
                    .iter()
                    .flatten()
                    .filter(|v| matches!(v.state, 3 | 4))
                    .count();
                act.health.cycle_done(
                    act.site.params.cycle_time_ms,
                    cycle_time,
                    act.devices.len(),
                    charging,
                );
            }
            act.snapshot.clone()
        }))
    }

    /// Polls device `i` and records what it answers: the reading (a refused
    /// one is reported back to the device as a failed reading), then the
    /// device's communication status. Dropped if the devices change meanwhile.
    fn poll_one(&mut self, i: usize, poll: Recipient<Poll>) -> impl ActorFuture<Self, Output = ()> {
        let generation = self.generation;
        let request = poll.send(Poll);
        async move {
            match request.await {
                Ok(Ok(reading)) => Ok(reading),
                Ok(Err(e)) => Err(e.to_string()),
                Err(e) => Err(e.to_string()),
            }
        }
        .into_actor(self)
        .then(move |polled, act, _| {
            let mut status = None;
            if generation == act.generation {
                let now = act.now_ms();
                let refused = act.site.record(i, Some(polled), now);
                if let Some(d) = act.devices.get_mut(i) {
                    d.in_flight = false;
                    if let (Some(why), Some(refuse)) = (refused, &d.refuse) {
                        refuse.do_send(Refused(why));
                    }
                    status = d.status.as_ref().map(|r| r.send(GetStatus));
                }
            }
            async move {
                match status {
                    Some(request) => request.await.ok(),
                    None => None,
                }
            }
            .into_actor(act)
        })
        .map(move |status, act, _| {
            if generation != act.generation {
                return;
            }
            if let (Some(d), Some(status)) = (act.devices.get_mut(i), status) {
                d.last_status = Some(status);
            }
        })
    }
}

impl Actor for Supervisor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        // Soft meters and open transactions are saved at least every minute.
        ctx.run_interval(Duration::from_secs(60), |act, _| {
            let (open, soft) = (act.site.open_transactions(), act.site.soft_meters());
            let save = act.save_running(open, Some(soft));
            actix::spawn(async move {
                let _ = save.await;
            });
        });
        // A first snapshot before any reading, so the API has something to show.
        self.decide(0, 0);
        if matches!(self.clock, Clock::System(_)) {
            let cycle = self.cycle(false, ctx);
            ctx.spawn(cycle.map(|_, _, _| ()));
        }
        self.start_timer(ctx);
    }
}

impl Handler<GetSnapshot> for Supervisor {
    type Result = MessageResult<GetSnapshot>;

    fn handle(&mut self, _: GetSnapshot, _: &mut Self::Context) -> Self::Result {
        MessageResult(self.snapshot.clone())
    }
}

impl Handler<CycleNow> for Supervisor {
    type Result = ResponseActFuture<Self, Arc<Snapshot>>;

    fn handle(&mut self, _: CycleNow, ctx: &mut Self::Context) -> Self::Result {
        self.cycle(false, ctx)
    }
}

impl Handler<Reevaluate> for Supervisor {
    type Result = ResponseActFuture<Self, Arc<Snapshot>>;

    fn handle(&mut self, _: Reevaluate, ctx: &mut Self::Context) -> Self::Result {
        self.cycle(true, ctx)
    }
}

impl Handler<Configure> for Supervisor {
    type Result = AtomicResponse<Self, Result<Vec<String>, ConfigError>>;

    fn handle(&mut self, change: Configure, _: &mut Self::Context) -> Self::Result {
        let mut restart = Vec::new();
        let mut reset_overdraft = false;
        let update: Option<store::Change> = match change {
            Configure::SetParams(mut body) => {
                let ignored = store::ignored_keys(&body);
                if !ignored.is_empty() {
                    warn!(self.log, "set_params: ignored keys of cFos firmware that chargebrain does not act on";
                        "keys" => ignored.join(", "));
                }
                match body.remove("overdraft_cur") {
                    None => {}
                    Some(v) if v.as_i64() == Some(0) => reset_overdraft = true,
                    Some(_) => {
                        let refused =
                            ConfigError::Rejected("overdraft_cur: can only be set to 0".into());
                        return AtomicResponse::new(Box::pin(fut::ready(Err(refused))));
                    }
                }
                let plant = self.plant.clone();
                Some(Box::new(move |state: &mut State| {
                    store::set_params(state, &body, &|d| {
                        plant.endpoint_key(d).map_err(|e| e.to_string())
                    })
                }))
            }
            Configure::SetUser { body, admin, proof } => {
                let unknown = crate::users::unknown_fields(&body);
                if !unknown.is_empty() {
                    warn!(self.log, "set_user: ignored fields chargebrain does not know";
                        "fields" => unknown.join(", "));
                }
                let known: Vec<String> = self
                    .plant
                    .devices()
                    .iter()
                    .filter(|d| d.settings.dev_type.is_evse())
                    .map(|d| d.settings.dev_id.clone())
                    .collect();
                Some(Box::new(move |state: &mut State| {
                    let mut users = state.users.clone();
                    crate::users::set_user(&mut users, &body, admin, proof.as_deref(), &known)?;
                    let after = State {
                        users,
                        ..state.clone()
                    };
                    store::no_new_formula_problems(state, &after)?;
                    *state = after;
                    Ok(())
                }))
            }
            Configure::DeleteDevice(dev_id) if self.plant.find(&dev_id).is_none() => {
                return AtomicResponse::new(Box::pin(fut::ready(Err(ConfigError::UnknownDevice(
                    dev_id,
                )))));
            }
            Configure::DeleteDevice(dev_id) => Some(Box::new(move |state: &mut State| {
                store::delete_device(state, &dev_id)
            })),
            Configure::ResetDevice(dev_id) => match self.plant.find(&dev_id) {
                Some(d) => {
                    restart.push(d.settings.dev_id.clone());
                    None
                }
                None => {
                    return AtomicResponse::new(Box::pin(fut::ready(Err(
                        ConfigError::UnknownDevice(dev_id),
                    ))));
                }
            },
        };
        let current = self.state.clone();
        let store = self.store.clone();
        let write = async move {
            match update {
                Some(change) => write_state(&store, change).await,
                None => Ok(current),
            }
        };
        AtomicResponse::new(Box::pin(write.into_actor(self).map(
            move |written, act, ctx| {
                let state = written?;
                let mut changed = store::changes(&act.state, &state);
                if reset_overdraft {
                    act.site.reset_overdraft();
                    changed.push("overdraft_cur reset to 0".into());
                }
                changed.extend(restart.iter().map(|dev_id| format!("{dev_id} reset")));
                act.apply_state(state, &restart, ctx)?;
                // The API reports the change at once, not after the next cycle.
                let now = act.now_ms();
                act.decide(now, act.snapshot.cycle_time_ms);
                Ok(changed)
            },
        )))
    }
}

impl Handler<SetCmVar> for Supervisor {
    type Result = AtomicResponse<Self, Result<(), ConfigError>>;

    fn handle(&mut self, msg: SetCmVar, _: &mut Self::Context) -> Self::Result {
        let store = self.store.clone();
        let write = async move {
            let change: store::Change =
                Box::new(move |state: &mut State| store::set_cm_var(state, &msg.name, msg.value));
            write_state(&store, change).await
        };
        AtomicResponse::new(Box::pin(write.into_actor(self).map(|written, act, _| {
            let state = written?;
            act.site.set_cm_vars(&state.cm_vars);
            act.state.cm_vars = state.cm_vars;
            // Formulas see the new value at once, not after the next cycle.
            let now = act.now_ms();
            act.decide(now, act.snapshot.cycle_time_ms);
            Ok(())
        })))
    }
}

impl Supervisor {
    /// Decides again after a change of a car's session (a card, an
    /// override) and answers `answer` once the open transactions, overrides
    /// included, are written: a crash right after the answer loses nothing.
    fn decide_and_save<T: 'static>(
        &mut self,
        answer: T,
    ) -> ResponseActFuture<Self, Result<T, ConfigError>> {
        let now = self.now_ms();
        self.decide(now, self.snapshot.cycle_time_ms);
        let save = self.save_running(self.site.open_transactions(), None);
        Box::pin(
            async move {
                match save.await {
                    Ok(Ok(_)) => Ok(answer),
                    Ok(Err(e)) => Err(ConfigError::Store(e)),
                    Err(e) => Err(ConfigError::Rejected(format!("store unavailable: {e}"))),
                }
            }
            .into_actor(self),
        )
    }
}

impl Handler<PresentRfid> for Supervisor {
    type Result = ResponseActFuture<Self, Result<String, ConfigError>>;

    fn handle(&mut self, msg: PresentRfid, _: &mut Self::Context) -> Self::Result {
        let result = self.site.present_rfid(msg.dev_id.as_deref(), &msg.rfid);
        match &result {
            Ok((dev_id, outcome)) => {
                info!(self.log, "card presented"; "device" => dev_id, "outcome" => %outcome)
            }
            Err(e) => warn!(self.log, "card refused"; "reason" => e),
        }
        match result {
            Ok((dev_id, _)) => self.decide_and_save(dev_id),
            Err(e) => Box::pin(fut::ready(Err(ConfigError::Rejected(e)))),
        }
    }
}

impl Handler<OverrideDevice> for Supervisor {
    type Result = ResponseActFuture<Self, Result<(), ConfigError>>;

    fn handle(&mut self, msg: OverrideDevice, _: &mut Self::Context) -> Self::Result {
        match self
            .site
            .override_device(&msg.dev_id, &msg.flags, msg.max_ma, &msg.who)
        {
            Ok(()) => self.decide_and_save(()),
            Err(e) => Box::pin(fut::ready(Err(ConfigError::Rejected(e)))),
        }
    }
}

impl Handler<SoftMeter> for Supervisor {
    type Result = ResponseActFuture<Self, Result<i64, ConfigError>>;

    fn handle(&mut self, msg: SoftMeter, _: &mut Self::Context) -> Self::Result {
        let before = match self.site.soft_meter(&msg.dev_id, msg.set) {
            Ok(b) => b,
            Err(e) => return Box::pin(fut::ready(Err(ConfigError::Rejected(e)))),
        };
        if msg.set.is_none() {
            return Box::pin(fut::ready(Ok(before)));
        }
        let save = self.save_running(self.site.open_transactions(), Some(self.site.soft_meters()));
        Box::pin(
            async move {
                match save.await {
                    Ok(Ok(_)) => Ok(before),
                    Ok(Err(e)) => Err(ConfigError::Store(e)),
                    Err(e) => Err(ConfigError::Rejected(e.to_string())),
                }
            }
            .into_actor(self),
        )
    }
}

impl Handler<GetHistory> for Supervisor {
    type Result = Result<history::Series, ConfigError>;

    fn handle(&mut self, GetHistory(query): GetHistory, _: &mut Self::Context) -> Self::Result {
        if let Some(dev_id) = &query.dev_id {
            let wallbox = self
                .plant
                .find(dev_id)
                .is_some_and(|d| d.settings.dev_type.is_evse());
            if !wallbox && !self.history.knows(dev_id) {
                return Err(ConfigError::UnknownDevice(dev_id.clone()));
            }
        }
        Ok(self.history.query(&query))
    }
}

impl Handler<TakeHistory> for Supervisor {
    type Result = MessageResult<TakeHistory>;

    fn handle(&mut self, _: TakeHistory, _: &mut Self::Context) -> Self::Result {
        MessageResult(self.history.to_saved())
    }
}

impl Handler<Flush> for Supervisor {
    type Result = ResponseActFuture<Self, ()>;

    fn handle(&mut self, _: Flush, _: &mut Self::Context) -> Self::Result {
        let save = self.save_running(self.site.open_transactions(), Some(self.site.soft_meters()));
        let log = self.log.clone();
        Box::pin(
            async move {
                if !matches!(save.await, Ok(Ok(_))) {
                    warn!(log, "could not save soft meters and open transactions");
                }
            }
            .into_actor(self),
        )
    }
}
