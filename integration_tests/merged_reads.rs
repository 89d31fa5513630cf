//! A poll in as few Modbus requests as the register layout allows, against
//! a Power Brain wallbox served by PyPI pymodbus, which reports every read
//! it was asked: one request over the whole block where the device answers
//! for every address in it, and where it has holes (it answers "illegal
//! data address" for a read across them) the daemon falls back to requests
//! around the holes, once, and keeps to them. The simulated Power Brain of
//! the built-in plant answers its whole block as the real box does, so it
//! too is polled in one request per device.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use actors::drivers::evse_powerbrain;
use actors::sim::{powerbrain, serve_on_loopback, TcpSim};

use crate::harness::{
    device, device_info, get_path, plain_settings, samples, simulated_power_brain, Daemon,
    DaemonConfig, LOG_WAIT,
};
use crate::modbus_device::{PyDevice, Registers};

const H: &str = "holding";
const SETTLE: Duration = Duration::from_secs(15);

/// A Power Brain with a car charging on a 32 A cable: every register of
/// its map, and with `no_holes` every address from 8000 to 8121 as well.
fn power_brain(no_holes: bool) -> Registers {
    let mut r = Registers::default();
    if no_holes {
        r = r.words(H, 8000, &[0; 122]);
    }
    for reg in evse_powerbrain::MAP.registers {
        r = r.words(H, reg.addr, &vec![0; usize::from(reg.ty.width())]);
    }
    r.words(H, 8090, &[320, 0, 2, 160, 1])
}

/// Starts the daemon on one such wallbox (observation only: nothing is
/// written) and waits until it reads the car.
async fn start(sim: &PyDevice) -> Daemon {
    let settings = plain_settings(&device("E1", "evse_powerbrain", &sim.addr, 1), 1000)
        + "[load]\nlb_enabled = false\n";
    let d = Daemon::start(DaemonConfig::new(settings)).await;
    d.wait_for(SETTLE, "the wallbox read", |info| {
        let e1 = device_info(info, "E1");
        e1["com_err"] == false && e1["state"] == 3
    })
    .await;
    d
}

/// The poll reads the device saw over a few cycles (the identity block,
/// read apart, left out).
async fn poll_reads(sim: &mut PyDevice) -> Vec<(u8, u16, u16)> {
    sim.reads().await;
    tokio::time::sleep(Duration::from_millis(3500)).await;
    sim.reads()
        .await
        .into_iter()
        .filter(|&(_, addr, _)| addr != 8000)
        .collect()
}

async fn refused_reads(d: &Daemon) -> f64 {
    let (_, text) = get_path(d, "/metrics").await;
    samples(&text)
        .get("chargebrain_modbus_request_errors_total{dev_id=\"E1\",error=\"exception\"}")
        .copied()
        .unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_power_brain_is_polled_in_one_request() {
    let mut sim = PyDevice::start(1, &power_brain(true)).await;
    let d = start(&sim).await;
    let reads = poll_reads(&mut sim).await;
    assert!(reads.len() >= 2, "a poll every second: {reads:?}");
    assert!(
        reads.iter().all(|&r| r == (3, 8057, 57)),
        "one read of 8057–8113 per poll: {reads:?}"
    );
    assert_eq!(refused_reads(&d).await, 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_with_holes_in_its_map_is_read_around_them_after_one_refusal() {
    let mut sim = PyDevice::start(1, &power_brain(false)).await;
    let d = start(&sim).await;
    let reads = poll_reads(&mut sim).await;
    assert!(reads.len() >= 6, "a poll every second: {reads:?}");
    // 8070–8079 and 8089 are holes: the reads go round them, still joined
    // across registers the wallbox has (the fail-safe and the relay block,
    // 8083–8087; 8111).
    let around = [(3, 8057, 13), (3, 8083, 5), (3, 8090, 24)];
    assert!(
        reads.iter().all(|r| around.contains(r)),
        "reads around the holes: {reads:?}"
    );
    assert_eq!(
        refused_reads(&d).await,
        1.0,
        "the read across the holes was refused once, and not asked again"
    );
    // The fallback is logged.
    d.wait_logged(&["illegal data address"], LOG_WAIT).await;
    let e1 = device_info(&d.ok("cmd=get_dev_info").await, "E1");
    assert_eq!(e1["com_err"], false, "{e1}");
}

async fn simulated(unit: u8, bank: actors::sim::RegisterBank) -> TcpSim {
    serve_on_loopback(unit, bank)
        .await
        .expect("a free loopback port for the simulator")
}

fn requests(sim: &TcpSim) -> usize {
    sim.requests.load(Ordering::Relaxed)
}

/// The simulator counts the requests it is sent: with one cycle a minute,
/// the daemon's first cycle is the only poll, so each device gets the
/// identity block and one request for the poll.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_simulated_power_brain_is_polled_in_one_request_per_device() {
    let evse = simulated(powerbrain::EVSE_UNIT, powerbrain::evse()).await;
    let meter = simulated(powerbrain::METER1_UNIT, powerbrain::s0_meter(1)).await;
    let devices = device("E1", "evse_powerbrain", &evse.addr.to_string(), 1)
        + &device("M1", "meter_powerbrain", &meter.addr.to_string(), 2);
    // Observation only, so nothing is written.
    let settings =
        plain_settings(&devices, 1000) + "[load]\nlb_enabled = false\ncycle_time_ms = 60000\n";
    let d = Daemon::start(DaemonConfig::new(settings)).await;
    let deadline = Instant::now() + SETTLE;
    while requests(&evse) < 2 || requests(&meter) < 2 {
        assert!(Instant::now() < deadline, "the devices were not polled");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Time for any further request of the same poll (a fallback after a
    // refused read would come at once).
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        (requests(&evse), requests(&meter)),
        (2, 2),
        "the identity block and one request for the poll, per device"
    );
    let info = d.ok("cmd=get_dev_info").await;
    for dev_id in ["E1", "M1"] {
        assert_eq!(device_info(&info, dev_id)["com_err"], false, "{info:#}");
    }
    assert_eq!(refused_reads(&d).await, 0.0);
}

/// The shipped simulated plant: every device is read in merged requests
/// from the start, none refused, and nothing about it is logged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_plant_starts_without_a_refused_read() {
    let d = Daemon::start(simulated_power_brain()).await;
    let polled = |text: &str, dev_id: &str| {
        let series =
            format!("chargebrain_modbus_request_duration_seconds_count{{dev_id=\"{dev_id}\"}}");
        samples(text).get(&series).copied().unwrap_or(0.0)
    };
    // The identity block, then two polls at least.
    let deadline = Instant::now() + SETTLE;
    loop {
        let (_, text) = get_path(&d, "/metrics").await;
        if ["E1", "E2", "M1", "M2"]
            .iter()
            .all(|id| polled(&text, id) >= 3.0)
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the plant was not polled: {text}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (_, text) = get_path(&d, "/metrics").await;
    assert!(!text.contains("error=\"exception\""), "{text}");
    // Logged after the first poll of the wallboxes: the log is read up to here.
    d.wait_logged(&["configuring the wallbox fail-safe"], LOG_WAIT)
        .await;
    assert!(
        !d.logged("a merged read was refused"),
        "{:#?}",
        d.log_lines()
    );
}
