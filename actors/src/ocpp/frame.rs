//! OCPP-J frames (OCPP 1.6 JSON over WebSocket, section 4): a call
//! `[2, id, action, payload]`, its result `[3, id, payload]` or its error
//! `[4, id, code, description, details]`. Pure: parsing and writing text.

use serde_json::{json, Value};

/// The error codes of OCPP 1.6J (section 4.2.3) that chargebrain sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// The action is not known to the receiver.
    NotImplemented,
    /// The action is known but not supported.
    NotSupported,
    /// The payload is not conform the PDU structure, or the frame is not JSON.
    FormationViolation,
    /// The payload is incomplete or the frame breaks the protocol.
    ProtocolError,
    /// Something went wrong on the receiving side.
    InternalError,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::NotImplemented => "NotImplemented",
            ErrorCode::NotSupported => "NotSupported",
            ErrorCode::FormationViolation => "FormationViolation",
            ErrorCode::ProtocolError => "ProtocolError",
            ErrorCode::InternalError => "InternalError",
        }
    }
}

/// One frame as received.
#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    Call {
        id: String,
        action: String,
        payload: Value,
    },
    CallResult {
        id: String,
        payload: Value,
    },
    CallError {
        id: String,
        code: String,
        description: String,
    },
}

/// A frame that cannot be used: answered with a CallError under `id`
/// (`-1` where the frame has no id to answer to).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadFrame {
    pub id: String,
    pub code: ErrorCode,
    pub reason: String,
}

impl BadFrame {
    /// The CallError that answers it.
    pub fn answer(&self) -> String {
        call_error(&self.id, self.code, &self.reason)
    }
}

/// The unique id of a CallError answering a frame without a usable id.
pub const NO_ID: &str = "-1";

/// The longest unique id OCPP allows.
const MAX_ID_LEN: usize = 36;

/// Parses one text frame.
pub fn parse(text: &str) -> Result<Frame, BadFrame> {
    let bad = |id: &str, code, reason: String| BadFrame {
        id: id.to_string(),
        code,
        reason,
    };
    let value: Value = serde_json::from_str(text).map_err(|e| {
        bad(
            NO_ID,
            ErrorCode::FormationViolation,
            format!("not JSON: {e}"),
        )
    })?;
    let Value::Array(items) = value else {
        return Err(bad(
            NO_ID,
            ErrorCode::FormationViolation,
            "a frame is a JSON array".into(),
        ));
    };
    let id = match items.get(1) {
        Some(Value::String(id)) if !id.is_empty() && id.len() <= MAX_ID_LEN => id.clone(),
        _ => {
            return Err(bad(
                NO_ID,
                ErrorCode::FormationViolation,
                format!("the unique id must be a string of 1 to {MAX_ID_LEN} characters"),
            ))
        }
    };
    let type_id = items.first().and_then(Value::as_u64);
    match (type_id, items.len()) {
        (Some(2), 4) => {
            let Some(Value::String(action)) = items.get(2) else {
                return Err(bad(
                    &id,
                    ErrorCode::FormationViolation,
                    "the action must be a string".into(),
                ));
            };
            let payload = items.get(3).cloned().unwrap_or(Value::Null);
            if !payload.is_object() {
                return Err(bad(
                    &id,
                    ErrorCode::FormationViolation,
                    "the payload must be a JSON object".into(),
                ));
            }
            Ok(Frame::Call {
                id,
                action: action.clone(),
                payload,
            })
        }
        (Some(3), 3) => Ok(Frame::CallResult {
            id,
            payload: items.get(2).cloned().unwrap_or(Value::Null),
        }),
        (Some(4), 4 | 5) => Ok(Frame::CallError {
            id,
            code: items.get(2).and_then(Value::as_str).unwrap_or("").into(),
            description: items.get(3).and_then(Value::as_str).unwrap_or("").into(),
        }),
        (Some(2..=4), n) => Err(bad(
            &id,
            ErrorCode::FormationViolation,
            format!("a frame of this type does not have {n} elements"),
        )),
        _ => Err(bad(
            &id,
            ErrorCode::ProtocolError,
            format!(
                "unknown message type id {}",
                items.first().unwrap_or(&Value::Null)
            ),
        )),
    }
}

/// `[2, id, action, payload]`.
pub fn call(id: &str, action: &str, payload: &Value) -> String {
    json!([2, id, action, payload]).to_string()
}

/// `[3, id, payload]`.
pub fn call_result(id: &str, payload: &Value) -> String {
    json!([3, id, payload]).to_string()
}

/// `[4, id, code, description, {}]`.
pub fn call_error(id: &str, code: ErrorCode, description: &str) -> String {
    // The description is free text of at most 255 characters.
    let description: String = description.chars().take(255).collect();
    json!([4, id, code.as_str(), description, {}]).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_results_and_errors_parse() {
        assert_eq!(
            parse(r#"[2,"19223201","Heartbeat",{}]"#),
            Ok(Frame::Call {
                id: "19223201".into(),
                action: "Heartbeat".into(),
                payload: json!({})
            })
        );
        assert_eq!(
            parse(r#"[3,"7",{"status":"Accepted"}]"#),
            Ok(Frame::CallResult {
                id: "7".into(),
                payload: json!({"status": "Accepted"})
            })
        );
        assert_eq!(
            parse(r#"[4,"7","NotSupported","no",{}]"#),
            Ok(Frame::CallError {
                id: "7".into(),
                code: "NotSupported".into(),
                description: "no".into()
            })
        );
    }

    #[test]
    fn bad_frames_are_answered_under_their_id_where_they_have_one() {
        let code = |text: &str| parse(text).map_err(|e| (e.id, e.code));
        assert_eq!(
            code("{not json"),
            Err((NO_ID.into(), ErrorCode::FormationViolation))
        );
        assert_eq!(
            code(r#"{"a":1}"#),
            Err((NO_ID.into(), ErrorCode::FormationViolation))
        );
        assert_eq!(
            code(r#"[2,17,"Heartbeat",{}]"#),
            Err((NO_ID.into(), ErrorCode::FormationViolation))
        );
        assert_eq!(
            code(r#"[7,"a","Heartbeat",{}]"#),
            Err(("a".into(), ErrorCode::ProtocolError))
        );
        assert_eq!(
            code(r#"[2,"a","Heartbeat"]"#),
            Err(("a".into(), ErrorCode::FormationViolation))
        );
        assert_eq!(
            code(r#"[2,"a","Heartbeat",[]]"#),
            Err(("a".into(), ErrorCode::FormationViolation))
        );
        let long = "x".repeat(37);
        assert_eq!(
            code(&format!(r#"[2,"{long}","Heartbeat",{{}}]"#)),
            Err((NO_ID.into(), ErrorCode::FormationViolation))
        );
    }

    #[test]
    fn written_frames_read_back() {
        let text = call("5", "Reset", &json!({"type": "Soft"}));
        assert_eq!(text, r#"[2,"5","Reset",{"type":"Soft"}]"#);
        assert!(matches!(parse(&text), Ok(Frame::Call { .. })));
        let err = call_error("5", ErrorCode::NotImplemented, &"x".repeat(300));
        let Ok(Frame::CallError {
            code, description, ..
        }) = parse(&err)
        else {
            panic!("{err}");
        };
        assert_eq!((code.as_str(), description.len()), ("NotImplemented", 255));
    }
}
