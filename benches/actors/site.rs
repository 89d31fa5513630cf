//! One decision of the cycle (`Site::cycle`, no I/O) for 100 wallboxes,
//! without rules and with five charging rules each, so the cost of the
//! rules shows beside the cycle's; and with fresh readings every cycle,
//! so that the phase estimator is fed.
//!
//!   cargo bench -p chargebrain-actors --bench site

use std::sync::Arc;

use actors::config::{DeviceSettings, SiteParams};
use actors::drivers::{EvseReading, EvseState, FailSafe, MeterReading, Reading};
use actors::supervisor::{Now, Site};
use criterion::{criterion_group, criterion_main, Criterion};

const RULES: &str = r#"charging_rules = [
  { days = 96, time = 1320, dur = 480, current = 32000 },
  { expr = "CM._price_level <= -5 ? 16000 : 0" },
  { solar = 6000, mode = 5, udur = 300 },
  { expr = "min(16000, 29000 - M1.current)" },
  { current = 6000 },
]"#;

fn site(rules: &str) -> Site {
    let mut devices: Vec<Arc<DeviceSettings>> = (1..=100)
        .map(|n| {
            let toml = format!(
                "dev_id = \"E{n}\"\ndev_type = \"evse_powerbrain\"\naddress = \"127.0.0.1:{}\"\nmax_charging_cur = 32000\nphase_rotation = {}\n{rules}",
                10_000 + n,
                [0, 120, 240][n % 3]
            );
            Arc::new(toml::from_str(&toml).expect("wallbox settings"))
        })
        .collect();
    devices.push(Arc::new(
        toml::from_str("dev_id = \"M1\"\ndev_type = \"meter_sdm630\"\naddress = \"127.0.0.1:9999\"\nrole = 3\n").expect("meter settings"),
    ));
    let params = SiteParams {
        max_total_current: 400_000.into(),
        price_level: Some(-5),
        ..SiteParams::default()
    };
    let mut site = Site::new(params, &devices, 0);
    for i in 0..100 {
        site.record(
            i,
            Some(Ok(Reading::Evse(EvseReading {
                state: EvseState::Charging,
                charging_enabled: true,
                offered_ma: 16_000,
                cable_ma: 32_000,
                meter: Some(MeterReading {
                    current_ma: [8000; 3],
                    voltage_v: [230; 3],
                    per_phase: true,
                    ..MeterReading::default()
                }),
                fail_safe: FailSafe::default(),
                rfid: String::new(),
                inputs: 0,
                relay: None,
                transaction_start_wh: None,
            }))),
            0,
        );
    }
    site.record(
        100,
        Some(Ok(Reading::Meter(MeterReading {
            current_ma: [300_000; 3],
            per_phase: true,
            ..MeterReading::default()
        }))),
        0,
    );
    site
}

/// The readings of one cycle: every wallbox at 8 A but `stepped` at 10 A
/// (on its L1 alone), the grid meter showing them on the building's phases.
fn record_cycle(site: &mut Site, stepped: usize, now: u64) {
    let mut grid = [100_000; 3];
    for i in 0..100 {
        let one = if i == stepped { 10_000 } else { 8000 };
        let current_ma = [one, 8000, 8000];
        let shift = (i + 1) % 3;
        for (p, ma) in current_ma.iter().enumerate() {
            grid[(p + shift) % 3] += ma;
        }
        site.record(
            i,
            Some(Ok(Reading::Evse(EvseReading {
                state: EvseState::Charging,
                charging_enabled: true,
                offered_ma: 16_000,
                cable_ma: 32_000,
                meter: Some(MeterReading {
                    current_ma,
                    voltage_v: [230; 3],
                    per_phase: true,
                    ..MeterReading::default()
                }),
                fail_safe: FailSafe::default(),
                rfid: String::new(),
                inputs: 0,
                relay: None,
                transaction_start_wh: None,
            }))),
            now,
        );
    }
    site.record(
        100,
        Some(Ok(Reading::Meter(MeterReading {
            current_ma: grid,
            per_phase: true,
            ..MeterReading::default()
        }))),
        now,
    );
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("site_cycle_100_wallboxes");
    for (name, rules) in [("no_rules", ""), ("five_rules_each", RULES)] {
        let mut s = site(rules);
        let mut now = 0;
        group.bench_function(name, |b| {
            b.iter(|| {
                now += 1000;
                s.cycle(Now::mono(now), 1000)
            })
        });
    }
    // Fresh readings every cycle, one wallbox stepping at a time: the phase
    // estimator is fed and weighs a change each cycle. The readings'
    // recording is part of what is measured.
    let mut s = site("");
    let mut now = 0;
    let mut n = 0;
    group.bench_function("no_rules_fresh_readings_one_car_stepping", |b| {
        b.iter(|| {
            now += 1000;
            n += 1;
            record_cycle(&mut s, (n / 2) % 100, now);
            s.cycle(Now::mono(now), 1000)
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
