//! §14a EnWG grid-operator dimming: while the grid operator dims the site,
//! the controllable wallboxes together get at most what the ruling
//! BK6-22-300 of the Bundesnetzagentur lets it dim them to, and never less
//! while cars want it. Pure code.
//!
//! The reading implemented (see the README): one controllable device keeps
//! at least 4.2 kW; several behind one energy manager keep together
//! 4.2 kW + (n − 1) × GZF × 4.2 kW, with the ruling's simultaneity factor
//! GZF for their number n (2: 0.8, 3: 0.75, 4: 0.7, 5: 0.65, 6: 0.6,
//! 7: 0.55, 8: 0.5, 9 or more: 0.45) — Anlage 1, section 4.5.2, as the
//! public implementations citing it read it: 7.56 kW for two, 10.5 kW for
//! three.

/// The least power a controllable device keeps while dimmed, W.
pub const MIN_PER_DEVICE_W: i64 = 4200;

/// The simultaneity factor for `n` devices behind one energy manager, in
/// hundredths (1.0 for one: it is not applied to the first device).
pub fn simultaneity_pct(n: usize) -> i64 {
    match n {
        0 | 1 => 100,
        2 => 80,
        3 => 75,
        4 => 70,
        5 => 65,
        6 => 60,
        7 => 55,
        8 => 50,
        _ => 45,
    }
}

/// What `n` controllable devices keep together while dimmed, W: the first
/// device's 4.2 kW in full, each further one's times the simultaneity
/// factor for `n`. 0 without devices.
pub fn regulated_minimum_w(n: usize) -> i64 {
    if n == 0 {
        return 0;
    }
    let further = i64::try_from(n - 1).unwrap_or(i64::MAX / MIN_PER_DEVICE_W);
    MIN_PER_DEVICE_W.saturating_add(
        further
            .saturating_mul(MIN_PER_DEVICE_W)
            .saturating_mul(simultaneity_pct(n))
            / 100,
    )
}

/// One car that wants current, as the allocator would serve it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Want {
    /// The phases it charges on (1 to 3).
    pub phases: i64,
    /// Its least and most current per phase, mA.
    pub min_ma: i64,
    pub max_ma: i64,
}

/// Current steps, mA (as the allocator's).
const STEP_MA: i64 = 100;

/// The most each car may get while dimmed, mA per phase (0: paused),
/// within `budget_w` together at `volts`. `wants` are in the allocator's
/// order (priority, then turn): cars are let in in that order while their
/// minimums fit together, then what is left is shared evenly above the
/// minimums (max-min fair), each up to its own maximum.
pub fn caps(budget_w: i64, volts: i64, wants: &[Want]) -> Vec<i64> {
    let volts = volts.max(1);
    // mA × V is mW: exact, no rounding to add up.
    let mw = |w: &Want, ma: i64| {
        ma.saturating_mul(w.phases.clamp(1, 3))
            .saturating_mul(volts)
    };
    let mut left = budget_w.max(0).saturating_mul(1000);
    let mut got: Vec<Option<i64>> = vec![None; wants.len()];
    for (i, w) in wants.iter().enumerate() {
        let min_mw = mw(w, w.min_ma);
        if w.min_ma > 0 && w.max_ma >= w.min_ma && min_mw <= left {
            left -= min_mw;
            got[i] = Some(w.min_ma);
        }
    }
    // Water-filling above the minimums: the cars with the least room first.
    let mut rising: Vec<usize> = (0..wants.len()).filter(|&i| got[i].is_some()).collect();
    let room_mw = |i: usize| mw(&wants[i], wants[i].max_ma - wants[i].min_ma);
    rising.sort_by_key(|&i| room_mw(i));
    let mut count = i64::try_from(rising.len()).unwrap_or(i64::MAX);
    for &i in &rising {
        let w = &wants[i];
        let share_mw = (left / count.max(1)).min(room_mw(i));
        let per_ma = w.phases.clamp(1, 3).saturating_mul(volts);
        let extra_ma = (share_mw / per_ma.max(1)) / STEP_MA * STEP_MA;
        left -= mw(w, extra_ma);
        got[i] = got[i].map(|ma| ma + extra_ma);
        count -= 1;
    }
    got.into_iter().map(|g| g.unwrap_or(0)).collect()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn the_regulated_minimum_follows_the_simultaneity_factors() {
        assert_eq!(regulated_minimum_w(0), 0);
        assert_eq!(regulated_minimum_w(1), 4200);
        // 4.2 kW + 1 × 0.8 × 4.2 kW, and + 2 × 0.75 × 4.2 kW: the examples
        // given with the formula.
        assert_eq!(regulated_minimum_w(2), 7560);
        assert_eq!(regulated_minimum_w(3), 10_500);
        assert_eq!(regulated_minimum_w(4), 4200 + 3 * 2940);
        assert_eq!(regulated_minimum_w(8), 4200 + 7 * 2100);
        // From nine on, 0.45 for each further device.
        assert_eq!(regulated_minimum_w(9), 4200 + 8 * 1890);
        assert_eq!(regulated_minimum_w(20), 4200 + 19 * 1890);
        // More devices never lower the minimum, not even past what the
        // arithmetic can hold (it saturates).
        for n in 1..40 {
            assert!(regulated_minimum_w(n + 1) > regulated_minimum_w(n), "{n}");
        }
        assert!(regulated_minimum_w(usize::MAX) >= regulated_minimum_w(1 << 40));
    }

    #[test]
    fn one_three_phase_car_keeps_4_2_kw_and_a_one_phase_car_too() {
        let three = Want {
            phases: 3,
            min_ma: 6000,
            max_ma: 16_000,
        };
        let one = Want {
            phases: 1,
            min_ma: 6000,
            max_ma: 32_000,
        };
        // 4200 W at 230 V on three phases: 6.0 A each (6.08 rounded down).
        assert_eq!(caps(4200, 230, &[three]), vec![6000]);
        // On one phase: 18.2 A, 4186 W.
        assert_eq!(caps(4200, 230, &[one]), vec![18_200]);
    }

    #[test]
    fn two_cars_that_do_not_both_fit_take_turns_by_order() {
        let car = Want {
            phases: 3,
            min_ma: 6000,
            max_ma: 16_000,
        };
        // 7560 W: one 3-phase minimum (4140 W) fits, two (8280 W) do not;
        // the one let in gets the rest, 10.9 A (7521 W).
        let got = caps(regulated_minimum_w(2), 230, &[car, car]);
        assert_eq!(got, vec![10_900, 0]);
    }

    proptest! {
        #![proptest_config(crate::property_cases(3000))]

        /// The set never gets more than the budget; each car gets 0 or
        /// between its minimum and maximum; and while cars want it, the set
        /// gets the budget, or all the admitted cars' maximums, less the
        /// rounding to 100 mA.
        #[test]
        fn dimming_keeps_the_set_between_the_regulated_minimum_and_the_total(
            n_devices in 1usize..12,
            volts in 200i64..250,
            wants in prop::collection::vec((1i64..=3, 6000i64..10_000, 0i64..26_000), 0..12),
        ) {
            let wants: Vec<Want> = wants
                .into_iter()
                .map(|(phases, min_ma, more)| Want { phases, min_ma, max_ma: min_ma + more })
                .collect();
            let budget = regulated_minimum_w(n_devices);
            let got = caps(budget, volts, &wants);
            let mw = |w: &Want, ma: i64| ma * w.phases * volts;
            let total: i64 = wants.iter().zip(&got).map(|(w, g)| mw(w, *g)).sum();
            prop_assert!(total <= budget * 1000, "{} mW over {} W", total, budget);
            for (w, g) in wants.iter().zip(&got) {
                prop_assert!(*g == 0 || (w.min_ma..=w.max_ma).contains(g), "{:?} got {}", w, g);
            }
            let admitted: Vec<(&Want, &i64)> = wants.iter().zip(&got).filter(|(_, g)| **g > 0).collect();
            let all_max: i64 = admitted.iter().map(|(w, _)| mw(w, w.max_ma)).sum();
            let rounding: i64 = admitted.iter().map(|(w, _)| mw(w, STEP_MA)).sum();
            prop_assert!(
                total >= (budget * 1000).min(all_max) - rounding,
                "{} mW given of {} W (maximums {} mW)", total, budget, all_max
            );
            // A car that fits alone is never left out while the set is empty.
            if wants.iter().any(|w| mw(w, w.min_ma) <= budget * 1000) {
                prop_assert!(!admitted.is_empty());
            }
        }
    }
}
