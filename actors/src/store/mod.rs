//! Persistence: the state file, written atomically, its journal, and the
//! charging log beside them. The store actor runs on its own thread (a
//! `SyncArbiter`), because fsync blocks.
//!
//! The store decides nothing: the supervisor, the one writer of the
//! configuration, works out the new state (`config::apply`) and sends it
//! here with [`Save`]. A small state (under [`JOURNAL_FROM`]) is written
//! whole: to a temporary file, fsynced, renamed over the state file, and
//! the directory fsynced. A large one (thousands of devices) gets what
//! changed appended to its journal and fsynced (`journal.rs`), and is
//! written whole in the background once the journal has grown to half its
//! size. Only then does the caller hear "ok". A crash at any moment leaves
//! either the old or the new state, never a mix; the power-cut tests
//! (`power_cut.rs`) check it at every step of a save, of a journal append
//! and of a compaction.

mod file;
mod journal;
#[cfg(test)]
mod power_cut;

use std::path::{Path, PathBuf};

use actix::prelude::*;

pub use file::{load, load_from, save_atomic, save_atomic_with, write_atomic, FileSystem, RealFs};
pub use journal::JOURNAL_FILE;

use crate::charging_log::{Transaction, CSV_HEADER};
use crate::config::State;

/// The file's name inside the storage directory.
pub const STATE_FILE: &str = "state.json";

/// The charging log, next to the state file.
pub const LOG_FILE: &str = "charging_log.csv";
/// §14a dimming events, beside the state file: `time,event,source,limit_w`.
pub const DIMMING_LOG_FILE: &str = "grid_dimming_log.csv";

/// A state file of at least this many bytes gets a journal; a smaller one
/// is written whole at each change (as cheap, and readable on its own).
pub const JOURNAL_FROM: usize = 64 * 1024;

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

/// Owns the state file and its journal.
pub struct Store {
    path: PathBuf,
    state: State,
    fs: Box<dyn FileSystem>,
    /// What is on disk, once looked at; `None` until the first save, and
    /// again after a write that failed half-way.
    disk: Option<OnDisk>,
    /// See [`JOURNAL_FROM`] (the tests journal every state).
    journal_from: usize,
}

/// The state file and the journal as the store last left them.
#[derive(Debug, Clone)]
struct OnDisk {
    /// The state file's hash (`journal::hash`) and length.
    base: String,
    base_len: usize,
    /// Whether there is a journal file, its length, and the length of its
    /// whole lines that extend the state file (0: none that does).
    journal_exists: bool,
    journal_file_len: usize,
    journal_len: usize,
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
        Store {
            path,
            state,
            fs,
            disk: None,
            journal_from: JOURNAL_FROM,
        }
    }

    /// Writes `next`: whole, or appended to the journal of a large state.
    /// The state is kept only once it is durable.
    fn save(&mut self, mut next: State) -> Result<(), StoreError> {
        if next == self.state {
            return Ok(());
        }
        let disk = self.on_disk()?;
        if disk.base_len < self.journal_from {
            self.write_whole(&next, disk)?;
        } else {
            let record = journal::record(&mut self.state, &mut next);
            self.append(&record, disk)?;
        }
        self.state = next;
        Ok(())
    }

    /// Whether the journal has grown to half the state file.
    fn wants_compaction(&self) -> bool {
        self.disk
            .as_ref()
            .is_some_and(|d| d.journal_len > 0 && d.journal_len >= d.base_len / 2)
    }

    /// Writes the state whole and empties the journal: the state file then
    /// holds everything the journal did.
    fn compact(&mut self) -> Result<(), StoreError> {
        let disk = self.on_disk()?;
        if disk.journal_len == 0 {
            return Ok(());
        }
        let state = self.state.clone();
        self.write_whole(&state, disk)
    }

    fn journal_path(&self) -> PathBuf {
        journal_path(&self.path)
    }

    fn write_failed(&self, path: &Path, e: impl ToString) -> StoreError {
        StoreError::Write {
            path: path.display().to_string(),
            reason: e.to_string(),
        }
    }

    /// The state file and the journal as they are on disk (read once).
    fn on_disk(&mut self) -> Result<OnDisk, StoreError> {
        if let Some(disk) = &self.disk {
            return Ok(disk.clone());
        }
        let read = |path: &Path| {
            self.fs.read(path).map_err(|e| StoreError::Read {
                path: path.display().to_string(),
                reason: e.to_string(),
            })
        };
        let base = read(&self.path)?.unwrap_or_default();
        let hash = journal::hash(&base);
        let journal = read(&self.journal_path())?;
        let journal_len = journal
            .as_deref()
            .and_then(|j| journal::read(j, &hash))
            .map_or(0, |(_, len)| len);
        let disk = OnDisk {
            base: hash,
            base_len: base.len(),
            journal_exists: journal.is_some(),
            journal_file_len: journal.as_ref().map_or(0, Vec::len),
            journal_len,
        };
        self.disk = Some(disk.clone());
        Ok(disk)
    }

    /// Writes `state` as the state file, then empties the journal. A
    /// journal that extends this file is emptied after (until then it holds
    /// what the file now does: loaded over it, it gives the same state); one
    /// left over from an older file, before (loaded over a file that
    /// happened to have the same bytes, it would give another state).
    fn write_whole(&mut self, state: &State, disk: OnDisk) -> Result<(), StoreError> {
        self.disk = None;
        let journal = self.journal_path();
        let fs = self.fs.as_ref();
        let empty_journal = |fs: &dyn FileSystem| -> Result<(), StoreError> {
            fs.truncate(&journal, 0)
                .and_then(|()| fs.sync(&journal))
                .map_err(|e| self.write_failed(&journal, e))
        };
        let stale = disk.journal_len == 0 && disk.journal_file_len > 0;
        if stale {
            empty_journal(fs)?;
        }
        let text =
            serde_json::to_vec_pretty(state).map_err(|e| self.write_failed(&self.path, e))?;
        file::write_atomic_with(fs, &self.path, &text)?;
        if disk.journal_len > 0 {
            empty_journal(fs)?;
        }
        self.disk = Some(OnDisk {
            base: journal::hash(&text),
            base_len: text.len(),
            journal_exists: disk.journal_exists,
            journal_file_len: 0,
            journal_len: 0,
        });
        Ok(())
    }

    /// Appends `record` to the journal and makes it durable; a journal
    /// that does not extend the state file yet is started afresh.
    fn append(&mut self, record: &journal::Record, disk: OnDisk) -> Result<(), StoreError> {
        self.disk = None;
        let path = self.journal_path();
        let fs = self.fs.as_ref();
        let fail = |e: std::io::Error| self.write_failed(&path, e);
        let mut text = journal::line(record).map_err(|e| self.write_failed(&path, e))?;
        let start = if disk.journal_len == 0 {
            let header = journal::Header {
                base: disk.base.clone(),
            };
            let mut first = journal::line(&header).map_err(|e| self.write_failed(&path, e))?;
            first.append(&mut text);
            text = first;
            fs.create(&path).map_err(fail)?;
            if !disk.journal_exists {
                // A new file's name must survive as well as its lines.
                fs.sync_dir(file::parent_dir(&path)).map_err(fail)?;
            }
            0
        } else {
            // A line a cut left half-written goes first.
            if disk.journal_file_len > disk.journal_len {
                fs.truncate(&path, disk.journal_len as u64).map_err(fail)?;
            }
            disk.journal_len
        };
        fs.append(&path, &text).map_err(fail)?;
        fs.sync(&path).map_err(fail)?;
        let len = start + text.len();
        self.disk = Some(OnDisk {
            journal_exists: true,
            journal_file_len: len,
            journal_len: len,
            ..disk
        });
        Ok(())
    }

    fn log_path(&self) -> PathBuf {
        self.path.with_file_name(LOG_FILE)
    }

    fn append_log(&mut self, transactions: &[Transaction]) -> Result<(), StoreError> {
        let lines: String = transactions.iter().map(Transaction::csv_line).collect();
        file::append_lines(self.fs.as_ref(), &self.log_path(), CSV_HEADER, &lines)
    }

    fn append_dimming_log(&mut self, lines: &[String]) -> Result<(), StoreError> {
        let path = self.path.with_file_name(DIMMING_LOG_FILE);
        file::append_lines(
            self.fs.as_ref(),
            &path,
            crate::supervisor::DIMMING_CSV_HEADER,
            &lines.concat(),
        )
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

    fn handle(&mut self, Save(state): Save, ctx: &mut Self::Context) -> Self::Result {
        self.save(state)?;
        if self.wants_compaction() {
            // After the answer: the caller waits for the append only.
            ctx.address().do_send(Compact);
        }
        Ok(())
    }
}

/// Writes the state whole and empties the journal (sent by the store to
/// itself once the journal has grown).
#[derive(Debug, Message)]
#[rtype(result = "()")]
struct Compact;

impl Handler<Compact> for Store {
    type Result = ();

    fn handle(&mut self, _: Compact, _: &mut Self::Context) {
        // A compaction that fails leaves the journal as it was, still
        // extending the state file; the next save tries again.
        let _ = self.compact();
    }
}

/// The journal beside the state file `path`.
pub fn journal_path(path: &Path) -> PathBuf {
    path.with_file_name(JOURNAL_FILE)
}

/// Appends closed transactions to the charging log (fsynced).
#[derive(Debug, Message)]
#[rtype(result = "Result<(), StoreError>")]
pub struct AppendLog(pub Vec<Transaction>);

/// Appends §14a dimming events (CSV lines) to the dimming log (fsynced).
#[derive(Debug, Message)]
#[rtype(result = "Result<(), StoreError>")]
pub struct AppendDimmingLog(pub Vec<String>);

impl Handler<AppendDimmingLog> for Store {
    type Result = Result<(), StoreError>;

    fn handle(
        &mut self,
        AppendDimmingLog(lines): AppendDimmingLog,
        _: &mut Self::Context,
    ) -> Self::Result {
        self.append_dimming_log(&lines)
    }
}

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
