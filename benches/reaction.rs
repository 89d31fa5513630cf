//! Reaction time: from a step in the household load (seen by the simulated
//! grid meter) to the new current written to the wallbox, through the real
//! binary and real Modbus on loopback, started by the integration tests'
//! harness. Prints the distribution.
//!
//!   cargo bench --bench reaction

use std::time::{Duration, Instant};

use actors::sim::closed_loop::{CarSettings, PlantSim, SimulationSettings};

#[allow(dead_code)]
#[path = "../integration_tests/harness.rs"]
mod harness;

use harness::{Daemon, DaemonConfig};

const STEPS: usize = 40;

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    for cycle_ms in [1000u64, 250] {
        let samples = runtime.block_on(measure(cycle_ms));
        report(cycle_ms, samples);
    }
}

async fn measure(cycle_ms: u64) -> Vec<Duration> {
    let plant = PlantSim::start(&SimulationSettings {
        enabled: true,
        base_port: 0,
        wallboxes: 1,
        grid_meter: true,
        house_load_ma: [10_000; 3],
        cars: vec![CarSettings {
            wallbox: 1,
            phases: 3,
            max_current_ma: 32_000,
            arrive_s: 0,
            leave_s: 0,
            asleep: false,
        }],
        tick_ms: 10,
        ..SimulationSettings::default()
    })
    .await
    .expect("plant");
    let settings = format!(
        "[simulation]\nenabled = false\n[log]\nlevel = \"warn\"\n\
         [load]\nmax_total_current = 32000\ncycle_time_ms = {cycle_ms}\n\
         [[devices]]\ndev_id = \"E1\"\ndev_type = \"evse_powerbrain\"\naddress = \"{}\"\nmax_charging_cur = 32000\n\
         [[devices]]\ndev_id = \"M1\"\ndev_type = \"meter_sdm630\"\naddress = \"{}\"\nrole = 3\n",
        plant.addresses["evse"],
        plant.addresses["grid"],
    );
    let daemon = Daemon::start(DaemonConfig::new(settings)).await;
    let limit = || {
        plant
            .wallbox(1)
            .and_then(|w| w.lock().read(8093, 1).ok())
            .map_or(0, |v| v[0])
    };
    // Let the car settle at 22 A.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let mut samples = Vec::with_capacity(STEPS);
    for i in 0..STEPS {
        // Alternate between 10 A and 12 A of house load: 22 A and 20 A for the car.
        let house = if i % 2 == 0 { 12_000 } else { 10_000 };
        let before = limit();
        // Start at a random point of the cycle.
        tokio::time::sleep(Duration::from_millis(137 * (i as u64 % 7))).await;
        let step = Instant::now();
        plant.set_house_load([house; 3]);
        while limit() == before && step.elapsed() < Duration::from_secs(10) {
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
        samples.push(step.elapsed());
        tokio::time::sleep(Duration::from_millis(cycle_ms * 2)).await;
    }
    daemon.kill().await;
    samples
}

fn report(cycle_ms: u64, mut samples: Vec<Duration>) {
    samples.sort();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q) as usize];
    println!(
        "reaction (cycle_time {cycle_ms} ms, {} steps): min {:?}, median {:?}, p90 {:?}, max {:?}",
        samples.len(),
        at(0.0),
        at(0.5),
        at(0.9),
        at(1.0)
    );
}
