//! Crash consistency: the store writes through a simulated filesystem that
//! loses what was not made durable when the power is cut, the approach of
//! crash-consistency checkers such as ALICE. The power is cut before every
//! step of a save and of a log append; every disk a cut can leave behind is
//! then loaded, and must hold the last acknowledged state or the one in
//! flight, never a torn or a lost one.
//!
//! What survives a cut, per the POSIX guarantees a program can rely on:
//! - file contents that were fsynced;
//! - of the changes to a file since its last fsync, any prefix (the file
//!   may have been truncated but not refilled; an append may be torn);
//! - of the directory changes (create, rename) since the last fsync of the
//!   directory, any prefix, independently of the files' contents: a rename
//!   may reach the disk before the data of the renamed file.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use super::file::{parent_dir, FileSystem};
use super::{load_from, Store, StoreError, STATE_FILE};
use crate::charging_log::{Transaction, CSV_HEADER};
use crate::config::State;

#[derive(Debug, Clone, PartialEq)]
enum DataOp {
    Truncate(usize),
    Append(Vec<u8>),
}

#[derive(Debug, Clone, PartialEq)]
enum DirOp {
    Link(PathBuf, usize),
    Rename(PathBuf, PathBuf),
}

#[derive(Debug, Clone, Default)]
struct Inode {
    /// What survives a power cut.
    durable: Vec<u8>,
    /// What reads see.
    cached: Vec<u8>,
    /// Changes since the last fsync, in order.
    pending: Vec<DataOp>,
}

#[derive(Debug, Default)]
struct Disk {
    inodes: Vec<Inode>,
    /// Directory entries as reads see them, and as they survive a cut.
    names: BTreeMap<PathBuf, usize>,
    durable_names: BTreeMap<PathBuf, usize>,
    pending_dir: Vec<DirOp>,
    /// Operations left before the power goes; `None`: it stays on.
    power_left: Option<usize>,
    /// Every operation done, for the failure messages.
    trace: Vec<String>,
}

impl Disk {
    /// Counts one operation; fails once the power is gone.
    fn step(&mut self, what: String) -> io::Result<()> {
        match &mut self.power_left {
            Some(0) => Err(io::Error::other("power cut")),
            Some(n) => {
                *n -= 1;
                self.trace.push(what);
                Ok(())
            }
            None => {
                self.trace.push(what);
                Ok(())
            }
        }
    }

    fn inode(&self, path: &Path) -> io::Result<usize> {
        self.names
            .get(path)
            .copied()
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, path.display().to_string()))
    }

    fn change(&mut self, path: &Path, op: DataOp) -> io::Result<()> {
        let i = self.inode(path)?;
        let inode = &mut self.inodes[i];
        apply(&mut inode.cached, &op);
        inode.pending.push(op);
        Ok(())
    }
}

fn apply(content: &mut Vec<u8>, op: &DataOp) {
    match op {
        DataOp::Truncate(len) => content.truncate(*len),
        DataOp::Append(bytes) => content.extend_from_slice(bytes),
    }
}

fn apply_dir(names: &mut BTreeMap<PathBuf, usize>, op: &DirOp) {
    match op {
        DirOp::Link(name, inode) => {
            names.insert(name.clone(), *inode);
        }
        DirOp::Rename(from, to) => {
            if let Some(inode) = names.remove(from) {
                names.insert(to.clone(), inode);
            }
        }
    }
}

/// A filesystem in memory whose power can be cut.
#[derive(Debug, Clone, Default)]
struct SimFs(Arc<Mutex<Disk>>);

impl SimFs {
    fn disk(&self) -> MutexGuard<'_, Disk> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The power goes after `ops` more operations.
    fn cut_after(&self, ops: usize) {
        self.disk().power_left = Some(ops);
    }

    fn trace(&self) -> Vec<String> {
        self.disk().trace.clone()
    }

    /// Every disk the power cut can leave: a filesystem each, all durable.
    fn after_cut(&self) -> Vec<SimFs> {
        let disk = self.disk();
        // Per inode with changes since its fsync: each content it may hold.
        let mut choices: Vec<(usize, Vec<Vec<u8>>)> = Vec::new();
        for (i, inode) in disk.inodes.iter().enumerate() {
            let mut content = inode.durable.clone();
            let mut possible = vec![content.clone()];
            for op in &inode.pending {
                if let DataOp::Append(bytes) = op {
                    // Torn appends: the first byte, half, all but the last.
                    for cut in [1, bytes.len() / 2, bytes.len().saturating_sub(1)] {
                        if cut > 0 && cut < bytes.len() {
                            let mut torn = content.clone();
                            torn.extend_from_slice(&bytes[..cut]);
                            possible.push(torn);
                        }
                    }
                }
                apply(&mut content, op);
                possible.push(content.clone());
            }
            possible.dedup();
            choices.push((i, possible));
        }
        let mut disks = Vec::new();
        for dir_prefix in 0..=disk.pending_dir.len() {
            let mut names = disk.durable_names.clone();
            for op in &disk.pending_dir[..dir_prefix] {
                apply_dir(&mut names, op);
            }
            // The cartesian product of the inodes' choices.
            let mut picks = vec![0usize; choices.len()];
            loop {
                let inodes = choices
                    .iter()
                    .zip(&picks)
                    .map(|((_, possible), &p)| Inode {
                        durable: possible[p].clone(),
                        cached: possible[p].clone(),
                        pending: Vec::new(),
                    })
                    .collect();
                disks.push(SimFs(Arc::new(Mutex::new(Disk {
                    inodes,
                    names: names.clone(),
                    durable_names: names.clone(),
                    ..Disk::default()
                }))));
                let Some(k) = (0..picks.len()).find(|&k| picks[k] + 1 < choices[k].1.len()) else {
                    break;
                };
                picks[k] += 1;
                for p in &mut picks[..k] {
                    *p = 0;
                }
            }
        }
        disks
    }
}

impl FileSystem for SimFs {
    fn read(&self, path: &Path) -> io::Result<Option<Vec<u8>>> {
        let disk = self.disk();
        Ok(disk.names.get(path).map(|&i| disk.inodes[i].cached.clone()))
    }

    fn create(&self, path: &Path) -> io::Result<()> {
        let mut disk = self.disk();
        disk.step(format!("create {}", path.display()))?;
        if disk.names.contains_key(path) {
            return disk.change(path, DataOp::Truncate(0));
        }
        let inode = disk.inodes.len();
        disk.inodes.push(Inode::default());
        disk.names.insert(path.to_path_buf(), inode);
        disk.pending_dir
            .push(DirOp::Link(path.to_path_buf(), inode));
        Ok(())
    }

    fn append(&self, path: &Path, data: &[u8]) -> io::Result<()> {
        let mut disk = self.disk();
        disk.step(format!("append {} bytes to {}", data.len(), path.display()))?;
        disk.change(path, DataOp::Append(data.to_vec()))
    }

    fn truncate(&self, path: &Path, len: u64) -> io::Result<()> {
        let mut disk = self.disk();
        disk.step(format!("truncate {} to {len}", path.display()))?;
        let len = usize::try_from(len).map_err(io::Error::other)?;
        disk.change(path, DataOp::Truncate(len))
    }

    fn sync(&self, path: &Path) -> io::Result<()> {
        let mut disk = self.disk();
        disk.step(format!("fsync {}", path.display()))?;
        let i = disk.inode(path)?;
        let inode = &mut disk.inodes[i];
        inode.durable = inode.cached.clone();
        inode.pending.clear();
        Ok(())
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut disk = self.disk();
        disk.step(format!("rename {} to {}", from.display(), to.display()))?;
        let inode = disk.inode(from)?;
        disk.names.remove(from);
        disk.names.insert(to.to_path_buf(), inode);
        disk.pending_dir
            .push(DirOp::Rename(from.to_path_buf(), to.to_path_buf()));
        Ok(())
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        let mut disk = self.disk();
        disk.step(format!("fsync {}", dir.display()))?;
        // Only the entries of this directory become durable.
        let (here, elsewhere): (Vec<DirOp>, Vec<DirOp>) = std::mem::take(&mut disk.pending_dir)
            .into_iter()
            .partition(|op| {
                let entry = match op {
                    DirOp::Link(name, _) => name,
                    DirOp::Rename(_, to) => to,
                };
                entry.parent() == Some(dir)
            });
        for op in &here {
            apply_dir(&mut disk.durable_names, op);
        }
        disk.pending_dir = elsewhere;
        Ok(())
    }
}

fn dir() -> PathBuf {
    PathBuf::from("/data")
}

fn state(title: &str) -> State {
    State {
        desc: format!("the state called {title}"),
        ..State::new(title)
    }
}

/// The store after `titles` were saved, acknowledged one after the other.
fn store_with(fs: &SimFs, titles: &[&'static str]) -> Store {
    let mut store = Store::with_fs(dir().join(STATE_FILE), state("seed"), Box::new(fs.clone()));
    super::save_atomic_with(fs, &dir().join(STATE_FILE), &state("seed")).expect("seeded");
    for &title in titles {
        store.save(state(title)).expect("acknowledged");
    }
    store
}

/// Operations one save takes, counted on a healthy disk.
fn ops_of_a_save() -> usize {
    let fs = SimFs::default();
    let mut store = store_with(&fs, &["one"]);
    let before = fs.trace().len();
    store.save(state("two")).expect("saved");
    fs.trace().len() - before
}

#[test]
fn a_save_cut_at_any_step_leaves_the_acknowledged_or_the_new_state() {
    let steps = ops_of_a_save();
    // Cut before each step, and after the last (the save was acknowledged).
    for cut in 0..=steps {
        let fs = SimFs::default();
        let mut store = store_with(&fs, &["one", "two"]);
        let before = fs.trace().len();
        fs.cut_after(cut);
        let answer = store.save(state("three"));
        let done = fs.trace()[before..].to_vec();
        assert_eq!(
            answer.is_ok(),
            cut == steps,
            "cut after {done:?}: {answer:?}"
        );
        let disks = fs.after_cut();
        assert!(!disks.is_empty());
        for disk in disks {
            let loaded = match load_from(&disk, &dir().join(STATE_FILE)) {
                Ok(Some(s)) => s,
                other => panic!(
                    "cut after {done:?}: the disk loads as {other:?}, \
                     not the acknowledged state (two) or the one in flight (three)"
                ),
            };
            let title = loaded.title.as_str();
            assert_eq!(
                loaded.desc,
                format!("the state called {title}"),
                "a mixed state"
            );
            if answer.is_ok() {
                assert_eq!(
                    title, "three",
                    "cut after {done:?}: the acknowledged state was lost"
                );
            } else {
                assert!(
                    title == "two" || title == "three",
                    "cut after {done:?}: loaded {title}, neither the acknowledged nor the new state"
                );
            }
        }
    }
}

#[test]
fn a_first_save_cut_at_any_step_leaves_nothing_or_the_new_state() {
    for cut in 0..=5 {
        let fs = SimFs::default();
        fs.cut_after(cut);
        let answer = super::save_atomic_with(&fs, &dir().join(STATE_FILE), &state("first"));
        for disk in fs.after_cut() {
            match load_from(&disk, &dir().join(STATE_FILE)) {
                Ok(Some(s)) => assert_eq!(s.title, "first"),
                Ok(None) => assert!(answer.is_err(), "cut {cut}: an acknowledged save vanished"),
                Err(e) => panic!("cut {cut}: {e}"),
            }
        }
    }
}

/// A refused change never reaches the store (`config::apply` refuses it
/// before the supervisor saves anything); an unchanged one writes nothing.
#[test]
fn an_unchanged_save_touches_nothing() {
    let fs = SimFs::default();
    let mut store = store_with(&fs, &["one"]);
    let before = fs.trace().len();
    assert_eq!(store.save(state("one")), Ok(()));
    assert_eq!(fs.trace().len(), before, "nothing was written");
    assert_eq!(store.state.title, "one");
}

#[test]
fn a_failed_save_keeps_the_old_state_in_memory_too() {
    let fs = SimFs::default();
    let mut store = store_with(&fs, &["one"]);
    fs.cut_after(1);
    assert!(matches!(
        store.save(state("two")),
        Err(StoreError::Write { .. })
    ));
    assert_eq!(
        store.state.title, "one",
        "what the API reports is what is on disk"
    );
}

fn tx(dev_id: &str, start: u64) -> Transaction {
    Transaction {
        dev_id: dev_id.into(),
        user: "anna".into(),
        rfid: "04AB".into(),
        start,
        end: start + 10,
        energy_start_wh: Some(0),
        energy_wh: 7,
        overrides: Default::default(),
    }
}

#[test]
fn a_log_append_cut_at_any_step_leaves_whole_lines() {
    // The log as the store reads it (`get_ta_log`) after the restart.
    let lines = |fs: &SimFs| {
        let store = Store::with_fs(dir().join(STATE_FILE), state("x"), Box::new(fs.clone()));
        let text = store.read_log().expect("readable");
        text.lines().map(str::to_string).collect::<Vec<_>>()
    };
    for first in [true, false] {
        // The operations of the append under test, on a healthy disk.
        let steps = {
            let fs = SimFs::default();
            let mut store = store_with(&fs, &[]);
            if !first {
                store.append_log(&[tx("E1", 1)]).expect("appended");
            }
            let before = fs.trace().len();
            store
                .append_log(&[tx("E2", 2), tx("E3", 3)])
                .expect("appended");
            fs.trace().len() - before
        };
        for cut in 0..=steps {
            let fs = SimFs::default();
            let mut store = store_with(&fs, &[]);
            let mut acknowledged = vec![CSV_HEADER.trim_end().to_string()];
            if !first {
                store.append_log(&[tx("E1", 1)]).expect("appended");
                acknowledged.push(tx("E1", 1).csv_line().trim_end().to_string());
            }
            fs.cut_after(cut);
            let answer = store.append_log(&[tx("E2", 2), tx("E3", 3)]);
            assert_eq!(answer.is_ok(), cut == steps, "cut {cut}: {answer:?}");
            let mut in_flight = acknowledged.clone();
            in_flight.push(tx("E2", 2).csv_line().trim_end().to_string());
            in_flight.push(tx("E3", 3).csv_line().trim_end().to_string());
            for disk in fs.after_cut() {
                let got = lines(&disk);
                if answer.is_ok() {
                    assert_eq!(got, in_flight, "cut {cut}: acknowledged lines lost");
                } else {
                    // Old lines stay; of the new ones, only whole lines.
                    assert!(
                        got.len() >= acknowledged.len() && in_flight.starts_with(&got),
                        "cut {cut} (first append {first}): {got:?}"
                    );
                }
                // The next append after the restart starts on a line of its own.
                let mut restarted =
                    Store::with_fs(dir().join(STATE_FILE), state("x"), Box::new(disk.clone()));
                restarted
                    .append_log(&[tx("E4", 4)])
                    .expect("appended after the restart");
                let after = lines(&disk);
                assert_eq!(after[0], CSV_HEADER.trim_end(), "one header: {after:?}");
                assert_eq!(after.iter().filter(|l| l.starts_with("dev_id")).count(), 1);
                assert_eq!(
                    after.last().map(String::as_str),
                    Some(tx("E4", 4).csv_line().trim_end())
                );
                assert!(
                    after
                        .iter()
                        .all(|l| l == CSV_HEADER.trim_end() || l.split(',').count() == 6),
                    "{after:?}"
                );
            }
        }
    }
}

#[test]
fn the_simulated_disk_loses_what_was_not_made_durable() {
    // The model itself: without fsyncs, a rewrite may leave an empty file,
    // and a rename without a directory fsync may be undone.
    let fs = SimFs::default();
    let a = dir().join("a");
    fs.create(&a).unwrap();
    fs.append(&a, b"old").unwrap();
    fs.sync(&a).unwrap();
    fs.sync_dir(parent_dir(&a)).unwrap();
    fs.create(&a).unwrap();
    fs.append(&a, b"new").unwrap();
    let contents: Vec<Option<Vec<u8>>> =
        fs.after_cut().iter().map(|d| d.read(&a).unwrap()).collect();
    for expected in [&b"old"[..], b"", b"n", b"new"] {
        assert!(
            contents.contains(&Some(expected.to_vec())),
            "{expected:?} in {contents:?}"
        );
    }
    let b = dir().join("b");
    fs.sync(&a).unwrap();
    fs.rename(&a, &b).unwrap();
    let names: Vec<(bool, bool)> = fs
        .after_cut()
        .iter()
        .map(|d| (d.read(&a).unwrap().is_some(), d.read(&b).unwrap().is_some()))
        .collect();
    assert!(
        names.contains(&(true, false)) && names.contains(&(false, true)),
        "{names:?}"
    );
    fs.sync_dir(parent_dir(&b)).unwrap();
    assert!(fs
        .after_cut()
        .iter()
        .all(|d| d.read(&b).unwrap() == Some(b"new".to_vec())));
}

#[test]
fn the_store_actor_saves_appends_and_reads_through_its_messages() {
    use actix::prelude::*;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join(STATE_FILE);
    let seed = state("seed");
    let stored = seed.clone();
    actix::System::new().block_on(async move {
        let store = SyncArbiter::start(1, move || Store::new(path.clone(), stored.clone()));
        let saved = store
            .send(super::Save(state("one")))
            .await
            .expect("the store answers");
        assert_eq!(saved, Ok(()));
        assert_eq!(
            store.send(super::ReadLog).await.expect("answers"),
            Ok(CSV_HEADER.to_string()),
            "no log yet: the header"
        );
        let appended = store.send(super::AppendLog(vec![tx("E1", 1)])).await;
        assert_eq!(appended.expect("answers"), Ok(()));
        let log = store.send(super::ReadLog).await.expect("answers");
        assert_eq!(log, Ok(format!("{CSV_HEADER}{}", tx("E1", 1).csv_line())));
        assert_eq!(
            store.send(super::ReadState).await.expect("answers").title,
            "one"
        );
    });
    let on_disk = super::load(&dir.path().join(STATE_FILE)).expect("readable");
    assert_eq!(on_disk.map(|s| s.title), Some("one".to_string()));
}

#[test]
fn the_store_prints_no_state() {
    // The state holds the admin password's hash: logs show the path only.
    let mut secret = state("x");
    secret.admin_hash = Some("$argon2id$secret".into());
    let store = Store::with_fs(
        dir().join(STATE_FILE),
        secret.clone(),
        Box::new(SimFs::default()),
    );
    let shown = format!("{store:?}");
    assert!(
        shown.contains("state.json") && !shown.contains("argon2"),
        "{shown}"
    );
    let save = super::Save(secret);
    assert_eq!(format!("{save:?}"), "Save(..)");
}

// The journal of a large state (`journal.rs`): every state is journaled here.

/// A wallbox whose name tells the state it belongs to.
fn wallbox(n: u32, name: &str) -> crate::config::DeviceSettings {
    serde_json::from_value(serde_json::json!({
        "dev_id": format!("E{n}"), "dev_type": "evse_ajax", "name": name,
    }))
    .expect("a valid device")
}

/// A state with ten wallboxes, E2 named `name`, and `title` (its desc says
/// the same, so that a mix of two states shows).
fn journaled(title: &str, name: &str) -> State {
    let mut s = state(title);
    s.devices = (1..=10)
        .map(|n| Arc::new(wallbox(n, if n == 2 { name } else { "box" })))
        .collect();
    s
}

/// A store that journals every change, after `changes` were saved and
/// acknowledged one after the other on top of a seeded state file.
fn journal_store(fs: &SimFs, changes: &[State]) -> Store {
    let seed = journaled("seed", "seed");
    super::save_atomic_with(fs, &dir().join(STATE_FILE), &seed).expect("seeded");
    let mut store = Store::with_fs(dir().join(STATE_FILE), seed, Box::new(fs.clone()));
    store.journal_from = 0;
    for change in changes {
        store.save(change.clone()).expect("acknowledged");
    }
    store
}

fn loaded(disk: &SimFs) -> Result<Option<State>, StoreError> {
    load_from(disk, &dir().join(STATE_FILE))
}

/// Checks every disk a cut can leave: it loads as `acknowledged`, or as
/// `in_flight` when the change was not acknowledged; and a store started on
/// it saves and loads the next change.
fn check_disks(fs: &SimFs, what: &str, ok: bool, acknowledged: &State, in_flight: &State) {
    let disks = fs.after_cut();
    assert!(!disks.is_empty());
    for disk in disks {
        let got = loaded(&disk);
        let got = match got {
            Ok(Some(s)) => s,
            other => panic!("{what}: the disk loads as {other:?}"),
        };
        if ok {
            assert_eq!(&got, in_flight, "{what}: the acknowledged state was lost");
        } else {
            assert!(
                got == *acknowledged || got == *in_flight,
                "{what}: loaded {} / {}, neither the acknowledged nor the new state",
                got.title,
                got.devices[1].name
            );
        }
        // After the restart, the next change is saved and loads.
        let mut restarted = Store::with_fs(dir().join(STATE_FILE), got, Box::new(disk.clone()));
        restarted.journal_from = 0;
        let next = journaled("after", "after");
        restarted
            .save(next.clone())
            .expect("saved after the restart");
        assert_eq!(loaded(&disk), Ok(Some(next)), "{what}: after the restart");
    }
}

#[test]
fn a_journal_append_cut_at_any_step_leaves_the_acknowledged_or_the_new_state() {
    // The first append starts the journal; a later one extends it.
    for earlier in [
        vec![],
        vec![journaled("one", "one"), journaled("two", "two")],
    ] {
        let acknowledged = earlier.last().cloned().unwrap_or(journaled("seed", "seed"));
        // A title and a device change: both kinds of what a record holds.
        let change = journaled("three", "three");
        let steps = {
            let fs = SimFs::default();
            let mut store = journal_store(&fs, &earlier);
            let before = fs.trace().len();
            store.save(change.clone()).expect("saved");
            fs.trace().len() - before
        };
        for cut in 0..=steps {
            let fs = SimFs::default();
            let mut store = journal_store(&fs, &earlier);
            let before = fs.trace().len();
            fs.cut_after(cut);
            let answer = store.save(change.clone());
            let done = fs.trace()[before..].to_vec();
            assert_eq!(answer.is_ok(), cut == steps, "cut after {done:?}");
            assert!(
                !done.iter().any(|op| op.contains("rename")),
                "an append does not rewrite the state file: {done:?}"
            );
            let what = format!("{} earlier, cut after {done:?}", earlier.len());
            check_disks(&fs, &what, answer.is_ok(), &acknowledged, &change);
        }
    }
}

#[test]
fn a_compaction_cut_at_any_step_loses_nothing() {
    let changes = [journaled("one", "one"), journaled("two", "two")];
    let steps = {
        let fs = SimFs::default();
        let mut store = journal_store(&fs, &changes);
        let before = fs.trace().len();
        store.compact().expect("compacted");
        fs.trace().len() - before
    };
    assert!(steps >= 5, "a whole write and the journal emptied");
    for cut in 0..=steps {
        let fs = SimFs::default();
        let mut store = journal_store(&fs, &changes);
        let before = fs.trace().len();
        fs.cut_after(cut);
        let answer = store.compact();
        let done = fs.trace()[before..].to_vec();
        assert_eq!(answer.is_ok(), cut == steps, "cut after {done:?}");
        // Compacting changes nothing a load sees.
        let what = format!("compaction cut after {done:?}");
        check_disks(&fs, &what, true, &changes[1], &changes[1]);
    }
    // Done, the state file holds it all and the journal is empty.
    let fs = SimFs::default();
    let mut store = journal_store(&fs, &changes);
    store.compact().expect("compacted");
    let whole: State = serde_json::from_slice(
        &fs.read(&dir().join(STATE_FILE))
            .expect("read")
            .expect("a state file"),
    )
    .expect("the state file alone");
    assert_eq!(whole, changes[1]);
    assert_eq!(
        fs.read(&super::journal_path(&dir().join(STATE_FILE)))
            .expect("read"),
        Some(Vec::new())
    );
}

#[test]
fn every_kind_of_change_goes_through_the_journal_and_loads_back() {
    let fs = SimFs::default();
    let mut store = journal_store(&fs, &[]);
    let mut s = journaled("seed", "seed");
    let mut steps: Vec<(&str, State)> = Vec::new();
    Arc::make_mut(&mut s.devices[4]).name = "five".into();
    steps.push(("one device changed", s.clone()));
    s.devices.remove(2);
    steps.push(("one removed", s.clone()));
    s.devices.push(Arc::new(wallbox(11, "new")));
    s.devices.push(Arc::new(wallbox(3, "back")));
    steps.push(("two added, one of them again", s.clone()));
    s.params.max_total_current = 40_000.into();
    s.soft_meters.insert("E1".into(), 7);
    steps.push(("parameters and soft meters", s.clone()));
    s.devices.swap(0, 1);
    steps.push(("two swapped (the whole state)", s.clone()));
    s.mqtt = Some(crate::config::MqttSettings::default());
    steps.push(("MQTT set", s.clone()));
    s.mqtt = None;
    steps.push(("MQTT back to settings.toml's (a key gone)", s.clone()));
    for (what, state) in steps {
        let journal_before = fs
            .read(&super::journal_path(&dir().join(STATE_FILE)))
            .expect("read")
            .map_or(0, |j| j.len());
        store.save(state.clone()).expect("saved");
        assert_eq!(loaded(&fs), Ok(Some(state.clone())), "{what}");
        if what == "one device changed" {
            let journal = fs
                .read(&super::journal_path(&dir().join(STATE_FILE)))
                .expect("read")
                .expect("a journal");
            let device = serde_json::to_vec(&state.devices[4]).expect("json");
            assert!(
                journal.len() - journal_before < device.len() + 100,
                "the device and little more: {}",
                String::from_utf8_lossy(&journal)
            );
        }
    }
}
