//! The definitions the daemon knows: those shipped in the binary
//! (`definitions/` of the source tree) and those of the directory the
//! settings name; each becomes a registry row, leaked once at start so
//! that a `DeviceType` can hold it like a built-in row.

use std::path::Path;
use std::sync::{OnceLock, RwLock};

use super::format::KindName;
use super::{parse, Definition, DefinitionError};
use crate::codec::RegType;
use crate::drivers::map::{Access, Register, RegisterMap};
use crate::drivers::registry::{Decode, Driver, Kind, Link, Modbus};
use crate::drivers::REGISTRY;

/// The definitions shipped in the binary: file name and text.
pub const BUILTIN: &[(&str, &str)] = &[
    (
        "heidelberg.toml",
        include_str!("../../../../definitions/heidelberg.toml"),
    ),
    (
        "sdm120.toml",
        include_str!("../../../../definitions/sdm120.toml"),
    ),
    (
        "sdm220.toml",
        include_str!("../../../../definitions/sdm220.toml"),
    ),
];

/// The rows in use; `None` until [`install`] ran (the shipped ones then).
static INSTALLED: RwLock<Option<&'static [&'static Driver]>> = RwLock::new(None);

/// The shipped definitions' rows, built once.
static BUILTIN_ROWS: OnceLock<Result<&'static [&'static Driver], DefinitionError>> =
    OnceLock::new();

/// The shipped definitions, checked.
pub fn builtin() -> Result<Vec<Definition>, DefinitionError> {
    BUILTIN
        .iter()
        .map(|(file, text)| parse(file, text))
        .collect()
}

fn builtin_rows() -> Result<&'static [&'static Driver], DefinitionError> {
    BUILTIN_ROWS
        .get_or_init(|| {
            let definitions = builtin()?;
            let rows = rows(definitions, &[])?;
            Ok(&*Vec::leak(rows))
        })
        .clone()
}

/// The definitions' rows in use: those [`install`] put there, else the
/// shipped ones (a shipped definition that does not load is a build
/// defect, caught by the tests and reported by `install`).
pub fn installed() -> &'static [&'static Driver] {
    let installed = *INSTALLED
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    installed.unwrap_or_else(|| builtin_rows().unwrap_or(&[]))
}

/// Every `*.toml` of `dir`, checked, sorted by file name.
pub fn load_dir(dir: &Path) -> Result<Vec<Definition>, DefinitionError> {
    let fail = |message: String| DefinitionError {
        file: dir.display().to_string(),
        field: String::new(),
        message,
    };
    let entries = std::fs::read_dir(dir).map_err(|e| fail(format!("cannot read: {e}")))?;
    let mut files = Vec::new();
    for entry in entries {
        let path = entry.map_err(|e| fail(format!("cannot read: {e}")))?.path();
        if path.extension().is_some_and(|e| e == "toml") {
            files.push(path);
        }
    }
    files.sort();
    files
        .iter()
        .map(|path| {
            let file = path.display().to_string();
            let text = std::fs::read_to_string(path).map_err(|e| DefinitionError {
                file: file.clone(),
                field: String::new(),
                message: format!("cannot read: {e}"),
            })?;
            parse(&file, &text)
        })
        .collect()
}

/// Puts the shipped definitions and those of `dir` (if given) in use.
/// Any definition that does not load, or a type defined twice, is an
/// error and nothing changes. Returns the types added.
pub fn install(dir: Option<&Path>) -> Result<Vec<&'static str>, DefinitionError> {
    let shipped = builtin_rows()?;
    let own = match dir {
        Some(dir) => load_dir(dir)?,
        None => Vec::new(),
    };
    let own = rows(own, shipped)?;
    let all: Vec<&'static Driver> = shipped.iter().copied().chain(own).collect();
    let keys = all.iter().map(|d| d.key).collect();
    *INSTALLED
        .write()
        .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(Vec::leak(all));
    Ok(keys)
}

/// The rows of `definitions`; a key that a built-in driver, one of
/// `taken` or an earlier definition has is an error.
fn rows(
    definitions: Vec<Definition>,
    taken: &[&'static Driver],
) -> Result<Vec<&'static Driver>, DefinitionError> {
    let mut rows: Vec<&'static Driver> = Vec::new();
    for d in definitions {
        let clash = REGISTRY
            .iter()
            .chain(taken)
            .chain(&rows)
            .find(|row| row.key == d.key);
        if let Some(row) = clash {
            return Err(DefinitionError {
                file: d.file.clone(),
                field: "name".into(),
                message: format!("{} is defined already ({})", d.key, row.name),
            });
        }
        rows.push(row_of(d));
    }
    Ok(rows)
}

fn leak(text: &str) -> &'static str {
    String::leak(text.to_string())
}

/// The registry row of a definition (leaked: rows live as long as the
/// daemon, and are built once at start).
fn row_of(d: Definition) -> &'static Driver {
    let registers: Vec<Register> = d
        .registers
        .iter()
        .map(|r| Register {
            name: leak(&r.name),
            addr: r.addr,
            ty: match r.width {
                1 => RegType::U16,
                2 => RegType::I32,
                _ => RegType::I64,
            },
            access: if r.writable {
                Access::ReadWrite
            } else {
                Access::Read
            },
            unit: leak(&r.unit),
        })
        .collect();
    let map: &'static RegisterMap = Box::leak(Box::new(RegisterMap {
        registers: Vec::leak(registers),
    }));
    let reads = Vec::leak(d.reads.clone());
    let kind = match d.kind {
        KindName::Meter => Kind::Meter,
        KindName::Wallbox => Kind::Wallbox,
    };
    let (key, name, maker, device) = (
        leak(&d.key),
        leak(&d.title),
        leak(&d.maker),
        leak(&d.device),
    );
    let definition: &'static Definition = Box::leak(Box::new(d));
    let control = match kind {
        Kind::Wallbox => Some(definition as &'static dyn crate::drivers::registry::WallboxControl),
        Kind::Meter | Kind::Group => None,
    };
    Box::leak(Box::new(Driver {
        key,
        name,
        kind,
        maker,
        device,
        link: Link::Modbus(Modbus {
            map,
            reads,
            decode: Decode::Data(definition),
            identify: None,
            control,
            secret: &[],
        }),
    }))
}
