//! Register codec: how typed values sit in 16-bit Modbus registers.
//!
//! Pure code, no I/O. Words are big-endian and the high word comes first
//! (the Power Brain answers `8000d` = `0xcf05, 0x0000` as `-821755904`).
//! `d` and `q` values are signed two's complement; strings hold two ASCII
//! characters per register, high byte first, with trailing NULs dropped.

use std::fmt;

use serde::Serialize;

/// The raw type of a register (or of a run of registers read as one value).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegType {
    /// One register, unsigned 16-bit. No suffix.
    U16,
    /// Two registers, unsigned 32-bit. The Power Brain lists its product
    /// version (8004) like this, without a suffix (`"8004":16777216`).
    U32,
    /// Two registers, signed 32-bit. Suffix `d`.
    I32,
    /// Four registers, signed 64-bit. Suffix `q`.
    I64,
    /// A string of this many registers (two characters each). Suffix `s`.
    Str(u16),
}

impl RegType {
    /// Number of 16-bit registers the value occupies.
    pub fn width(self) -> u16 {
        match self {
            RegType::U16 => 1,
            RegType::U32 | RegType::I32 => 2,
            RegType::I64 => 4,
            RegType::Str(len) => len,
        }
    }

    /// The suffix that names this type in a `/cnf?cmd=modbus` address.
    pub fn suffix(self) -> &'static str {
        match self {
            RegType::U16 | RegType::U32 => "",
            RegType::I32 => "d",
            RegType::I64 => "q",
            RegType::Str(_) => "s",
        }
    }

    /// Whether an address suffix asks for this type.
    pub fn matches(self, suffix: Suffix) -> bool {
        matches!(
            (self, suffix),
            (RegType::U16 | RegType::U32, Suffix::None)
                | (RegType::I32, Suffix::D)
                | (RegType::I64, Suffix::Q)
                | (RegType::Str(_), Suffix::S)
        )
    }
}

/// The type suffix of an address as written by a client (`8062d`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Suffix {
    None,
    D,
    Q,
    S,
}

impl Suffix {
    /// The fixed-width type the suffix stands for; `None` for strings,
    /// whose length comes from the register map.
    pub fn fixed_type(self) -> Option<RegType> {
        match self {
            Suffix::None => Some(RegType::U16),
            Suffix::D => Some(RegType::I32),
            Suffix::Q => Some(RegType::I64),
            Suffix::S => None,
        }
    }
}

/// A register address with its type suffix, parsed from text like `8062d`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegisterRef {
    pub addr: u16,
    pub suffix: Suffix,
}

impl RegisterRef {
    /// Parses `ADDR[d|q|s]`; the address is decimal, 0..=65535.
    pub fn parse(text: &str) -> Result<Self, CodecError> {
        let text = text.trim();
        let (digits, suffix) = match text.char_indices().last() {
            Some((i, 'd' | 'D')) => (&text[..i], Suffix::D),
            Some((i, 'q' | 'Q')) => (&text[..i], Suffix::Q),
            Some((i, 's' | 'S')) => (&text[..i], Suffix::S),
            _ => (text, Suffix::None),
        };
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(CodecError::BadAddress(text.to_string()));
        }
        let addr = digits
            .parse::<u32>()
            .ok()
            .and_then(|a| u16::try_from(a).ok())
            .ok_or_else(|| CodecError::AddressOutOfRange(text.to_string()))?;
        Ok(RegisterRef { addr, suffix })
    }
}

/// A decoded register value: a number or a string.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum RegValue {
    Int(i64),
    Text(String),
}

impl fmt::Display for RegValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RegValue::Int(v) => write!(f, "{v}"),
            RegValue::Text(s) => write!(f, "{s}"),
        }
    }
}

/// What can be wrong with an address or a value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    #[error("bad register address '{0}': expected a number with an optional suffix d, q or s")]
    BadAddress(String),
    #[error("register address out of range: '{0}' (0 to 65535)")]
    AddressOutOfRange(String),
    #[error("value {value} does not fit {kind} register ({min} to {max})")]
    ValueOutOfRange {
        value: i128,
        kind: &'static str,
        min: i64,
        max: i64,
    },
    #[error("expected {expected} registers, got {got}")]
    WrongLength { expected: usize, got: usize },
}

/// Decodes the words of one value of type `ty`.
pub fn decode(ty: RegType, words: &[u16]) -> Result<RegValue, CodecError> {
    let expected = usize::from(ty.width());
    if words.len() != expected {
        return Err(CodecError::WrongLength {
            expected,
            got: words.len(),
        });
    }
    let wide = || {
        words
            .iter()
            .fold(0u64, |acc, w| (acc << 16) | u64::from(*w))
    };
    Ok(match ty {
        RegType::U16 => RegValue::Int(i64::from(words[0])),
        RegType::U32 => RegValue::Int(wide() as i64),
        // The casts reinterpret the bits as two's complement, which is the encoding.
        RegType::I32 => RegValue::Int(i64::from(wide() as u32 as i32)),
        RegType::I64 => RegValue::Int(wide() as i64),
        RegType::Str(_) => RegValue::Text(decode_str(words)),
    })
}

/// Decodes a string register run: two characters per word, high byte first,
/// trailing NULs dropped. Bytes above 0x7f are taken as Latin-1.
pub fn decode_str(words: &[u16]) -> String {
    let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_be_bytes()).collect();
    let end = bytes.iter().rposition(|b| *b != 0).map_or(0, |i| i + 1);
    bytes[..end].iter().map(|b| char::from(*b)).collect()
}

/// Encodes an integer for a register of type `ty` (strings excluded).
///
/// A 16-bit register takes -32768..=65535 (negative values as two's
/// complement, for signed registers); `U32` takes 0..=u32::MAX, `d` and `q`
/// their signed ranges.
pub fn encode_int(ty: RegType, value: i128) -> Result<Vec<u16>, CodecError> {
    let (kind, min, max): (&'static str, i64, i64) = match ty {
        RegType::U16 => ("a 16-bit", i64::from(i16::MIN), i64::from(u16::MAX)),
        RegType::U32 => ("an unsigned 32-bit", 0, i64::from(u32::MAX)),
        RegType::I32 => ("a 32-bit", i64::from(i32::MIN), i64::from(i32::MAX)),
        RegType::I64 => ("a 64-bit", i64::MIN, i64::MAX),
        RegType::Str(_) => ("a string", 0, 0),
    };
    if matches!(ty, RegType::Str(_)) || value < i128::from(min) || value > i128::from(max) {
        return Err(CodecError::ValueOutOfRange {
            value,
            kind,
            min,
            max,
        });
    }
    // In range, so the cast keeps the value; widths below 64 bits keep its low words.
    let bits = value as i64 as u64;
    let width = ty.width();
    Ok((0..width)
        .rev()
        .map(|i| (bits >> (16 * u32::from(i))) as u16)
        .collect())
}

/// Encodes text into `len` registers, NUL-padded; longer text is cut.
pub fn encode_str(len: u16, text: &str) -> Vec<u16> {
    let mut bytes: Vec<u8> = text.bytes().take(usize::from(len) * 2).collect();
    bytes.resize(usize::from(len) * 2, 0);
    bytes
        .chunks_exact(2)
        .map(|pair| u16::from_be_bytes([pair[0], pair[1]]))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_suffix_names_its_types() {
        // (suffix, the type it reads, the declared types it matches)
        let table = [
            (
                Suffix::None,
                Some(RegType::U16),
                [true, true, false, false, false],
            ),
            (
                Suffix::D,
                Some(RegType::I32),
                [false, false, true, false, false],
            ),
            (
                Suffix::Q,
                Some(RegType::I64),
                [false, false, false, true, false],
            ),
            (Suffix::S, None, [false, false, false, false, true]),
        ];
        let declared = [
            RegType::U16,
            RegType::U32,
            RegType::I32,
            RegType::I64,
            RegType::Str(8),
        ];
        for (suffix, fixed, matches) in table {
            assert_eq!(suffix.fixed_type(), fixed, "{suffix:?}");
            for (ty, expected) in declared.iter().zip(matches) {
                assert_eq!(ty.matches(suffix), expected, "{ty:?} with {suffix:?}");
            }
            if let Some(ty) = fixed {
                assert!(ty.matches(suffix), "{ty:?} is what {suffix:?} reads");
            }
        }
    }

    #[test]
    fn values_print_as_the_api_shows_them() {
        assert_eq!(RegValue::Int(-821_755_904).to_string(), "-821755904");
        assert_eq!(
            RegValue::Text("cFos Power Brain".into()).to_string(),
            "cFos Power Brain"
        );
    }

    #[test]
    fn decodes_the_spec_examples() {
        assert_eq!(
            decode(RegType::I32, &[0xcf05, 0]),
            Ok(RegValue::Int(-821_755_904))
        );
        assert_eq!(
            decode(RegType::I32, &[0xffff, 0xffff]),
            Ok(RegValue::Int(-1))
        );
        assert_eq!(
            decode(RegType::U32, &[0x0100, 0]),
            Ok(RegValue::Int(16_777_216))
        );
        assert_eq!(decode(RegType::U16, &[26211]), Ok(RegValue::Int(26211)));
        assert_eq!(decode(RegType::I32, &[0, 1000]), Ok(RegValue::Int(1000)));
        let name = encode_str(16, "cFos Power Brain");
        assert_eq!(
            decode(RegType::Str(16), &name),
            Ok(RegValue::Text("cFos Power Brain".into()))
        );
        // The serial number read as 16-bit words, as in `read=8002&count=10`.
        assert_eq!(
            &encode_str(8, "fcf5-c46d-310c")[..4],
            &[26211, 26165, 11619, 13366]
        );
    }

    #[test]
    fn round_trips_every_width_at_its_bounds() {
        let cases: [(RegType, &[i128]); 4] = [
            (RegType::U16, &[0, 1, 0x7fff, 0xffff]),
            (RegType::U32, &[0, 1, i128::from(u32::MAX)]),
            (
                RegType::I32,
                &[i128::from(i32::MIN), -1, 0, 1, i128::from(i32::MAX)],
            ),
            (
                RegType::I64,
                &[i128::from(i64::MIN), -1, 0, i128::from(i64::MAX)],
            ),
        ];
        for (ty, values) in cases {
            for &v in values {
                let words = encode_int(ty, v).unwrap();
                assert_eq!(words.len(), usize::from(ty.width()));
                assert_eq!(
                    decode(ty, &words),
                    Ok(RegValue::Int(v as i64)),
                    "{ty:?} {v}"
                );
            }
        }
    }

    #[test]
    fn negative_16_bit_values_are_twos_complement() {
        assert_eq!(encode_int(RegType::U16, -1), Ok(vec![0xffff]));
        assert_eq!(encode_int(RegType::U16, -32768), Ok(vec![0x8000]));
    }

    #[test]
    fn rejects_values_that_do_not_fit() {
        for (ty, v) in [
            (RegType::U16, 65536),
            (RegType::U16, -32769),
            (RegType::U32, -1),
            (RegType::I32, i128::from(i32::MAX) + 1),
            (RegType::I32, i128::from(i32::MIN) - 1),
            (RegType::I64, i128::from(i64::MAX) + 1),
            (RegType::Str(4), 0),
        ] {
            assert!(
                matches!(encode_int(ty, v), Err(CodecError::ValueOutOfRange { .. })),
                "{ty:?} {v}"
            );
        }
    }

    #[test]
    fn strings_drop_trailing_nuls_and_keep_odd_lengths() {
        let words = encode_str(4, "abc");
        assert_eq!(words, vec![0x6162, 0x6300, 0, 0]);
        assert_eq!(decode_str(&words), "abc");
        assert_eq!(decode_str(&[0, 0]), "");
        // Text longer than the register run is cut, never overflows.
        assert_eq!(decode_str(&encode_str(1, "abc")), "ab");
        // An inner NUL stays: only trailing ones are padding.
        assert_eq!(decode_str(&[0x6100, 0x6200]), "a\0b");
    }

    #[test]
    fn decode_checks_the_length() {
        assert_eq!(
            decode(RegType::I64, &[1, 2]),
            Err(CodecError::WrongLength {
                expected: 4,
                got: 2
            })
        );
    }

    #[test]
    fn parses_addresses_with_suffixes() {
        let ok = |t: &str, addr, suffix| {
            assert_eq!(RegisterRef::parse(t), Ok(RegisterRef { addr, suffix }))
        };
        ok("8002", 8002, Suffix::None);
        ok("8062d", 8062, Suffix::D);
        ok("8050q", 8050, Suffix::Q);
        ok("8016s", 8016, Suffix::S);
        ok("0", 0, Suffix::None);
        ok("65535", 65535, Suffix::None);
        for bad in [
            "", "d", "-1", "80x2", "8002x", "8002dd", "0x1f40", "1.5", "8 002",
        ] {
            assert!(
                matches!(RegisterRef::parse(bad), Err(CodecError::BadAddress(_))),
                "{bad}"
            );
        }
        for big in ["65536", "99999999999999999999"] {
            assert!(
                matches!(
                    RegisterRef::parse(big),
                    Err(CodecError::AddressOutOfRange(_))
                ),
                "{big}"
            );
        }
    }
}
