//! The daemon under abuse: killed at random moments while changes stream
//! in, and fed thousands of random and mutated requests. (A kill leaves the
//! page cache intact, so it cannot show a missing fsync: the store's
//! power-cut tests, `actors/src/store/power_cut.rs`, do.)

use std::time::Duration;

use serde_json::Value;

use crate::harness::{repo_file, state_configuration, Daemon, DaemonConfig};

/// A small deterministic generator, so a failure can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

fn max_total_current(state_file: &std::path::Path) -> i64 {
    let text = std::fs::read_to_string(state_file).expect("the state file exists");
    let state: Value = serde_json::from_str(&text).expect("the state file parses");
    state["params"]["max_total_current"]
        .as_i64()
        .expect("max_total_current")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_at_random_moments_nothing_acknowledged_is_lost() {
    let dir = tempfile::tempdir().expect("tempdir");
    let state_file = dir.path().join("data/state.json");
    let settings = "[simulation]\nenabled = false\n[log]\nlevel = \"warn\"\n";
    let mut rng = Rng(0x5eed_cafe);
    let mut acknowledged: Option<i64> = None;
    let mut value = 10_000;
    for kill in 0..50 {
        let config = DaemonConfig {
            settings: settings.into(),
            env: Vec::new(),
            dir: Some(dir.path().to_path_buf()),
        };
        // A temporary file a kill may have left does not stop the start.
        let d = Daemon::start(config).await;
        // Before any change, the state the first start wrote is the one
        // acknowledged (a loaded machine may not answer the first change
        // before the first kill).
        if acknowledged.is_none() {
            acknowledged = Some(max_total_current(&state_file));
        }
        if let Some(survived) = acknowledged {
            // What the restarted daemon works with is what survived the
            // kill (checked against the acknowledged value below).
            assert_eq!(
                d.ok("cmd=get_dev_info").await["params"]["max_total_current"],
                survived,
                "restart {kill}: the daemon does not use the state that survived"
            );
        }
        let deadline = tokio::time::Instant::now() + Duration::from_millis(20 + rng.below(250));
        let mut in_flight: Option<i64>;
        loop {
            value += 1;
            in_flight = Some(value);
            let send = d.post(
                "cmd=set_params",
                format!("{{\"max_total_current\": {value}}}"),
            );
            match tokio::time::timeout_at(deadline, send).await {
                Ok((200, _)) => acknowledged = Some(value),
                Ok(other) => panic!("set_params answered {other:?}"),
                Err(_) => break,
            }
        }
        d.kill().await;
        let on_disk = max_total_current(&state_file);
        assert!(
            Some(on_disk) == acknowledged || Some(on_disk) == in_flight,
            "kill {kill}: file holds {on_disk}, last acknowledged {acknowledged:?}, in flight {in_flight:?}"
        );
        acknowledged = Some(on_disk);
    }
}

/// Parameter names the daemon knows, and some it does not.
const NAMES: &[&str] = &[
    "cmd",
    "device",
    "read",
    "write",
    "value",
    "values",
    "count",
    "dev_id",
    "state",
    "current",
    "voltage",
    "import_wh",
    "import_vah",
    "export_wh",
    "power_w",
    "model",
    "rfid",
    "total_energy",
    "max_charging_current",
    "enable",
    "acc",
    "allow_usage_stats",
    "old_pwd",
    "x",
    "",
    "cmd[]",
    "dev_id ",
];
const CMDS: &[&str] = &[
    "modbus",
    "get_dev_info",
    "get_params",
    "get_dev_types",
    "set_params",
    "del_device",
    "reset_device",
    "accept_license",
    "set_diag_logging",
    "set_ajax_meter",
    "set_ajax_evse",
    "enter_rfid",
    "",
    "MODBUS",
    "get_dev_info\0",
];
const VALUES: &[&str] = &[
    "0",
    "1",
    "-1",
    "8002",
    "8062d",
    "8016s",
    "8050q",
    "all",
    "65535",
    "65536",
    "99999999999999999999999",
    "1e308",
    "NaN",
    "-0",
    "1.5",
    "[1,2,3]",
    "[7,230,230,230 ]",
    "[",
    "]",
    "1,2,3",
    "1,2",
    ",,,",
    "evse",
    "meter1",
    "M1",
    "E1",
    "M3",
    "E2",
    "E99",
    "true",
    "null",
    "\u{1F50C}",
    "%",
    "%00",
    "\\",
    "'",
    "\"",
    "<script>",
    " ",
    "",
];

fn random_text(rng: &mut Rng) -> String {
    match rng.below(4) {
        0 => "x".repeat(rng.below(5000) as usize),
        1 => (0..rng.below(40))
            .map(|_| char::from_u32(rng.below(0x2FFF) as u32).unwrap_or('?'))
            .collect(),
        2 => rng.below(u64::MAX).to_string(),
        _ => rng.pick(VALUES).to_string(),
    }
}

fn random_json(rng: &mut Rng, depth: u32) -> Value {
    match rng.below(if depth > 3 { 4 } else { 7 }) {
        0 => Value::Null,
        1 => Value::from(rng.below(2) == 1),
        2 => Value::from(rng.next() as i64 >> rng.below(64)),
        3 => Value::from(random_text(rng)),
        4 => Value::Array(
            (0..rng.below(5))
                .map(|_| random_json(rng, depth + 1))
                .collect(),
        ),
        _ => {
            let keys = [
                "max_total_current",
                "reserve_current",
                "lb_enabled",
                "devices",
                "dev_id",
                "dev_type",
                "address",
                "current",
                "voltage",
                "import_wh",
                "state",
                "title",
                "min_pause_time",
                "prio",
                "group",
                "x",
            ];
            Value::Object(
                (0..rng.below(6))
                    .map(|_| (rng.pick(&keys).to_string(), random_json(rng, depth + 1)))
                    .collect(),
            )
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_random_requests_break_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let settings = std::fs::read_to_string(repo_file("settings.toml")).expect("settings")
        + "[[devices]]\ndev_id = \"M9\"\ndev_type = \"meter_ajax\"\n[[devices]]\ndev_id = \"E9\"\ndev_type = \"evse_ajax\"\n";
    let config = DaemonConfig {
        settings,
        env: vec![
            ("CHARGEBRAIN__SIMULATION__BASE_PORT".into(), "0".to_string()),
            ("CHARGEBRAIN__LOG__LEVEL".into(), "error".into()),
        ],
        dir: Some(dir.path().to_path_buf()),
    };
    let mut d = Daemon::start(config).await;
    let state_file = dir.path().join("data/state.json");
    let mut rng = Rng(0xf00d_f00d);
    let mut statuses = std::collections::BTreeMap::new();
    for i in 0..10_000 {
        let mut query: Vec<(String, String)> = Vec::new();
        if rng.below(10) > 0 {
            query.push(("cmd".into(), rng.pick(CMDS).to_string()));
        }
        for _ in 0..rng.below(6) {
            query.push((rng.pick(NAMES).to_string(), random_text(&mut rng)));
        }
        let mut url = reqwest::Url::parse(&format!("{}/cnf", d.base)).expect("url");
        url.query_pairs_mut().extend_pairs(&query);
        let request = match rng.below(3) {
            0 => d.client().get(url),
            1 => d
                .client()
                .post(url)
                .body(random_json(&mut rng, 0).to_string()),
            _ => {
                let bytes: Vec<u8> = (0..rng.below(300)).map(|_| rng.below(256) as u8).collect();
                d.client().post(url).body(bytes)
            }
        };
        let before = state_configuration(&state_file);
        let resp = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("request {i} failed: {e}"));
        let status = resp.status().as_u16();
        let body = resp.text().await.unwrap_or_default();
        *statuses.entry(status).or_insert(0) += 1;
        // 502 and 504 are device errors (a register the simulator refuses).
        assert!(
            status < 500 || status == 502 || status == 504,
            "request {i} {query:?}: {status} {body}"
        );
        assert!(
            serde_json::from_str::<Value>(&body).is_ok(),
            "request {i}: body is not JSON: {body:.200}"
        );
        if status != 200 {
            let after = state_configuration(&state_file);
            let changed: Vec<&String> = after
                .as_object()
                .map(|a| {
                    a.iter()
                        .filter(|(k, v)| before.get(k.as_str()) != Some(*v))
                        .map(|(k, _)| k)
                        .collect()
                })
                .unwrap_or_default();
            assert!(
                after == before,
                "request {i} {query:?} was rejected but changed the configuration: {changed:?}"
            );
        }
    }
    assert!(d.is_running(), "the daemon is still running");
    let info = d.ok("cmd=get_dev_info").await;
    assert!(info["devices"].is_array(), "it still answers");
    eprintln!("statuses: {statuses:?}");
}

/// The same with a large state (200 wallboxes, a state file of over
/// 64 KiB), whose changes go to the journal beside it: what a restart reads
/// (the file and the journal) is the last acknowledged change or the one
/// in flight.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_while_journaling_nothing_acknowledged_is_lost() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut settings = String::from("[simulation]\nenabled = false\n[log]\nlevel = \"warn\"\n");
    for n in 1..=200 {
        settings.push_str(&format!(
            "[[devices]]\ndev_id = \"E{n}\"\ndev_type = \"evse_ajax\"\nname = \"Wallbox {n}\"\n"
        ));
    }
    let mut rng = Rng(0x0dd_ba11);
    let mut acknowledged: Option<i64> = None;
    let mut in_flight: Option<i64> = None;
    let mut value = 10_000;
    let mut journaled = false;
    for kill in 0..15 {
        let config = DaemonConfig {
            settings: settings.clone(),
            env: Vec::new(),
            dir: Some(dir.path().to_path_buf()),
        };
        let d = Daemon::start(config).await;
        let info = d
            .ok("cmd=get_dev_info&dev_id=E7&fields=max_charging_cur")
            .await;
        let survived = info["devices"][0]["max_charging_cur"].as_i64();
        if acknowledged.is_some() {
            assert!(
                survived == acknowledged || survived == in_flight,
                "restart {kill}: E7 has {survived:?}, last acknowledged {acknowledged:?}, in flight {in_flight:?}"
            );
            acknowledged = survived;
        }
        let deadline = tokio::time::Instant::now() + Duration::from_millis(20 + rng.below(250));
        loop {
            value += 1;
            in_flight = Some(value);
            let send = d.post(
                "cmd=set_params",
                format!("{{\"devices\": [{{\"dev_id\": \"E7\", \"max_charging_cur\": {value}}}]}}"),
            );
            match tokio::time::timeout_at(deadline, send).await {
                Ok((200, _)) => acknowledged = Some(value),
                Ok(other) => panic!("set_params answered {other:?}"),
                Err(_) => break,
            }
        }
        d.kill().await;
        let journal = std::fs::metadata(dir.path().join("data/state.journal"));
        journaled |= journal.is_ok_and(|m| m.len() > 0);
    }
    assert!(journaled, "the changes went to the journal");
}
