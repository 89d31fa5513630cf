//! The supervisor: runs the load-management cycle. Every `cycle_time` it
//! polls all devices at once (each bounded by the Modbus timeout, so a dead
//! device costs at most that, never the sum), lets the pure `Site` decide,
//! tells each wallbox its current, and keeps the snapshot the API reports.

mod params;
mod site;
#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use slog::{debug, o, warn, Logger};

pub use params::SiteParams;
pub use site::{Command, EvseView, MeterView, Site, SiteView, Snapshot};

use crate::devices::{Apply, Poll};
use crate::plant::Plant;

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

/// One device as the supervisor reaches it.
struct Supervised {
    poll: Option<Recipient<Poll>>,
    apply: Option<Recipient<Apply>>,
    http_input: bool,
}

pub struct Supervisor {
    site: Site,
    devices: Vec<Supervised>,
    clock: Instant,
    snapshot: Arc<Snapshot>,
    last_start: Option<u64>,
    running: bool,
    log: Logger,
}

impl Supervisor {
    pub fn new(params: SiteParams, plant: &Plant, log: &Logger) -> Self {
        let clock = Instant::now();
        let settings: Vec<_> = plant.devices().iter().map(|d| d.settings.clone()).collect();
        Supervisor {
            site: Site::new(params, &settings, 0),
            devices: plant
                .devices()
                .iter()
                .map(|d| Supervised {
                    poll: d.poll_recipient(),
                    apply: d.apply_recipient(),
                    http_input: d.settings.dev_type.is_http_input(),
                })
                .collect(),
            clock,
            snapshot: Arc::new(Snapshot::default()),
            last_start: None,
            running: false,
            log: log.new(o!("component" => "supervisor")),
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.clock.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Polls (everything, or only the HTTP-input devices), decides,
    /// applies. The returned future resolves once the snapshot is updated.
    fn cycle(&mut self, http_only: bool) -> ResponseActFuture<Self, Arc<Snapshot>> {
        if !http_only {
            if self.running {
                return Box::pin(fut::ready(self.snapshot.clone()));
            }
            self.running = true;
        }
        let start = self.now_ms();
        let cycle_time = if http_only {
            self.snapshot.cycle_time_ms
        } else {
            let period = self.last_start.map_or(0, |last| start.saturating_sub(last));
            self.last_start = Some(start);
            period
        };
        // `send` queues every poll at once; awaiting them in turn then costs
        // the slowest device, not the sum.
        let polls: Vec<_> = self
            .devices
            .iter()
            .map(|d| {
                d.poll
                    .as_ref()
                    .filter(|_| d.http_input || !http_only)
                    .map(|r| r.send(Poll))
            })
            .collect();
        let gather = async move {
            let mut results = Vec::with_capacity(polls.len());
            for poll in polls {
                results.push(match poll {
                    Some(request) => Some(match request.await {
                        Ok(Ok(reading)) => Ok(reading),
                        Ok(Err(e)) => Err(e.to_string()),
                        Err(e) => Err(e.to_string()),
                    }),
                    None => None,
                });
            }
            results
        };
        Box::pin(gather.into_actor(self).map(move |results, act, _| {
            let now = act.now_ms();
            for (i, polled) in results.into_iter().enumerate() {
                act.site.record(i, polled, now);
            }
            let (commands, snapshot) = act.site.cycle(now, cycle_time);
            for c in commands {
                if let Some(apply) = act.devices.get(c.device).and_then(|d| d.apply.as_ref()) {
                    let (current_ma, enable) = (c.current_ma, c.enable);
                    let request = apply.send(Apply { current_ma, enable });
                    let log = act.log.clone();
                    actix::spawn(async move {
                        if let Ok(Err(e)) = request.await {
                            warn!(log, "could not set a wallbox"; "device" => c.device, "error" => %e);
                        }
                    });
                }
            }
            debug!(act.log, "cycle"; "ms" => now.saturating_sub(start),
                "available_ma" => ?snapshot.site.available_ma, "house_ma" => ?snapshot.site.house_ma);
            act.snapshot = Arc::new(snapshot);
            if !http_only {
                act.running = false;
            }
            act.snapshot.clone()
        }))
    }
}

impl Actor for Supervisor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        let every = Duration::from_millis(self.site.params.cycle_time_ms);
        ctx.spawn(self.cycle(false).map(|_, _, _| ()));
        ctx.run_interval(every, |act, ctx| {
            ctx.spawn(act.cycle(false).map(|_, _, _| ()));
        });
    }
}

impl Handler<GetSnapshot> for Supervisor {
    type Result = MessageResult<GetSnapshot>;

    fn handle(&mut self, _: GetSnapshot, _: &mut Self::Context) -> Self::Result {
        MessageResult(self.snapshot.clone())
    }
}

impl Handler<Reevaluate> for Supervisor {
    type Result = ResponseActFuture<Self, Arc<Snapshot>>;

    fn handle(&mut self, _: Reevaluate, _: &mut Self::Context) -> Self::Result {
        self.cycle(true)
    }
}
