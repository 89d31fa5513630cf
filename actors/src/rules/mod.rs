//! Charging rules and the formula language they use. Pure code.

pub mod charging;
pub mod formula;

#[cfg(test)]
mod tests;
