//! The device actor of an OCPP wallbox. It lives as long as the device is
//! configured; the charge point's WebSocket connection is attached to it
//! when the charge point connects (the server in the binary does the
//! upgrade and hands the frames over). It owns that connection: it answers
//! the charge point's calls, makes its own calls and matches their results
//! by unique id, each within `CALL_TIMEOUT`, and tells the charge point its
//! current as charging profiles (`profiles.rs`).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use serde::de::DeserializeOwned;
use serde_json::{json, Value};
use slog::{debug, info, o, warn, Logger};
use tokio::sync::mpsc;

use super::charge_point::Connector;
use super::frame::{self, ErrorCode, Frame};
use super::messages::{
    Authorize, BootNotification, MeterValues, StartTransaction, StatusAnswer, StatusNotification,
    StopTransaction, MAX_ID_TAG,
};
use super::profiles::{self, Limit, Sent};
use crate::config::DeviceSettings;
use crate::devices::failures::{log_notice, FailureLog};
use crate::devices::{
    Apply, ComStatus, DeviceStatus, GetStatus, Poll, PollAndStatus, Polled, Refused, Shutdown,
    UpdateSettings,
};
use crate::drivers::{model_text, FailSafe, Reading};
use crate::supervisor::CheckCard;
use crate::transport::DeviceError;

/// How long a call to the charge point may wait for its result.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// The heartbeat interval given to the charge point at boot, s.
pub const HEARTBEAT_S: u64 = 60;

/// How often the charge point is asked to send its meter values, s.
pub const METER_INTERVAL_S: u64 = 2;

/// What the charge point is asked to measure.
pub const SAMPLED_DATA: &str =
    "Current.Import,Voltage,Power.Active.Import,Energy.Active.Import.Register";

/// Frames waiting to be written to one connection; a charge point that
/// sends faster than it reads them is disconnected when they are full.
pub const OUTBOUND_QUEUE: usize = 64;

/// A charge point connected: its frames come as `Inbound` under `conn`, and
/// what is written to it goes into `out`. A new connection replaces an
/// older one of the same charge point.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct Attach {
    pub conn: u64,
    /// The text frames to write, at most `OUTBOUND_QUEUE` waiting.
    pub out: mpsc::Sender<String>,
    /// Why the connection is closed (a policy violation), outside the
    /// frames' queue so that it gets out when that queue is full. Dropping
    /// both senders closes the connection as "going away" once the frames
    /// queued before are written.
    pub close: mpsc::Sender<String>,
    /// Where cards are checked (the supervisor).
    pub cards: Recipient<CheckCard>,
    pub peer: String,
}

/// A text frame from connection `conn`.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct Inbound {
    pub conn: u64,
    pub text: String,
}

/// Connection `conn` answered a ping: it is alive.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct Alive {
    pub conn: u64,
}

/// Connection `conn` ended (closed by either side, or broken).
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct Detached {
    pub conn: u64,
    pub why: String,
}

/// Ask the charge point to start a transaction for `id_tag`
/// (RemoteStartTransaction).
#[derive(Debug, Message)]
#[rtype(result = "Result<(), DeviceError>")]
pub struct RemoteStart {
    pub id_tag: String,
}

/// Ask the charge point to end its open transaction (RemoteStopTransaction).
#[derive(Debug, Message)]
#[rtype(result = "Result<(), DeviceError>")]
pub struct RemoteStop;

/// Ask the charge point to restart (Reset, soft).
#[derive(Debug, Message)]
#[rtype(result = "Result<(), DeviceError>")]
pub struct ResetChargePoint;

struct Link {
    conn: u64,
    out: mpsc::Sender<String>,
    close: mpsc::Sender<String>,
    cards: Recipient<CheckCard>,
    /// When the last frame (or pong) came.
    heard: Instant,
    booted: bool,
    sent: Sent,
}

struct PendingCall {
    action: &'static str,
    at: Instant,
}

/// One OCPP wallbox (one connector of a charge point).
pub struct OcppWallbox {
    settings: Arc<DeviceSettings>,
    link: Option<Link>,
    connector: Connector,
    model: Option<String>,
    com: ComStatus,
    failures: FailureLog,
    calls: HashMap<String, PendingCall>,
    next_call: u64,
    next_transaction: i64,
    /// The last command of the cycle: current (mA) and enable.
    command: (i64, bool),
    /// The availability last asked for (ChangeAvailability).
    available: Option<bool>,
    /// Until the charge point first connects, at most until then, waiting
    /// for it is not logged as a failure: it connects on its own after the
    /// daemon starts. Counted as a failure all the same (no current).
    first_connect_by: Option<Instant>,
    log: Logger,
}

/// How long a charge point may take to connect after the daemon starts
/// before its absence is logged (they retry every few seconds to minutes).
const FIRST_CONNECT_GRACE: Duration = Duration::from_secs(60);

impl OcppWallbox {
    pub fn new(settings: Arc<DeviceSettings>, log: &Logger) -> Self {
        let log = log.new(o!("device" => settings.dev_id.clone(),
            "charge_point" => settings.address.trim().to_string()));
        // Transaction ids that do not repeat those of an earlier run: they
        // count on from the clock's seconds.
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_secs());
        OcppWallbox {
            settings,
            link: None,
            connector: Connector::default(),
            model: None,
            com: ComStatus::starting(Instant::now()),
            failures: FailureLog::default(),
            calls: HashMap::new(),
            next_call: 0,
            // Charge points keep transaction ids in 32 bits.
            next_transaction: i64::try_from(now % 1_000_000_000).unwrap_or(1),
            command: (0, false),
            available: None,
            first_connect_by: Some(Instant::now() + FIRST_CONNECT_GRACE),
            log,
        }
    }

    /// An error unless the charge point is connected.
    fn connected(&self) -> Result<(), DeviceError> {
        match self.link {
            Some(_) => Ok(()),
            None => Err(DeviceError::Transport(
                "the charge point is not connected".into(),
            )),
        }
    }

    fn connector_id(&self) -> u32 {
        u32::from(self.settings.id)
    }

    /// Writes `text` to the connection; a connection that does not take
    /// it (its queue is full: the charge point sends faster than it reads
    /// the answers, or reads nothing) is closed.
    fn write(&mut self, text: String) {
        let Some(link) = &self.link else { return };
        if link.out.try_send(text).is_err() {
            let why = format!(
                "{OUTBOUND_QUEUE} frames wait to be written: the charge point sends faster than it reads"
            );
            warn!(self.log, "closing the connection"; "reason" => &why);
            // The close has its own channel: it gets out past the full queue.
            let _ = link.close.try_send(why.clone());
            self.drop_link(&why);
        }
    }

    /// Makes a call to the charge point.
    fn call(&mut self, action: &'static str, payload: &Value) {
        if self.link.is_none() {
            return;
        }
        self.next_call += 1;
        let id = format!("cb{}", self.next_call);
        self.calls.insert(
            id.clone(),
            PendingCall {
                action,
                at: Instant::now(),
            },
        );
        self.write(frame::call(&id, action, payload));
    }

    fn drop_link(&mut self, why: &str) {
        if self.link.take().is_some() {
            let err = DeviceError::Transport(why.to_string());
            self.com.failed(&err, Instant::now());
            log_notice(&self.log, self.failures.failed(Instant::now()), Some(&err));
        }
        self.calls.clear();
    }

    /// Calls without a result after `CALL_TIMEOUT` fail.
    fn expire_calls(&mut self, _: &mut Context<Self>) {
        let now = Instant::now();
        let late: Vec<String> = self
            .calls
            .iter()
            .filter(|(_, c)| now.saturating_duration_since(c.at) >= CALL_TIMEOUT)
            .map(|(id, _)| id.clone())
            .collect();
        for id in late {
            if let Some(c) = self.calls.remove(&id) {
                let err =
                    DeviceError::Timeout(u64::try_from(CALL_TIMEOUT.as_millis()).unwrap_or(0));
                warn!(self.log, "no result from the charge point"; "action" => c.action);
                self.com.failed(&err, now);
                if c.action == "SetChargingProfile" {
                    // Not known to be in force: sent again at the next cycle.
                    if let Some(link) = self.link.as_mut() {
                        link.sent = Sent::default();
                    }
                }
            }
        }
    }

    /// After an accepted boot: what chargebrain needs the charge point to do.
    fn configure(&mut self) {
        let interval = METER_INTERVAL_S.to_string();
        self.call(
            "ChangeConfiguration",
            &json!({"key": "MeterValueSampleInterval", "value": interval}),
        );
        self.call(
            "ChangeConfiguration",
            &json!({"key": "MeterValuesSampledData", "value": SAMPLED_DATA}),
        );
        self.call(
            "GetConfiguration",
            &json!({"key": ["ChargeProfileMaxStackLevel", "ChargingScheduleAllowedChargingRateUnit"]}),
        );
        self.send_availability();
    }

    /// ChangeAvailability when `device_enabled` differs from what the charge
    /// point was told.
    fn send_availability(&mut self) {
        let enabled = self.settings.device_enabled;
        if self.available == Some(enabled) || self.link.is_none() {
            return;
        }
        self.available = Some(enabled);
        let kind = if enabled { "Operative" } else { "Inoperative" };
        let connector = self.connector_id();
        self.call(
            "ChangeAvailability",
            &json!({"connectorId": connector, "type": kind}),
        );
    }

    /// Sends the profiles the last command calls for, if due.
    fn send_profiles(&mut self) {
        let now = Instant::now();
        let connector = self.connector_id();
        let fail_safe_ma = self.settings.fail_safe_current.max(0);
        let limit = profiles::limit_of(self.command.0, self.command.1, self.settings.used_phases);
        let Some(link) = self.link.as_ref() else {
            return;
        };
        let fail_safe_due = link.sent.fail_safe_due(fail_safe_ma);
        let live_due = link.sent.live_due(limit, now);
        let stamp = timestamp();
        if fail_safe_due {
            self.call(
                "SetChargingProfile",
                &profiles::fail_safe_profile(connector, fail_safe_ma, &stamp),
            );
        }
        if live_due {
            self.call(
                "SetChargingProfile",
                &profiles::live_profile(connector, limit, &stamp),
            );
        }
        if let Some(link) = self.link.as_mut() {
            if fail_safe_due {
                link.sent.fail_safe = Some(fail_safe_ma);
            }
            if live_due {
                link.sent.live = Some((limit, now));
            }
        }
    }

    /// One frame from the charge point.
    fn received(&mut self, text: &str, ctx: &mut Context<Self>) {
        match frame::parse(text) {
            Err(bad) => {
                warn!(self.log, "malformed frame"; "reason" => &bad.reason);
                self.write(bad.answer());
            }
            Ok(Frame::Call {
                id,
                action,
                payload,
            }) => self.answer_call(id, &action, payload, ctx),
            Ok(Frame::CallResult { id, payload }) => self.result(&id, Ok(payload)),
            Ok(Frame::CallError {
                id,
                code,
                description,
            }) => self.result(&id, Err(format!("{code}: {description}"))),
        }
    }

    /// The result (or error) of one of chargebrain's calls.
    fn result(&mut self, id: &str, outcome: Result<Value, String>) {
        let Some(call) = self.calls.remove(id) else {
            debug!(self.log, "a result for no open call"; "id" => id);
            return;
        };
        // GetConfiguration and the like answer without a status.
        let status = outcome.map(|payload| {
            serde_json::from_value::<StatusAnswer>(payload)
                .map_or_else(|_| "Accepted".to_string(), |a| a.status)
        });
        match status {
            Ok(s) if s == "Accepted" => {
                debug!(self.log, "call accepted"; "action" => call.action);
            }
            Ok(s) => {
                warn!(self.log, "the charge point did not accept a call";
                    "action" => call.action, "status" => s);
            }
            Err(e) => {
                warn!(self.log, "the charge point answered a call with an error";
                    "action" => call.action, "error" => e);
            }
        }
    }

    fn answer_call(&mut self, id: String, action: &str, payload: Value, ctx: &mut Context<Self>) {
        let answer = match action {
            "BootNotification" => parse::<BootNotification>(payload).map(|b| {
                let model = model_text(
                    &b.charge_point_vendor,
                    &b.charge_point_model,
                    "",
                    b.firmware_version.as_deref().unwrap_or(""),
                    b.charge_point_serial_number.as_deref().unwrap_or(""),
                );
                info!(self.log, "charge point booted"; "model" => &model);
                self.model = Some(model);
                let answer = json!({"status": "Accepted", "currentTime": timestamp(),
                    "interval": HEARTBEAT_S});
                (answer, true)
            }),
            "Heartbeat" => Ok((json!({"currentTime": timestamp()}), false)),
            "StatusNotification" => parse::<StatusNotification>(payload).and_then(|s| {
                if s.connector_id == self.connector_id() {
                    self.connector
                        .status(&s)
                        .map_err(|e| (ErrorCode::FormationViolation, e))?;
                }
                Ok((json!({}), false))
            }),
            "MeterValues" => parse::<MeterValues>(payload).map(|m| {
                if m.connector_id == self.connector_id() {
                    let skipped = self.connector.meter_values(&m);
                    if !skipped.is_empty() {
                        debug!(self.log, "meter values left out"; "values" => skipped.join("; "));
                    }
                }
                (json!({}), false)
            }),
            "Authorize" => match parse::<Authorize>(payload).and_then(checked_tag) {
                Ok(tag) => return self.check_card(id, tag, None, ctx),
                Err(e) => Err(e),
            },
            "StartTransaction" => match parse::<StartTransaction>(payload) {
                Ok(s) => match checked_tag(Authorize {
                    id_tag: s.id_tag.clone(),
                }) {
                    Ok(tag) => return self.check_card(id, tag, Some(s), ctx),
                    Err(e) => Err(e),
                },
                Err(e) => Err(e),
            },
            "StopTransaction" => parse::<StopTransaction>(payload).map(|s| {
                self.connector.stopped(&s);
                info!(self.log, "transaction stopped"; "transaction" => s.transaction_id,
                    "meter_stop_wh" => s.meter_stop, "reason" => s.reason.unwrap_or_default());
                let answer = match s.id_tag {
                    Some(_) => json!({"idTagInfo": {"status": "Accepted"}}),
                    None => json!({}),
                };
                (answer, false)
            }),
            "DataTransfer" => Err((
                ErrorCode::NotSupported,
                "chargebrain does not take vendor data".into(),
            )),
            // Notifications of OCPP 1.6 that need only an empty answer.
            "DiagnosticsStatusNotification" | "FirmwareStatusNotification" => {
                Ok((json!({}), false))
            }
            other => Err((
                ErrorCode::NotImplemented,
                format!("{other} is not implemented"),
            )),
        };
        match answer {
            Ok((payload, booted)) => {
                self.write(frame::call_result(&id, &payload));
                if booted {
                    if let Some(link) = self.link.as_mut() {
                        link.booted = true;
                        // A charge point that restarted has lost what it was sent.
                        link.sent = Sent::default();
                    }
                    self.available = None;
                    self.configure();
                }
            }
            Err((code, reason)) => {
                warn!(self.log, "call refused"; "action" => action, "reason" => &reason);
                self.write(frame::call_error(&id, code, &reason));
            }
        }
    }

    /// Answers an Authorize (or a StartTransaction) once the card is checked.
    fn check_card(
        &mut self,
        id: String,
        tag: String,
        start: Option<StartTransaction>,
        ctx: &mut Context<Self>,
    ) {
        let Some(link) = self.link.as_ref() else {
            return;
        };
        let check = link.cards.send(CheckCard {
            dev_id: self.settings.dev_id.clone(),
            rfid: tag.clone(),
        });
        ctx.spawn(check.into_actor(self).map(move |outcome, wallbox, _| {
            let accepted = match outcome {
                Ok(Ok(user)) => {
                    info!(wallbox.log, "card accepted"; "card" => &tag, "user" => user);
                    true
                }
                Ok(Err(why)) => {
                    warn!(wallbox.log, "card refused"; "reason" => why);
                    false
                }
                Err(_) => false,
            };
            let status = if accepted { "Accepted" } else { "Invalid" };
            if accepted {
                wallbox.connector.id_tag = Some(tag.clone());
            }
            let payload = match start {
                None => json!({"idTagInfo": {"status": status}}),
                Some(s) => {
                    wallbox.next_transaction += 1;
                    let tx = wallbox.next_transaction;
                    if accepted && s.connector_id == wallbox.connector_id() {
                        wallbox.connector.transaction = Some(tx);
                        wallbox.connector.meter_start_wh = Some(s.meter_start);
                    }
                    info!(wallbox.log, "transaction started"; "transaction" => tx,
                        "card" => &tag, "status" => status, "meter_start_wh" => s.meter_start);
                    json!({"transactionId": tx, "idTagInfo": {"status": status}})
                }
            };
            wallbox.write(frame::call_result(&id, &payload));
        }));
    }
}

/// A payload as the type of its action; the serde error otherwise.
fn parse<T: DeserializeOwned>(payload: Value) -> Result<T, (ErrorCode, String)> {
    serde_json::from_value(payload).map_err(|e| (ErrorCode::FormationViolation, e.to_string()))
}

/// An idTag of 1 to 20 characters.
fn checked_tag(a: Authorize) -> Result<String, (ErrorCode, String)> {
    let tag = a.id_tag.trim().to_string();
    if tag.is_empty() || tag.chars().count() > MAX_ID_TAG {
        return Err((
            ErrorCode::FormationViolation,
            format!("idTag must be 1 to {MAX_ID_TAG} characters"),
        ));
    }
    Ok(tag)
}

/// Now, as OCPP writes time (UTC, whole seconds).
fn timestamp() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

impl Actor for OcppWallbox {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.run_interval(Duration::from_secs(1), Self::expire_calls);
    }

    fn stopped(&mut self, _: &mut Self::Context) {
        // Its channels dropped, the connection closes as "going away".
        self.link = None;
    }
}

impl Handler<Attach> for OcppWallbox {
    type Result = ();

    fn handle(&mut self, a: Attach, ctx: &mut Self::Context) {
        if let Some(old) = self.link.take() {
            let _ = old.close.try_send("replaced by a new connection".into());
        }
        info!(self.log, "charge point connected"; "peer" => &a.peer);
        self.first_connect_by = None;
        self.calls.clear();
        self.link = Some(Link {
            conn: a.conn,
            out: a.out,
            close: a.close,
            cards: a.cards,
            heard: Instant::now(),
            booted: false,
            sent: Sent::default(),
        });
        self.available = None;
        // A charge point that reconnects without booting says nothing of
        // its state by itself: it is asked.
        let conn = a.conn;
        ctx.run_later(Duration::from_secs(2), move |wallbox, _| {
            let connector = wallbox.connector_id();
            if wallbox
                .link
                .as_ref()
                .is_some_and(|l| l.conn == conn && !l.booted)
            {
                wallbox.call(
                    "TriggerMessage",
                    &json!({"requestedMessage": "StatusNotification", "connectorId": connector}),
                );
                wallbox.send_availability();
            }
        });
    }
}

impl Handler<Inbound> for OcppWallbox {
    type Result = ();

    fn handle(&mut self, msg: Inbound, ctx: &mut Self::Context) {
        match self.link.as_mut() {
            Some(link) if link.conn == msg.conn => link.heard = Instant::now(),
            _ => return,
        }
        self.received(&msg.text, ctx);
    }
}

impl Handler<Alive> for OcppWallbox {
    type Result = ();

    fn handle(&mut self, msg: Alive, _: &mut Self::Context) {
        if let Some(link) = self.link.as_mut().filter(|l| l.conn == msg.conn) {
            link.heard = Instant::now();
        }
    }
}

impl Handler<Detached> for OcppWallbox {
    type Result = ();

    fn handle(&mut self, msg: Detached, _: &mut Self::Context) {
        if self.link.as_ref().is_some_and(|l| l.conn == msg.conn) {
            info!(self.log, "charge point disconnected"; "reason" => &msg.why);
            self.drop_link(&format!("disconnected: {}", msg.why));
        }
    }
}

impl Handler<Poll> for OcppWallbox {
    type Result = Result<Reading, DeviceError>;

    fn handle(&mut self, _: Poll, _: &mut Self::Context) -> Self::Result {
        let now = Instant::now();
        let silent_for = Duration::from_secs(self.settings.timeout_s);
        let reading = match &self.link {
            None => Err(DeviceError::Transport(
                "the charge point is not connected".into(),
            )),
            Some(link) if now.saturating_duration_since(link.heard) > silent_for => {
                Err(DeviceError::Transport(format!(
                    "nothing heard from the charge point for {} s",
                    self.settings.timeout_s
                )))
            }
            Some(_) => {
                let fail_safe = FailSafe {
                    duration_s: i64::try_from(profiles::LIVE_SECS).unwrap_or(0),
                    current_ma: self.settings.fail_safe_current,
                };
                let command = (
                    self.link
                        .as_ref()
                        .and_then(|l| l.sent.live)
                        .map_or(0, |(limit, _)| limit.ma),
                    self.command.1,
                );
                self.connector
                    .reading(command, fail_safe)
                    .map(Reading::Evse)
                    .map_err(DeviceError::Protocol)
            }
        };
        match &reading {
            Ok(_) => {
                self.com.record_poll(Ok(()), now);
                log_notice(&self.log, self.failures.succeeded(now), None);
            }
            Err(e) => {
                // A lasting failure counts once, not at every poll.
                if !self.com.com_err {
                    self.com.record_poll(Err(e), now);
                }
                if self.first_connect_by.is_none_or(|by| now >= by) {
                    log_notice(&self.log, self.failures.failed(now), Some(e));
                }
            }
        }
        reading
    }
}

impl Handler<Apply> for OcppWallbox {
    type Result = Result<(), DeviceError>;

    fn handle(&mut self, apply: Apply, _: &mut Self::Context) -> Self::Result {
        let effective = |(ma, on): (i64, bool)| if on { ma } else { 0 };
        let before = effective(self.command);
        self.command = (apply.current_ma, apply.enable);
        self.connector.commanded(before, effective(self.command));
        self.connected()?;
        self.send_profiles();
        Ok(())
    }
}

impl Handler<RemoteStart> for OcppWallbox {
    type Result = Result<(), DeviceError>;

    fn handle(&mut self, msg: RemoteStart, _: &mut Self::Context) -> Self::Result {
        self.connected()?;
        let connector = self.connector_id();
        self.call(
            "RemoteStartTransaction",
            &json!({"connectorId": connector, "idTag": msg.id_tag}),
        );
        Ok(())
    }
}

impl Handler<RemoteStop> for OcppWallbox {
    type Result = Result<(), DeviceError>;

    fn handle(&mut self, _: RemoteStop, _: &mut Self::Context) -> Self::Result {
        self.connected()?;
        if let Some(tx) = self.connector.transaction {
            self.call("RemoteStopTransaction", &json!({"transactionId": tx}));
        }
        Ok(())
    }
}

impl Handler<ResetChargePoint> for OcppWallbox {
    type Result = Result<(), DeviceError>;

    fn handle(&mut self, _: ResetChargePoint, _: &mut Self::Context) -> Self::Result {
        self.connected()?;
        self.call("Reset", &json!({"type": "Soft"}));
        Ok(())
    }
}

impl Handler<Refused> for OcppWallbox {
    type Result = ();

    fn handle(&mut self, Refused(why): Refused, _: &mut Self::Context) {
        warn!(self.log, "reading refused"; "reason" => %why);
        self.com.failed(&why, Instant::now());
    }
}

impl Handler<PollAndStatus> for OcppWallbox {
    type Result = MessageResult<PollAndStatus>;

    fn handle(&mut self, _: PollAndStatus, ctx: &mut Self::Context) -> Self::Result {
        let reading = Handler::<Poll>::handle(self, Poll, ctx);
        let MessageResult(status) = Handler::<GetStatus>::handle(self, GetStatus, ctx);
        MessageResult(Polled { reading, status })
    }
}

impl Handler<GetStatus> for OcppWallbox {
    type Result = MessageResult<GetStatus>;

    fn handle(&mut self, _: GetStatus, _: &mut Self::Context) -> Self::Result {
        let model = self.model.clone().unwrap_or_else(|| {
            if self.link.is_some() {
                "starting".into()
            } else {
                "not connected".into()
            }
        });
        MessageResult(DeviceStatus {
            com: self.com.clone(),
            model,
            is_va: false,
            written_ma: self
                .link
                .as_ref()
                .and_then(|l| l.sent.live)
                .map(|(limit, _): (Limit, Instant)| limit.ma),
        })
    }
}

impl Handler<UpdateSettings> for OcppWallbox {
    type Result = ();

    fn handle(&mut self, UpdateSettings(settings): UpdateSettings, _: &mut Self::Context) {
        self.settings = settings;
        // A new fail-safe current is sent at the next cycle by itself.
        self.send_availability();
    }
}

impl Handler<Shutdown> for OcppWallbox {
    type Result = ();

    fn handle(&mut self, _: Shutdown, ctx: &mut Self::Context) {
        ctx.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Where cards would be checked; no card is shown in these tests.
    struct NoCards;

    impl Actor for NoCards {
        type Context = Context<Self>;
    }

    impl Handler<CheckCard> for NoCards {
        type Result = Result<String, String>;

        fn handle(&mut self, _: CheckCard, _: &mut Self::Context) -> Self::Result {
            Err("no cards here".into())
        }
    }

    #[test]
    fn a_charge_point_that_sends_faster_than_it_reads_gets_its_close_past_the_full_queue() {
        let settings: DeviceSettings =
            toml::from_str("dev_id = \"E1\"\ndev_type = \"evse_ocpp\"\naddress = \"CP1\"\n")
                .expect("settings");
        let log = Logger::root(slog::Discard, o!());
        actix::System::new().block_on(async move {
            let wallbox = OcppWallbox::new(Arc::new(settings), &log).start();
            let (out, mut written) = mpsc::channel(OUTBOUND_QUEUE);
            let (close, mut closing) = mpsc::channel(1);
            wallbox
                .send(Attach {
                    conn: 1,
                    out,
                    close,
                    cards: NoCards.start().recipient(),
                    peer: "test".into(),
                })
                .await
                .expect("attached");
            // Heartbeats whose answers nobody writes out: the queue fills,
            // and the one answer too many closes the connection.
            for n in 0..=OUTBOUND_QUEUE {
                let call = format!(r#"[2,"h{n}","Heartbeat",{{}}]"#);
                wallbox
                    .send(Inbound {
                        conn: 1,
                        text: call,
                    })
                    .await
                    .expect("the wallbox answers");
            }
            let why = closing
                .recv()
                .await
                .expect("a close, not a dropped channel");
            assert!(why.contains("faster than it reads"), "{why}");
            let mut answers = 0;
            while written.recv().await.is_some() {
                answers += 1;
            }
            assert_eq!(answers, OUTBOUND_QUEUE, "the queue was full");
            // The link is gone: the wallbox is not connected.
            let status = wallbox.send(GetStatus).await.expect("status");
            assert_eq!(status.model, "not connected");
            assert!(status.com.com_err, "{:?}", status.com);
        });
    }
}
