//! `/metrics`: parsed by Debian's `promtool`, its values the same as
//! `get_dev_info` at the same moment, readable as `http.public_read` says,
//! and counting what happens (requests, refusals, Modbus failures).

use std::collections::BTreeMap;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::harness::{
    device, device_info, get_path, plain_settings, promtool, repo_file, samples,
    simulated_power_brain, test_python, Daemon, DaemonConfig,
};

/// `promtool check metrics` on `text`: its exit code and what it printed.
fn promtool_check(text: &str) -> (Option<i32>, String) {
    let mut promtool_cmd = Command::new(promtool());
    promtool_cmd.args(["check", "metrics"]);
    let out = with_stdin(promtool_cmd, text).unwrap_or_else(|e| {
        panic!(
            "promtool ({}): {e}; scripts/test.sh installs it (Debian package prometheus)",
            promtool().display()
        )
    });
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code(), printed)
}

/// Runs `cmd` with `input` on its stdin, and answers what it did.
fn with_stdin(mut cmd: Command, input: &str) -> std::io::Result<std::process::Output> {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    child
        .stdin
        .take()
        .ok_or_else(|| std::io::Error::other("no stdin"))?
        .write_all(input.as_bytes())?;
    child.wait_with_output()
}

/// The value of one series, which must be there.
fn value(samples: &BTreeMap<String, f64>, series: &str) -> f64 {
    *samples
        .get(series)
        .unwrap_or_else(|| panic!("{series} is not in /metrics: {samples:#?}"))
}

fn ma(v: &Value) -> f64 {
    v.as_f64().expect("a number") / 1000.0
}

/// What `get_dev_info` says that `/metrics` shows too.
fn compared(info: &Value) -> Value {
    let e1 = device_info(info, "E1");
    let m3 = device_info(info, "M3");
    let p = &info["params"];
    serde_json::json!({
        "E1": [e1["lb_current"], e1["current_l1"], e1["current_l2"], e1["current_l3"],
               e1["cur_charging_power"], e1["total_energy"], e1["state"], e1["lb_reason"],
               e1["paused"], e1["com_errors"], e1["com_err"]],
        "M3": [m3["power_w"], m3["current_l1"], m3["current_l2"], m3["current_l3"],
               m3["voltage_l1"], m3["voltage_l2"], m3["voltage_l3"], m3["import"], m3["export"]],
        "site": [p["available_current"], p["house_current"], p["evse_current"],
                 p["max_total_current"], p["meter_stale"]],
    })
}

#[tokio::test]
async fn metrics_pass_promtool_and_agree_with_get_dev_info() {
    let d = Daemon::start(simulated_power_brain()).await;
    d.wait_for(Duration::from_secs(30), "E1 charging, M3 read", |info| {
        device_info(info, "E1")["state"] == 3 && device_info(info, "M3")["power_w"] != 0
    })
    .await;

    // The same moment: get_dev_info before and after /metrics agree.
    let mut agreed = None;
    for _ in 0..50 {
        let before = d.ok("cmd=get_dev_info").await;
        let (status, text) = get_path(&d, "/metrics").await;
        assert_eq!(status, 200, "{text}");
        let after = d.ok("cmd=get_dev_info").await;
        if compared(&before) == compared(&after) {
            agreed = Some((before, text));
            break;
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    let (info, text) = agreed.expect("get_dev_info held still around a /metrics read");

    let (code, printed) = promtool_check(&text);
    assert_eq!(code, Some(0), "promtool check metrics:\n{printed}");
    assert_eq!(printed.trim(), "", "promtool's complaints");

    let s = samples(&text);
    let e1 = device_info(&info, "E1");
    let series = |name: &str, labels: &str| format!("{name}{{{labels}}}");
    let e1_phase = |p: &str| format!("dev_id=\"E1\",phase=\"{p}\"");
    assert_eq!(
        value(
            &s,
            &series(
                "chargebrain_wallbox_offered_current_amperes",
                "dev_id=\"E1\""
            )
        ),
        ma(&e1["lb_current"])
    );
    for (p, key) in [
        ("L1", "current_l1"),
        ("L2", "current_l2"),
        ("L3", "current_l3"),
    ] {
        assert_eq!(
            value(
                &s,
                &series("chargebrain_wallbox_current_amperes", &e1_phase(p))
            ),
            ma(&e1[key]),
            "E1 {p}"
        );
    }
    assert_eq!(
        value(
            &s,
            &series("chargebrain_wallbox_power_watts", "dev_id=\"E1\"")
        ),
        e1["cur_charging_power"].as_f64().expect("power")
    );
    assert_eq!(
        value(
            &s,
            &series("chargebrain_wallbox_energy_joules_total", "dev_id=\"E1\"")
        ),
        e1["total_energy"].as_f64().expect("energy") * 3600.0
    );
    assert_eq!(
        value(&s, &series("chargebrain_wallbox_state", "dev_id=\"E1\"")),
        3.0
    );
    let reason = e1["lb_reason"].as_str().expect("lb_reason");
    let code = value(
        &s,
        &series("chargebrain_wallbox_reason_code", "dev_id=\"E1\""),
    );
    let expected = if reason == "max_charging_cur" {
        1.0
    } else if reason.starts_with("site ") {
        4.0
    } else {
        panic!("the simulated plant limits E1 by its maximum or the site, not {reason}")
    };
    assert_eq!(code, expected, "{reason}");
    assert_eq!(
        value(&s, &series("chargebrain_wallbox_paused", "dev_id=\"E1\"")),
        if e1["paused"] == true { 1.0 } else { 0.0 }
    );
    assert_eq!(
        value(
            &s,
            &series("chargebrain_device_com_errors_total", "dev_id=\"E1\"")
        ),
        e1["com_errors"].as_f64().expect("com_errors")
    );

    let m3 = device_info(&info, "M3");
    let m3_phase = |p: &str| format!("dev_id=\"M3\",phase=\"{p}\"");
    assert_eq!(
        value(
            &s,
            &series("chargebrain_meter_power_watts", "dev_id=\"M3\"")
        ),
        m3["power_w"].as_f64().expect("power_w")
    );
    for (i, p) in ["L1", "L2", "L3"].into_iter().enumerate() {
        let n = i + 1;
        assert_eq!(
            value(
                &s,
                &series("chargebrain_meter_current_amperes", &m3_phase(p))
            ),
            ma(&m3[format!("current_l{n}")]),
            "M3 current {p}"
        );
        assert_eq!(
            value(&s, &series("chargebrain_meter_voltage_volts", &m3_phase(p))),
            m3[format!("voltage_l{n}")].as_f64().expect("voltage"),
            "M3 voltage {p}"
        );
    }
    assert_eq!(
        value(
            &s,
            &series(
                "chargebrain_meter_imported_energy_joules_total",
                "dev_id=\"M3\""
            )
        ),
        m3["import"].as_f64().expect("import") * 3600.0
    );
    assert_eq!(
        value(
            &s,
            &series(
                "chargebrain_meter_exported_energy_joules_total",
                "dev_id=\"M3\""
            )
        ),
        m3["export"].as_f64().expect("export") * 3600.0
    );

    let p = &info["params"];
    for (i, phase) in ["L1", "L2", "L3"].into_iter().enumerate() {
        let label = format!("phase=\"{phase}\"");
        let house = ma(&p["house_current"][i]);
        let cars = ma(&p["evse_current"][i]);
        assert_eq!(
            value(
                &s,
                &series("chargebrain_site_house_current_amperes", &label)
            ),
            house
        );
        assert_eq!(
            value(&s, &series("chargebrain_site_evse_current_amperes", &label)),
            cars
        );
        assert_eq!(
            value(&s, &series("chargebrain_site_current_amperes", &label)),
            house + cars
        );
        assert_eq!(
            value(&s, &series("chargebrain_site_available_amperes", &label)),
            ma(&p["available_current"][i])
        );
        assert_eq!(
            value(&s, &series("chargebrain_site_limit_amperes", &label)),
            ma(&p["max_total_current"])
        );
    }

    // The cycle and the devices' Modbus requests are timed.
    assert!(value(&s, "chargebrain_cycle_duration_seconds_count") >= 1.0);
    assert!(value(&s, "chargebrain_cycles_total") >= 1.0);
    assert!(value(&s, "chargebrain_decision_duration_seconds_count") >= 1.0);
    // Each step of the cycle, timed on its own.
    for step in [
        "poll",
        "record",
        "budget",
        "limits",
        "allocation",
        "views",
        "snapshot",
        "history",
    ] {
        let count = value(
            &s,
            &series(
                "chargebrain_cycle_step_duration_seconds_count",
                &format!("step=\"{step}\""),
            ),
        );
        assert!(count >= 1.0, "step {step}: {count}");
    }
    for dev_id in ["E1", "E2", "M1", "M2", "M3"] {
        let count = value(
            &s,
            &series(
                "chargebrain_modbus_request_duration_seconds_count",
                &format!("dev_id=\"{dev_id}\""),
            ),
        );
        assert!(count >= 1.0, "{dev_id}: {count}");
    }

    // A Prometheus server asks for OpenMetrics and gets it.
    let resp = d
        .client()
        .get(format!("{}/metrics", d.base))
        .header(
            "Accept",
            "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5",
        )
        .send()
        .await
        .expect("GET /metrics");
    let content_type = resp.headers()["content-type"]
        .to_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        content_type.starts_with("application/openmetrics-text"),
        "{content_type}"
    );
    let body = resp.text().await.expect("body");
    assert!(body.ends_with("# EOF\n"), "OpenMetrics ends with # EOF");
    // Both forms through the parsers of the Python Prometheus client (PyPI
    // prometheus-client), its OpenMetrics one strict about types and suffixes.
    for (parser, exposition) in [
        ("prometheus_client.openmetrics.parser", body.as_str()),
        ("prometheus_client.parser", text.as_str()),
    ] {
        let families = python_parse(parser, exposition);
        for family in [
            "chargebrain_wallbox_energy_joules",
            "chargebrain_meter_current_amperes",
            "chargebrain_cycle_duration_seconds",
            "chargebrain_cycle_step_duration_seconds",
            "chargebrain_modbus_request_duration_seconds",
        ] {
            assert!(
                families.lines().any(|l| l == family),
                "{parser} did not find {family}: {families}"
            );
        }
    }
}

/// The samples the Python Prometheus client's text parser reads from an
/// exposition: (name, its `dev_id` label or "", value).
pub(crate) fn python_samples(exposition: &str) -> Vec<(String, String, f64)> {
    let script =
        "import sys\nfrom prometheus_client.parser import text_string_to_metric_families\n\
         for f in text_string_to_metric_families(sys.stdin.read()):\n    \
         for s in f.samples:\n        print(s.name, s.labels.get('dev_id', '-'), s.value)\n";
    let mut python = Command::new(test_python());
    python.args(["-c", script]);
    let out = with_stdin(python, exposition).expect("the test venv's python ran");
    assert!(
        out.status.success(),
        "the parser refused the exposition: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|line| {
            let mut parts = line.split(' ');
            let (name, dev_id, value) = (parts.next()?, parts.next()?, parts.next()?);
            Some((name.to_string(), dev_id.to_string(), value.parse().ok()?))
        })
        .collect()
}

/// Parses an exposition with the Python Prometheus client's `parser`
/// module: the names of the families it found, one a line.
fn python_parse(parser: &str, exposition: &str) -> String {
    let script = format!(
        "import sys\nfrom {parser} import text_string_to_metric_families\n\
         for f in text_string_to_metric_families(sys.stdin.read()):\n    print(f.name)\n"
    );
    let mut python = Command::new(test_python());
    python.args(["-c", &script]);
    let out = with_stdin(python, exposition).expect("the test venv's python ran");
    assert!(
        out.status.success(),
        "{parser} refused the exposition: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

#[tokio::test]
async fn metrics_follow_public_read_and_count_requests_and_refusals() {
    let d = Daemon::start(
        DaemonConfig::new(plain_settings(
            &device("M1", "meter_sdm630", "127.0.0.1:1", 1),
            200,
        ))
        .env("CHARGEBRAIN__HTTP__PUBLIC_READ", "false"),
    )
    .await;
    d.set_password("secret").await;
    let metrics = |auth: Option<&'static str>| {
        let mut req = d.client().get(format!("{}/metrics", d.base));
        if let Some(password) = auth {
            req = req.basic_auth("admin", Some(password));
        }
        async move {
            let resp = req.send().await.expect("GET /metrics");
            (
                resp.status().as_u16(),
                resp.text().await.unwrap_or_default(),
            )
        }
    };
    let (status, _) = metrics(None).await;
    assert_eq!(
        status, 401,
        "public_read = false: /metrics needs the password"
    );
    let (status, _) = metrics(Some("wrong")).await;
    assert_eq!(status, 401);
    let (status, _) = d.get("cmd=get_dev_info").await;
    assert_eq!(status, 401);
    let (status, _) = d.get("cmd=no_such_command_1234").await;
    assert_eq!(status, 400, "an unknown command");
    let refused = d
        .client()
        .get(format!("{}/cnf?cmd=get_dev_info", d.base))
        .header("Host", "evil.example")
        .send()
        .await
        .expect("GET");
    assert_eq!(refused.status().as_u16(), 403);

    // The meter's address refuses connections: counted as failed requests.
    d.wait_for_metric("chargebrain_modbus_request_errors_total{dev_id=\"M1\",error=\"connect\"}")
        .await;
    let (status, text) = metrics(Some("secret")).await;
    assert_eq!(status, 200, "{text}");
    let s = samples(&text);
    let requests = |labels: &str| {
        s.get(&format!("chargebrain_http_requests_total{{{labels}}}"))
            .copied()
            .unwrap_or(0.0)
    };
    assert_eq!(
        requests("path=\"/metrics\",command=\"\",status=\"401\""),
        2.0
    );
    assert_eq!(
        requests("path=\"/cnf\",command=\"get_dev_info\",status=\"401\""),
        1.0
    );
    assert_eq!(
        requests("path=\"/cnf\",command=\"get_dev_info\",status=\"403\""),
        1.0
    );
    assert_eq!(
        requests("path=\"/cnf\",command=\"change_admin_pwd\",status=\"200\""),
        1.0
    );
    assert_eq!(
        requests("path=\"/cnf\",command=\"unknown\",status=\"400\""),
        1.0
    );
    assert!(
        !text.contains("no_such_command_1234"),
        "made-up commands make no series of their own"
    );
    let auth = |reason: &str| {
        s.get(&format!(
            "chargebrain_auth_failures_total{{reason=\"{reason}\"}}"
        ))
        .copied()
        .unwrap_or(0.0)
    };
    assert_eq!(auth("wrong_password"), 1.0);
    assert!(auth("no_credentials") >= 2.0);
    let (code, printed) = promtool_check(&text);
    assert_eq!(code, Some(0), "{printed}");
}

impl Daemon {
    /// Polls `/metrics` (with the admin password `secret`, as these tests
    /// set it) until `series` is there.
    async fn wait_for_metric(&self, series: &str) {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            let resp = self
                .client()
                .get(format!("{}/metrics", self.base))
                .basic_auth("admin", Some("secret"))
                .send()
                .await
                .expect("GET /metrics");
            let text = resp.text().await.unwrap_or_default();
            if samples(&text).get(series).is_some_and(|v| *v >= 1.0) {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{series} never came:\n{text}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// Every `expr` of the Grafana dashboard.
fn dashboard_queries() -> Vec<String> {
    let text = std::fs::read_to_string(repo_file("contrib/grafana-dashboard.json"))
        .expect("contrib/grafana-dashboard.json");
    let dashboard: Value = serde_json::from_str(&text).expect("the dashboard is JSON");
    let mut queries = Vec::new();
    for panel in dashboard["panels"].as_array().expect("panels") {
        for target in panel["targets"].as_array().expect("targets") {
            queries.push(target["expr"].as_str().expect("expr").to_string());
        }
    }
    queries
}

#[tokio::test]
async fn the_grafana_dashboard_and_the_scrape_config_fit_the_metrics() {
    // The scrape config in contrib/ is one Prometheus takes.
    let out = Command::new(promtool())
        .args(["check", "config"])
        .arg(repo_file("contrib/prometheus.yml"))
        .output()
        .expect("promtool");
    assert!(out.status.success(), "{out:?}");

    // Every query of the dashboard parses (as a recording rule, which
    // promtool checks), and every metric it names is served.
    let queries = dashboard_queries();
    assert!(queries.len() >= 10, "{queries:?}");
    let dir = tempfile::tempdir().expect("tempdir");
    let rules: String = queries
        .iter()
        .enumerate()
        .map(|(i, q)| format!("      - record: dashboard:query{i}\n        expr: '{q}'\n"))
        .collect();
    let rules_file = dir.path().join("rules.yml");
    std::fs::write(
        &rules_file,
        format!("groups:\n  - name: dashboard\n    rules:\n{rules}"),
    )
    .expect("write");
    let out = Command::new(promtool())
        .args(["check", "rules"])
        .arg(&rules_file)
        .output()
        .expect("promtool");
    assert!(out.status.success(), "promtool check rules: {out:?}");

    let d = Daemon::start(simulated_power_brain()).await;
    d.wait_for(Duration::from_secs(30), "E1 charging", |info| {
        device_info(info, "E1")["state"] == 3
    })
    .await;
    // A Modbus failure, so that its series exists too.
    d.get("cmd=modbus&device=meter1&read=9999").await;
    let (_, text) = get_path(&d, "/metrics").await;
    let served: Vec<String> = samples(&text)
        .keys()
        .map(|series| series.split('{').next().unwrap_or_default().to_string())
        .collect();
    for query in &queries {
        let names = query
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .filter(|word| word.starts_with("chargebrain_"));
        for name in names {
            // Counters that only exist once something failed.
            if name == "chargebrain_auth_failures_total" {
                continue;
            }
            assert!(
                served.iter().any(|s| s == name),
                "the dashboard queries {name}, which /metrics does not serve"
            );
        }
    }
}
