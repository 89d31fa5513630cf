//! The phase estimator's cost per cycle for 100 wallboxes: a busy site
//! charging under the real allocator (cars arriving, starting, taking
//! turns, a house with appliances), and three fixed cycles — nothing
//! changes, one wallbox changes (the evidence path), all 100 change at once.
//!
//!   cargo bench -p chargebrain-actors --bench wiring

use actors::alloc::Rotation;
use actors::sim::rng::Rng;
use actors::sim::site_model::{SiteModel, Visit};
use actors::wiring::{CycleObservation, PhaseEstimator, WallboxObservation};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};

const WALLBOXES: usize = 100;
const CYCLES: u64 = 1200;

/// One cycle's readings, owned: the grid and each wallbox's report.
type Recorded = (Option<[i64; 3]>, Vec<(bool, bool, i64, Option<[i64; 3]>)>);

/// 100 wallboxes (half with a meter, random wiring, one-, two- and
/// three-phase cars arriving over the first five minutes) on a 400 A
/// supply that binds, with house noise up to 6 A, run for 1200 cycles.
fn busy_site() -> (Vec<String>, Vec<Recorded>) {
    let mut rng = Rng::new(22);
    let mut site = SiteModel::new(22, 400_000, [20_000, 15_000, 18_000], 6000);
    let rotations = [Rotation::Deg0, Rotation::Deg120, Rotation::Deg240];
    for _ in 0..WALLBOXES {
        let truth = rng.pick(&rotations).unwrap_or_default();
        let arrive = rng.below(300);
        let visit = Visit {
            arrive,
            leave: u64::MAX,
            phases: rng.pick(&[1, 2, 3, 3]).unwrap_or(3),
            max_ma: rng.pick(&[11_000, 16_000, 32_000]).unwrap_or(16_000),
            ramp_ma_per_s: rng.between(2000, 30_000),
            start_delay_s: 2 + rng.below(4),
        };
        site.add_wallbox(truth, truth, rng.chance(0.5), 16_000, vec![visit]);
    }
    let ids = site.wallboxes.iter().map(|w| w.id.clone()).collect();
    let mut recorded = Vec::new();
    for _ in 0..CYCLES {
        site.step();
        let boxes = site
            .wallbox_observations()
            .iter()
            .map(|o| (o.plugged, o.charging, o.offered_ma, o.meter_ma))
            .collect();
        recorded.push((Some(site.grid_reading()), boxes));
    }
    (ids, recorded)
}

fn observations<'a>(ids: &'a [String], cycle: &Recorded) -> Vec<WallboxObservation<'a>> {
    ids.iter()
        .zip(&cycle.1)
        .map(
            |(id, &(plugged, charging, offered_ma, meter_ma))| WallboxObservation {
                id,
                plugged,
                charging,
                offered_ma,
                meter_ma,
            },
        )
        .collect()
}

/// A fixed cycle: every wallbox charging at `offered(i)` mA, even ones
/// with a meter showing it on L1.
fn fixed(offered: impl Fn(usize) -> i64) -> Recorded {
    let boxes = (0..WALLBOXES)
        .map(|i| {
            let ma = offered(i);
            (true, true, ma, (i % 2 == 0).then_some([ma, 0, 0]))
        })
        .collect();
    (Some([100_000, 90_000, 95_000]), boxes)
}

fn bench(c: &mut Criterion) {
    let (ids, recorded) = busy_site();
    let cycles: Vec<Vec<WallboxObservation<'_>>> =
        recorded.iter().map(|r| observations(&ids, r)).collect();
    let mut group = c.benchmark_group("phase_estimator_100_wallboxes");
    group.throughput(Throughput::Elements(CYCLES));
    group.bench_function("busy_site_1200_cycles", |b| {
        b.iter_batched(
            PhaseEstimator::new,
            |mut est| {
                for (cycle, obs) in recorded.iter().zip(&cycles) {
                    est.observe(&CycleObservation {
                        grid_ma: cycle.0,
                        wallboxes: obs,
                    });
                }
                est
            },
            BatchSize::LargeInput,
        )
    });
    group.throughput(Throughput::Elements(1));
    let still = fixed(|_| 16_000);
    let one = fixed(|i| if i == 1 { 12_000 } else { 16_000 });
    let all = fixed(|_| 15_000);
    for (name, other) in [
        ("nothing_changes", &still),
        ("one_changes", &one),
        ("all_change", &all),
    ] {
        let a = observations(&ids, &still);
        let b_obs = observations(&ids, other);
        let mut est = PhaseEstimator::new();
        let mut flip = false;
        group.bench_function(name, |b| {
            b.iter(|| {
                flip = !flip;
                let (obs, grid) = if flip {
                    (&b_obs, other.0)
                } else {
                    (&a, still.0)
                };
                est.observe(&CycleObservation {
                    grid_ma: grid,
                    wallboxes: obs,
                });
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
