//! Persistence: one state file, written atomically. The store actor runs on
//! its own thread (a `SyncArbiter`), because fsync blocks.
//!
//! Every change goes through [`Update`]: the change is applied to a copy,
//! written to a temporary file, fsynced, renamed over the state file, and
//! the directory fsynced — only then does the caller hear "ok". A crash at
//! any moment leaves either the old or the new state, never a mix; the
//! power-cut tests (`power_cut.rs`) check it at every step of a save.

mod changes;
mod config;
mod file;
#[cfg(test)]
mod power_cut;

use std::path::PathBuf;

use actix::prelude::*;
use serde::{Deserialize, Serialize};

pub use changes::changes;
pub use config::{
    check_formula_names, delete_device, formula_problems, ignored_keys, no_new_formula_problems,
    set_cm_var, set_params, settings_formula_problems, MAX_CM_VARS,
};
pub use file::{load, load_from, save_atomic, save_atomic_with, write_atomic, FileSystem, RealFs};

use std::collections::BTreeMap;

use crate::devices::DeviceSettings;
use crate::supervisor::session::{Transaction, CSV_HEADER};
use crate::supervisor::SiteParams;

/// The longest `title` or `desc`, in characters.
pub const MAX_TEXT_CHARS: usize = 200;

/// The file's name inside the storage directory.
pub const STATE_FILE: &str = "state.json";

/// The charging log, next to the state file.
pub const LOG_FILE: &str = "charging_log.csv";

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
    #[serde(default)]
    pub users: Vec<crate::users::User>,
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
pub struct Store {
    path: PathBuf,
    state: State,
    fs: Box<dyn FileSystem>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

impl Store {
    pub fn new(path: PathBuf, state: State) -> Self {
        Self::with_fs(path, state, Box::new(RealFs))
    }

    /// A store that writes through `fs` (the crash tests' filesystem).
    pub fn with_fs(path: PathBuf, state: State, fs: Box<dyn FileSystem>) -> Self {
        Store { path, state, fs }
    }

    /// Applies `change` and writes the result; the state is kept only once
    /// it is durable.
    fn update(&mut self, change: Change) -> Result<State, StoreError> {
        let mut next = self.state.clone();
        change(&mut next).map_err(StoreError::Rejected)?;
        if next != self.state {
            save_atomic_with(self.fs.as_ref(), &self.path, &next)?;
            self.state = next;
        }
        Ok(self.state.clone())
    }

    fn append_log(&mut self, transactions: &[Transaction]) -> Result<(), StoreError> {
        let lines: String = transactions.iter().map(Transaction::csv_line).collect();
        file::append_lines(self.fs.as_ref(), &self.log_path(), CSV_HEADER, &lines)
    }

    fn read_log(&self) -> Result<String, StoreError> {
        file::read_lines(self.fs.as_ref(), &self.log_path(), CSV_HEADER)
    }
}

impl Actor for Store {
    type Context = SyncContext<Self>;
}

impl Handler<Update> for Store {
    type Result = Result<State, StoreError>;

    fn handle(&mut self, Update(change): Update, _: &mut Self::Context) -> Self::Result {
        self.update(change)
    }
}

/// Appends closed transactions to the charging log (fsynced).
#[derive(Debug, Message)]
#[rtype(result = "Result<(), StoreError>")]
pub struct AppendLog(pub Vec<Transaction>);

/// The whole charging log as CSV.
#[derive(Debug, Message)]
#[rtype(result = "Result<String, StoreError>")]
pub struct ReadLog;

impl Store {
    fn log_path(&self) -> PathBuf {
        self.path.with_file_name(LOG_FILE)
    }
}

impl Handler<AppendLog> for Store {
    type Result = Result<(), StoreError>;

    fn handle(
        &mut self,
        AppendLog(transactions): AppendLog,
        _: &mut Self::Context,
    ) -> Self::Result {
        self.append_log(&transactions)
    }
}

impl Handler<ReadLog> for Store {
    type Result = Result<String, StoreError>;

    fn handle(&mut self, _: ReadLog, _: &mut Self::Context) -> Self::Result {
        self.read_log()
    }
}

/// The state as last written.
#[derive(Debug, Message)]
#[rtype(result = "State")]
pub struct ReadState;

impl Handler<ReadState> for Store {
    type Result = MessageResult<ReadState>;

    fn handle(&mut self, _: ReadState, _: &mut Self::Context) -> Self::Result {
        MessageResult(self.state.clone())
    }
}
