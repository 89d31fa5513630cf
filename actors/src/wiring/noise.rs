//! What the house does to the grid meter between two cycles, as a
//! probability: mostly a small wiggle, now and then an appliance switching
//! on one phase, rarely a three-phase load (a heat pump) on all three at
//! once. The wiggle's size per phase and how often and how large the
//! one-phase steps are are learnt from the cycles in which no wallbox
//! changed; the three-phase part is fixed.

use std::f64::consts::TAU;

/// Before anything is learnt: a wiggle of 1 A, one-phase steps of 6 A on
/// 5 % of the cycles.
const INITIAL_SD_A: f64 = 1.0;
const INITIAL_STEP_RATE: f64 = 0.05;
const INITIAL_STEP_SD_A: f64 = 6.0;
/// Never trusted below this: the meters' resolution and timing.
const MIN_SD_A: f64 = 0.1;
/// Learning rates per quiet cycle (about the last 50 for the wiggle, the
/// last 200 for the steps).
const LEARN_SD: f64 = 0.02;
const LEARN_STEPS: f64 = 0.005;
/// A change beyond this many standard deviations counts as a step.
const STEP_AT_SD: f64 = 4.0;
/// Bounds of what is learnt about steps: they are never assumed rarer than
/// 1 % of the cycles per phase, nor outside 1 to 20 A.
const STEP_RATE_RANGE: (f64, f64) = (0.01, 0.25);
const STEP_SD_RANGE_A: (f64, f64) = (1.0, 20.0);
/// A three-phase load switching: on 2 % of the cycles, 4 A on each phase.
const COMMON_RATE: f64 = 0.02;
const COMMON_SD_A: f64 = 4.0;

/// The house's change per cycle, in A.
#[derive(Debug, Clone)]
pub(crate) struct HouseNoise {
    /// Variance of the wiggle per phase, A².
    var: [f64; 3],
    /// Chance per phase and cycle of a one-phase step.
    step_rate: f64,
    /// Variance of such a step, A².
    step_var: f64,
}

impl Default for HouseNoise {
    fn default() -> Self {
        HouseNoise {
            var: [INITIAL_SD_A * INITIAL_SD_A; 3],
            step_rate: INITIAL_STEP_RATE,
            step_var: INITIAL_STEP_SD_A * INITIAL_STEP_SD_A,
        }
    }
}

fn log_normal(x: f64, var: f64) -> f64 {
    -0.5 * ((TAU * var).ln() + x * x / var)
}

fn log_add(a: f64, b: f64) -> f64 {
    let m = a.max(b);
    if m == f64::NEG_INFINITY {
        return m;
    }
    m + ((a - m).exp() + (b - m).exp()).ln()
}

impl HouseNoise {
    /// Learns from the grid's change in a cycle in which no wallbox changed
    /// (`change`, A per phase).
    pub(crate) fn learn(&mut self, change: [f64; 3]) {
        for (var, x) in self.var.iter_mut().zip(change) {
            if !x.is_finite() {
                continue;
            }
            let sd = var.sqrt();
            let step = x.abs() > STEP_AT_SD * sd;
            self.step_rate += LEARN_STEPS * (f64::from(u8::from(step)) - self.step_rate);
            if step {
                self.step_var += LEARN_STEPS * 4.0 * (x * x - self.step_var);
            }
            // Clipped (Huber) so that the steps do not inflate the wiggle.
            let clipped = (x * x).min(9.0 * *var);
            *var = (*var + LEARN_SD * (clipped - *var)).max(MIN_SD_A * MIN_SD_A);
        }
        self.step_rate = self.step_rate.clamp(STEP_RATE_RANGE.0, STEP_RATE_RANGE.1);
        self.step_var = self.step_var.clamp(
            STEP_SD_RANGE_A.0 * STEP_SD_RANGE_A.0,
            STEP_SD_RANGE_A.1 * STEP_SD_RANGE_A.1,
        );
    }

    /// The wiggle's standard deviation per phase, A.
    pub(crate) fn sd(&self) -> [f64; 3] {
        self.var.map(f64::sqrt)
    }

    /// ln of the probability density of the house changing the grid by
    /// `residual` (A per phase), with `extra` variance per phase from what
    /// else is uncertain this cycle (other wallboxes, meter error).
    pub(crate) fn log_likelihood(&self, residual: [f64; 3], extra: [f64; 3]) -> f64 {
        let v: [f64; 3] = [0, 1, 2].map(|j| self.var[j] + extra[j].max(0.0));
        let (quiet, step) = ((1.0 - self.step_rate).ln(), self.step_rate.ln());
        // Each phase on its own: a wiggle, or a one-phase step.
        let mut independent = 0.0;
        for j in 0..3 {
            independent += log_add(
                quiet + log_normal(residual[j], v[j]),
                step + log_normal(residual[j], v[j] + self.step_var),
            );
        }
        // A three-phase step: the same change c on every phase, c ~ N(0, S²),
        // with the wiggle on top. Covariance diag(v) + S²·11ᵀ, inverted by
        // Sherman–Morrison.
        let s2 = COMMON_SD_A * COMMON_SD_A;
        let a: [f64; 3] = v.map(|x| 1.0 / x);
        let sum_a: f64 = a.iter().sum();
        let sum_ar: f64 = (0..3).map(|j| a[j] * residual[j]).sum();
        let quad: f64 = (0..3)
            .map(|j| a[j] * residual[j] * residual[j])
            .sum::<f64>()
            - s2 * sum_ar * sum_ar / (1.0 + s2 * sum_a);
        let log_det: f64 = v.iter().map(|x| x.ln()).sum::<f64>() + (1.0 + s2 * sum_a).ln();
        let common = -0.5 * (3.0 * TAU.ln() + log_det + quad);
        let ll = log_add(
            (1.0 - COMMON_RATE).ln() + independent,
            COMMON_RATE.ln() + common,
        );
        if ll.is_nan() {
            f64::NEG_INFINITY
        } else {
            ll
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::rng::Rng;

    #[test]
    fn learns_the_wiggle_and_the_steps_of_a_quiet_house() {
        let mut noise = HouseNoise::default();
        let mut rng = Rng::new(3);
        for _ in 0..5000 {
            let mut change = [0.0; 3].map(|_: f64| 0.3 * rng.normal());
            if rng.chance(0.03) {
                change[1] += 8.0 * if rng.chance(0.5) { 1.0 } else { -1.0 };
            }
            noise.learn(change);
        }
        let sd = noise.sd();
        assert!(sd.iter().all(|s| (0.25..0.4).contains(s)), "{sd:?}");
        // Steps on one phase in 3 % of the cycles: 1 % per phase on average.
        assert!(
            (0.01..0.03).contains(&noise.step_rate),
            "{}",
            noise.step_rate
        );
        assert!(
            (5.0..12.0).contains(&noise.step_var.sqrt()),
            "{}",
            noise.step_var
        );
    }

    #[test]
    fn one_step_is_likelier_than_two_and_a_common_step_than_three() {
        let noise = HouseNoise {
            var: [0.09; 3],
            step_rate: 0.02,
            step_var: 36.0,
        };
        let ll = |r| noise.log_likelihood(r, [0.0; 3]);
        assert!(ll([0.0; 3]) > ll([6.0, 0.0, 0.0]));
        assert!(ll([6.0, 0.0, 0.0]) > ll([6.0, -6.0, 0.0]) + 3.0);
        // Three equal changes at once: a three-phase load, not three steps.
        assert!(ll([4.0, 4.0, 4.0]) > ll([4.0, 4.0, -4.0]) + 3.0);
        // Extra uncertainty flattens the difference.
        let flat = |r| noise.log_likelihood(r, [100.0; 3]);
        assert!(flat([0.0; 3]) - flat([6.0, -6.0, 0.0]) < 1.0);
        assert!(ll([f64::NAN, 0.0, 0.0]) == f64::NEG_INFINITY);
    }
}
