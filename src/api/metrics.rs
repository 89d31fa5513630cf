//! `GET /metrics`: Prometheus metrics in the text exposition format (or
//! OpenMetrics, when the scraper asks for it). The site, wallbox and meter
//! values come from the same snapshot `get_dev_info` reads, converted to
//! base units (A, W, V, J); the cycle's, the devices' and the HTTP counters
//! are kept as they happen. Readable like the other status reads: without
//! the password unless `http.public_read` is off.

use std::fmt::Debug;
use std::hash::Hash;
use std::sync::atomic::AtomicU64;

use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse};
use actors::plant::Plant;
use actors::supervisor::{CycleHealth, GetSnapshot, LbReason, Snapshot};
use prometheus_client::encoding::{EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::TypedMetric;
use prometheus_client::registry::Registry;

use super::auth::{AuthError, Credentials};
use super::{admin, ApiError, AppState, Params};

type FloatGauge = Gauge<f64, AtomicU64>;
type FloatCounter = Counter<f64, AtomicU64>;

const PHASES: [&str; 3] = ["L1", "L2", "L3"];

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PhaseLabel {
    phase: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DeviceLabel {
    dev_id: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DevicePhaseLabels {
    dev_id: String,
    phase: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DeviceInfoLabels {
    dev_id: String,
    dev_type: &'static str,
    name: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VersionLabel {
    version: &'static str,
}

/// One HTTP request: what was asked (the path, and for `/cnf` the command,
/// from a fixed list so that no client can make up series) and the status.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    path: &'static str,
    command: &'static str,
    status: u16,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AuthLabels {
    reason: &'static str,
}

/// What the HTTP layer counts.
#[derive(Debug, Default)]
pub struct HttpMetrics {
    requests: Family<RequestLabels, Counter>,
    auth_failures: Family<AuthLabels, Counter>,
}

impl HttpMetrics {
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "chargebrain_http_requests",
            "HTTP requests answered, by path, /cnf command (\"unknown\" for any other) and status",
            self.requests.clone(),
        );
        registry.register(
            "chargebrain_auth_failures",
            "Requests refused for want of the admin password, by reason: no_credentials, wrong_password, session_ended, locked_out, busy, card_locked_out",
            self.auth_failures.clone(),
        );
    }

    /// What a request is, for its labels (taken before it is handled).
    pub fn labels_of(req: &ServiceRequest) -> (&'static str, &'static str) {
        let path = match req.path() {
            "/cnf" => "/cnf",
            "/metrics" => "/metrics",
            "/healthz" => "/healthz",
            "/readyz" => "/readyz",
            page if super::page::is_page(page) => "page",
            // Home Assistant's credential probe.
            "/ui/en/sim.htm" => "/ui/en/sim.htm",
            _ => "other",
        };
        let command = if path == "/cnf" {
            let cmd = Params::parse(req.query_string())
                .ok()
                .and_then(|p| p.get("cmd").map(str::to_string));
            match cmd {
                Some(cmd) => super::known(&cmd).map_or("unknown", |c| c.name),
                None => "",
            }
        } else {
            ""
        };
        (path, command)
    }

    /// Counts an answered request, and an authentication failure in it.
    pub fn observe<B>(
        &self,
        (path, command): (&'static str, &'static str),
        res: &ServiceResponse<B>,
    ) {
        self.requests
            .get_or_create(&RequestLabels {
                path,
                command,
                status: res.status().as_u16(),
            })
            .inc();
        let refused = res
            .response()
            .error()
            .and_then(|e| e.as_error::<ApiError>());
        let reason = match refused {
            Some(ApiError::Auth(AuthError::Required)) => "no_credentials",
            Some(ApiError::Auth(AuthError::Wrong)) => "wrong_password",
            Some(ApiError::Auth(AuthError::Session)) => "session_ended",
            Some(ApiError::Auth(AuthError::Locked(_))) => "locked_out",
            Some(ApiError::Auth(AuthError::Busy)) => "busy",
            Some(ApiError::Auth(AuthError::PinLocked(_))) => "card_locked_out",
            _ => return,
        };
        self.auth_failures
            .get_or_create(&AuthLabels { reason })
            .inc();
    }
}

/// `GET /metrics`.
pub async fn metrics(
    req: HttpRequest,
    state: actix_web::web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    if !state.public_read {
        let credentials = Credentials::of(
            req.headers()
                .get(header::AUTHORIZATION)
                .and_then(|h| h.to_str().ok()),
        );
        admin::require_admin(&state, &super::Caller::Http(&req), credentials, "metrics").await?;
    }
    let snapshot = state.supervisor.send(GetSnapshot).await?;
    let mut registry = Registry::default();
    state.metrics.register(&mut registry);
    state.http.register(&mut registry);
    register_snapshot(&mut registry, &snapshot, &state.plant(), &state.health);
    let openmetrics = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/openmetrics-text"));
    let mut body = String::new();
    let encoded = if openmetrics {
        prometheus_client::encoding::text::encode(&mut body, &registry)
    } else {
        prometheus_client::encoding::prometheus_text::encode(&mut body, &registry)
    };
    encoded.map_err(|e| ApiError::Unavailable(format!("metrics: {e}")))?;
    let content_type = if openmetrics {
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    } else {
        prometheus_client::encoding::prometheus_text::CONTENT_TYPE
    };
    Ok(HttpResponse::Ok().content_type(content_type).body(body))
}

/// Registers a family and hands it back to be filled.
fn family<L, M>(registry: &mut Registry, name: &str, help: &str) -> Family<L, M>
where
    L: Clone + Hash + Eq + Debug + EncodeLabelSet + Send + Sync + 'static,
    M: Default + EncodeMetric + TypedMetric + Debug + Send + Sync + 'static,
{
    let family = Family::<L, M>::default();
    registry.register(name, help, family.clone());
    family
}

fn amperes(ma: i64) -> f64 {
    ma as f64 / 1000.0
}

/// Energy counters: Wh as J (a Wh is 3600 J); a negative reading as 0.
fn joules(wh: i64) -> f64 {
    wh.max(0) as f64 * 3600.0
}

/// Why a wallbox gets what it gets, as a number (`lb_reason` in words and
/// `lb_reason_code` are in `get_dev_info`): see the README's table.
pub fn reason_code(reason: &LbReason) -> i64 {
    match reason.code() {
        "max_charging_cur" => 1,
        "charging_rule" => 2,
        "charging_rule_current" => 3,
        "site_limit" => 4,
        "group_limit" => 5,
        "evse_total_limit" => 6,
        "imbalance" => 7,
        "paused_no_minimum" => 8,
        "paused_imbalance" => 9,
        "paused_turn" | "paused_min_pause" => 10,
        "meter_stale" => 11,
        "com_error" => 12,
        "no_vehicle" => 13,
        "wallbox_error" => 14,
        "disabled" | "disabled_min_current" | "disabled_no_limit" => 15,
        "waiting_for_auth" => 16,
        "disabled_by_override" => 17,
        "not_controlled" => 18,
        _ => 0,
    }
}

/// The values of the last cycle, as `get_dev_info` shows them.
fn register_snapshot(registry: &mut Registry, s: &Snapshot, plant: &Plant, health: &CycleHealth) {
    register_site(registry, s);
    register_devices(registry, s, plant);
    register_wallboxes(registry, s);
    register_meters(registry, s);
    register_health(registry, health);
}

/// The site's currents, limit and budget.
fn register_site(r: &mut Registry, s: &Snapshot) {
    let site = &s.site;
    let per_phase = |r: &mut Registry, name: &str, help: &str, values: [i64; 3]| {
        let f: Family<PhaseLabel, FloatGauge> = family(r, name, help);
        for (phase, ma) in PHASES.into_iter().zip(values) {
            f.get_or_create(&PhaseLabel { phase }).set(amperes(ma));
        }
    };
    let total = [0, 1, 2].map(|p| site.house_ma[p].saturating_add(site.evse_ma[p]));
    per_phase(
        r,
        "chargebrain_site_current_amperes",
        "Current drawn per phase at the site: the house plus the wallboxes",
        total,
    );
    per_phase(
        r,
        "chargebrain_site_limit_amperes",
        "The site's limit per phase this cycle (max_total_current; a formula as evaluated)",
        [site.max_total_ma; 3],
    );
    per_phase(
        r,
        "chargebrain_site_available_amperes",
        "Current the wallboxes may draw per phase: the limit less reserve, house load and overdraft penalty",
        site.available_ma,
    );
    per_phase(
        r,
        "chargebrain_site_house_current_amperes",
        "Current per phase of everything that is not a wallbox",
        site.house_ma,
    );
    per_phase(
        r,
        "chargebrain_site_evse_current_amperes",
        "Current per phase the wallboxes draw",
        site.evse_ma,
    );
    let g: FloatGauge = FloatGauge::default();
    g.set(amperes(site.overdraft_cur));
    r.register(
        "chargebrain_site_overdraft_amperes",
        "The largest overdraw above the site limit seen (until reset)",
        g,
    );
    let g: Gauge = Gauge::default();
    g.set(i64::from(site.meter_stale));
    r.register(
        "chargebrain_site_meter_stale",
        "1 while a meter the house load is computed from is silent (every car on its minimum)",
        g,
    );
}

/// A device's label, and its label for one phase.
fn labels(
    dev_id: &str,
) -> (
    impl Fn() -> DeviceLabel + '_,
    impl Fn(&'static str) -> DevicePhaseLabels + '_,
) {
    let id = move || DeviceLabel {
        dev_id: dev_id.to_string(),
    };
    let phase = move |phase| DevicePhaseLabels {
        dev_id: dev_id.to_string(),
        phase,
    };
    (id, phase)
}

/// Every configured device: its type and name, its communication.
fn register_devices(r: &mut Registry, s: &Snapshot, plant: &Plant) {
    let info: Family<DeviceInfoLabels, Gauge> = family(
        r,
        "chargebrain_device_info",
        "A configured device (always 1), with its type and name",
    );
    let com_error: Family<DeviceLabel, Gauge> = family(
        r,
        "chargebrain_device_com_error",
        "1 while the device's last exchange failed or its reading was refused",
    );
    let com_errors: Family<DeviceLabel, Counter> = family(
        r,
        "chargebrain_device_com_errors",
        "Failed exchanges and refused readings of the device since it was started",
    );
    for (dev_id, status) in &s.devices {
        let id = || DeviceLabel {
            dev_id: dev_id.clone(),
        };
        if let Some(device) = plant.find(dev_id) {
            info.get_or_create(&DeviceInfoLabels {
                dev_id: dev_id.clone(),
                dev_type: device.settings.dev_type.key(),
                name: device.settings.name.clone(),
            })
            .set(1);
        }
        if let Some(status) = status {
            com_error
                .get_or_create(&id())
                .set(i64::from(status.com.com_err));
            com_errors
                .get_or_create(&id())
                .inc_by(status.com.com_errors);
        }
    }
}

/// What each wallbox is given, draws, and why.
fn register_wallboxes(r: &mut Registry, s: &Snapshot) {
    let offered: Family<DeviceLabel, FloatGauge> = family(
        r,
        "chargebrain_wallbox_offered_current_amperes",
        "Current per phase load management gives the wallbox this cycle (lb_current)",
    );
    let drawn: Family<DevicePhaseLabels, FloatGauge> = family(
        r,
        "chargebrain_wallbox_current_amperes",
        "Current the wallbox's meter shows per phase of the wallbox",
    );
    let power: Family<DeviceLabel, FloatGauge> = family(
        r,
        "chargebrain_wallbox_power_watts",
        "Charging power of the wallbox",
    );
    let energy: Family<DeviceLabel, FloatCounter> = family(
        r,
        "chargebrain_wallbox_energy_joules",
        "Energy the wallbox has delivered, its meter or soft meter (1 Wh = 3600 J)",
    );
    let state: Family<DeviceLabel, Gauge> = family(
        r,
        "chargebrain_wallbox_state",
        "1 waiting, 2 car present, 3 charging, 4 charging with ventilation, 5 error, 6 offline",
    );
    let reason: Family<DeviceLabel, Gauge> = family(
        r,
        "chargebrain_wallbox_reason_code",
        "Why the wallbox gets what it gets (lb_reason): 1 its maximum, 2 a charging rule limits, 3 a rule stops it, 4 site, 5 group, 6 max_total_evse_current, 7 imbalance, 8 paused: no minimum, 9 paused: imbalance, 10 paused: minimum pause, 11 meter stale, 12 com error, 13 no vehicle, 14 wallbox error, 15 disabled, 16 waiting for authorisation, 17 disabled by override, 18 not controlled, 0 other",
    );
    let paused: Family<DeviceLabel, Gauge> = family(
        r,
        "chargebrain_wallbox_paused",
        "1 while the car at the wallbox is paused",
    );
    for (i, (dev_id, _)) in s.devices.iter().enumerate() {
        let (id, phase) = labels(dev_id);
        if let Some(Some(v)) = s.evses.get(i) {
            offered.get_or_create(&id()).set(amperes(v.lb_current));
            let currents = [v.current_l1, v.current_l2, v.current_l3];
            for (p, ma) in PHASES.into_iter().zip(currents) {
                drawn.get_or_create(&phase(p)).set(amperes(ma));
            }
            power.get_or_create(&id()).set(v.cur_charging_power as f64);
            energy.get_or_create(&id()).inc_by(joules(v.total_energy));
            state.get_or_create(&id()).set(i64::from(v.state));
            reason.get_or_create(&id()).set(reason_code(&v.lb_reason));
            paused.get_or_create(&id()).set(i64::from(v.paused));
        }
    }
}

/// What each meter shows.
fn register_meters(r: &mut Registry, s: &Snapshot) {
    let m_power: Family<DeviceLabel, FloatGauge> = family(
        r,
        "chargebrain_meter_power_watts",
        "Power through the meter (negative: export)",
    );
    let m_current: Family<DevicePhaseLabels, FloatGauge> = family(
        r,
        "chargebrain_meter_current_amperes",
        "Current per phase through the meter (negative: export)",
    );
    let m_voltage: Family<DevicePhaseLabels, FloatGauge> = family(
        r,
        "chargebrain_meter_voltage_volts",
        "Voltage per phase at the meter",
    );
    let m_import: Family<DeviceLabel, FloatCounter> = family(
        r,
        "chargebrain_meter_imported_energy_joules",
        "Energy the meter has counted in (1 Wh = 3600 J)",
    );
    let m_export: Family<DeviceLabel, FloatCounter> = family(
        r,
        "chargebrain_meter_exported_energy_joules",
        "Energy the meter has counted out (1 Wh = 3600 J)",
    );

    let soc: Family<DeviceLabel, FloatGauge> = family(
        r,
        "chargebrain_battery_state_of_charge_ratio",
        "State of charge of the battery behind the device (SunSpec storage model 124), 0 to 1",
    );
    let b_state: Family<DeviceLabel, Gauge> = family(
        r,
        "chargebrain_battery_state",
        "What the battery does (SunSpec ChaSt): 1 off, 2 empty, 3 discharging, 4 charging, 5 full, 6 holding, 7 testing",
    );
    let b_max: Family<DeviceLabel, FloatGauge> = family(
        r,
        "chargebrain_battery_max_charge_power_watts",
        "The charge power the battery allows at most (SunSpec WChaMax)",
    );
    let b_voltage: Family<DeviceLabel, FloatGauge> = family(
        r,
        "chargebrain_battery_voltage_volts",
        "The battery's voltage (SunSpec InBatV)",
    );

    for (i, (dev_id, _)) in s.devices.iter().enumerate() {
        let (id, phase) = labels(dev_id);
        if let Some(Some(m)) = s.meters.get(i) {
            if let Some(battery) = &m.storage {
                if let Some(pct) = battery.soc {
                    soc.get_or_create(&id()).set(pct as f64 / 100.0);
                }
                if let Some(code) = battery.state_code() {
                    b_state.get_or_create(&id()).set(code);
                }
                if let Some(w) = battery.max_charge_w {
                    b_max.get_or_create(&id()).set(w as f64);
                }
                if let Some(v) = battery.voltage {
                    b_voltage.get_or_create(&id()).set(v as f64);
                }
            }
            m_power.get_or_create(&id()).set(m.power_w as f64);
            let currents = [m.current_l1, m.current_l2, m.current_l3];
            let voltages = [m.voltage_l1, m.voltage_l2, m.voltage_l3];
            for ((p, ma), v) in PHASES.into_iter().zip(currents).zip(voltages) {
                m_current.get_or_create(&phase(p)).set(amperes(ma));
                m_voltage.get_or_create(&phase(p)).set(v as f64);
            }
            m_import.get_or_create(&id()).inc_by(joules(m.import));
            m_export.get_or_create(&id()).inc_by(joules(m.export));
        }
    }
}

/// Whether the cycle runs, and the build.
fn register_health(r: &mut Registry, health: &CycleHealth) {
    let cycles: Counter = Counter::default();
    cycles.inc_by(health.cycles());
    r.register("chargebrain_cycles", "Cycles finished since start", cycles);
    let age: FloatGauge = FloatGauge::default();
    age.set(health.since_last_cycle().as_secs_f64());
    r.register(
        "chargebrain_cycle_age_seconds",
        "Time since the last cycle finished (over three periods: stalled, /healthz fails)",
        age,
    );
    let interval: FloatGauge = FloatGauge::default();
    interval.set(health.measured_ms() as f64 / 1000.0);
    r.register(
        "chargebrain_cycle_interval_seconds",
        "Time between the last two cycle starts",
        interval,
    );
    let build: Family<VersionLabel, Gauge> = family(
        r,
        "chargebrain_build_info",
        "The running version (always 1)",
    );
    build
        .get_or_create(&VersionLabel {
            version: env!("CARGO_PKG_VERSION"),
        })
        .set(1);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reason_has_its_code() {
        use actors::alloc::{Constraint, Reason};
        use actors::config::DisablePolicy;
        let rule = |rule: &str| LbReason::ChargingRule { rule: rule.into() };
        let cases = [
            (LbReason::Alloc(Reason::MaxCurrent), "max_charging_cur", 1),
            (rule("E1/0"), "charging rule E1/0", 2),
            (rule("anna/2"), "charging rule anna/2", 2),
            (
                LbReason::ChargingRuleStop {
                    rule: "E1/none".into(),
                    ma: 0,
                },
                "charging rule E1/none: 0 mA",
                3,
            ),
            (
                LbReason::Alloc(Reason::Limit(Constraint::Site, 1)),
                "site L2",
                4,
            ),
            (
                LbReason::Alloc(Reason::Limit(Constraint::Group(5), 0)),
                "group E5 L1",
                5,
            ),
            (
                LbReason::Alloc(Reason::Limit(Constraint::EvseTotal, 0)),
                "max_total_evse_current L1",
                6,
            ),
            (LbReason::Alloc(Reason::Imbalance(2)), "imbalance L3", 7),
            (
                LbReason::Alloc(Reason::NoMinimum(Constraint::Site, 0)),
                "paused: no minimum (site L1)",
                8,
            ),
            (
                LbReason::Alloc(Reason::PausedImbalance(0)),
                "paused: imbalance L1",
                9,
            ),
            (
                LbReason::MinPause { secs: 240 },
                "paused: 240 s left of its minimum pause",
                10,
            ),
            (
                LbReason::MeterStale {
                    meters: vec!["M3".into()],
                },
                "meter stale: M3 (minimum current)",
                11,
            ),
            (LbReason::ComError, "com error", 12),
            (LbReason::NoVehicle, "no vehicle", 13),
            (LbReason::WallboxError, "wallbox error", 14),
            (LbReason::Disabled(DisablePolicy::Stop), "disabled", 15),
            (
                LbReason::Disabled(DisablePolicy::Minimum),
                "disabled: minimum current",
                15,
            ),
            (
                LbReason::Disabled(DisablePolicy::NoLimit),
                "disabled: no limit",
                15,
            ),
            (LbReason::WaitingForAuth, "waiting for authorisation", 16),
            (LbReason::DisabledByOverride, "disabled by override", 17),
            (LbReason::Alloc(Reason::Uncontrolled), "not controlled", 18),
            (LbReason::NoReading, "no reading yet", 0),
            (LbReason::None, "", 0),
        ];
        for (reason, text, code) in cases {
            assert_eq!(reason.to_string(), text);
            assert_eq!(reason_code(&reason), code, "{text}");
        }
    }
}
