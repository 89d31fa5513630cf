//! The admin page in a real browser (headless Chromium through chromedriver)
//! against the real daemon controlling the simulated plant over Modbus.
//! Screenshots go to `target/tmp/web-ui/`.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use actors::sim::closed_loop::{CarSettings, PlantSim, SimulationSettings};
use serde_json::Value;

use crate::harness::{device_info, repo_file, Daemon, DaemonConfig, LOG_WAIT};
use crate::webdriver::{Browser, WAIT};

fn artifacts() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("web-ui");
    std::fs::create_dir_all(&dir).expect("artifact directory");
    dir
}

/// Two wallboxes, each with a three-phase car, behind a grid meter.
async fn start_plant(house_ma: i64) -> PlantSim {
    let car = |wallbox| CarSettings {
        wallbox,
        phases: 3,
        max_current_ma: 16_000,
        arrive_s: 0,
        leave_s: 0,
        asleep: false,
    };
    PlantSim::start(&SimulationSettings {
        enabled: true,
        base_port: 0,
        wallboxes: 2,
        grid_meter: true,
        house_load_ma: [house_ma; 3],
        cars: vec![car(1), car(2)],
        tick_ms: 50,
        ..SimulationSettings::default()
    })
    .await
    .expect("plant")
}

fn settings(plant: &PlantSim) -> String {
    let mut s = "[modbus]\ntimeout_ms = 300\n[simulation]\nenabled = false\n\
                 [load]\nmax_total_current = 32000\ncycle_time_ms = 500\n"
        .to_string();
    for (n, name) in [(1, "evse"), (2, "evse2")] {
        s += &format!(
            "[[devices]]\ndev_id = \"E{n}\"\ndev_type = \"evse_powerbrain\"\nname = \"Wallbox {n}\"\n\
             address = \"{}\"\nid = 1\nmax_charging_cur = 16000\n",
            plant.addresses[name]
        );
    }
    s += &format!(
        "[[devices]]\ndev_id = \"M1\"\ndev_type = \"meter_sdm630\"\nname = \"Grid\"\n\
         address = \"{}\"\nid = 1\nrole = 3\n",
        plant.addresses["grid"]
    );
    s
}

/// "11.0 A" → 11.0
fn amperes(text: &str) -> Option<f64> {
    text.trim().strip_suffix(" A")?.trim().parse().ok()
}

#[tokio::test]
async fn the_dashboard_shows_the_wallboxes_live() {
    // 32 A site limit, 16 A house: the two cars share 16 A, 8 A each.
    let plant = start_plant(16_000).await;
    let d = Daemon::start(DaemonConfig::new(settings(&plant))).await;
    let browser = Browser::start(1280, 900).await;
    browser.goto(&format!("{}/", d.base)).await;
    browser.wait_for("[data-testid=site-summary]").await;
    let e1 = "[data-testid=tile-E1] [data-testid=charging-current]";
    let before = browser
        .wait_for_text(e1, |t| amperes(t).is_some_and(|a| (7.5..=8.5).contains(&a)))
        .await;
    browser.wait_for("[data-testid=tile-E2]").await;
    browser.wait_for("[data-testid=tile-M1]").await;
    // The state and the meter's role in the daemon's words (get_params's
    // `meta`): the car starts charging after it plugged in; M1 is the grid.
    let meta = d.ok("cmd=get_params").await["meta"].clone();
    let charging = meta["evse_states"]["3"].as_str().unwrap_or("?").to_string();
    browser
        .wait_for_text("[data-testid=tile-E1] [data-testid=state]", |t| {
            t == charging
        })
        .await;
    let grid = meta["roles"]["3"].as_str().unwrap_or("?").to_string();
    browser
        .wait_for_text("[data-testid=tile-M1] [data-testid=role]", |t| t == grid)
        .await;
    std::fs::write(
        artifacts().join("dashboard.png"),
        browser.screenshot().await,
    )
    .expect("dashboard screenshot");

    // The house now draws 6 A: 26 A are left, 13 A for each car, and the
    // page shows it without a reload. (A higher load would be as quick, but
    // the overdraw while the cars back off is remembered for five minutes,
    // which makes the outcome a matter of turns.)
    plant.set_house_load([6_000; 3]);
    let after = browser
        .wait_for_text(e1, |t| {
            amperes(t).is_some_and(|a| (12.5..=13.5).contains(&a))
        })
        .await;
    let info = d.ok("cmd=get_dev_info").await;
    let offered = device_info(&info, "E1")["lb_current"]
        .as_i64()
        .unwrap_or(-1);
    assert!(
        (12_500..=13_500).contains(&offered),
        "get_dev_info agrees: {offered} mA"
    );
    eprintln!("dashboard: E1 {before} → {after}");

    browser.set_window_size(390, 844).await;
    browser.wait_for("[data-testid=tile-E1]").await;
    // Let the layout settle at the new width before the picture.
    tokio::time::sleep(Duration::from_millis(300)).await;
    std::fs::write(artifacts().join("phone.png"), browser.screenshot().await)
        .expect("phone screenshot");
}

#[tokio::test]
async fn the_page_shows_the_mqtt_connection_and_its_settings() {
    let plant = start_plant(5000).await;
    let mut broker = crate::broker::Broker::start().await;
    let settings =
        settings(&plant) + &format!("[mqtt]\nurl = \"{}\"\nhomeassistant = true\n", broker.url());
    let d = Daemon::start(DaemonConfig::new(settings)).await;
    let browser = Browser::start(1280, 900).await;
    browser.goto(&format!("{}/", d.base)).await;
    let connected = format!("MQTT: connected to {} since", broker.url());
    browser
        .wait_for_text("[data-testid=site-summary] [data-testid=mqtt-state]", |t| {
            t.starts_with(&connected)
        })
        .await;

    // Settings: the same, and the settings in force.
    browser.click_on("[data-testid=nav-settings]").await;
    browser
        .wait_for_text("[data-testid=mqtt-state]", |t| t.starts_with(&connected))
        .await;
    let list = browser
        .wait_for_text("[data-testid=mqtt-settings]", |t| t.contains("cfos_mqtt/…"))
        .await;
    for shown in [
        "Home Assistant discovery\non",
        "Commands that change something\nrefused (only reads)",
        "State published every\n1 s",
    ] {
        assert!(list.contains(shown), "{shown:?} in {list:?}");
    }
    // (A click scrolls the panel into the picture.)
    browser.click_on("[data-testid=mqtt-settings]").await;
    std::fs::write(artifacts().join("mqtt.png"), browser.screenshot().await)
        .expect("MQTT screenshot");

    // The broker gone: the dashboard says so, and why, without a reload.
    broker.kill().await;
    browser.click_on("[data-testid=nav-dashboard]").await;
    let lost = browser
        .wait_for_text("[data-testid=site-summary] [data-testid=mqtt-state]", |t| {
            t.starts_with(&format!("MQTT: not connected to {}", broker.url()))
        })
        .await;
    assert!(lost.ends_with("(it tries again)"), "{lost}");
}

#[tokio::test]
async fn the_mqtt_settings_are_edited_on_the_page_and_the_daemon_connects_with_them() {
    let plant = start_plant(5000).await;
    let broker = crate::broker::Broker::start().await;
    let sub = broker.subscribe(&["site2/status"]).await;
    let d = Daemon::start(DaemonConfig::new(settings(&plant))).await;
    let browser = Browser::start(1280, 900).await;
    browser.goto(&format!("{}/", d.base)).await;
    browser.click_on("[data-testid=nav-settings]").await;
    browser
        .wait_for_text("[data-testid=mqtt-source]", |t| t.contains("settings.toml"))
        .await;

    // A value the daemon would refuse is named, and nothing is sent.
    browser.fill("[name=mqtt_url]", &broker.url()).await;
    browser.fill("[name=mqtt_interval_ms]", "5").await;
    browser.click_on("[data-testid=mqtt-save]").await;
    browser
        .wait_for_text("[data-testid=mqtt-status]", |t| {
            t.starts_with("Publish the state every: '5' is not 100 to 3600000 ms")
        })
        .await;
    assert_eq!(d.ok("cmd=get_mqtt").await["url"], "");

    browser.fill("[name=mqtt_interval_ms]", "2000").await;
    browser.fill("[name=mqtt_prefix]", "site2").await;
    browser.click_on("[data-testid=mqtt-save]").await;
    browser
        .wait_for_text("[data-testid=mqtt-status]", |t| t.starts_with("Saved"))
        .await;
    let connected = format!("MQTT: connected to {} since", broker.url());
    browser
        .wait_for_text("[data-testid=mqtt-state]", |t| t.starts_with(&connected))
        .await;
    browser
        .wait_for_text("[data-testid=mqtt-settings]", |t| t.contains("site2/…"))
        .await;
    sub.wait_for("site2/status", WAIT, |m| m.payload == "online")
        .await;
    let shown = d.ok("cmd=get_mqtt").await;
    assert_eq!(
        (&shown["prefix"], &shown["interval_ms"], &shown["source"]),
        (
            &Value::from("site2"),
            &Value::from(2000),
            &Value::from("state")
        )
    );
}

/// Polls `cmd` until `done` holds on its answer.
async fn wait_for_api(d: &Daemon, cmd: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + WAIT;
    loop {
        let answer = d.ok(cmd).await;
        if done(&answer) {
            return answer;
        }
        assert!(Instant::now() < deadline, "{cmd} still answers {answer}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn device_ids(params: &Value) -> Vec<String> {
    params["devices"]
        .as_array()
        .map(|all| {
            all.iter()
                .filter_map(|d| d["dev_id"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn everything_is_configured_through_the_page() {
    let plant = start_plant(5000).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = || {
        let mut c = DaemonConfig::new(settings(&plant));
        c.dir = Some(dir.path().to_path_buf());
        c
    };
    let d = Daemon::start(config()).await;
    let browser = Browser::start(1280, 900).await;
    browser.goto(&format!("{}/", d.base)).await;

    // The site limit and the price level: changed in the page, reported by
    // get_dev_info, kept across a restart.
    browser.click_on("[data-testid=nav-settings]").await;
    browser
        .wait_for_text("[data-testid=params-status]", |_| true)
        .await;
    browser
        .wait_for_text("[data-testid=mqtt-state]", |t| {
            t == "MQTT is off: no broker is set ([mqtt] url)."
        })
        .await;
    browser.fill("[name=max_total_current]", "25000").await;
    browser.fill("[name=price_level]", "-5").await;
    browser.click_on("[data-testid=params-save]").await;
    browser
        .wait_for_text("[data-testid=params-status]", |t| t.contains("Saved"))
        .await;
    let info = d.ok("cmd=get_dev_info").await;
    assert_eq!(info["params"]["max_total_current"], 25000);
    assert_eq!(info["params"]["price_level"], -5);
    d.stop().await;
    let d = Daemon::start(config()).await;
    let info = d.ok("cmd=get_dev_info").await;
    assert_eq!(
        info["params"]["max_total_current"], 25000,
        "kept across a restart"
    );
    browser.goto(&format!("{}/#/settings", d.base)).await;
    let field = browser.wait_for("[name=max_total_current]").await;
    let deadline = Instant::now() + WAIT;
    while browser.value(&field).await != "25000" {
        assert!(Instant::now() < deadline, "the page shows the saved limit");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // A charging-manager variable set in the page is listed there, and a
    // formula may read it.
    browser.fill("[name=cm_name]", "gridLimit").await;
    browser.fill("[name=cm_value]", "20.5").await;
    browser.click_on("[data-testid=cm-var-save]").await;
    browser
        .wait_for_text("[data-testid=cm-vars]", |t| {
            t.contains("CM.gridLimit") && t.contains("20.5")
        })
        .await;
    assert_eq!(d.ok("cmd=get_cm_vars").await["gridLimit"], 20.5);

    // A device added from the type list, then deleted.
    browser.click_on("[data-testid=nav-devices]").await;
    browser.click_on("[data-testid=device-new]").await;
    browser.select("[name=dev_type]", "meter_sdm630").await;
    browser.fill("[name=dev_id]", "M7").await;
    browser.fill("[name=name]", "Heat pump").await;
    browser
        .fill("[name=address]", &plant.addresses["grid"].to_string())
        .await;
    browser.fill("[name=id]", "1").await;
    browser.click_on("[data-testid=device-save]").await;
    browser.wait_for("[data-testid=device-row-M7]").await;
    let params = wait_for_api(&d, "cmd=get_params", |p| {
        device_ids(p).contains(&"M7".to_string())
    })
    .await;
    let m7 = device_info(&params, "M7");
    assert_eq!(
        (m7["dev_type"].as_str(), m7["name"].as_str()),
        (Some("meter_sdm630"), Some("Heat pump"))
    );
    browser
        .click_on("[data-testid=device-row-M7] [data-testid=device-delete]")
        .await;
    browser
        .click_on("[data-testid=device-row-M7] [data-testid=device-delete-confirm]")
        .await;
    wait_for_api(&d, "cmd=get_params", |p| {
        !device_ids(p).contains(&"M7".to_string())
    })
    .await;
    let deadline = Instant::now() + WAIT;
    while !browser
        .find_all("[data-testid=device-row-M7]")
        .await
        .is_empty()
    {
        assert!(
            Instant::now() < deadline,
            "the deleted device leaves the list"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Adding a device under an id that exists is refused in the page; the
    // existing device stays as it was.
    browser.click_on("[data-testid=device-new]").await;
    browser.select("[name=dev_type]", "meter_sdm630").await;
    browser.fill("[name=dev_id]", "E1").await;
    browser.fill("[name=name]", "Not a wallbox").await;
    browser.click_on("[data-testid=device-save]").await;
    browser
        .wait_for_text("[data-testid=devices-status]", |t| {
            t.contains("E1 already exists")
        })
        .await;
    let params = d.ok("cmd=get_params").await;
    assert_eq!(device_info(&params, "E1")["name"], "Wallbox 1");

    // A user with a card.
    browser.click_on("[data-testid=nav-users]").await;
    browser.click_on("[data-testid=user-new]").await;
    browser.fill("[name=user_name]", "Anna").await;
    browser.fill("[name=cards]", "04AABBCC").await;
    browser.click_on("[data-testid=user-save]").await;
    let users = wait_for_api(&d, "cmd=get_users", |u| u.to_string().contains("Anna")).await;
    let anna = users
        .as_array()
        .and_then(|all| all.iter().find(|u| u["name"] == "Anna"))
        .cloned()
        .unwrap_or_else(|| panic!("Anna in {users}"));
    assert_eq!(anna["rfids"][0]["id"], "04AABBCC", "{anna}");
    let id = anna["id"].as_str().unwrap_or_default();
    browser
        .wait_for_text(&format!("[data-testid=user-row-{id}]"), |t| {
            t.contains("Anna") && t.contains("04AABBCC")
        })
        .await;

    // A bad formula in a wallbox rule: the daemon's error is shown and the
    // rules stay as they were.
    browser.click_on("[data-testid=nav-rules]").await;
    browser.select("[name=rule_target]", "E1").await;
    browser.click_on("[data-testid=rule-add]").await;
    browser
        .fill("[data-testid=rule-0] [name=expr]", "16000 - ")
        .await;
    browser.click_on("[data-testid=rules-save]").await;
    let error = browser
        .wait_for_text("[data-testid=rules-status]", |t| t.contains("expr"))
        .await;
    assert!(
        error.contains("expr: at 8") && error.contains("found the end"),
        "the daemon's error: {error}"
    );
    let params = d.ok("cmd=get_params").await;
    let e1 = device_info(&params, "E1");
    assert!(
        e1["charging_rules"]
            .as_array()
            .is_none_or(|rules| rules.is_empty()),
        "nothing was saved: {e1}"
    );
    // A good one is saved.
    browser
        .fill("[data-testid=rule-0] [name=expr]", "16000 - M1.current")
        .await;
    browser.click_on("[data-testid=rules-save]").await;
    browser
        .wait_for_text("[data-testid=rules-status]", |t| t.contains("Saved"))
        .await;
    wait_for_api(&d, "cmd=get_params", |p| {
        p.to_string().contains("16000 - M1.current")
    })
    .await;

    // A fresh install has no password: the page asks for one (and the log
    // said so at start). Set there, it logs the page in at once.
    d.wait_logged(&["no admin password is set"], LOG_WAIT).await;
    browser
        .wait_for_text("[data-testid=setpw]", |t| {
            t.contains("Set an admin password")
        })
        .await;
    browser.fill("[data-testid=setpw-new]", "garage-1234").await;
    browser
        .fill("[data-testid=setpw-again]", "garage-1234")
        .await;
    browser.click_on("[data-testid=setpw-submit]").await;
    browser
        .wait_for_text("[data-testid=logout]", |t| t.contains("Log out"))
        .await;
    browser
        .wait_for_text("[data-testid=setpw]", |t| t.is_empty())
        .await;
    assert_eq!(d.get("cmd=get_users").await.0, 401, "the password is set");
    let state = std::fs::read_to_string(dir.path().join("data/state.json")).expect("state");
    assert!(state.contains("$argon2id$"), "{state}");

    // Logged out, the page asks for the password again; a wrong one is
    // named as such, the right one opens the users list.
    browser.click_on("[data-testid=logout]").await;
    browser.goto(&format!("{}/#/users", d.base)).await;
    browser.fill("[data-testid=login-password]", "wrong").await;
    browser.click_on("[data-testid=login-submit]").await;
    browser
        .wait_for_text("[data-testid=login-status]", |t| {
            t.contains("Wrong password")
        })
        .await;
    browser
        .fill("[data-testid=login-password]", "garage-1234")
        .await;
    browser.click_on("[data-testid=login-submit]").await;
    browser
        .wait_for_text(&format!("[data-testid=user-row-{id}]"), |t| {
            t.contains("Anna")
        })
        .await;
    browser.wait_for("[data-testid=logout]").await;
}

#[tokio::test]
async fn a_fresh_package_install_says_no_devices_are_configured() {
    // The Debian package's settings: no simulation, no devices.
    let settings =
        std::fs::read_to_string(repo_file("debian/settings.toml")).expect("packaged settings");
    let d = Daemon::start(DaemonConfig::new(settings)).await;
    let browser = Browser::start(1280, 900).await;
    browser.goto(&format!("{}/", d.base)).await;
    browser
        .wait_for_text("[data-testid=no-devices]", |t| {
            t.contains("No devices are configured") && t.contains("Add them under Devices")
        })
        .await;
    let png = browser.screenshot().await;
    std::fs::write(artifacts().join("no-devices.png"), png).expect("screenshot");
    browser.click_on("[data-testid=no-devices] a").await;
    browser
        .wait_for_text("[data-testid=device-new]", |t| t.contains("Add a device"))
        .await;

    // Once a device exists, the notice goes.
    d.set_password("garage-1234").await;
    let added = d
        .client()
        .post(format!("{}/cnf?cmd=set_params", d.base))
        .basic_auth("admin", Some("garage-1234"))
        .header("Content-Type", "application/json")
        .body(r#"{"devices": [{"dev_id": "M1", "dev_type": "meter_ajax", "role": 3}]}"#)
        .send()
        .await
        .expect("set_params");
    assert_eq!(added.status().as_u16(), 200);
    browser.goto(&format!("{}/#/", d.base)).await;
    browser.wait_for("[data-testid=tile-M1]").await;
    browser
        .wait_for_text("[data-testid=no-devices]", str::is_empty)
        .await;
}

#[tokio::test]
async fn a_measured_rotation_is_applied_and_auto_kept_through_the_page() {
    // The shipped plant with E2 said to be wired 0° (it is 120°).
    let settings = crate::phase_discovery::shipped_with(
        &crate::phase_discovery::shipped_plant([10_000, 6000, 4000]),
        "0",
    );
    let d = Daemon::start(DaemonConfig::new(settings)).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let info = d.ok("cmd=get_dev_info").await;
        if device_info(&info, "E2")["phase_rotation_warning"] != "" {
            break;
        }
        assert!(Instant::now() < deadline, "no warning: {info:#}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let browser = Browser::start(1280, 900).await;

    // The dashboard says so, above everything else and on E2's tile; E1's
    // three-phase car contradicts nothing.
    browser.goto(&format!("{}/#/", d.base)).await;
    let notice = browser
        .wait_for_text("[data-testid=wiring-warning-E2]", |t| {
            t.starts_with(
                "Wallbox 2 (E2): phase rotation configured 0°, measured 120° (confidence 9",
            ) && t.ends_with("both rotations are protected until the setting is corrected")
        })
        .await;
    assert!(
        browser
            .find_all("[data-testid=wiring-warning-E1]")
            .await
            .is_empty(),
        "E1 is wired as configured ({notice})"
    );
    browser
        .wait_for_text("[data-testid=tile-E2] [data-testid=wiring]", |t| {
            t.starts_with("⚠ Phase rotation configured 0°, measured 120°")
        })
        .await;
    browser
        .wait_for_text("[data-testid=tile-E1] [data-testid=wiring]", str::is_empty)
        .await;
    browser.goto(&format!("{}/#/devices", d.base)).await;

    // The contradiction is shown on the wallbox, and applied with a click
    // through the usual settings change.
    let advice = browser
        .wait_for_text("[data-testid=rotation-advice-E2]", |t| {
            t.starts_with("configured 0°, measured 120° (confidence 9") && t.contains("apply?")
        })
        .await;
    assert!(
        browser
            .find_all("[data-testid=rotation-advice-E1]")
            .await
            .is_empty(),
        "E1's three-phase car contradicts nothing ({advice})"
    );
    browser.click_on("[data-testid=rotation-apply-E2]").await;
    wait_for_api(&d, "cmd=get_params", |p| {
        device_info(p, "E2")["phase_rotation"] == 120
    })
    .await;
    browser
        .wait_for_text("[data-testid=devices-status]", |t| {
            t == "E2: phase rotation set to 120°"
        })
        .await;
    browser
        .wait_for_text("[data-testid=rotation-E2]", |t| {
            t.starts_with("Rotation 120°: measured 120°")
        })
        .await;
    assert!(
        browser
            .find_all("[data-testid=rotation-advice-E2]")
            .await
            .is_empty(),
        "nothing left to apply"
    );
    // And the dashboard's warning is gone.
    browser.goto(&format!("{}/#/", d.base)).await;
    browser.wait_for("[data-testid=tile-E2]").await;
    browser
        .wait_for_text("[data-testid=wiring-warnings]", str::is_empty)
        .await;
    browser
        .wait_for_text("[data-testid=tile-E2] [data-testid=wiring]", str::is_empty)
        .await;
    browser.goto(&format!("{}/#/devices", d.base)).await;

    // "auto" in the wallbox form, kept when the wallbox is saved again.
    let edit = "[data-testid=device-row-E2] button[aria-label='Edit E2']";
    browser.click_on(edit).await;
    browser.select("[name=phase_rotation]", "auto").await;
    browser.click_on("[data-testid=device-save]").await;
    wait_for_api(&d, "cmd=get_params", |p| {
        device_info(p, "E2")["phase_rotation"] == "auto"
    })
    .await;
    browser
        .wait_for_text("[data-testid=devices-status]", |t| t == "Saved E2")
        .await;
    browser
        .wait_for_text("[data-testid=rotation-E2]", |t| {
            t.starts_with("Rotation auto:")
        })
        .await;
    browser.click_on(edit).await;
    let select = browser.wait_for("[name=phase_rotation]").await;
    assert_eq!(browser.value(&select).await, "auto", "the form shows auto");
    browser.fill("[name=name]", "Garage").await;
    browser.click_on("[data-testid=device-save]").await;
    let params = wait_for_api(&d, "cmd=get_params", |p| {
        device_info(p, "E2")["name"] == "Garage"
    })
    .await;
    assert_eq!(device_info(&params, "E2")["phase_rotation"], "auto");
    browser
        .wait_for_text("[data-testid=device-row-E2] .what", |t| {
            t.contains("Garage")
        })
        .await;

    // "Identify phases" for E2 starts the probe; its progress is shown on
    // the wallbox.
    browser.click_on("[data-testid=identify-E2]").await;
    browser
        .wait_for_text("[data-testid=devices-status]", |t| {
            t.starts_with("Identify phases started")
        })
        .await;
    let probe = browser
        .wait_for_text("[data-testid=probe-E2]", |t| {
            t.starts_with("Identify phases: ")
        })
        .await;
    let info = d.ok("cmd=get_dev_info").await;
    assert_ne!(device_info(&info, "E2")["phase_probe"], "", "{probe}");
    std::fs::write(artifacts().join("rotation.png"), browser.screenshot().await)
        .expect("screenshot");
}

#[tokio::test]
async fn a_charge_point_asking_to_connect_is_adopted_with_one_click() {
    // The shipped demo with a second OCPP charge point, ocpp2, that no
    // device names: it is refused, and asks again every 5 s.
    let d = Daemon::start(
        crate::harness::simulated_power_brain().env("CHARGEBRAIN__SIMULATION__OCPP_WALLBOXES", 2),
    )
    .await;
    d.wait_for(Duration::from_secs(20), "ocpp2 asking", |i| {
        i["ocpp_asking"]
            .as_array()
            .is_some_and(|a| a.iter().any(|c| c["id"] == "ocpp2"))
    })
    .await;
    let browser = Browser::start(1280, 900).await;
    browser.goto(&format!("{}/#/devices", d.base)).await;
    browser
        .wait_for_text("[data-testid=ocpp-asking]", |t| {
            t.contains("ocpp2 from 127.0.0.1")
        })
        .await;
    browser.click_on("[data-testid=ocpp-adopt-ocpp2]").await;
    // The next free wallbox id after E1, E2 and E4.
    browser.wait_for("[data-testid=device-row-E5]").await;
    let info = d
        .wait_for(Duration::from_secs(20), "E5 connected", |i| {
            device_info(i, "E5")["model"]
                .as_str()
                .is_some_and(|m| m.contains("simulated OCPP wallbox"))
        })
        .await;
    let params = d.ok("cmd=get_params").await;
    let e5 = device_info(&params, "E5");
    assert_eq!(
        (&e5["dev_type"], &e5["address"]),
        (&serde_json::json!("evse_ocpp"), &serde_json::json!("ocpp2"))
    );
    assert!(
        info.get("ocpp_asking").is_none(),
        "nobody asks any more: {}",
        info["ocpp_asking"]
    );
    std::fs::write(artifacts().join("adopted.png"), browser.screenshot().await).ok();
}
