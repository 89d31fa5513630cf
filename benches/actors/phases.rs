//! One decision of the cycle (`Site::cycle`, no I/O) for 10 000 Power
//! Brain wallboxes with cars, every one without 1p/3p switching, and with a
//! third of them switching `auto` (their decision, the offers measured after
//! the allocation, the relay state). The allocation is inside both, so the
//! difference is what switching costs.
//!
//!   cargo bench -p chargebrain-actors --bench phases

use std::sync::Arc;

use actors::config::{DeviceSettings, SiteParams};
use actors::drivers::{EvseReading, EvseState, FailSafe, MeterReading, Reading, Relay};
use actors::supervisor::{Now, Site};
use criterion::{criterion_group, criterion_main, Criterion};

const WALLBOXES: usize = 10_000;

fn site(switchable_every: usize) -> Site {
    let switches = |n: usize| switchable_every > 0 && n.is_multiple_of(switchable_every);
    let mut devices: Vec<Arc<DeviceSettings>> = (1..=WALLBOXES)
        .map(|n| {
            let switching = if switches(n) {
                "phase_switching = \"auto\"\n"
            } else {
                ""
            };
            let toml = format!(
                "dev_id = \"E{n}\"\ndev_type = \"evse_powerbrain\"\naddress = \"10.{}.{}.{}:502\"\n\
                 max_charging_cur = 32000\nphase_rotation = {}\n{switching}",
                n / 65_536,
                n / 256 % 256,
                n % 256,
                [0, 120, 240][n % 3]
            );
            Arc::new(toml::from_str(&toml).expect("wallbox settings"))
        })
        .collect();
    devices.push(Arc::new(
        toml::from_str(
            "dev_id = \"M1\"\ndev_type = \"meter_sdm630\"\naddress = \"10.9.9.9:502\"\nrole = 3\n",
        )
        .expect("meter settings"),
    ));
    let params = SiteParams {
        max_total_current: 1_000_000.into(),
        max_imbalance: 0,
        ..SiteParams::default()
    };
    let mut site = Site::new(params, &devices, 0);
    for i in 0..WALLBOXES {
        site.record(
            i,
            Some(Ok(Reading::Evse(EvseReading {
                state: EvseState::Present,
                charging_enabled: true,
                offered_ma: 16_000,
                cable_ma: 32_000,
                meter: Some(MeterReading {
                    current_ma: [0; 3],
                    voltage_v: [230; 3],
                    per_phase: true,
                    ..MeterReading::default()
                }),
                fail_safe: FailSafe::default(),
                rfid: String::new(),
                inputs: 0,
                relay: switches(i + 1).then_some(Relay {
                    one_phase: false,
                    switch_allowed: true,
                    cp_off_s: 0,
                }),
                transaction_start_wh: None,
            }))),
            0,
        );
    }
    site
}

/// The grid meter answers every cycle, so the cycle never runs on a stale
/// meter.
fn meter(site: &mut Site, now: u64) {
    site.record(
        WALLBOXES,
        Some(Ok(Reading::Meter(MeterReading {
            current_ma: [0; 3],
            per_phase: true,
            ..MeterReading::default()
        }))),
        now,
    );
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("phases_cycle_10000_wallboxes");
    group.sample_size(20);
    for (name, every) in [("no_switching", 0), ("a_third_switching", 3)] {
        let mut s = site(every);
        let mut now = 0;
        group.bench_function(name, |b| {
            b.iter(|| {
                now += 1000;
                meter(&mut s, now);
                s.cycle(Now::mono(now), 1000)
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
