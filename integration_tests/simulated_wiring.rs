//! The simulated plant's own wiring through the real binary: a wallbox
//! really wired 240° while the daemon is told 120°, a car on two phases, a
//! wallbox without its meter, and a household appliance switching on and
//! off — what the grid meter shows is where the cars really are.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::harness::{device_info, repo_file, Daemon, DaemonConfig};

/// The shipped settings with this `[simulation]` instead of theirs.
fn shipped_with(simulation: &str) -> String {
    let shipped = std::fs::read_to_string(repo_file("settings.toml")).expect("settings.toml");
    let start = shipped.find("[simulation]").expect("a [simulation] table");
    let end = shipped.find("[storage]").expect("a [storage] table");
    format!("{}{simulation}\n{}", &shipped[..start], &shipped[end..])
}

fn currents(device: &Value) -> [i64; 3] {
    [1, 2, 3].map(|p| device[format!("current_l{p}")].as_i64().unwrap_or(i64::MIN))
}

#[tokio::test]
async fn the_grid_meter_shows_each_car_where_the_plant_really_wired_it() {
    // The shipped devices tell the daemon E2 is rotated 120°: its car on the
    // wallbox's L1 and L2 would be on the building's L2 and L3. The plant
    // really has it at 240°: on L3 and L1. E2 has no meter; an oven ring
    // switches 5 A on L2 every few seconds.
    let settings = shipped_with(
        "[simulation]\nenabled = true\nbase_port = 0\nwallboxes = 2\nrotations = [0, 240]\n\
         wallbox_meters = [true, false]\ngrid_meter = true\nhouse_load_ma = [10000, 6000, 4000]\n\
         seed = 3\n\
         [[simulation.appliances]]\nname = \"oven\"\nphases = [2]\ncurrent_ma = 5000\non_s = 3\noff_s = 3\n\
         [[simulation.cars]]\nwallbox = 1\nphases = 3\nmax_current_ma = 16000\n\
         [[simulation.cars]]\nwallbox = 2\nphases = 2\nmax_current_ma = 16000\n",
    );
    let d = Daemon::start(DaemonConfig::new(settings)).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut oven_seen = [false, false];
    let mut wiring_seen = 0;
    let (mut last_offer, mut same_offer) = (0, 0);
    while wiring_seen < 5 || !oven_seen.iter().all(|s| *s) {
        assert!(
            Instant::now() < deadline,
            "the grid meter should show E2's car on L1 and L3 ({wiring_seen} times) \
             and the oven on L2 ({oven_seen:?})"
        );
        tokio::time::sleep(Duration::from_millis(1000)).await;
        let info = d.ok("cmd=get_dev_info").await;
        let (grid, e1, e2) = (
            currents(&device_info(&info, "M3")),
            device_info(&info, "E1"),
            device_info(&info, "E2"),
        );
        let e1_ma = currents(&e1);
        // E2 reports no meter: what it draws is what it offers, once the
        // car has had time to follow it (the same offer over three polls a
        // second apart spans two cycles at least).
        let e2_ma = e2["current_l1"].as_i64().unwrap_or(0);
        same_offer = if std::mem::replace(&mut last_offer, e2_ma) == e2_ma {
            same_offer + 1
        } else {
            0
        };
        let settled = same_offer >= 2;
        if e1["state"] != 3 || e2["state"] != 3 || e2_ma < 6000 || e1_ma[0] < 6000 || !settled {
            continue;
        }
        // What is left of the grid after the house and E1's own meter.
        let rest = [0, 1, 2].map(|p| grid[p] - [10_000, 6000, 4000][p] - e1_ma[p]);
        let near = |a: i64, b: i64| (a - b).abs() <= 500;
        assert!(
            near(rest[0], e2_ma) && near(rest[2], e2_ma),
            "E2's {e2_ma} mA should be on L1 and L3: grid {grid:?}, E1 {e1_ma:?}, left {rest:?}"
        );
        assert!(
            near(rest[1], 0) || near(rest[1], 5000),
            "only the oven on L2: grid {grid:?}, E1 {e1_ma:?}, left {rest:?}"
        );
        oven_seen[usize::from(near(rest[1], 5000))] = true;
        wiring_seen += 1;
    }
}
