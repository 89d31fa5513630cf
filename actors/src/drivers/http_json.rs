//! Meters read over HTTP as JSON (`protocol = "http_json"` in a
//! definition file): the daemon asks `http://<address><path>` every cycle
//! and takes each reading from the answer by its JSON path, as cFos's
//! HTTP-JSON meter definitions do. Pure: the device actor
//! (`devices/http_json.rs`) does the request.
//!
//! A path is keys and indices: `total_act_power`, `emeters[1].current`,
//! `StatusSNS.SML.Power_curr`.

use serde::Deserialize;
use serde_json::Value as Json;

use super::definition::{check_identity, in_range, signed_ma, DefinitionError, Problem};
use super::{DecodeError, MeterReading, NOMINAL_V};

/// A checked HTTP-JSON meter definition.
#[derive(Debug, Clone)]
pub struct JsonMeter {
    /// `meter_<name>`.
    pub key: String,
    pub file: String,
    pub title: String,
    pub maker: String,
    pub device: String,
    pub source: String,
    /// What is asked of the device: path and query, from `/`.
    pub path: String,
    pub power: JsonValue,
    pub current: Vec<JsonValue>,
    pub voltage: Vec<JsonValue>,
    pub phase_power: Vec<JsonValue>,
    pub current_unsigned: bool,
    pub import_energy: Option<JsonValue>,
    pub export_energy: Option<JsonValue>,
}

/// Where one reading is in the answer, and its scale to the unit.
#[derive(Debug, Clone, PartialEq)]
pub struct JsonValue {
    /// The definition's field, e.g. `readings.current[2]`.
    pub field: String,
    /// As written, for messages.
    pub path: String,
    steps: Vec<Step>,
    scale: f64,
}

#[derive(Debug, Clone, PartialEq)]
enum Step {
    Key(String),
    Index(usize),
}

// The file as written.

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    name: String,
    #[allow(dead_code)] // Checked by the caller: "http_json".
    protocol: String,
    kind: String,
    title: String,
    maker: String,
    device: String,
    source: String,
    http: Http,
    readings: Readings,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Http {
    path: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Readings {
    power: Option<RawValue>,
    current: Option<Vec<RawValue>>,
    voltage: Option<Vec<RawValue>>,
    phase_power: Option<Vec<RawValue>>,
    #[serde(default)]
    current_unsigned: bool,
    import_energy: Option<RawValue>,
    export_energy: Option<RawValue>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawValue {
    json: String,
    #[serde(default = "one")]
    scale: f64,
    #[serde(default)]
    invert: bool,
}

fn one() -> f64 {
    1.0
}

/// Reads and checks an HTTP-JSON definition; `file` names it in errors.
pub fn parse(file: &str, text: &str) -> Result<JsonMeter, DefinitionError> {
    let fail = |field: &str, message: String| DefinitionError {
        file: file.to_string(),
        field: field.to_string(),
        message,
    };
    let de = toml::Deserializer::parse(text)
        .map_err(|e| fail("", e.message().trim().replace('\n', " ")))?;
    let raw: File = serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." { String::new() } else { path };
        fail(&field, e.inner().message().trim().replace('\n', " "))
    })?;
    check(file, raw).map_err(|(field, message)| fail(&field, message))
}

fn check(file: &str, raw: File) -> Result<JsonMeter, Problem> {
    check_identity(
        &raw.name,
        [&raw.title, &raw.maker, &raw.device, &raw.source],
    )?;
    if raw.kind != "meter" {
        return Err((
            "kind".into(),
            format!("{:?}: an http_json device is a meter", raw.kind),
        ));
    }
    let path = raw.http.path.trim();
    if !path.starts_with('/') || path.chars().any(|c| c.is_whitespace() || c == '#') {
        return Err((
            "http.path".into(),
            format!("{path:?} is not a path from / (without spaces or #)"),
        ));
    }
    let r = raw.readings;
    let power = value("readings.power", r.power.as_ref())?.ok_or_else(|| {
        (
            "readings.power".to_string(),
            "missing: a meter needs its power".to_string(),
        )
    })?;
    let current = phases("readings.current", r.current.as_deref())?;
    let voltage = phases("readings.voltage", r.voltage.as_deref())?;
    let phase_power = phases("readings.phase_power", r.phase_power.as_deref())?;
    if !phase_power.is_empty() && phase_power.len() != current.len() {
        return Err((
            "readings.phase_power".into(),
            "needs one entry per entry of readings.current".into(),
        ));
    }
    Ok(JsonMeter {
        key: format!("meter_{}", raw.name),
        file: file.to_string(),
        title: raw.title,
        maker: raw.maker,
        device: raw.device,
        source: raw.source,
        path: path.to_string(),
        power,
        current,
        voltage,
        phase_power,
        current_unsigned: r.current_unsigned,
        import_energy: value("readings.import_energy", r.import_energy.as_ref())?,
        export_energy: value("readings.export_energy", r.export_energy.as_ref())?,
    })
}

fn phases(field: &str, raw: Option<&[RawValue]>) -> Result<Vec<JsonValue>, Problem> {
    let raw = raw.unwrap_or_default();
    if !matches!(raw.len(), 0 | 1 | 3) {
        return Err((
            field.into(),
            format!("{} entries: one (L1) or three (L1, L2, L3)", raw.len()),
        ));
    }
    raw.iter()
        .enumerate()
        .map(|(i, v)| checked(&format!("{field}[{i}]"), v))
        .collect()
}

fn value(field: &str, raw: Option<&RawValue>) -> Result<Option<JsonValue>, Problem> {
    raw.map(|raw| checked(field, raw)).transpose()
}

fn checked(field: &str, raw: &RawValue) -> Result<JsonValue, Problem> {
    if !raw.scale.is_finite() || raw.scale == 0.0 {
        return Err((
            format!("{field}.scale"),
            format!("{} is not a finite number other than 0", raw.scale),
        ));
    }
    let steps = steps(&raw.json).map_err(|m| (format!("{field}.json"), m))?;
    Ok(JsonValue {
        field: field.to_string(),
        path: raw.json.clone(),
        steps,
        scale: if raw.invert { -raw.scale } else { raw.scale },
    })
}

/// `a.b[2].c` as steps; an empty key or a bad index is an error.
fn steps(path: &str) -> Result<Vec<Step>, String> {
    let bad = |why: &str| format!("{path:?}: {why}");
    let mut steps = Vec::new();
    for part in path.split('.') {
        let (key, mut rest) = match part.find('[') {
            Some(i) => part.split_at(i),
            None => (part, ""),
        };
        if key.is_empty() {
            return Err(bad("an empty key"));
        }
        steps.push(Step::Key(key.to_string()));
        while !rest.is_empty() {
            let Some(end) = rest.find(']') else {
                return Err(bad("a [ without ]"));
            };
            let index = rest
                .get(1..end)
                .and_then(|n| n.parse::<usize>().ok())
                .ok_or_else(|| bad("an index that is not a number"))?;
            steps.push(Step::Index(index));
            rest = rest.get(end + 1..).unwrap_or_default();
            if !rest.is_empty() && !rest.starts_with('[') {
                return Err(bad("text after ]"));
            }
        }
    }
    Ok(steps)
}

impl JsonValue {
    /// The value in its unit, from the answer; a missing path, a value that
    /// is no number or one beyond any device's range is an error naming
    /// the field and the path.
    fn read(&self, answer: &Json) -> Result<f64, DecodeError> {
        let mut at = answer;
        for step in &self.steps {
            let next = match step {
                Step::Key(key) => at.get(key),
                Step::Index(i) => at.get(i),
            };
            at = next.ok_or_else(|| {
                DecodeError::Invalid(format!("{}: no value at {}", self.field, self.path))
            })?;
        }
        let raw = at.as_f64().ok_or_else(|| {
            DecodeError::Invalid(format!(
                "{}: {} is {at}, not a number",
                self.field, self.path
            ))
        })?;
        in_range(&self.field, raw, self.scale)
    }

    /// The value × `factor`, rounded (mA from A, Wh from kWh).
    fn int(&self, answer: &Json, factor: f64) -> Result<i64, DecodeError> {
        // Bounded by `read` to well inside i64.
        #[allow(clippy::cast_possible_truncation)]
        Ok((self.read(answer)? * factor).round() as i64)
    }
}

impl JsonMeter {
    /// The reading from the device's answer (the body as received).
    pub fn decode(&self, body: &[u8]) -> Result<MeterReading, DecodeError> {
        let answer: Json = serde_json::from_slice(body)
            .map_err(|e| DecodeError::Invalid(format!("the answer is not JSON: {e}")))?;
        let power_w = self.power.int(&answer, 1.0)?;
        let energy = |v: &Option<JsonValue>| v.as_ref().map_or(Ok(0), |v| v.int(&answer, 1000.0));
        let mut voltage_v = [NOMINAL_V; 3];
        for (i, v) in self.voltage.iter().enumerate() {
            voltage_v[i] = v.int(&answer, 1.0)?;
        }
        let (current_ma, per_phase) = if self.current.is_empty() {
            // mA per phase = W * 1000 / (3 * 230 V), signed like the power.
            ([power_w.saturating_mul(1000) / (3 * NOMINAL_V); 3], false)
        } else {
            let mut current_ma = [0; 3];
            for (i, v) in self.current.iter().enumerate() {
                let ma = v.int(&answer, 1000.0)?;
                let phase_w = self
                    .phase_power
                    .get(i)
                    .map(|p| p.read(&answer))
                    .transpose()?;
                current_ma[i] = signed_ma(ma, phase_w, self.current_unsigned, power_w);
            }
            (current_ma, true)
        };
        Ok(MeterReading {
            current_ma,
            voltage_v,
            power_w,
            import_wh: energy(&self.import_energy)?,
            export_wh: energy(&self.export_energy)?,
            per_phase,
            storage: None,
        })
    }

    /// The URL to ask, for a device at `address`: a host (`192.168.1.30`,
    /// `shelly.local:8080`) or a base URL (`http://192.168.1.30`).
    pub fn url(&self, address: &str) -> String {
        let base = address.trim().trim_end_matches('/');
        if base.starts_with("http://") || base.starts_with("https://") {
            format!("{base}{}", self.path)
        } else {
            format!("http://{base}{}", self.path)
        }
    }
}

/// Whether a definition's text is an HTTP-JSON one (`protocol =
/// "http_json"`); other files are Modbus definitions.
pub fn is_http_json(text: &str) -> bool {
    text.parse::<toml::Table>()
        .ok()
        .and_then(|t| {
            t.get("protocol")
                .and_then(|p| p.as_str().map(|p| p == "http_json"))
        })
        .unwrap_or(false)
}

#[cfg(test)]
mod tests;
