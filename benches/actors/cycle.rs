//! Polling 100 simulated Power Brain wallboxes through the device actors.
//!
//! 100 wallboxes serve real Modbus TCP on 127.0.0.1 (`serve_tcp`, one port
//! each), a `Plant` starts one bus and one device actor per wallbox, and the
//! group `poll` measures:
//!
//! - `read_one`: one `ReadRegisters { addr: 8093, count: 1 }` round trip to
//!   one device actor (device actor -> bus actor -> Modbus TCP and back);
//! - `read_100_parallel`: that read sent to all 100 devices at once, then
//!   all awaited (one read per device, as the perf-ceilings row);
//! - `poll_100_parallel`: `Poll` sent to all 100 devices at once, then all
//!   awaited (one supervisor cycle's poll; a Power Brain poll is planned
//!   into one read over its block, which the simulator answers whole, as
//!   the real box does);
//! - `poll_100_sequential`: the same 100 polls one after another.
//!
//! Each runs in two layouts: `sims_in_system`, the simulators on the actix
//! System's own thread (as the daemon runs its simulated plant), and
//! `sims_on_thread`, the simulators on a tokio runtime of their own thread,
//! so devices and daemon use separate cores, as with real wallboxes.
//!
//! `cargo bench -p chargebrain-actors --bench cycle`

use std::hint::black_box;
use std::net::{Ipv4Addr, SocketAddr};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use actix::{Addr, SystemRunner};
use actors::config::DeviceSettings;
use actors::devices::{Device, Poll, ReadRegisters};
use actors::plant::{LocalPorts, Plant};
use actors::sim::{powerbrain, serve_tcp, SharedBank};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, SamplingMode};
use tokio::sync::oneshot;

const DEVICES: usize = 100;
/// The charging current limit (0.1 A).
const REGISTER: u16 = 8093;
const TIMEOUT: Duration = Duration::from_secs(1);

/// Starts `n` simulated wallboxes on free ports; must run in a tokio runtime.
async fn start_wallboxes(n: usize) -> Vec<SocketAddr> {
    let mut addresses = Vec::with_capacity(n);
    for _ in 0..n {
        let bank = SharedBank::new(powerbrain::evse());
        let sim = serve_tcp(
            SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            powerbrain::EVSE_UNIT,
            bank,
        )
        .await
        .expect("a free loopback port for a simulated wallbox");
        addresses.push(sim.addr);
    }
    addresses
}

/// One `[[devices]]` entry per wallbox, as a user would write it. The
/// fail-safe matches the simulator's, so the first poll writes nothing.
fn device_settings(addresses: &[SocketAddr]) -> Vec<std::sync::Arc<DeviceSettings>> {
    addresses
        .iter()
        .enumerate()
        .map(|(i, addr)| {
            let entry = format!(
                "dev_id = \"E{}\"\n\
                 dev_type = \"evse_powerbrain\"\n\
                 address = \"127.0.0.1:{}\"\n\
                 id = 1\n\
                 fail_safe_duration_s = 300\n\
                 fail_safe_current = 6000\n",
                i + 1,
                addr.port()
            );
            std::sync::Arc::new(toml::from_str(&entry).expect("a valid device declaration"))
        })
        .collect()
}

/// Starts the plant over `addresses` and polls every device once, so all
/// connections are open and every device identified. Must run in the
/// actix System.
async fn start_plant(addresses: &[SocketAddr]) -> Vec<Addr<Device>> {
    let log = slog::Logger::root(slog::Discard, slog::o!());
    let plant = Plant::start(
        &device_settings(addresses),
        &LocalPorts::default(),
        TIMEOUT,
        &log,
    )
    .expect("the device addresses parse");
    let devices: Vec<Addr<Device>> = plant
        .devices()
        .iter()
        .map(|d| d.modbus().cloned().expect("a Modbus device has an actor"))
        .collect();
    poll_parallel(&devices).await;
    devices
}

/// The simulators on their own thread and tokio runtime; stopped on drop.
struct SimThread {
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl SimThread {
    fn start(n: usize) -> (Self, Vec<SocketAddr>) {
        let (addresses_tx, addresses_rx) = std::sync::mpsc::channel();
        let (stop, stopped) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("wallboxes".into())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("a tokio runtime for the simulators");
                runtime.block_on(async move {
                    let addresses = start_wallboxes(n).await;
                    addresses_tx
                        .send(addresses)
                        .expect("the bench waits for the addresses");
                    stopped.await.ok();
                });
            })
            .expect("a thread for the simulators");
        let addresses = addresses_rx
            .recv()
            .expect("the simulators start or the thread panics");
        let sims = SimThread {
            stop: Some(stop),
            thread: Some(thread),
        };
        (sims, addresses)
    }
}

impl Drop for SimThread {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            stop.send(()).ok();
        }
        if let Some(thread) = self.thread.take() {
            thread.join().ok();
        }
    }
}

async fn read_one(device: &Addr<Device>) {
    let words = device
        .send(ReadRegisters {
            addr: REGISTER,
            count: 1,
        })
        .await
        .expect("the device actor runs")
        .expect("the simulated wallbox answers");
    black_box(words);
}

async fn read_parallel(devices: &[Addr<Device>]) {
    // `send` queues at once; awaiting in turn then costs the slowest.
    let pending: Vec<_> = devices
        .iter()
        .map(|d| {
            d.send(ReadRegisters {
                addr: REGISTER,
                count: 1,
            })
        })
        .collect();
    for request in pending {
        let words = request
            .await
            .expect("the device actor runs")
            .expect("the simulated wallbox answers");
        black_box(words);
    }
}

async fn poll_parallel(devices: &[Addr<Device>]) {
    let pending: Vec<_> = devices.iter().map(|d| d.send(Poll)).collect();
    for request in pending {
        let reading = request
            .await
            .expect("the device actor runs")
            .expect("the simulated wallbox answers");
        black_box(reading);
    }
}

async fn poll_sequential(devices: &[Addr<Device>]) {
    for d in devices {
        let reading = d
            .send(Poll)
            .await
            .expect("the device actor runs")
            .expect("the simulated wallbox answers");
        black_box(reading);
    }
}

/// Times `iters` runs of `op` inside the System.
fn timed<F, Fut>(system: &SystemRunner, iters: u64, op: F) -> Duration
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    system.block_on(async {
        let start = Instant::now();
        for _ in 0..iters {
            op().await;
        }
        start.elapsed()
    })
}

fn bench_layout(c: &mut Criterion, layout: &str, system: &SystemRunner, devices: &[Addr<Device>]) {
    let mut group = c.benchmark_group("poll");
    group.measurement_time(Duration::from_secs(10));

    group.bench_function(BenchmarkId::new("read_one", layout), |b| {
        b.iter_custom(|iters| timed(system, iters, || read_one(&devices[0])));
    });
    // Milliseconds per iteration: equal-sized samples keep the run short.
    group.sampling_mode(SamplingMode::Flat).sample_size(50);
    group.bench_function(BenchmarkId::new("read_100_parallel", layout), |b| {
        b.iter_custom(|iters| timed(system, iters, || read_parallel(devices)));
    });
    group.bench_function(BenchmarkId::new("poll_100_parallel", layout), |b| {
        b.iter_custom(|iters| timed(system, iters, || poll_parallel(devices)));
    });
    group.bench_function(BenchmarkId::new("poll_100_sequential", layout), |b| {
        b.iter_custom(|iters| timed(system, iters, || poll_sequential(devices)));
    });
    group.finish();
}

fn bench_poll(c: &mut Criterion) {
    {
        let system = actix::System::new();
        let devices = system.block_on(async {
            let addresses = start_wallboxes(DEVICES).await;
            start_plant(&addresses).await
        });
        bench_layout(c, "sims_in_system", &system, &devices);
    }
    {
        let (sims, addresses) = SimThread::start(DEVICES);
        let system = actix::System::new();
        let devices = system.block_on(start_plant(&addresses));
        bench_layout(c, "sims_on_thread", &system, &devices);
        drop(devices);
        drop(system);
        drop(sims);
    }
}

criterion_group!(benches, bench_poll);
criterion_main!(benches);
