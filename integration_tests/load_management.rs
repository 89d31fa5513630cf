//! Load management in a closed loop through real Modbus on loopback: the
//! simulated plant (wallboxes with cars, an SDM630 grid meter, a house)
//! runs in this test process, the real daemon controls it.

use std::time::{Duration, Instant};

use actors::sim::closed_loop::{CarSettings, PlantSim, SimulationSettings};
use serde_json::Value;

use crate::harness::{device_info, Daemon, DaemonConfig};

const LIMIT_MA: i64 = 32_000;

fn car(wallbox: usize, phases: u8, max_current_ma: i64, arrive_s: u64) -> CarSettings {
    CarSettings {
        wallbox,
        phases,
        max_current_ma,
        arrive_s,
        leave_s: 0,
        asleep: false,
    }
}

async fn start_plant(wallboxes: usize, house: i64, cars: Vec<CarSettings>) -> PlantSim {
    let settings = SimulationSettings {
        enabled: true,
        base_port: 0,
        wallboxes,
        rotations: Vec::new(),
        grid_meter: true,
        house_load_ma: [house; 3],
        pv_ma: [0; 3],
        cars,
        tick_ms: 50,
        ..SimulationSettings::default()
    };
    PlantSim::start(&settings).await.expect("plant")
}

/// Settings for the daemon controlling `plant`: `[load]` lines, and extra
/// lines for each wallbox (index 1-based).
fn settings(plant: &PlantSim, load: &str, wallbox_extra: impl Fn(usize) -> String) -> String {
    let mut s = format!(
        "[modbus]\ntimeout_ms = 300\n[simulation]\nenabled = false\n[load]\nmax_total_current = {LIMIT_MA}\ncycle_time_ms = 500\n{load}\n"
    );
    let wallboxes = plant
        .addresses
        .keys()
        .filter(|k| k.starts_with("evse"))
        .count();
    for n in 1..=wallboxes {
        let name = if n == 1 {
            "evse".to_string()
        } else {
            format!("evse{n}")
        };
        s += &format!(
            "[[devices]]\ndev_id = \"E{n}\"\ndev_type = \"evse_powerbrain\"\naddress = \"{}\"\nid = 1\nmax_charging_cur = 32000\n{}\n",
            plant.addresses[&name],
            wallbox_extra(n)
        );
    }
    s += &format!(
        "[[devices]]\ndev_id = \"M1\"\ndev_type = \"meter_sdm630\"\naddress = \"{}\"\nid = 1\nrole = 3\n",
        plant.addresses["grid"]
    );
    s
}

fn evse(info: &Value, dev_id: &str) -> Value {
    device_info(info, dev_id)
}

fn set_ma(info: &Value, dev_id: &str) -> i64 {
    evse(info, dev_id)["last_set_charging_cur"]
        .as_i64()
        .unwrap_or(-1)
}

/// Polls get_dev_info until `done` holds; panics with the last answer after `within`.
async fn wait_for(
    d: &Daemon,
    within: Duration,
    what: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    d.wait_for(within, what, done).await
}

const SETTLE: Duration = Duration::from_secs(15);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_cars_share_what_the_house_leaves_and_back_off_on_a_load_step() {
    let plant = start_plant(2, 10_000, vec![car(1, 3, 32_000, 0), car(2, 3, 32_000, 0)]).await;
    let d = Daemon::start(DaemonConfig::new(settings(&plant, "", |_| String::new()))).await;

    // 32 A less 10 A of house load: 11 A each.
    let info = wait_for(&d, SETTLE, "both cars at 11 A", |i| {
        set_ma(i, "E1") == 11_000 && set_ma(i, "E2") == 11_000
    })
    .await;
    assert_eq!(evse(&info, "E1")["lb_reason"], "site L1");
    assert_eq!(
        info["params"]["house_current"],
        serde_json::json!([10_000, 10_000, 10_000])
    );
    wait_for(&d, SETTLE, "the cars draw their share", |_| {
        plant.car_currents() == [11_000, 11_000]
    })
    .await;
    assert!(
        plant.grid_ma().iter().all(|&g| g <= LIMIT_MA),
        "{:?}",
        plant.grid_ma()
    );

    // The house load jumps to 15 A. Until the cars back off the site draws
    // 37 A: that 5 A overdraw is remembered for five minutes (the fuse must
    // cool), so 32 − 15 − 5 = 12 A are left, 6 A each.
    plant.set_house_load([15_000; 3]);
    let info = wait_for(&d, SETTLE, "both cars at 6 A", |i| {
        set_ma(i, "E1") == 6000 && set_ma(i, "E2") == 6000
    })
    .await;
    assert_eq!(info["params"]["overdraft_cur"], 5000);
    // Once the cars follow, the grid never exceeds the limit.
    wait_for(&d, SETTLE, "the cars draw 6 A", |_| {
        plant.car_currents() == [6000, 6000]
    })
    .await;
    for _ in 0..30 {
        let grid = plant.grid_ma();
        assert!(
            grid.iter().all(|&g| g <= LIMIT_MA),
            "grid {grid:?} over {LIMIT_MA} after the step"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn higher_priority_is_served_first() {
    let plant = start_plant(2, 10_000, vec![car(1, 3, 32_000, 0), car(2, 3, 32_000, 0)]).await;
    let config = settings(&plant, "", |n| {
        format!("prio = {}\n", if n == 2 { 2 } else { 1 })
    });
    let d = Daemon::start(DaemonConfig::new(config)).await;
    // E2 (prio 2) gets 22 − 6 = 16 A... no: it gets all it can before E1's minimum.
    let info = wait_for(&d, SETTLE, "E2 first", |i| {
        set_ma(i, "E2") == 22_000 && set_ma(i, "E1") == 0
    })
    .await;
    assert_eq!(
        evse(&info, "E1")["lb_reason"],
        "paused: no minimum (site L1)"
    );
    assert_eq!(evse(&info, "E1")["paused"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cars_that_must_wait_take_turns() {
    // 32 − 22 = 10 A: room for one minimum only. E1 plugs in first.
    let plant = start_plant(2, 22_000, vec![car(1, 3, 16_000, 0), car(2, 3, 16_000, 1)]).await;
    let config = settings(&plant, "min_pause_time_s = 3", |_| String::new());
    let d = Daemon::start(DaemonConfig::new(config)).await;
    let info = wait_for(&d, SETTLE, "E1 charges, E2 waits", |i| {
        set_ma(i, "E1") == 10_000 && evse(i, "E2")["state"] == 2
    })
    .await;
    assert_eq!(set_ma(&info, "E2"), 0);
    assert_eq!(evse(&info, "E2")["paused"], true);
    assert_eq!(
        evse(&info, "E2")["lb_reason"],
        "paused: no minimum (site L1)"
    );
    // Once E1 has had a turn, E2 gets one, and then E1 again.
    let info = wait_for(&d, SETTLE, "E2's turn", |i| {
        set_ma(i, "E2") == 10_000 && set_ma(i, "E1") == 0
    })
    .await;
    assert!(evse(&info, "E1")["lb_reason"]
        .as_str()
        .unwrap_or_default()
        .starts_with("paused"));
    wait_for(&d, SETTLE, "E1's turn again", |i| {
        set_ma(i, "E1") == 10_000 && set_ma(i, "E2") == 0
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_grid_meter_puts_every_car_on_its_minimum() {
    let plant = start_plant(2, 10_000, vec![car(1, 3, 32_000, 0), car(2, 3, 32_000, 0)]).await;
    let config = settings(&plant, "meter_timeout_s = 2", |_| String::new());
    let d = Daemon::start(DaemonConfig::new(config)).await;
    wait_for(&d, SETTLE, "sharing", |i| set_ma(i, "E1") == 11_000).await;
    if let Some(grid) = &plant.grid {
        grid.set_online(false);
    }
    let info = wait_for(&d, SETTLE, "fallback to minimum", |i| {
        i["params"]["meter_stale"] == true && set_ma(i, "E1") == 6000 && set_ma(i, "E2") == 6000
    })
    .await;
    assert!(evse(&info, "E1")["lb_reason"]
        .as_str()
        .unwrap_or_default()
        .starts_with("meter stale"));
    let meter = evse(&info, "M1");
    assert_eq!(meter["com_err"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_wallbox_is_counted_and_the_others_keep_charging() {
    let plant = start_plant(2, 10_000, vec![car(1, 3, 32_000, 0), car(2, 3, 32_000, 0)]).await;
    let d = Daemon::start(DaemonConfig::new(settings(&plant, "", |_| String::new()))).await;
    wait_for(&d, SETTLE, "sharing", |i| {
        set_ma(i, "E1") == 11_000 && set_ma(i, "E2") == 11_000
    })
    .await;
    // Drawing, and read so by the daemon: what a wallbox that falls silent
    // is counted as drawing is what it last read there.
    wait_for(&d, SETTLE, "cars drawing", |i| {
        plant.car_currents() == [11_000, 11_000]
            && evse(i, "E1")["current_l1"] == 11_000
            && evse(i, "E2")["current_l1"] == 11_000
    })
    .await;
    if let Some(wallbox) = plant.wallbox(2) {
        wallbox.set_online(false);
    }
    let info = wait_for(&d, SETTLE, "E2 offline", |i| {
        evse(i, "E2")["com_err"] == true && evse(i, "E2")["state"] == 6
    })
    .await;
    assert_eq!(evse(&info, "E2")["lb_reason"], "com error");
    // E2 is assumed to keep drawing its 11 A, so E1 keeps 11 A and no more.
    let info = d.ok("cmd=get_dev_info").await;
    assert_eq!(set_ma(&info, "E1"), 11_000);
    assert_eq!(evse(&info, "E1")["state"], 3);
    assert!(plant.grid_ma().iter().all(|&g| g <= LIMIT_MA));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn observation_mode_writes_nothing() {
    let plant = start_plant(1, 10_000, vec![car(1, 3, 32_000, 0)]).await;
    let before: Vec<_> = [8083, 8085, 8093, 8094]
        .iter()
        .map(|a| plant.wallbox(1).and_then(|w| w.lock().words_of(*a)))
        .collect();
    let config = settings(&plant, "lb_enabled = false", |_| String::new());
    let d = Daemon::start(DaemonConfig::new(config)).await;
    // It still reads, computes and reports: 22 A would be the car's share.
    let info = wait_for(&d, SETTLE, "computed", |i| {
        evse(i, "E1")["lb_current"] == 22_000
    })
    .await;
    assert_eq!(set_ma(&info, "E1"), -1, "nothing was ever set");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let after: Vec<_> = [8083, 8085, 8093, 8094]
        .iter()
        .map(|a| plant.wallbox(1).and_then(|w| w.lock().words_of(*a)))
        .collect();
    assert_eq!(before, after, "observation mode wrote to the wallbox");
}

/// What the wallboxes' registers hold: the current they offer (8093, 0.1 A).
fn offered_deciamps(plant: &PlantSim, wallboxes: usize) -> Vec<Option<u16>> {
    (1..=wallboxes)
        .map(|n| {
            plant
                .wallbox(n)
                .and_then(|w| w.lock().read(8093, 1).ok())
                .and_then(|words| words.first().copied())
        })
        .collect()
}

/// Waits until the wallboxes' registers offer `expected` (0.1 A).
async fn registers_reach(plant: &PlantSim, expected: &[u16], what: &str) {
    let deadline = Instant::now() + SETTLE;
    loop {
        let now = offered_deciamps(plant, expected.len());
        if now.iter().zip(expected).all(|(n, e)| *n == Some(*e)) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: the wallboxes offer {now:?} (0.1 A), not {expected:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn groups_the_evse_cap_and_the_imbalance_set_through_the_api_reach_the_wallboxes() {
    // Three cars: E2's takes one phase (L1), the others three. The site
    // limit (100 A) never binds; what does is set through set_params.
    let plant = start_plant(
        3,
        0,
        vec![
            car(1, 3, 32_000, 0),
            car(2, 1, 32_000, 0),
            car(3, 3, 32_000, 0),
        ],
    )
    .await;
    let config = settings(&plant, "max_imbalance = 0", |_| String::new()).replace(
        &format!("max_total_current = {LIMIT_MA}"),
        "max_total_current = 100000",
    );
    let d = Daemon::start(DaemonConfig::new(config)).await;
    registers_reach(&plant, &[320, 320, 320], "no limit but their own").await;

    // Nested groups: E7 (20 A) holds E1 and group E8 (8 A), which holds E2.
    let groups = r#"{"devices": [
        {"dev_id": "E7", "dev_type": "evse_group", "max_charging_cur": 20000},
        {"dev_id": "E8", "dev_type": "evse_group", "group": 7, "max_charging_cur": 8000},
        {"dev_id": "E1", "group": 7}, {"dev_id": "E2", "group": 8}]}"#;
    assert_eq!(d.post("cmd=set_params", groups).await.0, 200);
    // E2 stops at E8's 8 A; E1 takes the rest of E7's 20 A; E3 is free.
    registers_reach(&plant, &[120, 80, 320], "nested groups").await;
    let info = d.ok("cmd=get_dev_info").await;
    assert_eq!(evse(&info, "E1")["lb_reason"], "group E7 L1");
    assert_eq!(evse(&info, "E2")["lb_reason"], "group E8 L1");

    // All wallboxes together 40 A: E3 gets what E1 and E2 leave on L1.
    let cap = r#"{"max_total_evse_current": 40000}"#;
    assert_eq!(d.post("cmd=set_params", cap).await.0, 200);
    registers_reach(&plant, &[120, 80, 200], "the EVSE cap").await;
    assert_eq!(
        evse(&d.ok("cmd=get_dev_info").await, "E3")["lb_reason"],
        "max_total_evse_current L1"
    );

    // At most 6 A between phases: L1 carries E2 alone, 8 A over L2 and L3.
    // E2 gives up 2 A, which E1 takes within E7, and L1 stays 40 A.
    wait_for(&d, SETTLE, "E2 seen on one phase", |i| {
        evse(i, "E2")["phases"] == 1
    })
    .await;
    let imbalance = r#"{"max_imbalance": 6000}"#;
    assert_eq!(d.post("cmd=set_params", imbalance).await.0, 200);
    registers_reach(&plant, &[140, 60, 200], "the imbalance limit").await;
    let info = d.ok("cmd=get_dev_info").await;
    assert_eq!(evse(&info, "E2")["lb_reason"], "imbalance L1");
    assert_eq!(info["params"]["max_imbalance"], 6000);
    assert_eq!(info["params"]["max_total_evse_current"], 40_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_site_figures_follow_the_wiring_and_the_policies() {
    // E2 is wired turned by 120°: its one-phase car draws on the building's L2.
    let plant = PlantSim::start(&SimulationSettings {
        enabled: true,
        base_port: 0,
        wallboxes: 2,
        rotations: vec![0, 120],
        grid_meter: true,
        house_load_ma: [10_000, 6000, 4000],
        pv_ma: [0; 3],
        cars: vec![car(1, 3, 16_000, 0), car(2, 1, 32_000, 0)],
        tick_ms: 50,
        ..SimulationSettings::default()
    })
    .await
    .expect("plant");
    let config = settings(&plant, "max_imbalance = 0", |n| {
        if n == 2 {
            "phase_rotation = 120\n".into()
        } else {
            String::new()
        }
    });
    let d = Daemon::start(DaemonConfig::new(config)).await;
    // Per building phase: 32 A less the house leaves 22/26/28 A. E2 counts on
    // L2 only, so L2 (26 A) is what E1 and E2 share: 13 A each.
    let info = wait_for(&d, SETTLE, "13 A each, drawn", |i| {
        set_ma(i, "E1") == 13_000
            && set_ma(i, "E2") == 13_000
            && i["params"]["evse_current"] == serde_json::json!([13_000, 26_000, 13_000])
    })
    .await;
    let p = &info["params"];
    assert_eq!(p["house_current"], serde_json::json!([10_000, 6000, 4000]));
    assert_eq!(
        p["available_current"],
        serde_json::json!([22_000, 26_000, 28_000])
    );
    assert_eq!(
        p["avail_evse_power"],
        (22_000 + 26_000 + 28_000) * 230 / 1000
    );
    let e2 = evse(&info, "E2");
    assert_eq!(
        (&e2["phase_rotation"], &e2["phases"], &e2["used_phases"]),
        (
            &serde_json::json!(120),
            &serde_json::json!(1),
            &serde_json::json!(0)
        )
    );
    assert_eq!(e2["lb_reason"], "site L2");

    // A reserve of 2 A comes off every phase: 12 A each on L2.
    let reserve = r#"{"reserve_current": 2000}"#;
    assert_eq!(d.post("cmd=set_params", reserve).await.0, 200);
    let info = wait_for(&d, SETTLE, "12 A each", |i| {
        set_ma(i, "E1") == 12_000 && set_ma(i, "E2") == 12_000
    })
    .await;
    assert_eq!(
        info["params"]["available_current"],
        serde_json::json!([20_000, 24_000, 26_000])
    );
    registers_reach(&plant, &[120, 120], "the reserve").await;

    // used_phases overrides what the meter showed: E2 counts on all three,
    // so it shares L1 (20 A) with E1.
    let all_phases = r#"{"devices": [{"dev_id": "E2", "used_phases": 7}]}"#;
    assert_eq!(d.post("cmd=set_params", all_phases).await.0, 200);
    let info = wait_for(&d, SETTLE, "10 A each", |i| {
        set_ma(i, "E1") == 10_000 && set_ma(i, "E2") == 10_000
    })
    .await;
    assert_eq!(evse(&info, "E2")["used_phases"], 7);

    // disable_policy 1: a disabled wallbox keeps its minimum (counted first).
    let disabled =
        r#"{"disable_policy": 1, "devices": [{"dev_id": "E1", "device_enabled": false}]}"#;
    assert_eq!(d.post("cmd=set_params", disabled).await.0, 200);
    let info = wait_for(&d, SETTLE, "E1 on its minimum", |i| {
        set_ma(i, "E1") == 6000 && set_ma(i, "E2") == 14_000
    })
    .await;
    assert_eq!(evse(&info, "E1")["lb_reason"], "disabled: minimum current");
    assert_eq!(info["params"]["disable_policy"], 1);
    registers_reach(&plant, &[60, 140], "the disable policy").await;

    // max_imbalance: E2 alone on L2 again, at most 5 A above the others,
    // is less than its minimum: it pauses.
    let imbalance = r#"{"max_imbalance": 5000, "devices": [{"dev_id": "E2", "used_phases": 1}]}"#;
    assert_eq!(d.post("cmd=set_params", imbalance).await.0, 200);
    let info = wait_for(&d, SETTLE, "E2 paused for the imbalance", |i| {
        set_ma(i, "E2") == 0
    })
    .await;
    // The imbalance pauses it; from the next cycle on, its minimum pause.
    let reason = evse(&info, "E2")["lb_reason"].clone();
    assert!(
        reason == "paused: imbalance L2"
            || reason
                .as_str()
                .is_some_and(|r| r.ends_with("left of its minimum pause")),
        "{reason}"
    );
    assert_eq!(info["params"]["max_imbalance"], 5000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_wallbox_says_why_as_a_code_with_its_details() {
    // E2 (prio 2) takes the 22 A the house leaves; E1's minimum no longer
    // fits; E3 has no car.
    let plant = start_plant(3, 10_000, vec![car(1, 3, 32_000, 0), car(2, 3, 32_000, 0)]).await;
    let config = settings(&plant, "", |n| {
        format!("prio = {}\n", if n == 2 { 2 } else { 1 })
    });
    let d = Daemon::start(DaemonConfig::new(config)).await;
    let info = wait_for(&d, SETTLE, "E2 first, E1 paused", |i| {
        set_ma(i, "E2") == 22_000 && set_ma(i, "E1") == 0 && evse(i, "E3")["state"] == 1
    })
    .await;
    let why = |dev_id: &str| {
        let e = evse(&info, dev_id);
        (
            e["lb_reason"].clone(),
            e["lb_reason_code"].clone(),
            e["lb_reason_args"].clone(),
        )
    };
    assert_eq!(
        why("E2"),
        (
            "site L1".into(),
            "site_limit".into(),
            serde_json::json!({"phase": "L1"})
        )
    );
    assert_eq!(
        why("E1"),
        (
            "paused: no minimum (site L1)".into(),
            "paused_no_minimum".into(),
            serde_json::json!({"phase": "L1", "limit": "site L1"})
        )
    );
    assert_eq!(evse(&info, "E1")["paused"], true);
    assert_eq!(
        why("E3"),
        (
            "no vehicle".into(),
            "no_vehicle".into(),
            serde_json::json!({})
        )
    );
}
