//! `cmd=get_dev_info` and `cmd=get_params`: the site parameters and every
//! device's state, from the supervisor's snapshot of the last cycle. This
//! is the API's hot read: the devices (most of the answer) are serialized
//! from typed structs once per snapshot and kept as bytes (`AnswerCache`);
//! each request writes only the small parameters around them.
//! `get_dev_info` can ask for some devices (`dev_id=E1,M2`) and some of
//! their keys (`fields=dev_id,state`).

use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap};
use std::ops::Range;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use actix_web::web::Bytes;

use actors::config::{CurrentLimit, DeviceSettings};
use actors::devices::DeviceStatus;
use actors::drivers::DeviceType;
use actors::plant::{DeviceActor, Plant};
use actors::rules::charging::Rule;
#[cfg(test)]
use actors::supervisor::LbReason;
use actors::supervisor::{EvseView, GetSnapshot, MeterView, Snapshot};
use serde::Serialize;
use serde_json::{Map, Value};

use super::{ApiError, AppState};

/// cFos's vendor id, reported in `params.vsn`.
const VENDOR_ID: u32 = 0xcf05;

/// chargebrain's product id in `params.vsn` (cFos's own products use small
/// numbers; this one is not theirs).
const PRODUCT_ID: u32 = 0xcb01;

/// `get_dev_info`: the parameters under `params`, and beside them, as
/// real firmware has them, `auth_cnt` and `loadmgr_disabled`. The answer
/// is written in pieces (`assemble`); a test checks that they are these
/// structs' JSON, byte for byte.
#[cfg(test)]
#[derive(Serialize)]
struct DevInfo<'a> {
    params: Params<'a>,
    #[serde(flatten)]
    site: SiteKeys<'a>,
}

/// `get_params`: the same parameters flat at the top level (where real
/// firmware and the PyPI `powerbrain` client have them), with every device
/// type's name in `dev_meta`, and what the keys and numbers mean in `meta`.
#[cfg(test)]
#[derive(Serialize)]
struct FlatParams<'a> {
    #[serde(flatten)]
    params: Params<'a>,
    #[serde(flatten)]
    site: SiteKeys<'a>,
    dev_meta: Value,
    meta: Value,
}

/// The top-level keys both answers share.
#[cfg(test)]
#[derive(Serialize)]
struct SiteKeys<'a> {
    /// Wallboxes whose car waits for a card or PIN.
    auth_cnt: usize,
    devices: Vec<Device<'a>>,
    /// True in observation mode (`lb_enabled` false): nothing is controlled.
    loadmgr_disabled: bool,
    /// Unknown OCPP charge points that asked to connect (left out when none).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    ocpp_asking: Vec<crate::ocpp::Asking>,
}

#[derive(Serialize)]
struct Vsn<'a> {
    vendorid: u32,
    productid: u32,
    serialno: &'a str,
    /// The version as one number: major << 24 | minor << 16 | patch.
    version: u32,
}

#[derive(Serialize)]
struct Params<'a> {
    title: &'a str,
    desc: &'a str,
    max_total_current: &'a CurrentLimit,
    reserve_current: i64,
    overdraft_cur: i64,
    max_total_evse_current: i64,
    cons_evse_power: i64,
    avail_evse_power: i64,
    lb_enabled: bool,
    disable_policy: i64,
    /// The cycle time in force, ms (the same as `cycle_time_ms`).
    cycle_time: u64,
    /// ms between the starts of the last two cycles.
    cycle_time_measured: u64,
    /// Cycles skipped since start because the one before still ran.
    cycle_overruns: u64,
    max_imbalance: i64,
    imbalance_add: bool,
    min_pause_time: u64,
    // Settings of this daemon beyond the cFos set, so a client sees what it
    // can change.
    cycle_time_ms: u64,
    meter_timeout_s: u64,
    evse_fault_after_s: u64,
    voltage: i64,
    meter_plausible_factor: i64,
    price_level: Option<i64>,
    max_evses: u32,
    shareware_mode: bool,
    version: &'static str,
    time: u64,
    vsn: Vsn<'a>,
    ocpp_gateway_license_cnt: u32,
    ocpp_gateway_licenses_used: u32,
    // The W-named keys of older firmware, at the nominal voltage over three phases.
    max_total_power: i64,
    power_reserve: i64,
    overdraft: i64,
    max_total_evse_power: i64,
    consumed_evse_power: i64,
    remaining_evse_power: i64,
    available_current: [i64; 3],
    house_current: [i64; 3],
    evse_current: [i64; 3],
    meter_stale: bool,
    /// §14a dimming: `active`, `since` (Unix s), `source`, `limit_w`.
    grid_dimming: &'a actors::supervisor::DimmingView,
    /// What dims besides `cmd=set_grid_dimming` (empty: nothing).
    grid_dimming_formula: &'a str,
    /// The MQTT connection.
    mqtt: crate::mqtt::StatusView,
}

#[derive(Serialize)]
struct Device<'a> {
    dev_type: &'static str,
    device_enabled: u8,
    name: &'a str,
    address: &'a str,
    id: u8,
    dev_id: &'a str,
    number: u32,
    desc: &'a str,
    is_evse: bool,
    used_phases: u8,
    com_err: bool,
    com_err_secs: u64,
    com_errors: u64,
    last_error: &'a str,
    model: &'a str,
    #[serde(flatten)]
    kind: Kind<'a>,
}

#[derive(Serialize)]
#[serde(untagged)]
enum Kind<'a> {
    Group {
        max_charging_cur: &'a CurrentLimit,
        group: u32,
    },
    Evse {
        label: &'a str,
        min_charging_cur: i64,
        max_charging_cur: &'a CurrentLimit,
        prio: i64,
        phase_rotation: actors::config::PhaseRotation,
        group: u32,
        /// The meter that measures it; empty = none.
        attach: &'a str,
        /// The wallbox's own rules, so that a client can edit and post them back.
        charging_rules: &'a [Rule],
        phase_switching: &'static str,
        phase_switch_pause_s: u64,
        phase_switch_min_interval_s: u64,
        wake_up: bool,
        #[serde(flatten)]
        view: Option<&'a EvseView>,
    },
    Meter {
        is_va: bool,
        invert: bool,
        role: i64,
        #[serde(flatten)]
        view: MeterView,
        power: i64,
    },
}

/// `CARGO_PKG_VERSION` as one number, as `vsn.version` has it.
fn version_number() -> u32 {
    let part = |s: &str| s.parse::<u32>().unwrap_or(0);
    let [major, minor, patch] = [
        env!("CARGO_PKG_VERSION_MAJOR"),
        env!("CARGO_PKG_VERSION_MINOR"),
        env!("CARGO_PKG_VERSION_PATCH"),
    ]
    .map(part);
    (major & 0xff) << 24 | (minor & 0xff) << 16 | (patch & 0xffff)
}

fn params<'a>(
    snapshot: &'a Snapshot,
    serialno: &'a str,
    mqtt: crate::mqtt::StatusView,
) -> Params<'a> {
    let p = &snapshot.params;
    let site = &snapshot.site;
    let watts = |ma: i64| ma * p.voltage * 3 / 1000;
    Params {
        title: &snapshot.title,
        desc: &snapshot.desc,
        max_total_current: &p.max_total_current,
        reserve_current: p.reserve_current,
        overdraft_cur: site.overdraft_cur,
        max_total_evse_current: p.max_total_evse_current,
        cons_evse_power: site.cons_evse_power,
        avail_evse_power: site.avail_evse_power,
        lb_enabled: p.lb_enabled,
        disable_policy: p.disable_policy.code(),
        cycle_time: p.cycle_time_ms,
        cycle_time_measured: snapshot.cycle_time_ms,
        cycle_overruns: snapshot
            .cycle_overruns
            .load(std::sync::atomic::Ordering::Relaxed),
        max_imbalance: p.max_imbalance,
        imbalance_add: p.imbalance_add,
        min_pause_time: p.min_pause_time_s,
        cycle_time_ms: p.cycle_time_ms,
        meter_timeout_s: p.meter_timeout_s,
        evse_fault_after_s: p.evse_fault_after_s,
        voltage: p.voltage,
        meter_plausible_factor: p.meter_plausible_factor,
        price_level: p.price_level,
        max_evses: 10_000,
        shareware_mode: false,
        version: env!("CARGO_PKG_VERSION"),
        time: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
        vsn: Vsn {
            vendorid: VENDOR_ID,
            productid: PRODUCT_ID,
            serialno,
            version: version_number(),
        },
        ocpp_gateway_license_cnt: 0,
        ocpp_gateway_licenses_used: 0,
        max_total_power: watts(site.max_total_ma),
        power_reserve: watts(p.reserve_current),
        overdraft: watts(site.overdraft_cur),
        max_total_evse_power: watts(p.max_total_evse_current),
        consumed_evse_power: site.cons_evse_power,
        remaining_evse_power: (site.avail_evse_power - site.cons_evse_power).max(0),
        available_current: site.available_ma,
        house_current: site.house_ma,
        evse_current: site.evse_ma,
        meter_stale: site.meter_stale,
        grid_dimming: &site.grid_dimming,
        grid_dimming_formula: &p.grid_dimming_formula,
        mqtt,
    }
}

/// A wallbox's state as a reader without the admin password sees it: the
/// user who authorised the car by name if they allow it (`display`), else
/// not at all; never by id (an id is enough to ask for a user's data).
fn for_anyone(view: &EvseView) -> Cow<'_, EvseView> {
    if view.user.is_empty() {
        return Cow::Borrowed(view);
    }
    let mut v = view.clone();
    let shown = if v.user_display {
        v.user_name.clone()
    } else {
        String::new()
    };
    let label = if shown.is_empty() { "user" } else { &shown };
    if let Some(rule) = v.rule_id.strip_prefix(&format!("{}/", view.user)) {
        v.rule_id = format!("{label}/{rule}");
    }
    if let Some(rule) = v.lb_reason.rule_mut() {
        if let Some(n) = rule.strip_prefix(&format!("{}/", view.user)) {
            *rule = format!("{label}/{n}");
        }
    }
    v.user.clone_from(&shown);
    v.user_name = shown;
    Cow::Owned(v)
}

fn device<'a>(
    number: usize,
    s: &'a DeviceSettings,
    has_actor: bool,
    at: Option<usize>,
    snapshot: &'a Snapshot,
    views: &'a [Option<Cow<'a, EvseView>>],
    now: Instant,
) -> Device<'a> {
    let status: Option<&DeviceStatus> = at
        .and_then(|i| snapshot.devices.get(i))
        .and_then(|(_, status)| status.as_deref());
    let kind = if s.dev_type.is_group() {
        Kind::Group {
            max_charging_cur: &s.max_charging_cur,
            group: s.group,
        }
    } else if s.dev_type.is_evse() {
        Kind::Evse {
            label: &s.label,
            min_charging_cur: s.min_charging_cur,
            max_charging_cur: &s.max_charging_cur,
            prio: s.prio,
            phase_rotation: s.phase_rotation,
            group: s.group,
            attach: &s.attach,
            charging_rules: &s.charging_rules,
            phase_switching: s.phase_switching.key(),
            phase_switch_pause_s: s.phase_switch_pause_s,
            phase_switch_min_interval_s: s.phase_switch_min_interval_s,
            wake_up: s.wake_up,
            view: at.and_then(|i| views.get(i)).and_then(Option::as_deref),
        }
    } else {
        let view = at
            .and_then(|i| snapshot.meters.get(i).cloned().flatten())
            .unwrap_or_default();
        Kind::Meter {
            is_va: status.is_some_and(|st| st.is_va),
            invert: s.invert,
            role: s.role.code(),
            power: view.power_w,
            view,
        }
    };
    Device {
        dev_type: s.dev_type.key(),
        device_enabled: u8::from(s.device_enabled),
        name: &s.name,
        address: &s.address,
        id: s.id,
        dev_id: &s.dev_id,
        number: s
            .number
            .unwrap_or_else(|| u32::try_from(number).unwrap_or(u32::MAX)),
        desc: if s.desc.is_empty() {
            s.dev_type.display_name()
        } else {
            &s.desc
        },
        is_evse: s.dev_type.is_evse(),
        used_phases: s.used_phases,
        com_err: status.is_some_and(|st| st.com.com_err),
        com_err_secs: status.map_or(0, |st| st.com.com_err_secs(now)),
        com_errors: status.map_or(0, |st| st.com.com_errors),
        last_error: status.map_or("", |st| st.com.last_error.as_str()),
        // A device added or restarted since the last cycle has not been
        // asked yet: that is no error.
        model: match status {
            Some(st) => &st.model,
            None if has_actor => "starting",
            None => "",
        },
        kind,
    }
}

/// Wallboxes whose car waits for a card or PIN.
fn waiting_for_auth(snapshot: &Snapshot) -> usize {
    snapshot
        .evses
        .iter()
        .flatten()
        .filter(|v| v.needs_auth && v.user.is_empty() && (2..=4).contains(&v.state))
        .count()
}

/// What the reader may see of each wallbox's state: all of it for the
/// admin, else users by name only (`for_anyone`).
fn visible_views(snapshot: &Snapshot, admin: bool) -> Vec<Option<Cow<'_, EvseView>>> {
    snapshot
        .evses
        .iter()
        .map(|v| {
            v.as_ref().map(|v| {
                if admin {
                    Cow::Borrowed(v)
                } else {
                    for_anyone(v)
                }
            })
        })
        .collect()
}

/// The `devices` list of one snapshot as JSON (`[{…},{…}]`), serialized
/// once and shared by every request that reads that snapshot.
#[derive(Debug)]
struct DeviceList {
    json: Bytes,
    /// Where each device's object is in `json`, in the list's order.
    spans: Vec<Range<usize>>,
    /// A dev_id in lower case → its place in `spans`.
    index: HashMap<String, usize>,
    auth_cnt: usize,
}

impl DeviceList {
    /// Serializes every running device as of `snapshot`: what `admin`
    /// sees, or what anyone may see.
    fn render<'d>(
        snapshot: &Snapshot,
        devices: impl ExactSizeIterator<Item = (&'d DeviceSettings, bool)>,
        admin: bool,
    ) -> Result<Self, ApiError> {
        let now = Instant::now();
        let views = visible_views(snapshot, admin);
        // The snapshot is by the last cycle's device list, which a change
        // made since may have reordered: match by dev_id.
        let at: HashMap<&str, usize> = snapshot
            .devices
            .iter()
            .enumerate()
            .map(|(i, (dev_id, _))| (dev_id.as_str(), i))
            .collect();
        let count = devices.len();
        let mut json = Vec::with_capacity(count * 640 + 2);
        let mut spans = Vec::with_capacity(count);
        let mut index = HashMap::with_capacity(count);
        json.push(b'[');
        for (i, (settings, has_actor)) in devices.enumerate() {
            if i > 0 {
                json.push(b',');
            }
            let at = at.get(settings.dev_id.as_str()).copied();
            let device = device(i + 1, settings, has_actor, at, snapshot, &views, now);
            let start = json.len();
            write_json(&mut json, &device)?;
            spans.push(start..json.len());
            index.insert(settings.dev_id.to_ascii_lowercase(), i);
        }
        json.push(b']');
        Ok(DeviceList {
            json: Bytes::from(json),
            spans,
            index,
            auth_cnt: waiting_for_auth(snapshot),
        })
    }

    /// The list, or only the devices `chosen` (in the order asked), each
    /// with only the keys `fields` (and its `dev_id`).
    fn select(&self, chosen: Option<&[usize]>, fields: Option<&[&str]>) -> Result<Bytes, ApiError> {
        if chosen.is_none() && fields.is_none() {
            return Ok(self.json.clone());
        }
        let all: Vec<usize>;
        let chosen = match chosen {
            Some(c) => c,
            None => {
                all = (0..self.spans.len()).collect();
                &all
            }
        };
        let mut out = Vec::with_capacity(2 + chosen.len() * 64);
        out.push(b'[');
        for (n, &i) in chosen.iter().enumerate() {
            if n > 0 {
                out.push(b',');
            }
            let text = &self.json[self.spans[i].clone()];
            match fields {
                None => out.extend_from_slice(text),
                Some(fields) => {
                    let mut object: Map<String, Value> = serde_json::from_slice(text)
                        .map_err(|e| ApiError::Unavailable(e.to_string()))?;
                    object.retain(|key, _| key == "dev_id" || fields.contains(&key.as_str()));
                    serde_json::to_writer(&mut out, &object)
                        .map_err(|e| ApiError::Unavailable(e.to_string()))?;
                }
            }
        }
        out.push(b']');
        Ok(Bytes::from(out))
    }
}

/// The device lists last serialized, one for the admin and one for anyone
/// else: a request reading the same snapshot and the same running devices
/// as the one before is answered from them without serializing again.
#[derive(Debug, Default)]
pub struct AnswerCache {
    slots: [Mutex<Option<Arc<Slot>>>; 2],
}

#[derive(Debug)]
struct Slot {
    snapshot: Arc<Snapshot>,
    plant: Arc<Plant>,
    /// Serialized by the first request that needs it; the others wait.
    list: OnceLock<Result<Arc<DeviceList>, String>>,
}

impl AnswerCache {
    fn list(
        &self,
        snapshot: &Arc<Snapshot>,
        plant: &Arc<Plant>,
        admin: bool,
    ) -> Result<Arc<DeviceList>, ApiError> {
        let slot = {
            let mut slot = self.slots[usize::from(admin)]
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            match &*slot {
                Some(s) if Arc::ptr_eq(&s.snapshot, snapshot) && Arc::ptr_eq(&s.plant, plant) => {
                    s.clone()
                }
                _ => {
                    let fresh = Arc::new(Slot {
                        snapshot: snapshot.clone(),
                        plant: plant.clone(),
                        list: OnceLock::new(),
                    });
                    *slot = Some(fresh.clone());
                    fresh
                }
            }
        };
        slot.list
            .get_or_init(|| {
                let devices = plant.devices().iter().map(|d| {
                    let has_actor = !matches!(d.actor, DeviceActor::None);
                    (d.settings.as_ref(), has_actor)
                });
                DeviceList::render(snapshot, devices, admin)
                    .map(Arc::new)
                    .map_err(|e| e.to_string())
            })
            .clone()
            .map_err(ApiError::Unavailable)
    }
}

/// What a `get_dev_info` asks for: some devices (`dev_id=E1,M2`), some of
/// their keys (`fields=dev_id,state`), or all of it.
#[derive(Debug, Default)]
pub struct Filter<'a> {
    dev_ids: Option<Vec<&'a str>>,
    fields: Option<Vec<&'a str>>,
}

impl<'a> Filter<'a> {
    /// The filters of a request; a field no device has is refused, naming
    /// the ones there are.
    pub fn parse(params: &'a super::Params) -> Result<Self, ApiError> {
        let list = |name: &'static str| -> Result<Option<Vec<&'a str>>, ApiError> {
            let Some(text) = params.get(name) else {
                return Ok(None);
            };
            let items: Vec<&str> = text.split(',').map(str::trim).collect();
            if items.iter().any(|i| i.is_empty()) {
                return Err(ApiError::BadParam {
                    name,
                    reason: format!("'{text}' is not a comma-separated list of names"),
                });
            }
            Ok(Some(items))
        };
        let fields = list("fields")?;
        if let Some(fields) = &fields {
            let known = device_keys();
            if let Some(unknown) = fields.iter().find(|f| !known.contains(**f)) {
                let names: Vec<&str> = known.iter().map(String::as_str).collect();
                return Err(ApiError::BadParam {
                    name: "fields",
                    reason: format!(
                        "no device has a field '{unknown}'; the fields are: {}",
                        names.join(", ")
                    ),
                });
            }
        }
        Ok(Filter {
            dev_ids: list("dev_id")?,
            fields,
        })
    }
}

/// Every key a device of `get_dev_info` can have, of any type: those of a
/// device of each type, serialized.
pub(super) fn device_keys() -> &'static BTreeSet<String> {
    static KEYS: OnceLock<BTreeSet<String>> = OnceLock::new();
    KEYS.get_or_init(|| {
        let snapshot = Snapshot {
            devices: vec![("E1".into(), None)],
            evses: vec![Some(EvseView::default())],
            meters: vec![Some(MeterView::default())],
            ..Snapshot::default()
        };
        let views = [Some(Cow::Owned(EvseView::default()))];
        let mut keys = BTreeSet::new();
        for t in DeviceType::all() {
            let settings = serde_json::from_value::<DeviceSettings>(serde_json::json!({
                "dev_id": "E1", "dev_type": t.key(),
            }));
            let Ok(settings) = settings else { continue };
            let d = device(
                1,
                &settings,
                true,
                Some(0),
                &snapshot,
                &views,
                Instant::now(),
            );
            if let Ok(Value::Object(map)) = serde_json::to_value(&d) {
                keys.extend(map.into_iter().map(|(k, _)| k));
            }
        }
        keys
    })
}

/// Writes `value` as JSON onto `out`.
fn write_json(out: &mut Vec<u8>, value: &impl Serialize) -> Result<(), ApiError> {
    serde_json::to_writer(out, value).map_err(|e| ApiError::Unavailable(e.to_string()))
}

/// The parameters and every device as of the last cycle: nested under
/// `params` (`get_dev_info`), or `flat` with `dev_meta` (`get_params`);
/// user ids only for the admin. The devices come serialized from the cache;
/// the parameters around them (the time, the MQTT connection, the charge
/// points asking) are written for each request. As one answer the pieces
/// are exactly what serializing `DevInfo` or `FlatParams` gives.
async fn render(
    state: &AppState,
    flat: bool,
    admin: bool,
    filter: &Filter<'_>,
) -> Result<Vec<Bytes>, ApiError> {
    let snapshot = state.supervisor.send(GetSnapshot).await?;
    let plant = state.plant();
    let list = state.answers.list(&snapshot, &plant, admin)?;
    let chosen = match &filter.dev_ids {
        None => None,
        Some(ids) => {
            let mut chosen = Vec::with_capacity(ids.len());
            for id in ids {
                let i = *list
                    .index
                    .get(&id.to_ascii_lowercase())
                    .ok_or_else(|| ApiError::UnknownDevice((*id).to_string()))?;
                if !chosen.contains(&i) {
                    chosen.push(i);
                }
            }
            Some(chosen)
        }
    };
    let devices = list.select(chosen.as_deref(), filter.fields.as_deref())?;
    let params = params(&snapshot, &state.serialno, state.mqtt.view());
    let around = Around {
        auth_cnt: list.auth_cnt,
        loadmgr_disabled: !snapshot.params.lb_enabled,
        ocpp_asking: state.ocpp.asking(),
    };
    let meta = flat.then(|| (dev_types(), super::meta::meta()));
    assemble(&params, &around, devices, meta)
}

/// The keys of an answer beside `params` and `devices`.
struct Around {
    auth_cnt: usize,
    loadmgr_disabled: bool,
    ocpp_asking: Vec<crate::ocpp::Asking>,
}

/// The answer as three pieces around the serialized `devices`: nested
/// under `params` (`get_dev_info`), or flat with `dev_meta` and `meta`
/// (`get_params`). Joined, they are exactly what serializing `DevInfo` or
/// `FlatParams` gives.
fn assemble(
    params: &Params<'_>,
    around: &Around,
    devices: Bytes,
    flat_meta: Option<(Value, Value)>,
) -> Result<Vec<Bytes>, ApiError> {
    let mut head = Vec::with_capacity(2048);
    if flat_meta.is_some() {
        write_json(&mut head, params)?;
        // The parameters' keys, then the site's beside them.
        head.pop();
        head.push(b',');
    } else {
        head.extend_from_slice(b"{\"params\":");
        write_json(&mut head, params)?;
        head.push(b',');
    }
    head.extend_from_slice(b"\"auth_cnt\":");
    write_json(&mut head, &around.auth_cnt)?;
    head.extend_from_slice(b",\"devices\":");
    let mut tail = Vec::with_capacity(64);
    tail.extend_from_slice(b",\"loadmgr_disabled\":");
    write_json(&mut tail, &around.loadmgr_disabled)?;
    if !around.ocpp_asking.is_empty() {
        tail.extend_from_slice(b",\"ocpp_asking\":");
        write_json(&mut tail, &around.ocpp_asking)?;
    }
    if let Some((dev_meta, meta)) = flat_meta {
        tail.extend_from_slice(b",\"dev_meta\":");
        write_json(&mut tail, &dev_meta)?;
        tail.extend_from_slice(b",\"meta\":");
        write_json(&mut tail, &meta)?;
    }
    tail.push(b'}');
    Ok(vec![Bytes::from(head), devices, Bytes::from(tail)])
}

/// `get_dev_info`, as pieces of JSON text; user ids only for the admin.
pub async fn get(
    state: &AppState,
    admin: bool,
    filter: &Filter<'_>,
) -> Result<Vec<Bytes>, ApiError> {
    render(state, false, admin, filter).await
}

/// `get_params`: the parameters flat, the devices and `dev_meta`, as
/// pieces of JSON text; user ids only for the admin.
pub async fn get_params(state: &AppState, admin: bool) -> Result<Vec<Bytes>, ApiError> {
    render(state, true, admin, &Filter::default()).await
}

/// Every supported device type with its display name (`dev_meta`).
pub fn dev_types() -> Value {
    Value::Object(
        DeviceType::all()
            .map(|t| (t.key().to_string(), Value::from(t.display_name())))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The page's unit tests (`web/test/reasons.test.js`) put these reasons
    /// in words, as get_dev_info gives them; `CHARGEBRAIN_UPDATE_SNAPSHOT=1`
    /// rewrites the file.
    const REASONS_FIXTURE: &str = "web/test/daemon-reasons.json";

    #[test]
    fn the_page_tests_read_every_reason_as_the_daemon_gives_it() {
        use actors::alloc::{Constraint, Reason};
        use actors::config::DisablePolicy;
        use actors::phases::{Phases, Why};
        let rule = |rule: &str| LbReason::ChargingRule { rule: rule.into() };
        let stale = |meters: &[&str]| LbReason::MeterStale {
            meters: meters.iter().map(|m| m.to_string()).collect(),
        };
        let reasons = [
            LbReason::Alloc(Reason::MaxCurrent),
            rule("E1/2"),
            rule("Anna Smith/1"),
            LbReason::ChargingRuleStop {
                rule: "U3f09/1".into(),
                ma: 4000,
            },
            LbReason::Alloc(Reason::Limit(Constraint::Site, 1)),
            LbReason::Alloc(Reason::Limit(Constraint::Group(5), 2)),
            LbReason::Alloc(Reason::Limit(Constraint::EvseTotal, 0)),
            LbReason::Alloc(Reason::Imbalance(2)),
            LbReason::Alloc(Reason::NoMinimum(Constraint::Site, 0)),
            LbReason::Alloc(Reason::PausedImbalance(1)),
            LbReason::Alloc(Reason::GivesWay(Constraint::Group(4), 0)),
            LbReason::MinPause { secs: 42 },
            stale(&["M1"]),
            stale(&["M1", "M3"]),
            LbReason::ComError,
            LbReason::NoVehicle,
            LbReason::WallboxError,
            LbReason::NoReading,
            LbReason::Disabled(DisablePolicy::Stop),
            LbReason::Disabled(DisablePolicy::Minimum),
            LbReason::Disabled(DisablePolicy::NoLimit),
            LbReason::DisabledByOverride,
            LbReason::WaitingForAuth,
            LbReason::Alloc(Reason::Uncontrolled),
            LbReason::GridDimming { limit_w: 4200 },
            LbReason::Phases(Why::Surplus { one_ma: 9870 }),
            LbReason::Phases(Why::FullPhase { one_ma: 12_000 }),
            LbReason::Phases(Why::UpHold {
                held_s: 40,
                hold_s: 120,
            }),
            LbReason::Phases(Why::Blocked {
                to: Phases::Three,
                ago_s: 250,
            }),
            LbReason::Phases(Why::Switching {
                to: Phases::One,
                left_s: 95,
            }),
            LbReason::None,
        ];
        let now = Value::Array(
            reasons
                .iter()
                .map(|r| serde_json::to_value(r).unwrap_or_default())
                .collect(),
        );
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(REASONS_FIXTURE);
        if std::env::var_os("CHARGEBRAIN_UPDATE_SNAPSHOT").is_some() {
            let text = serde_json::to_string_pretty(&now).unwrap_or_default() + "\n";
            std::fs::write(&path, text).unwrap_or_else(|e| panic!("{REASONS_FIXTURE}: {e}"));
        }
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{REASONS_FIXTURE}: {e}"));
        let fixture: Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{REASONS_FIXTURE}: {e}"));
        assert_eq!(
            fixture, now,
            "{REASONS_FIXTURE} is not what get_dev_info gives: rerun with CHARGEBRAIN_UPDATE_SNAPSHOT=1 and check the page's tests"
        );
    }

    /// A small site: a wallbox charging for a user, one without a view yet,
    /// a meter and a group, as `render` gets them.
    fn site() -> (Snapshot, Vec<DeviceSettings>) {
        let settings: Vec<DeviceSettings> = [
            ("E1", "evse_ajax"),
            ("E2", "evse_ajax"),
            ("M3", "meter_ajax"),
            ("E4", "evse_group"),
        ]
        .iter()
        .map(|(dev_id, dev_type)| {
            serde_json::from_value(serde_json::json!({
                "dev_id": dev_id, "dev_type": dev_type, "name": format!("the \"{dev_id}\""),
            }))
            .unwrap()
        })
        .collect();
        // The snapshot's devices in another order than the plant's (a change
        // since the cycle): they are matched by dev_id.
        let snapshot = Snapshot {
            devices: ["M3", "E1", "E4", "E2"]
                .iter()
                .map(|d| (d.to_string(), None))
                .collect(),
            evses: vec![None, Some(charging(false)), None, None],
            meters: vec![
                Some(MeterView {
                    import: 5,
                    current_l2: -700,
                    ..MeterView::default()
                }),
                None,
                None,
                None,
            ],
            ..Snapshot::default()
        };
        (snapshot, settings)
    }

    fn mqtt() -> crate::mqtt::StatusView {
        crate::mqtt::Status::new(&crate::mqtt::MqttSettings::default()).view()
    }

    #[test]
    fn the_answer_in_pieces_is_the_structs_serialized_byte_for_byte() {
        let (snapshot, settings) = site();
        for (admin, flat) in [(true, false), (false, false), (true, true), (false, true)] {
            let list =
                DeviceList::render(&snapshot, settings.iter().map(|s| (s, true)), admin).unwrap();
            let around = Around {
                auth_cnt: list.auth_cnt,
                loadmgr_disabled: true,
                ocpp_asking: Vec::new(),
            };
            let p = params(&snapshot, "CB-1", mqtt());
            let meta = flat.then(|| (dev_types(), super::super::meta::meta()));
            let pieces = assemble(&p, &around, list.json.clone(), meta).unwrap();
            let joined = String::from_utf8(pieces.concat()).unwrap();

            let now = Instant::now();
            let views = visible_views(&snapshot, admin);
            let at = |dev_id: &str| snapshot.devices.iter().position(|(d, _)| d == dev_id);
            let devices = settings
                .iter()
                .enumerate()
                .map(|(i, s)| device(i + 1, s, true, at(&s.dev_id), &snapshot, &views, now))
                .collect();
            let site = SiteKeys {
                auth_cnt: around.auth_cnt,
                devices,
                loadmgr_disabled: true,
                ocpp_asking: Vec::new(),
            };
            let typed = if flat {
                serde_json::to_string(&FlatParams {
                    params: p,
                    site,
                    dev_meta: dev_types(),
                    meta: super::super::meta::meta(),
                })
            } else {
                serde_json::to_string(&DevInfo { params: p, site })
            }
            .unwrap();
            assert_eq!(joined, typed, "admin {admin}, flat {flat}");
            let v: Value = serde_json::from_str(&joined).unwrap();
            assert_eq!(v["devices"][0]["user"], if admin { "U3f09" } else { "" });
            assert_eq!(v["devices"][2]["current_l2"], -700);
        }
    }

    #[test]
    fn a_selection_is_the_devices_asked_for_with_the_keys_asked_for() {
        let (snapshot, settings) = site();
        let list = DeviceList::render(&snapshot, settings.iter().map(|s| (s, true)), true).unwrap();
        let all: Value = serde_json::from_slice(&list.json).unwrap();
        assert_eq!(list.select(None, None).unwrap(), list.json);
        let some: Value =
            serde_json::from_slice(&list.select(Some(&[2, 0]), None).unwrap()).unwrap();
        assert_eq!(some, Value::Array(vec![all[2].clone(), all[0].clone()]));
        let keys: Value = serde_json::from_slice(
            &list
                .select(Some(&[0, 2]), Some(&["lb_reason", "import", "name"]))
                .unwrap(),
        )
        .unwrap();
        assert_eq!(
            keys,
            serde_json::json!([
                {"name": "the \"E1\"", "dev_id": "E1", "lb_reason": all[0]["lb_reason"]},
                {"name": "the \"M3\"", "dev_id": "M3", "import": 5},
            ])
        );
        assert_eq!(
            list.index.get("m3"),
            Some(&2),
            "dev_ids are found in any case"
        );
    }

    #[test]
    fn the_known_fields_are_those_of_every_kind_of_device() {
        let keys = device_keys();
        for key in [
            "dev_id",
            "name",
            "state",
            "lb_reason_code",
            "import",
            "role",
            "group",
        ] {
            assert!(keys.contains(key), "{key}: {keys:?}");
        }
        assert!(!keys.contains("user_display"), "skipped when serialized");
    }

    fn charging(display: bool) -> EvseView {
        EvseView {
            user: "U3f09".into(),
            user_name: "Anna".into(),
            user_display: display,
            rule_id: "U3f09/2".into(),
            lb_reason: LbReason::ChargingRule {
                rule: "U3f09/2".into(),
            },
            ..EvseView::default()
        }
    }

    #[test]
    fn anyone_sees_a_user_by_name_only_and_only_with_display() {
        let anna = charging(true);
        let shown = for_anyone(&anna);
        assert_eq!(
            (
                shown.user.as_str(),
                shown.user_name.as_str(),
                shown.rule_id.as_str(),
                shown.lb_reason.to_string().as_str()
            ),
            ("Anna", "Anna", "Anna/2", "charging rule Anna/2")
        );
        let private = charging(false);
        let hidden = for_anyone(&private);
        assert_eq!(
            (
                hidden.user.as_str(),
                hidden.user_name.as_str(),
                hidden.rule_id.as_str(),
                hidden.lb_reason.to_string().as_str()
            ),
            ("", "", "user/2", "charging rule user/2")
        );
        let nobody = EvseView::default();
        assert!(matches!(for_anyone(&nobody), Cow::Borrowed(_)));
    }
}
