use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use slog::{info, o, warn, Logger};

use super::failures::{log_notice, FailureLog};
use super::messages::{
    poll_then_status, Apply, DeviceStatus, GetStatus, Poll, PollAndStatus, Polled, ReadRegisters,
    Refused, Shutdown, UpdateSettings, WriteRegisters,
};
use super::ComStatus;
use crate::config::DeviceSettings;
use crate::drivers::plan::Merge;
use crate::drivers::registry::{Decode, Discover, Layout, Modbus, Step, WallboxControl};
use crate::drivers::{FailSafe, Read, Reading, Table};
use crate::metrics::Metrics;
use crate::transport::{Bus, BusRequest, DeviceError, Exception, Op};

/// How often a device that has not been identified yet is asked again.
const IDENTIFY_RETRY: Duration = Duration::from_secs(10);

/// Control registers are written again after this long even if unchanged,
/// in case the box restarted and lost them.
const REASSERT_AFTER: Duration = Duration::from_secs(60);

/// One configured Modbus device.
pub struct Device {
    settings: Arc<DeviceSettings>,
    bus: Addr<Bus>,
    timeout: Duration,
    com: ComStatus,
    failures: FailureLog,
    model: Option<String>,
    /// What the control registers were last set to, and when all of them
    /// were last written.
    written: HashMap<u16, u16>,
    /// What the last poll read from the control registers (since the last
    /// write): a value someone else wrote is put right at the next cycle.
    read_back: HashMap<u16, u16>,
    asserted_at: Option<Instant>,
    /// The fail-safe the box reported last, and whether it has been
    /// checked against the settings (done with the first control write, so
    /// observation mode writes nothing at all).
    fail_safe_seen: Option<FailSafe>,
    fail_safe_checked: bool,
    /// How far a poll's reads are merged: as far as the layout allows,
    /// until the device refuses a read across registers it lacks.
    merge: Merge,
    /// Where each request's time and failure are counted.
    metrics: Arc<Metrics>,
    /// Where a discovered device's values are (SunSpec), once found.
    layout: Option<Arc<dyn Layout>>,
    log: Logger,
}

/// A discovered device's layout and the answers to its reads.
type Discovered = (Arc<dyn Layout>, Vec<Vec<u16>>);

/// Discovery asks at most this many reads (a SunSpec chain of 64 models).
const MAX_DISCOVERY_READS: usize = 70;

impl Device {
    pub fn new(
        settings: Arc<DeviceSettings>,
        bus: Addr<Bus>,
        timeout: Duration,
        log: &Logger,
    ) -> Self {
        let log = log.new(o!("device" => settings.dev_id.clone()));
        Device {
            settings,
            bus,
            timeout,
            com: ComStatus::starting(Instant::now()),
            failures: FailureLog::default(),
            model: None,
            written: HashMap::new(),
            read_back: HashMap::new(),
            asserted_at: None,
            fail_safe_seen: None,
            fail_safe_checked: false,
            merge: Merge::AcrossGaps,
            metrics: Arc::default(),
            layout: None,
            log,
        }
    }

    /// Counts its requests in `metrics` (the daemon's shared set).
    #[must_use]
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Self {
        self.metrics = metrics;
        self
    }

    /// Sends one request to the bus; its time or failure is counted.
    fn request(
        &self,
        op: Op,
        issued: Instant,
    ) -> impl std::future::Future<Output = Result<Vec<u16>, DeviceError>> + 'static {
        let request = self.bus.send(BusRequest {
            unit: self.settings.id,
            op,
            issued,
            timeout: self.timeout,
        });
        let (metrics, dev_id) = (self.metrics.clone(), self.settings.dev_id.clone());
        async move {
            let result = request.await.unwrap_or(Err(DeviceError::Stopped));
            metrics.modbus_request(&dev_id, issued.elapsed(), result.as_ref().map(|_| ()));
            result
        }
    }

    /// Records the outcome of an exchange in the com status, and logs a
    /// failure or recovery (without repeating it every poll).
    fn note(&mut self, outcome: Result<(), &DeviceError>, now: Instant) {
        self.com.record(outcome, now);
        self.log_com(now);
    }

    /// Logs a failure or a recovery as the com status now says.
    fn log_com(&mut self, now: Instant) {
        if self.com.com_err {
            let notice = self.failures.failed(now);
            log_notice(&self.log, notice, Some(&self.com.last_error));
        } else {
            log_notice(&self.log, self.failures.succeeded(now), None);
        }
    }

    /// Records the outcome of an exchange (see `note`).
    fn track<T: 'static>(
        &mut self,
        work: impl std::future::Future<Output = Result<T, DeviceError>> + 'static,
    ) -> ResponseActFuture<Self, Result<T, DeviceError>> {
        Box::pin(work.into_actor(self).map(|result, device, _| {
            device.note(result.as_ref().map(|_| ()), Instant::now());
            result
        }))
    }

    /// Runs `ops` one after the other, each within its own timeout (a
    /// slow device whose every answer comes in time is not dead), and
    /// records the outcome in the com status.
    fn exchange_all(
        &mut self,
        ops: Vec<Op>,
    ) -> ResponseActFuture<Self, Result<Vec<Vec<u16>>, DeviceError>> {
        let work = self.exchange_untracked(ops);
        self.track(work)
    }

    fn exchange_untracked(
        &self,
        ops: Vec<Op>,
    ) -> impl std::future::Future<Output = Result<Vec<Vec<u16>>, DeviceError>> + 'static {
        let requests: Vec<_> = ops.into_iter().map(|op| (self.bus.clone(), op)).collect();
        let (unit, timeout) = (self.settings.id, self.timeout);
        let (metrics, dev_id) = (self.metrics.clone(), self.settings.dev_id.clone());
        async move {
            let mut answers = Vec::with_capacity(requests.len());
            for (bus, op) in requests {
                let req = BusRequest::new(unit, op, timeout);
                let issued = req.issued;
                let result = bus.send(req).await.unwrap_or(Err(DeviceError::Stopped));
                metrics.modbus_request(&dev_id, issued.elapsed(), result.as_ref().map(|_| ()));
                answers.push(result?);
            }
            Ok(answers)
        }
    }

    /// Finds the layout (unless known), then reads a poll of it.
    fn discover_and_read(
        &self,
        discover: &'static dyn Discover,
    ) -> impl std::future::Future<Output = Result<Discovered, DeviceError>> + 'static {
        let known = self.layout.clone();
        let bus = self.bus.clone();
        let (unit, timeout) = (self.settings.id, self.timeout);
        let (metrics, dev_id) = (self.metrics.clone(), self.settings.dev_id.clone());
        async move {
            let ask = |read: Read| {
                let req = BusRequest::new(unit, op(&read), timeout);
                let (bus, metrics, dev_id) = (bus.clone(), metrics.clone(), dev_id.clone());
                async move {
                    let issued = req.issued;
                    let result = bus.send(req).await.unwrap_or(Err(DeviceError::Stopped));
                    metrics.modbus_request(&dev_id, issued.elapsed(), result.as_ref().map(|_| ()));
                    result
                }
            };
            let layout = match known {
                Some(layout) => layout,
                None => {
                    let mut answers: Vec<(Read, Vec<u16>)> = Vec::new();
                    loop {
                        if answers.len() >= MAX_DISCOVERY_READS {
                            return Err(DeviceError::Protocol(
                                "its registers were not found".into(),
                            ));
                        }
                        let step = discover
                            .next(&answers)
                            .map_err(|e| DeviceError::Protocol(e.to_string()))?;
                        match step {
                            Step::Found(layout) => break layout,
                            Step::Read {
                                read,
                                what,
                                refusable,
                            } => match ask(read).await {
                                Ok(words) => answers.push((read, words)),
                                Err(DeviceError::Exception(_)) if refusable => {
                                    answers.push((read, Vec::new()));
                                }
                                // The device has no such register: say
                                // which one the search wanted.
                                Err(DeviceError::Exception(e)) => {
                                    return Err(DeviceError::Protocol(format!(
                                        "reading {what} at {}: modbus exception: {e}",
                                        read.addr
                                    )))
                                }
                                Err(e) => return Err(e),
                            },
                        }
                    }
                }
            };
            let mut blocks = Vec::with_capacity(layout.reads().len());
            for read in layout.reads() {
                blocks.push(ask(*read).await?);
            }
            Ok((layout, blocks))
        }
    }

    /// The driver's Modbus side.
    fn modbus(&self) -> Option<&'static Modbus> {
        self.settings.dev_type.modbus()
    }

    /// How the driver tells a wallbox its current; `None` for a meter.
    fn control(&self) -> Option<&'static dyn WallboxControl> {
        self.modbus().and_then(|m| m.control)
    }

    /// Reads the device's identity, for a driver that has one.
    fn identify(&mut self, ctx: &mut Context<Self>) {
        let Some(identify) = self.modbus().and_then(|m| m.identify) else {
            return;
        };
        if self.model.is_some() {
            return;
        }
        let read = self.exchange_all(vec![op(&identify.block)]);
        ctx.spawn(read.map(move |result, device, _| {
            if let Ok(words) = result {
                device.model = words.first().and_then(|w| (identify.model)(w));
                if let Some(model) = &device.model {
                    info!(device.log, "identified"; "model" => model);
                }
            }
        }));
    }

    /// The writes that set the wallbox's own fail-safe, once, if it differs
    /// from settings: those registers live in flash, so they are never
    /// written routinely.
    fn fail_safe_writes(&mut self) -> Vec<Op> {
        let Some(seen) = self.fail_safe_seen else {
            return Vec::new();
        };
        let Some(control) = self.control().filter(|c| c.has_fail_safe()) else {
            return Vec::new();
        };
        if self.fail_safe_checked {
            return Vec::new();
        }
        self.fail_safe_checked = true;
        let wanted = FailSafe {
            duration_s: self.settings.fail_safe_duration_s,
            current_ma: self.settings.fail_safe_current,
        };
        if seen == wanted {
            return Vec::new();
        }
        info!(self.log, "configuring the wallbox fail-safe";
            "duration_s" => wanted.duration_s, "current_ma" => wanted.current_ma);
        control
            .fail_safe_words(wanted)
            .into_iter()
            .map(|(addr, values)| Op::Write { addr, values })
            .collect()
    }
}

impl Actor for Device {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        self.identify(ctx);
        ctx.run_interval(IDENTIFY_RETRY, Self::identify);
    }
}

impl Handler<ReadRegisters> for Device {
    type Result = ResponseActFuture<Self, Result<Vec<u16>, DeviceError>>;

    fn handle(&mut self, msg: ReadRegisters, _: &mut Self::Context) -> Self::Result {
        let request = self.request(
            Op::ReadHolding {
                addr: msg.addr,
                count: msg.count,
            },
            Instant::now(),
        );
        self.track(request)
    }
}

impl Handler<WriteRegisters> for Device {
    type Result = ResponseActFuture<Self, Result<(), DeviceError>>;

    fn handle(&mut self, msg: WriteRegisters, _: &mut Self::Context) -> Self::Result {
        let op = Op::Write {
            addr: msg.addr,
            values: msg.values,
        };
        let request = self.request(op, Instant::now());
        self.track(async move { request.await.map(|_| ()) })
    }
}

impl Handler<Poll> for Device {
    type Result = ResponseActFuture<Self, Result<Reading, DeviceError>>;

    fn handle(&mut self, _: Poll, _: &mut Self::Context) -> Self::Result {
        let dev_type = self.settings.dev_type;
        let Some(modbus) = self.modbus() else {
            let none = format!("{} device has no registers", dev_type.with_article());
            return Box::pin(fut::ready(Err(DeviceError::Protocol(none))));
        };
        if let Decode::Discovered(discover) = modbus.decode {
            let work = self.discover_and_read(discover);
            return Box::pin(work.into_actor(self).map(move |found, device, _| {
                let reading = found.and_then(|(layout, blocks)| {
                    let reading = layout
                        .decode(&blocks)
                        .map_err(|e| DeviceError::Protocol(e.to_string()));
                    if reading.is_ok() {
                        device.model = Some(layout.model());
                        device.layout = Some(layout);
                    }
                    reading
                });
                if reading.is_err() {
                    // Found again at the next poll: the device may have
                    // restarted with another chain.
                    device.layout = None;
                }
                let now = Instant::now();
                device.com.record_poll(reading.as_ref().map(|_| ()), now);
                device.log_com(now);
                reading
            }));
        }
        let work = self.read_planned(modbus, self.merge);
        Box::pin(work.map(move |blocks, device, _| {
            let reading = blocks.and_then(|blocks| {
                modbus
                    .decode(&blocks)
                    .map_err(|e| DeviceError::Protocol(e.to_string()))
            });
            let now = Instant::now();
            device.com.record_poll(reading.as_ref().map(|_| ()), now);
            device.log_com(now);
            if let Ok(r) = &reading {
                if device.model.is_none() && modbus.identify.is_none() {
                    device.model = Some(dev_type.model());
                }
                if let Reading::Evse(evse) = r {
                    device.fail_safe_seen = Some(evse.fail_safe);
                    if let Some(control) = modbus.control {
                        device.read_back = control.read_back(evse).into_iter().collect();
                    }
                }
            }
            reading
        }))
    }
}

impl Device {
    /// Reads `modbus.reads` in the requests that `merge` plans, and gives
    /// each read its words. A device that refuses a merged request
    /// (illegal data address: a register in between it lacks) is asked
    /// again at once in more careful requests, and so from then on.
    fn read_planned(
        &mut self,
        modbus: &'static Modbus,
        merge: Merge,
    ) -> ResponseActFuture<Self, Result<Vec<Vec<u16>>, DeviceError>> {
        let plan = modbus.plan(merge);
        let merged = plan.merges(modbus.reads);
        let work = self.exchange_untracked(plan.requests.iter().map(op).collect());
        Box::pin(work.into_actor(self).then(
            move |answers, device, _| -> ResponseActFuture<Self, Result<Vec<Vec<u16>>, DeviceError>> {
            let refused = matches!(answers, Err(DeviceError::Exception(Exception(2))));
            if let Some(next) = merge.fallback().filter(|_| refused && merged) {
                info!(device.log, "a merged read was refused (illegal data address): reading in smaller requests from now on";
                    "merge" => ?next);
                device.merge = next;
                return device.read_planned(modbus, next);
            }
            let blocks = answers.and_then(|answers| {
                plan.split(modbus.reads, &answers)
                    .map_err(|e| DeviceError::Protocol(e.to_string()))
            });
            Box::pin(fut::ready(blocks))
        }))
    }
}

/// The Modbus request of one read.
fn op(read: &Read) -> Op {
    match read.table {
        Table::Holding => Op::ReadHolding {
            addr: read.addr,
            count: read.count,
        },
        Table::Input => Op::ReadInput {
            addr: read.addr,
            count: read.count,
        },
    }
}

impl Handler<Apply> for Device {
    type Result = ResponseActFuture<Self, Result<(), DeviceError>>;

    fn handle(&mut self, msg: Apply, _: &mut Self::Context) -> Self::Result {
        let Some(control) = self.control() else {
            return Box::pin(fut::ready(Ok(())));
        };
        let words = control.words(msg.current_ma, msg.enable);
        let every = control
            .rewrite_every()
            .map_or(REASSERT_AFTER, |every| every.min(REASSERT_AFTER));
        let reassert = self.asserted_at.is_none_or(|at| at.elapsed() >= every);
        let differs = |map: &HashMap<u16, u16>, addr: &u16, value: &u16| {
            map.get(addr).is_some_and(|v| v != value)
        };
        let mut changed: Vec<(u16, u16)> = words
            .iter()
            .copied()
            .filter(|(addr, value)| {
                reassert
                    || self.written.get(addr) != Some(value)
                    || differs(&self.read_back, addr, value)
            })
            .collect();
        // A value wider than a register goes in one request, all of it.
        let together = control.written_together();
        let inside = |addr: u16| {
            together.is_some_and(|(first, count)| {
                (u32::from(first)..u32::from(first) + u32::from(count)).contains(&u32::from(addr))
            })
        };
        let mut wide = None;
        if changed.iter().any(|(addr, _)| inside(*addr)) {
            let values: Vec<(u16, u16)> =
                words.iter().copied().filter(|(a, _)| inside(*a)).collect();
            changed.retain(|(addr, _)| !inside(*addr));
            if let Some(&(first, _)) = values.first() {
                wide = Some(Op::Write {
                    addr: first,
                    values: values.iter().map(|(_, v)| *v).collect(),
                });
            }
            changed.extend(values);
        }
        let fail_safe = self.fail_safe_writes();
        // Written once, after the current (a car stopped first, then its
        // relay switched), and not kept to be re-asserted.
        let mut once = Vec::new();
        if let Some(one_phase) = msg.one_phase {
            info!(self.log, "switching the relay"; "phases" => if one_phase { 1 } else { 3 });
            once.extend(control.phase_words(one_phase).unwrap_or_default());
        }
        if msg.wake {
            info!(self.log, "waking the car");
            once.extend(control.wake_words().unwrap_or_default());
        }
        if changed.is_empty() && fail_safe.is_empty() && once.is_empty() {
            return Box::pin(fut::ready(Ok(())));
        }
        let configuring = !fail_safe.is_empty();
        let ops = fail_safe
            .into_iter()
            .chain(wide)
            .chain(
                changed
                    .iter()
                    .filter(|(addr, _)| !inside(*addr))
                    .chain(&once)
                    .map(|&(addr, value)| Op::Write {
                        addr,
                        values: vec![value],
                    }),
            )
            .collect();
        Box::pin(self.exchange_all(ops).map(move |result, device, _| {
            if configuring && result.is_err() {
                warn!(device.log, "could not configure the fail-safe");
                device.fail_safe_checked = false;
            }
            match &result {
                Ok(_) => {
                    for (addr, _) in &changed {
                        device.read_back.remove(addr);
                    }
                    device.written.extend(changed);
                    if reassert {
                        device.asserted_at = Some(Instant::now());
                    }
                }
                // Unknown state on the box: write everything next time.
                Err(_) => device.asserted_at = None,
            }
            result.map(|_| ())
        }))
    }
}

impl Handler<Refused> for Device {
    type Result = ();

    fn handle(&mut self, Refused(why): Refused, _: &mut Self::Context) {
        warn!(self.log, "reading refused"; "reason" => %why);
        self.com.failed(&why, Instant::now());
    }
}

impl Handler<GetStatus> for Device {
    type Result = MessageResult<GetStatus>;

    fn handle(&mut self, _: GetStatus, _: &mut Self::Context) -> Self::Result {
        let written = |addr| self.written.get(&addr).copied();
        let written_ma = self.control().and_then(|c| c.written_ma(&written));
        MessageResult(DeviceStatus {
            com: self.com.clone(),
            model: self.com.model_or_state(self.model.as_ref()),
            is_va: false,
            written_ma,
        })
    }
}

impl Handler<PollAndStatus> for Device {
    type Result = ResponseActFuture<Self, Polled>;

    fn handle(&mut self, _: PollAndStatus, ctx: &mut Self::Context) -> Self::Result {
        poll_then_status(self, ctx)
    }
}

impl Handler<UpdateSettings> for Device {
    type Result = ();

    fn handle(&mut self, UpdateSettings(settings): UpdateSettings, _: &mut Self::Context) {
        let fail_safe = |s: &DeviceSettings| (s.fail_safe_duration_s, s.fail_safe_current);
        if fail_safe(&settings) != fail_safe(&self.settings) {
            self.fail_safe_checked = false;
        }
        if settings.dev_type != self.settings.dev_type {
            self.merge = Merge::AcrossGaps;
        }
        self.settings = settings;
    }
}

impl Handler<Shutdown> for Device {
    type Result = ();

    fn handle(&mut self, _: Shutdown, ctx: &mut Self::Context) {
        ctx.stop();
    }
}
