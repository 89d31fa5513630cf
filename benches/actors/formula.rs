//! Parse and evaluate cost of typical formulas.
//!
//!   cargo bench -p chargebrain-actors --bench formula

use std::collections::HashMap;

use actors::rules::formula::{eval, parse, Names};
use criterion::{criterion_group, criterion_main, Criterion};

struct Table(HashMap<String, f64>);

impl Names for Table {
    fn lookup(&self, path: &[String]) -> Option<f64> {
        self.0.get(&path.join(".")).copied()
    }
}

const FORMULAS: &[(&str, &str)] = &[
    ("time_window", "date.dayminute >= 480 ? 8000 : 0"),
    ("apartment", "min(16000, 29000 - M3.current)"),
    (
        "weekend",
        "date.weekday == 5 || date.weekday == 6 ? 16000 : 0",
    ),
    (
        "surplus",
        "clamp(round(GM.surplus.power_w / 230 / 3 * 1000), 0, 16000)",
    ),
];

fn bench(c: &mut Criterion) {
    let names = Table(
        [
            ("date.dayminute", 500.0),
            ("m3.current", 12_000.0),
            ("date.weekday", 6.0),
            ("gm.surplus.power_w", 7000.0),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect(),
    );
    let mut group = c.benchmark_group("formula");
    for (name, text) in FORMULAS {
        group.bench_function(format!("parse/{name}"), |b| {
            b.iter(|| parse(std::hint::black_box(text)))
        });
        let expr = parse(text).expect("the benchmark formulas parse");
        group.bench_function(format!("eval/{name}"), |b| {
            b.iter(|| eval(std::hint::black_box(&expr), &names))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
