//! Persistence: one state file, written atomically, and the charging log
//! beside it. The store actor runs on its own thread (a `SyncArbiter`),
//! because fsync blocks.
//!
//! The store decides nothing: the supervisor, the one writer of the
//! configuration, works out the new state (`config::apply`) and sends it
//! here with [`Save`]. It is written to a temporary file, fsynced, renamed
//! over the state file, and the directory fsynced — only then does the
//! caller hear "ok". A crash at any moment leaves either the old or the new
//! state, never a mix; the power-cut tests (`power_cut.rs`) check it at
//! every step of a save.

mod file;
#[cfg(test)]
mod power_cut;

use std::path::PathBuf;

use actix::prelude::*;

pub use file::{load, load_from, save_atomic, save_atomic_with, write_atomic, FileSystem, RealFs};

use crate::charging_log::{Transaction, CSV_HEADER};
use crate::config::State;

/// The file's name inside the storage directory.
pub const STATE_FILE: &str = "state.json";

/// The charging log, next to the state file.
pub const LOG_FILE: &str = "charging_log.csv";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    #[error("cannot read {path}: {reason}")]
    Read { path: String, reason: String },
    #[error("{path} is corrupt ({reason}); it was left as it is")]
    Corrupt { path: String, reason: String },
    #[error("cannot write {path}: {reason}")]
    Write { path: String, reason: String },
}

/// Writes this state; answers once it is durable. A state equal to the one
/// on disk writes nothing.
#[derive(Message)]
#[rtype(result = "Result<(), StoreError>")]
pub struct Save(pub State);

/// The state holds the admin password's hash: a `Save` shows none of it.
impl std::fmt::Debug for Save {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Save(..)")
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

    /// Writes `next`; the state is kept only once it is durable.
    fn save(&mut self, next: State) -> Result<(), StoreError> {
        if next != self.state {
            save_atomic_with(self.fs.as_ref(), &self.path, &next)?;
            self.state = next;
        }
        Ok(())
    }

    fn log_path(&self) -> PathBuf {
        self.path.with_file_name(LOG_FILE)
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

impl Handler<Save> for Store {
    type Result = Result<(), StoreError>;

    fn handle(&mut self, Save(state): Save, _: &mut Self::Context) -> Self::Result {
        self.save(state)
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
