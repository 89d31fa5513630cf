//! The supervisor actor: its state, the cycle's I/O around the pure
//! `Site` (poll, decide, apply, keep the snapshot and the history), and
//! how a new configuration is written and put into force. Its message
//! handlers are in `handlers.rs`.

use std::cell::Cell;
use std::collections::{HashMap, HashSet};
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use futures_util::stream::FuturesUnordered;
use slog::{debug, info, o, warn, Logger};
use tokio::sync::watch;

use super::clock::Clock;
use super::health::CycleHealth;
use super::messages::ConfigError;
use super::site::{Now, Site, Snapshot};
use crate::charging_log::Transaction;
use crate::config::{self, Change, DeviceSettings, State};
use crate::devices::{Apply, DeviceStatus, GetStatus, PollAndStatus, Polled, Refused};
use crate::drivers::Reading;
use crate::history::{self, History};
use crate::metrics::{DeviceLabel, Metrics};
use crate::plant::{DeviceHandle, Plant};
use crate::store::{AppendDimmingLog, AppendLog, Save, Store};
use crate::transport::DeviceError;

/// One device as the supervisor reaches it.
pub(super) struct Supervised {
    pub(super) dev_id: String,
    pub(super) poll: Option<Recipient<PollAndStatus>>,
    pub(super) status: Option<Recipient<GetStatus>>,
    /// Shared with the snapshots (a snapshot copies a pointer per device).
    pub(super) last_status: Option<Arc<DeviceStatus>>,
    pub(super) apply: Option<Recipient<Apply>>,
    pub(super) refuse: Option<Recipient<Refused>>,
    pub(super) http_input: bool,
    /// A poll was sent and has not been answered yet.
    pub(super) in_flight: bool,
    /// The polls sent, numbered; and the newest whose answer was recorded:
    /// an answer older than that one is not (it was read before it).
    pub(super) polls_sent: u64,
    pub(super) recorded: u64,
}

pub struct Supervisor {
    pub(super) site: Site,
    pub(super) plant: Plant,
    /// The running devices, for the API.
    pub(super) published: watch::Sender<Arc<Plant>>,
    pub(super) devices: Vec<Supervised>,
    /// The configuration in force (as last written by the store).
    pub(super) state: State,
    pub(super) store: Addr<Store>,
    /// Bumped at every reconfiguration: a cycle that started before one
    /// drops its readings (the device list changed under it).
    pub(super) generation: u64,
    pub(super) timer: Option<SpawnHandle>,
    pub(super) clock: Clock,
    pub(super) snapshot: Arc<Snapshot>,
    /// Every new snapshot, for those who follow them (the simulated plant).
    pub(super) snapshots: watch::Sender<Arc<Snapshot>>,
    /// Each transaction as it closes (MQTT's `ta_log`).
    pub(super) closed: tokio::sync::broadcast::Sender<Transaction>,
    /// What the site and the wallboxes did, for the charts.
    pub(super) history: History,
    pub(super) last_start: Option<u64>,
    pub(super) running: bool,
    pub(super) metrics: Arc<Metrics>,
    pub(super) health: Arc<CycleHealth>,
    /// The wallboxes whose car was paused at the last decision.
    pub(super) paused: Vec<String>,
    /// A test hook: after this many cycles the cycle hangs (see `stall_after`).
    pub(super) stall_after: Option<u64>,
    /// Cycles skipped because the one before was still running.
    pub(super) overruns: Overruns,
    /// The supervisor's time recording this cycle's readings, so far.
    pub(super) recording: Duration,
    pub(super) log: Logger,
}

/// The polls of one cycle not answered yet: the cycle decides when none is
/// left, or at its deadline.
struct Outstanding {
    left: Cell<usize>,
    all_in: tokio::sync::Notify,
}

impl Outstanding {
    fn new(polls: usize) -> Rc<Self> {
        Rc::new(Outstanding {
            left: Cell::new(polls),
            all_in: tokio::sync::Notify::new(),
        })
    }

    fn one_done(&self) {
        let left = self.left.get().saturating_sub(1);
        self.left.set(left);
        if left == 0 {
            self.all_in.notify_one();
        }
    }

    async fn all_answered(&self) {
        while self.left.get() > 0 {
            self.all_in.notified().await;
        }
    }
}

/// One device's answer to a poll: its index, the reading, its status.
/// Device `i`'s answer to its poll number `seq`.
type Answer = (
    usize,
    u64,
    Result<Reading, DeviceError>,
    Option<DeviceStatus>,
);

/// Polls one device; it answers with its status after the poll. A plain
/// future, not the actor's: the cycle runs all of them in one
/// `FuturesUnordered`, which wakes only the polls that were answered
/// (10 000 futures spawned into the actor's context would each be polled
/// at every wake-up of the actor).
async fn poll_device(i: usize, seq: u64, poll: Recipient<PollAndStatus>) -> Answer {
    match poll.send(PollAndStatus).await {
        Ok(Polled { reading, status }) => (i, seq, reading, Some(status)),
        // The device's actor is gone: it is being replaced.
        Err(_) => (i, seq, Err(DeviceError::Stopped), None),
    }
}

/// Counts cycles that were due while the one before still ran (and were
/// skipped), and logs them at most once a minute.
#[derive(Debug, Default)]
pub(super) struct Overruns {
    /// Shared with every snapshot, so that `get_dev_info` shows the count
    /// even while the cycle that overruns has not ended.
    pub(super) count: Arc<AtomicU64>,
    /// When the last warning was logged, and how many came since.
    logged_at: Option<Instant>,
    unlogged: u64,
}

/// At most one warning about overruns in this time.
const OVERRUN_LOG_EVERY: Duration = Duration::from_secs(60);

impl Overruns {
    /// Counts one overrun at `now`; answers how many to report in a warning
    /// now (this one and those not reported yet), if one is due.
    fn note(&mut self, now: Instant) -> Option<u64> {
        self.count.fetch_add(1, Ordering::Relaxed);
        self.unlogged += 1;
        if self
            .logged_at
            .is_some_and(|at| now.duration_since(at) < OVERRUN_LOG_EVERY)
        {
            return None;
        }
        self.logged_at = Some(now);
        Some(std::mem::take(&mut self.unlogged))
    }
}

pub(super) fn supervised(plant: &Plant) -> Vec<Supervised> {
    plant.devices().iter().map(|d| supervised_one(d)).collect()
}

fn supervised_one(d: &DeviceHandle) -> Supervised {
    Supervised {
        dev_id: d.settings.dev_id.clone(),
        poll: d.recipient(),
        status: d.recipient(),
        last_status: None,
        apply: d.recipient(),
        refuse: d.recipient(),
        http_input: d.settings.dev_type.is_http_input(),
        in_flight: false,
        polls_sent: 0,
        recorded: 0,
    }
}

/// Whether two device lists name the same devices in the same order.
fn same_ids(a: &[Arc<DeviceSettings>], b: &[Arc<DeviceSettings>]) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(a, b)| Arc::ptr_eq(a, b) || a.dev_id == b.dev_id)
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
        site.restore_rotations(&state.learnt_rotations);
        let health = Arc::new(CycleHealth::new(state.params.cycle_time_ms));
        Supervisor {
            metrics: plant.metrics().clone(),
            health,
            paused: Vec::new(),
            stall_after: None,
            overruns: Overruns::default(),
            recording: Duration::ZERO,
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
    pub(super) fn apply_state(
        &mut self,
        state: State,
        restart: &[String],
        ctx: &mut Context<Self>,
    ) -> Result<(), ConfigError> {
        // A device that is reset, or now talks to another box, starts
        // afresh (the plant restarts exactly those); one whose name, limits
        // or rules changed keeps its actor, its car's session, pause and
        // overrides.
        let settings_of = |plant: &Plant| -> Vec<Arc<DeviceSettings>> {
            plant.devices().iter().map(|d| d.settings.clone()).collect()
        };
        let before = settings_of(&self.plant);
        let fresh = self
            .plant
            .reconcile(&state.devices, restart)
            .map_err(|e| ConfigError::Rejected(e.to_string()))?;
        let settings = settings_of(&self.plant);
        // The same devices in the same order (a change of some of them):
        // only the restarted ones are looked at below.
        let same_devices = same_ids(&before, &settings);
        if !same_devices {
            let kept: HashSet<&str> = settings.iter().map(|d| d.dev_id.as_str()).collect();
            for gone in before.iter().filter(|d| !kept.contains(d.dev_id.as_str())) {
                self.metrics.forget_device(&gone.dev_id);
            }
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
        let fresh_ids: HashSet<&str> = fresh.iter().map(String::as_str).collect();
        if same_devices && self.devices.len() == settings.len() {
            for (d, handle) in self.devices.iter_mut().zip(self.plant.devices()) {
                if fresh_ids.contains(d.dev_id.as_str()) {
                    *d = supervised_one(handle);
                }
                // Polls under way are dropped (the generation below).
                d.in_flight = false;
            }
        } else {
            let mut devices = supervised(&self.plant);
            let mut last: HashMap<&str, &Option<Arc<DeviceStatus>>> = self
                .devices
                .iter()
                .map(|old| (old.dev_id.as_str(), &old.last_status))
                .collect();
            for d in &mut devices {
                if !fresh_ids.contains(d.dev_id.as_str()) {
                    d.last_status = last.remove(d.dev_id.as_str()).cloned().flatten();
                }
            }
            self.devices = devices;
        }
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
    pub(super) fn decide(&mut self, now: u64, cycle_time: u64) {
        let at = Now {
            mono_ms: now,
            wall_secs: self.clock.unix_secs(),
            local: self.clock.local_time(now),
        };
        let began = Instant::now();
        let (commands, mut snapshot) = self.site.cycle(at, cycle_time);
        let decided = Instant::now();
        self.metrics
            .decision_duration
            .observe(decided.duration_since(began).as_secs_f64());
        let steps = self.site.steps();
        for (step, took) in [
            ("budget", steps.budget),
            ("limits", steps.limits),
            ("allocation", steps.allocation),
            ("views", steps.views),
        ] {
            self.metrics.cycle_steps.observe(step, took);
        }
        self.count_pauses(&snapshot);
        self.keep_records();
        self.log_wiring();
        for (i, view) in snapshot.evses.iter().enumerate() {
            if let (Some(view), Some(d)) = (view, self.devices.get(i)) {
                debug!(self.log, "decision"; "device" => &d.dev_id, "current_ma" => view.lb_current,
                    "reason" => %view.lb_reason, "paused" => view.paused);
            }
        }
        snapshot.title.clone_from(&self.state.title);
        snapshot.desc.clone_from(&self.state.desc);
        snapshot.cycle_overruns = self.overruns.count.clone();
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
            // Nobody waits for the answer (the device logs its failures
            // itself, once): no task per wallbox and decision.
            if let Some(apply) = device.apply.as_ref() {
                apply.do_send(Apply {
                    current_ma: c.current_ma,
                    enable: c.enable,
                    one_phase: c.one_phase,
                    wake: c.wake,
                });
            }
        }
        self.snapshot = Arc::new(snapshot);
        self.snapshots.send_replace(self.snapshot.clone());
        self.metrics
            .cycle_steps
            .observe("snapshot", decided.elapsed());
    }

    /// Counts the pauses that began with this decision.
    pub(super) fn count_pauses(&mut self, snapshot: &Snapshot) {
        let paused: Vec<String> = snapshot
            .evses
            .iter()
            .zip(&self.devices)
            .filter(|(view, _)| view.as_ref().is_some_and(|v| v.paused))
            .map(|(_, d)| d.dev_id.clone())
            .collect();
        let before: HashSet<&String> = self.paused.iter().collect();
        for dev_id in paused.iter().filter(|id| !before.contains(id)) {
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
    pub(super) fn keep_records(&mut self) {
        let (closed, notices) = self.site.take_events();
        for notice in notices {
            info!(self.log, "card"; "event" => notice);
        }
        let dimming = self.site.take_dimming_events();
        if !dimming.is_empty() {
            for line in &dimming {
                warn!(self.log, "§14a grid dimming"; "event" => line.trim_end());
            }
            self.store.do_send(AppendDimmingLog(dimming));
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
    pub(super) fn save_running(
        &mut self,
        open: Vec<Transaction>,
        soft_meters: Option<std::collections::BTreeMap<String, i64>>,
    ) -> Request<Store, Save> {
        self.state.open_transactions = open;
        self.state.learnt_rotations = self.site.learnt_rotations();
        if let Some(soft) = soft_meters {
            self.state.soft_meters = soft;
        }
        self.store.send(Save(self.state.clone()))
    }

    /// Works out the state after `change` and has the store write it;
    /// answers the new state once it is durable. Nothing is in force yet.
    pub(super) fn write(
        &self,
        change: Change,
    ) -> impl std::future::Future<Output = Result<State, ConfigError>> + 'static {
        let plant = &self.plant;
        let endpoint_of =
            |d: &config::DeviceSettings| plant.endpoint_key(d).map_err(|e| e.to_string());
        let next = config::apply(&self.state, change, &endpoint_of);
        let store = self.store.clone();
        async move {
            let next = next.map_err(ConfigError::Rejected)?;
            saved(store.send(Save(next.clone())).await)?;
            Ok(next)
        }
    }

    /// Notes the cycle just decided in the history.
    pub(super) fn record_history(&mut self) {
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

    pub(super) fn start_timer(&mut self, ctx: &mut Context<Self>) {
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

    pub(super) fn now_ms(&self) -> u64 {
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
    pub(super) fn cycle(
        &mut self,
        http_only: bool,
        ctx: &mut Context<Self>,
    ) -> ResponseActFuture<Self, Arc<Snapshot>> {
        if !http_only {
            if self.running {
                self.metrics.cycle_overruns.inc();
                if let Some(skipped) = self.overruns.note(Instant::now()) {
                    warn!(self.log, "a cycle was due while the last one still ran: skipped";
                        "skipped" => skipped, "total" => self.overruns.count.load(Ordering::Relaxed),
                        "cycle_time_ms" => self.site.params.cycle_time_ms);
                }
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
        let polls = FuturesUnordered::new();
        for (i, d) in self.devices.iter_mut().enumerate() {
            // A pushed value acts now: an HTTP-input device is asked again
            // even while the periodic cycle's poll of it is under way (that
            // one may have been answered before the push).
            if (http_only && !d.http_input) || (d.in_flight && !http_only) {
                continue;
            }
            let Some(poll) = d.poll.clone() else {
                continue;
            };
            d.in_flight = true;
            d.polls_sent += 1;
            let seq = d.polls_sent;
            // Outside tokio's budget: a poll that ran out of it would be
            // woken again only when the thread idles, and `FuturesUnordered`
            // would poll every waiting device once more on each round.
            polls.push(tokio::task::unconstrained(poll_device(i, seq, poll)));
        }
        if !http_only {
            self.recording = Duration::ZERO;
        }
        let outstanding = Outstanding::new(polls.len());
        if !polls.is_empty() {
            // Each answer is recorded when it comes, also after the
            // decision: the stream lives until the last device answered.
            let (generation, answers) = (self.generation, outstanding.clone());
            ctx.spawn(
                fut::wrap_stream::<_, Self>(polls)
                    .map(move |answer, act, ctx| {
                        act.record_answer(generation, answer, &answers, ctx)
                    })
                    .finish(),
            );
        }
        let budget = Duration::from_millis(self.site.params.cycle_time_ms * 3 / 4);
        let gather = async move {
            let _ = tokio::time::timeout(budget, outstanding.all_answered()).await;
        };
        Box::pin(gather.into_actor(self).map(move |(), act, _| {
            let now = act.now_ms();
            if !http_only {
                let steps = &act.metrics.cycle_steps;
                steps.observe("poll", began.elapsed());
                steps.observe("record", act.recording);
            }
            act.decide(now, cycle_time);
            if !http_only {
                let recorded = Instant::now();
                act.record_history();
                act.metrics.cycle_steps.observe("history", recorded.elapsed());
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

    /// Records device `i`'s answer to a poll: the reading (a refused one is
    /// reported back to the device as a failed reading, and its status is
    /// asked again after that), then the device's communication status.
    /// Dropped if the devices changed since the poll was sent, or if the
    /// answer to a later poll of the device was recorded already.
    fn record_answer(
        &mut self,
        generation: u64,
        (i, seq, polled, status): Answer,
        outstanding: &Rc<Outstanding>,
        ctx: &mut Context<Self>,
    ) {
        // An answer read before one already recorded would undo it.
        let older = self.devices.get(i).is_some_and(|d| seq <= d.recorded);
        if generation != self.generation || older {
            outstanding.one_done();
            return;
        }
        let began = Instant::now();
        let now = self.now_ms();
        let refused = self.site.record(i, Some(polled), now);
        let mut ask_again = None;
        if let Some(d) = self.devices.get_mut(i) {
            d.recorded = seq;
            d.in_flight = seq < d.polls_sent;
            match (refused, &d.refuse, &d.status) {
                (Some(why), Some(refuse), Some(ask)) => {
                    refuse.do_send(Refused(why));
                    ask_again = Some(ask.send(GetStatus));
                }
                _ => d.last_status = status.map(Arc::new).or(d.last_status.take()),
            }
        }
        self.recording += began.elapsed();
        let Some(request) = ask_again else {
            outstanding.one_done();
            return;
        };
        let outstanding = outstanding.clone();
        ctx.spawn(
            async move { request.await.ok() }
                .into_actor(self)
                .map(move |status, act, _| {
                    if generation == act.generation {
                        if let (Some(d), Some(status)) = (act.devices.get_mut(i), status) {
                            d.last_status = Some(Arc::new(status));
                        }
                    }
                    outstanding.one_done();
                }),
        );
    }
}

/// A save's answer as the API sees it: a store that stopped is unavailable.
pub(super) fn saved(
    answer: Result<Result<(), crate::store::StoreError>, MailboxError>,
) -> Result<(), ConfigError> {
    match answer {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(ConfigError::Store(e)),
        Err(e) => Err(ConfigError::Unavailable(e.to_string())),
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

#[cfg(test)]
mod overrun_tests {
    use super::*;

    #[test]
    fn overruns_are_all_counted_and_warned_of_once_a_minute() {
        let mut o = Overruns::default();
        let t0 = Instant::now();
        assert_eq!(o.note(t0), Some(1), "the first is reported at once");
        assert_eq!(o.note(t0 + Duration::from_secs(1)), None);
        assert_eq!(o.note(t0 + Duration::from_secs(59)), None);
        assert_eq!(
            o.note(t0 + Duration::from_secs(60)),
            Some(3),
            "a minute later, with the two held back"
        );
        assert_eq!(o.note(t0 + Duration::from_secs(61)), None);
        assert_eq!(o.count.load(Ordering::Relaxed), 5);
    }
}
