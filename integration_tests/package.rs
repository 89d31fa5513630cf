//! The Debian package `scripts/package.sh` builds (`CHARGEBRAIN_DEB`):
//! what `dpkg-deb` shows of it, its systemd unit checked by
//! `systemd-analyze`, and its binary started from an extracted copy with
//! the packaged settings.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

use crate::harness::{get_path, test_deb, wait_until_ready, Daemon, DaemonConfig};

fn run(program: &str, args: &[&str]) -> Output {
    Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}; scripts/test.sh installs it"))
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// `dpkg-deb -x` of the package into a temporary root.
fn extract() -> tempfile::TempDir {
    let root = tempfile::tempdir().expect("tempdir");
    let deb = test_deb();
    let out = run(
        "dpkg-deb",
        &[
            "-x",
            &deb.display().to_string(),
            &root.path().display().to_string(),
        ],
    );
    assert!(out.status.success(), "dpkg-deb -x: {out:?}");
    root
}

const UNIT: &str = "usr/lib/systemd/system/chargebrain.service";
const SETTINGS: &str = "etc/chargebrain/settings.toml";

/// The keys of a TOML file by section, as `section.key` → value text.
fn toml_keys(text: &str) -> Vec<(String, String)> {
    let mut section = String::new();
    let mut keys = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        if let Some(name) = line.strip_prefix('[') {
            section = name.trim_matches(|c| c == '[' || c == ']').to_string();
            continue;
        }
        if let Some((key, value)) = line.split_once('=') {
            let value = value.split(" #").next().unwrap_or_default().trim();
            keys.push((format!("{section}.{}", key.trim()), value.to_string()));
        }
    }
    keys
}

#[test]
fn the_package_holds_the_daemon_its_settings_and_its_unit() {
    let deb = test_deb().display().to_string();
    let info = run("dpkg-deb", &["--info", &deb]);
    assert!(info.status.success(), "{info:?}");
    let info = stdout(&info);
    for line in [
        "Package: chargebrain",
        &format!("Version: {}-1", env!("CARGO_PKG_VERSION")),
        "conffiles",
        "postinst",
        "postrm",
    ] {
        assert!(info.contains(line), "dpkg-deb --info lacks {line}:\n{info}");
    }
    let depends = info
        .lines()
        .find_map(|l| l.trim().strip_prefix("Depends: "))
        .unwrap_or_default();
    // adduser for the service user; libc6 as dpkg-shlibdeps found it.
    assert!(depends.contains("adduser"), "{depends}");
    assert!(depends.contains("libc6"), "{depends}");

    // The settings are a conffile: an admin's changes survive upgrades.
    let conffiles = run("dpkg-deb", &["--info", &deb, "conffiles"]);
    assert_eq!(stdout(&conffiles).trim(), "/etc/chargebrain/settings.toml");

    let contents = stdout(&run("dpkg-deb", &["--contents", &deb]));
    let entry = |path: &str| {
        contents
            .lines()
            .find(|l| l.ends_with(&format!(" ./{path}")))
            .unwrap_or_else(|| panic!("{path} is not in the package:\n{contents}"))
            .to_string()
    };
    // Mode and owner (root, as uid/gid 0).
    let mode_owner = |path: &str| {
        entry(path)
            .split_whitespace()
            .take(2)
            .collect::<Vec<_>>()
            .join(" ")
    };
    assert_eq!(mode_owner("usr/bin/chargebrain"), "-rwxr-xr-x 0/0");
    assert_eq!(mode_owner(SETTINGS), "-rw-r--r-- 0/0");
    assert_eq!(mode_owner(UNIT), "-rw-r--r-- 0/0");
    entry("usr/share/doc/chargebrain/README.md");
    entry("usr/share/doc/chargebrain/grafana-dashboard.json");

    // The service user, in dialout for RS-485 adapters; the state directory.
    let postinst = stdout(&run("dpkg-deb", &["--info", &deb, "postinst"]));
    for text in [
        "adduser --system --group",
        "adduser --quiet chargebrain dialout",
        "install -d -o chargebrain -g chargebrain -m 0750 /var/lib/chargebrain",
        "deb-systemd-helper enable chargebrain.service",
    ] {
        assert!(
            postinst.contains(text),
            "postinst lacks {text}:\n{postinst}"
        );
    }

    // The packaged settings: no simulation, the API on the LAN, no devices,
    // the state in /var/lib/chargebrain.
    let root = extract();
    let settings = std::fs::read_to_string(root.path().join(SETTINGS)).expect("settings");
    let keys = toml_keys(&settings);
    for (key, value) in [
        ("simulation.enabled", "false"),
        ("http.listen", "\"0.0.0.0:8080\""),
        ("storage.dir", "\"/var/lib/chargebrain\""),
        ("http.hosts", "[]"),
    ] {
        assert!(
            keys.contains(&(key.to_string(), value.to_string())),
            "{key} = {value} in {keys:?}"
        );
    }
    assert!(
        !keys.iter().any(|(k, _)| k.starts_with("devices.")),
        "{keys:?}"
    );
}

/// The host's target units, which `systemd-analyze --root` needs to find
/// in the root it checks.
fn with_system_targets(root: &Path) {
    let units = root.join("usr/lib/systemd/system");
    for dir in ["/lib/systemd/system", "/usr/lib/systemd/system"] {
        let Ok(entries) = std::fs::read_dir(dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().is_some_and(|e| e == "target") {
                let to = units.join(entry.file_name());
                if !to.exists() {
                    std::fs::copy(&path, &to).expect("copy a target unit");
                }
            }
        }
    }
}

#[test]
fn the_unit_passes_systemd_analyze_verify() {
    let root = extract();
    with_system_targets(root.path());
    let unit: PathBuf = root.path().join(UNIT);
    let root_arg = format!("--root={}", root.path().display());
    let unit_arg = unit.display().to_string();
    let out = run("systemd-analyze", &["verify", &root_arg, &unit_arg]);
    let printed = format!("{}{}", stdout(&out), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "systemd-analyze verify:\n{printed}");
    assert_eq!(printed.trim(), "", "systemd-analyze verify complains");

    // The sandbox: systemd's own rating of it stays "OK" (2.0 or lower of 10).
    let out = run(
        "systemd-analyze",
        &[
            "security",
            "--offline=true",
            "--threshold=20",
            &root_arg,
            &unit_arg,
        ],
    );
    assert!(
        out.status.success(),
        "systemd-analyze security:\n{}",
        stdout(&out)
    );

    let text = std::fs::read_to_string(&unit).expect("unit");
    for line in [
        "Type=notify",
        "WatchdogSec=30",
        "Restart=on-failure",
        "ExecStart=/usr/bin/chargebrain --config /etc/chargebrain/settings.toml",
        "User=chargebrain",
        "SupplementaryGroups=dialout",
        "StateDirectory=chargebrain",
        "ProtectSystem=strict",
        "ReadWritePaths=/var/lib/chargebrain",
        "NoNewPrivileges=yes",
        "PrivateTmp=yes",
        "DevicePolicy=closed",
        "DeviceAllow=char-ttyUSB rw",
        "StandardError=journal",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "the unit lacks {line}:\n{text}"
        );
    }
    assert!(root.path().join("usr/bin/chargebrain").exists());
    assert!(root.path().join(SETTINGS).exists());
}

#[tokio::test]
async fn the_packaged_binary_starts_with_the_packaged_settings() {
    let root = extract();
    let binary = root.path().join("usr/bin/chargebrain");
    let version = Command::new(&binary)
        .arg("--version")
        .output()
        .expect("run");
    assert_eq!(
        stdout(&version).trim(),
        format!("chargebrain {}", env!("CARGO_PKG_VERSION"))
    );
    let settings = std::fs::read_to_string(root.path().join(SETTINGS)).expect("settings");
    let check = Command::new(&binary)
        .args(["check-config", "--config"])
        .arg(root.path().join(SETTINGS))
        .env("CHARGEBRAIN__STORAGE__DIR", root.path().join("state"))
        .output()
        .expect("run");
    assert!(check.status.success(), "{check:?}");

    // The harness gives it a temporary state directory and a free port on
    // 127.0.0.1 (CHARGEBRAIN__STORAGE__DIR, CHARGEBRAIN__HTTP__LISTEN);
    // everything else is the packaged file.
    let d = Daemon::try_start_binary(&binary, DaemonConfig::new(settings.clone()))
        .await
        .expect("the packaged daemon starts");
    let info = d.ok("cmd=get_dev_info").await;
    assert_eq!(
        info["devices"],
        Value::Array(Vec::new()),
        "no devices, no simulation"
    );
    assert_eq!(info["params"]["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(wait_until_ready(&d).await["devices"], 0);
    d.wait_logged(
        &["no devices are configured", "no admin password is set"],
        crate::harness::LOG_WAIT,
    )
    .await;
    let (status, page) = get_path(&d, "/").await;
    assert_eq!(status, 200);
    assert!(page.contains("chargebrain"));

    // Reached by a host name, it needs that name in http.hosts.
    let by_name = |d: &Daemon| {
        d.client()
            .get(format!("{}/cnf?cmd=get_dev_info", d.base))
            .header("Host", "chargebrain.local:8080")
            .send()
    };
    assert_eq!(by_name(&d).await.expect("GET").status().as_u16(), 403);
    assert_eq!(d.stop().await, Some(0));
    let named = settings.replace("hosts = []", "hosts = [\"chargebrain.local\"]");
    assert_ne!(
        named, settings,
        "the packaged file has the hosts line to edit"
    );
    let d = Daemon::try_start_binary(&binary, DaemonConfig::new(named))
        .await
        .expect("starts");
    assert_eq!(by_name(&d).await.expect("GET").status().as_u16(), 200);
}
