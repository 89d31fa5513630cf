//! Walking a SunSpec model chain: "SunS" at the base register (40000, else
//! 0, else 50000: the bases SunSpec allows), then each model's header (id,
//! length) until the end marker, then the common model's points. Each step is a read the device actor makes; the walk
//! is computed again from all answers so far, so it holds no state.

use crate::codec::decode_str;
use crate::drivers::{DecodeError, Read};

/// Where the chain starts on nearly every device.
pub const BASE: u16 = 40000;
/// Where it is looked for: at `BASE`, else at the other bases SunSpec
/// allows, in this order.
const BASES: [u16; 3] = [BASE, 0, 50000];
/// "SunS" in two registers.
const MARKER: [u16; 2] = [0x5375, 0x6e53];
/// The id of the end marker.
const END: u16 = 0xffff;
/// The common model: maker, model, version, serial number.
const COMMON: u16 = 1;
/// The common model's points read: Mn, Md, Opt, Vr, SN (registers 2..66
/// of the model, after its header).
const COMMON_LEN: u16 = 66;
/// More models than any device has: a chain this long has no end.
const MAX_MODELS: usize = 64;

/// One model of the chain: its id, where its header is, and its length
/// (registers after the header).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Model {
    pub id: u16,
    pub addr: u16,
    pub len: u16,
}

/// The device's identity from the common model.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Common {
    pub maker: String,
    pub model: String,
    pub version: String,
    pub serial: String,
}

/// The next step of a walk.
#[derive(Debug, PartialEq, Eq)]
pub enum Walk {
    /// Read this; `what` says what it is, for a message if it fails. A
    /// `refusable` read the device may refuse: its refusal is answered as
    /// no words (the walk then looks elsewhere).
    Read {
        read: Read,
        what: String,
        refusable: bool,
    },
    /// The chain's models, and the identity its common model gives.
    Done { models: Vec<Model>, common: Common },
}

fn invalid(message: String) -> DecodeError {
    DecodeError::Invalid(format!("SunSpec: {message}"))
}

/// The next step, from the answers to the steps before (in order).
pub fn walk(answers: &[(Read, Vec<u16>)]) -> Result<Walk, DecodeError> {
    let mut rest = answers.iter();
    let mut tried = Vec::new();
    let base = loop {
        let Some(&base) = BASES.get(tried.len()) else {
            return Err(invalid(format!(
                "no \"SunS\" marker at {}",
                tried.join(", ")
            )));
        };
        let Some((_, marker)) = rest.next() else {
            return Ok(Walk::Read {
                read: Read::holding(base, 2),
                what: format!("the \"SunS\" marker at {base}"),
                refusable: true,
            });
        };
        if marker.as_slice() == MARKER {
            break base;
        }
        tried.push(if marker.is_empty() {
            format!("{base} (refused)")
        } else {
            format!("{base} (found {marker:04x?} {:?})", decode_str(marker))
        });
    };
    let mut models = Vec::new();
    let mut addr = u32::from(base) + 2;
    loop {
        let Ok(at) = u16::try_from(addr) else {
            return Err(invalid(format!(
                "the chain runs past register 65535 without an end marker (after {})",
                ids(&models)
            )));
        };
        let Some((_, header)) = rest.next() else {
            if models.len() >= MAX_MODELS {
                return Err(invalid(format!(
                    "{MAX_MODELS} models and no end marker: {}",
                    ids(&models)
                )));
            }
            let what = match models.last() {
                None => "the first model's header".to_string(),
                Some(m) => format!(
                    "the model header after model {} (a chain without an end marker ends here)",
                    m.id
                ),
            };
            return Ok(Walk::Read {
                read: Read::holding(at, 2),
                what,
                refusable: false,
            });
        };
        let (id, len) = match header.as_slice() {
            [id, len] => (*id, *len),
            _ => return Err(invalid(format!("the header at {at} is not two registers"))),
        };
        if id == END {
            break;
        }
        if id == 0 {
            return Err(invalid(format!(
                "model id 0 at {at} after {}: the chain has no end marker",
                ids(&models)
            )));
        }
        models.push(Model { id, addr: at, len });
        addr += 2 + u32::from(len);
    }
    let common = match models.first() {
        Some(m) if m.id == COMMON && m.len >= COMMON_LEN => *m,
        _ => {
            return Err(invalid(format!(
                "the chain does not start with the common model 1: {}",
                ids(&models)
            )))
        }
    };
    let Some((_, points)) = rest.next() else {
        return Ok(Walk::Read {
            read: Read::holding(common.addr.saturating_add(2), COMMON_LEN),
            what: "the common model".into(),
            refusable: false,
        });
    };
    let text = |from: usize, to: usize| points.get(from..to).map(decode_str).unwrap_or_default();
    let common = Common {
        maker: text(0, 16),
        model: text(16, 32),
        version: text(40, 48),
        serial: text(48, 64),
    };
    Ok(Walk::Done { models, common })
}

/// The ids of `models`, for messages.
fn ids(models: &[Model]) -> String {
    if models.is_empty() {
        return "no model".into();
    }
    let ids: Vec<String> = models.iter().map(|m| m.id.to_string()).collect();
    format!("models {}", ids.join(", "))
}
