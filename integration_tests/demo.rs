//! The built-in simulated plant after the README's own examples: it stays
//! plausible when a user adds HTTP-input devices and writes registers by hand.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::harness::{device_info, simulated_power_brain, Daemon, LOG_WAIT};

/// The shipped plant's household load per phase (`settings.toml`).
const HOUSE_MA: [i64; 3] = [10_000, 6_000, 4_000];

fn house(info: &Value) -> Vec<i64> {
    (0..3)
        .map(|p| {
            info["params"]["house_current"][p]
                .as_i64()
                .unwrap_or(i64::MIN)
        })
        .collect()
}

#[tokio::test]
async fn the_simulated_grid_meter_sees_what_an_http_wallbox_draws() {
    let d = Daemon::start(simulated_power_brain()).await;
    let added =
        json!({"devices": [{"dev_id": "E3", "dev_type": "evse_ajax", "max_charging_cur": 16000}]});
    assert_eq!(
        d.post("cmd=set_params", added.to_string()).await,
        (200, json!("ok"))
    );
    // E3 charges 10 A on three phases, pushed as the README shows.
    let push = json!({"state": 3, "max_charging_current": 16000, "current": [10000, 10000, 10000]});
    let deadline = Instant::now() + Duration::from_secs(20);
    let info = loop {
        let (status, _) = d
            .post("cmd=set_ajax_evse&dev_id=E3", push.to_string())
            .await;
        assert_eq!(status, 200);
        let info = d.ok("cmd=get_dev_info").await;
        let e3 = device_info(&info, "E3");
        let near = house(&info)
            .iter()
            .zip(HOUSE_MA)
            .all(|(h, want)| (h - want).abs() <= 500);
        if e3["current_l1"] == 10_000 && near {
            break info;
        }
        assert!(
            Instant::now() < deadline,
            "the house load should stay {HOUSE_MA:?} while E3 draws 10 A: {:?}",
            house(&info)
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    // Stable: a few cycles later the house load is still the house's.
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(700)).await;
        let (status, _) = d
            .post("cmd=set_ajax_evse&dev_id=E3", push.to_string())
            .await;
        assert_eq!(status, 200);
        let now = d.ok("cmd=get_dev_info").await;
        for (h, want) in house(&now).iter().zip(HOUSE_MA) {
            assert!(
                (h - want).abs() <= 500,
                "house {:?}, first {:?}",
                house(&now),
                house(&info)
            );
        }
    }
}

#[tokio::test]
async fn a_hand_written_current_limit_is_put_right_at_the_next_cycle() {
    let d = Daemon::start(simulated_power_brain()).await;
    d.wait_for(Duration::from_secs(20), "E1 charging", |i| {
        let e1 = device_info(i, "E1");
        e1["state"] == 3 && e1["last_set_charging_cur"].as_i64().unwrap_or(0) >= 6000
    })
    .await;
    // The three cars ramp up for a few seconds: load management's limit for
    // E1 settles first, so that a change is the hand's, not the cars'.
    let set_for_e1 = async || {
        device_info(&d.ok("cmd=get_dev_info").await, "E1")["last_set_charging_cur"]
            .as_i64()
            .unwrap_or(0)
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut seen = vec![set_for_e1().await];
    while seen.len() < 3
        || seen[seen.len() - 3..]
            .iter()
            .any(|&s| s != seen[seen.len() - 1])
    {
        assert!(
            Instant::now() < deadline,
            "E1's limit does not settle: {seen:?}"
        );
        tokio::time::sleep(Duration::from_millis(700)).await;
        seen.push(set_for_e1().await);
    }
    let set = seen[seen.len() - 1] / 100;
    let by_hand = if set == 70 { 80 } else { 70 };
    let written = d
        .ok_change(&format!(
            "cmd=modbus&device=evse&write=8093&value={by_hand}"
        ))
        .await;
    assert_eq!(written, json!("ok"));
    // The cycle runs every second: within a few the limit is load
    // management's again (not a minute later; 15 s leave room for a
    // loaded machine).
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let register = d
            .ok("cmd=modbus&device=evse&read=8093")
            .await
            .as_i64()
            .unwrap_or(-1);
        let info = d.ok("cmd=get_dev_info").await;
        let wanted = device_info(&info, "E1")["last_set_charging_cur"]
            .as_i64()
            .unwrap_or(0)
            / 100;
        if register == wanted && register != by_hand {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "8093 is {register} (written by hand: {by_hand}), load management sets {wanted}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_modbus_meter_turned_into_an_http_input_drops_its_address() {
    let d = Daemon::start(simulated_power_brain()).await;
    let change = json!({"devices": [{"dev_id": "M2", "dev_type": "meter_ajax"}]});
    assert_eq!(
        d.post("cmd=set_params", change.to_string()).await,
        (200, json!("ok"))
    );
    let m2 = device_info(&d.ok("cmd=get_params").await, "M2");
    assert_eq!(
        (&m2["dev_type"], &m2["address"]),
        (&json!("meter_ajax"), &json!(""))
    );
    let (status, answer) = d.get("cmd=modbus&device=M2&read=8002").await;
    assert_eq!(
        (status, answer),
        (
            400,
            json!("bad parameter device: M2 is a meter_ajax and has no registers")
        )
    );
    assert_eq!(
        d.ok("cmd=set_ajax_meter&dev_id=M2&current=1,2,3").await,
        json!("ok")
    );
}

#[tokio::test]
async fn a_power_brain_and_an_ocpp_wallbox_share_the_demo_site() {
    let d = Daemon::start(simulated_power_brain()).await;
    // The plant's charge point ocpp1 connects to the daemon's own OCPP
    // endpoint over a real WebSocket and boots; its car (single-phase, on
    // the building's L3) charges beside the Power Brains' cars.
    let info = d
        .wait_for(Duration::from_secs(30), "E1, E2 and E4 charging", |i| {
            let e4 = device_info(i, "E4");
            ["E1", "E2", "E4"]
                .iter()
                .all(|w| device_info(i, w)["state"] == 3 && device_info(i, w)["current_l1"] != 0)
                && e4["model"]
                    .as_str()
                    .is_some_and(|m| m.contains("simulated OCPP wallbox"))
        })
        .await;
    d.wait_logged(&["charge point booted"], LOG_WAIT).await;
    let e4 = device_info(&info, "E4");
    assert_eq!(
        (&e4["dev_type"], &e4["com_err"]),
        (&json!("evse_ocpp"), &json!(false))
    );
    // Steady: the grid meter shows the house plus the three cars, within
    // the 32 A supply on every phase, and the house load is the house's
    // (the OCPP wallbox's meter values agree with what its car draws).
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let info = d.ok("cmd=get_dev_info").await;
        let grid: Vec<i64> = ["current_l1", "current_l2", "current_l3"]
            .iter()
            .map(|k| device_info(&info, "M3")[k].as_i64().unwrap_or(i64::MAX))
            .collect();
        let near = house(&info)
            .iter()
            .zip(HOUSE_MA)
            .all(|(h, want)| (h - want).abs() <= 500);
        let e4_l3 = grid[2] - HOUSE_MA[2];
        if near && e4_l3 > 6000 {
            assert!(
                grid.iter().all(|&ma| ma <= 32_000 + 500),
                "over the supply: {grid:?}"
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "house {:?} (want {HOUSE_MA:?}), grid {grid:?}",
            house(&info)
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
