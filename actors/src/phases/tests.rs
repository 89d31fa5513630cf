use proptest::prelude::*;

use super::*;
use crate::alloc::{Allocation, EvseInput, GroupInput, Reason, SiteInput};

const MIN: i64 = 6000;
const S: u64 = 1000;

fn settings(mode: Switching) -> Settings {
    Settings {
        mode,
        pause_ms: 120 * S,
        min_interval_ms: 600 * S,
        min_ma: MIN,
    }
}

fn offer(three_ma: i64, one_ma: i64) -> Offer {
    Offer {
        three_ma,
        one_ma,
        by_surplus: true,
    }
}

#[test]
fn off_never_switches() {
    let mut st = PhaseState::default();
    let d = st.decide(
        &settings(Switching::Off),
        offer(0, 10_000),
        Allowed::Always,
        true,
        0,
    );
    assert_eq!(
        (d.phases, d.switch_to, d.paused),
        (Phases::Three, None, false)
    );
}

#[test]
fn too_little_for_three_phases_switches_to_one_with_a_pause() {
    let s = settings(Switching::Auto);
    let mut st = PhaseState::default();
    let d = st.decide(&s, offer(3300, 9800), Allowed::Always, true, 0);
    assert_eq!(d.switch_to, Some(Phases::One));
    assert!(d.paused);
    // The pause holds for its whole length, then the car charges on 1p.
    let d = st.decide(&s, offer(3300, 9800), Allowed::Always, true, 119 * S);
    assert_eq!((d.paused, d.switch_to), (true, None));
    assert_eq!(
        d.why.map(|w| w.text()),
        Some("paused: switching to 1p, 1 s left".into())
    );
    let d = st.decide(&s, offer(3300, 9800), Allowed::Always, true, 120 * S);
    assert_eq!((d.phases, d.paused), (Phases::One, false));
    assert_eq!(
        d.why.map(|w| w.text()),
        Some("1p: solar surplus 9.8 A".into())
    );
}

#[test]
fn one_phase_at_exactly_the_minimum_is_enough_to_switch_and_each_switch_is_counted() {
    let s = settings(Switching::Auto);
    let mut st = PhaseState::default();
    let d = st.decide(&s, offer(MIN - 100, MIN), Allowed::Always, true, 0);
    assert_eq!(d.switch_to, Some(Phases::One));
    assert_eq!(st.switches, 1);
    // Back to three phases once they fit for the hold and the interval.
    let mut now = 0;
    while st.phases == Phases::One && now < 3600 * S {
        now += 10 * S;
        st.decide(&s, offer(32_000, 32_000), Allowed::Always, true, now);
    }
    assert_eq!((st.phases, st.switches), (Phases::Three, 2));
}

#[test]
fn back_to_three_phases_only_after_the_margin_held_and_the_interval() {
    let s = settings(Switching::Auto);
    let mut st = PhaseState::default();
    st.decide(&s, offer(3000, 9000), Allowed::Always, true, 0);
    // Enough for 3p at once, but the interval (600 s) has not passed.
    let mut t = 130 * S;
    let d = st.decide(
        &s,
        offer(MIN + UP_MARGIN_MA, 21_000),
        Allowed::Always,
        true,
        t,
    );
    assert_eq!(d.why.map(|w| w.code()), Some("phases_3p_hold"));
    t += UP_HOLD_MS;
    let d = st.decide(
        &s,
        offer(MIN + UP_MARGIN_MA, 21_000),
        Allowed::Always,
        true,
        t,
    );
    assert_eq!(d.switch_to, None);
    assert_eq!(
        d.why.map(|w| w.text()),
        Some("3p blocked: switched 4 min ago".into())
    );
    // Within the band (above the minimum, below minimum + margin): stays.
    let d = st.decide(&s, offer(MIN + 500, 19_500), Allowed::Always, true, 700 * S);
    assert_eq!((d.phases, d.switch_to), (Phases::One, None));
    // The hold starts again after a break.
    let d = st.decide(
        &s,
        offer(MIN + 2000, 24_000),
        Allowed::Always,
        true,
        701 * S,
    );
    assert_eq!(d.switch_to, None);
    let d = st.decide(
        &s,
        offer(MIN + 2000, 24_000),
        Allowed::Always,
        true,
        701 * S + UP_HOLD_MS,
    );
    assert_eq!(d.switch_to, Some(Phases::Three));
}

#[test]
fn fixed_settings_switch_at_once_and_not_allowed_holds() {
    let mut st = PhaseState::default();
    let d = st.decide(
        &settings(Switching::One),
        Offer::UNKNOWN,
        Allowed::Never,
        true,
        0,
    );
    assert_eq!((d.switch_to, d.why), (None, Some(Why::NotAllowed)));
    let d = st.decide(
        &settings(Switching::One),
        Offer::UNKNOWN,
        Allowed::Always,
        true,
        0,
    );
    assert_eq!(d.switch_to, Some(Phases::One));
    let d = st.decide(
        &settings(Switching::Three),
        Offer::UNKNOWN,
        Allowed::Always,
        true,
        200 * S,
    );
    assert_eq!(d.switch_to, Some(Phases::Three));
}

#[test]
fn without_a_car_a_switch_needs_no_pause() {
    let mut st = PhaseState::default();
    let d = st.decide(
        &settings(Switching::One),
        Offer::UNKNOWN,
        Allowed::Always,
        false,
        0,
    );
    assert_eq!((d.switch_to, d.paused), (Some(Phases::One), false));
    assert_eq!(st.last_switch, None);
}

/// A wallbox on one phase whose car has just left after a switch at 0 s.
fn left_on_one_phase(allowed: Allowed) -> PhaseState {
    let mut st = PhaseState::default();
    st.decide(
        &settings(Switching::Auto),
        offer(3000, 9000),
        allowed,
        true,
        0,
    );
    st.decide(
        &settings(Switching::Auto),
        offer(3000, 9000),
        allowed,
        true,
        130 * S,
    );
    assert_eq!(st.phases, Phases::One);
    st
}

#[test]
fn without_a_car_auto_never_goes_to_one_phase() {
    let s = settings(Switching::Auto);
    for allowed in [Allowed::Always, Allowed::Empty] {
        let mut st = PhaseState::default();
        // A surplus for one phase only, for an hour: the empty box stays on three.
        for t in 0..3600 {
            let d = st.decide(&s, offer(3000, 9000), allowed, false, t * S);
            assert_eq!((d.phases, d.switch_to), (Phases::Three, None));
        }
        assert_eq!(st.switches, 0);
    }
}

#[test]
fn without_a_car_one_phase_goes_back_to_three_after_the_interval() {
    // The box switches with a car plugged in too: the next car could be
    // switched up itself, so the interval holds.
    let s = settings(Switching::Auto);
    let mut st = left_on_one_phase(Allowed::Always);
    let d = st.decide(&s, offer(3000, 9000), Allowed::Always, false, 300 * S);
    assert_eq!((d.phases, d.switch_to), (Phases::One, None));
    assert_eq!(d.why.map(|w| w.code()), Some("phases_blocked"));
    let d = st.decide(&s, offer(3000, 9000), Allowed::Always, false, 600 * S);
    assert_eq!(d.switch_to, Some(Phases::Three));
    assert!(!d.paused, "no car, no pause");
}

#[test]
fn without_a_car_a_box_that_cannot_switch_with_one_goes_to_three_at_once() {
    // 8113 bit 8 clear: the empty moment is the only chance, so the
    // interval (600 s, 1 s after the last switch) does not hold it.
    let s = settings(Switching::Auto);
    let mut st = left_on_one_phase(Allowed::Always);
    let d = st.decide(&s, offer(3000, 9000), Allowed::Empty, false, 131 * S);
    assert_eq!((d.switch_to, d.paused), (Some(Phases::Three), false));
    // A three-phase car arriving during the pause waits the rest of it,
    // then starts on three phases and stays there: the box does not switch
    // with it plugged in.
    let d = st.decide(&s, offer(3000, 9000), Allowed::Empty, true, 132 * S);
    assert_eq!((d.phases, d.paused), (Phases::Three, true));
    assert_eq!(
        d.why.map(|w| w.text()),
        Some("paused: switching to 3p, 119 s left".into())
    );
    let d = st.decide(&s, offer(3000, 9000), Allowed::Empty, true, 251 * S);
    assert_eq!(
        (d.phases, d.switch_to, d.why),
        (Phases::Three, None, Some(Why::NotAllowed))
    );
}

#[test]
fn with_a_car_the_usual_rules_hold() {
    // On one phase with a car and too little for three: stays.
    let s = settings(Switching::Auto);
    let mut st = left_on_one_phase(Allowed::Always);
    let d = st.decide(&s, offer(3000, 9000), Allowed::Always, true, 700 * S);
    assert_eq!((d.phases, d.switch_to), (Phases::One, None));
    assert_eq!(d.why.map(|w| w.code()), Some("phases_1p_surplus"));
    // Bit 8 clear with the car there: nothing is switched.
    let d = st.decide(&s, offer(20_000, 20_000), Allowed::Empty, true, 800 * S);
    assert_eq!((d.phases, d.why), (Phases::One, Some(Why::NotAllowed)));
    // A fixed 1p is kept without a car: someone asked for it.
    let mut st = PhaseState::default();
    st.decide(
        &settings(Switching::One),
        Offer::UNKNOWN,
        Allowed::Empty,
        false,
        0,
    );
    let d = st.decide(
        &settings(Switching::One),
        Offer::UNKNOWN,
        Allowed::Empty,
        false,
        S,
    );
    assert_eq!((d.phases, d.switch_to), (Phases::One, None));
}

/// A car in `group` on the building phases `phases`, 6 to 16 A.
fn car(group: u32, phases: u8) -> EvseInput {
    EvseInput {
        group,
        prio: 1,
        turn: 0,
        phases,
        min_ma: MIN,
        max_ma: 16_000,
        uncontrolled: false,
    }
}

fn got(ma: i64) -> Allocation {
    Allocation {
        target_ma: ma,
        reason: Reason::MaxCurrent,
    }
}

#[test]
fn headroom_counts_other_cars_at_their_minimum_and_gives_its_own_back() {
    let site = SiteInput {
        available_ma: [20_000, 20_000, 20_000],
        groups: vec![GroupInput {
            id: 1,
            parent: 0,
            limit_ma: [16_000, 10_000, 16_000],
        }],
        ..SiteInput::default()
    };
    let evses = [car(1, 0b111), car(0, 0b001)];
    let results = [got(10_000), got(10_000)];
    let room = Headroom::after(&site, &evses, &results);
    // Car 0 (group 1) is given back its 6 A; car 1 counts 6 A on L1.
    assert_eq!(
        room.for_car(1, Some((&evses[0], &results[0]))),
        [14_000, 10_000, 16_000]
    );
    // Another car in group 1, not allocated: what is left.
    assert_eq!(room.for_car(1, None), [8_000, 4_000, 10_000]);
}

#[test]
fn imbalance_room_keeps_the_phases_within_the_limit_or_the_house_spread() {
    let site = |base| SiteInput {
        available_ma: [32_000; 3],
        max_imbalance_ma: Some(6_000),
        imbalance_base_ma: base,
        ..SiteInput::default()
    };
    // The car itself (on three phases, 8 A) and a one-phase car at 10 A on L2.
    let evses = [car(0, 0b111), car(0, 0b010)];
    let results = [got(8_000), got(10_000)];
    let room = Headroom::after(&site([0; 3]), &evses, &results);
    let own = Some((&evses[0], &results[0]));
    // On L1 alone: 6 A above L3 (empty). On L2: already 10 A over L1.
    assert_eq!(room.imbalance_room(0b001, own), Some(6_000));
    assert_eq!(room.imbalance_room(0b010, own), Some(-4_000));
    // For the one-phase car on L2 itself, given back its 10 A (on L2
    // only): 6 A above the others.
    let own_l2 = Some((&evses[1], &results[1]));
    assert_eq!(room.imbalance_room(0b010, own_l2), Some(6_000));
    // On all three phases the spread stays as it is.
    assert_eq!(room.imbalance_room(0b111, own), None);
    // The house alone 14 A uneven (imbalance_add): the cars may not make
    // it worse, so L3 may rise to 14 A above L1 (4 A of house).
    let room = Headroom::after(&site([4_000, 18_000, 4_000]), &evses, &results);
    assert_eq!(room.imbalance_room(0b100, own), Some(14_000));
    // Without a limit, no bound.
    let unlimited = SiteInput {
        max_imbalance_ma: None,
        ..site([0; 3])
    };
    let room = Headroom::after(&unlimited, &evses, &results);
    assert_eq!(room.imbalance_room(0b001, own), None);
}

proptest! {
    #![proptest_config(crate::property_cases(2000))]

    /// Under any surplus trace, an hour has at most hour / min_interval + 1
    /// switches, and a car never charges during a switch's pause.
    #[test]
    fn switches_per_hour_are_bounded_by_the_interval(
        min_interval_s in 60u64..1800,
        pause_s in 5u64..300,
        step_s in 1u64..60,
        trace in proptest::collection::vec((0i64..20_000, 0i64..40_000, any::<bool>()), 1..400),
    ) {
        let s = Settings {
            mode: Switching::Auto,
            pause_ms: pause_s * S,
            min_interval_ms: min_interval_s * S,
            min_ma: MIN,
        };
        let mut st = PhaseState::default();
        let mut switches = Vec::new();
        let mut now = 0;
        let mut paused_until = 0;
        // The trace repeats until an hour and a bit has passed.
        let mut i = 0;
        while now < 3_900 * S {
            let (three, one, surplus) = trace[i % trace.len()];
            i += 1;
            let d = st.decide(&s, Offer { three_ma: three, one_ma: one, by_surplus: surplus }, Allowed::Always, true, now);
            if d.switch_to.is_some() {
                switches.push(now);
                paused_until = now + s.pause_ms;
            }
            prop_assert_eq!(d.paused, now < paused_until, "paused exactly for the pause");
            now += step_s * S;
        }
        let bound = 3600 / min_interval_s + 1;
        for (k, &start) in switches.iter().enumerate() {
            let in_hour = switches[k..].iter().take_while(|&&t| t < start + 3600 * S).count();
            prop_assert!(in_hour as u64 <= bound, "{} switches in an hour, bound {}", in_hour, bound);
        }
    }
}

#[test]
fn switching_settings_are_read_and_shown_by_their_names() {
    // `phases_in_force` shows the key; the setting and cFos's
    // `switch_phases` override are read by parse (which takes 1 and 3 too).
    for mode in [
        Switching::Off,
        Switching::Auto,
        Switching::One,
        Switching::Three,
    ] {
        assert_eq!(Switching::parse(mode.key()), Some(mode), "{mode:?}");
    }
    assert_eq!(
        [
            Switching::Off,
            Switching::Auto,
            Switching::One,
            Switching::Three
        ]
        .map(Switching::key),
        ["off", "auto", "1p", "3p"]
    );
    assert_eq!(Switching::parse(" 1 "), Some(Switching::One));
    assert_eq!(Switching::parse("3"), Some(Switching::Three));
    assert_eq!(Switching::parse("2p"), None);
    assert_eq!(Switching::parse(""), None);
}

#[test]
fn on_one_phase_the_reason_shows_how_long_three_phases_have_fitted_of_the_hold() {
    let s = settings(Switching::Auto);
    let mut st = PhaseState::default();
    st.decide(&s, offer(3000, 9000), Allowed::Always, true, 0);
    let fits = offer(MIN + UP_MARGIN_MA, 21_000);
    st.decide(&s, fits, Allowed::Always, true, 130 * S);
    let d = st.decide(&s, fits, Allowed::Always, true, 160 * S);
    let why = d.why.expect("a reason");
    assert_eq!(why.text(), "1p: 3p fits for 30 of 120 s");
    assert_eq!(
        why.args(),
        vec![
            ("held_s", serde_json::json!(30)),
            ("hold_s", serde_json::json!(120))
        ]
    );
}
