use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use slog::{o, Logger};

use super::messages::{DeviceStatus, GetStatus, ReadRegisters, WriteRegisters};
use super::{ComStatus, DeviceSettings};
use crate::drivers::powerbrain;
use crate::transport::{Bus, BusRequest, DeviceError, Op};

/// How often a device that has not been identified yet is asked again.
const IDENTIFY_RETRY: Duration = Duration::from_secs(10);

/// One configured device.
pub struct Device {
    settings: Arc<DeviceSettings>,
    bus: Addr<Bus>,
    timeout: Duration,
    com: ComStatus,
    model: Option<String>,
    log: Logger,
}

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
            com: ComStatus::default(),
            model: None,
            log,
        }
    }

    /// Sends `op` to the bus, then records the outcome in the com status.
    fn exchange(&mut self, op: Op) -> ResponseActFuture<Self, Result<Vec<u16>, DeviceError>> {
        let request = self
            .bus
            .send(BusRequest::new(self.settings.id, op, self.timeout));
        Box::pin(
            async move { request.await.unwrap_or(Err(DeviceError::Stopped)) }
                .into_actor(self)
                .map(|result, device, _| {
                    device
                        .com
                        .record(result.as_ref().map(|_| ()), Instant::now());
                    result
                }),
        )
    }

    fn identify(&mut self, ctx: &mut Context<Self>) {
        if self.model.is_some() {
            return;
        }
        let (addr, count) = powerbrain::IDENTITY_BLOCK;
        let read = self.exchange(Op::ReadHolding { addr, count });
        ctx.spawn(read.map(|result, device, _| {
            if let Ok(words) = result {
                device.model = powerbrain::model_from_identity(&words);
                if let Some(model) = &device.model {
                    slog::info!(device.log, "identified"; "model" => model);
                }
            }
        }));
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
        self.exchange(Op::ReadHolding {
            addr: msg.addr,
            count: msg.count,
        })
    }
}

impl Handler<WriteRegisters> for Device {
    type Result = ResponseActFuture<Self, Result<(), DeviceError>>;

    fn handle(&mut self, msg: WriteRegisters, _: &mut Self::Context) -> Self::Result {
        let write = self.exchange(Op::Write {
            addr: msg.addr,
            values: msg.values,
        });
        Box::pin(write.map(|result, _, _| result.map(|_| ())))
    }
}

impl Handler<GetStatus> for Device {
    type Result = MessageResult<GetStatus>;

    fn handle(&mut self, _: GetStatus, _: &mut Self::Context) -> Self::Result {
        MessageResult(DeviceStatus {
            com: self.com.clone(),
            model: self
                .model
                .clone()
                .unwrap_or_else(|| "failed to connect".into()),
        })
    }
}
