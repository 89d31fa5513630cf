//! Saving settings while the plant runs: devices that keep working keep
//! their status; nothing shows a communication error that did not happen.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use crate::harness::{simulated_power_brain, Daemon};

/// Every device of a `get_dev_info` answer that reports a communication
/// problem or is not known to be running: `dev_id: com_err, model`.
fn unhealthy(info: &Value) -> Vec<String> {
    info["devices"]
        .as_array()
        .map(|all| {
            all.iter()
                .filter(|d| {
                    d["com_err"] != false
                        || ["failed to connect", "starting"]
                            .contains(&d["model"].as_str().unwrap_or(""))
                })
                .map(|d| {
                    format!(
                        "{}: com_err {}, model {}",
                        d["dev_id"], d["com_err"], d["model"]
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Pushes the HTTP-input meter M4 and wallbox E3 every 200 ms until `stop`.
fn keep_pushing(d: &Daemon, stop: Arc<AtomicBool>) -> tokio::task::JoinHandle<()> {
    let (client, base) = (d.client().clone(), d.base.clone());
    tokio::spawn(async move {
        while !stop.load(Ordering::Relaxed) {
            let meter = json!({"model": "house", "current": [4000, 3000, 2000], "voltage": [230, 230, 230]});
            let evse = json!({"model": "carport", "state": 3, "current": [6000, 6000, 6000], "max_charging_current": 16000});
            for (cmd, body) in [
                ("set_ajax_meter&dev_id=M4", meter),
                ("set_ajax_evse&dev_id=E3", evse),
            ] {
                let _ = client
                    .post(format!("{base}/cnf?cmd={cmd}"))
                    .header("Content-Type", "application/json")
                    .body(body.to_string())
                    .send()
                    .await;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
}

#[tokio::test]
async fn saving_settings_never_shows_a_false_communication_error() {
    let d = Daemon::start(simulated_power_brain()).await;
    let added = json!({"devices": [
        {"dev_id": "M4", "dev_type": "meter_ajax", "name": "House", "role": 0},
        {"dev_id": "E3", "dev_type": "evse_ajax", "name": "Carport", "max_charging_cur": 16000}
    ]});
    assert_eq!(
        d.post("cmd=set_params", added.to_string()).await,
        (200, json!("ok"))
    );
    let stop = Arc::new(AtomicBool::new(false));
    let pusher = keep_pushing(&d, stop.clone());
    // Every device answers (the Power Brain is identified) before the saves.
    d.wait_for(Duration::from_secs(20), "every device healthy", |info| {
        unhealthy(info).is_empty()
    })
    .await;

    // Saves of every kind that keep the devices' boxes: site parameters,
    // a Modbus wallbox's limit, the HTTP devices' names; each followed at
    // once by a read, while a second client reads all the time.
    let watching = Arc::new(AtomicBool::new(true));
    let watcher = {
        let (client, base, watching) = (d.client().clone(), d.base.clone(), watching.clone());
        tokio::spawn(async move {
            let mut seen = Vec::new();
            let mut reads = 0;
            while watching.load(Ordering::Relaxed) {
                let answer = client
                    .get(format!("{base}/cnf?cmd=get_dev_info"))
                    .send()
                    .await;
                if let Ok(info) = answer.expect("get_dev_info").json::<Value>().await {
                    seen.extend(unhealthy(&info));
                    reads += 1;
                }
            }
            (seen, reads)
        })
    };
    for i in 0..40 {
        let body = match i % 4 {
            0 => json!({"max_total_current": 31000 + i * 10}),
            1 => json!({"devices": [{"dev_id": "E1", "max_charging_cur": 15000 + i * 10}]}),
            2 => json!({"devices": [{"dev_id": "M4", "name": format!("House {i}")}]}),
            _ => {
                json!({"devices": [{"dev_id": "E3", "name": format!("Carport {i}"), "prio": 1 + i % 3}]})
            }
        };
        assert_eq!(
            d.post("cmd=set_params", body.to_string()).await,
            (200, json!("ok")),
            "save {i}"
        );
        let info = d.ok("cmd=get_dev_info").await;
        assert_eq!(
            unhealthy(&info),
            Vec::<String>::new(),
            "right after save {i}: {body}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    watching.store(false, Ordering::Relaxed);
    let (seen, reads) = watcher.await.expect("watcher");
    assert!(reads > 40, "the second client read {reads} times");
    assert_eq!(seen, Vec::<String>::new(), "seen by the second client");
    stop.store(true, Ordering::Relaxed);
    let _ = pusher.await;
}
