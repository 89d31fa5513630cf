//! The OCPP 1.6 messages chargebrain reads from a charge point, as serde
//! types (field names as in the OCPP 1.6 JSON schemas; fields chargebrain
//! does not use are left out and ignored). What chargebrain sends it builds
//! with `json!` in `calls.rs`, checked in the tests against the schemas'
//! required fields by the Python `ocpp` library of the integration tests.

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BootNotification {
    pub charge_point_vendor: String,
    pub charge_point_model: String,
    #[serde(default)]
    pub charge_point_serial_number: Option<String>,
    #[serde(default)]
    pub firmware_version: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusNotification {
    pub connector_id: u32,
    pub error_code: String,
    pub status: String,
    #[serde(default)]
    pub info: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MeterValues {
    pub connector_id: u32,
    #[serde(default)]
    pub transaction_id: Option<i64>,
    pub meter_value: Vec<MeterValue>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MeterValue {
    pub timestamp: String,
    pub sampled_value: Vec<SampledValue>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SampledValue {
    pub value: String,
    #[serde(default)]
    pub measurand: Option<String>,
    #[serde(default)]
    pub phase: Option<String>,
    #[serde(default)]
    pub unit: Option<String>,
    #[serde(default)]
    pub format: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Authorize {
    pub id_tag: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StartTransaction {
    pub connector_id: u32,
    pub id_tag: String,
    pub meter_start: i64,
    pub timestamp: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StopTransaction {
    #[serde(default)]
    pub id_tag: Option<String>,
    pub meter_stop: i64,
    pub timestamp: String,
    pub transaction_id: i64,
    #[serde(default)]
    pub reason: Option<String>,
}

/// The result of a call chargebrain made: only its `status` is used.
#[derive(Debug, Clone, Deserialize)]
pub struct StatusAnswer {
    pub status: String,
}

/// An `idTag` is at most 20 characters (CiString20Type).
pub const MAX_ID_TAG: usize = 20;
