//! How fast the phase estimator finds each wallbox's rotation, and how
//! often its confident answers are right, against the house's noise: random
//! sites (1–8 wallboxes, half with a meter, random true and configured
//! rotations, one-, two- and three-phase cars, some full, meters off by up
//! to 1 %) charging as the real allocator decides, in a house whose
//! appliances step by up to the noise level. Prints a Markdown table.
//!
//!   cargo run --release -p chargebrain-actors --example phase_learning [SITES] [CYCLES]

use actors::sim::site_model::SiteModel;
use actors::wiring::{PhaseEstimator, CONFIDENT};

/// What the sites of one noise level showed.
#[derive(Default)]
struct Level {
    /// Cycles from a one- or two-phase car's first draw to the first
    /// confident answer, per wallbox (metered, unmetered); `None`: not
    /// found within the run.
    metered: Vec<Option<u64>>,
    unmetered: Vec<Option<u64>>,
    right: u32,
    wrong: u32,
    /// Cycles in which a wallbox where no car drew reported confidence.
    without_draw: u32,
}

fn run(noise_ma: i64, sites: u64, cycles: u64) -> Level {
    let mut level = Level::default();
    for seed in 0..sites {
        let mut site = SiteModel::random(seed, noise_ma, cycles);
        let mut est = PhaseEstimator::new();
        let mut first: Vec<Option<(u64, bool)>> = vec![None; site.wallboxes.len()];
        for _ in 0..cycles {
            site.step();
            site.feed(&mut est);
            for (i, w) in site.wallboxes.iter().enumerate() {
                let Some(wiring) = est.wiring(&w.id) else {
                    continue;
                };
                if wiring.confidence >= CONFIDENT {
                    if w.first_draw().is_none() {
                        level.without_draw += 1;
                    }
                    first[i]
                        .get_or_insert((site.cycle(), wiring.rotation == Some(w.true_rotation)));
                }
            }
        }
        for (w, first) in site.wallboxes.iter().zip(first) {
            match first {
                Some((_, true)) => level.right += 1,
                Some((_, false)) => level.wrong += 1,
                None => {}
            }
            if let Some(start) = w.first_narrow_draw() {
                let took = first
                    .filter(|f| f.1)
                    .map(|(at, _)| at.saturating_sub(start));
                if w.metered {
                    level.metered.push(took);
                } else {
                    level.unmetered.push(took);
                }
            }
        }
    }
    level
}

/// Share found within `within` cycles, and the 50th, 90th and 99th
/// percentiles of the cycles it took (not found counts as never).
fn summary(took: &[Option<u64>]) -> String {
    let n = took.len().max(1);
    let mut sorted: Vec<u64> = took.iter().map(|t| t.unwrap_or(u64::MAX)).collect();
    sorted.sort_unstable();
    let within = |c: u64| sorted.iter().filter(|t| **t <= c).count() * 1000 / n;
    let pct =
        |q: usize| match sorted.get((sorted.len() * q / 100).min(sorted.len().saturating_sub(1))) {
            Some(&u64::MAX) | None => "–".to_string(),
            Some(c) => c.to_string(),
        };
    format!(
        "{} | {}.{} % | {}.{} % | {} / {} / {}",
        took.len(),
        within(60) / 10,
        within(60) % 10,
        within(600) / 10,
        within(600) % 10,
        pct(50),
        pct(90),
        pct(99)
    )
}

fn main() {
    let mut args = std::env::args().skip(1);
    let sites: u64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(1000);
    let cycles: u64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(1200);
    let levels = [0i64, 1500, 3000, 6000, 10_000, 16_000];
    let results: Vec<(i64, Level)> = std::thread::scope(|scope| {
        let handles: Vec<_> = levels
            .iter()
            .map(|&noise| scope.spawn(move || (noise, run(noise, sites, cycles))))
            .collect();
        handles.into_iter().filter_map(|h| h.join().ok()).collect()
    });
    println!("{sites} random sites per level, {cycles} cycles each; cycles counted from the first draw of a one- or two-phase car\n");
    println!("| house noise (largest step) | | wallboxes | found ≤ 60 cycles | ≤ 600 cycles | cycles p50 / p90 / p99 |");
    println!("|---:|---|---:|---:|---:|---:|");
    for (noise, level) in &results {
        println!(
            "| {:.1} A | metered | {} |",
            *noise as f64 / 1000.0,
            summary(&level.metered)
        );
        println!("| | unmetered | {} |", summary(&level.unmetered));
    }
    println!("\n| house noise | confident answers (≥ 95 %), first per wallbox | right | cycles confident without a car having drawn |");
    println!("|---:|---:|---:|---:|");
    for (noise, level) in &results {
        let all = level.right + level.wrong;
        println!(
            "| {:.1} A | {all} | {:.2} % | {} |",
            *noise as f64 / 1000.0,
            100.0 * f64::from(level.right) / f64::from(all.max(1)),
            level.without_draw
        );
    }
}
