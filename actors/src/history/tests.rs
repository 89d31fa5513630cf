use super::*;

const T0: i64 = 1_764_600_000_000;

fn site(house: i32, cars: i32) -> SiteValues {
    SiteValues {
        current: [house + cars; 3],
        house: [house; 3],
        limit: 32_000,
    }
}

fn evse(offered: i32) -> EvseValues {
    EvseValues {
        offered,
        drawn: offered,
        power: offered * 3 * 230 / 1000,
    }
}

fn all(from_ms: i64, to_ms: i64, step_ms: i64) -> Query {
    Query {
        from_ms,
        to_ms,
        dev_id: None,
        step_ms,
    }
}

/// The times of a series' points.
fn times(s: &Series) -> Vec<i64> {
    let mut t = s.t0.unwrap_or(0);
    s.dt.iter()
        .map(|dt| {
            t += dt;
            t
        })
        .collect()
}

#[test]
fn the_last_hour_at_cycle_resolution_and_before_it_minute_means() {
    let mut h = History::new();
    // Two hours of 1 s cycles: a house-load step from 5 A to 16 A at 90 min.
    for s in 0..7200 {
        let house = if s < 5400 { 5_000 } else { 16_000 };
        h.record(T0 + s * 1000, site(house, 8_000), [("E1", evse(8_000))]);
    }
    let now = T0 + 7199 * 1000;
    let series = h.query(&all(T0, now, 0));
    let t = times(&series);
    // Every cycle of the last hour, and before it the minute means of the
    // minutes the cycles no longer cover.
    assert_eq!(t.len(), 59 + 3601);
    assert_eq!(t[0], T0);
    assert_eq!(t[58], T0 + 58 * 60_000);
    assert_eq!(t[59], now - 3600 * 1000);
    assert_eq!(t.last(), Some(&now));
    let site_series = series.site.expect("the site");
    assert_eq!(site_series.house_l1[0], 5_000);
    assert_eq!(site_series.current_l1[0], 13_000);
    assert_eq!(site_series.house_l1.last(), Some(&16_000));
    assert_eq!(series.evses["E1"].offered[0], Some(8_000));
    assert_eq!(series.evses["E1"].power[0], Some(5_520));
    // Averaged per 10 minutes: 12 points, the step in the 10th.
    let coarse = h.query(&all(T0, now, 600_000));
    let house = coarse.site.expect("the site").house_l1;
    assert_eq!(house.len(), 12);
    assert_eq!(&house[..9], [5_000; 9]);
    assert_eq!(&house[9..], [16_000; 3]);
    assert!(coarse.dt[1..].iter().all(|dt| *dt == 600_000));
}

#[test]
fn memory_is_bounded_by_time_and_count() {
    let mut h = History::new();
    // 50 hours of 60 s cycles, then an hour of 100 ms cycles.
    for m in 0..50 * 60 {
        h.record(T0 + m * 60_000, site(1, 1), [("E1", evse(6_000))]);
    }
    let end = T0 + 50 * 3_600_000;
    for i in 0..36_000 {
        h.record(end + i * 100, site(1, 1), [("E1", evse(6_000))]);
    }
    let now = end + 35_999 * 100;
    assert_eq!(h.fine.len(), MAX_FINE, "at most {MAX_FINE} cycle samples");
    assert!(h.coarse.len() <= MAX_COARSE);
    assert!(h.coarse.front().is_some_and(|s| s.0 >= now - COARSE_MS));
}

#[test]
fn a_wallbox_is_null_where_it_was_not_and_one_can_be_asked_for_alone() {
    let mut h = History::new();
    h.record(T0, site(1_000, 0), [("E1", evse(6_000))]);
    h.record(
        T0 + 1000,
        site(1_000, 0),
        [("E1", evse(7_000)), ("E2", evse(9_000))],
    );
    let s = h.query(&all(T0, T0 + 1000, 0));
    assert_eq!(s.evses["E2"].offered, [None, Some(9_000)]);
    let one = h.query(&Query {
        dev_id: Some("e2".into()),
        ..all(T0, T0 + 1000, 0)
    });
    assert!(one.site.is_none());
    assert_eq!(one.evses.keys().collect::<Vec<_>>(), ["E2"]);
    assert_eq!(one.dt, [0, 1000]);
    // Outside the range: nothing.
    let none = h.query(&all(T0 + 5000, T0 + 9000, 0));
    assert_eq!((none.t0, none.dt.len()), (None, 0));
    assert!(h.knows("E2") && !h.knows("E3"));
}

#[test]
fn saved_and_loaded_it_is_the_same_and_what_cannot_be_is_dropped() {
    let mut h = History::new();
    for s in 0..300 {
        h.record(T0 + s * 1000, site(2_000, 6_000), [("E1", evse(6_000))]);
    }
    let now = T0 + 299 * 1000;
    let text = serde_json::to_string(&h.to_saved()).expect("serializes");
    let loaded = History::from_saved(serde_json::from_str(&text).expect("parses"), now)
        .expect("a good file");
    let query = all(T0, now, 0);
    // The minute in progress was saved as its mean.
    assert_eq!(loaded.coarse.len(), 5);
    assert_eq!(loaded.query(&query).dt, h.query(&query).dt);
    assert_eq!(loaded.query(&query).site, h.query(&query).site);

    // Loaded an hour later, the cycle samples are gone, the means kept.
    let later = History::from_saved(
        serde_json::from_str(&text).expect("parses"),
        now + FINE_MS + 1000,
    )
    .expect("still good");
    assert!(later.fine.is_empty());
    assert_eq!(later.coarse.len(), 5);
    // From the future (the clock went back since): dropped.
    let before =
        History::from_saved(serde_json::from_str(&text).expect("parses"), T0 - 1).expect("good");
    assert!(before.fine.is_empty() && before.coarse.is_empty());

    let mut wrong = h.to_saved();
    wrong.version = 9;
    assert!(History::from_saved(wrong, now).is_err());
    let mut shuffled = h.to_saved();
    shuffled.fine.swap(0, 1);
    shuffled.fine[0].0 += 5000;
    assert!(History::from_saved(shuffled, now).is_err());
}

#[test]
fn a_clock_set_back_starts_afresh() {
    let mut h = History::new();
    h.record(T0 + 10_000, site(1, 1), []);
    h.record(T0, site(2, 2), []);
    let s = h.query(&all(0, i64::MAX, 0));
    assert_eq!(s.site.map(|s| s.house_l1), Some(vec![2]));
}
