//! The definitions the daemon knows: those shipped in the binary
//! (`definitions/` of the source tree) and those of the directory the
//! settings name; each becomes a registry row, leaked once at start so
//! that a `DeviceType` can hold it like a built-in row.

use std::path::Path;
use std::sync::{OnceLock, RwLock};

use super::format::KindName;
use super::{parse, Definition, DefinitionError};
use crate::codec::RegType;
use crate::drivers::http_json::{self, is_http_json, JsonMeter};
use crate::drivers::map::{Access, Register, RegisterMap};
use crate::drivers::registry::{Decode, Driver, Kind, Link, Modbus};
use crate::drivers::REGISTRY;

/// The definitions shipped in the binary: file name and text.
pub const BUILTIN: &[(&str, &str)] = &[
    (
        "sdm630.toml",
        include_str!("../../../../definitions/sdm630.toml"),
    ),
    (
        "sdm72dm.toml",
        include_str!("../../../../definitions/sdm72dm.toml"),
    ),
    (
        "orno_we516.toml",
        include_str!("../../../../definitions/orno_we516.toml"),
    ),
    (
        "abb_b23.toml",
        include_str!("../../../../definitions/abb_b23.toml"),
    ),
    (
        "alfen_eve.toml",
        include_str!("../../../../definitions/alfen_eve.toml"),
    ),
    (
        "carlo_gavazzi_em24.toml",
        include_str!("../../../../definitions/carlo_gavazzi_em24.toml"),
    ),
    (
        "janitza_umg604.toml",
        include_str!("../../../../definitions/janitza_umg604.toml"),
    ),
    (
        "kostal_powermeter.toml",
        include_str!("../../../../definitions/kostal_powermeter.toml"),
    ),
    (
        "mennekes_modbus.toml",
        include_str!("../../../../definitions/mennekes_modbus.toml"),
    ),
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
    (
        "shelly_pro_3em.toml",
        include_str!("../../../../definitions/shelly_pro_3em.toml"),
    ),
    (
        "shelly_3em.toml",
        include_str!("../../../../definitions/shelly_3em.toml"),
    ),
    (
        "tasmota_sml.toml",
        include_str!("../../../../definitions/tasmota_sml.toml"),
    ),
];

/// Definitions of both kinds: Modbus devices and HTTP-JSON meters.
#[derive(Debug, Default)]
pub struct Loaded {
    pub modbus: Vec<Definition>,
    pub http_json: Vec<JsonMeter>,
}

impl Loaded {
    /// Checks the definition in `text` (`file` names it in errors) and
    /// adds it.
    fn add(&mut self, file: &str, text: &str) -> Result<(), DefinitionError> {
        if is_http_json(text) {
            self.http_json.push(http_json::parse(file, text)?);
        } else {
            self.modbus.push(parse(file, text)?);
        }
        Ok(())
    }
}

/// The rows in use; `None` until [`install`] ran (the shipped ones then).
static INSTALLED: RwLock<Option<&'static [&'static Driver]>> = RwLock::new(None);

/// The shipped definitions' rows, built once.
static BUILTIN_ROWS: OnceLock<Result<&'static [&'static Driver], DefinitionError>> =
    OnceLock::new();

/// The shipped definitions, checked.
pub fn shipped() -> Result<Loaded, DefinitionError> {
    let mut loaded = Loaded::default();
    for (file, text) in BUILTIN {
        loaded.add(file, text)?;
    }
    Ok(loaded)
}

/// The shipped Modbus definitions, checked.
pub fn builtin() -> Result<Vec<Definition>, DefinitionError> {
    shipped().map(|l| l.modbus)
}

fn builtin_rows() -> Result<&'static [&'static Driver], DefinitionError> {
    BUILTIN_ROWS
        .get_or_init(|| {
            let rows = rows(shipped()?, &[])?;
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

/// Every `*.toml` of `dir`, checked, in the order of their file names.
pub fn load_dir(dir: &Path) -> Result<Loaded, DefinitionError> {
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
    let mut loaded = Loaded::default();
    for path in &files {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| DefinitionError {
            file: file.clone(),
            field: String::new(),
            message: format!("cannot read: {e}"),
        })?;
        loaded.add(&file, &text)?;
    }
    Ok(loaded)
}

/// Puts the shipped definitions and those of `dir` (if given) in use.
/// Any definition that does not load, or a type defined twice, is an
/// error and nothing changes. Returns the types added.
pub fn install(dir: Option<&Path>) -> Result<Vec<&'static str>, DefinitionError> {
    let shipped = builtin_rows()?;
    let own = match dir {
        Some(dir) => load_dir(dir)?,
        None => Loaded::default(),
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
    loaded: Loaded,
    taken: &[&'static Driver],
) -> Result<Vec<&'static Driver>, DefinitionError> {
    let mut rows: Vec<&'static Driver> = Vec::new();
    let clash = |rows: &[&'static Driver], key: &str, file: &str| {
        let row = REGISTRY
            .iter()
            .chain(taken)
            .chain(rows)
            .find(|row| row.key == key);
        match row {
            Some(row) => Err(DefinitionError {
                file: file.to_string(),
                field: "name".into(),
                message: format!("{key} is defined already ({})", row.name),
            }),
            None => Ok(()),
        }
    };
    for d in loaded.modbus {
        clash(&rows, &d.key, &d.file)?;
        rows.push(row_of(d));
    }
    for m in loaded.http_json {
        clash(&rows, &m.key, &m.file)?;
        rows.push(json_row_of(m));
    }
    Ok(rows)
}

/// The registry row of an HTTP-JSON meter (leaked, as `row_of`).
fn json_row_of(m: JsonMeter) -> &'static Driver {
    let (key, name, maker, device) = (
        leak(&m.key),
        leak(&m.title),
        leak(&m.maker),
        leak(&m.device),
    );
    Box::leak(Box::new(Driver {
        key,
        name,
        kind: Kind::Meter,
        maker,
        device,
        link: Link::HttpJson(Box::leak(Box::new(m))),
    }))
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
