//! Reading and atomically writing the state file.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::Path;

use super::{State, StoreError, STATE_VERSION};

/// Reads the state file: `None` if there is none yet. A file that does not
/// parse is an error, and is left untouched for a person to look at.
pub fn load(path: &Path) -> Result<Option<State>, StoreError> {
    let text = match fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(StoreError::Read {
                path: path.display().to_string(),
                reason: e.to_string(),
            })
        }
    };
    let state: State = serde_json::from_str(&text).map_err(|e| StoreError::Corrupt {
        path: path.display().to_string(),
        reason: e.to_string(),
    })?;
    if state.version != STATE_VERSION {
        return Err(StoreError::Corrupt {
            path: path.display().to_string(),
            reason: format!("format version {} is not {STATE_VERSION}", state.version),
        });
    }
    Ok(Some(state))
}

/// Writes `state` to `path` so that a crash leaves the old or the new file.
pub fn save_atomic(path: &Path, state: &State) -> Result<(), StoreError> {
    let text = serde_json::to_vec_pretty(state).map_err(|e| StoreError::Write {
        path: path.display().to_string(),
        reason: e.to_string(),
    })?;
    write_atomic(path, &text)
}

/// Writes `text` to `path` so that a crash leaves the old or the new file:
/// write a temporary file, fsync it, rename it over `path`, fsync the directory.
pub fn write_atomic(path: &Path, text: &[u8]) -> Result<(), StoreError> {
    let fail = |e: std::io::Error| StoreError::Write {
        path: path.display().to_string(),
        reason: e.to_string(),
    };
    let tmp = path.with_extension("json.tmp");
    let mut options = OpenOptions::new();
    options.write(true).create(true).truncate(true);
    // The state holds the admin password's hash: readable by its owner only.
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&tmp).map_err(fail)?;
    file.write_all(text).map_err(fail)?;
    file.sync_all().map_err(fail)?;
    drop(file);
    fs::rename(&tmp, path).map_err(fail)?;
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    File::open(dir).and_then(|d| d.sync_all()).map_err(fail)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::License;
    use crate::supervisor::SiteParams;

    fn state(title: &str) -> State {
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
            soft_meters: std::collections::BTreeMap::new(),
            serialno: String::new(),
            cm_vars: std::collections::BTreeMap::new(),
        }
    }

    #[test]
    fn saves_and_loads_and_leaves_no_temporary_file() {
        let dir = std::env::temp_dir().join(format!("chargebrain-store-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("state.json");
        assert_eq!(load(&path), Ok(None));
        save_atomic(&path, &state("one")).unwrap();
        save_atomic(&path, &state("two")).unwrap();
        assert_eq!(load(&path).unwrap().map(|s| s.title), Some("two".into()));
        assert!(!path.with_extension("json.tmp").exists());
        fs::write(&path, "{\"version\": 1, \"title\": ").unwrap();
        assert!(matches!(load(&path), Err(StoreError::Corrupt { .. })));
        assert_eq!(
            fs::read_to_string(&path).unwrap(),
            "{\"version\": 1, \"title\": ",
            "a corrupt file is kept"
        );
        fs::remove_dir_all(&dir).unwrap();
    }
}
