//! §14a grid dimming through the real binary and the simulated plant: a
//! control box's contact on the Power Brain's S0 input 1 (`E1.input1` as
//! the `grid_dimming` formula), and `cmd=set_grid_dimming`; the wallbox is
//! capped to the regulated 4.2 kW while dimmed, and charges as before once
//! it is lifted; each start and end is in the dimming log.

use std::time::Duration;

use actors::sim::closed_loop::{PlantSim, SimulationSettings};
use serde_json::Value;

use crate::harness::{device_info, Daemon, DaemonConfig};

fn e1(info: &Value) -> Value {
    device_info(info, "E1")
}

fn lb_ma(info: &Value) -> i64 {
    e1(info)["lb_current"].as_i64().unwrap_or(-1)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dimming_by_the_s0_input_and_by_the_api_caps_the_wallbox_and_is_lifted() {
    let plant = PlantSim::start(&SimulationSettings {
        enabled: true,
        base_port: 0,
        wallboxes: 1,
        grid_meter: true,
        tick_ms: 50,
        ..SimulationSettings::default()
    })
    .await
    .expect("plant");
    plant.plug(1, 3, 16_000);
    let settings = format!(
        "[modbus]\ntimeout_ms = 300\n[simulation]\nenabled = false\n[load]\n\
         max_total_current = 32000\ncycle_time_ms = 500\ngrid_dimming_formula = \"E1.input1\"\n\
         [[devices]]\ndev_id = \"E1\"\ndev_type = \"evse_powerbrain\"\naddress = \"{}\"\nid = 1\n\
         max_charging_cur = 16000\n\
         [[devices]]\ndev_id = \"M1\"\ndev_type = \"meter_sdm630\"\naddress = \"{}\"\nid = 1\nrole = 3\n",
        plant.addresses["evse"], plant.addresses["grid"]
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = DaemonConfig::new(settings);
    config.dir = Some(dir.path().to_path_buf());
    let d = Daemon::start(config).await;
    let within = Duration::from_secs(20);
    d.wait_for(within, "16 A undimmed", |i| lb_ma(i) == 16_000)
        .await;

    // The control box closes its contact: 4.2 kW for the one wallbox, 6 A
    // on three phases at 230 V.
    plant.set_inputs(1, 0b01);
    let info = d
        .wait_for(within, "dimmed by the S0 input", |i| lb_ma(i) == 6000)
        .await;
    assert_eq!(
        e1(&info)["lb_reason_code"],
        "grid_dimming",
        "{:#}",
        e1(&info)
    );
    assert_eq!(
        e1(&info)["lb_reason"],
        "§14a: dimmed, 4200 W for all wallboxes"
    );
    let dim = &info["params"]["grid_dimming"];
    assert_eq!(dim["active"], true, "{dim}");
    assert_eq!(dim["source"], "formula");
    assert_eq!(dim["limit_w"], 4200);
    assert!(
        dim["since"].as_u64().is_some_and(|s| s > 1_700_000_000),
        "{dim}"
    );
    d.wait_for(within, "the car follows", |_| {
        plant.car_currents()[0] == 6000
    })
    .await;
    // Lifted: back to 16 A.
    plant.set_inputs(1, 0);
    let info = d.wait_for(within, "lifted", |i| lb_ma(i) == 16_000).await;
    assert_eq!(info["params"]["grid_dimming"]["active"], false);

    // The same by the API (HTTP here; MQTT takes the same command).
    d.ok_change("cmd=set_grid_dimming&active=1").await;
    let info = d
        .wait_for(within, "dimmed by the API", |i| lb_ma(i) == 6000)
        .await;
    assert_eq!(info["params"]["grid_dimming"]["source"], "command");
    let (status, _) = d.change("cmd=set_grid_dimming&active=maybe").await;
    assert_eq!(status, 400);
    d.ok_change("cmd=set_grid_dimming&active=0").await;
    d.wait_for(within, "lifted by the API", |i| lb_ma(i) == 16_000)
        .await;

    // Four events in the dimming log beside the state file.
    let log_path = dir.path().join("data").join("grid_dimming_log.csv");
    let mut text = String::new();
    for _ in 0..50 {
        text = std::fs::read_to_string(&log_path).unwrap_or_default();
        if text.lines().count() >= 5 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.first(), Some(&"time,event,source,limit_w"), "{text}");
    let events: Vec<String> = lines[1..]
        .iter()
        .map(|l| l.split(',').skip(1).collect::<Vec<_>>().join(","))
        .collect();
    assert_eq!(
        events,
        [
            "start,formula,4200",
            "end,formula,4200",
            "start,command,4200",
            "end,command,4200"
        ],
        "{text}"
    );
}
