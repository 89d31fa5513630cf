//! A household load that changes the way a real one does: appliances
//! switching on and off at random (a kettle on one phase, a heat pump's
//! compressor on all three with its start current), over a base load with
//! a small wiggle. Pure code, seeded: the same seed and the same steps give
//! the same load.

use serde::{Deserialize, Serialize};

use super::rng::Rng;

/// One appliance (`[[simulation.appliances]]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApplianceSettings {
    /// For people reading the settings.
    #[serde(default)]
    pub name: String,
    /// The building phases it draws on, 1 to 3: `[2]` a kettle on L2,
    /// `[1, 2, 3]` a heat pump.
    pub phases: Vec<u8>,
    /// mA per phase while it is on.
    pub current_ma: i64,
    /// Mean time on and off, seconds; each period is drawn at random
    /// (exponentially), so switching times are unpredictable.
    pub on_s: f64,
    pub off_s: f64,
    /// Extra mA per phase during the first second on (a motor's start).
    #[serde(default)]
    pub start_ma: i64,
}

impl ApplianceSettings {
    /// What is wrong with it, if anything.
    pub fn problem(&self) -> Option<String> {
        let name = if self.name.is_empty() {
            "an appliance".to_string()
        } else {
            format!("appliance {:?}", self.name)
        };
        let mut seen = 0u8;
        for p in &self.phases {
            if !(1..=3).contains(p) || seen & (1 << p) != 0 {
                return Some(format!(
                    "{name}: phases {:?} is not a list of distinct phases 1 to 3",
                    self.phases
                ));
            }
            seen |= 1 << p;
        }
        if self.phases.is_empty() {
            return Some(format!("{name}: phases is empty"));
        }
        if !(0..=100_000).contains(&self.current_ma) || !(0..=100_000).contains(&self.start_ma) {
            return Some(format!(
                "{name}: current_ma and start_ma must be 0 to 100000 mA"
            ));
        }
        let period = |s: f64| s.is_finite() && (1.0..=1e7).contains(&s);
        if !period(self.on_s) || !period(self.off_s) {
            return Some(format!("{name}: on_s and off_s must be 1 to 10000000 s"));
        }
        None
    }
}

/// A set of appliances whose steps are at most `level_ma` on a phase: a
/// kettle, a cooker ring cycling on its thermostat, a washing machine's
/// heater, a fridge, and a heat pump compressor with its start current.
/// What the phase estimator's tests and benchmarks run against.
pub fn typical_appliances(level_ma: i64) -> Vec<ApplianceSettings> {
    let level = level_ma.max(0);
    let appliance =
        |name: &str, phases: &[u8], current_ma: i64, on_s: f64, off_s: f64| ApplianceSettings {
            name: name.to_string(),
            phases: phases.to_vec(),
            current_ma,
            on_s,
            off_s,
            start_ma: 0,
        };
    vec![
        appliance("kettle", &[1], level, 120.0, 600.0),
        appliance("cooker ring", &[2], level * 4 / 5, 40.0, 80.0),
        appliance(
            "washing machine heater",
            &[3],
            level * 9 / 10,
            600.0,
            3000.0,
        ),
        appliance("fridge", &[2], (level / 10).max(300), 600.0, 1200.0),
        ApplianceSettings {
            start_ma: level / 2,
            ..appliance("heat pump", &[1, 2, 3], level / 2, 600.0, 900.0)
        },
    ]
}

#[derive(Debug, Clone)]
struct Appliance {
    settings: ApplianceSettings,
    on: bool,
    /// ms left in the present state.
    left_ms: f64,
    /// ms since it last switched on.
    on_for_ms: f64,
}

/// How long the wiggle takes to forget, ms.
const WIGGLE_MS: f64 = 5000.0;
/// How long a start current lasts, ms.
const START_MS: f64 = 1000.0;

/// The household load of a plant.
#[derive(Debug, Clone)]
pub struct HouseLoad {
    base_ma: [i64; 3],
    jitter_ma: i64,
    appliances: Vec<Appliance>,
    wiggle: [f64; 3],
    rng: Rng,
}

impl HouseLoad {
    /// `base_ma` per phase, a random wiggle of `jitter_ma` (its standard
    /// deviation) and the appliances, all off at first, each switching on
    /// after a random part of its off time.
    pub fn new(
        base_ma: [i64; 3],
        jitter_ma: i64,
        appliances: &[ApplianceSettings],
        seed: u64,
    ) -> Self {
        let mut rng = Rng::new(seed);
        let appliances = appliances
            .iter()
            .map(|a| Appliance {
                settings: a.clone(),
                on: false,
                left_ms: rng.exponential(a.off_s * 1000.0),
                on_for_ms: 0.0,
            })
            .collect();
        HouseLoad {
            base_ma,
            jitter_ma: jitter_ma.max(0),
            appliances,
            wiggle: [0.0; 3],
            rng,
        }
    }

    /// Sets the base load per phase.
    pub fn set_base(&mut self, base_ma: [i64; 3]) {
        self.base_ma = base_ma;
    }

    /// Advances by `dt_ms`: appliances whose time is up switch, the wiggle
    /// moves.
    pub fn step(&mut self, dt_ms: u64) {
        #[allow(clippy::cast_precision_loss)]
        let dt = dt_ms as f64;
        for a in &mut self.appliances {
            a.left_ms -= dt;
            a.on_for_ms += dt;
            while a.left_ms <= 0.0 {
                a.on = !a.on;
                let mean_s = if a.on {
                    a.settings.on_s
                } else {
                    a.settings.off_s
                };
                // At least one step in each state, so a switch is seen.
                a.left_ms += self.rng.exponential(mean_s * 1000.0).max(dt.max(1.0));
                if a.on {
                    a.on_for_ms = 0.0;
                }
            }
        }
        if self.jitter_ma > 0 {
            let keep = (-dt / WIGGLE_MS).exp();
            let fresh = (1.0 - keep * keep).sqrt();
            #[allow(clippy::cast_precision_loss)]
            let jitter = self.jitter_ma as f64;
            for w in &mut self.wiggle {
                *w = keep * *w + fresh * jitter * self.rng.normal();
            }
        }
    }

    /// The load now, mA per building phase.
    pub fn current_ma(&self) -> [i64; 3] {
        let mut ma = self.base_ma;
        for a in self.appliances.iter().filter(|a| a.on) {
            let start = if a.on_for_ms < START_MS {
                a.settings.start_ma
            } else {
                0
            };
            for &p in &a.settings.phases {
                if let Some(total) = ma.get_mut(usize::from(p).wrapping_sub(1)) {
                    *total = total.saturating_add(a.settings.current_ma + start);
                }
            }
        }
        #[allow(clippy::cast_possible_truncation)]
        for (total, w) in ma.iter_mut().zip(self.wiggle) {
            *total = total.saturating_add(w.round() as i64);
        }
        ma
    }

    /// The appliances that are on now, by name.
    pub fn running(&self) -> Vec<&str> {
        self.appliances
            .iter()
            .filter(|a| a.on)
            .map(|a| a.settings.name.as_str())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kettle() -> ApplianceSettings {
        ApplianceSettings {
            name: "kettle".into(),
            phases: vec![2],
            current_ma: 9000,
            on_s: 60.0,
            off_s: 300.0,
            start_ma: 0,
        }
    }

    #[test]
    fn appliances_switch_on_their_phases_and_the_seed_decides_when() {
        let run = |seed| {
            let mut house = HouseLoad::new([1000; 3], 0, &[kettle()], seed);
            (0..3600)
                .map(|_| {
                    house.step(1000);
                    house.current_ma()
                })
                .collect::<Vec<_>>()
        };
        let a = run(5);
        assert_eq!(a, run(5), "same seed, same load");
        assert_ne!(a, run(6), "another seed, another load");
        // Only L2 ever changes, by the kettle's current.
        assert!(a.iter().all(|ma| ma[0] == 1000 && ma[2] == 1000));
        assert!(a.iter().all(|ma| ma[1] == 1000 || ma[1] == 10_000));
        let on = a.iter().filter(|ma| ma[1] == 10_000).count();
        // On about 60 of every 360 s: a sixth of the hour, loosely.
        assert!((200..=1500).contains(&on), "{on} s on");
        let switches = a.windows(2).filter(|w| w[0] != w[1]).count();
        assert!(switches >= 6, "{switches} switches");
    }

    #[test]
    fn a_compressor_draws_its_start_current_for_a_second() {
        let pump = ApplianceSettings {
            name: "heat pump".into(),
            phases: vec![1, 2, 3],
            current_ma: 4000,
            on_s: 600.0,
            off_s: 10.0,
            start_ma: 6000,
        };
        let mut house = HouseLoad::new([0; 3], 0, &[pump], 1);
        let mut seen = Vec::new();
        for _ in 0..200 {
            house.step(100);
            seen.push(house.current_ma()[0]);
        }
        let first_on = seen.iter().position(|&ma| ma > 0).expect("switched on");
        assert_eq!(seen[first_on], 10_000);
        assert_eq!(seen[first_on + 12], 4000);
        assert!(seen.iter().all(|&ma| [0, 4000, 10_000].contains(&ma)));
    }

    #[test]
    fn the_wiggle_has_the_size_asked_for() {
        let mut house = HouseLoad::new([10_000; 3], 500, &[], 3);
        let mut sq = 0.0;
        let n = 20_000;
        for _ in 0..n {
            house.step(1000);
            #[allow(clippy::cast_precision_loss)]
            let d = (house.current_ma()[1] - 10_000) as f64;
            sq += d * d;
        }
        let sd = (sq / f64::from(n)).sqrt();
        assert!((400.0..600.0).contains(&sd), "{sd}");
    }

    #[test]
    fn bad_appliances_are_named() {
        assert_eq!(kettle().problem(), None);
        let bad = ApplianceSettings {
            phases: vec![1, 1],
            ..kettle()
        };
        assert!(bad.problem().expect("refused").contains("kettle"));
        for bad in [
            ApplianceSettings {
                phases: vec![4],
                ..kettle()
            },
            ApplianceSettings {
                phases: vec![],
                ..kettle()
            },
            ApplianceSettings {
                current_ma: -1,
                ..kettle()
            },
            ApplianceSettings {
                on_s: 0.0,
                ..kettle()
            },
            ApplianceSettings {
                off_s: f64::NAN,
                ..kettle()
            },
        ] {
            assert!(bad.problem().is_some(), "{bad:?}");
        }
        for a in typical_appliances(6000) {
            assert_eq!(a.problem(), None, "{a:?}");
        }
    }
}
