//! Charging rules and the formula language they use. Pure code.

pub mod charging;
pub mod formula;
pub mod names;

#[cfg(test)]
mod tests;
