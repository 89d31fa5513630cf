//! Settings that are one word from a fixed list (a device type, a log
//! format): read with an error that names the word and lists the known ones
//! (`unknown type "meter_sdm360"; known types: evse_powerbrain, …`), where
//! serde would say `unknown variant` or a library something stranger.

use serde::de::{Deserializer, Error, Visitor};

/// Reads one of `known`, answering its index; `what` names the kind of word
/// in the error ("type", "value").
pub fn one_of<'de, D: Deserializer<'de>>(
    d: D,
    what: &'static str,
    known: &'static [&'static str],
) -> Result<usize, D::Error> {
    struct Word {
        what: &'static str,
        known: &'static [&'static str],
    }
    impl Visitor<'_> for Word {
        type Value = usize;

        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            write!(f, "one of: {}", self.known.join(", "))
        }

        fn visit_str<E: Error>(self, v: &str) -> Result<usize, E> {
            self.known.iter().position(|k| *k == v).ok_or_else(|| {
                E::custom(format!(
                    "unknown {} \"{v}\"; known {}s: {}",
                    self.what,
                    self.what,
                    self.known.join(", ")
                ))
            })
        }
    }
    d.deserialize_str(Word { what, known })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_word_is_named_with_the_known_ones() {
        let read = |json: &str| {
            one_of(
                &mut serde_json::Deserializer::from_str(json),
                "value",
                &["text", "json"],
            )
            .map_err(|e| e.to_string())
        };
        assert_eq!(read("\"json\""), Ok(1));
        let err = read("\"xml\"").expect_err("not known");
        assert!(
            err.starts_with("unknown value \"xml\"; known values: text, json"),
            "{err}"
        );
        assert!(read("5").is_err());
    }
}
