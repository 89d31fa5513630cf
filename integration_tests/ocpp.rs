//! OCPP 1.6J wallboxes against the real binary: charge points simulated by
//! PyPI `ocpp` 2.x (`integration_tests/ocpp/charge_points.py`), which checks
//! every message it receives and every answer it gets against the official
//! OCPP 1.6 JSON schemas. The daemon's grid meter is an HTTP-input meter the
//! test pushes, so the house load is the test's to choose.

use std::collections::BTreeMap;
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

use crate::harness::{ask_line, device_info, repo_file, test_python, Daemon, DaemonConfig};

/// The site's limit per phase, mA.
const LIMIT_MA: i64 = 32_000;

/// Charge points driven by one Python process, command by command.
struct ChargePoints {
    _child: Child,
    stdin: ChildStdin,
    stdout: Lines<BufReader<ChildStdout>>,
    /// The live limit (A) last received by each charge point.
    live: BTreeMap<String, f64>,
}

impl ChargePoints {
    fn start(d: &Daemon) -> ChargePoints {
        let ws = format!("{}/ocpp/", d.base.replacen("http://", "ws://", 1));
        let mut child = Command::new(test_python())
            .arg(repo_file("integration_tests/ocpp/charge_points.py"))
            .arg(ws)
            .env("NO_PROXY", "127.0.0.1,localhost")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("the test venv's python runs");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = BufReader::new(child.stdout.take().expect("stdout")).lines();
        ChargePoints {
            _child: child,
            stdin,
            stdout,
            live: BTreeMap::new(),
        }
    }

    /// Runs one command for charge point `cp` and answers its result.
    async fn run(&mut self, cp: &str, cmd: &str, args: Value) -> Value {
        let mut line = json!({"cp": cp, "cmd": cmd});
        if let (Some(line), Value::Object(args)) = (line.as_object_mut(), args) {
            line.extend(args);
        }
        let value = ask_line(
            &mut self.stdin,
            &mut self.stdout,
            &line,
            Duration::from_secs(30),
        )
        .await;
        assert!(value.get("error").is_none(), "{line}: {value}");
        value
    }

    /// Connects, boots, and reports a car charging with `amps` per phase.
    async fn charging(&mut self, cp: &str, amps: f64) {
        assert_eq!(self.run(cp, "connect", json!({})).await["ok"], true);
        let boot = self.run(cp, "boot", json!({})).await;
        assert_eq!(boot["status"], "Accepted", "{boot}");
        self.run(cp, "status", json!({"status": "Charging"})).await;
        self.meter(cp, amps).await;
    }

    async fn meter(&mut self, cp: &str, amps: f64) {
        self.run(cp, "meter", json!({"amps": [amps, amps, amps], "wh": 1000}))
            .await;
    }

    /// The calls of `action` the central system made to `cp` since the last
    /// look, payloads as the library hands them over (snake case).
    async fn received(&mut self, cp: &str, action: &str) -> Vec<Value> {
        let got = self.run(cp, "received", json!({})).await;
        let calls: Vec<Value> = got["calls"].as_array().cloned().unwrap_or_default();
        for call in &calls {
            if let Some(limit) = live_limit(call) {
                self.live.insert(cp.to_string(), limit);
            }
        }
        calls
            .into_iter()
            .filter(|c| c[0] == action)
            .map(|c| c[1].clone())
            .collect()
    }

    /// The calls of `action` made to `cp`, waiting up to 15 s for the first.
    async fn wait_received(&mut self, cp: &str, action: &str) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let got = self.received(cp, action).await;
            if !got.is_empty() || Instant::now() >= deadline {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The sum of the live limits the charge points hold now, A.
    async fn live_sum(&mut self, cps: &[&str]) -> f64 {
        for cp in cps {
            self.received(cp, "").await;
        }
        cps.iter()
            .map(|cp| self.live.get(*cp).copied().unwrap_or(0.0))
            .sum()
    }
}

/// The limit of a live (stack level 1) SetChargingProfile call.
fn live_limit(call: &Value) -> Option<f64> {
    let profile = &call[1]["csChargingProfiles"];
    (call[0] == "SetChargingProfile" && profile["stack_level"] == 1)
        .then(|| profile["charging_schedule"]["charging_schedule_period"][0]["limit"].as_f64())
        .flatten()
}

fn settings(wallboxes: &[(&str, &str, &str)]) -> String {
    let mut s = format!(
        "[simulation]\nenabled = false\n[load]\nmax_total_current = {LIMIT_MA}\nevse_fault_after_s = 3\n\
         meter_timeout_s = 30\n[log]\nlevel = \"debug\"\n\
         [[devices]]\ndev_id = \"M1\"\ndev_type = \"meter_ajax\"\nrole = 3\n"
    );
    for (dev_id, cp, extra) in wallboxes {
        s += &format!(
            "[[devices]]\ndev_id = \"{dev_id}\"\ndev_type = \"evse_ocpp\"\naddress = \"{cp}\"\n\
             max_charging_cur = 16000\nfail_safe_current = 8000\n{extra}\n"
        );
    }
    s
}

async fn three_charge_points() -> Daemon {
    Daemon::start(DaemonConfig::new(settings(&[
        ("E1", "CP1", ""),
        ("E2", "CP2", ""),
        ("E3", "CP3", "password = \"s3cret\""),
    ])))
    .await
}

/// The grid meter reads the house load plus what the cars draw, mA per phase.
async fn push_grid(d: &Daemon, ma: i64) {
    let query = format!("cmd=set_ajax_meter&dev_id=M1&current={ma},{ma},{ma}&voltage=230,230,230");
    assert_eq!(d.ok_change(&query).await, json!("ok"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ocpp_charge_points_boot_report_and_share_the_site_limit() {
    let d = three_charge_points().await;
    let mut cps = ChargePoints::start(&d);
    let names = ["CP1", "CP2", "CP3"];
    // Each car draws 6 A on each phase; the house 10 A.
    push_grid(&d, 10_000 + 3 * 6_000).await;
    for cp in ["CP1", "CP2"] {
        cps.charging(cp, 6.0).await;
    }
    // The third connects with its password (security profile 1).
    let c = cps
        .run("CP3", "connect", json!({"password": "s3cret"}))
        .await;
    assert_eq!(
        (&c["ok"], &c["subprotocol"]),
        (&json!(true), &json!("ocpp1.6"))
    );
    cps.run("CP3", "boot", json!({})).await;
    cps.run("CP3", "status", json!({"status": "Charging"}))
        .await;
    cps.meter("CP3", 6.0).await;

    let info = d
        .wait_for(
            Duration::from_secs(10),
            "three OCPP wallboxes charging",
            |i| {
                ["E1", "E2", "E3"].iter().all(|e| {
                    let dev = device_info(i, e);
                    dev["state"] == 3 && dev["com_err"] == false && dev["current_l1"] == 6000
                })
            },
        )
        .await;
    let e1 = device_info(&info, "E1");
    assert_eq!(e1["model"], "chargebrain-tests,TestBox,,1.0,");
    assert_eq!(e1["dev_type"], "evse_ocpp");
    assert_eq!(e1["address"], "CP1");

    // At boot: per-phase meter values asked for, and the fail-safe profile.
    let config = cps.received("CP1", "ChangeConfiguration").await;
    let keys: Vec<&Value> = config.iter().map(|c| &c["key"]).collect();
    assert_eq!(
        keys,
        [
            &json!("MeterValueSampleInterval"),
            &json!("MeterValuesSampledData")
        ]
    );
    assert!(config[1]["value"]
        .as_str()
        .is_some_and(|v| v.contains("Current.Import")));
    tokio::time::sleep(Duration::from_secs(2)).await;
    let sum = cps.live_sum(&names).await;
    assert!(sum > 0.0, "the cars get current");
    assert!(
        sum * 1000.0 <= (LIMIT_MA - 10_000) as f64,
        "the live limits ({sum} A) fit beside the house's 10 A under {LIMIT_MA} mA"
    );

    // The house load steps up by 10 A: within two cycles the limits follow.
    push_grid(&d, 20_000 + 3 * 6_000).await;
    tokio::time::sleep(Duration::from_millis(2_300)).await;
    let sum = cps.live_sum(&names).await;
    assert!(
        sum * 1000.0 <= (LIMIT_MA - 20_000) as f64,
        "after the step the live limits ({sum} A) fit beside the house's 20 A: {:?}",
        cps.live
    );
}

const ANNA: &str =
    r#"{"id": "anna", "name": "Anna", "dev_ids": ["E1"], "rfids": [{"id": "04AB"}]}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ocpp_cards_are_checked_and_a_transaction_reaches_the_charging_log() {
    let d = three_charge_points().await;
    assert_eq!(d.post("cmd=set_user", ANNA).await, (200, json!("ok")));
    let mut cps = ChargePoints::start(&d);
    push_grid(&d, 10_000).await;
    cps.run("CP1", "connect", json!({})).await;
    cps.run("CP1", "boot", json!({})).await;
    cps.run("CP1", "status", json!({"status": "Available"}))
        .await;
    let refused = cps.run("CP1", "authorize", json!({"tag": "FFFF"})).await;
    assert_eq!(refused["status"], "Invalid");
    let accepted = cps.run("CP1", "authorize", json!({"tag": "04AB"})).await;
    assert_eq!(accepted["status"], "Accepted");
    cps.run("CP1", "status", json!({"status": "Preparing"}))
        .await;
    // The daemon sees the car before any meter values came (as a poll
    // under load may): the stay counts from the transaction's meterStart,
    // not from a meter that was not read yet.
    d.wait_for(Duration::from_secs(15), "E1's car seen", |i| {
        device_info(i, "E1")["state"] == 2
    })
    .await;
    let tx = cps
        .run("CP1", "start", json!({"tag": "04AB", "meter_start": 1000}))
        .await;
    assert_eq!(tx["status"], "Accepted");
    let tx_id = tx["transaction_id"].as_i64().expect("a transaction id");
    cps.run("CP1", "status", json!({"status": "Charging"}))
        .await;
    // The first meter values come late: the car charged 40 Wh meanwhile.
    cps.run("CP1", "meter", json!({"amps": [10, 10, 10], "wh": 1040}))
        .await;
    d.wait_for(Duration::from_secs(10), "anna charging at E1", |i| {
        let e1 = device_info(i, "E1");
        e1["state"] == 3 && e1["user"] == "anna"
    })
    .await;
    // Another card's user may not use E2: refused at E2 too.
    cps.run("CP2", "connect", json!({})).await;
    let elsewhere = cps.run("CP2", "authorize", json!({"tag": "04AB"})).await;
    assert_eq!(elsewhere["status"], "Invalid");

    cps.run("CP1", "meter", json!({"amps": [10, 10, 10], "wh": 1090}))
        .await;
    d.wait_for(Duration::from_secs(15), "E1's meter read", |i| {
        device_info(i, "E1")["total_energy"] == 1090
    })
    .await;
    // The admin stops charging (flag c): the charge point ends the transaction.
    d.ok_change("cmd=override_device&dev_id=E1&flags=c").await;
    let stops = cps.wait_received("CP1", "RemoteStopTransaction").await;
    assert_eq!(stops, [json!({"transactionId": tx_id})]);
    // reset_device restarts the charge point (Reset, soft).
    d.ok_change("cmd=reset_device&dev_id=E2").await;
    assert_eq!(
        cps.wait_received("CP2", "Reset").await,
        [json!({"type": "Soft"})]
    );
    // The stop's meterStop is 10 Wh past the last meter values.
    cps.run(
        "CP1",
        "stop",
        json!({"transaction_id": tx_id, "meter_stop": 1100, "tag": "04AB"}),
    )
    .await;
    cps.run("CP1", "status", json!({"status": "Finishing"}))
        .await;
    cps.run("CP1", "status", json!({"status": "Available"}))
        .await;
    let deadline = Instant::now() + Duration::from_secs(10);
    let log = loop {
        let (status, log) = d.get_text("cmd=get_ta_log").await;
        assert_eq!(status, 200);
        if log.lines().count() > 1 || Instant::now() > deadline {
            break log;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let row = log
        .lines()
        .find(|l| l.contains("E1"))
        .unwrap_or_else(|| panic!("no session of E1 in the charging log:\n{log}"));
    assert!(row.contains("anna") && row.contains("04AB"), "{row}");
    assert_eq!(
        row.rsplit(',').next(),
        Some("100"),
        "100 Wh charged from meterStart to meterStop: {row}\n{log}"
    );

    // The next car waits for a card; one entered through the API (a PIN
    // pad, the page) starts its transaction at the charge point.
    cps.run("CP1", "status", json!({"status": "Preparing"}))
        .await;
    d.wait_for(Duration::from_secs(10), "E1 waiting for a card", |i| {
        device_info(i, "E1")["state"] == 2
    })
    .await;
    assert_eq!(
        d.get("cmd=enter_rfid&rfid=04AB&dev_id=E1").await,
        (200, json!("E1"))
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    let starts = loop {
        let starts = cps.received("CP1", "RemoteStartTransaction").await;
        if !starts.is_empty() || Instant::now() > deadline {
            break starts;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(starts, [json!({"idTag": "04AB", "connectorId": 1})]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_ocpp_charge_point_counts_its_last_draw_then_its_fail_safe_and_resumes() {
    let d = three_charge_points().await;
    let mut cps = ChargePoints::start(&d);
    push_grid(&d, 10_000 + 16_000).await;
    cps.charging("CP1", 16.0).await;
    d.wait_for(Duration::from_secs(10), "E1 charging", |i| {
        device_info(i, "E1")["current_l1"] == 16_000
    })
    .await;
    cps.run("CP1", "disconnect", json!({})).await;
    let info = d
        .wait_for(Duration::from_secs(5), "E1 silent", |i| {
            device_info(i, "E1")["com_err"] == true
        })
        .await;
    let e1 = device_info(&info, "E1");
    assert_eq!(
        e1["current_l1"], 16_000,
        "its last draw counts at first: {e1}"
    );
    assert!(
        e1["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("not connected") || e.contains("disconnected")),
        "{e1}"
    );
    // After evse_fault_after_s (3 s), its own fail-safe current.
    d.wait_for(Duration::from_secs(10), "E1 at its fail-safe", |i| {
        device_info(i, "E1")["current_l1"] == 8_000
    })
    .await;
    // Back: it reconnects, boots and gets its profiles again.
    cps.charging("CP1", 10.0).await;
    d.wait_for(Duration::from_secs(10), "E1 back", |i| {
        let e1 = device_info(i, "E1");
        e1["com_err"] == false && e1["state"] == 3 && e1["current_l1"] == 10_000
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let profiles = cps.received("CP1", "SetChargingProfile").await;
    let levels: Vec<&Value> = profiles
        .iter()
        .map(|p| &p["csChargingProfiles"]["stack_level"])
        .collect();
    assert!(
        levels.contains(&&json!(0)) && levels.contains(&&json!(1)),
        "{profiles:?}"
    );
    let fail_safe = profiles
        .iter()
        .find(|p| p["csChargingProfiles"]["stack_level"] == 0)
        .map(|p| &p["csChargingProfiles"]["charging_schedule"]);
    assert_eq!(
        fail_safe.map(|s| (
            &s["charging_schedule_period"][0]["limit"],
            s.get("duration")
        )),
        Some((&json!(8.0), None)),
        "the fail-safe holds fail_safe_current without an end"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_charge_points_are_refused_listed_and_adopted_and_a_wrong_password_is_refused() {
    let d = three_charge_points().await;
    let mut cps = ChargePoints::start(&d);
    let wrong = cps
        .run("CP3", "connect", json!({"password": "guess"}))
        .await;
    assert_eq!(
        (&wrong["ok"], &wrong["status"]),
        (&json!(false), &json!(401))
    );
    let none = cps.run("CP3", "connect", json!({})).await;
    assert_eq!(none["status"], 401);

    let unknown = cps.run("NEW-7", "connect", json!({})).await;
    assert_eq!(
        (&unknown["ok"], &unknown["status"]),
        (&json!(false), &json!(404))
    );
    let info = d.ok("cmd=get_dev_info").await;
    let asking = &info["ocpp_asking"];
    assert_eq!(asking[0]["id"], "NEW-7", "{info}");
    assert_eq!(asking[0]["peer"], "127.0.0.1");
    assert!(device_info(&info, "E4").is_null());

    // Adoption is a change: POST, and only of a charge point that asked.
    let (status, _) = d.get("cmd=ocpp_adopt&id=NEW-7").await;
    assert_eq!(status, 405);
    let (status, err) = d.change("cmd=ocpp_adopt&id=NEVER").await;
    assert_eq!(status, 400, "{err}");
    let adopted = d.ok_change("cmd=ocpp_adopt&id=NEW-7").await;
    assert_eq!(adopted, json!({"dev_id": "E4"}));
    let info = d.ok("cmd=get_dev_info").await;
    assert!(
        info.get("ocpp_asking").is_none(),
        "no longer asking: {info}"
    );
    let e4 = device_info(&info, "E4");
    assert_eq!(
        (&e4["dev_type"], &e4["address"]),
        (&json!("evse_ocpp"), &json!("NEW-7"))
    );
    cps.charging("NEW-7", 6.0).await;
    d.wait_for(Duration::from_secs(10), "E4 charging", |i| {
        device_info(i, "E4")["state"] == 3
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_ocpp_input_is_answered_or_closes_that_connection_only() {
    let d = three_charge_points().await;
    let mut cps = ChargePoints::start(&d);
    push_grid(&d, 10_000).await;
    cps.charging("CP2", 6.0).await;
    cps.run("CP1", "raw_connect", json!({})).await;
    let answer = |text: &str| json!({"text": text});
    for (text, code, id) in [
        ("{not json", "FormationViolation", "-1"),
        (r#"[2,"a1","FlyToTheMoon",{}]"#, "NotImplemented", "a1"),
        (r#"[9,"a2","Heartbeat",{}]"#, "ProtocolError", "a2"),
        (
            r#"[2,"a3","StatusNotification",{"connectorId":"one"}]"#,
            "FormationViolation",
            "a3",
        ),
        (
            r#"[2,"a4","DataTransfer",{"vendorId":"x"}]"#,
            "NotSupported",
            "a4",
        ),
    ] {
        let got = cps.run("CP1", "raw", answer(text)).await;
        assert_eq!(
            (&got["reply"][0], &got["reply"][1], &got["reply"][2]),
            (&json!(4), &json!(id), &json!(code)),
            "{text}: {got}"
        );
    }
    // Still connected and answering.
    let ok = cps
        .run("CP1", "raw", answer(r#"[2,"a5","Heartbeat",{}]"#))
        .await;
    assert_eq!(
        (&ok["reply"][0], &ok["reply"][1]),
        (&json!(3), &json!("a5"))
    );
    // A frame above 64 KiB closes the connection (1009: too big).
    let big = cps.run("CP1", "raw", json!({"size": 70_000})).await;
    assert_eq!(big["closed"], 1009, "{big}");
    // 1 000 frames sent faster than they can be answered close it too,
    // with 1008 (policy) and a reason, whichever protection fires first
    // (the rate limit, or the answers piling up): the close gets out.
    for _ in 0..3 {
        cps.run("CP1", "raw_connect", json!({})).await;
        let flood = cps.run("CP1", "flood", json!({"n": 1000})).await;
        assert_eq!(flood["closed"], 1008, "{flood}");
        assert!(
            flood["reason"].as_str().is_some_and(|r| !r.is_empty()),
            "{flood}"
        );
    }
    // The other charge point and the HTTP API carry on.
    let beat = cps.run("CP2", "heartbeat", json!({})).await;
    assert!(beat["current_time"].is_string());
    let info = d.ok("cmd=get_dev_info").await;
    let e2 = device_info(&info, "E2");
    assert_eq!(
        (&e2["state"], &e2["com_err"]),
        (&json!(3), &json!(false)),
        "{e2}"
    );
    // A charge point that does not speak OCPP 1.6 is not let in.
    let url = format!("{}/ocpp/CP2", d.base);
    let plain = d.client().get(url).send().await.expect("GET");
    assert_eq!(plain.status().as_u16(), 400);
}
