//! The configuration model, in one home: the site parameters, the devices'
//! settings, the users and their cards, the license and the admin password
//! (`State`, what the state file holds), the cFos API's names for them, and
//! how a change applies and is checked. Pure code.
//!
//! Both the store (which writes a `State`) and the supervisor (which works
//! out the next `State` with [`apply`] and puts it into force) depend on
//! this module; neither imports the other.

mod apply;
mod cfos;
mod changes;
mod codes;
mod device;
mod formulas;
pub mod mqtt;
mod params;
mod rotation;
mod state;
mod users;

use serde_json::{Map, Value};

pub use apply::{delete_device, set_cm_var, set_params, MAX_CM_VARS};
pub use cfos::{ignored_keys, IGNORED_DEVICE, READ_ONLY_DEVICE, READ_ONLY_PARAMS};
pub use changes::changes;
pub use codes::{DisablePolicy, MeterRole, Rotation};
pub use device::{
    changed_problems, device_problems, validate_changed, validate_devices, CurrentLimit,
    DeviceSettings, DeviceSettingsError,
};
pub use formulas::{
    check_formula_names, formula_problems, no_new_formula_problems, settings_formula_problems,
};
pub use mqtt::{mqtt_in_force, set_mqtt, Broker, MqttSettings, MQTT_FIELDS};
pub use params::{SiteParams, MIN_TOTAL_MA};
pub use rotation::{LearntRotation, PhaseRotation};
pub use state::{License, State, MAX_TEXT_CHARS, STATE_VERSION};
pub use users::{
    find_card, may_use, needs_auth, owns_card, set_user, shown_while_plugged_in, unknown_fields,
    validate_users, Rfid, User,
};

pub use crate::drivers::DeviceType;

/// A value's fields as a JSON object (empty if it is no object).
fn as_object<T: serde::Serialize>(value: &T) -> Map<String, Value> {
    match serde_json::to_value(value) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    }
}

/// A change of the configuration, as the API asks for it.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// A `set_params` body: parameters and/or `devices`.
    SetParams(Map<String, Value>),
    /// `del_device`.
    DeleteDevice(String),
    /// A `set_user` body; `admin` says whether the caller gave the
    /// password, `proof` is the card or PIN given instead.
    SetUser {
        body: Map<String, Value>,
        admin: bool,
        proof: Option<String>,
    },
    /// `set_cm_vars`: a charging-manager variable set, or removed (`None`).
    SetCmVar {
        name: String,
        value: Option<serde_json::Number>,
    },
    /// `accept_license`; usage statistics stay as they are when not given.
    License {
        accepted: bool,
        allow_usage_stats: Option<bool>,
    },
    /// `change_admin_pwd`: the new password's hash; `None` removes it.
    AdminHash(Option<String>),
    /// `set_mqtt`: the fields given change; `start` is settings.toml's
    /// `[mqtt]`, in force until the first such change.
    SetMqtt {
        body: Map<String, Value>,
        start: Box<MqttSettings>,
    },
}

/// Where a Modbus device is reached, in one spelling, or why its address
/// cannot be used (see `devices::Fleet::endpoint_key`).
pub type EndpointOf<'a> = &'a dyn Fn(&DeviceSettings) -> Result<Option<String>, String>;

/// `state` with `change` applied and checked; a refused change answers why,
/// naming the field.
pub fn apply(state: &State, change: Change, endpoint_of: EndpointOf<'_>) -> Result<State, String> {
    let mut next = state.clone();
    match change {
        Change::SetParams(body) => set_params(&mut next, &body, endpoint_of)?,
        Change::DeleteDevice(dev_id) => delete_device(&mut next, &dev_id)?,
        Change::SetUser { body, admin, proof } => {
            let wallboxes: Vec<String> = state
                .devices
                .iter()
                .filter(|d| d.dev_type.is_evse())
                .map(|d| d.dev_id.clone())
                .collect();
            set_user(&mut next.users, &body, admin, proof.as_deref(), &wallboxes)?;
            no_new_formula_problems(state, &next)?;
        }
        Change::SetCmVar { name, value } => set_cm_var(&mut next, &name, value)?,
        Change::License {
            accepted,
            allow_usage_stats,
        } => {
            next.license.accepted = accepted;
            if let Some(stats) = allow_usage_stats {
                next.license.allow_usage_stats = stats;
            }
        }
        Change::AdminHash(hash) => next.admin_hash = hash,
        Change::SetMqtt { body, start } => set_mqtt(&mut next, &body, &start)?,
    }
    Ok(next)
}
