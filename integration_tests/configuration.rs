//! Configuration over the API, persistence across restarts, and the admin
//! password: what each command does with and without credentials.

use serde_json::{json, Value};

use crate::harness::{device_info, repo_file, state_configuration, Daemon, DaemonConfig};

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
    assert_eq!(params["devices"].as_array().map(Vec::len), Some(5));
}

#[tokio::test]
async fn what_get_params_reports_can_be_posted_back_unchanged() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = Daemon::start(config(dir.path(), 0)).await;
    let before = d.ok("cmd=get_params").await;
    let body = serde_json::json!({"devices": before["devices"], "title": before["title"]});
    let (status, answer) = send(&d, "cmd=set_params", Some(&body.to_string()), None).await;
    assert_eq!((status, answer), (200, serde_json::json!("ok")));
    let state = crate::harness::state_configuration(&dir.path().join("data/state.json"));
    let after = d.ok("cmd=get_params").await;
    assert_eq!(
        device_ids_and_names(&after),
        device_ids_and_names(&before),
        "nothing changed: {state}"
    );
}

fn device_ids_and_names(params: &Value) -> Vec<(Value, Value, Value)> {
    params["devices"]
        .as_array()
        .map(|all| {
            all.iter()
                .map(|d| {
                    (
                        d["dev_id"].clone(),
                        d["name"].clone(),
                        d["max_charging_cur"].clone(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
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
    assert_eq!(d.stop().await, Some(0));

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
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert!(!d.logged("decision"), "no debug lines at level info");
    assert_eq!(
        d.ok_change("cmd=set_diag_logging&enable=1").await,
        json!("ok")
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
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
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    d.clear_log();
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
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
    let info = d
        .wait_for(
            std::time::Duration::from_secs(15),
            "the rule decides",
            |i| device_info(i, "E1")["rule_id"] == "E1/0",
        )
        .await;
    assert_eq!(device_info(&info, "E1")["rule_current"], 7000);
    assert!(device_info(&info, "E1")["lb_current"].as_i64() <= Some(7000));
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
