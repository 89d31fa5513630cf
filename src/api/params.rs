//! The query parameters of one `/cnf` request.

use std::collections::HashMap;

use super::ApiError;

#[derive(Debug)]
pub struct Params(HashMap<String, String>);

impl Params {
    /// Parses a query string; a parameter given twice is an error rather
    /// than a silent pick of one of them.
    pub fn parse(query: &str) -> Result<Self, ApiError> {
        let pairs: Vec<(String, String)> =
            serde_urlencoded::from_str(query).map_err(|e| ApiError::BadQuery(e.to_string()))?;
        let mut map = HashMap::with_capacity(pairs.len());
        for (key, value) in pairs {
            if map.insert(key.clone(), value).is_some() {
                return Err(ApiError::RepeatedParam(key));
            }
        }
        Ok(Params(map))
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    pub fn required(&self, name: &'static str) -> Result<&str, ApiError> {
        self.get(name).ok_or(ApiError::MissingParam(name))
    }

    /// A whole number from `min` to `max`, if given. Clients send numbers
    /// as decimals too (`mamps=16000.0`): a decimal is rounded.
    pub fn int(&self, name: &'static str, min: i64, max: i64) -> Result<Option<i64>, ApiError> {
        let Some(text) = self.get(name) else {
            return Ok(None);
        };
        let out_of_range = || ApiError::BadParam {
            name,
            reason: format!("'{text}' is not a number from {min} to {max}"),
        };
        let n = parse_int(text).ok_or_else(out_of_range)?;
        if !(i128::from(min)..=i128::from(max)).contains(&n) {
            return Err(out_of_range());
        }
        i64::try_from(n).map(Some).map_err(|_| out_of_range())
    }
}

/// An integer, or a decimal rounded to one (`16000.0`, `7.6`). Decimals
/// are taken only where a float still holds every integer (below 2^53).
pub fn parse_int(text: &str) -> Option<i128> {
    let text = text.trim();
    if let Ok(n) = text.parse::<i128>() {
        return Some(n);
    }
    let x = text.parse::<f64>().ok()?.round();
    // 2^53: beyond it a float no longer holds every integer.
    const EXACT: f64 = 9_007_199_254_740_992.0;
    #[allow(clippy::cast_possible_truncation)]
    (x.is_finite() && x.abs() <= EXACT).then_some(x as i128)
}

/// An integer, also written as a decimal with nothing after the point
/// (`7.0`); for raw register values, where rounding `1.5` would write a
/// value the client did not give.
pub fn parse_whole(text: &str) -> Option<i128> {
    let whole = text.trim().parse::<f64>().is_ok_and(|x| x.fract() == 0.0);
    parse_int(text).filter(|_| whole || text.trim().parse::<i128>().is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_are_rounded_and_ranges_checked() {
        let p = Params::parse("mamps=16000.0&val=7.5&n=-3&bad=1e400&word=x&big=1e300").unwrap();
        assert_eq!(p.int("mamps", 0, 1_000_000).unwrap(), Some(16_000));
        assert_eq!(p.int("val", 0, 10).unwrap(), Some(8));
        assert_eq!(p.int("n", -5, 5).unwrap(), Some(-3));
        assert_eq!(p.int("missing", 0, 1).unwrap(), None);
        for name in ["bad", "word", "big"] {
            assert!(p.int(name, 0, i64::MAX).is_err(), "{name}");
        }
        assert!(p.int("mamps", 0, 100).is_err(), "out of range");
        assert_eq!(parse_int("9223372036854775807"), Some(i128::from(i64::MAX)));
        assert_eq!(parse_whole("7.0"), Some(7));
        assert_eq!(parse_whole("-8"), Some(-8));
        assert_eq!(parse_whole("1.5"), None);
    }
}
