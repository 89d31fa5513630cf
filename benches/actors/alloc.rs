//! Allocation time for 10, 100, 1 000 and 10 000 EVSEs.
//!
//! Each site is random but seeded (the same site on every run): one- and
//! three-phase cars on wallboxes rotated 0/120/240, minimum 6 A, maximum
//! 10 to 32 A, three priorities, a few wallboxes not answering, groups
//! (some nested) with limits from tight to loose, and a site limit well
//! below the demand, so minimums are refused (pauses), cars are held by
//! the site and by groups (water-filling), and the 20 A imbalance limit
//! reduces one-phase cars.
//!
//! A second shape (`allocate_nested`): a third of the wallboxes one-phase,
//! and the groups a tree four deep (3 top groups, each with 3 children,
//! each with 3 children, each with 3 leaf groups: 120 groups), every
//! wallbox in a group; the tighter groups bind at every depth.
//!
//! `cargo bench -p chargebrain-actors --bench alloc`

use std::hint::black_box;

use actors::alloc::{allocate, Constraint, EvseInput, GroupInput, Reason, Rotation, SiteInput};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

const SIZES: [usize; 4] = [10, 100, 1_000, 10_000];
const SEED: u64 = 0x5eed_cb42_2026_0001;

/// xorshift64: enough randomness for a reproducible site.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// Uniform in `0..n` (n > 0; the bias is irrelevant here).
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// True with probability `percent` %.
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

fn round_to_amp(ma: i64) -> i64 {
    ma / 1000 * 1000
}

/// How a benchmark site is built.
#[derive(Clone, Copy)]
enum Shape {
    /// 40 % one-phase, 10 groups (a few nested), 20 % outside any group.
    Mixed,
    /// A third one-phase, every wallbox in a group of a tree four deep.
    Nested,
}

/// Parents of groups 1..=count (0 = the site).
fn group_parents(shape: Shape, n: usize) -> Vec<u32> {
    match shape {
        Shape::Mixed => {
            // The last third sit inside an earlier group, the very last
            // one two levels deep.
            let group_count: u32 = if n >= 100 { 10 } else { 2 };
            let nested_from = group_count - (group_count / 3).max(1);
            (1..=group_count)
                .map(|g| {
                    if g <= nested_from || g == 1 {
                        0
                    } else if g == group_count && group_count > 3 {
                        g - 1
                    } else {
                        1 + (g - nested_from - 1) % nested_from
                    }
                })
                .collect()
        }
        Shape::Nested => {
            // Depth 1: groups 1..=3; each group g has children 3g+1..=3g+3,
            // down to depth 4 (groups 40..=120).
            (1..=120u32)
                .map(|g| if g <= 3 { 0 } else { (g - 1) / 3 })
                .collect()
        }
    }
}

/// A site of `n` EVSEs; the same for the same shape and `n` on every run.
fn site_of(shape: Shape, n: usize) -> (SiteInput, Vec<EvseInput>) {
    let salt = match shape {
        Shape::Mixed => 0,
        Shape::Nested => 0x4e57,
    };
    let mut rng = Rng(SEED ^ salt ^ (n as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15));
    let parents = group_parents(shape, n);
    let group_count = parents.len() as u32;
    let one_phase_percent = match shape {
        Shape::Mixed => 40,
        Shape::Nested => 33,
    };

    // Turns are a shuffled plug-in order.
    let mut turns: Vec<u64> = (0..n as u64).collect();
    for i in (1..turns.len()).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        turns.swap(i, j);
    }

    let rotations = [Rotation::Deg0, Rotation::Deg120, Rotation::Deg240];
    let evses: Vec<EvseInput> = turns
        .iter()
        .map(|&turn| {
            let wallbox_phases = if rng.chance(one_phase_percent) {
                0b001
            } else {
                0b111
            };
            let rotation = rotations[rng.below(3) as usize];
            let group = match shape {
                Shape::Mixed if rng.chance(20) => 0,
                Shape::Mixed => 1 + rng.below(u64::from(group_count)) as u32,
                // Every wallbox in a leaf group (depth 4).
                Shape::Nested => 40 + rng.below(81) as u32,
            };
            EvseInput {
                group,
                prio: 1 + rng.below(3) as i64,
                turn,
                phases: rotation.to_building(wallbox_phases),
                min_ma: 6000,
                max_ma: 10_000 + 1000 * rng.below(23) as i64,
                uncontrolled: rng.chance(1),
            }
        })
        .collect();

    // What the cars could draw per phase, in all and per group (a group
    // counts its nested groups' cars too).
    let mut demand = [0i64; 3];
    let mut group_demand = vec![[0i64; 3]; group_count as usize + 1];
    for e in &evses {
        for p in (0..3).filter(|p| e.phases & (1 << p) != 0) {
            demand[p] += e.max_ma;
            let mut g = e.group;
            while g != 0 {
                group_demand[g as usize][p] += e.max_ma;
                g = parents[g as usize - 1];
            }
        }
    }
    let groups = (1..=group_count)
        .map(|id| {
            // From tight (25 % of what its cars could draw) to loose (85 %).
            let share = 25 + rng.below(61) as i64;
            let most = group_demand[id as usize].iter().copied().max().unwrap_or(0);
            GroupInput {
                id,
                parent: parents[id as usize - 1],
                limit_ma: [round_to_amp(most * share / 100).max(16_000); 3],
            }
        })
        .collect();

    let mean_demand = demand.iter().sum::<i64>() / 3;
    let site = SiteInput {
        // Well below the demand: the highest priority mostly gets its
        // maximum, the middle one is water-filled, the lowest mostly paused.
        available_ma: [round_to_amp(mean_demand * 45 / 100).max(16_000); 3],
        evse_cap_ma: Some(round_to_amp(mean_demand / 2).max(16_000)),
        max_imbalance_ma: Some(20_000),
        imbalance_base_ma: [4000, 0, 2000],
        groups,
    };
    (site, evses)
}

/// One line per site saying which limits bound, so it is visible that the
/// allocation is constrained.
fn describe(n: usize, site: &SiteInput, evses: &[EvseInput]) {
    let out = allocate(site, evses).expect("the generated site is consistent");
    let (mut max, mut site_limit, mut group_limit, mut other_limit) = (0, 0, 0, 0);
    let (mut paused_min, mut imbalance, mut paused_imbalance, mut uncontrolled) = (0, 0, 0, 0);
    for a in &out {
        match a.reason {
            Reason::MaxCurrent => max += 1,
            Reason::Limit(Constraint::Site, _) => site_limit += 1,
            Reason::Limit(Constraint::Group(_), _) => group_limit += 1,
            Reason::Limit(..) => other_limit += 1,
            Reason::NoMinimum(..) | Reason::GivesWay(..) => paused_min += 1,
            Reason::Imbalance(_) => imbalance += 1,
            Reason::PausedImbalance(_) => paused_imbalance += 1,
            Reason::Uncontrolled => uncontrolled += 1,
        }
    }
    eprintln!(
        "site of {n} EVSEs, {} groups: max {max}, site limit {site_limit}, group limit \
         {group_limit}, other limit {other_limit}, paused (no minimum) {paused_min}, \
         imbalance {imbalance}, paused (imbalance) {paused_imbalance}, uncontrolled {uncontrolled}",
        site.groups.len()
    );
}

fn bench_allocate(c: &mut Criterion) {
    for (name, shape) in [
        ("allocate", Shape::Mixed),
        ("allocate_nested", Shape::Nested),
    ] {
        let mut group = c.benchmark_group(name);
        for n in SIZES {
            let (site, evses) = site_of(shape, n);
            describe(n, &site, &evses);
            group.throughput(Throughput::Elements(n as u64));
            group.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
                b.iter(|| allocate(black_box(&site), black_box(&evses)));
            });
        }
        group.finish();
    }
}

criterion_group!(benches, bench_allocate);
criterion_main!(benches);
