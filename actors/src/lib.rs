//! chargebrain's device layer: register codecs and maps (pure), the Modbus
//! transport, device actors, and the simulated plant.

pub mod alloc;
pub mod charging_log;
pub mod codec;
pub mod config;
pub mod devices;
pub mod drivers;
pub mod history;
pub mod keyword;
pub mod metrics;
pub mod ocpp;
pub mod plant;
pub mod rules;
pub mod sim;
pub mod store;
pub mod supervisor;
pub mod transport;
pub mod wiring;

/// How many cases a property test runs: `default`, or `PROPTEST_CASES`
/// when it is set (`scripts/mutants.sh` runs fewer per mutant).
#[cfg(test)]
pub(crate) fn property_cases(default: u32) -> proptest::test_runner::Config {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default);
    proptest::test_runner::Config::with_cases(cases)
}
