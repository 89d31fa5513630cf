//! The dashboard's history charts in a real browser (headless Chromium)
//! against the real daemon controlling the simulated plant: they appear,
//! and a change of the house load shows as a step in the site chart.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use actors::sim::closed_loop::{CarSettings, PlantSim, SimulationSettings};

use crate::harness::{Daemon, DaemonConfig};
use crate::webdriver::{Browser, WAIT};

fn artifacts() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("web-ui");
    std::fs::create_dir_all(&dir).expect("artifact directory");
    dir
}

/// A wallbox with a three-phase car behind a grid meter; `house_ma` per phase.
async fn start_plant(house_ma: i64) -> PlantSim {
    PlantSim::start(&SimulationSettings {
        enabled: true,
        base_port: 0,
        wallboxes: 1,
        grid_meter: true,
        house_load_ma: [house_ma; 3],
        cars: vec![CarSettings {
            wallbox: 1,
            phases: 3,
            max_current_ma: 16_000,
            arrive_s: 0,
            leave_s: 0,
            asleep: false,
        }],
        tick_ms: 50,
        ..SimulationSettings::default()
    })
    .await
    .expect("plant")
}

fn settings(plant: &PlantSim) -> String {
    format!(
        "[modbus]\ntimeout_ms = 300\n[simulation]\nenabled = false\n\
         [load]\nmax_total_current = 32000\ncycle_time_ms = 500\n\
         [[devices]]\ndev_id = \"E1\"\ndev_type = \"evse_powerbrain\"\nname = \"Garage\"\n\
         address = \"{}\"\nid = 1\nmax_charging_cur = 16000\n\
         [[devices]]\ndev_id = \"M1\"\ndev_type = \"meter_sdm630\"\nname = \"Grid\"\n\
         address = \"{}\"\nid = 1\nrole = 3\n",
        plant.addresses["evse"], plant.addresses["grid"]
    )
}

/// The house load the L1 chart draws, left to right, in mA: the top edge
/// of its house areas, read back from the SVG's coordinates.
async fn drawn_house(browser: &Browser) -> Vec<f64> {
    let chart = "[data-testid=chart-site-L1]";
    let Some(plot) = browser.find_all(chart).await.into_iter().next() else {
        return Vec::new();
    };
    let top: f64 = browser
        .attribute(&plot, "data-max-ma")
        .await
        .and_then(|m| m.parse().ok())
        .unwrap_or(0.0);
    let mut house = Vec::new();
    for area in browser
        .find_all(&format!("{chart} polygon[data-series=house]"))
        .await
    {
        let points = browser.attribute(&area, "points").await.unwrap_or_default();
        let ys: Vec<f64> = points
            .split_whitespace()
            .filter_map(|p| p.split_once(',').and_then(|(_, y)| y.parse().ok()))
            .collect();
        // The top edge is the first half; the way back along the axis the rest.
        house.extend(ys[..ys.len() / 2].iter().map(|y| (100.0 - y) / 100.0 * top));
    }
    house
}

#[tokio::test]
async fn the_charts_appear_and_show_a_house_load_step() {
    let plant = start_plant(5_000).await;
    let d = Daemon::start(DaemonConfig::new(settings(&plant))).await;
    let browser = Browser::start(1280, 1000).await;
    browser.goto(&format!("{}/", d.base)).await;
    browser.click_on("[data-testid=range-600]").await;
    browser
        .wait_for("[data-testid=chart-site-L1] polygon[data-series=house]")
        .await;
    browser
        .wait_for("[data-testid=chart-E1] polygon[data-series=drawn]")
        .await;
    browser
        .wait_for("[data-testid=chart-E1] polyline[data-series=offered]")
        .await;
    for phase in ["L2", "L3"] {
        browser
            .wait_for(&format!(
                "[data-testid=chart-site-{phase}] polyline[data-series=limit]"
            ))
            .await;
    }

    // A few seconds at 5 A, then the house draws 16 A.
    let deadline = Instant::now() + WAIT;
    while drawn_house(&browser)
        .await
        .iter()
        .filter(|ma| (*ma - 5_000.0).abs() < 700.0)
        .count()
        < 4
    {
        assert!(
            Instant::now() < deadline,
            "the chart shows 5 A of house load"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    plant.set_house_load([16_000; 3]);
    let deadline = Instant::now() + Duration::from_secs(30);
    let house = loop {
        let house = drawn_house(&browser).await;
        let low = house.iter().position(|ma| (ma - 5_000.0).abs() < 700.0);
        let high = house.iter().rposition(|ma| (ma - 16_000.0).abs() < 700.0);
        // The step: 5 A first, 16 A after, and 16 A where it ends.
        if let (Some(low), Some(high)) = (low, high) {
            if low < high && house.last().is_some_and(|ma| (ma - 16_000.0).abs() < 700.0) {
                break house;
            }
        }
        assert!(
            Instant::now() < deadline,
            "no step from 5 A to 16 A drawn: {house:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    eprintln!("house load drawn (mA): {house:?}");
    std::fs::write(artifacts().join("history.png"), browser.screenshot().await)
        .expect("history screenshot");

    // The car leaves: its session is in the charging log, and in the
    // wallbox's session list.
    plant.unplug(1);
    let deadline = Instant::now() + WAIT;
    while d.get_text("cmd=get_ta_log").await.1.lines().count() < 2 {
        assert!(
            Instant::now() < deadline,
            "the session reached the charging log"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    browser
        .click_on("[data-testid=history-E1] details.sessions summary")
        .await;
    let row = browser
        .wait_for_text("[data-testid=history-E1] details.sessions tbody tr", |t| {
            t.contains("kWh")
        })
        .await;
    eprintln!("session listed: {row}");
}

#[tokio::test]
async fn the_site_summary_says_what_a_one_and_a_three_phase_car_could_get() {
    let plant = start_plant(5_000).await;
    plant.set_house_load([10_000, 4_000, 7_000]);
    let d = Daemon::start(DaemonConfig::new(settings(&plant))).await;
    let browser = Browser::start(1280, 900).await;
    browser.goto(&format!("{}/", d.base)).await;
    let deadline = Instant::now() + WAIT;
    loop {
        let info = d.ok("cmd=get_dev_info").await;
        let avail: Vec<i64> = (0..3)
            .map(|p| info["params"]["available_current"][p].as_i64().unwrap_or(0))
            .collect();
        let amps = |ma: i64| format!("{:.1} A", ma as f64 / 1000.0);
        let one = *avail.iter().max().unwrap_or(&0);
        let three = *avail.iter().min().unwrap_or(&0);
        let phase = avail.iter().position(|a| *a == one).unwrap_or(0) + 1;
        let says = [
            format!(
                "a one-phase car up to {} ({:.2} kW, on L{phase})",
                amps(one),
                one as f64 * 230.0 / 1e6
            ),
            format!(
                "a three-phase car up to {} per phase ({:.2} kW)",
                amps(three),
                three as f64 * 3.0 * 230.0 / 1e6
            ),
        ];
        let text = browser
            .text(&browser.wait_for("[data-testid=site-summary]").await)
            .await;
        if says.iter().all(|s| text.contains(s.as_str())) {
            assert!(!text.contains("they may use"), "{text}");
            break;
        }
        assert!(Instant::now() < deadline, "{text:?} should say {says:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
