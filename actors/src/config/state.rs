//! Everything changed through the API, as the state file holds it.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::{DeviceSettings, LearntRotation, MqttSettings, SiteParams, User};
use crate::charging_log::Transaction;

/// The longest `title` or `desc`, in characters.
pub const MAX_TEXT_CHARS: usize = 200;

/// Everything changed through the API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct State {
    /// Format version of this file.
    pub version: u32,
    pub title: String,
    pub desc: String,
    pub params: SiteParams,
    /// Shared, so that a copy of the state (each change makes one) costs a
    /// pointer per device, and a device a change did not touch is the same
    /// allocation before and after it (compared by address first).
    pub devices: Vec<Arc<DeviceSettings>>,
    /// Argon2 PHC string of the admin password; `None` = no password.
    pub admin_hash: Option<String>,
    pub license: License,
    #[serde(default)]
    pub users: Vec<User>,
    /// Transactions open at the last save (a car plugged in), so that a
    /// restart continues them.
    #[serde(default)]
    pub open_transactions: Vec<Transaction>,
    /// Soft meter readings of wallboxes without a meter, Wh.
    #[serde(default)]
    pub soft_meters: BTreeMap<String, i64>,
    /// This installation's serial number (`vsn.serialno`), made once at the
    /// first start and kept: clients build their ids from it.
    #[serde(default)]
    pub serialno: String,
    /// The charging-manager variables (`set_cm_vars`), read by formulas as
    /// `CM.<name>`.
    #[serde(default)]
    pub cm_vars: BTreeMap<String, serde_json::Number>,
    /// The MQTT settings once changed through the API (`set_mqtt`); until
    /// then settings.toml's `[mqtt]` is in force (see `config::mqtt`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mqtt: Option<MqttSettings>,
    /// What was learnt about each wallbox's rotation from the grid meter,
    /// by dev_id.
    #[serde(default)]
    pub learnt_rotations: BTreeMap<String, LearntRotation>,
}

impl State {
    /// A site with this title and nothing else yet: no devices, users,
    /// password or history, the default limits.
    pub fn new(title: impl Into<String>) -> Self {
        State {
            version: STATE_VERSION,
            title: title.into(),
            desc: String::new(),
            params: SiteParams::default(),
            devices: Vec::new(),
            admin_hash: None,
            license: License::default(),
            users: Vec::new(),
            open_transactions: Vec::new(),
            soft_meters: BTreeMap::new(),
            serialno: String::new(),
            cm_vars: BTreeMap::new(),
            mqtt: None,
            learnt_rotations: BTreeMap::new(),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct License {
    pub accepted: bool,
    pub allow_usage_stats: bool,
}

pub const STATE_VERSION: u32 = 1;
