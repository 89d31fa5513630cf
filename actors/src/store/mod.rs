//! Persistence: one state file, written atomically. The store actor runs on
//! its own thread (a `SyncArbiter`), because fsync blocks.
//!
//! Every change goes through [`Update`]: the change is applied to a copy,
//! written to a temporary file, fsynced, renamed over the state file, and
//! the directory fsynced — only then does the caller hear "ok". A crash at
//! any moment leaves either the old or the new state, never a mix.

mod config;
mod file;

use std::path::PathBuf;

use actix::prelude::*;
use serde::{Deserialize, Serialize};

pub use config::{delete_device, set_params};
pub use file::{load, save_atomic};

use crate::devices::DeviceSettings;
use crate::supervisor::SiteParams;

/// The file's name inside the storage directory.
pub const STATE_FILE: &str = "state.json";

/// Everything changed through the API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct State {
    /// Format version of this file.
    pub version: u32,
    pub title: String,
    pub desc: String,
    pub params: SiteParams,
    pub devices: Vec<DeviceSettings>,
    /// Argon2 PHC string of the admin password; `None` = no password.
    pub admin_hash: Option<String>,
    pub license: License,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct License {
    pub accepted: bool,
    pub allow_usage_stats: bool,
}

pub const STATE_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    #[error("cannot read {path}: {reason}")]
    Read { path: String, reason: String },
    #[error("{path} is corrupt ({reason}); it was left as it is")]
    Corrupt { path: String, reason: String },
    #[error("cannot write {path}: {reason}")]
    Write { path: String, reason: String },
    /// The change itself was refused; nothing was written.
    #[error("{0}")]
    Rejected(String),
}

/// A change to the state: applied to a copy; an `Err` rejects it.
pub type Change = Box<dyn FnOnce(&mut State) -> Result<(), String> + Send>;

/// Apply a change and write it; answers the new state.
#[derive(Message)]
#[rtype(result = "Result<State, StoreError>")]
pub struct Update(pub Change);

impl std::fmt::Debug for Update {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Update(..)")
    }
}

/// Owns the state file.
#[derive(Debug)]
pub struct Store {
    path: PathBuf,
    state: State,
}

impl Store {
    pub fn new(path: PathBuf, state: State) -> Self {
        Store { path, state }
    }
}

impl Actor for Store {
    type Context = SyncContext<Self>;
}

impl Handler<Update> for Store {
    type Result = Result<State, StoreError>;

    fn handle(&mut self, Update(change): Update, _: &mut Self::Context) -> Self::Result {
        let mut next = self.state.clone();
        change(&mut next).map_err(StoreError::Rejected)?;
        if next != self.state {
            save_atomic(&self.path, &next)?;
            self.state = next;
        }
        Ok(self.state.clone())
    }
}
