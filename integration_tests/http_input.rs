//! HTTP-input meters and wallboxes (`set_ajax_meter`, `set_ajax_evse`):
//! pushed values feed load management like polled ones.

use std::time::{Duration, Instant};

use actors::sim::closed_loop::{CarSettings, PlantSim, SimulationSettings};
use serde_json::{json, Value};

use crate::harness::{device_info, plain_settings, Daemon, DaemonConfig};

fn ajax_devices(timeout_s: u64) -> String {
    format!(
        "[[devices]]\ndev_id = \"E2\"\ndev_type = \"evse_ajax\"\nname = \"Carport\"\nmax_charging_cur = 32000\ntimeout_s = {timeout_s}\n\
         [[devices]]\ndev_id = \"M3\"\ndev_type = \"meter_ajax\"\nname = \"House\"\nrole = 1\ntimeout_s = {timeout_s}\n"
    )
}

#[tokio::test]
async fn a_meter_push_by_get_shows_in_get_dev_info() {
    let d = Daemon::start(DaemonConfig::new(plain_settings(&ajax_devices(60), 500))).await;
    let answer = d
        .ok("cmd=set_ajax_meter&dev_id=M3&model=TestModell&import_wh=12345&export_wh=23456&voltage=231,232,233&current=10001,10002,10003")
        .await;
    assert_eq!(answer, json!("ok"));
    let m = device_info(&d.ok("cmd=get_dev_info").await, "M3");
    assert_eq!(m["model"], "TestModell");
    assert_eq!(
        (m["import"].clone(), m["export"].clone()),
        (json!(12345), json!(23456))
    );
    assert_eq!(
        [&m["voltage_l1"], &m["voltage_l2"], &m["voltage_l3"]],
        [&json!(231), &json!(232), &json!(233)]
    );
    assert_eq!(
        [&m["current_l1"], &m["current_l2"], &m["current_l3"]],
        [&json!(10001), &json!(10002), &json!(10003)]
    );
    assert_eq!(m["com_err"], false);
    assert_eq!(m["dev_type"], "meter_ajax");
}

#[tokio::test]
async fn a_meter_push_by_post_accepts_import_vah_and_keeps_missing_fields() {
    let d = Daemon::start(DaemonConfig::new(plain_settings(&ajax_devices(60), 500))).await;
    let body = r#"{"model": "Flow", "import_vah": 500, "export_wh": 7, "voltage": [230, 231, 229.6], "current": [1000, -2000, 3000], "power_w": -230, "is_va": false}"#;
    assert_eq!(
        d.post("cmd=set_ajax_meter&dev_id=M3", body).await,
        (200, json!("ok"))
    );
    // A later push with only the currents keeps everything else.
    assert_eq!(
        d.post("cmd=set_ajax_meter&dev_id=M3", r#"{"current": [1, 2, 3]}"#)
            .await,
        (200, json!("ok"))
    );
    let m = device_info(&d.ok("cmd=get_dev_info").await, "M3");
    assert_eq!(m["import"], 500);
    assert_eq!(m["voltage_l3"], 230, "229.6 V rounds to 230");
    assert_eq!(m["power_w"], -230);
    assert_eq!(
        [&m["current_l1"], &m["current_l2"], &m["current_l3"]],
        [&json!(1), &json!(2), &json!(3)]
    );
}

#[tokio::test]
async fn an_http_wallbox_gets_its_share_and_is_told_what_to_do() {
    let d = Daemon::start(DaemonConfig::new(plain_settings(&ajax_devices(60), 500))).await;
    d.ok("cmd=set_ajax_meter&dev_id=M3&current=12000,12000,12000")
        .await;
    // No car yet: disabled.
    let answer = d.ok("cmd=set_ajax_evse&dev_id=E2&state=1").await;
    assert_eq!(
        answer,
        json!({"device_enabled": true, "charging_enabled": false, "paused": false, "charging_current": 0})
    );
    // A car arrives: 32 A less 12 A of house load, answered at once.
    let (status, answer) = d
        .post(
            "cmd=set_ajax_evse&dev_id=E2",
            r#"{"state": 2, "max_charging_current": 32000, "model": "Wallbox X", "rfid": "04AB"}"#,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(answer["charging_current"], 20_000);
    assert_eq!(answer["charging_enabled"], true);
    let e = device_info(&d.ok("cmd=get_dev_info").await, "E2");
    assert_eq!(
        (e["state"].clone(), e["model"].clone()),
        (json!(2), json!("Wallbox X"))
    );
    assert_eq!(e["lb_reason"], "site L1");
}

async fn wait_for(d: &Daemon, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    d.wait_for(Duration::from_secs(15), what, done).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pushed_overload_lowers_the_http_and_the_modbus_wallbox_together() {
    let plant = PlantSim::start(&SimulationSettings {
        base_port: 0,
        wallboxes: 1,
        cars: vec![CarSettings {
            wallbox: 1,
            phases: 3,
            max_current_ma: 32_000,
            arrive_s: 0,
            leave_s: 0,
            asleep: false,
        }],
        tick_ms: 50,
        ..SimulationSettings::default()
    })
    .await
    .expect("plant");
    let modbus_wallbox = format!(
        "[[devices]]\ndev_id = \"E1\"\ndev_type = \"evse_powerbrain\"\naddress = \"{}\"\nmax_charging_cur = 32000\n",
        plant.addresses["evse"]
    );
    let settings = plain_settings(&format!("{modbus_wallbox}{}", ajax_devices(60)), 2000)
        + "[load]\nmax_total_current = 32000\ncycle_time_ms = 500\n";
    let d = Daemon::start(DaemonConfig::new(settings)).await;

    // House 4 A: 28 A for two cars, 14 A each, once the Modbus wallbox's car is seen.
    // Its car plugged in, answering, and given current by load management.
    wait_for(&d, "E1 polled with its car", |i| {
        let e1 = device_info(i, "E1");
        matches!(e1["state"].as_i64(), Some(2..=5))
            && e1["com_err"] == false
            && e1["lb_current"].as_i64() > Some(0)
    })
    .await;
    d.ok("cmd=set_ajax_meter&dev_id=M3&current=4000,4000,4000")
        .await;
    let answer = d
        .ok("cmd=set_ajax_evse&dev_id=E2&state=3&max_charging_current=32000&current=0,0,0")
        .await;
    assert_eq!(answer["charging_current"], 14_000);
    wait_for(&d, "E1 at 14 A", |i| {
        device_info(i, "E1")["current_l1"] == 14_000
    })
    .await;
    d.ok("cmd=set_ajax_evse&dev_id=E2&current=14000,14000,14000")
        .await;

    // The house jumps to 8 A: 36 A in all, a 4 A overdraw, remembered for five
    // minutes: 32 − 8 − 4 = 20 A, 10 A each, for both wallboxes at once.
    assert_eq!(
        d.ok("cmd=set_ajax_meter&dev_id=M3&current=8000,8000,8000")
            .await,
        json!("ok")
    );
    let answer = d
        .ok("cmd=set_ajax_evse&dev_id=E2&current=14000,14000,14000")
        .await;
    assert_eq!(answer["charging_current"], 10_000);
    let info = d.ok("cmd=get_dev_info").await;
    assert_eq!(device_info(&info, "E1")["lb_current"], 10_000);
    assert_eq!(info["params"]["overdraft_cur"], 4000);
    let written = || plant.wallbox(1).and_then(|w| w.lock().read(8093, 1).ok());
    let deadline = Instant::now() + Duration::from_secs(15);
    while written() != Some(vec![100]) {
        assert!(
            Instant::now() < deadline,
            "the Modbus wallbox was not set to 10 A: {:?}",
            written()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn devices_not_pushed_in_time_get_a_communication_error() {
    let d = Daemon::start(DaemonConfig::new(plain_settings(&ajax_devices(1), 500))).await;
    d.ok("cmd=set_ajax_meter&dev_id=M3&current=1000,1000,1000")
        .await;
    d.ok("cmd=set_ajax_evse&dev_id=E2&state=3&current=6000,6000,6000")
        .await;
    let info = wait_for(&d, "both stale", |i| {
        device_info(i, "M3")["com_err"] == true && device_info(i, "E2")["com_err"] == true
    })
    .await;
    let e = device_info(&info, "E2");
    assert_eq!(e["state"], 6);
    assert_eq!(e["lb_reason"], "com error");
    assert_eq!(
        device_info(&info, "M3")["last_error"],
        "no values pushed for 1 s"
    );
    // A push brings it back.
    d.ok("cmd=set_ajax_meter&dev_id=M3&current=1000,1000,1000")
        .await;
    assert_eq!(
        device_info(&d.ok("cmd=get_dev_info").await, "M3")["com_err"],
        false
    );
}

#[tokio::test]
async fn bad_pushes_are_refused_and_change_nothing() {
    let settings = plain_settings(&ajax_devices(60), 500)
        + "[[devices]]\ndev_id = \"M9\"\ndev_type = \"meter_powerbrain\"\naddress = \"127.0.0.1:9\"\n";
    let d = Daemon::start(DaemonConfig::new(settings)).await;
    d.ok("cmd=set_ajax_meter&dev_id=M3&import_wh=100&voltage=230,230,230&current=1,2,3")
        .await;
    let before = device_info(&d.ok("cmd=get_dev_info").await, "M3");
    let get_cases: &[(&str, u16, &str)] = &[
        ("cmd=set_ajax_meter", 400, "missing parameter: dev_id"),
        ("cmd=set_ajax_meter&dev_id=M7", 404, "unknown device: M7"),
        (
            "cmd=set_ajax_meter&dev_id=E2",
            400,
            "E2 is an evse_ajax, not a meter_ajax",
        ),
        (
            "cmd=set_ajax_evse&dev_id=M3&state=2",
            400,
            "M3 is a meter_ajax, not an evse_ajax",
        ),
        (
            "cmd=set_ajax_meter&dev_id=M9&import_wh=1",
            400,
            "M9 is a meter_powerbrain",
        ),
        (
            "cmd=set_ajax_meter&dev_id=M3&import_wh=abc",
            400,
            "bad parameter import_wh: is not a number",
        ),
        (
            "cmd=set_ajax_meter&dev_id=M3&import_wh=-5",
            400,
            "bad parameter import_wh: -5 is not 0 to",
        ),
        (
            "cmd=set_ajax_meter&dev_id=M3&export_wh=1e30",
            400,
            "bad parameter export_wh",
        ),
        (
            "cmd=set_ajax_meter&dev_id=M3&voltage=230,230",
            400,
            "needs three values (L1, L2, L3), got 2",
        ),
        (
            "cmd=set_ajax_meter&dev_id=M3&voltage=230,230,230,230",
            400,
            "got 4",
        ),
        (
            "cmd=set_ajax_meter&dev_id=M3&voltage=230,-1,230",
            400,
            "bad parameter voltage: -1 is not 0 to 1000",
        ),
        (
            "cmd=set_ajax_meter&dev_id=M3&current=1,x,3",
            400,
            "bad parameter current: is not a number",
        ),
        (
            "cmd=set_ajax_meter&dev_id=M3&current=NaN,1,2",
            400,
            "bad parameter current",
        ),
        (
            "cmd=set_ajax_meter&dev_id=M3&is_va=maybe",
            400,
            "bad parameter is_va",
        ),
        (
            "cmd=set_ajax_evse&dev_id=E2&state=7",
            400,
            "bad parameter state: 7 is not 1 to 5",
        ),
        (
            "cmd=set_ajax_evse&dev_id=E2&state=0",
            400,
            "bad parameter state",
        ),
        (
            "cmd=set_ajax_evse&dev_id=E2&current=-1,0,0",
            400,
            "bad parameter current: -1 is not 0 to",
        ),
        (
            "cmd=set_ajax_evse&dev_id=E2&total_energy=-1",
            400,
            "bad parameter total_energy",
        ),
        (
            "cmd=set_ajax_evse&dev_id=E2&max_charging_current=big",
            400,
            "bad parameter max_charging_current",
        ),
    ];
    for (query, status, says) in get_cases {
        let (got, body) = d.get(query).await;
        let text = body.as_str().unwrap_or_default().to_string();
        assert_eq!(got, *status, "{query} -> {body}");
        assert!(text.contains(says), "{query}: {text:?} should say {says:?}");
    }
    let post_cases: &[(&str, String, u16, &str)] = &[
        (
            "cmd=set_ajax_meter&dev_id=M3",
            "{not json".into(),
            400,
            "bad request body: not JSON",
        ),
        (
            "cmd=set_ajax_meter&dev_id=M3",
            "[1,2,3]".into(),
            400,
            "expected a JSON object",
        ),
        (
            "cmd=set_ajax_meter&dev_id=M3",
            r#"{"current": "1,2"}"#.into(),
            400,
            "got 2",
        ),
        (
            "cmd=set_ajax_meter&dev_id=M3",
            r#"{"current": {"l1": 1}}"#.into(),
            400,
            "is not a list of three numbers",
        ),
        (
            "cmd=set_ajax_meter&dev_id=M3",
            r#"{"import_wh": true}"#.into(),
            400,
            "bad parameter import_wh",
        ),
        (
            "cmd=set_ajax_meter&dev_id=M3",
            r#"{"model": ["x"]}"#.into(),
            400,
            "bad parameter model",
        ),
        (
            "cmd=set_ajax_meter&dev_id=M3",
            format!(r#"{{"model": "{}"}}"#, "x".repeat(200)),
            400,
            "at most 100 characters",
        ),
        (
            "cmd=set_ajax_evse&dev_id=E2",
            r#"{"state": "charging"}"#.into(),
            400,
            "bad parameter state",
        ),
        (
            "cmd=set_ajax_meter&dev_id=M3",
            format!(r#"{{"model": "{}"}}"#, "x".repeat(70_000)),
            413,
            "larger than 64 KiB",
        ),
    ];
    for (query, body, status, says) in post_cases {
        let (got, answer) = d.post(query, body.clone()).await;
        let text = answer.as_str().unwrap_or_default().to_string();
        assert_eq!(got, *status, "{query} {body:.60} -> {answer}");
        assert!(
            text.contains(says),
            "{query} {body:.60}: {text:?} should say {says:?}"
        );
    }
    let after = device_info(&d.ok("cmd=get_dev_info").await, "M3");
    for key in ["import", "voltage_l1", "current_l1", "current_l3", "model"] {
        assert_eq!(after[key], before[key], "{key} changed by a rejected push");
    }
    let e = device_info(&d.ok("cmd=get_dev_info").await, "E2");
    assert_eq!(e["state"], 6, "no wallbox state was ever accepted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_periodic_cycle_does_not_undo_a_push() {
    // M9 accepts connections and never answers: every periodic cycle waits
    // for its timeout, so one is nearly always under way when a value is
    // pushed. Its answer from M3, read before the push, must not replace
    // the pushed one when it finally completes.
    let silent = std::net::TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0)).expect("bind");
    let settings = plain_settings(&ajax_devices(60), 400)
        + "[load]\ncycle_time_ms = 100\n"
        + &crate::harness::device(
            "M9",
            "meter_sdm630",
            &silent.local_addr().expect("addr").to_string(),
            1,
        );
    let d = Daemon::start(DaemonConfig::new(settings)).await;
    let errors = |i: &Value| device_info(i, "M9")["com_errors"].as_u64().unwrap_or(0);
    for amps in 1..=4 {
        let ma = amps * 1000;
        d.ok(&format!(
            "cmd=set_ajax_meter&dev_id=M3&current={ma},{ma},{ma}"
        ))
        .await;
        let seen = errors(&d.ok("cmd=get_dev_info").await);
        // Until two more polls of M9 failed (the cycle under way at the
        // push and the next one both completed), every answer shows the push.
        d.wait_for(Duration::from_secs(15), "two more cycles", |i| {
            assert_eq!(
                device_info(i, "M3")["current_l1"],
                ma,
                "push {amps}: an older reading replaced the pushed value"
            );
            errors(i) >= seen + 2
        })
        .await;
    }
}
