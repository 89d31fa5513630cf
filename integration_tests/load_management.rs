//! Load management in a closed loop through real Modbus on loopback: the
//! simulated plant (wallboxes with cars, an SDM630 grid meter, a house)
//! runs in this test process, the real daemon controls it.

use std::time::{Duration, Instant};

use actors::sim::plant::{CarSettings, PlantSim, SimulationSettings};
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
    let step = Instant::now();
    let info = wait_for(&d, SETTLE, "both cars at 6 A", |i| {
        set_ma(i, "E1") == 6000 && set_ma(i, "E2") == 6000
    })
    .await;
    assert_eq!(info["params"]["overdraft_cur"], 5000);
    // Two cycles (500 ms each) to see it and act, and the cars follow within
    // a simulation tick; with slack for a busy test machine, after that the
    // grid never exceeds the limit.
    let settled = step + Duration::from_millis(2 * 500 + 1500);
    tokio::time::sleep_until(settled.into()).await;
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
    wait_for(&d, SETTLE, "cars drawing", |_| {
        plant.car_currents() == [11_000, 11_000]
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
