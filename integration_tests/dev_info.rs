//! `get_dev_info`'s filters, `dev_id=` and `fields=`, and the answer
//! served from the snapshot's serialized devices.

use serde_json::{json, Value};

use crate::harness::{device_info, plain_settings, Daemon, DaemonConfig};

fn settings() -> String {
    plain_settings(
        "[[devices]]\ndev_id = \"M1\"\ndev_type = \"meter_ajax\"\nname = \"Grid\"\nrole = 3\n\
         [[devices]]\ndev_id = \"E2\"\ndev_type = \"evse_ajax\"\nname = \"Carport\"\n\
         [[devices]]\ndev_id = \"E3\"\ndev_type = \"evse_ajax\"\nname = \"Garage\"\n",
        500,
    )
}

fn dev_ids(info: &Value) -> Vec<&str> {
    info["devices"]
        .as_array()
        .map(|d| d.iter().filter_map(|d| d["dev_id"].as_str()).collect())
        .unwrap_or_default()
}

#[tokio::test]
async fn dev_id_and_fields_choose_devices_and_their_keys() {
    let d = Daemon::start(DaemonConfig::new(settings())).await;
    d.ok("cmd=set_ajax_meter&dev_id=M1&current=3000,4000,5000")
        .await;
    d.ok("cmd=set_ajax_evse&dev_id=E3&state=3&current=6000,6000,6000")
        .await;
    let all = d.ok("cmd=get_dev_info").await;
    assert_eq!(dev_ids(&all), ["M1", "E2", "E3"]);

    // Some devices, in the order asked, each as in the whole answer.
    let some = d.ok("cmd=get_dev_info&dev_id=E3,m1").await;
    assert_eq!(dev_ids(&some), ["E3", "M1"]);
    let all = d.ok("cmd=get_dev_info").await;
    for dev_id in ["E3", "M1"] {
        let mut whole = device_info(&all, dev_id);
        let mut chosen = device_info(&some, dev_id);
        // Both answers come from the same cycle unless one ended between them.
        for v in [&mut whole, &mut chosen] {
            v["com_err_secs"] = json!(0);
        }
        assert_eq!(chosen, whole, "{dev_id}");
    }
    assert_eq!(
        some["params"]["max_total_current"],
        all["params"]["max_total_current"]
    );
    assert_eq!(some["loadmgr_disabled"], false);

    // Some keys: the dev_id always, the others where the device has them.
    let few = d
        .ok("cmd=get_dev_info&fields=state,cur_charging_power,current_l1")
        .await;
    let devices = few["devices"].as_array().expect("devices");
    assert_eq!(devices.len(), 3);
    let e3 = device_info(&few, "E3");
    assert_eq!(
        e3.as_object()
            .map(|o| o.keys().cloned().collect::<Vec<_>>()),
        Some(vec![
            "dev_id".to_string(),
            "state".into(),
            "cur_charging_power".into(),
            "current_l1".into()
        ]),
        "the keys in the answer's own order: {e3}"
    );
    assert_eq!(e3["state"], 3);
    assert_eq!(e3["current_l1"], 6000);
    assert_eq!(
        device_info(&few, "M1"),
        json!({"dev_id": "M1", "current_l1": 3000})
    );
    assert!(few["params"].is_object(), "the parameters stay: {few}");

    // Both at once.
    let one = d.ok("cmd=get_dev_info&dev_id=E2&fields=name").await;
    assert_eq!(one["devices"], json!([{"name": "Carport", "dev_id": "E2"}]));
}

#[tokio::test]
async fn bad_filters_are_refused_with_a_json_error() {
    let d = Daemon::start(DaemonConfig::new(settings())).await;
    let (status, body) = d.get("cmd=get_dev_info&fields=dev_id,colour").await;
    assert_eq!(status, 400, "{body}");
    let text = body.as_str().unwrap_or_default();
    assert!(
        text.contains("fields") && text.contains("'colour'") && text.contains("lb_reason"),
        "names the field and the ones there are: {text}"
    );
    let (status, body) = d.get("cmd=get_dev_info&dev_id=E2,E9").await;
    assert_eq!((status, body), (404, json!("unknown device: E9")));
    for query in [
        "cmd=get_dev_info&dev_id=",
        "cmd=get_dev_info&dev_id=E2,,E3",
        "cmd=get_dev_info&fields=",
        "cmd=get_dev_info&fields=state,",
    ] {
        let (status, body) = d.get(query).await;
        assert_eq!(status, 400, "{query}: {body}");
        assert!(
            body.as_str().is_some_and(|t| t.contains("comma-separated")),
            "{query}: {body}"
        );
    }
    let (status, _) = d.get("cmd=get_dev_info&dev_id=E2&dev_id=E3").await;
    assert_eq!(status, 400, "a parameter given twice");
}

#[tokio::test]
async fn a_change_shows_at_once_in_the_served_answer() {
    let d = Daemon::start(DaemonConfig::new(settings())).await;
    // Read twice: the second read is served from what the first serialized.
    for _ in 0..2 {
        let info = d.ok("cmd=get_dev_info").await;
        assert_eq!(device_info(&info, "E2")["name"], "Carport");
    }
    let (status, body) = d
        .post(
            "cmd=set_params",
            r#"{"devices": [{"dev_id": "E2", "name": "Driveway"}]}"#,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    for query in ["cmd=get_dev_info", "cmd=get_params"] {
        let info = d.ok(query).await;
        assert_eq!(device_info(&info, "E2")["name"], "Driveway", "{query}");
    }
    d.ok("cmd=set_ajax_meter&dev_id=M1&current=7000,7000,7000")
        .await;
    let info = d.ok("cmd=get_dev_info&dev_id=M1").await;
    assert_eq!(device_info(&info, "M1")["current_l2"], 7000);
}
