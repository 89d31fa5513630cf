//! 1p/3p phase switching and the wake-up, in a closed loop through real
//! Modbus on loopback: the simulated plant (a Power Brain with its relay,
//! a car, an SDM630 grid meter, PV) runs in this test process, the real
//! daemon controls it. The switch pause is 5 s and the minimum interval
//! 60 s, so that a test takes a minute or two, not hours.

use std::time::{Duration, Instant};

use actors::sim::closed_loop::{PlantSim, SimulationSettings};
use serde_json::Value;

use crate::harness::{device_info, Daemon, DaemonConfig};

const PAUSE_S: u64 = 5;
const INTERVAL_S: u64 = 60;

async fn start_plant(pv_ma: i64) -> PlantSim {
    let settings = SimulationSettings {
        enabled: true,
        base_port: 0,
        wallboxes: 1,
        grid_meter: true,
        house_load_ma: [0; 3],
        pv_ma: [pv_ma; 3],
        tick_ms: 50,
        phase_switch_pause_s: PAUSE_S,
        ..SimulationSettings::default()
    };
    PlantSim::start(&settings).await.expect("plant")
}

/// The daemon controlling `plant`'s wallbox E1 (with `extra` settings)
/// and its grid meter M1.
fn settings(plant: &PlantSim, extra: &str) -> String {
    format!(
        "[modbus]\ntimeout_ms = 300\n[simulation]\nenabled = false\n[load]\n\
         max_total_current = 32000\ncycle_time_ms = 500\nmin_pause_time_s = 5\n\
         [[devices]]\ndev_id = \"E1\"\ndev_type = \"evse_powerbrain\"\naddress = \"{}\"\nid = 1\n\
         max_charging_cur = 16000\n{extra}\n\
         [[devices]]\ndev_id = \"M1\"\ndev_type = \"meter_sdm630\"\naddress = \"{}\"\nid = 1\nrole = 3\n",
        plant.addresses["evse"], plant.addresses["grid"]
    )
}

/// The plant with `pv_ma` of PV per phase and a three-phase 16 A car
/// plugged in, and the daemon controlling it with `extra` settings.
async fn car_and_daemon(pv_ma: i64, extra: &str) -> (PlantSim, Daemon) {
    let plant = start_plant(pv_ma).await;
    plant.plug(1, 3, 16_000);
    let d = Daemon::start(DaemonConfig::new(settings(&plant, extra))).await;
    (plant, d)
}

/// Surplus charging, switching automatically.
fn switching() -> String {
    format!(
        "phase_switching = \"auto\"\nphase_switch_pause_s = {PAUSE_S}\n\
         phase_switch_min_interval_s = {INTERVAL_S}\ncharging_rules = [{{ mode = 5 }}]\n"
    )
}

fn relay_one_phase(plant: &PlantSim) -> bool {
    let bank = plant.wallbox(1).expect("wallbox 1");
    let word = bank.lock().read(8087, 1).map_or(0, |v| v[0]);
    word == 1
}

fn e1(info: &Value) -> Value {
    device_info(info, "E1")
}

/// Watches the plant until `done` holds, every 50 ms, noting when the
/// relay changed; panics after `within`.
async fn watch(
    plant: &PlantSim,
    within: Duration,
    what: &str,
    changes: &mut Vec<(Instant, bool)>,
    done: impl Fn(&PlantSim) -> bool,
) {
    let deadline = Instant::now() + within;
    loop {
        let one = relay_one_phase(plant);
        if changes.last().is_none_or(|(_, last)| *last != one) {
            changes.push((Instant::now(), one));
        }
        if done(plant) {
            return;
        }
        assert!(Instant::now() < deadline, "{what}: not reached");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_surplus_step_switches_to_one_phase_and_back_with_the_pause() {
    // 3 A of PV per phase: 9 A of surplus, too little for 3 × 6 A.
    let (plant, d) = car_and_daemon(3000, &switching()).await;
    let mut changes = vec![(Instant::now(), false)];

    watch(
        &plant,
        Duration::from_secs(30),
        "relay on one phase",
        &mut changes,
        relay_one_phase,
    )
    .await;
    let switched_at = Instant::now();
    let info = d.ok("cmd=get_dev_info").await;
    assert_eq!(
        e1(&info)["lb_reason_code"],
        "phases_switching",
        "{:#}",
        e1(&info)
    );
    assert_eq!(e1(&info)["lb_current"], 0);
    // The pause: the car draws nothing until it is over.
    while switched_at.elapsed() < Duration::from_secs(PAUSE_S - 1) {
        assert_eq!(plant.car_currents()[0], 0, "the car draws during the pause");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Then on one phase, from the surplus.
    watch(
        &plant,
        Duration::from_secs(20),
        "the car on one phase",
        &mut changes,
        |p| p.car_phases(1) == 1 && p.car_currents()[0] >= 6000,
    )
    .await;
    assert!(switched_at.elapsed() >= Duration::from_secs(PAUSE_S - 1));
    let info = d
        .wait_for(Duration::from_secs(10), "1p: solar surplus", |i| {
            e1(i)["lb_reason"]
                .as_str()
                .is_some_and(|r| r.starts_with("1p: solar surplus"))
        })
        .await;
    assert_eq!(e1(&info)["lb_reason_code"], "phases_1p_surplus");
    assert_eq!(e1(&info)["relay_phases"], 1);
    assert_eq!(e1(&info)["phase_switching"], "auto");
    assert_eq!(e1(&info)["phases_in_force"], "auto");

    // The sun comes out: 12 A per phase is plenty for three phases. Back
    // to three after the hold and the minimum interval, with the pause.
    plant.set_pv([12_000; 3]);
    watch(
        &plant,
        Duration::from_secs(INTERVAL_S + 40),
        "relay on three phases",
        &mut changes,
        |p| !relay_one_phase(p),
    )
    .await;
    let back_at = Instant::now();
    assert!(
        back_at - switched_at >= Duration::from_secs(INTERVAL_S - 1),
        "switched back after {:?}",
        back_at - switched_at
    );
    watch(
        &plant,
        Duration::from_secs(20),
        "the car on three phases",
        &mut changes,
        |p| p.car_phases(1) == 3 && p.car_currents()[0] >= 6000,
    )
    .await;
    assert!(back_at.elapsed() >= Duration::from_secs(PAUSE_S - 1));
    assert_eq!(
        plant.relay_events(1).0,
        2,
        "two switches, each seen by the box"
    );
    assert_eq!(changes.len(), 3, "three phases, one, three");
    let info = d.ok("cmd=get_dev_info").await;
    assert_eq!(e1(&info)["phase_switches"], 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flickering_surplus_switches_at_most_once_per_minimum_interval() {
    let (plant, d) = car_and_daemon(3000, &switching()).await;
    let mut changes = vec![(Instant::now(), false)];
    let start = Instant::now();
    let mut blocked_seen = false;
    // Clouds: 35 s of sun, 5 s of shade, again and again, for two minutes.
    while start.elapsed() < Duration::from_secs(2 * INTERVAL_S + 5) {
        let t = start.elapsed().as_secs();
        let sunny = t >= 5 && (t - 5) % 40 < 35;
        plant.set_pv([if sunny { 12_000 } else { 3000 }; 3]);
        watch(&plant, Duration::from_secs(1), "", &mut changes, |_| true).await;
        if let (200, info) = d.get("cmd=get_dev_info").await {
            blocked_seen |= e1(&info)["lb_reason_code"] == "phases_blocked";
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let switches: Vec<Instant> = changes.iter().skip(1).map(|(at, _)| *at).collect();
    assert!(
        !switches.is_empty(),
        "it switched to one phase at the start"
    );
    let bound = (2 * INTERVAL_S + 5) / INTERVAL_S + 1;
    assert!(
        switches.len() as u64 <= bound,
        "{} switches in two minutes",
        switches.len()
    );
    for pair in switches.windows(2) {
        assert!(
            pair[1] - pair[0] >= Duration::from_secs(INTERVAL_S - 1),
            "two switches {:?} apart",
            pair[1] - pair[0]
        );
    }
    assert!(
        blocked_seen,
        "the reason said a switch was blocked by the interval"
    );
    assert_eq!(plant.relay_events(1).0 as usize, switches.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_wallbox_goes_back_to_three_phases_for_the_next_car() {
    // 3 A of PV per phase: a three-phase car is switched to one phase.
    let (plant, d) = car_and_daemon(3000, &switching()).await;
    let mut changes = vec![(Instant::now(), false)];
    watch(
        &plant,
        Duration::from_secs(60),
        "the car on one phase",
        &mut changes,
        |p| p.car_phases(1) == 1 && p.car_currents()[0] >= 6000,
    )
    .await;
    let switched_at = changes[1].0;
    // The box no longer lets the relay switch with a car plugged in
    // (8113 bit 8 clear), and the car leaves, the surplus still fitting
    // one phase only. Empty, the relay goes back to three phases at once
    // (8087 = 0), inside the minimum interval: with the next car it could
    // not any more.
    plant.set_switch_with_car(1, false);
    plant.unplug(1);
    watch(
        &plant,
        Duration::from_secs(30),
        "8087 written to 0 (three phases) while empty",
        &mut changes,
        |p| !relay_one_phase(p),
    )
    .await;
    assert!(
        switched_at.elapsed() < Duration::from_secs(INTERVAL_S),
        "back on three phases only {:?} after the switch to one",
        switched_at.elapsed()
    );
    d.wait_for(Duration::from_secs(10), "relay_phases 3", |i| {
        e1(i)["relay_phases"] == 3
    })
    .await;
    // The sun comes out and a three-phase car arrives: it draws on three
    // phases, and the box is not asked to switch while it is there.
    plant.set_pv([12_000; 3]);
    plant.plug(1, 3, 16_000);
    let deadline = Instant::now() + Duration::from_secs(60);
    while !(plant.car_phases(1) == 3 && plant.car_currents()[0] >= 6000) {
        if Instant::now() > deadline {
            let info = d.ok("cmd=get_dev_info").await;
            panic!(
                "the next car on three phases: not reached: phases {}, currents {:?}, grid {:?}, {:#}",
                plant.car_phases(1),
                plant.car_currents(),
                plant.grid_ma(),
                e1(&info)
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(plant.car_phases(1), 3);
    assert_eq!(changes.len(), 3, "three phases, one, three");
    assert_eq!(
        plant.relay_events(1).0,
        1,
        "switched with a car plugged in only the first time"
    );
    let info = d.ok("cmd=get_dev_info").await;
    assert_eq!(e1(&info)["relay_phases"], 3);
    assert_eq!(e1(&info)["phase_switches"], 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sleeping_car_is_woken_once() {
    let plant = start_plant(0).await;
    plant.plug_asleep(1, 3, 16_000);
    let d = Daemon::start(DaemonConfig::new(settings(&plant, ""))).await;
    // Offered 16 A, it does not draw; after 30 s the daemon switches the
    // charge pilot off a moment (8086), and the car wakes and charges.
    let deadline = Instant::now() + Duration::from_secs(60);
    while plant.car_currents()[0] < 6000 {
        assert!(Instant::now() < deadline, "the car was not woken");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(plant.relay_events(1), (0, 1), "8086 written once");
    let info = d.ok("cmd=get_dev_info").await;
    assert_eq!(e1(&info)["woken"], true);
    // It charges on; nothing is written to 8086 again.
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(plant.relay_events(1), (0, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_wake_up_a_sleeping_car_is_left_alone() {
    let plant = start_plant(0).await;
    plant.plug_asleep(1, 3, 16_000);
    let _d = Daemon::start(DaemonConfig::new(settings(&plant, "wake_up = false\n"))).await;
    tokio::time::sleep(Duration::from_secs(40)).await;
    assert_eq!(plant.relay_events(1), (0, 0));
    assert_eq!(plant.car_currents()[0], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn switch_phases_overrides_until_the_car_leaves() {
    let (plant, d) = car_and_daemon(0, &format!("phase_switch_pause_s = {PAUSE_S}\n")).await;
    d.wait_for(Duration::from_secs(20), "the car charges", |i| {
        e1(i)["lb_current"].as_i64().is_some_and(|ma| ma > 0)
    })
    .await;
    let (status, answer) = d
        .change("cmd=override_device&dev_id=E1&switch_phases=2")
        .await;
    assert_eq!(status, 400, "{answer}");
    assert!(answer.to_string().contains("switch_phases"), "{answer}");
    d.ok_change("cmd=override_device&dev_id=E1&switch_phases=1")
        .await;
    let mut changes = vec![(Instant::now(), false)];
    watch(
        &plant,
        Duration::from_secs(20),
        "the car on one phase",
        &mut changes,
        |p| p.car_phases(1) == 1 && p.car_currents()[0] >= 6000,
    )
    .await;
    let info = d.ok("cmd=get_dev_info").await;
    assert_eq!(e1(&info)["phases_in_force"], "1p");
    assert_eq!(e1(&info)["phase_switching"], "off", "the setting stays");
    assert_eq!(e1(&info)["relay_phases"], 1);
    // The car leaves: the override ends, the relay goes back to three.
    plant.unplug(1);
    watch(
        &plant,
        Duration::from_secs(20),
        "relay back on three phases",
        &mut changes,
        |p| !relay_one_phase(p),
    )
    .await;
    let info = d.ok("cmd=get_dev_info").await;
    assert_eq!(e1(&info)["phases_in_force"], "off");
}
