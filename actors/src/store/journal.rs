//! The journal beside a large state file: a change is appended as what
//! changed (one device's settings, a few hundred bytes), not written as the
//! whole state again; the state file is rewritten with everything (the
//! compaction) once the journal has grown to half its size.
//!
//! `state.journal` is lines of JSON: a header naming the state file it
//! extends (`{"base":"<hash of its bytes>"}`), then one [`Record`] per
//! change, each fsynced before the change is acknowledged. Loading reads
//! the state file, then the records of a journal whose header names it, up
//! to the first line that is not whole (a cut during an append). A journal
//! that names another state file is left over from before a compaction, and
//! is ignored: the compaction wrote what it held into the state file.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::config::{DeviceSettings, State};

/// The journal's name beside the state file.
pub const JOURNAL_FILE: &str = "state.journal";

/// The journal's first line.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Header {
    /// [`hash`] of the state file's bytes this journal extends.
    pub base: String,
}

/// One change, as it is appended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub(super) enum Record {
    /// What changed: the state's other keys whole, devices changed (in
    /// place) or added (at the end) whole, and devices removed.
    Delta {
        #[serde(default, skip_serializing_if = "Map::is_empty")]
        fields: Map<String, Value>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        devices: Vec<Arc<DeviceSettings>>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        removed: Vec<String>,
    },
    /// The whole state, for a change a delta cannot say (devices in
    /// another order, a key gone).
    Whole(Box<State>),
}

/// FNV-1a over `bytes`, as 16 hex digits: which state file a journal
/// extends. Stable across builds and platforms (unlike std's hashers).
pub(super) fn hash(bytes: &[u8]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// The state's keys other than `devices`, as JSON.
fn others(state: &mut State) -> Map<String, Value> {
    let devices = std::mem::take(&mut state.devices);
    let map = match serde_json::to_value(&*state) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    };
    state.devices = devices;
    map
}

/// What turns `before` into `after`. Both are given back as they were.
pub(super) fn record(before: &mut State, after: &mut State) -> Record {
    delta(before, after).unwrap_or_else(|| Record::Whole(Box::new(after.clone())))
}

fn delta(before: &mut State, after: &mut State) -> Option<Record> {
    let (old, new) = (others(before), others(after));
    if old.keys().any(|k| !new.contains_key(k)) {
        return None;
    }
    let fields: Map<String, Value> = new
        .into_iter()
        .filter(|(k, v)| old.get(k) != Some(v))
        .collect();
    let was: HashMap<&str, usize> = before
        .devices
        .iter()
        .enumerate()
        .map(|(i, d)| (d.dev_id.as_str(), i))
        .collect();
    let kept: HashSet<&str> = after.devices.iter().map(|d| d.dev_id.as_str()).collect();
    let removed: Vec<String> = before
        .devices
        .iter()
        .filter(|d| !kept.contains(d.dev_id.as_str()))
        .map(|d| d.dev_id.clone())
        .collect();
    // The devices kept must be in their old order, the new ones after them.
    let mut last_kept = None;
    let mut adding = false;
    let mut devices = Vec::new();
    for d in &after.devices {
        match was.get(d.dev_id.as_str()) {
            Some(&i) => {
                if adding || last_kept.is_some_and(|last| i < last) {
                    return None;
                }
                last_kept = Some(i);
                if before.devices[i] != *d {
                    devices.push(d.clone());
                }
            }
            None => {
                adding = true;
                devices.push(d.clone());
            }
        }
    }
    Some(Record::Delta {
        fields,
        devices,
        removed,
    })
}

/// `state` with `record` applied; an error if the record does not fit the
/// state (a journal written by a broken build).
pub(super) fn apply(state: &mut State, record: Record) -> Result<(), String> {
    let (fields, devices, removed) = match record {
        Record::Whole(whole) => {
            *state = *whole;
            return Ok(());
        }
        Record::Delta {
            fields,
            devices,
            removed,
        } => (fields, devices, removed),
    };
    if !fields.is_empty() {
        let kept = std::mem::take(&mut state.devices);
        let mut map = others(state);
        map.extend(fields);
        *state = serde_json::from_value(Value::Object(map)).map_err(|e| e.to_string())?;
        state.devices = kept;
    }
    if !removed.is_empty() {
        let removed: HashSet<&str> = removed.iter().map(String::as_str).collect();
        state
            .devices
            .retain(|d| !removed.contains(d.dev_id.as_str()));
    }
    if !devices.is_empty() {
        let mut at: HashMap<String, usize> = state
            .devices
            .iter()
            .enumerate()
            .map(|(i, d)| (d.dev_id.clone(), i))
            .collect();
        for d in devices {
            match at.get(&d.dev_id) {
                Some(&i) => state.devices[i] = d,
                None => {
                    at.insert(d.dev_id.clone(), state.devices.len());
                    state.devices.push(d);
                }
            }
        }
    }
    Ok(())
}

/// The records of `journal` that extend the state file of hash `base`, and
/// the length of the journal's whole lines holding them; `None` for a
/// journal that extends another state file (or none at all).
pub(super) fn read(journal: &[u8], base: &str) -> Option<(Vec<Record>, usize)> {
    let mut lines = journal.split_inclusive(|&b| b == b'\n');
    let header = lines.next()?;
    let header: Header = whole_line(header)?;
    if header.base != base {
        return None;
    }
    let mut len = journal.len().min(header_len(journal));
    let mut records = Vec::new();
    for line in lines {
        match whole_line::<Record>(line) {
            Some(r) => {
                records.push(r);
                len += line.len();
            }
            // A line cut by a power cut: it was never acknowledged, and
            // nothing after it was written.
            None => break,
        }
    }
    Some((records, len))
}

fn header_len(journal: &[u8]) -> usize {
    journal
        .iter()
        .position(|&b| b == b'\n')
        .map_or(journal.len(), |i| i + 1)
}

/// A line that ends with its newline and parses.
fn whole_line<T: serde::de::DeserializeOwned>(line: &[u8]) -> Option<T> {
    let text = line.strip_suffix(b"\n")?;
    serde_json::from_slice(text).ok()
}

/// A line of the journal: `value` as JSON and a newline.
pub(super) fn line(value: &impl Serialize) -> Result<Vec<u8>, String> {
    let mut text = serde_json::to_vec(value).map_err(|e| e.to_string())?;
    text.push(b'\n');
    Ok(text)
}
