//! Devices that report what cannot be true: a tokio-modbus device answers
//! the real daemon with readings far outside what it could measure, while
//! the simulated plant's grid meter shows what really flows through the fuse.

use std::time::{Duration, Instant};

use actors::sim::closed_loop::{CarSettings, PlantSim, SimulationSettings};
use actors::sim::meters::{self, set_f32, set_sdm630};
use actors::sim::{powerbrain, serve_on_loopback, TcpSim};
use serde_json::Value;

use crate::harness::{device_info, Daemon, DaemonConfig};

const LIMIT_MA: i64 = 32_000;
const CYCLE_MS: u64 = 500;

/// Two wallboxes, each with a three-phase 16 A car, behind the grid meter;
/// 20 A of house load leave the cars 6 A each.
async fn plant() -> PlantSim {
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
        house_load_ma: [20_000; 3],
        cars: vec![car(1), car(2)],
        tick_ms: 50,
        ..SimulationSettings::default()
    })
    .await
    .expect("plant")
}

async fn serve(bank: actors::sim::RegisterBank, unit: u8) -> TcpSim {
    serve_on_loopback(unit, bank)
        .await
        .expect("the lying device")
}

/// The plant's wallboxes and grid meter, and `extra` devices.
fn settings(plant: &PlantSim, extra: &str) -> String {
    let mut s = format!(
        "[modbus]\ntimeout_ms = 300\n[simulation]\nenabled = false\n\
         [load]\nmax_total_current = {LIMIT_MA}\ncycle_time_ms = {CYCLE_MS}\nmeter_timeout_s = 3\n"
    );
    for (n, name) in [(1, "evse"), (2, "evse2")] {
        s += &format!(
            "[[devices]]\ndev_id = \"E{n}\"\ndev_type = \"evse_powerbrain\"\naddress = \"{}\"\nmax_charging_cur = 16000\n",
            plant.addresses[name]
        );
    }
    s += &format!(
        "[[devices]]\ndev_id = \"M1\"\ndev_type = \"meter_sdm630\"\naddress = \"{}\"\nrole = 3\n{extra}",
        plant.addresses["grid"]
    );
    s
}

/// Watches the plant's grid meter for `during`: the longest time any phase
/// stayed above the limit. Fails if the cars never charged at all.
async fn longest_overload(plant: &PlantSim, during: Duration) -> Duration {
    let start = Instant::now();
    let (mut longest, mut over_since, mut charged) = (Duration::ZERO, None, false);
    while start.elapsed() < during {
        let grid = plant.grid_ma();
        charged |= plant.car_currents().iter().any(|&c| c > 0);
        if grid.iter().any(|&g| g > LIMIT_MA) {
            let since = *over_since.get_or_insert_with(Instant::now);
            longest = longest.max(since.elapsed());
        } else {
            over_since = None;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(charged, "the cars never charged: nothing was tested");
    longest
}

/// Runs the daemon on the plant with the `extra` devices for 12 s: the fuse
/// is never over its limit for more than two cycles. Answers get_dev_info.
async fn fuse_holds(plant: &PlantSim, extra: &str) -> Value {
    let d = Daemon::start(DaemonConfig::new(settings(plant, extra))).await;
    let longest = longest_overload(plant, Duration::from_secs(12)).await;
    assert!(
        longest <= Duration::from_millis(2 * CYCLE_MS),
        "the fuse was over {LIMIT_MA} mA for {longest:?}"
    );
    d.ok("cmd=get_dev_info").await
}

fn assert_refused(info: &Value, dev_id: &str, says: &str) {
    let d = device_info(info, dev_id);
    assert_eq!(d["com_err"], true, "{d}");
    assert!(d["com_errors"].as_u64() >= Some(1), "{d}");
    let error = d["last_error"].as_str().unwrap_or_default();
    assert!(
        error.contains(says),
        "{dev_id}: last_error {error:?} should say {says:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wallbox_meter_reporting_2_to_the_31_tenths_of_an_amp_frees_nothing() {
    let plant = plant().await;
    // A third Power Brain: a car charging, its meter at 2^31 − 1 × 0.1 A.
    let mut bank = powerbrain::evse();
    bank.set_int(8092, 2);
    for at in [8064, 8066, 8068] {
        bank.set_int(at, i64::from(i32::MAX));
    }
    let liar = serve(bank, 1).await;
    let extra = format!(
        "[[devices]]\ndev_id = \"E3\"\ndev_type = \"evse_powerbrain\"\naddress = \"{}\"\nmax_charging_cur = 16000\n",
        liar.addr
    );
    let info = fuse_holds(&plant, &extra).await;
    assert_refused(
        &info,
        "E3",
        "implausible reading: current L1: 214748364700 mA is outside",
    );
    assert_eq!(device_info(&info, "E3")["state"], 6, "treated as silent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_meter_reporting_2000_amps_and_1e11_watts_frees_nothing() {
    let plant = plant().await;
    // An EV-consumption meter (role 4) that says the cars draw 2000 A and
    // 10^11 W: the house load would come out hugely negative. (10^18 W
    // is refused sooner, as no valid value.)
    let mut bank = meters::sdm630();
    set_sdm630(
        &mut bank,
        [230.0; 3],
        [2000.0; 3],
        [1e11, 1e11, 1e11],
        1.0,
        0.0,
    );
    set_f32(&mut bank, 0x0034, 1e11);
    let liar = serve(bank, 1).await;
    let extra = format!(
        "[[devices]]\ndev_id = \"M2\"\ndev_type = \"meter_sdm630\"\naddress = \"{}\"\nrole = 4\n",
        liar.addr
    );
    let info = fuse_holds(&plant, &extra).await;
    assert_refused(
        &info,
        "M2",
        "implausible reading: current L1: 2000000 mA is outside -128000 to 128000 mA",
    );
    // The meter the house load needs gives nothing usable: every car is on
    // its minimum, as with a silent meter.
    assert_eq!(info["params"]["meter_stale"], true);
}
