//! What the supervisor is asked, and how it refuses.

use std::sync::Arc;

use actix::Message;

use super::site::Snapshot;
use super::Who;
use crate::config::Change;
use crate::history::{self, History};
use crate::store::StoreError;

/// The latest cycle's state, for `get_dev_info`.
#[derive(Debug, Message)]
#[rtype(result = "Arc<Snapshot>")]
pub struct GetSnapshot;

/// Decides again now, with the latest pushed values of the HTTP-input
/// devices and the last readings of the others (no Modbus wait): a pushed
/// value acts at once. Answers with the new snapshot.
#[derive(Debug, Message)]
#[rtype(result = "Arc<Snapshot>")]
pub struct Reevaluate;

/// Polls every device and decides now; answers with the new snapshot.
/// A supervisor on a manual clock cycles only when sent this.
#[derive(Debug, Message)]
#[rtype(result = "Arc<Snapshot>")]
pub struct CycleNow;

/// A change through the API. The supervisor is the configuration's one
/// writer: it works out the new state (`config::apply`), has the store
/// write it, then puts it into force. Answers what changed, in words for
/// the log (`config::changes`).
#[derive(Debug, Message)]
#[rtype(result = "Result<Vec<String>, ConfigError>")]
pub enum Configure {
    /// A change of the configuration.
    Change(Change),
    /// Delete and re-create a device: the same settings, a fresh actor and
    /// session.
    ResetDevice(String),
}

/// A card or PIN for a wallbox (`enter_rfid`); answers the wallbox.
#[derive(Debug, Message)]
#[rtype(result = "Result<String, ConfigError>")]
pub struct PresentRfid {
    pub dev_id: Option<String>,
    pub rfid: String,
}

/// `override_device` for the car at a wallbox.
#[derive(Debug, Message)]
#[rtype(result = "Result<(), ConfigError>")]
pub struct OverrideDevice {
    pub dev_id: String,
    pub flags: String,
    pub max_ma: Option<i64>,
    /// `switch_phases`: 1p/3p switching for this car.
    pub phases: Option<crate::phases::Switching>,
    pub who: Who,
}

/// `set_grid_dimming`: the grid operator dims the site (§14a), or stops.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct SetGridDimming {
    pub active: bool,
}

/// Reads (and with `set`, sets) a soft meter; answers the reading before.
#[derive(Debug, Message)]
#[rtype(result = "Result<i64, ConfigError>")]
pub struct SoftMeter {
    pub dev_id: String,
    pub set: Option<i64>,
}

/// The history's points for a query (`get_history`).
#[derive(Debug, Message)]
#[rtype(result = "Result<history::Series, ConfigError>")]
pub struct GetHistory(pub history::Query);

/// The history as it is saved (at shutdown).
#[derive(Debug, Message)]
#[rtype(result = "History")]
pub struct TakeHistory;

/// Saves what runs on (open transactions, soft meters): every minute, and
/// at shutdown. Answers when written.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct Flush;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The change was refused; nothing changed.
    #[error("{0}")]
    Rejected(String),
    #[error("unknown device: {0}")]
    UnknownDevice(String),
    #[error("{0}")]
    Store(StoreError),
    /// The store stopped taking messages: nothing was written.
    #[error("store unavailable: {0}")]
    Unavailable(String),
}
