//! MQTT: the cFos topics on any broker, and Home Assistant discovery.
//!
//! Runs on a thread of its own, so that neither a broker that is down nor
//! a flood of messages can slow the cycle or the HTTP API. Three tasks:
//! the connection (reads the broker, reconnects after a pause), the
//! inbox (runs what comes in through the `/cnf` dispatcher, as HTTP
//! requests run) and the publisher (the state every `interval_ms`, at
//! once when a wallbox's state or current changes, the charging log's rows,
//! and the discovery configs).

mod client;
mod discovery;
mod limiter;
pub mod settings;
pub mod status;
mod topics;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::web;
use actors::charging_log::Transaction;
use actors::drivers::{evse_ajax, meter_ajax};
use actors::plant::Plant;
use actors::supervisor::Snapshot;
use rumqttc::{AsyncClient, Event, Packet, Publish, QoS};
use serde_json::Value;
use slog::{info, warn, Logger};
use tokio::sync::{broadcast, mpsc, oneshot, watch};

use crate::api::{self, AppState, Caller, Params};
pub use settings::MqttSettings;
pub use status::{Status, StatusView};
use topics::{Incoming, Topics};

/// Messages waiting for the inbox.
const INBOX: usize = 1024;

/// How long a message may wait for room in the inbox before it is
/// dropped (and said so).
const INBOX_WAIT: Duration = Duration::from_secs(1);

/// What MQTT reads of the daemon.
pub struct Inputs {
    pub app: web::Data<AppState>,
    pub snapshots: watch::Receiver<Arc<Snapshot>>,
    pub plant: watch::Receiver<Arc<Plant>>,
    pub closed: broadcast::Receiver<Transaction>,
}

/// The running client, to stop it at shutdown.
pub struct Mqtt {
    arbiter: actix::Arbiter,
    stop: Option<oneshot::Sender<()>>,
    stopped: oneshot::Receiver<()>,
}

impl Mqtt {
    /// Says `offline`, disconnects, and ends the thread: when this returns
    /// no task of this client runs any more.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
            let _ = tokio::time::timeout(Duration::from_secs(2), &mut self.stopped).await;
        }
        self.arbiter.stop();
        let arbiter = self.arbiter;
        let _ = tokio::time::timeout(
            Duration::from_secs(2),
            tokio::task::spawn_blocking(move || arbiter.join()),
        )
        .await;
    }
}

impl Inputs {
    /// The same inputs for the next client.
    pub fn again(&self) -> Inputs {
        Inputs {
            app: self.app.clone(),
            snapshots: self.snapshots.clone(),
            plant: self.plant.clone(),
            closed: self.closed.resubscribe(),
        }
    }
}

/// A restart with new settings, and where to say how it went.
type RestartRequest = (MqttSettings, oneshot::Sender<Result<(), String>>);

/// Asks the manager to restart the client with new settings (`set_mqtt`).
#[derive(Debug, Clone)]
pub struct Restarter(mpsc::Sender<RestartRequest>);

/// Where the manager takes its requests from.
pub struct Requests(mpsc::Receiver<RestartRequest>);

pub fn restarter() -> (Restarter, Requests) {
    let (tx, rx) = mpsc::channel(4);
    (Restarter(tx), Requests(rx))
}

impl Restarter {
    /// Stops the running client and starts one with `settings`; answers
    /// once the new one runs (or why it could not start).
    pub async fn restart(&self, settings: MqttSettings) -> Result<(), String> {
        let (done_tx, done_rx) = oneshot::channel();
        self.0
            .send((settings, done_tx))
            .await
            .map_err(|_| "the MQTT client is shutting down".to_string())?;
        done_rx
            .await
            .map_err(|_| "the MQTT client is shutting down".to_string())?
    }
}

/// Whether `settings` can be started (the broker's address, TLS and its
/// certificate authorities), without starting anything.
pub fn check_start(settings: &MqttSettings, serialno: &str) -> Result<(), String> {
    if !settings.enabled() {
        return Ok(());
    }
    let broker = settings.broker()?;
    let topics = Topics::new(&settings.prefix);
    client::options(
        settings,
        &broker,
        &settings.client_id_for(serialno),
        &topics.status(),
    )
    .map(|_| ())
}

/// The one running client, restarted when its settings change: the old one
/// is stopped (its thread ended) before the new one starts, so there are
/// never two. Ends, stopping the client, when `stop` fires.
pub struct Manager {
    stop: oneshot::Sender<()>,
    done: tokio::task::JoinHandle<()>,
}

impl Manager {
    pub fn start(
        first: Option<Mqtt>,
        mut requests: Requests,
        serialno: String,
        status: Status,
        inputs: Inputs,
        log: Logger,
    ) -> Manager {
        let (stop_tx, mut stop_rx) = oneshot::channel::<()>();
        let done = tokio::spawn(async move {
            let mut running = first;
            loop {
                let (settings, answer) = tokio::select! {
                    request = requests.0.recv() => match request {
                        Some(request) => request,
                        None => break,
                    },
                    _ = &mut stop_rx => break,
                };
                if let Some(old) = running.take() {
                    old.stop().await;
                }
                status.reconfigure(&settings);
                let started = start(&settings, &serialno, status.clone(), inputs.again(), &log);
                let said = match started {
                    Ok(client) => {
                        running = client;
                        Ok(())
                    }
                    Err(e) => {
                        warn!(log, "MQTT cannot start"; "error" => &e);
                        status.set_disconnected(&e);
                        Err(e)
                    }
                };
                let _ = answer.send(said);
            }
            if let Some(client) = running {
                client.stop().await;
            }
        });
        Manager {
            stop: stop_tx,
            done,
        }
    }

    /// Stops the client and the manager.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.done.await;
    }
}

/// Starts the client if `[mqtt] url` is set.
pub fn start(
    settings: &MqttSettings,
    serialno: &str,
    status: Status,
    inputs: Inputs,
    log: &Logger,
) -> Result<Option<Mqtt>, String> {
    if !settings.enabled() {
        return Ok(None);
    }
    let broker = settings.broker()?;
    let topics = Topics::new(&settings.prefix);
    let client_id = settings.client_id_for(serialno);
    let options = client::options(settings, &broker, &client_id, &topics.status())?;
    let log = log.new(slog::o!("mqtt" => broker.display()));
    info!(log, "MQTT starts"; "client_id" => &client_id, "prefix" => &settings.prefix,
        "homeassistant" => settings.homeassistant, "allow_api_writes" => settings.allow_api_writes);
    let (stop_tx, stop_rx) = oneshot::channel();
    let (stopped_tx, stopped_rx) = oneshot::channel();
    let arbiter = actix::Arbiter::new();
    let settings = settings.clone();
    let serialno = serialno.to_string();
    let spawned = arbiter.spawn_fn(move || {
        let (client, mut eventloop) = AsyncClient::new(options, 1024);
        let mut network = rumqttc::NetworkOptions::new();
        network.set_connection_timeout(client::CONNECT_TIMEOUT_S);
        // Small messages go out at once, not held for the broker's ACK.
        network.set_tcp_nodelay(true);
        eventloop.set_network_options(network);
        let (inbox_tx, inbox_rx) = mpsc::channel(INBOX);
        let (connected_tx, connected_rx) = watch::channel(0u64);
        let shared = Arc::new(Shared {
            client,
            topics,
            settings,
            serialno,
            status,
            log,
        });
        actix::spawn(inbox(shared.clone(), inputs.app.clone(), inbox_rx));
        let publisher = Publisher {
            shared: shared.clone(),
            app: inputs.app,
            discovered: BTreeMap::new(),
            devices: BTreeSet::new(),
            wallboxes: Vec::new(),
        };
        actix::spawn(publisher.run(inputs.snapshots, inputs.plant, inputs.closed, connected_rx));
        actix::spawn(async move {
            connection(&shared, &mut eventloop, inbox_tx, connected_tx, stop_rx).await;
            let _ = stopped_tx.send(());
        });
    });
    if !spawned {
        return Err("cannot start the MQTT thread".into());
    }
    Ok(Some(Mqtt {
        arbiter,
        stop: Some(stop_tx),
        stopped: stopped_rx,
    }))
}

/// What the tasks share.
struct Shared {
    client: AsyncClient,
    topics: Topics,
    settings: MqttSettings,
    serialno: String,
    status: Status,
    log: Logger,
}

impl Shared {
    /// Queues a message; never waits. While disconnected nothing is queued
    /// (everything is sent afresh on reconnection).
    fn publish(&self, topic: String, retain: bool, payload: impl Into<Vec<u8>>) -> bool {
        if !self.status.connected() {
            return false;
        }
        let qos = if retain {
            QoS::AtLeastOnce
        } else {
            QoS::AtMostOnce
        };
        let sent = self.client.try_publish(topic, qos, retain, payload).is_ok();
        if sent {
            self.status.count_published(1);
        }
        sent
    }
}

/// Reads the broker until told to stop: connects, reconnects after a
/// pause, hands incoming messages to the inbox.
async fn connection(
    shared: &Shared,
    eventloop: &mut rumqttc::EventLoop,
    inbox: mpsc::Sender<Publish>,
    connected: watch::Sender<u64>,
    mut stop: oneshot::Receiver<()>,
) {
    let log = &shared.log;
    let mut backoff = client::Backoff::default();
    let mut limiter = limiter::Limiter::default();
    // The last error logged, and when: the same one again is said once
    // an hour, not at every attempt.
    let mut last_logged: Option<(String, Instant)> = None;
    loop {
        let event = tokio::select! {
            event = eventloop.poll() => event,
            _ = &mut stop => break,
        };
        match event {
            Ok(Event::Incoming(Packet::ConnAck(_))) => {
                // A clean session: subscribe anew each time.
                let topics = shared
                    .topics
                    .subscriptions()
                    .map(|topic| rumqttc::SubscribeFilter::new(topic, QoS::AtLeastOnce));
                let _ = shared.client.try_subscribe_many(topics);
            }
            Ok(Event::Incoming(Packet::SubAck(_))) => {
                // Connected once subscribed: from here on nothing sent to
                // the topics taken in is missed.
                backoff.reset();
                shared.status.set_connected();
                info!(log, "MQTT connected");
                last_logged = None;
                connected.send_modify(|generation| *generation += 1);
            }
            Ok(Event::Incoming(Packet::Publish(message))) => {
                shared.status.count_received();
                if message.payload.len() > api::MAX_BODY {
                    say_once(&mut limiter, log, "payload_too_large", || {
                        format!(
                            "MQTT message refused: {} bytes on {}, at most {} taken",
                            message.payload.len(),
                            message.topic,
                            api::MAX_BODY
                        )
                    });
                } else {
                    // A burst waits in the queue; what cannot be queued
                    // within a second is dropped, so that the connection is
                    // still read (and kept alive).
                    let queued = tokio::time::timeout(INBOX_WAIT, inbox.send(message)).await;
                    if !matches!(queued, Ok(Ok(()))) {
                        say_once(&mut limiter, log, "inbox_full", || {
                            "MQTT messages dropped: they come faster than they can be handled"
                                .into()
                        });
                    }
                }
            }
            Ok(_) => {}
            Err(e) => {
                let error = client::describe(&e);
                let was_connected = shared.status.connected();
                shared.status.set_disconnected(&error);
                let pause = backoff.next(client::refused_credentials(&e));
                let repeat = last_logged.as_ref().is_some_and(|(text, at)| {
                    *text == error && at.elapsed() < Duration::from_secs(3600)
                });
                if !repeat {
                    let what = if was_connected {
                        "MQTT connection lost"
                    } else {
                        "MQTT broker not reached"
                    };
                    warn!(log, "{what}"; "error" => &error, "retry_in_s" => pause.as_secs());
                    last_logged = Some((error, Instant::now()));
                }
                if was_connected {
                    connected.send_modify(|generation| *generation += 1);
                }
                tokio::select! {
                    () = tokio::time::sleep(pause) => {}
                    _ = &mut stop => break,
                }
            }
        }
    }
    // Stopping: say so (the will covers a crash), then let the event loop
    // send it.
    if shared.status.connected() {
        shared.publish(shared.topics.status(), true, "offline");
        let _ = shared.client.try_disconnect();
        let flush = async {
            while let Ok(event) = eventloop.poll().await {
                if matches!(event, Event::Outgoing(rumqttc::Outgoing::Disconnect)) {
                    break;
                }
            }
        };
        let _ = tokio::time::timeout(Duration::from_secs(1), flush).await;
    }
    info!(log, "MQTT stopped");
}

/// Logs a problem of `kind`, at most once a minute with the count of those
/// held back.
fn say_once(
    limiter: &mut limiter::Limiter,
    log: &Logger,
    kind: &'static str,
    what: impl FnOnce() -> String,
) {
    if let Some(held) = limiter.note(kind, Instant::now()) {
        warn!(log, "{}", what(); "more_since_last" => held, "kind" => kind);
    }
}

/// Runs what comes in, one message after the other.
async fn inbox(
    shared: Arc<Shared>,
    app: web::Data<AppState>,
    mut messages: mpsc::Receiver<Publish>,
) {
    let mut limiter = limiter::Limiter::default();
    while let Some(message) = messages.recv().await {
        handle(&shared, &app, &mut limiter, message).await;
    }
}

async fn handle(shared: &Shared, app: &AppState, limiter: &mut limiter::Limiter, message: Publish) {
    let log = &shared.log;
    let topic = message.topic.as_str();
    let incoming = shared.topics.classify(topic);
    if incoming == Incoming::Other {
        return;
    }
    // A retained command would run again at every reconnection, and a
    // retained reading would be fed as new long after it was true.
    if message.retain {
        say_once(limiter, log, "retained", || {
            format!("MQTT message on {topic} ignored: it is retained (publish commands and readings without the retain flag)")
        });
        return;
    }
    match incoming {
        Incoming::Set { dev_id } => {
            let dev_type = app.plant().find(dev_id).map(|d| d.settings.dev_type);
            let cmd = match dev_type {
                Some(t) if t.is(&meter_ajax::DRIVER) => "set_ajax_meter",
                Some(t) if t.is(&evse_ajax::DRIVER) => "set_ajax_evse",
                Some(other) => {
                    say_once(limiter, log, "set_not_http_input", || {
                        format!("MQTT {topic} refused: {dev_id} is {}, not an HTTP-input device (meter_ajax, evse_ajax)", other.with_article())
                    });
                    return;
                }
                None => {
                    say_once(limiter, log, "set_unknown_device", || {
                        format!("MQTT {topic} refused: no device {dev_id}")
                    });
                    return;
                }
            };
            // Feeding an HTTP-input device is what `set/` is for.
            let answer = run(
                app,
                Caller::Mqtt { may_change: true },
                &command(cmd, dev_id),
                &message.payload,
            )
            .await;
            if let Err(e) = answer {
                let kind = match e {
                    api::ApiError::BadBody(_) => "set_not_json",
                    api::ApiError::BadParam { .. } => "set_bad_value",
                    _ => "set_refused",
                };
                say_once(limiter, log, kind, || format!("MQTT {topic} refused: {e}"));
            }
        }
        Incoming::Api { query } => {
            let may_change = shared.settings.allow_api_writes;
            let text = match run(app, Caller::Mqtt { may_change }, query, &message.payload).await {
                Ok(answer) => answer,
                Err(e) => {
                    let kind = match e {
                        api::ApiError::Forbidden(_) => "api_refused",
                        _ => "api_error",
                    };
                    say_once(limiter, log, kind, || format!("MQTT {topic}: {e}"));
                    // As HTTP answers an error: the message as a JSON string.
                    Value::from(e.to_string()).to_string()
                }
            };
            shared.publish(shared.topics.api_res(), false, text);
        }
        Incoming::Control { dev_id, control } => {
            let payload = String::from_utf8_lossy(&message.payload);
            let done = match topics::control_query(dev_id, control, &payload) {
                Ok(query) => {
                    let may_change = shared.settings.allow_api_writes;
                    run(app, Caller::Mqtt { may_change }, &query, &[])
                        .await
                        .map(drop)
                        .map_err(|e| e.to_string())
                }
                Err(e) => Err(e),
            };
            if let Err(e) = done {
                say_once(limiter, log, "control_refused", || {
                    format!("MQTT {topic} refused: {e}")
                });
            }
        }
        Incoming::Other => {}
    }
}

/// `cmd=<cmd>&dev_id=<dev_id>`, whatever the dev_id holds.
fn command(cmd: &str, dev_id: &str) -> String {
    serde_urlencoded::to_string([("cmd", cmd), ("dev_id", dev_id)]).unwrap_or_default()
}

/// A command through the `/cnf` dispatcher; the answer as text.
async fn run(
    app: &AppState,
    caller: Caller<'_>,
    query: &str,
    payload: &[u8],
) -> Result<String, api::ApiError> {
    let params = Params::parse(query)?;
    let body = api::parse_body(payload)?;
    Ok(api::dispatch(app, &caller, &params, body)
        .await?
        .into_text())
}

/// Publishes the state and the discovery configs.
struct Publisher {
    shared: Arc<Shared>,
    app: web::Data<AppState>,
    /// The discovery configs published, by topic.
    discovered: BTreeMap<String, String>,
    /// The devices whose `get/<dev_id>` was published.
    devices: BTreeSet<String>,
    /// Each wallbox's state and current as last published.
    wallboxes: Vec<(u8, i64)>,
}

impl Publisher {
    async fn run(
        mut self,
        mut snapshots: watch::Receiver<Arc<Snapshot>>,
        mut plant: watch::Receiver<Arc<Plant>>,
        mut closed: broadcast::Receiver<Transaction>,
        mut connected: watch::Receiver<u64>,
    ) {
        let period = Duration::from_millis(self.shared.settings.interval_ms);
        let mut tick = tokio::time::interval(period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => self.publish_state().await,
                changed = snapshots.changed() => {
                    if changed.is_err() {
                        break;
                    }
                    let now = wallboxes(&snapshots.borrow_and_update());
                    if now != self.wallboxes {
                        self.wallboxes = now;
                        self.publish_state().await;
                        tick.reset();
                    }
                }
                changed = plant.changed() => {
                    if changed.is_err() {
                        break;
                    }
                    plant.borrow_and_update();
                    self.publish_discovery(false);
                    self.publish_state().await;
                }
                tx = closed.recv() => match tx {
                    Ok(tx) => self.publish_transaction(&tx),
                    Err(broadcast::error::RecvError::Lagged(missed)) => {
                        warn!(self.shared.log, "MQTT ta_log: transactions missed"; "count" => missed);
                    }
                    Err(broadcast::error::RecvError::Closed) => break,
                },
                changed = connected.changed() => {
                    if changed.is_err() {
                        break;
                    }
                    connected.borrow_and_update();
                    if self.shared.status.connected() {
                        self.on_connect().await;
                        tick.reset();
                    }
                }
            }
        }
    }

    /// After each (re)connection: say `online`, and send every
    /// retained message again (the broker may have lost them).
    async fn on_connect(&mut self) {
        let shared = &self.shared;
        shared.publish(shared.topics.status(), true, "online");
        self.publish_discovery(true);
        self.publish_state().await;
    }

    /// The discovery configs: all of them (`again`), or what changed; an
    /// entity no longer there gets an empty retained config, which removes
    /// it from Home Assistant.
    fn publish_discovery(&mut self, again: bool) {
        let shared = &self.shared;
        if !shared.settings.homeassistant || !shared.status.connected() {
            return;
        }
        let plant = self.app.plant();
        let devices: Vec<&actors::config::DeviceSettings> = plant
            .devices()
            .iter()
            .map(|d| d.settings.as_ref())
            .collect();
        let configs = discovery::Discovery {
            discovery_prefix: &shared.settings.discovery_prefix,
            topics: &shared.topics,
            serialno: &shared.serialno,
            controls: shared.settings.allow_api_writes,
        }
        .all(&devices);
        for topic in self.discovered.keys() {
            if !configs.contains_key(topic) {
                shared.publish(topic.clone(), true, Vec::new());
            }
        }
        for (topic, config) in &configs {
            if again || self.discovered.get(topic) != Some(config) {
                shared.publish(topic.clone(), true, config.clone());
            }
        }
        self.discovered = configs;
    }

    /// `get/dev_info`, `get/params` and each device's `get/<dev_id>`
    /// (retained; a device removed gets an empty retained message).
    async fn publish_state(&mut self) {
        let shared = self.shared.clone();
        if !shared.status.connected() {
            return;
        }
        let Ok(text) = run(
            &self.app,
            Caller::Mqtt { may_change: false },
            "cmd=get_dev_info",
            &[],
        )
        .await
        else {
            return;
        };
        let parsed: Value = serde_json::from_str(&text).unwrap_or_default();
        shared.publish(shared.topics.dev_info(), false, text);
        if let Some(params) = parsed.get("params") {
            shared.publish(shared.topics.params(), false, params.to_string());
        }
        let mut now = BTreeSet::new();
        for device in parsed
            .get("devices")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let Some(dev_id) = device.get("dev_id").and_then(Value::as_str) else {
                continue;
            };
            shared.publish(shared.topics.device(dev_id), true, device.to_string());
            now.insert(dev_id.to_string());
        }
        for gone in self.devices.difference(&now) {
            shared.publish(shared.topics.device(gone), true, Vec::new());
        }
        self.devices = now;
    }

    /// A closed transaction as a row of the charging log, without who
    /// (the user and the card are for the admin's eyes).
    fn publish_transaction(&self, tx: &Transaction) {
        let row = Transaction {
            user: String::new(),
            rfid: String::new(),
            ..tx.clone()
        }
        .csv_line();
        let shared = &self.shared;
        shared.publish(shared.topics.ta_log(), false, row.trim_end().to_string());
    }
}

/// Each wallbox's state and the current it is given.
fn wallboxes(snapshot: &Snapshot) -> Vec<(u8, i64)> {
    snapshot
        .evses
        .iter()
        .flatten()
        .map(|v| (v.state, v.lb_current))
        .collect()
}
