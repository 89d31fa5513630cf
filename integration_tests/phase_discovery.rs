//! Finding the phases through the real binary, on the simulated plant's
//! hidden wiring (`[simulation] rotations` is how the wallboxes are really
//! connected, whatever the daemon is told): a wrong `phase_rotation` is
//! warned of and both phases are protected, `auto` takes up the measured
//! rotation, no phase of the site is over its limit while it is learnt
//! (sampled at the plant's own grid meter over Modbus), "identify phases"
//! finds what charging alone does not, and what was learnt survives a
//! restart.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio_modbus::client::tcp;
use tokio_modbus::prelude::*;

use crate::harness::{device_info, repo_file, Daemon, DaemonConfig, LOG_WAIT};

/// The shipped settings with this `[simulation]` and E2's `phase_rotation`
/// (shipped: 120, as the shipped plant is wired) given as `e2_rotation`.
pub(crate) fn shipped_with(simulation: &str, e2_rotation: &str) -> String {
    let shipped = std::fs::read_to_string(repo_file("settings.toml")).expect("settings.toml");
    let start = shipped.find("[simulation]").expect("a [simulation] table");
    let end = shipped.find("[storage]").expect("a [storage] table");
    let text = format!("{}{simulation}\n{}", &shipped[..start], &shipped[end..]);
    assert_eq!(text.matches("phase_rotation = 120").count(), 1);
    text.replace(
        "phase_rotation = 120",
        &format!("phase_rotation = {e2_rotation}"),
    )
}

/// The shipped plant (E1: a three-phase car; E2 really wired 120°, a
/// one-phase car of up to 32 A), with this household load per phase.
pub(crate) fn shipped_plant(house: [i64; 3]) -> String {
    format!(
        "[simulation]\nenabled = true\nbase_port = 0\nwallboxes = 2\nrotations = [0, 120]\n\
         grid_meter = true\nhouse_load_ma = {house:?}\n\
         [[simulation.cars]]\nwallbox = 1\nphases = 3\nmax_current_ma = 16000\n\
         [[simulation.cars]]\nwallbox = 2\nphases = 1\nmax_current_ma = 32000\n"
    )
}

/// The site limit of the shipped settings, mA per phase.
const LIMIT_MA: i64 = 32_000;

/// The plant's own grid meter (an SDM630 on Modbus TCP), read directly:
/// its current per phase, mA (the meter reports them unsigned).
async fn plant_grid(addr: SocketAddr) -> [i64; 3] {
    let mut ctx = tcp::connect_slave(addr, Slave(1))
        .await
        .expect("the plant's grid meter");
    let words = ctx
        .read_input_registers(0x0006, 6)
        .await
        .expect("a Modbus answer")
        .expect("no exception");
    let amps = |i: usize| {
        let bits = (u32::from(words[i]) << 16) | u32::from(words[i + 1]);
        f64::from(f32::from_bits(bits))
    };
    #[allow(clippy::cast_possible_truncation)]
    [0, 2, 4].map(|i| (amps(i) * 1000.0).round() as i64)
}

/// Samples the plant's grid meter every 200 ms until `done` holds for the
/// daemon's `get_dev_info`; fails if any phase was over the site limit,
/// or after `within`. Answers the last `get_dev_info` and the most seen.
async fn sample_until(
    d: &Daemon,
    within: Duration,
    what: &str,
    done: impl Fn(&Value) -> bool,
) -> (Value, [i64; 3]) {
    let grid = d.simulated["grid"];
    let deadline = Instant::now() + within;
    let mut most = [0i64; 3];
    let mut polled = Instant::now();
    let mut info = d.ok("cmd=get_dev_info").await;
    loop {
        let now = plant_grid(grid).await;
        for p in 0..3 {
            most[p] = most[p].max(now[p]);
        }
        assert!(
            now.iter().all(|ma| *ma <= LIMIT_MA + 50),
            "{what}: a phase over the {LIMIT_MA} mA limit: {now:?}; E2 {:#}",
            device_info(&info, "E2")
        );
        if polled.elapsed() >= Duration::from_millis(500) {
            info = d.ok("cmd=get_dev_info").await;
            polled = Instant::now();
            if done(&info) {
                return (info, most);
            }
        }
        assert!(
            Instant::now() < deadline,
            "{what}: not reached; E2 {:#}",
            device_info(&info, "E2")
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn used(info: &Value, dev_id: &str) -> Value {
    device_info(info, dev_id)["phase_rotation_used"].clone()
}

#[tokio::test]
async fn a_wrong_phase_rotation_is_warned_of_once_and_auto_takes_up_the_measured_one() {
    // The shipped plant, but E2 is said to be wired 0° (it is 120°): its
    // one-phase car is really on the building's L2, not L1.
    let settings = shipped_with(&shipped_plant([10_000, 6000, 4000]), "0");
    let d = Daemon::start(DaemonConfig::new(settings)).await;
    let (info, _) = sample_until(&d, Duration::from_secs(60), "the warning", |info| {
        device_info(info, "E2")["phase_rotation_warning"] != ""
    })
    .await;
    let e2 = device_info(&info, "E2");
    assert_eq!(e2["phase_rotation"], 0, "{e2:#}");
    assert_eq!(e2["phase_rotation_detected"], 120, "{e2:#}");
    assert!(
        e2["phase_rotation_confidence"].as_f64() >= Some(0.95),
        "{e2:#}"
    );
    assert_eq!(e2["phase_rotation_state"], "confident", "{e2:#}");
    let warning = e2["phase_rotation_warning"].as_str().unwrap_or_default();
    assert!(
        warning.starts_with("configured 0°, measured 120° (confidence 9"),
        "{warning}"
    );
    // Until it is put right, load management protects both phases.
    assert_eq!(e2["phase_rotation_used"], json!([0, 120]), "{e2:#}");
    // The car is on the wallbox's L1 alone, which is the building's L2.
    let car = &e2["phases_detected"];
    assert_eq!(
        (
            &car["count"],
            &car["wallbox_phases"],
            &car["building_phases"],
            &car["measured"]
        ),
        (&json!(1), &json!(1), &json!(2), &json!(true)),
        "{e2:#}"
    );
    // E1's three-phase car shows nothing about its rotation.
    let e1 = device_info(&info, "E1");
    assert_eq!(e1["phase_rotation_warning"], "", "{e1:#}");
    assert_eq!(e1["phase_rotation_used"], json!([0]), "{e1:#}");
    // Warned once, however many cycles it lasts.
    let problem = "E2: phase_rotation is configured 0°, but the grid meter shows 120°";
    sample_until(&d, Duration::from_secs(10), "a few more cycles", |_| {
        d.count_logged(&[problem]) >= 1
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(d.count_logged(&[problem]), 1, "{:#?}", d.log_lines());

    // With "auto", the measured rotation is used: E2's draw is counted on
    // L2 alone, no longer on L1 too.
    let body = json!({"devices": [{"dev_id": "E2", "phase_rotation": "auto"}]}).to_string();
    let (status, answer) = d.post("cmd=set_params", body).await;
    assert_eq!(status, 200, "{answer}");
    let (info, _) = sample_until(&d, Duration::from_secs(20), "auto in use", |info| {
        used(info, "E2") == json!([120])
            && device_info(info, "E2")["current_l1"].as_i64() > Some(5000)
    })
    .await;
    let e2 = device_info(&info, "E2");
    assert_eq!(e2["phase_rotation"], "auto", "{e2:#}");
    assert_eq!(e2["phase_rotation_warning"], "", "{e2:#}");
    let (e1_ma, e2_ma) = (
        device_info(&info, "E1")["current_l1"].as_i64().unwrap_or(0),
        e2["current_l1"].as_i64().unwrap_or(0),
    );
    let evse = &info["params"]["evse_current"];
    let near = |v: &Value, ma: i64| v.as_i64().is_some_and(|x| (x - ma).abs() <= 300);
    assert!(
        near(&evse[0], e1_ma) && near(&evse[1], e1_ma + e2_ma) && near(&evse[2], e1_ma),
        "E2's {e2_ma} mA counted on L2 only, E1's {e1_ma} mA on all: {evse}"
    );
    // The measurement and the warning's end are logged.
    d.wait_logged(
        &[
            "E2: phase rotation measured 120°",
            "E2: phase_rotation auto no longer contradicts the grid meter",
        ],
        LOG_WAIT,
    )
    .await;
}

#[tokio::test]
async fn on_auto_no_phase_is_over_its_limit_while_the_rotation_is_learnt() {
    // E2's one-phase car is really on L2, where the house draws 8 A and
    // E1's car 16 A: 8 A are left there. Were E2 taken to be on L1 (0°,
    // the default), it would be given up to 32 A on a phase with 8 A left.
    let settings = shipped_with(&shipped_plant([4000, 8000, 4000]), "\"auto\"");
    let d = Daemon::start(DaemonConfig::new(settings)).await;
    let (info, most) = sample_until(
        &d,
        Duration::from_secs(60),
        "E2's rotation in use",
        |info| {
            used(info, "E2") == json!([120])
                && device_info(info, "E2")["current_l1"].as_i64() > Some(5000)
        },
    )
    .await;
    let e2 = device_info(&info, "E2");
    assert_eq!(e2["phase_rotation_detected"], 120, "{e2:#}");
    assert_eq!(e2["phase_rotation_warning"], "", "{e2:#}");
    // And it stays within the limit while charging on.
    let start = Instant::now();
    let (_, later) = sample_until(&d, Duration::from_secs(20), "ten more seconds", |_| {
        start.elapsed() > Duration::from_secs(10)
    })
    .await;
    // L2 is the phase that binds: the cars use what is left of it.
    assert!(
        most[1].max(later[1]) >= LIMIT_MA - 2000,
        "L2 is used up to its limit: {most:?} then {later:?}"
    );
}

#[tokio::test]
async fn identify_phases_finds_the_rotations_where_charging_alone_does_not() {
    // Two one-phase cars that start in the same cycle and then never move
    // (the site limit never binds): no change of one stands alone, so the
    // grid meter cannot tell which car is on which phase.
    let simulation =
        "[simulation]\nenabled = true\nbase_port = 0\nwallboxes = 2\nrotations = [120, 240]\n\
         grid_meter = true\nhouse_load_ma = [2000, 2000, 2000]\n\
         [[simulation.cars]]\nwallbox = 1\nphases = 1\nmax_current_ma = 10000\n\
         [[simulation.cars]]\nwallbox = 2\nphases = 1\nmax_current_ma = 10000\n";
    let settings = shipped_with(simulation, "\"auto\"").replacen(
        "phase_rotation = 0",
        "phase_rotation = \"auto\"",
        1,
    );
    let d = Daemon::start(DaemonConfig::new(settings)).await;
    let (info, _) = sample_until(&d, Duration::from_secs(30), "both cars charging", |info| {
        ["E1", "E2"]
            .iter()
            .all(|id| device_info(info, id)["current_l1"].as_i64() > Some(9000))
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let info_before = d.ok("cmd=get_dev_info").await;
    for id in ["E1", "E2"] {
        let e = device_info(&info_before, id);
        assert_ne!(
            e["phase_rotation_state"], "confident",
            "{id} {e:#} {info:#}"
        );
        assert_eq!(e["phase_rotation_used"], json!([0, 120, 240]), "{e:#}");
    }

    // Asked by GET, or without the admin's body: refused.
    let (status, _) = d.get("cmd=identify_phases").await;
    assert_eq!(status, 405);
    let (status, answer) = d.post("cmd=identify_phases", r#"{"dev_id": 2}"#).await;
    assert_eq!(status, 400, "{answer}");
    let (status, answer) = d.post("cmd=identify_phases", r#"{"dev_id": "E9"}"#).await;
    assert_eq!(status, 400, "{answer}");

    let (status, plan) = d.post("cmd=identify_phases", "{}").await;
    assert_eq!(status, 200, "{plan}");
    // The shipped settings' OCPP wallbox E4 has no car here: nothing to step.
    assert_eq!(
        plan["wallboxes"],
        json!({"E1": "waiting", "E2": "waiting", "E4": "not_charging"})
    );
    let longest = plan["longest_cycles"].as_u64().unwrap_or(0);
    assert!(longest > 0, "{plan}");
    let (status, answer) = d.post("cmd=identify_phases", "{}").await;
    assert_eq!(status, 400, "one probe at a time: {answer}");

    let within = Duration::from_secs(longest + 20);
    let (info, _) = sample_until(&d, within, "both found", |info| {
        ["E1", "E2"]
            .iter()
            .all(|id| device_info(info, id)["phase_probe"] == "found")
    })
    .await;
    for (id, degrees) in [("E1", 120), ("E2", 240)] {
        let e = device_info(&info, id);
        assert_eq!(e["phase_rotation_detected"], degrees, "{e:#}");
        assert_eq!(e["phase_rotation_used"], json!([degrees]), "{e:#}");
    }
    // The caps are lifted: both back at what they had before.
    sample_until(&d, Duration::from_secs(20), "both back at 10 A", |info| {
        ["E1", "E2"]
            .iter()
            .all(|id| device_info(info, id)["current_l1"].as_i64() > Some(9000))
    })
    .await;
    d.wait_logged(
        &[
            "identifying phases: E1 waiting, E2 waiting",
            "E1 found: 120°",
        ],
        LOG_WAIT,
    )
    .await;
}

#[tokio::test]
async fn what_was_learnt_survives_a_restart_and_is_forgotten_when_the_wallbox_changes() {
    let dir = tempfile::tempdir().expect("a directory");
    let config = |simulation: String| DaemonConfig {
        settings: shipped_with(&simulation, "\"auto\""),
        env: Vec::new(),
        dir: Some(dir.path().to_path_buf()),
    };
    let d = Daemon::start(config(shipped_plant([10_000, 6000, 4000]))).await;
    d.wait_for(Duration::from_secs(60), "E2 learnt", |info| {
        used(info, "E2") == json!([120])
    })
    .await;
    assert_eq!(d.stop().await, Some(0));
    let state: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("data/state.json")).expect("the state file"),
    )
    .expect("JSON");
    let learnt = &state["learnt_rotations"]["E2"]["ppm"];
    assert!(learnt[1].as_u64() > Some(950_000), "{state:#}");

    // Restarted with no car at E2: nothing new can be learnt there, yet
    // the rotation is known and in use.
    let no_car_at_e2 =
        "[simulation]\nenabled = true\nbase_port = 0\nwallboxes = 2\nrotations = [0, 120]\n\
         grid_meter = true\nhouse_load_ma = [10000, 6000, 4000]\n\
         [[simulation.cars]]\nwallbox = 1\nphases = 3\nmax_current_ma = 16000\n";
    let d = Daemon::start(config(no_car_at_e2.to_string())).await;
    let info = d
        .wait_for(Duration::from_secs(20), "E1 charging", |info| {
            device_info(info, "E1")["current_l1"].as_i64() > Some(5000)
        })
        .await;
    let e2 = device_info(&info, "E2");
    assert_eq!(
        (&e2["phase_rotation_detected"], &e2["phase_rotation_used"]),
        (&json!(120), &json!([120])),
        "{e2:#}"
    );
    assert_eq!(e2["phases_detected"], Value::Null, "no car: {e2:#}");

    // Reset (a new box): forgotten.
    let (status, answer) = d.post("cmd=reset_device&dev_id=E2", "{}").await;
    assert_eq!(status, 200, "{answer}");
    let info = d
        .wait_for(Duration::from_secs(10), "E2 forgotten", |info| {
            device_info(info, "E2")["phase_rotation_detected"].is_null()
        })
        .await;
    assert_eq!(used(&info, "E2"), json!([0, 120, 240]));
}
