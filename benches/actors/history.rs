//! The history of a 10-wallbox site after 48 hours of 1 s cycles: what one
//! cycle's `record` costs, what a `get_history` of all of it costs (the
//! query and its JSON, as the API sends it), how many bytes that answer
//! is, and how much memory the history holds.
//!
//!   cargo bench -p chargebrain-actors --bench history

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

use actors::history::{EvseValues, Query, SiteValues};
use criterion::{criterion_group, criterion_main, Criterion};

mod fill;

/// Counts the bytes allocated and not freed, to weigh the history.
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const END: i64 = 1_764_600_000_000;

fn bench(c: &mut Criterion) {
    let before = LIVE.load(Ordering::Relaxed);
    let mut history = fill::history(10, END);
    let held = LIVE.load(Ordering::Relaxed) - before;
    let all = Query {
        from_ms: END - 48 * 3_600_000,
        to_ms: END,
        dev_id: None,
        step_ms: 0,
    };
    let answer = serde_json::to_vec(&history.query(&all)).expect("JSON");
    let dashboard = Query {
        step_ms: 288_000,
        ..all.clone()
    };
    let chart = serde_json::to_vec(&history.query(&dashboard)).expect("JSON");
    let saved = serde_json::to_vec(&history.to_saved()).expect("JSON");
    eprintln!(
        "history of 10 wallboxes, 48 h: {held} bytes allocated ({} by its own count); \
         get_history of all of it: {} bytes; with step=288 (about 600 points): {} bytes; \
         the saved file: {} bytes",
        history.memory_bytes(),
        answer.len(),
        chart.len(),
        saved.len()
    );

    let mut group = c.benchmark_group("history_10_wallboxes_48h");
    group.bench_function("get_history_all_json", |b| {
        b.iter(|| serde_json::to_vec(&history.query(&all)).map(|v| v.len()))
    });
    group.bench_function("get_history_step_288s_json", |b| {
        b.iter(|| serde_json::to_vec(&history.query(&dashboard)).map(|v| v.len()))
    });
    let ids: Vec<String> = (1..=10).map(|n| format!("E{n}")).collect();
    let mut t = END;
    group.bench_function("record_one_cycle", |b| {
        b.iter(|| {
            t += 1000;
            let site = SiteValues {
                current: [30_000; 3],
                house: [8_000; 3],
                limit: 250_000,
            };
            let evses = ids.iter().map(|id| {
                (
                    id.as_str(),
                    EvseValues {
                        offered: 8_000,
                        drawn: 7_800,
                        power: 5_382,
                    },
                )
            });
            history.record(t, site, evses);
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
