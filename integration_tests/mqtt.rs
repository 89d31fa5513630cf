//! MQTT through a real Mosquitto broker: the cFos topics, commands,
//! permissions, reconnection, bad input and Home Assistant discovery.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::broker::{Broker, Message, Subscriber};
use crate::harness::{device_info, get_path, Daemon, DaemonConfig, LOG_WAIT};

const WAIT: Duration = Duration::from_secs(20);

/// Two HTTP-input wallboxes and an HTTP-input house meter (consumption,
/// without the cars). Cycles a minute apart, so that what happens within
/// seconds of a message is the message's doing.
const DEVICES: &str = "\
[[devices]]\ndev_id = \"E1\"\ndev_type = \"evse_ajax\"\nname = \"Garage\"\nmax_charging_cur = 32000\ntimeout_s = 3600\n\
[[devices]]\ndev_id = \"E2\"\ndev_type = \"evse_ajax\"\nname = \"Carport\"\nmax_charging_cur = 32000\ntimeout_s = 3600\n\
[[devices]]\ndev_id = \"M4\"\ndev_type = \"meter_ajax\"\nname = \"House\"\nrole = 1\ntimeout_s = 3600\n";

fn settings(broker_url: &str, mqtt: &str) -> String {
    format!(
        "[simulation]\nenabled = false\n[log]\nlevel = \"debug\"\n\
         [load]\nmax_total_current = 32000\ncycle_time_ms = 60000\nmeter_timeout_s = 3600\n\
         [mqtt]\nurl = \"{broker_url}\"\ninterval_ms = 500\n{mqtt}\n{DEVICES}"
    )
}

async fn daemon(broker: &Broker, mqtt: &str) -> Daemon {
    let d = Daemon::start(DaemonConfig::new(settings(&broker.url(), mqtt))).await;
    wait_connected(&d).await;
    d
}

async fn wait_connected(d: &Daemon) -> Value {
    d.wait_for(WAIT, "MQTT connected", |info| {
        info["params"]["mqtt"]["state"] == "connected"
    })
    .await
}

/// A car charging at E1 and at E2, 5 A of house load: 27 A for the two.
async fn two_cars_charging(broker: &Broker, sub: &Subscriber) {
    sub.clear();
    broker
        .publish("cfos_mqtt/set/M4", r#"{"current": [5000, 5000, 5000]}"#)
        .await;
    for e in ["E1", "E2"] {
        broker
            .publish(
                &format!("cfos_mqtt/set/{e}"),
                r#"{"state": 3, "model": "Flow"}"#,
            )
            .await;
    }
    for e in ["E1", "E2"] {
        sub.wait_for(&format!("cfos_mqtt/get/{e}"), WAIT, |m| {
            m.json()["lb_current"] == 13_500
        })
        .await;
    }
}

/// The house draws 20 A: at most 12 A are left for the two cars of
/// `two_cars_charging` (less while the overdraw their 27 A made counts),
/// and both are lowered on `get/` long before the next cycle (a minute
/// apart): the push decides at once.
async fn house_at_20_a_lowers_both_cars(broker: &Broker, sub: &Subscriber) {
    sub.clear();
    let sent = Instant::now();
    broker
        .publish("cfos_mqtt/set/M4", r#"{"current": [20000, 20000, 20000]}"#)
        .await;
    for e in ["E1", "E2"] {
        sub.wait_for(&format!("cfos_mqtt/get/{e}"), WAIT, |m| {
            m.json()["lb_current"]
                .as_i64()
                .is_some_and(|ma| ma <= 6_000)
        })
        .await;
    }
    assert!(
        sent.elapsed() < Duration::from_secs(30),
        "before the next cycle"
    );
}

#[tokio::test]
async fn the_state_is_published_as_the_http_api_shows_it() {
    let broker = Broker::start().await;
    let sub = broker.subscribe(&["cfos_mqtt/#"]).await;
    let d = daemon(&broker, "").await;
    two_cars_charging(&broker, &sub).await;

    // get/dev_info is get_dev_info; get/params its params; get/<dev_id>
    // each device's object.
    let published = sub
        .wait_for("cfos_mqtt/get/dev_info", WAIT, |m| {
            device_info(&m.json(), "E2")["lb_current"] == 13_500
        })
        .await
        .json();
    let http = d.ok("cmd=get_dev_info").await;
    let keys = |v: &Value| -> BTreeSet<String> {
        v.as_object()
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default()
    };
    assert_eq!(keys(&published), keys(&http));
    assert_eq!(keys(&published["params"]), keys(&http["params"]));
    assert_eq!(published["params"]["vsn"], http["params"]["vsn"]);
    assert_eq!(published["params"]["mqtt"]["state"], "connected");
    // The settings in force beside the state, without the credentials.
    let mqtt = &http["params"]["mqtt"];
    assert_eq!(
        (
            &mqtt["prefix"],
            &mqtt["interval_ms"],
            &mqtt["homeassistant"],
            &mqtt["allow_api_writes"]
        ),
        (
            &json!("cfos_mqtt"),
            &json!(500),
            &json!(false),
            &json!(false)
        )
    );
    assert_eq!(mqtt["broker"], broker.url());
    let ids = |v: &Value| -> Vec<Value> {
        v["devices"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["dev_id"].clone())
            .collect()
    };
    assert_eq!(ids(&published), ids(&http));
    let params = sub.last("cfos_mqtt/get/params").expect("get/params").json();
    assert_eq!(keys(&params), keys(&http["params"]));
    assert_eq!(params["max_total_current"], 32000);
    let e1 = sub.last("cfos_mqtt/get/E1").expect("get/E1").json();
    assert_eq!(keys(&e1), keys(&device_info(&http, "E1")));
    assert_eq!(
        (e1["dev_id"].clone(), e1["state"].clone()),
        (json!("E1"), json!(3))
    );
    assert_eq!(e1["model"], "Flow");

    // A client that comes later gets the status and each device at once:
    // they are retained. dev_info and params are not.
    let late = broker.subscribe(&["cfos_mqtt/#"]).await;
    let status = late
        .wait_for("cfos_mqtt/status", WAIT, |m| m.retained)
        .await;
    assert_eq!(status.payload, "online");
    for dev in ["E1", "E2", "M4"] {
        let m = late
            .wait_for(&format!("cfos_mqtt/get/{dev}"), WAIT, |m| m.retained)
            .await;
        assert_eq!(m.json()["dev_id"], dev);
    }
    assert!(late
        .messages()
        .iter()
        .filter(|m| m.topic == "cfos_mqtt/get/dev_info")
        .all(|m| !m.retained));

    // The daemon's last will: killed, the broker says offline for it.
    d.kill().await;
    let offline = sub
        .wait_for("cfos_mqtt/status", Duration::from_secs(90), |m| {
            m.payload == "offline"
        })
        .await;
    assert_eq!(offline.payload, "offline");
}

#[tokio::test]
async fn a_meter_fed_over_set_lowers_every_car_before_the_next_cycle() {
    let broker = Broker::start().await;
    let sub = broker.subscribe(&["cfos_mqtt/get/+"]).await;
    let d = daemon(&broker, "").await;
    two_cars_charging(&broker, &sub).await;
    house_at_20_a_lowers_both_cars(&broker, &sub).await;
    let m4 = device_info(&d.ok("cmd=get_dev_info").await, "M4");
    assert_eq!(m4["current_l2"], 20000);
}

#[tokio::test]
async fn a_changed_wallbox_is_published_at_once_not_at_the_next_interval() {
    let broker = Broker::start().await;
    let sub = broker.subscribe(&["cfos_mqtt/get/+"]).await;
    // The state every hour, cycles every minute: only a change can make
    // anything go out within seconds.
    let settings =
        settings(&broker.url(), "").replace("interval_ms = 500", "interval_ms = 3600000");
    let d = Daemon::start(DaemonConfig::new(settings)).await;
    wait_connected(&d).await;
    two_cars_charging(&broker, &sub).await;
    house_at_20_a_lowers_both_cars(&broker, &sub).await;
    // A reading that changes no wallbox's current publishes nothing.
    sub.clear();
    broker
        .publish("cfos_mqtt/set/M4", r#"{"current": [20000, 20000, 20000]}"#)
        .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(sub.messages().is_empty(), "{:?}", sub.messages());
}

#[tokio::test]
async fn a_finished_session_is_published_on_ta_log_without_who_charged() {
    let broker = Broker::start().await;
    let sub = broker
        .subscribe(&["cfos_mqtt/ta_log", "cfos_mqtt/get/+"])
        .await;
    let d = daemon(&broker, "").await;
    let anna = r#"{"id": "anna", "name": "Anna", "dev_ids": ["E1"], "rfids": [{"id": "04AB"}]}"#;
    assert_eq!(d.post("cmd=set_user", anna).await, (200, json!("ok")));
    // Anna's car at E1 with her card: 10 kWh on the counter at plug-in,
    // 80 Wh more when it leaves (within what a counter may step at once).
    broker
        .publish("cfos_mqtt/set/E1", r#"{"state": 3, "total_energy": 10000}"#)
        .await;
    sub.wait_for("cfos_mqtt/get/E1", WAIT, |m| m.json()["state"] == 3)
        .await;
    assert_eq!(
        d.ok("cmd=enter_rfid&rfid=04AB&dev_id=E1").await,
        json!("E1")
    );
    // Authorised, it charges (who is not published: get/ shows what
    // anyone may see).
    let e1 = sub
        .wait_for("cfos_mqtt/get/E1", WAIT, |m| {
            m.json()["lb_current"] == 32_000
        })
        .await;
    assert_eq!(e1.json()["user"], "");
    assert!(
        sub.last("cfos_mqtt/ta_log").is_none(),
        "nothing finished yet"
    );
    broker
        .publish("cfos_mqtt/set/E1", r#"{"state": 1, "total_energy": 10080}"#)
        .await;

    // The row the charging log got, with the user and the card left out
    // (the cycles are a minute apart: the unplug push closed it).
    let row = sub.wait_for("cfos_mqtt/ta_log", WAIT, |_| true).await;
    let (_, log) = d.get_text("cmd=get_ta_log").await;
    let logged: Vec<&str> = log.lines().nth(1).expect("a row").split(',').collect();
    let published: Vec<&str> = row.payload.split(',').collect();
    assert_eq!(&logged[..3], ["E1", "anna", "04AB"]);
    assert_eq!(&published[..3], ["E1", "", ""]);
    assert_eq!(published[3..], logged[3..], "start, end and energy");
    assert_eq!(published[5], "80");
    assert!(!row.retained);
}

#[tokio::test]
async fn an_api_call_is_answered_on_api_res_and_changes_only_when_allowed() {
    let broker = Broker::start().await;
    let sub = broker
        .subscribe(&["cfos_mqtt/api_res", "cfos_mqtt/get/+"])
        .await;
    let d = daemon(&broker, "").await;
    two_cars_charging(&broker, &sub).await;

    // A read: the same JSON as over HTTP.
    broker.publish("cfos_mqtt/api/cmd=get_cm_vars", "").await;
    let res = sub.wait_for("cfos_mqtt/api_res", WAIT, |_| true).await;
    assert_eq!(res.json(), d.ok("cmd=get_cm_vars").await);
    sub.clear();

    // Writes are refused by default: the answer says why, nothing changes.
    broker
        .publish("cfos_mqtt/api/cmd=set_params", r#"{"lb_enabled": false}"#)
        .await;
    let res = sub.wait_for("cfos_mqtt/api_res", WAIT, |_| true).await;
    let text = res.json();
    assert!(
        text.as_str().unwrap().contains("allow_api_writes"),
        "{text}"
    );
    broker
        .publish("cfos_mqtt/api/cmd=override_device&dev_id=E1&flags=C", "")
        .await;
    // Home Assistant's controls are writes too.
    broker.publish("cfos_mqtt/ha/E1/charging/set", "OFF").await;
    sub.clear();
    // The answers come in order: once get_params' is here, the writes'
    // came before it (the override's may arrive after the clear, so it is
    // the answer with get_params' keys that is waited for).
    broker.publish("cfos_mqtt/api/cmd=get_params", "").await;
    sub.wait_for("cfos_mqtt/api_res", WAIT, |m| {
        m.json()["max_total_current"].is_number()
    })
    .await;
    let info = d.ok("cmd=get_dev_info").await;
    assert_eq!(info["params"]["lb_enabled"], true);
    assert_eq!(device_info(&info, "E1")["overrides"], 0);
    assert_eq!(device_info(&info, "E1")["lb_current"], 13_500);
    // Secrets never travel over MQTT, even when writes are allowed.
    sub.clear();
    broker
        .publish("cfos_mqtt/api/cmd=login", r#"{"password": "x"}"#)
        .await;
    let res = sub
        .wait_for("cfos_mqtt/api_res", WAIT, |m| m.json().is_string())
        .await;
    assert!(res.payload.contains("HTTP only"), "{}", res.payload);
    drop(d);

    // Allowed: the same commands act, through the same dispatcher (an
    // unknown one is answered as HTTP answers it).
    let d = daemon(&broker, "allow_api_writes = true").await;
    two_cars_charging(&broker, &sub).await;
    sub.clear();
    broker
        .publish("cfos_mqtt/api/cmd=override_device&dev_id=E1&flags=C", "")
        .await;
    let res = sub.wait_for("cfos_mqtt/api_res", WAIT, |_| true).await;
    assert_eq!(res.json(), "ok");
    sub.wait_for("cfos_mqtt/get/E1", WAIT, |m| m.json()["lb_current"] == 0)
        .await;
    sub.clear();
    broker.publish("cfos_mqtt/ha/E1/charging/set", "ON").await;
    sub.wait_for("cfos_mqtt/get/E1", WAIT, |m| m.json()["overrides"] == 0)
        .await;
    broker.publish("cfos_mqtt/ha/E2/mamps/set", "8000").await;
    sub.wait_for("cfos_mqtt/get/E2", WAIT, |m| {
        m.json()["ov_cur"] == 8000 && m.json()["lb_current"] == 8000
    })
    .await;
    sub.clear();
    broker.publish("cfos_mqtt/api/cmd=no_such_thing", "").await;
    let res = sub.wait_for("cfos_mqtt/api_res", WAIT, |_| true).await;
    let (_, http) = d.get("cmd=no_such_thing").await;
    assert_eq!(res.json(), http);
    d.wait_logged(&["configuration changed", "client: mqtt"], LOG_WAIT)
        .await;
}

#[tokio::test]
async fn the_broker_killed_and_restarted_the_daemon_cycles_on_and_republishes() {
    let mut broker = Broker::start().await;
    let config = DaemonConfig::new(
        std::fs::read_to_string(crate::harness::repo_file("settings.toml")).unwrap(),
    )
    .env("CHARGEBRAIN__SIMULATION__BASE_PORT", 0)
    .env("CHARGEBRAIN__MQTT__URL", broker.url())
    .env("CHARGEBRAIN__MQTT__HOMEASSISTANT", "true");
    let d = Daemon::start(config).await;
    wait_connected(&d).await;
    let cycles = |text: &str| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix("chargebrain_cycles_total "))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(-1.0)
    };

    broker.kill().await;
    let info = d
        .wait_for(WAIT, "the broker's loss noticed", |info| {
            info["params"]["mqtt"]["state"] == "disconnected"
        })
        .await;
    assert!(!info["params"]["mqtt"]["last_error"]
        .as_str()
        .unwrap()
        .is_empty());
    // Meanwhile the cycle runs on and the API answers.
    let (_, before) = get_path(&d, "/metrics").await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (status, after) = get_path(&d, "/metrics").await;
    assert_eq!(status, 200);
    assert!(
        cycles(&after) >= cycles(&before) + 2.0,
        "{} -> {}",
        cycles(&before),
        cycles(&after)
    );
    let (status, _) = get_path(&d, "/healthz").await;
    assert_eq!(status, 200);

    // Back: no retained message survived the broker (no persistence); the
    // daemon sends them all again.
    broker.restart().await;
    let sub = broker.subscribe(&["cfos_mqtt/#", "homeassistant/#"]).await;
    let info = wait_connected(&d).await;
    assert!(info["params"]["mqtt"]["connects"].as_u64().unwrap() >= 2);
    sub.wait_for("cfos_mqtt/status", WAIT, |m| m.payload == "online")
        .await;
    for dev in ["E1", "E2", "M1", "M2", "M3"] {
        sub.wait_for(&format!("cfos_mqtt/get/{dev}"), WAIT, |_| true)
            .await;
    }
    let late = broker
        .subscribe(&["cfos_mqtt/status", "homeassistant/#"])
        .await;
    late.wait_for("cfos_mqtt/status", WAIT, |m| {
        m.retained && m.payload == "online"
    })
    .await;
    late.wait_for(
        &format!(
            "homeassistant/sensor/chargebrain_{}_E1_power/config",
            serial(&d).await
        ),
        WAIT,
        |m| m.retained,
    )
    .await;
    assert_eq!(d.count_logged(&["MQTT connection lost"]), 1);
}

async fn serial(d: &Daemon) -> String {
    d.ok("cmd=get_dev_info").await["params"]["vsn"]["serialno"]
        .as_str()
        .unwrap()
        .to_string()
}

/// A broker with the account `chargebrain` and `password`; clients without
/// a user name are let in when `anonymous`.
async fn broker_with_account(password: &str, anonymous: bool) -> Broker {
    let config = format!("allow_anonymous {anonymous}\npassword_file $DIR/passwords\n");
    Broker::start_with(&config, |dir| {
        let status = std::process::Command::new("mosquitto_passwd")
            .args(["-b", "-c"])
            .arg(dir.join("passwords"))
            .args(["chargebrain", password])
            .status()
            .expect("mosquitto_passwd");
        assert!(status.success());
    })
    .await
}

#[tokio::test]
async fn a_wrong_password_is_reported_and_not_retried_in_a_tight_loop() {
    let broker = broker_with_account("right", false).await;
    let mqtt = "username = \"chargebrain\"\npassword = \"wrong\"";
    let d = Daemon::start(DaemonConfig::new(settings(&broker.url(), mqtt))).await;
    let info = d
        .wait_for(WAIT, "the refusal reported", |info| {
            info["params"]["mqtt"]["state"] == "disconnected"
        })
        .await;
    let error = info["params"]["mqtt"]["last_error"].as_str().unwrap();
    assert!(
        error.starts_with("the broker refused the credentials"),
        "{error}"
    );
    // Seconds later it has not tried again (the next try is a minute
    // after the refusal), and the log said it once. (Not 5 s: the HTTP
    // keep-alive ends then, and the client's next request would race it.)
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(broker.count_logged("New connection from"), 1);
    assert_eq!(
        d.count_logged(&["MQTT broker not reached", "credentials"]),
        1
    );
    assert!(
        !info["params"]["mqtt"].to_string().contains("wrong"),
        "the password is never shown"
    );
    // The API never waited for it.
    let started = Instant::now();
    d.ok("cmd=get_dev_info").await;
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn a_broker_that_never_answers_slows_neither_the_cycle_nor_the_api() {
    // Connections are taken by the kernel and never answered.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("mqtt://{}", silent.local_addr().unwrap());
    let config = DaemonConfig::new(
        std::fs::read_to_string(crate::harness::repo_file("settings.toml")).unwrap(),
    )
    .env("CHARGEBRAIN__SIMULATION__BASE_PORT", 0)
    .env("CHARGEBRAIN__MQTT__URL", url);
    let d = Daemon::start(config).await;
    let info = d
        .wait_for(WAIT, "the silence reported", |info| {
            info["params"]["mqtt"]["last_error"]
                .as_str()
                .is_some_and(|e| e.contains("no answer"))
        })
        .await;
    assert_eq!(info["params"]["mqtt"]["state"], "disconnected");
    // Cars charge as without MQTT.
    d.wait_for(WAIT, "a car charges", |info| {
        device_info(info, "E1")["lb_current"].as_i64().unwrap_or(0) > 0
    })
    .await;
    let (status, _) = get_path(&d, "/healthz").await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn bad_input_changes_nothing_and_is_logged_once() {
    let broker = Broker::start().await;
    let sub = broker
        .subscribe(&["cfos_mqtt/get/+", "cfos_mqtt/api_res"])
        .await;
    // Retained, they would feed a stale reading and run a command again at
    // every connection: they are ignored (said once).
    broker
        .publish_args(
            "cfos_mqtt/set/M4",
            &["-r", "-m", r#"{"current": [0, 0, 0], "model": "stale"}"#],
        )
        .await;
    broker
        .publish_args("cfos_mqtt/api/cmd=get_cm_vars", &["-r", "-m", ""])
        .await;
    // A wallbox group: a device, but not one fed from outside.
    let group = "[[devices]]\ndev_id = \"E9\"\ndev_type = \"evse_group\"\nmax_charging_cur = 32000";
    let d = daemon(&broker, group).await;
    let m4 = d
        .wait_for(WAIT, "the retained messages ignored", |_| {
            d_logged_retained(&d)
        })
        .await;
    assert_ne!(
        device_info(&m4, "M4")["model"],
        "stale",
        "the retained reading was not fed"
    );
    two_cars_charging(&broker, &sub).await;
    let before = device_info(&d.ok("cmd=get_dev_info").await, "M4");

    // Not JSON, twice: one line.
    broker.publish("cfos_mqtt/set/M4", "current=1,2,3").await;
    broker.publish("cfos_mqtt/set/M4", "{\"current\": [").await;
    // A device that does not exist, and one that is not fed from outside.
    broker
        .publish("cfos_mqtt/set/M99", r#"{"current": [1, 2, 3]}"#)
        .await;
    broker
        .publish("cfos_mqtt/set/E9", r#"{"current": [1, 2, 3]}"#)
        .await;
    // A value out of range.
    broker
        .publish("cfos_mqtt/set/M4", r#"{"current": [1e12, 0, 0]}"#)
        .await;
    // A megabyte.
    let big = format!(r#"{{"model": "{}"}}"#, "x".repeat(1 << 20));
    broker
        .publish_stdin("cfos_mqtt/set/M4", "-s", big.as_bytes())
        .await;
    // Ten thousand bad messages in a burst (one per line).
    let burst: String = (0..10_000).map(|i| format!("not json {i}\n")).collect();
    broker
        .publish_stdin("cfos_mqtt/set/M4", "-l", burst.as_bytes())
        .await;

    // Still connected and answering: a command after all that is answered.
    broker.publish("cfos_mqtt/api/cmd=get_cm_vars", "").await;
    sub.wait_for("cfos_mqtt/api_res", Duration::from_secs(60), |_| true)
        .await;
    let info = d.ok("cmd=get_dev_info").await;
    assert_eq!(info["params"]["mqtt"]["connects"], 1, "never disconnected");
    let after = device_info(&info, "M4");
    for key in ["current_l1", "current_l2", "current_l3", "model", "com_err"] {
        assert_eq!(after[key], before[key], "{key}");
    }
    assert_eq!(device_info(&info, "E1")["lb_current"], 13_500);
    // Each kind of problem said once.
    for (kind, what) in [
        ("set_not_json", "not JSON"),
        ("set_bad_value", "is not -1000000 to 1000000"),
        ("set_unknown_device", "no device M99"),
        (
            "set_not_http_input",
            "E9 is an evse_group, not an HTTP-input device",
        ),
        ("payload_too_large", "bytes on cfos_mqtt/set/M4"),
        ("retained", "retained"),
    ] {
        assert_eq!(
            d.count_logged(&["MQTT", &format!("kind: {kind}")]),
            1,
            "{kind}: {:?}",
            d.log_lines()
                .iter()
                .filter(|l| l.contains("MQTT"))
                .collect::<Vec<_>>()
        );
        assert!(d.count_logged(&[what]) >= 1, "{what}");
    }
    // A good message still works: 3 A of house load, 14.5 A each.
    sub.clear();
    broker
        .publish("cfos_mqtt/set/M4", r#"{"current": [3000, 3000, 3000]}"#)
        .await;
    sub.wait_for("cfos_mqtt/get/E1", WAIT, |m| {
        m.json()["lb_current"] == 14_500
    })
    .await;
}

fn d_logged_retained(d: &Daemon) -> bool {
    d.count_logged(&["MQTT", "kind: retained"]) == 1
}

/// What Home Assistant's MQTT integration requires of a discovered entity
/// of `component` (its platform schemas: `state_topic` for sensors and
/// binary sensors, `command_topic` for numbers and switches; a device
/// needs `identifiers` and the entity a `unique_id`), and the units its
/// device classes take.
fn check_entity(topic: &str, component: &str, c: &Value, state: &Value) {
    let required: &[&str] = match component {
        "sensor" | "binary_sensor" => &["state_topic"],
        "number" | "switch" => &["command_topic"],
        other => panic!("{topic}: unexpected component {other}"),
    };
    for key in required
        .iter()
        .chain(&["unique_id", "device", "availability_topic"])
    {
        assert!(
            c.get(*key).is_some_and(|v| !v.is_null()),
            "{topic}: no {key}"
        );
    }
    let ids = c["device"]["identifiers"]
        .as_array()
        .expect("identifiers a list");
    assert!(
        !ids.is_empty() && ids.iter().all(Value::is_string),
        "{topic}"
    );
    assert_eq!(c["availability_topic"], "cfos_mqtt/status");
    let object_id = c["unique_id"].as_str().unwrap();
    assert!(
        object_id
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || ch == '_' || ch == '-'),
        "{topic}"
    );
    assert_eq!(
        topic,
        format!("homeassistant/{component}/{object_id}/config")
    );
    // The entity id it asks for: `<component>.<slug>`, a slug of lower
    // case letters, digits and single underscores between them (Home
    // Assistant's `valid_entity_id`); `object_id` is deprecated there.
    let entity_id = c["default_entity_id"].as_str().expect("default_entity_id");
    let (domain, slug) = entity_id.split_once('.').expect("domain.slug");
    assert_eq!(domain, component, "{topic}");
    assert!(
        !slug.is_empty()
            && slug
                .chars()
                .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '_')
            && !slug.starts_with('_')
            && !slug.ends_with('_')
            && !slug.contains("__"),
        "{topic}: {entity_id}"
    );
    assert!(c.get("object_id").is_none(), "{topic}");
    let unit = c["unit_of_measurement"].as_str();
    match c["device_class"].as_str() {
        Some("power") => assert_eq!(unit, Some("W"), "{topic}"),
        Some("energy") => {
            assert_eq!(unit, Some("Wh"), "{topic}");
            assert_eq!(c["state_class"], "total_increasing", "{topic}");
        }
        Some("current") => assert!(matches!(unit, Some("A" | "mA")), "{topic}"),
        Some("voltage") => assert_eq!(unit, Some("V"), "{topic}"),
        Some("problem") => assert_eq!(component, "binary_sensor"),
        None => {}
        Some(other) => panic!("{topic}: device class {other}"),
    }
    // Each field a template reads is in the device's published state.
    let template = c["value_template"].as_str().unwrap_or_default();
    for field in template.split("value_json.").skip(1) {
        let name: String = field
            .chars()
            .take_while(|ch| ch.is_ascii_alphanumeric() || *ch == '_')
            .collect();
        assert!(
            state.get(&name).is_some(),
            "{topic}: {name} not in the state"
        );
    }
}

#[tokio::test]
async fn home_assistant_discovery_of_a_wallbox_and_a_meter_and_their_removal() {
    let broker = Broker::start().await;
    let ha = broker.subscribe(&["homeassistant/#"]).await;
    let sub = broker.subscribe(&["cfos_mqtt/get/+"]).await;
    let d = daemon(&broker, "homeassistant = true\nallow_api_writes = true").await;
    two_cars_charging(&broker, &sub).await;
    let serial = serial(&d).await;
    let hub = format!("chargebrain_{serial}");
    let configs = |dev: &str| -> Vec<Message> {
        let base = format!("{hub}_{dev}_");
        let mut found: Vec<Message> = Vec::new();
        for m in ha.messages() {
            if m.topic.contains(&base) {
                found.retain(|f| f.topic != m.topic);
                found.push(m);
            }
        }
        found
    };
    ha.wait_for(
        &format!("homeassistant/binary_sensor/{hub}_M4_com_err/config"),
        WAIT,
        |_| true,
    )
    .await;
    let e1_state = sub.last("cfos_mqtt/get/E1").unwrap().json();
    let m4_state = sub.last("cfos_mqtt/get/M4").unwrap().json();
    let mut unique = BTreeSet::new();
    for (dev, state, expected) in [
        (
            "E1",
            &e1_state,
            &[
                "sensor/power",
                "sensor/energy",
                "sensor/current_l1",
                "sensor/current_l2",
                "sensor/current_l3",
                "sensor/state",
                "sensor/lb_reason",
                "number/mamps",
                "switch/charging",
                "switch/wallbox_rules",
                "switch/user_rules",
                "binary_sensor/com_err",
            ][..],
        ),
        (
            "M4",
            &m4_state,
            &[
                "sensor/power",
                "sensor/energy",
                "sensor/current_l1",
                "sensor/voltage_l1",
                "sensor/voltage_l3",
                "binary_sensor/com_err",
            ][..],
        ),
    ] {
        let found = configs(dev);
        for want in expected {
            let (component, key) = want.split_once('/').unwrap();
            let topic = format!("homeassistant/{component}/{hub}_{dev}_{key}/config");
            assert!(found.iter().any(|m| m.topic == topic), "{topic} missing");
        }
        for m in &found {
            let component = m.topic.split('/').nth(1).unwrap();
            let c = m.json();
            check_entity(&m.topic, component, &c, state);
            assert!(unique.insert(c["unique_id"].to_string()), "unique_id twice");
            assert_eq!(c["device"]["via_device"], hub.as_str());
            assert_eq!(c["device"]["identifiers"][0], format!("{hub}_{dev}"));
            if let Some(st) = c.get("state_topic") {
                assert_eq!(st, &json!(format!("cfos_mqtt/get/{dev}")));
            }
        }
    }
    let energy = configs("E1")
        .into_iter()
        .find(|m| m.topic.ends_with("_E1_energy/config"))
        .unwrap()
        .json();
    assert_eq!(energy["value_template"], "{{ value_json.total_energy }}");

    // Deleting M4 removes its entities: an empty retained config each.
    let m4_topics: Vec<String> = configs("M4").into_iter().map(|m| m.topic).collect();
    ha.clear();
    sub.clear();
    let (status, answer) = d.post("cmd=del_device&dev_id=M4", "{}").await;
    assert_eq!((status, answer), (200, json!("ok")));
    for topic in &m4_topics {
        ha.wait_for(topic, WAIT, |m| m.payload.is_empty()).await;
    }
    sub.wait_for("cfos_mqtt/get/M4", WAIT, |m| m.payload.is_empty())
        .await;
    let late = broker
        .subscribe(&["homeassistant/#", "cfos_mqtt/get/+"])
        .await;
    late.wait_for(
        &format!("homeassistant/sensor/{hub}_E1_power/config"),
        WAIT,
        |m| m.retained,
    )
    .await;
    assert!(
        late.messages()
            .iter()
            .all(|m| !m.topic.contains("_M4_") && m.topic != "cfos_mqtt/get/M4"),
        "a deleted device's configs are gone from the broker"
    );
}

#[tokio::test]
async fn without_writes_home_assistant_gets_no_controls() {
    let broker = Broker::start().await;
    let sub = broker.subscribe(&["homeassistant/#"]).await;
    let d = daemon(&broker, "homeassistant = true").await;
    let hub = format!("chargebrain_{}", serial(&d).await);
    sub.wait_for(
        &format!("homeassistant/sensor/{hub}_E1_power/config"),
        WAIT,
        |_| true,
    )
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(sub
        .messages()
        .iter()
        .all(|m| !m.topic.contains("/switch/") && !m.topic.contains("/number/")));
}

/// A certificate authority and a certificate for 127.0.0.1 signed by it,
/// made by openssl in `dir`.
fn make_certificates(dir: &std::path::Path) {
    let run = |args: &[&str]| {
        let out = std::process::Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=test CA",
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
    ]);
    run(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=127.0.0.1",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
    ]);
    std::fs::write(dir.join("san.ext"), "subjectAltName = IP:127.0.0.1\n").unwrap();
    run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "san.ext",
        "-out",
        "server.crt",
    ]);
    // Started as root, mosquitto reads them as its own user.
    use std::os::unix::fs::PermissionsExt;
    for (path, mode) in [(dir.to_path_buf(), 0o755), (dir.join("server.key"), 0o644)] {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }
}

#[tokio::test]
async fn mqtts_with_a_certificate_authority_of_its_own() {
    let broker = Broker::start_with(
        "allow_anonymous true\ncertfile $DIR/server.crt\nkeyfile $DIR/server.key\n",
        make_certificates,
    )
    .await;
    let url = format!("mqtts://127.0.0.1:{}", broker.port);
    let ca = broker.dir().join("ca.crt");
    let mqtt = format!("ca_file = \"{}\"", ca.display());
    let d = Daemon::start(DaemonConfig::new(settings(&url, &mqtt))).await;
    let info = wait_connected(&d).await;
    assert_eq!(info["params"]["mqtt"]["broker"], url);
    drop(d);
    // Without the authority, the system's do not know the certificate.
    let d = Daemon::start(DaemonConfig::new(settings(&url, ""))).await;
    let info = d
        .wait_for(WAIT, "the certificate refused", |info| {
            info["params"]["mqtt"]["state"] == "disconnected"
        })
        .await;
    let error = info["params"]["mqtt"]["last_error"].as_str().unwrap();
    assert!(
        error.contains("certificate") || error.contains("Tls") || error.contains("TLS"),
        "{error}"
    );
}

/// The MQTT settings as the page edits them: `set_mqtt` to a broker that
/// wants a password, refused input changing nothing, the client restarted
/// on a change (the old one gone before the new one connects), the
/// password never shown, and the state file's settings kept over
/// settings.toml's at the next start.
#[tokio::test]
async fn the_settings_changed_through_the_api_connect_the_daemon_and_are_kept() {
    // Anonymous clients (the test's) are let in; a client that names a
    // user must give its password.
    let broker = broker_with_account("s3cret-pw", true).await;
    let dir = tempfile::tempdir().unwrap();
    // settings.toml has no broker: MQTT is off until the page sets one.
    let config = || DaemonConfig {
        settings: settings("", ""),
        env: Vec::new(),
        dir: Some(dir.path().to_path_buf()),
    };
    let d = Daemon::start(config()).await;
    assert_eq!(
        d.ok("cmd=get_dev_info").await["params"]["mqtt"]["state"],
        "off"
    );
    let before = d.ok("cmd=get_mqtt").await;
    assert_eq!(before["source"], "settings.toml");
    assert_eq!(before["url"], "");

    let sub = broker
        .subscribe(&["site2/status", "site3/status", "site3/get/params"])
        .await;
    let url = broker.url();
    for (body, said) in [
        (json!({"url": "http://broker"}), "mqtt.url"),
        (
            json!({"url": format!("mqtt://chargebrain:s3cret-pw@{}", &url[7..])}),
            "own fields",
        ),
        (json!({"url": url, "interval_ms": 10}), "mqtt.interval_ms"),
        (json!({"url": url, "prefix": "a/+"}), "mqtt.prefix"),
        (json!({"url": url, "password": "x"}), "mqtt.password"),
        (json!({"url": url, "broker": "x"}), "unknown field broker"),
        (json!(["not", "an", "object"]), "JSON object"),
    ] {
        let (status, answer) = d.post("cmd=set_mqtt", body.to_string()).await;
        assert_eq!(status, 400, "{body} -> {answer}");
        assert!(answer.to_string().contains(said), "{body} -> {answer}");
    }
    assert_eq!(
        d.ok("cmd=get_mqtt").await,
        before,
        "refused input changed nothing"
    );
    assert_eq!(
        d.ok("cmd=get_dev_info").await["params"]["mqtt"]["state"],
        "off"
    );

    let body = json!({"url": url, "username": "chargebrain", "password": "s3cret-pw",
        "prefix": "site2", "interval_ms": 500});
    let (status, answer) = d.post("cmd=set_mqtt", body.to_string()).await;
    assert_eq!(status, 200, "{answer}");
    wait_connected(&d).await;
    sub.wait_for("site2/status", WAIT, |m| m.payload == "online")
        .await;
    assert!(
        broker.count_logged("u'chargebrain'") >= 1,
        "the daemon logged in with the user name given"
    );
    let shown = d.ok("cmd=get_mqtt").await;
    assert_eq!(
        (
            &shown["source"],
            &shown["prefix"],
            &shown["username"],
            &shown["password_set"]
        ),
        (
            &json!("state"),
            &json!("site2"),
            &json!("chargebrain"),
            &json!(true)
        )
    );
    assert!(!shown.to_string().contains("s3cret"), "{shown}");
    assert!(
        !d.log_lines().iter().any(|l| l.contains("s3cret")),
        "the password is never logged"
    );

    // A new prefix, the password field left empty: the same password goes
    // on; the client of the old prefix says offline before the new one
    // says online.
    let body = json!({"prefix": "site3", "password": ""});
    let (status, answer) = d.post("cmd=set_mqtt", body.to_string()).await;
    assert_eq!(status, 200, "{answer}");
    sub.wait_for("site3/get/params", WAIT, |_| true).await;
    let order: Vec<(String, String)> = sub
        .messages()
        .into_iter()
        .filter(|m| m.topic.ends_with("/status") && !m.retained)
        .map(|m| (m.topic, m.payload))
        .collect();
    let offline = order
        .iter()
        .position(|m| *m == ("site2/status".into(), "offline".into()));
    let online = order
        .iter()
        .position(|m| *m == ("site3/status".into(), "online".into()));
    assert!(
        offline.is_some() && offline < online,
        "the old client stopped before the new one started: {order:?}"
    );
    let info = wait_connected(&d).await;
    assert_eq!(info["params"]["mqtt"]["prefix"], "site3");

    // Each restart ends the old client's thread: changes back and forth
    // leave as many actix threads as before.
    let arbiters = || actix_threads(d.pid().expect("running"));
    let before = arbiters();
    for interval in [600, 700, 800] {
        let body = json!({ "interval_ms": interval });
        let (status, answer) = d.post("cmd=set_mqtt", body.to_string()).await;
        assert_eq!(status, 200, "{answer}");
        wait_connected(&d).await;
    }
    assert_eq!(arbiters(), before, "no client left running");
    d.stop().await;

    // At the next start the state file's settings are in force, not
    // settings.toml's (which has no broker).
    let d = Daemon::start(config()).await;
    let info = wait_connected(&d).await;
    assert_eq!(info["params"]["mqtt"]["prefix"], "site3");
    assert_eq!(d.ok("cmd=get_mqtt").await["source"], "state");
}

/// The daemon's threads that run actix arbiters (the MQTT client has one).
fn actix_threads(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .expect("/proc")
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .filter(|name| name.starts_with("actix-rt|system"))
        .count()
}
