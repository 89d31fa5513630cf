//! `cmd=get_history`: what the site and the wallboxes did, kept through a
//! restart.

use std::time::Duration;

use serde_json::{json, Value};

use crate::harness::{repo_file, Daemon, DaemonConfig, LOG_WAIT};

/// The shipped simulated plant in `dir`, cycling every 200 ms.
fn config(dir: &std::path::Path) -> DaemonConfig {
    DaemonConfig {
        settings: std::fs::read_to_string(repo_file("settings.toml")).expect("settings"),
        env: vec![
            ("CHARGEBRAIN__SIMULATION__BASE_PORT".into(), "0".into()),
            ("CHARGEBRAIN__LOAD__CYCLE_TIME_MS".into(), "200".into()),
        ],
        dir: Some(dir.to_path_buf()),
    }
}

/// The points' unix ms.
fn times(answer: &Value) -> Vec<i64> {
    let mut at = answer["t0"].as_i64().unwrap_or(0);
    answer["dt"]
        .as_array()
        .map(|dt| {
            dt.iter()
                .map(|d| {
                    at += d.as_i64().unwrap_or(0);
                    at
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Waits until the history holds at least `n` points.
async fn at_least(d: &Daemon, n: usize) -> Value {
    at_least_and(d, n, |_| true).await
}

/// Waits until the history holds at least `n` points and `done` holds.
async fn at_least_and(d: &Daemon, n: usize, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let answer = d.ok("cmd=get_history").await;
        if times(&answer).len() >= n && done(&answer) {
            return answer;
        }
        assert!(std::time::Instant::now() < deadline, "{answer}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn the_history_answers_in_columns_and_survives_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = Daemon::start(config(dir.path())).await;
    // The shipped plant's house load, per phase, once the cycle has seen the
    // cars' draw settle (while they ramp, a wallbox read before the grid
    // meter leaves some of its car's draw in the house load).
    let house = [
        ("house_l1", 10_000),
        ("house_l2", 6_000),
        ("house_l3", 4_000),
    ];
    let answer = at_least_and(&d, 10, |a| {
        house
            .iter()
            .all(|(key, ma)| a["site"][key].as_array().and_then(|c| c.last()) == Some(&json!(ma)))
    })
    .await;
    let t = times(&answer);
    assert!(t.windows(2).all(|w| w[0] < w[1]), "in time order: {t:?}");
    let now_s = answer["to"].as_i64().unwrap_or(0);
    assert!(t
        .last()
        .is_some_and(|ms| ms / 1000 <= now_s && ms / 1000 >= now_s - 10));
    assert_eq!(answer["from"], now_s - 48 * 3600, "48 hours by default");
    // The house load in every column's length.
    let site = &answer["site"];
    for (key, ma) in house {
        let column = site[key].as_array().cloned().unwrap_or_default();
        assert_eq!(column.len(), t.len(), "{key}");
        assert_eq!(column.last(), Some(&json!(ma)), "{key}");
    }
    assert_eq!(
        site["limit"].as_array().and_then(|l| l.last()),
        Some(&json!(32_000))
    );
    for wallbox in ["E1", "E2"] {
        let e = &answer["evses"][wallbox];
        assert_eq!(
            e["offered"].as_array().map(Vec::len),
            Some(t.len()),
            "{wallbox}"
        );
        assert!(
            e["drawn"].is_array() && e["power"].is_array(),
            "{wallbox}: {e}"
        );
    }
    // One wallbox alone, averaged per 2 s.
    let one = d.ok("cmd=get_history&dev_id=E1&step=2").await;
    assert!(one.get("site").is_none(), "{one}");
    assert_eq!(one["evses"].as_object().map(|e| e.len()), Some(1));
    assert!(times(&one).windows(2).all(|w| (w[1] - w[0]) % 2000 == 0));
    // What is refused, and why.
    for (query, status, says) in [
        (
            "cmd=get_history&from=20&to=10",
            400,
            "bad parameter from: 20 is after to (10)",
        ),
        (
            "cmd=get_history&from=yesterday",
            400,
            "bad parameter from: 'yesterday' is not a whole number of seconds",
        ),
        (
            "cmd=get_history&step=100000",
            400,
            "bad parameter step: 100000 s is more than a day",
        ),
        ("cmd=get_history&dev_id=E9", 404, "unknown device: E9"),
    ] {
        assert_eq!(d.get(query).await, (status, json!(says)), "{query}");
    }

    // Saved at shutdown, there again after the start.
    assert_eq!(d.stop().await, Some(0));
    assert!(dir.path().join("data/history.json").exists());
    let d = Daemon::start(config(dir.path())).await;
    let after = d.ok("cmd=get_history").await;
    assert_eq!(
        after["t0"], answer["t0"],
        "the points before the restart are kept"
    );
    assert!(times(&after).len() >= t.len());
}

#[tokio::test]
async fn a_history_file_that_cannot_be_used_does_not_stop_the_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(dir.path().join("data")).expect("data dir");
    std::fs::write(
        dir.path().join("data/history.json"),
        "{\"version\": 1, \"fine\": [tru",
    )
    .expect("write");
    let d = Daemon::start(config(dir.path())).await;
    at_least(&d, 2).await;
    d.wait_logged(
        &["the history file cannot be used; the charts start afresh"],
        LOG_WAIT,
    )
    .await;
}
