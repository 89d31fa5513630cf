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
pub mod phases;
pub mod plant;
pub mod rules;
pub mod sim;
pub mod store;
pub mod supervisor;
pub mod transport;
pub mod wiring;

/// How many cases a property test runs: `default`, or `PROPTEST_CASES`
/// when it is set (`scripts/mutants.sh` runs fewer per mutant). With
/// `CHARGEBRAIN_PROPTEST_READ_ONLY` set, the regression files are read but
/// a failure is not written to them: in a mutation run, a case that fails
/// on one mutant would otherwise be replayed against every later one, and
/// if it fails on the unmutated code too (a property that has found a
/// real bug), every later mutant would count as caught.
#[cfg(test)]
pub(crate) fn property_cases(default: u32) -> proptest::test_runner::Config {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default);
    let mut config = proptest::test_runner::Config::with_cases(cases);
    if std::env::var_os("CHARGEBRAIN_PROPTEST_READ_ONLY").is_some() {
        config.failure_persistence = Some(Box::new(ReadOnlyRegressions::default()));
    }
    config
}

/// The regression files, read but never written.
#[cfg(test)]
#[derive(Debug, Default, Clone, PartialEq)]
struct ReadOnlyRegressions(proptest::test_runner::FileFailurePersistence);

#[cfg(test)]
impl proptest::test_runner::FailurePersistence for ReadOnlyRegressions {
    fn load_persisted_failures2(
        &self,
        source_file: Option<&'static str>,
    ) -> Vec<proptest::test_runner::PersistedSeed> {
        self.0.load_persisted_failures2(source_file)
    }

    fn save_persisted_failure2(
        &mut self,
        _source_file: Option<&'static str>,
        _seed: proptest::test_runner::PersistedSeed,
        _shrunken_value: &dyn std::fmt::Debug,
    ) {
    }

    fn box_clone(&self) -> Box<dyn proptest::test_runner::FailurePersistence> {
        Box::new(self.clone())
    }

    fn eq(&self, other: &dyn proptest::test_runner::FailurePersistence) -> bool {
        other
            .as_any()
            .downcast_ref::<Self>()
            .is_some_and(|o| o == self)
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}
