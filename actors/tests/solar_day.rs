//! A day of charging, faster than real time: the real supervisor, device
//! actors and drivers talk Modbus over loopback to the simulated plant
//! (a Power Brain wallbox with a car, an SDM630 grid meter, a house and
//! PV), on a clock the test moves forward one cycle at a time.

mod common;

use actors::supervisor::SoftMeter;
use common::{start_day, Day, HOUSE_MA, VOLTS};
use jiff::civil::{date, DateTime};

/// The car's least current, mA.
const MIN_MA: i64 = 6000;

/// One cycle of the day as a user would look at it.
#[derive(Debug, Clone, Copy)]
struct Moment {
    at: DateTime,
    /// PV less house load per phase: what the car could take, mA.
    surplus_ma: i64,
    /// What the car draws per phase, mA.
    car_ma: i64,
    /// The grid meter's net import over the three phases, W (− export).
    grid_w: i64,
}

/// The day's wallbox: a car's minimum of `MIN_MA`, under `rules`.
async fn start_solar_day(rules: &str, start: DateTime) -> Day {
    let wallbox = format!(
        "min_charging_cur = {MIN_MA}\nmax_charging_cur = 16000\ncharging_rules = {rules}\n"
    );
    start_day("solar day", &wallbox, 120, start).await
}

impl Day {
    /// Moves the plant and the clock on by `step_ms` with `pv_ma` per
    /// phase, lets the daemon run one cycle, and reports the moment.
    async fn step(&self, step_ms: u64, pv_ma: i64) -> Moment {
        self.plant.set_pv([pv_ma; 3]);
        self.plant.step(step_ms);
        self.clock.advance(step_ms);
        self.cycle().await;
        let grid = self.plant.grid_ma();
        Moment {
            at: self.clock.datetime(),
            surplus_ma: pv_ma - HOUSE_MA,
            car_ma: self.plant.car_currents()[0],
            grid_w: grid.iter().sum::<i64>() * VOLTS / 1000,
        }
    }
}

/// Clear-sky PV per phase: a sine from 06:00 to 20:00, 14.5 A at 13:00.
fn clear_sky_ma(at: DateTime) -> i64 {
    let hours =
        f64::from(at.hour()) + f64::from(at.minute()) / 60.0 + f64::from(at.second()) / 3600.0;
    let sun = ((hours - 6.0) / 14.0 * std::f64::consts::PI).sin().max(0.0);
    (14_500.0 * sun) as i64
}

fn minutes(at: DateTime) -> i32 {
    i32::from(at.hour()) * 60 + i32::from(at.minute())
}

/// Clouds: 3 minutes from 11:00 (shorter than `udur`), 30 minutes from
/// 14:00 (longer). Under a cloud the PV gives a fifth.
fn pv_ma(at: DateTime) -> i64 {
    let m = minutes(at);
    let clouded = (660..663).contains(&m) || (840..870).contains(&m);
    let clear = clear_sky_ma(at);
    if clouded {
        clear / 5
    } else {
        clear
    }
}

const DAY_STEP_MS: u64 = 10_000;
const UDUR_S: i64 = 300;

#[actix::test]
async fn a_sunny_day_charges_from_the_surplus_only() {
    let surplus_rule = format!("[{{ mode = 5, udur = {UDUR_S} }}]");
    let day = start_solar_day(&surplus_rule, date(2026, 6, 22).at(5, 0, 0, 0)).await;
    let mut moments = Vec::new();
    while day.clock.datetime() < date(2026, 6, 22).at(21, 0, 0, 0) {
        let next = day.clock.datetime() + jiff::Span::new().milliseconds(DAY_STEP_MS as i64);
        moments.push(day.step(DAY_STEP_MS, pv_ma(next)).await);
    }
    let step_s = (DAY_STEP_MS / 1000) as i64;
    // A cycle or two for the car to follow a decision.
    let lag = 2;

    // It charges only when the surplus reaches the minimum, or within
    // `udur` after it last did.
    let mut last_enough: Option<usize> = None;
    for (i, m) in moments.iter().enumerate() {
        if m.surplus_ma >= MIN_MA {
            last_enough = Some(i);
        }
        if m.car_ma > 0 {
            let since = last_enough.map(|at| (i - at) as i64 * step_s);
            assert!(
                since.is_some_and(|s| s <= UDUR_S + lag * step_s),
                "{}: the car draws {} mA with {} mA surplus, last enough {:?} s ago",
                m.at,
                m.car_ma,
                m.surplus_ma,
                since
            );
        }
    }

    // It follows the surplus under a clear sky: at most 0.5 A below it
    // (the 0.1 A steps of the wallbox and rounding), and above it only by
    // what the sun changed since the last cycle.
    let settled: Vec<&Moment> = moments
        .windows(2 * lag as usize + 1)
        .filter(|w| w.iter().all(|m| m.surplus_ma >= MIN_MA + 500))
        .map(|w| &w[lag as usize])
        .collect();
    assert!(
        settled.len() > 2000,
        "hours of sun: {} cycles",
        settled.len()
    );
    for m in &settled {
        let off = m.surplus_ma.min(16_000) - m.car_ma;
        assert!(
            (-200..=500).contains(&off),
            "{}: the car draws {} mA of a {} mA surplus",
            m.at,
            m.car_ma,
            m.surplus_ma
        );
    }

    let at = |h: i8, min: i8| date(2026, 6, 22).at(h, min, 0, 0);
    let during =
        |from: DateTime, to: DateTime| moments.iter().filter(move |m| m.at >= from && m.at < to);
    // The short cloud is ridden through at the minimum at least.
    assert!(
        during(at(11, 0), at(11, 3)).all(|m| m.car_ma >= MIN_MA),
        "a 3-minute cloud does not stop the car"
    );
    // The long one stops it after `udur`, and it starts again after the cloud.
    assert!(
        during(
            at(14, 5) + jiff::Span::new().seconds(lag * step_s),
            at(14, 30)
        )
        .all(|m| m.car_ma == 0),
        "after udur under a cloud the car pauses"
    );
    assert!(
        during(at(14, 0), at(14, 4)).all(|m| m.car_ma >= MIN_MA),
        "within udur it keeps charging"
    );
    assert!(
        during(at(14, 45), at(15, 0)).all(|m| m.car_ma >= MIN_MA),
        "the car charges again after the cloud (and its minimum pause)"
    );

    // Grid energy for charging: what the grid gave while the car drew.
    let step_h = DAY_STEP_MS as f64 / 3_600_000.0;
    let charged_wh: f64 = moments
        .iter()
        .map(|m| (m.car_ma * 3 * VOLTS / 1000) as f64 * step_h)
        .sum();
    let from_grid_wh: f64 = moments
        .iter()
        .map(|m| (m.grid_w.clamp(0, m.car_ma * 3 * VOLTS / 1000)) as f64 * step_h)
        .sum();
    assert!(
        charged_wh > 30_000.0,
        "a sunny day charges: {charged_wh:.0} Wh"
    );
    assert!(
        from_grid_wh < 0.05 * charged_wh,
        "{from_grid_wh:.0} Wh of {charged_wh:.0} Wh came from the grid"
    );
    eprintln!(
        "sunny day: {:.1} kWh charged, {:.2} kWh ({:.2} %) from the grid",
        charged_wh / 1000.0,
        from_grid_wh / 1000.0,
        100.0 * from_grid_wh / charged_wh
    );
}

#[actix::test]
async fn a_night_rule_charges_from_22_to_6_only() {
    let night = "[{ time = 1320, dur = 480, current = 16000 }]";
    // From Monday noon to Tuesday noon, one cycle a minute.
    let day = start_solar_day(night, date(2026, 6, 22).at(12, 0, 0, 0)).await;
    let mut moments = Vec::new();
    while day.clock.datetime() < date(2026, 6, 23).at(12, 0, 0, 0) {
        moments.push(day.step(60_000, 0).await);
    }
    for m in &moments {
        let minute = minutes(m.at);
        let night = !(6 * 60..22 * 60).contains(&minute);
        // A minute's lag at each end of the window.
        let settled = minute != 22 * 60 && minute != 6 * 60;
        if !night && settled {
            assert_eq!(m.car_ma, 0, "{}: charges outside the night window", m.at);
        }
        if night && settled {
            assert_eq!(m.car_ma, 16_000, "{}: the night window gives 16 A", m.at);
        }
    }
}

#[actix::test]
async fn a_wallbox_without_a_meter_counts_what_it_is_offered_on_its_soft_meter() {
    // The Power Brain says it has no meter (register 8112): the soft meter
    // integrates the current it offers while the car charges, 16 A on three
    // phases at 230 V, on the manual clock.
    let day = start_solar_day("[]", date(2026, 6, 21).at(12, 0, 0, 0)).await;
    if let Some(bank) = day.plant.wallbox(1) {
        bank.lock().set_words(8112, &[0]);
    }
    for _ in 0..3 {
        day.step(1000, 0).await;
    }
    let soft_meter = |set: Option<i64>| {
        day.supervisor.send(SoftMeter {
            dev_id: "E1".into(),
            set,
        })
    };
    soft_meter(Some(0))
        .await
        .expect("runs")
        .expect("E1 is a wallbox");
    for _ in 0..30 {
        let moment = day.step(1000, 0).await;
        assert_eq!(moment.car_ma, 16_000, "the car charges at 16 A");
    }
    let wh = soft_meter(None)
        .await
        .expect("runs")
        .expect("E1 is a wallbox");
    // 16 A × 230 V × 3 phases × 30 s = 92 Wh.
    assert_eq!(wh, 16 * VOLTS * 3 * 30 / 3600);
}
