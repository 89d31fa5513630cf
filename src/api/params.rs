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
}
