//! A history as a 10-wallbox site leaves it after 48 hours of 1 s cycles,
//! for the history benchmark and `examples/history_file.rs`.

use actors::history::{EvseValues, History, SiteValues};

/// 48 hours of 1 s cycles ending at unix ms `end`: a house load and
/// `wallboxes` cars that change every minute.
pub fn history(wallboxes: usize, end: i64) -> History {
    let ids: Vec<String> = (1..=wallboxes).map(|n| format!("E{n}")).collect();
    let mut h = History::new();
    let secs = 48 * 3600;
    for s in 0..secs {
        let t = end - (secs - s) * 1000;
        let wave = |n: i64| i32::try_from((s / 60 + n * 7) % 17).unwrap_or(0);
        let house = [
            8_000 + 300 * wave(1),
            5_000 + 200 * wave(2),
            4_000 + 250 * wave(3),
        ];
        let offered = |n: i64| 6_000 + 500 * wave(n);
        let cars: i32 = (1..=i64::try_from(wallboxes).unwrap_or(0))
            .map(offered)
            .sum();
        let site = SiteValues {
            current: house.map(|h| h + cars),
            house,
            limit: 250_000,
        };
        let evses = ids.iter().zip(1..).map(|(id, n)| {
            (
                id.as_str(),
                EvseValues {
                    offered: offered(n),
                    drawn: offered(n) - 200,
                    power: (offered(n) - 200) * 3 * 230 / 1000,
                },
            )
        });
        h.record(t, site, evses);
    }
    h
}
