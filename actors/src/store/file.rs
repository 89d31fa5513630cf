//! Reading and atomically writing the state file, and appending to the
//! charging log, through a small filesystem seam ([`FileSystem`]): the
//! daemon uses the real one ([`RealFs`]); the crash tests use one that
//! loses what was not made durable when the power is cut.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;

use super::{journal, StoreError};
use crate::config::{State, STATE_VERSION};

/// The file operations the store needs, one call each, so that a test can
/// cut the power between any two of them.
pub trait FileSystem: Send + Sync {
    /// The whole file; `None` if there is none.
    fn read(&self, path: &Path) -> io::Result<Option<Vec<u8>>>;
    /// Creates the file (readable by its owner only) or empties it.
    fn create(&self, path: &Path) -> io::Result<()>;
    /// Appends `data` to an existing file.
    fn append(&self, path: &Path, data: &[u8]) -> io::Result<()>;
    /// Cuts the file to `len` bytes.
    fn truncate(&self, path: &Path, len: u64) -> io::Result<()>;
    /// Makes the file's contents durable (fsync).
    fn sync(&self, path: &Path) -> io::Result<()>;
    /// Replaces `to` with `from` in one step.
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// Makes the directory's entries durable (fsync of the directory):
    /// until then a rename may be lost with the power.
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;
}

/// The operating system's filesystem.
#[derive(Debug, Clone, Copy, Default)]
pub struct RealFs;

impl FileSystem for RealFs {
    fn read(&self, path: &Path) -> io::Result<Option<Vec<u8>>> {
        match fs::read(path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn create(&self, path: &Path) -> io::Result<()> {
        let mut options = OpenOptions::new();
        options.write(true).create(true).truncate(true);
        // The state holds the admin password's hash: readable by its owner only.
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        options.open(path).map(drop)
    }

    fn append(&self, path: &Path, data: &[u8]) -> io::Result<()> {
        OpenOptions::new().append(true).open(path)?.write_all(data)
    }

    fn truncate(&self, path: &Path, len: u64) -> io::Result<()> {
        OpenOptions::new().write(true).open(path)?.set_len(len)
    }

    fn sync(&self, path: &Path) -> io::Result<()> {
        OpenOptions::new().write(true).open(path)?.sync_all()
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        fs::rename(from, to)
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        File::open(dir)?.sync_all()
    }
}

/// The directory a file is in ("." for a bare name).
pub(crate) fn parent_dir(path: &Path) -> &Path {
    path.parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// Reads the state file and the changes its journal holds: `None` if there
/// is none yet. A file that does not parse is an error, and is left
/// untouched for a person to look at.
pub fn load(path: &Path) -> Result<Option<State>, StoreError> {
    load_from(&RealFs, path)
}

/// [`load`] through `fs`.
pub fn load_from(fs: &dyn FileSystem, path: &Path) -> Result<Option<State>, StoreError> {
    let bytes = match fs.read(path) {
        Ok(Some(b)) => b,
        Ok(None) => return Ok(None),
        Err(e) => {
            return Err(StoreError::Read {
                path: path.display().to_string(),
                reason: e.to_string(),
            })
        }
    };
    let mut state: State = serde_json::from_slice(&bytes).map_err(|e| StoreError::Corrupt {
        path: path.display().to_string(),
        reason: e.to_string(),
    })?;
    // The changes since the file was written, from its journal.
    let journal_path = super::journal_path(path);
    let journal = fs.read(&journal_path).map_err(|e| StoreError::Read {
        path: journal_path.display().to_string(),
        reason: e.to_string(),
    })?;
    let records = journal
        .as_deref()
        .and_then(|j| journal::read(j, &journal::hash(&bytes)));
    for record in records.map(|(r, _)| r).unwrap_or_default() {
        journal::apply(&mut state, record).map_err(|reason| StoreError::Corrupt {
            path: journal_path.display().to_string(),
            reason,
        })?;
    }
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
    save_atomic_with(&RealFs, path, state)
}

/// [`save_atomic`] through `fs`.
pub fn save_atomic_with(fs: &dyn FileSystem, path: &Path, state: &State) -> Result<(), StoreError> {
    let text = serde_json::to_vec_pretty(state).map_err(|e| StoreError::Write {
        path: path.display().to_string(),
        reason: e.to_string(),
    })?;
    write_atomic_with(fs, path, &text)
}

/// Writes `text` to `path` so that a crash leaves the old or the new file:
/// write a temporary file, fsync it, rename it over `path`, fsync the directory.
pub fn write_atomic(path: &Path, text: &[u8]) -> Result<(), StoreError> {
    write_atomic_with(&RealFs, path, text)
}

/// [`write_atomic`] through `fs`.
pub fn write_atomic_with(fs: &dyn FileSystem, path: &Path, text: &[u8]) -> Result<(), StoreError> {
    let fail = |e: io::Error| StoreError::Write {
        path: path.display().to_string(),
        reason: e.to_string(),
    };
    let tmp = path.with_extension("json.tmp");
    fs.create(&tmp).map_err(fail)?;
    fs.append(&tmp, text).map_err(fail)?;
    fs.sync(&tmp).map_err(fail)?;
    fs.rename(&tmp, path).map_err(fail)?;
    fs.sync_dir(parent_dir(path)).map_err(fail)?;
    Ok(())
}

/// Appends whole lines to a log file and makes them durable. `header` starts
/// a file that is new or empty. A line a crash left half-written (no
/// newline at its end) is cut off first, so lines never run together.
pub fn append_lines(
    fs: &dyn FileSystem,
    path: &Path,
    header: &str,
    lines: &str,
) -> Result<(), StoreError> {
    let fail = |e: io::Error| StoreError::Write {
        path: path.display().to_string(),
        reason: e.to_string(),
    };
    let mut text = String::new();
    match fs.read(path).map_err(fail)? {
        None => {
            fs.create(path).map_err(fail)?;
            // A new file's directory entry must survive as well as its lines.
            fs.sync_dir(parent_dir(path)).map_err(fail)?;
            text.push_str(header);
        }
        Some(old) => {
            let whole = old.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
            if whole < old.len() {
                fs.truncate(path, whole as u64).map_err(fail)?;
            }
            if whole == 0 {
                text.push_str(header);
            }
        }
    }
    text.push_str(lines);
    fs.append(path, text.as_bytes()).map_err(fail)?;
    fs.sync(path).map_err(fail)
}

/// The whole lines of a log file (a half-written last line is left out);
/// `header` if there is none.
pub fn read_lines(fs: &dyn FileSystem, path: &Path, header: &str) -> Result<String, StoreError> {
    let bytes = fs
        .read(path)
        .map_err(|e| StoreError::Read {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?
        .unwrap_or_default();
    let whole = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    if whole == 0 {
        return Ok(header.to_string());
    }
    Ok(String::from_utf8_lossy(&bytes[..whole]).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(title: &str) -> State {
        State::new(title)
    }

    #[test]
    fn saves_and_loads_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        assert_eq!(load(&path), Ok(None));
        save_atomic(&path, &state("one")).unwrap();
        save_atomic(&path, &state("two")).unwrap();
        assert_eq!(load(&path).unwrap().map(|s| s.title), Some("two".into()));
        assert!(!path.with_extension("json.tmp").exists());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(
                mode & 0o777,
                0o600,
                "only its owner reads the password hash"
            );
        }
        fs::write(&path, "{\"version\": 1, \"title\": ").unwrap();
        assert!(matches!(load(&path), Err(StoreError::Corrupt { .. })));
        assert_eq!(
            fs::read_to_string(&path).unwrap(),
            "{\"version\": 1, \"title\": ",
            "a corrupt file is kept"
        );
        let mut other = state("x");
        other.version = STATE_VERSION + 1;
        fs::write(&path, serde_json::to_vec(&other).unwrap()).unwrap();
        assert!(
            matches!(load(&path), Err(StoreError::Corrupt { reason, .. }) if reason.contains("format version"))
        );
    }

    #[test]
    fn a_state_file_that_cannot_be_read_is_a_read_error() {
        let dir = tempfile::tempdir().unwrap();
        // A directory where the file should be: it exists but cannot be read.
        let path = dir.path().join("state.json");
        fs::create_dir(&path).unwrap();
        assert!(matches!(load(&path), Err(StoreError::Read { .. })));
        assert!(matches!(
            save_atomic(&dir.path().join("missing/state.json"), &state("x")),
            Err(StoreError::Write { .. })
        ));
    }

    #[test]
    fn the_real_filesystem_reports_what_fails() {
        // An fsync that fails must fail the save, not pass for done.
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("none");
        assert_eq!(RealFs.read(&missing).ok(), Some(None));
        assert!(RealFs.sync(&missing).is_err());
        assert!(RealFs.sync_dir(&missing).is_err());
        assert!(RealFs.append(&missing, b"x").is_err());
        assert!(RealFs.truncate(&missing, 0).is_err());
        assert!(RealFs.rename(&missing, &dir.path().join("other")).is_err());
        let file = dir.path().join("f");
        RealFs.create(&file).unwrap();
        RealFs.append(&file, b"abc").unwrap();
        RealFs.truncate(&file, 2).unwrap();
        RealFs.sync(&file).unwrap();
        RealFs.sync_dir(dir.path()).unwrap();
        assert_eq!(RealFs.read(&file).unwrap(), Some(b"ab".to_vec()));
    }

    #[test]
    fn log_lines_are_appended_whole_after_a_header() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.csv");
        assert_eq!(read_lines(&RealFs, &path, "h\n").unwrap(), "h\n");
        append_lines(&RealFs, &path, "h\n", "a\n").unwrap();
        append_lines(&RealFs, &path, "h\n", "b\nc\n").unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "h\na\nb\nc\n");
        // A line cut off by a crash is dropped, on reading and before the next line.
        fs::write(&path, "h\na\nhalf").unwrap();
        assert_eq!(read_lines(&RealFs, &path, "h\n").unwrap(), "h\na\n");
        append_lines(&RealFs, &path, "h\n", "d\n").unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "h\na\nd\n");
        fs::write(&path, "he").unwrap();
        append_lines(&RealFs, &path, "h\n", "e\n").unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "h\ne\n");
    }
}
