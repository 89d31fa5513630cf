//! An HTTP-JSON meter (`protocol = "http_json"` definitions): asked every
//! cycle at `http://<address><path>` within the devices' timeout, its
//! answer read by the definition's JSON paths. The same com-error rules as
//! a Modbus device: a timeout, a refused connection, an HTTP error status,
//! an answer that is not JSON or lacks a path is a failed reading.

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use slog::{o, Logger};

use super::failures::{log_notice, FailureLog};
use super::messages::{
    poll_then_status, Apply, DeviceStatus, GetStatus, Poll, PollAndStatus, Polled, Refused,
    Shutdown, UpdateSettings,
};
use super::ComStatus;
use crate::config::DeviceSettings;
use crate::drivers::http_json::JsonMeter;
use crate::drivers::Reading;
use crate::transport::DeviceError;

/// The most an answer may hold: a meter's status is a few KiB.
const MAX_ANSWER: usize = 256 * 1024;

pub struct HttpJsonMeter {
    settings: Arc<DeviceSettings>,
    meter: &'static JsonMeter,
    client: reqwest::Client,
    timeout: Duration,
    com: ComStatus,
    failures: FailureLog,
    /// Known after a first good reading.
    model: Option<String>,
    log: Logger,
}

impl HttpJsonMeter {
    pub fn new(
        settings: Arc<DeviceSettings>,
        meter: &'static JsonMeter,
        timeout: Duration,
        log: &Logger,
    ) -> Self {
        let log = log.new(o!("device" => settings.dev_id.clone()));
        HttpJsonMeter {
            settings,
            meter,
            client: reqwest::Client::new(),
            timeout,
            com: ComStatus::starting(Instant::now()),
            failures: FailureLog::default(),
            model: None,
            log,
        }
    }

    fn log_com(&mut self, now: Instant) {
        if self.com.com_err {
            let notice = self.failures.failed(now);
            log_notice(&self.log, notice, Some(&self.com.last_error));
        } else {
            log_notice(&self.log, self.failures.succeeded(now), None);
        }
    }
}

/// Asks `url` and answers the body, or why not.
async fn fetch(
    client: reqwest::Client,
    url: String,
    timeout: Duration,
) -> Result<Vec<u8>, DeviceError> {
    let timeout_ms = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX);
    let failed = |e: reqwest::Error| {
        if e.is_timeout() {
            DeviceError::Timeout(timeout_ms)
        } else if e.is_connect() {
            DeviceError::Connect {
                endpoint: url.clone(),
                reason: e.to_string(),
            }
        } else {
            DeviceError::Transport(e.to_string())
        }
    };
    let work = async {
        let mut answer = client.get(&url).send().await.map_err(failed)?;
        let status = answer.status();
        if !status.is_success() {
            return Err(DeviceError::Protocol(format!("HTTP status {status}")));
        }
        let mut body = Vec::new();
        while let Some(chunk) = answer.chunk().await.map_err(failed)? {
            if body.len() + chunk.len() > MAX_ANSWER {
                return Err(DeviceError::Protocol(format!(
                    "an answer of more than {MAX_ANSWER} bytes"
                )));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    };
    // One timeout for the whole exchange, the body included: a device that
    // sends its answer slowly is as late as one that sends nothing.
    tokio::time::timeout(timeout, work)
        .await
        .unwrap_or(Err(DeviceError::Timeout(timeout_ms)))
}

impl Actor for HttpJsonMeter {
    type Context = Context<Self>;
}

impl Handler<Poll> for HttpJsonMeter {
    type Result = ResponseActFuture<Self, Result<Reading, DeviceError>>;

    fn handle(&mut self, _: Poll, _: &mut Self::Context) -> Self::Result {
        let meter = self.meter;
        let url = meter.url(&self.settings.address);
        let work = fetch(self.client.clone(), url, self.timeout);
        Box::pin(work.into_actor(self).map(move |body, device, _| {
            let reading = body.and_then(|body| {
                meter
                    .decode(&body)
                    .map(Reading::Meter)
                    .map_err(|e| DeviceError::Protocol(e.to_string()))
            });
            let now = Instant::now();
            device.com.record_poll(reading.as_ref().map(|_| ()), now);
            device.log_com(now);
            if reading.is_ok() && device.model.is_none() {
                device.model = Some(device.settings.dev_type.model());
            }
            reading
        }))
    }
}

impl Handler<Apply> for HttpJsonMeter {
    type Result = ResponseActFuture<Self, Result<(), DeviceError>>;

    /// A meter is told nothing.
    fn handle(&mut self, _: Apply, _: &mut Self::Context) -> Self::Result {
        Box::pin(fut::ready(Ok(())))
    }
}

impl Handler<Refused> for HttpJsonMeter {
    type Result = ();

    fn handle(&mut self, Refused(why): Refused, _: &mut Self::Context) {
        slog::warn!(self.log, "reading refused"; "reason" => %why);
        self.com.failed(&why, Instant::now());
    }
}

impl Handler<GetStatus> for HttpJsonMeter {
    type Result = MessageResult<GetStatus>;

    fn handle(&mut self, _: GetStatus, _: &mut Self::Context) -> Self::Result {
        MessageResult(DeviceStatus {
            com: self.com.clone(),
            model: self.com.model_or_state(self.model.as_ref()),
            is_va: false,
            written_ma: None,
        })
    }
}

impl Handler<PollAndStatus> for HttpJsonMeter {
    type Result = ResponseActFuture<Self, Polled>;

    fn handle(&mut self, _: PollAndStatus, ctx: &mut Self::Context) -> Self::Result {
        poll_then_status(self, ctx)
    }
}

impl Handler<UpdateSettings> for HttpJsonMeter {
    type Result = ();

    fn handle(&mut self, UpdateSettings(settings): UpdateSettings, _: &mut Self::Context) {
        self.settings = settings;
    }
}

impl Handler<Shutdown> for HttpJsonMeter {
    type Result = ();

    fn handle(&mut self, _: Shutdown, ctx: &mut Self::Context) {
        ctx.stop();
    }
}
