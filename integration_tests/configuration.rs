//! Configuration over the API, persistence across restarts, and the admin
//! password: what each command does with and without credentials.

use serde_json::{json, Value};

use crate::harness::{device_info, repo_file, state_configuration, Daemon, DaemonConfig, LOG_WAIT};

const PASSWORD: &str = "1234abcd";

/// The shipped settings in `dir`, so a restart finds the same state file.
fn config(dir: &std::path::Path, sim_base: u16) -> DaemonConfig {
    DaemonConfig {
        settings: std::fs::read_to_string(repo_file("settings.toml")).expect("settings"),
        env: vec![(
            "CHARGEBRAIN__SIMULATION__BASE_PORT".into(),
            sim_base.to_string(),
        )],
        dir: Some(dir.to_path_buf()),
    }
}

async fn send(d: &Daemon, query: &str, body: Option<&str>, password: Option<&str>) -> (u16, Value) {
    let url = format!("{}/cnf?{query}", d.base);
    let mut request = match body {
        Some(b) => d
            .client()
            .post(url)
            .header("Content-Type", "application/json")
            .body(b.to_string()),
        None => d.client().get(url),
    };
    if let Some(p) = password {
        request = request.basic_auth("admin", Some(p));
    }
    let resp = request.send().await.expect("request");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn device_types_are_listed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = Daemon::start(config(dir.path(), 0)).await;
    let types = d.ok("cmd=get_dev_types").await;
    assert_eq!(types["evse_powerbrain"], "cFos Power Brain Wallbox");
    assert_eq!(types["meter_orno_we516"], "Orno OR-WE-516");
    assert_eq!(types["evse_ajax"], "HTTP input");
    let params = d.ok("cmd=get_params").await;
    assert_eq!(params["dev_meta"], types);
    assert_eq!(params["devices"].as_array().map(Vec::len), Some(6));
}

#[tokio::test]
async fn what_get_params_reports_can_be_posted_back_unchanged() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = Daemon::start(config(dir.path(), 0)).await;
    // The whole answer, live values and all, posted back as read.
    let read = d.ok("cmd=get_params").await;
    let (status, answer) = send(&d, "cmd=set_params", Some(&read.to_string()), None).await;
    assert_eq!((status, answer), (200, serde_json::json!("ok")));
    // Nothing changed: every setting of every device and of the site reads
    // as before. (The stored file may now hold what was shown as a default,
    // a device's description and number.)
    assert_eq!(
        settings_of(&d.ok("cmd=get_params").await),
        settings_of(&read)
    );
}

#[tokio::test]
async fn changes_apply_at_once_and_survive_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sim = 0;
    let d = Daemon::start(config(dir.path(), sim)).await;
    let body = json!({
        "max_total_current": 25000, "title": "Garage", "min_pause_time": 120,
        "devices": [
            {"dev_id": "E1", "max_charging_cur": 10000, "prio": 3},
            {"dev_id": "M7", "dev_type": "meter_powerbrain", "address": "meter2", "id": 3, "name": "New meter"}
        ]
    });
    assert_eq!(
        d.post("cmd=set_params", body.to_string()).await,
        (200, json!("ok"))
    );
    let info = d.ok("cmd=get_dev_info").await;
    assert_eq!(info["params"]["max_total_current"], 25000);
    assert_eq!(info["params"]["title"], "Garage");
    assert_eq!(device_info(&info, "E1")["prio"], 3);
    // The new device runs: its actor answers Modbus.
    assert_eq!(d.ok("cmd=modbus&device=M7&read=8040").await, json!(41));
    assert_eq!(
        d.ok_change("cmd=accept_license&acc=1&allow_usage_stats=0")
            .await,
        json!("ok")
    );
    assert_eq!(d.ok_change("cmd=del_device&dev_id=M2").await, json!("ok"));
    assert_eq!(
        device_info(&d.ok("cmd=get_dev_info").await, "M2"),
        Value::Null
    );
    assert_eq!(d.ok_change("cmd=reset_device&dev_id=M1").await, json!("ok"));
    assert_eq!(
        d.ok("cmd=modbus&device=M1&read=8002").await,
        json!(1),
        "a reset device comes back"
    );
    // Killed without warning: what was acknowledged is on disk.
    d.kill().await;

    let d = Daemon::start(config(dir.path(), sim)).await;
    let info = d.ok("cmd=get_dev_info").await;
    assert_eq!(info["params"]["max_total_current"], 25000);
    assert_eq!(info["params"]["min_pause_time"], 120);
    assert_eq!(info["params"]["title"], "Garage");
    assert_eq!(device_info(&info, "E1")["max_charging_cur"], 10000);
    assert_eq!(device_info(&info, "M7")["name"], "New meter");
    assert_eq!(device_info(&info, "M2"), Value::Null);
    let state: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("data/state.json")).expect("state file"),
    )
    .expect("state is JSON");
    assert_eq!(
        state["license"],
        json!({"accepted": true, "allow_usage_stats": false})
    );
}

/// The settings of a `get_params` answer: every parameter and device key
/// that is not a measurement of the moment.
fn settings_of(params: &Value) -> Value {
    const PARAMS: &[&str] = &[
        "title",
        "desc",
        "max_total_current",
        "reserve_current",
        "max_total_evse_current",
        "lb_enabled",
        "disable_policy",
        "cycle_time",
        "cycle_time_ms",
        "max_imbalance",
        "imbalance_add",
        "min_pause_time",
        "meter_timeout_s",
        "evse_fault_after_s",
        "voltage",
        "price_level",
        "max_total_power",
        "power_reserve",
        "max_total_evse_power",
        "loadmgr_disabled",
        "vsn",
        "version",
        "dev_meta",
    ];
    const DEVICE: &[&str] = &[
        "dev_type",
        "device_enabled",
        "name",
        "address",
        "id",
        "dev_id",
        "number",
        "desc",
        "is_evse",
        "used_phases",
        "label",
        "min_charging_cur",
        "max_charging_cur",
        "prio",
        "phase_rotation",
        "group",
        "attach",
        "charging_rules",
        "role",
        "invert",
    ];
    let pick = |from: &Value, keys: &[&str]| -> Value {
        keys.iter()
            .filter_map(|k| from.get(*k).map(|v| ((*k).to_string(), v.clone())))
            .collect::<serde_json::Map<_, _>>()
            .into()
    };
    let mut out = pick(params, PARAMS);
    out["devices"] = params["devices"]
        .as_array()
        .map(|all| all.iter().map(|d| pick(d, DEVICE)).collect())
        .unwrap_or_default();
    out
}

#[tokio::test]
async fn get_params_edited_in_one_field_and_posted_back_whole_changes_that_field() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = Daemon::start(config(dir.path(), 0)).await;
    for query in ["cmd=get_params", "cmd=get_dev_info"] {
        let (status, text) = d.get_text(query).await;
        assert_eq!(status, 200);
        crate::harness::assert_no_duplicate_keys(&text);
    }
    let before = d.ok("cmd=get_params").await;
    // Flat, as firmware has it, with the devices and the type names.
    assert!(before.get("params").is_none());
    assert_eq!(before["max_total_current"], 32000);
    assert_eq!(before["max_total_evse_power"], 0);
    assert_eq!(before["loadmgr_disabled"], false);
    assert_eq!(before["auth_cnt"], 0);
    assert_eq!(before["vsn"]["vendorid"], 52997);
    assert!(before["vsn"]["serialno"]
        .as_str()
        .is_some_and(|s| !s.is_empty()));
    assert_eq!(before["dev_meta"]["meter_ajax"], "HTTP input");

    // One parameter and one device field edited; everything else, every
    // device and every report posted back as read.
    let mut body = before.clone();
    body["max_total_current"] = json!(25000);
    let e1 = body["devices"]
        .as_array_mut()
        .and_then(|all| all.iter_mut().find(|d| d["dev_id"] == "E1"))
        .expect("E1");
    e1["desc"] = json!("Carport, left");
    let (status, answer) = send(&d, "cmd=set_params", Some(&body.to_string()), None).await;
    assert_eq!((status, answer), (200, json!("ok")));

    let after = d.ok("cmd=get_params").await;
    let mut expected = settings_of(&before);
    expected["max_total_current"] = json!(25000);
    // The W figure follows the edited setting.
    expected["max_total_power"] = json!(25000 * 230 * 3 / 1000);
    expected["devices"][0]["desc"] = json!("Carport, left");
    assert_eq!(settings_of(&after), expected);

    // A device as cFos firmware 1.14 reports it, with keys chargebrain does
    // not act on: accepted, and those keys are named in a warning.
    let firmware = r#"{"devices": [{"dev_type": "evse_powerbrain", "device_enabled": 1, "name": "Wallbox 1",
        "address": "evse", "id": 1, "dev_id": "E1", "number": 2, "desc": "Left", "com_err": false,
        "com_err_secs": 470, "com_errors": 0, "status": "", "last_error": "", "is_evse": true,
        "used_phases": 0, "label": "", "min_charging_cur": 6000, "max_charging_cur": 16000, "prio": 1,
        "charging_enabled": true, "cur_charging_power": 2698, "current_l1": 3900, "current_l2": 3900,
        "current_l3": 3900, "last_set_charging_cur": 6000, "total_energy": 1662153, "phases": 7,
        "state": 3, "lreason": 0, "model": "cFos Power Brain,1.1,1.14.0,W00-001A", "paused": false,
        "pause_time": 300, "pause_min_time": 300, "needs_auth": false, "attach": "M1",
        "evse": {"cp_state": "Charging", "current": 6000, "enabled": true},
        "users": ["1170223812"], "fixed_rfid": "", "soft_meter": 7120572, "enable_snooze": true,
        "enable_wakeup": true, "battery_save_threshold": 0, "ocpp_gateway_client_id": "CP42"}]}"#;
    let (status, answer) = send(&d, "cmd=set_params", Some(firmware), None).await;
    assert_eq!((status, answer), (200, json!("ok")));
    let e1 = device_info(&d.ok("cmd=get_params").await, "E1");
    assert_eq!(
        (&e1["number"], &e1["desc"], &e1["attach"]),
        (&json!(2), &json!("Left"), &json!("M1"))
    );
    // The ignored keys are named in the log.
    d.wait_logged(&["E1.status", "E1.ocpp_gateway_client_id"], LOG_WAIT)
        .await;
}

#[tokio::test]
async fn rejected_changes_say_which_field_and_change_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = Daemon::start(config(dir.path(), 0)).await;
    let state_file = dir.path().join("data/state.json");
    let before = state_configuration(&state_file);
    let cases = [
        (r#"{"max_total_current": -5}"#, "max_total_current"),
        (
            r#"{"max_total_current": "a lot"}"#,
            "max_total_current: formula: at 3",
        ),
        (r#"{"max_total_current": true}"#, "params.max_total_current"),
        (
            r#"{"overdraft_cur": 7}"#,
            "overdraft_cur: can only be set to 0",
        ),
        (
            r#"{"devices": [{"dev_id": "E1", "min_charging_cur": 5000}]}"#,
            "min_charging_cur",
        ),
        (
            r#"{"devices": [{"dev_id": "E1", "max_charging_cur": 5999}]}"#,
            "max_charging_cur",
        ),
        (
            r#"{"devices": [{"dev_id": "E9", "dev_type": "teapot"}]}"#,
            "E9.dev_type",
        ),
        (
            r#"{"devices": [{"dev_id": "X1", "dev_type": "evse_powerbrain", "address": "evse"}]}"#,
            "dev_id",
        ),
        (
            r#"{"devices": [{"dev_id": "E8", "dev_type": "evse_powerbrain", "address": "nowhere"}]}"#,
            "E8.address",
        ),
        (
            r#"{"devices": [{"dev_id": "E8", "dev_type": "evse_powerbrain", "address": "evse", "alias": "meter1"}]}"#,
            "alias",
        ),
        (
            r#"{"devices": [{"dev_id": "E1", "group": 4}]}"#,
            "no evse_group E4",
        ),
        (r#"{"nonsense": true}"#, "unknown field `nonsense`"),
        ("[1, 2]", "expected a JSON object"),
        (
            r#"{"devices": [{"dev_id": "E7", "dev_type": "meter_elenker_meter", "address": "evse"}]}"#,
            "E7.dev_type: meter_elenker_meter (ModbusMeter 5A) is not supported yet",
        ),
        (
            r#"{"devices": [{"dev_id": "E1", "attach": "M9"}]}"#,
            "E1.attach: there is no meter M9",
        ),
        (
            r#"{"devices": [{"dev_id": "E1", "attach": "E2"}]}"#,
            "E1.attach: E2 is not a meter",
        ),
        (
            r#"{"max_total_current": "CM.fuse * 1000"}"#,
            "unknown name cm.fuse: no variable fuse is set",
        ),
    ];
    for (body, says) in cases {
        let (status, answer) = d.post("cmd=set_params", body).await;
        assert_eq!(status, 400, "{body} -> {answer}");
        let text = answer.as_str().unwrap_or_default();
        assert!(text.contains(says), "{body}: {text:?} should say {says:?}");
    }
    let (status, _) = d.change("cmd=set_params").await;
    assert_eq!(status, 400, "set_params needs a body");
    assert_eq!(d.change("cmd=del_device&dev_id=E77").await.0, 404);
    assert_eq!(d.change("cmd=reset_device&dev_id=E77").await.0, 404);
    assert_eq!(
        state_configuration(&state_file),
        before,
        "a rejected change was written"
    );
    assert_eq!(
        d.ok("cmd=get_dev_info").await["params"]["max_total_current"],
        32000
    );
}

#[tokio::test]
async fn every_command_with_no_wrong_and_right_password() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = Daemon::start(config(dir.path(), 0)).await;
    // No password yet: everything is open. Setting one needs no old password.
    d.set_password(PASSWORD).await;
    let state = std::fs::read_to_string(dir.path().join("data/state.json")).expect("state");
    assert!(
        state.contains("$argon2id$"),
        "the password is stored hashed"
    );
    assert!(!state.contains(PASSWORD), "never in clear");

    // (query, body, status without a password, with a wrong one, with the right one)
    let table: &[(&str, Option<&str>, [u16; 3])] = &[
        ("cmd=get_dev_info", None, [200, 200, 200]),
        ("cmd=get_params", None, [200, 200, 200]),
        ("cmd=get_dev_types", None, [200, 200, 200]),
        ("cmd=modbus&device=meter1&read=8002", None, [200, 200, 200]),
        (
            "cmd=modbus&device=evse&write=8091&value=0",
            Some(""),
            [401, 401, 200],
        ),
        (
            "cmd=set_params",
            Some(r#"{"reserve_current": 1000}"#),
            [401, 401, 200],
        ),
        ("cmd=reset_device&dev_id=M2", Some(""), [401, 401, 200]),
        ("cmd=accept_license&acc=1", Some(""), [401, 401, 200]),
        ("cmd=set_diag_logging&enable=0", Some(""), [401, 401, 200]),
        ("cmd=set_ajax_meter&dev_id=M1", None, [401, 401, 400]),
        ("cmd=del_device&dev_id=M2", Some(""), [401, 401, 200]),
        ("cmd=set_cm_vars&name=fuse&val=25", None, [401, 401, 200]),
        ("cmd=get_cm_vars", None, [200, 200, 200]),
        ("cmd=nonsense", None, [400, 400, 400]),
    ];
    for (query, body, expected) in table {
        let got = [
            send(&d, query, *body, None).await.0,
            send(&d, query, *body, Some("wrong")).await.0,
            send(&d, query, *body, Some(PASSWORD)).await.0,
        ];
        assert_eq!(got, *expected, "{query}");
    }
    let (status, answer) = send(&d, "cmd=set_params", Some("{}"), None).await;
    assert_eq!((status, answer), (401, json!("admin password required")));

    // change_admin_pwd checks old_pwd itself.
    assert_eq!(
        d.post(
            "cmd=change_admin_pwd",
            r#"{"old_pwd": "nope", "new_pwd": "x"}"#
        )
        .await
        .0,
        401
    );
    assert_eq!(
        d.post(
            "cmd=change_admin_pwd",
            json!({"old_pwd": PASSWORD, "new_pwd": "n3w"}).to_string()
        )
        .await,
        (200, json!("ok"))
    );
    assert_eq!(
        send(&d, "cmd=accept_license&acc=1", Some(""), Some(PASSWORD))
            .await
            .0,
        401,
        "the old one no longer works"
    );
    assert_eq!(
        send(&d, "cmd=accept_license&acc=1", Some(""), Some("n3w"))
            .await
            .0,
        200
    );
}

#[tokio::test]
async fn repeated_wrong_passwords_lock_the_client_out() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = Daemon::start(config(dir.path(), 0)).await;
    d.set_password(PASSWORD).await;
    for _ in 0..5 {
        assert_eq!(
            send(&d, "cmd=accept_license&acc=1", Some(""), Some("guess"))
                .await
                .0,
            401
        );
    }
    let (status, answer) = send(&d, "cmd=accept_license&acc=1", Some(""), Some(PASSWORD)).await;
    assert_eq!(status, 429, "locked out even with the right password");
    assert!(answer
        .as_str()
        .unwrap_or_default()
        .starts_with("too many wrong passwords"));
    assert_eq!(d.get("cmd=get_dev_info").await.0, 200, "reading stays open");
}

#[tokio::test]
async fn reading_can_require_the_password_too() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d =
        Daemon::start(config(dir.path(), 0).env("CHARGEBRAIN__HTTP__PUBLIC_READ", "false")).await;
    d.set_password(PASSWORD).await;
    assert_eq!(send(&d, "cmd=get_dev_info", None, None).await.0, 401);
    assert_eq!(
        send(&d, "cmd=get_dev_info", None, Some(PASSWORD)).await.0,
        200
    );
}

#[tokio::test]
async fn the_state_file_wins_over_the_settings_and_a_corrupt_one_stops_the_daemon() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sim = 0;
    let d = Daemon::start(config(dir.path(), sim)).await;
    d.post("cmd=set_params", r#"{"max_total_current": 40000}"#)
        .await;
    assert_eq!(d.stop().await, Some(0));
    // The settings say 32 A; the state file (changed through the API) says 40 A.
    let d =
        Daemon::start(config(dir.path(), sim).env("CHARGEBRAIN__LOAD__MAX_TOTAL_CURRENT", 20000))
            .await;
    assert_eq!(
        d.ok("cmd=get_dev_info").await["params"]["max_total_current"],
        40000
    );
    assert_eq!(d.stop().await, Some(0));

    let state_file = dir.path().join("data/state.json");
    std::fs::write(&state_file, "{\"version\": 1, \"title\": \"tru").expect("write");
    let err = match Daemon::try_start(config(dir.path(), sim)).await {
        Ok(_) => panic!("started on a corrupt state file"),
        Err(e) => e,
    };
    assert!(err.contains("state.json is corrupt"), "{err}");
    assert_eq!(
        std::fs::read_to_string(&state_file).expect("kept"),
        "{\"version\": 1, \"title\": \"tru"
    );
}

#[tokio::test]
async fn diagnostic_logging_shows_modbus_and_decisions_until_switched_off() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = Daemon::start(config(dir.path(), 0)).await;
    // Cycles have decided (a wallbox was read and given a reason)...
    d.wait_for(std::time::Duration::from_secs(15), "a decision", |i| {
        device_info(i, "E1")["lb_current"].as_i64() > Some(0)
    })
    .await;
    // ...without a debug line at level info.
    assert!(!d.logged("decision"), "no debug lines at level info");
    assert_eq!(
        d.ok_change("cmd=set_diag_logging&enable=1").await,
        json!("ok")
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !(d.logged("DEBG decision") && d.logged("DEBG answer")) {
        assert!(
            std::time::Instant::now() < deadline,
            "no diagnostic lines appeared"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(
        d.ok_change("cmd=set_diag_logging&enable=0").await,
        json!("ok")
    );
    // A line of a cycle under way at the switch may still come; after that,
    // none. That nothing is logged needs time to show: three cycles.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    d.clear_log();
    tokio::time::sleep(std::time::Duration::from_millis(3000)).await;
    assert!(!d.logged("decision"), "diagnostics went on after enable=0");
    assert_eq!(d.change("cmd=set_diag_logging&enable=2").await.0, 400);
}

/// `set_params` with `body` is refused with 400, saying `says`.
async fn refused(d: &Daemon, body: &'static str, says: &str) {
    let (status, answer) = d.post("cmd=set_params", body).await;
    assert_eq!(status, 400, "{answer}");
    assert!(
        answer.as_str().unwrap_or_default().contains(says),
        "{answer} should say {says:?}"
    );
}

#[tokio::test]
async fn charging_rules_are_set_checked_and_shown() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = Daemon::start(config(dir.path(), 0)).await;
    let bad = r#"{"devices": [{"dev_id": "E1", "charging_rules": [{"expr": "min(1"}]}]}"#;
    refused(
        &d,
        bad,
        "charging_rules: rule 0: expr: at 6: expected ',' or ')'",
    )
    .await;
    let good = r#"{"devices": [{"dev_id": "E1", "charging_rules": [{"current": 7000}]}]}"#;
    assert_eq!(d.post("cmd=set_params", good).await, (200, json!("ok")));
    // The simulated car at E1 could take 16 A; the rule allows 7 A.
    let info = d
        .wait_for(
            std::time::Duration::from_secs(15),
            "the rule decides",
            |i| {
                device_info(i, "E1")["rule_id"] == "E1/0"
                    && device_info(i, "E1")["lb_current"] == 7000
            },
        )
        .await;
    let e1 = device_info(&info, "E1");
    assert_eq!(e1["rule_current"], 7000);
    assert_eq!(e1["lb_reason"], "charging rule E1/0");
}

#[tokio::test]
async fn a_formula_limit_is_set_checked_and_followed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = Daemon::start(config(dir.path(), 0)).await;
    let bad = r#"{"devices": [{"dev_id": "E1", "max_charging_cur": "16000 - "}]}"#;
    refused(&d, bad, "max_charging_cur: formula: at 9").await;
    // A limit that follows the price level, re-evaluated every cycle.
    let limit = r#"{"price_level": 1, "devices": [{"dev_id": "E1", "max_charging_cur": "CM._price_level > 2 ? 6000 : 9000"}]}"#;
    assert_eq!(d.post("cmd=set_params", limit).await, (200, json!("ok")));
    let params = d.ok("cmd=get_params").await;
    assert_eq!(
        device_info(&params, "E1")["max_charging_cur"],
        "CM._price_level > 2 ? 6000 : 9000"
    );
    let wait = std::time::Duration::from_secs(15);
    let offered = |i: &Value| device_info(i, "E1")["lb_current"].as_i64();
    d.wait_for(wait, "E1 offered 9 A", |i| offered(i) == Some(9000))
        .await;
    let expensive = r#"{"price_level": 3}"#;
    assert_eq!(
        d.post("cmd=set_params", expensive).await,
        (200, json!("ok"))
    );
    d.wait_for(wait, "E1 offered 6 A", |i| offered(i) == Some(6000))
        .await;
    // The site limit may be a formula too; max_total_power shows its value.
    let site = r#"{"max_total_current": "CM._price_level > 2 ? 20000 : 32000"}"#;
    assert_eq!(d.post("cmd=set_params", site).await, (200, json!("ok")));
    let info = d
        .wait_for(wait, "the site formula evaluated", |i| {
            i["params"]["max_total_power"] == 20_000 * 230 * 3 / 1000
        })
        .await;
    assert_eq!(
        info["params"]["max_total_current"],
        "CM._price_level > 2 ? 20000 : 32000"
    );
}
