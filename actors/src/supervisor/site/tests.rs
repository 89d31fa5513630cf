//! The cycle's rules with a fake clock: phase detection, faults, policies.

use std::sync::Arc;

use super::{Command, Now, Site};
use crate::config::{DeviceSettings, SiteParams};
use crate::drivers::{EvseReading, EvseState, FailSafe, MeterReading, Reading};
use crate::transport::{DeviceError, Exception};

fn device(toml: &str) -> Arc<DeviceSettings> {
    Arc::new(toml::from_str(toml).unwrap())
}

fn wallbox(n: usize, extra: &str) -> Arc<DeviceSettings> {
    device(&format!(
        "dev_id = \"E{n}\"\ndev_type = \"evse_powerbrain\"\naddress = \"evse\"\nmax_charging_cur = 32000\n{extra}"
    ))
}

fn grid_meter() -> Arc<DeviceSettings> {
    device("dev_id = \"M1\"\ndev_type = \"meter_sdm630\"\naddress = \"grid\"\nrole = 3\n")
}

/// A wallbox's reading: its state, its offer, and what its meter shows per
/// wallbox phase (`None`: it has no meter).
pub(super) fn evse_reading(state: EvseState, offered_ma: i64, meter: Option<[i64; 3]>) -> Reading {
    Reading::Evse(EvseReading {
        state,
        charging_enabled: true,
        offered_ma,
        cable_ma: 32_000,
        meter: meter.map(|current_ma| MeterReading {
            current_ma,
            voltage_v: [230; 3],
            per_phase: true,
            ..MeterReading::default()
        }),
        fail_safe: FailSafe::default(),
        rfid: String::new(),
        inputs: 0,
        relay: None,
        transaction_start_wh: None,
    })
}

fn charging(current_ma: [i64; 3]) -> Reading {
    evse_reading(EvseState::Charging, 16_000, Some(current_ma))
}

fn grid(current_ma: [i64; 3]) -> Reading {
    Reading::Meter(MeterReading {
        current_ma,
        per_phase: true,
        ..MeterReading::default()
    })
}

fn command(commands: &[Command], device: usize) -> i64 {
    commands
        .iter()
        .find(|c| c.device == device)
        .map_or(-1, |c| c.current_ma)
}

#[test]
fn a_one_phase_car_is_counted_on_its_phase_once_the_meter_shows_it() {
    let params = SiteParams {
        max_imbalance: 0,
        ..SiteParams::default()
    };
    let mut site = Site::new(params, &[wallbox(1, ""), wallbox(2, ""), grid_meter()], 0);
    // Both cars just plugged in; the grid shows 10 A of house load on L1 only.
    site.record(0, Some(Ok(charging([0; 3]))), 0);
    site.record(1, Some(Ok(charging([0; 3]))), 0);
    site.record(2, Some(Ok(grid([10_000, 0, 0]))), 0);
    let (commands, _) = site.cycle(Now::mono(0), 1000);
    // Assumed three-phase: L1 (22 A left) is shared.
    assert_eq!(
        (command(&commands, 0), command(&commands, 1)),
        (11_000, 11_000)
    );
    // E2's meter shows it draws on L2 only (its car is one-phase).
    site.record(0, Some(Ok(charging([11_000; 3]))), 1000);
    site.record(1, Some(Ok(charging([0, 11_000, 0]))), 1000);
    site.record(2, Some(Ok(grid([21_000, 22_000, 11_000]))), 1000);
    let (commands, snapshot) = site.cycle(Now::mono(1000), 1000);
    // E2 no longer takes room on L1; both now share L2 (32 A) equally.
    assert_eq!(command(&commands, 0), 16_000);
    assert_eq!(command(&commands, 1), 16_000);
    assert_eq!(snapshot.evses[1].as_ref().map(|v| v.phases), Some(0b010));
}

#[test]
fn a_silent_wallbox_counts_its_last_draw_then_its_fail_safe_current() {
    let params = SiteParams {
        evse_fault_after_s: 180,
        ..SiteParams::default()
    };
    let mut site = Site::new(
        params,
        &[
            // Formulas see the fault current as `GM.error`: E1 may take
            // all that is left only once it is the fail-safe current.
            wallbox(
                1,
                "charging_rules = [{ expr = \"GM.error.current_l2 == 8000 ? 32000 : 16000\" }]",
            ),
            wallbox(2, "fail_safe_current = 8000"),
            grid_meter(),
        ],
        0,
    );
    site.record(0, Some(Ok(charging([10_000; 3]))), 0);
    site.record(1, Some(Ok(charging([16_000; 3]))), 0);
    site.record(2, Some(Ok(grid([26_000; 3]))), 0);
    site.cycle(Now::mono(0), 1000);
    // E2 stops answering: it is assumed to keep drawing 16 A.
    site.record(0, Some(Ok(charging([10_000; 3]))), 1000);
    site.record(1, Some(Err(DeviceError::Timeout(1000))), 1000);
    site.record(2, Some(Ok(grid([26_000; 3]))), 1000);
    let (commands, snapshot) = site.cycle(Now::mono(1000), 1000);
    assert_eq!(
        command(&commands, 1),
        -1,
        "nothing is sent to a silent wallbox"
    );
    assert_eq!(command(&commands, 0), 32_000 - 16_000);
    let e2 = snapshot.evses[1].clone().unwrap_or_default();
    assert_eq!(
        (e2.state, e2.lb_reason.to_string().as_str()),
        (6, "com error")
    );
    // After three minutes its fail-safe current (8 A) is what it may draw.
    let later = 1000 + 181_000;
    site.record(0, Some(Ok(charging([16_000; 3]))), later);
    site.record(1, Some(Err(DeviceError::Timeout(1000))), later);
    site.record(2, Some(Ok(grid([24_000; 3]))), later);
    let (commands, _) = site.cycle(Now::mono(later), 1000);
    assert_eq!(command(&commands, 0), 32_000 - 8000);
}

#[test]
fn a_grid_meter_is_stale_until_it_answers_and_after_the_timeout() {
    let params = SiteParams {
        meter_timeout_s: 10,
        ..SiteParams::default()
    };
    let mut site = Site::new(params, &[wallbox(1, ""), grid_meter()], 0);
    // Not a reading yet: the house load is unknown, so the car gets its minimum.
    site.record(0, Some(Ok(charging([0; 3]))), 1000);
    site.record(1, Some(Err(DeviceError::Exception(Exception(4)))), 1000);
    let (commands, snapshot) = site.cycle(Now::mono(1000), 1000);
    assert!(snapshot.site.meter_stale);
    assert_eq!(command(&commands, 0), 6000);
    let reason = snapshot.evses[0]
        .clone()
        .unwrap_or_default()
        .lb_reason
        .to_string();
    assert_eq!(reason, "meter stale: M1 (minimum current)");
    // It answers: 32 A less the house's 10 A.
    site.record(0, Some(Ok(charging([0; 3]))), 2000);
    site.record(1, Some(Ok(grid([10_000; 3]))), 2000);
    let (commands, snapshot) = site.cycle(Now::mono(2000), 1000);
    assert!(!snapshot.site.meter_stale);
    assert_eq!(command(&commands, 0), 22_000);
    // Silent for the timeout (10 s) it still counts; longer, it is stale.
    for (at, stale) in [(12_000, false), (12_001, true)] {
        site.record(0, Some(Ok(charging([22_000; 3]))), at);
        site.record(1, Some(Err(DeviceError::Exception(Exception(4)))), at);
        let (commands, snapshot) = site.cycle(Now::mono(at), 1000);
        assert_eq!(snapshot.site.meter_stale, stale, "at {at} ms");
        assert_eq!(command(&commands, 0), if stale { 6000 } else { 22_000 });
    }
}

#[test]
fn disabled_wallboxes_follow_the_disable_policy() {
    for (policy, expected, enable) in [(0, 0, false), (1, 6000, true), (-1, 32_000, true)] {
        let params = SiteParams {
            disable_policy: crate::config::DisablePolicy::from_code(policy).expect("a policy"),
            ..SiteParams::default()
        };
        let mut site = Site::new(params, &[wallbox(1, "device_enabled = false")], 0);
        site.record(0, Some(Ok(charging([0; 3]))), 0);
        let (commands, _) = site.cycle(Now::mono(0), 1000);
        assert_eq!(
            commands,
            vec![Command::current(0, expected, enable)],
            "policy {policy}"
        );
    }
}

#[test]
fn no_car_means_disabled_and_unplugging_ends_the_turn() {
    let mut site = Site::new(SiteParams::default(), &[wallbox(1, "")], 0);
    let idle = Reading::Evse(EvseReading {
        state: EvseState::Waiting,
        charging_enabled: true,
        offered_ma: 16_000,
        cable_ma: 0,
        meter: None,
        fail_safe: FailSafe::default(),
        rfid: String::new(),
        inputs: 0,
        relay: None,
        transaction_start_wh: None,
    });
    site.record(0, Some(Ok(idle)), 0);
    let (commands, snapshot) = site.cycle(Now::mono(0), 1000);
    assert_eq!(commands, vec![Command::current(0, 0, false)]);
    assert_eq!(
        snapshot.evses[0].clone().unwrap_or_default().lb_reason,
        "no vehicle"
    );
}

#[test]
fn observation_mode_computes_but_commands_nothing() {
    let params = SiteParams {
        lb_enabled: false,
        ..SiteParams::default()
    };
    let mut site = Site::new(params, &[wallbox(1, "")], 0);
    site.record(0, Some(Ok(charging([0; 3]))), 0);
    let (commands, snapshot) = site.cycle(Now::mono(0), 1000);
    assert!(commands.is_empty());
    let view = snapshot.evses[0].clone().unwrap_or_default();
    assert_eq!((view.lb_current, view.last_set_charging_cur), (32_000, -1));
}

#[test]
fn a_card_without_a_wallbox_goes_to_the_one_that_waits() {
    let users: Vec<crate::config::User> = serde_json::from_value(serde_json::json!([
        {"id": "anna", "dev_ids": ["E1", "E2"], "rfids": [{"id": "04AB"}]}
    ]))
    .unwrap();
    let mut site = Site::new(SiteParams::default(), &[wallbox(1, ""), wallbox(2, "")], 0);
    site.set_users(users);
    assert_eq!(
        site.present_rfid(None, "04AB").map(|(d, _)| d),
        Err("no wallbox is waiting for authorisation".to_string())
    );
    site.record(0, Some(Ok(charging([0; 3]))), 0);
    site.record(1, Some(Ok(charging([0; 3]))), 0);
    let (commands, snapshot) = site.cycle(Now::mono(0), 1000);
    assert_eq!(
        command(&commands, 0),
        0,
        "a car at a wallbox with users waits for a card"
    );
    assert_eq!(
        snapshot.evses[0].clone().unwrap_or_default().lb_reason,
        "waiting for authorisation"
    );
    let several = site.present_rfid(None, "04AB").map(|(d, _)| d);
    assert_eq!(
        several,
        Err("several wallboxes wait for authorisation (E1, E2): give dev_id".to_string())
    );
    assert_eq!(
        site.present_rfid(Some("E2"), "04AB").map(|(d, _)| d),
        Ok("E2".to_string())
    );
    assert_eq!(
        site.present_rfid(None, "04AB").map(|(d, _)| d),
        Ok("E1".to_string())
    );
    let (commands, _) = site.cycle(Now::mono(1000), 1000);
    assert!(command(&commands, 0) > 0 && command(&commands, 1) > 0);
}

#[test]
fn formulas_see_the_local_calendar() {
    // 28 November 2026, a Saturday, 21:30:15 in winter time. cFos counts
    // months from 0 and weekdays from Sunday.
    let rule = |expr: &str| format!("charging_rules = [{{ expr = \"{expr}\" }}]");
    let mut site = Site::new(
        SiteParams::default(),
        &[
            wallbox(
                1,
                &rule(
                    "date.year * 10000 + (date.month + 1) * 100 + date.day == 20261128 ? 7000 : 0",
                ),
            ),
            wallbox(
                2,
                &rule("date.weekday == 6 && date.yearday == 332 && !date.dst ? 9000 : 0"),
            ),
            wallbox(
                3,
                &rule(
                    "date.daysecond == 21 * 3600 + 30 * 60 + 15 && date.second == 15 && date.hour == 21 && date.minute == 30 ? 8000 : 0",
                ),
            ),
        ],
        0,
    );
    let local = crate::rules::charging::LocalTime {
        weekday: 5,
        minute_of_day: 21 * 60 + 30,
        secs: 0,
        calendar: crate::rules::charging::Calendar {
            year: 2026,
            month: 11,
            day: 28,
            yearday: 332,
            second: 15,
            dst: false,
        },
    };
    for i in 0..3 {
        site.record(i, Some(Ok(charging([0; 3]))), 0);
    }
    let (commands, _) = site.cycle(
        Now {
            local,
            ..Now::mono(0)
        },
        1000,
    );
    assert_eq!(command(&commands, 0), 7000);
    assert_eq!(command(&commands, 1), 9000);
    assert_eq!(command(&commands, 2), 8000);
}

#[test]
fn charging_rules_limit_the_wish_and_the_lower_set_wins() {
    let rules = "charging_rules = [{ current = 10000 }]";
    let mut site = Site::new(
        SiteParams::default(),
        &[
            wallbox(1, rules),
            wallbox(
                2,
                "charging_rules = [{ time = 0, dur = 1, current = 16000 }]",
            ),
        ],
        0,
    );
    let local = crate::rules::charging::LocalTime {
        weekday: 2,
        minute_of_day: 600,
        ..Default::default()
    };
    site.record(0, Some(Ok(charging([0; 3]))), 0);
    site.record(1, Some(Ok(charging([0; 3]))), 0);
    // The local time stays Tuesday 10:00 throughout.
    let at = |mono_ms: u64| Now {
        local,
        ..Now::mono(mono_ms)
    };
    let (commands, snapshot) = site.cycle(at(0), 1000);
    assert_eq!(command(&commands, 0), 10_000);
    let e1 = snapshot.evses[0].clone().unwrap_or_default();
    assert_eq!((e1.rule_id.as_str(), e1.rule_current), ("E1/0", 10_000));
    // E2's only rule is a time window that is not now: no current.
    assert_eq!(command(&commands, 1), 0);
    let e2 = snapshot.evses[1].clone().unwrap_or_default();
    assert_eq!(e2.lb_reason, "charging rule E2/none: 0 mA");

    // A user's rules apply too; the lower wins. The wallbox's own rules can
    // be switched off for the car (override E).
    let users: Vec<crate::config::User> = serde_json::from_value(serde_json::json!([
        {"id": "anna", "dev_ids": ["E1"], "rfids": [{"id": "04AB"}], "charging_rules": [{"current": 8000}]}
    ]))
    .unwrap();
    site.set_users(users);
    site.present_rfid(Some("E1"), "04AB").unwrap();
    let (commands, snapshot) = site.cycle(at(1000), 1000);
    assert_eq!(command(&commands, 0), 8000);
    assert_eq!(
        snapshot.evses[0].clone().unwrap_or_default().rule_id,
        "anna/0"
    );
    site.override_device("E1", "U", None, &crate::supervisor::Who::Admin)
        .unwrap();
    let (commands, _) = site.cycle(at(2000), 1000);
    assert_eq!(
        command(&commands, 0),
        10_000,
        "without the user's rules the wallbox's 10 A"
    );
    site.override_device("E1", "E", None, &crate::supervisor::Who::Admin)
        .unwrap();
    let (commands, _) = site.cycle(at(3000), 1000);
    assert_eq!(
        command(&commands, 0),
        32_000,
        "with both sets off: no rule limit"
    );
}

#[test]
fn batteries_count_in_the_surplus_as_their_role_says() {
    // The grid shows 6 A per phase going out; a battery meter shows 2 A per
    // phase (positive: charging). The rule charges at the surplus + 6 A so
    // that the minimum current never hides the surplus.
    let surplus_with = |role: u8, battery_ma: i64| {
        let battery = device(&format!(
            "dev_id = \"M2\"\ndev_type = \"meter_sdm630\"\naddress = \"battery\"\nrole = {role}\n"
        ));
        let rule = "charging_rules = [{ expr = \"GM.surplus.current + 6000\" }]";
        let mut site = Site::new(
            SiteParams::default(),
            &[wallbox(1, rule), grid_meter(), battery],
            0,
        );
        site.record(0, Some(Ok(charging([0; 3]))), 0);
        site.record(1, Some(Ok(grid([-6000; 3]))), 0);
        site.record(2, Some(Ok(grid([battery_ma; 3]))), 0);
        let (commands, _) = site.cycle(Now::mono(0), 1000);
        command(&commands, 0) - 6000
    };
    // Home battery (5): its charging is surplus the car may take, its
    // discharge is not surplus.
    assert_eq!(surplus_with(5, 2000), 8000);
    assert_eq!(surplus_with(5, -2000), 4000);
    // "All" battery (6): its charging is surplus too, its discharge counts.
    assert_eq!(surplus_with(6, 2000), 8000);
    assert_eq!(surplus_with(6, -2000), 6000);
}

#[test]
fn formulas_see_the_global_meters() {
    // The grid meter shows 10/2/2 A drawn, a PV meter 3 A per phase produced,
    // the car's own meter 4 A on one phase of a wallbox turned by 120°, and
    // a home battery 1 A per phase charging.
    let pv = device("dev_id = \"M2\"\ndev_type = \"meter_sdm630\"\naddress = \"pv\"\nrole = 2\n");
    let battery =
        device("dev_id = \"M3\"\ndev_type = \"meter_sdm630\"\naddress = \"bat\"\nrole = 5\n");
    let checks = [
        "GM.grid_demand.current_l1 == 10000 && GM.grid_demand.current_l2 == 2000",
        "GM.produced.power_w == 9000 * 230 / 1000",
        "GM.consumed.current == 13000 && GM.consumed.current_l3 == 5000",
        "GM.consumed_evse.current_l2 == 4000 && GM.consumed_evse.current_l1 == 0",
        "GM.storage_home.current_l3 == 1000 && GM.storage_all.current == 0",
        // Surplus: −14 A to the grid, +3 A the battery takes, +4 A the car.
        "GM.surplus.power_w == -7000 * 230 / 1000 && CM._surplus == GM.surplus.power_w",
        "CM._org_surplus == CM._surplus && CM._num_charging == 1",
        "GM.available_evse.current_l1 == CM._max_total_current - 10000",
        "GM.available_evse.current_l2 == CM._max_total_current + 2000",
        "CM._max_total_evse_current == 0",
    ];
    let rule = format!(
        "phase_rotation = 120\ncharging_rules = [{{ expr = \"{} ? 7000 : 0\" }}]",
        checks.join(" && ")
    );
    let mut site = Site::new(
        SiteParams::default(),
        &[wallbox(1, &rule), grid_meter(), pv, battery],
        0,
    );
    site.record(0, Some(Ok(charging([4000, 0, 0]))), 0);
    site.record(1, Some(Ok(grid([10_000, 2000, 2000]))), 0);
    site.record(2, Some(Ok(grid([3000; 3]))), 0);
    site.record(3, Some(Ok(grid([1000; 3]))), 0);
    let (commands, snapshot) = site.cycle(Now::mono(0), 1000);
    let e1 = snapshot.evses[0].clone().unwrap_or_default();
    assert_eq!(command(&commands, 0), 7000, "{}", e1.lb_reason);
}

#[test]
fn a_formula_limit_follows_the_meter_every_cycle() {
    // The wallbox shares a 20 A line with a heat pump behind the grid meter.
    let limited = |formula: &str| {
        device(&format!(
            "dev_id = \"E1\"\ndev_type = \"evse_powerbrain\"\naddress = \"evse\"\nmax_charging_cur = \"{formula}\"\n"
        ))
    };
    let mut site = Site::new(
        SiteParams::default(),
        &[limited("20000 - M1.current"), grid_meter()],
        0,
    );
    site.record(0, Some(Ok(charging([0; 3]))), 0);
    site.record(1, Some(Ok(grid([8000, 2000, 2000]))), 0);
    let (commands, _) = site.cycle(Now::mono(0), 1000);
    assert_eq!(command(&commands, 0), 12_000);
    // The heat pump starts: the limit falls with it.
    site.record(1, Some(Ok(grid([13_000, 2000, 2000]))), 1000);
    let (commands, _) = site.cycle(Now::mono(1000), 1000);
    assert_eq!(command(&commands, 0), 7000);
    // Without the meter's value the limit is unknown: no current.
    let mut site = Site::new(SiteParams::default(), &[limited("20000 - M9.current")], 0);
    site.record(0, Some(Ok(charging([0; 3]))), 0);
    let (commands, snapshot) = site.cycle(Now::mono(0), 1000);
    assert_eq!(command(&commands, 0), 0);
    let e1 = snapshot.evses[0].clone().unwrap_or_default();
    assert_eq!(e1.lb_reason, "max_charging_cur");
}

#[test]
fn a_formula_site_limit_is_evaluated_every_cycle() {
    // The grid operator allows less in the evening peak.
    let params = SiteParams {
        max_total_current: crate::config::CurrentLimit::Formula(
            "date.hour >= 17 && date.hour < 20 ? 8000 : 14000".into(),
        ),
        ..SiteParams::default()
    };
    let mut site = Site::new(params, &[wallbox(1, "")], 0);
    let at_hour = |hour: u32| crate::rules::charging::LocalTime {
        minute_of_day: hour * 60,
        ..Default::default()
    };
    site.record(0, Some(Ok(charging([0; 3]))), 0);
    let (commands, snapshot) = site.cycle(
        Now {
            local: at_hour(18),
            ..Now::mono(0)
        },
        1000,
    );
    assert_eq!(command(&commands, 0), 8000);
    assert_eq!(snapshot.site.max_total_ma, 8000);
    let (commands, snapshot) = site.cycle(
        Now {
            local: at_hour(21),
            ..Now::mono(1000)
        },
        1000,
    );
    assert_eq!(command(&commands, 0), 14_000);
    assert_eq!(snapshot.site.max_total_ma, 14_000);
}

#[test]
fn input_rules_and_formulas_see_the_power_brain_inputs() {
    let rules = "charging_rules = [\
        { input = \"E1.input1\", current = 10000 },\
        { expr = \"PB.input2 && param(voltage) == 230 ? 7000 : 0\" }]";
    let mut site = Site::new(SiteParams::default(), &[wallbox(1, rules)], 0);
    let with_inputs = |inputs: u8| {
        let Reading::Evse(mut r) = charging([0; 3]) else {
            unreachable!("charging() is a wallbox reading")
        };
        r.inputs = inputs;
        Reading::Evse(r)
    };
    let mut decide = |inputs: u8, now: u64| {
        site.record(0, Some(Ok(with_inputs(inputs))), now);
        let (commands, snapshot) = site.cycle(Now::mono(now), 1000);
        let e1 = snapshot.evses[0].clone().unwrap_or_default();
        (command(&commands, 0), e1.rule_id)
    };
    assert_eq!(decide(0b01, 0), (10_000, "E1/0".to_string()));
    assert_eq!(decide(0b10, 1000), (7000, "E1/1".to_string()));
    assert_eq!(decide(0b00, 2000), (0, "E1/none".to_string()));
}

#[test]
fn every_name_the_checker_allows_is_one_the_cycle_can_read() {
    use crate::rules::names;
    let mut all: Vec<String> = Vec::new();
    let mut add = |head: &str, fields: Vec<&str>| {
        all.extend(fields.iter().map(|f| format!("{head}.{f}")));
    };
    add("date", names::spellings(names::DATE).collect());
    add("CM", names::spellings(names::CM).collect());
    add("PB", names::spellings(names::INPUTS).collect());
    add("E1", names::spellings(names::DEVICE_FIELDS).collect());
    add("GM.surplus", names::spellings(names::SURPLUS).collect());
    for meter in names::spellings(names::GM_METERS) {
        add(
            &format!("GM.{meter}"),
            names::spellings(names::PHASE_FIELDS).collect(),
        );
    }
    all.extend(names::spellings(names::PARAMS).map(|p| format!("param({p})")));
    let params = SiteParams {
        price_level: Some(-4),
        ..SiteParams::default()
    };
    for name in all {
        let expr = format!("exists({name}) ? 7000 : 1");
        let parsed = crate::rules::formula::parse(&expr).unwrap();
        assert_eq!(
            crate::rules::names::check(&parsed, &["E1", "M1"], &[]),
            Ok(()),
            "{name}"
        );
        let rule = format!("charging_rules = [{{ expr = \"{expr}\" }}]");
        let mut site = Site::new(params.clone(), &[wallbox(1, &rule), grid_meter()], 0);
        site.record(0, Some(Ok(charging([1000; 3]))), 0);
        site.record(1, Some(Ok(grid([5000; 3]))), 0);
        let (commands, _) = site.cycle(Now::mono(0), 1000);
        assert_eq!(command(&commands, 0), 7000, "{name} cannot be read");
    }
}

/// E1 with a rule: 10 A while its input 1 is on, else nothing.
fn input_rule_site() -> Site {
    let rules = "charging_rules = [{ input = \"E1.input1\", current = 10000 }]";
    Site::new(SiteParams::default(), &[wallbox(1, rules)], 0)
}

/// A cycle at `now` of `input_rule_site` with its inputs at `inputs`:
/// E1's command and view.
fn input_rule_cycle(site: &mut Site, inputs: u8, now: u64) -> (i64, super::views::EvseView) {
    let Reading::Evse(mut r) = charging([0; 3]) else {
        unreachable!("charging() is a wallbox reading")
    };
    r.inputs = inputs;
    site.record(0, Some(Ok(Reading::Evse(r))), now);
    let (commands, snapshot) = site.cycle(Now::mono(now), 1000);
    (
        command(&commands, 0),
        snapshot.evses[0].clone().unwrap_or_default(),
    )
}

#[test]
fn a_rule_that_stops_the_car_starts_its_minimum_pause() {
    // 10 A while input 1 is on, else nothing; the car pauses at least
    // min_pause_time (300 s) after a stop, so a flickering input does not
    // switch the car every cycle.
    let mut site = input_rule_site();
    let mut at = |inputs: u8, now: u64| {
        let (current, e1) = input_rule_cycle(&mut site, inputs, now);
        (current, e1.lb_reason.to_string(), e1.rule_id)
    };
    assert_eq!(
        at(1, 0),
        (10_000, "charging rule E1/0".to_string(), "E1/0".to_string()),
        "the rule's wish is what limits it"
    );
    assert_eq!(
        at(0, 1000),
        (
            0,
            "charging rule E1/none: 0 mA".to_string(),
            "E1/none".to_string()
        )
    );
    assert_eq!(
        at(1, 2000),
        (
            0,
            "paused: 299 s left of its minimum pause".to_string(),
            "E1/0".to_string()
        ),
        "the rule allows again, but the pause holds; the rule is still shown"
    );
    assert_eq!(at(1, 301_000).0, 10_000, "after the pause it charges again");
}

mod extreme_readings {
    use proptest::prelude::*;

    use super::*;

    fn extreme() -> BoxedStrategy<i64> {
        prop_oneof![
            Just(i64::MIN),
            Just(i64::MAX),
            Just(1_000_000_000_000_000_000),
            Just(-1_000_000_000_000_000_000),
            Just((1i64 << 31) * 100),
            Just(-1_000_000),
            Just(0),
            -40_000i64..40_000,
            any::<i64>(),
        ]
        .boxed()
    }

    fn meter() -> BoxedStrategy<MeterReading> {
        (
            prop::array::uniform3(extreme()),
            prop::array::uniform3(prop_oneof![Just(230i64), extreme()]),
            extreme(),
            extreme(),
            extreme(),
        )
            .prop_map(
                |(current_ma, voltage_v, power_w, import_wh, export_wh)| MeterReading {
                    current_ma,
                    voltage_v,
                    power_w,
                    import_wh,
                    export_wh,
                    per_phase: true,
                    storage: None,
                },
            )
            .boxed()
    }

    /// One poll's outcome for the wallboxes E1, E2 and the grid meter M1.
    fn evse() -> BoxedStrategy<Option<Reading>> {
        (meter(), extreme(), prop::bool::ANY)
            .prop_map(|(m, offered, ok)| {
                ok.then(|| {
                    Reading::Evse(EvseReading {
                        state: EvseState::Charging,
                        charging_enabled: true,
                        offered_ma: offered,
                        cable_ma: 32_000,
                        meter: Some(m),
                        fail_safe: FailSafe::default(),
                        rfid: String::new(),
                        inputs: 0,
                        relay: None,
                        transaction_start_wh: None,
                    })
                })
            })
            .boxed()
    }

    fn step() -> impl Strategy<Value = [Option<Reading>; 3]> {
        let grid = prop::option::weighted(0.9, meter().prop_map(Reading::Meter));
        (evse(), evse(), grid).prop_map(|(e1, e2, m1)| [e1, e2, m1])
    }

    proptest! {
        #![proptest_config(crate::property_cases(500))]

        /// Whatever the devices report, nothing overflows (the tests run
        /// with overflow checks), no reading beyond its window counts, and
        /// the cars together never get more than the site leaves them.
        #[test]
        fn extreme_readings_never_free_current(steps in prop::collection::vec(step(), 1..12)) {
            let mut site = Site::new(
                SiteParams::default(),
                &[wallbox(1, "used_phases = 7"), wallbox(2, "used_phases = 7"), grid_meter()],
                0,
            );
            for (n, readings) in steps.into_iter().enumerate() {
                let now = n as u64 * 1000;
                for (i, reading) in readings.into_iter().enumerate() {
                    site.record(i, Some(reading.ok_or(DeviceError::Timeout(1000))), now);
                }
                let (commands, snapshot) = site.cycle(Now::mono(now), 1000);
                let s = &snapshot.site;
                // The grid meter's window is 4 × 32 A either way, each
                // wallbox's its 32 A maximum plus 10 %: the house load
                // computed from them stays within those.
                let bound: u64 = 4 * 32_000 + 2 * 35_200;
                for p in 0..3 {
                    prop_assert!(s.house_ma[p].unsigned_abs() <= bound, "house {:?}", s.house_ma);
                    prop_assert!(s.available_ma[p] <= 32_000 + bound as i64, "available {:?}", s.available_ma);
                }
                let given: i64 = commands.iter().map(|c| c.current_ma).sum();
                let room = s.available_ma.iter().copied().min().unwrap_or(0).max(0);
                prop_assert!(given <= room, "gave {given} mA with {room} mA available: {commands:?}");
            }
        }
    }
}

/// A wallbox charging without a meter of its own.
fn unmetered(state: EvseState) -> Reading {
    evse_reading(state, 16_000, None)
}

#[test]
fn an_attached_meter_measures_its_wallbox_while_it_answers() {
    let params = SiteParams {
        max_imbalance: 0,
        ..SiteParams::default()
    };
    let s0 =
        device("dev_id = \"M2\"\ndev_type = \"meter_powerbrain\"\naddress = \"meter1\"\nid = 2\n");
    let mut site = Site::new(
        params,
        &[wallbox(1, "attach = \"M2\""), s0, grid_meter()],
        0,
    );
    let s0_reading = Reading::Meter(MeterReading {
        current_ma: [6000, 0, 0],
        power_w: 1380,
        import_wh: 777,
        per_phase: true,
        ..MeterReading::default()
    });
    site.record(0, Some(Ok(unmetered(EvseState::Charging))), 0);
    site.record(1, Some(Ok(s0_reading)), 0);
    site.record(2, Some(Ok(grid([16_000, 10_000, 10_000]))), 0);
    let (_, snapshot) = site.cycle(Now::mono(0), 1000);
    let e1 = snapshot.evses[0].clone().unwrap_or_default();
    assert_eq!(
        (
            [e1.current_l1, e1.current_l2, e1.current_l3],
            e1.cur_charging_power,
            e1.total_energy
        ),
        ([6000, 0, 0], 1380, 777),
        "the wallbox shows its meter's values"
    );
    assert_eq!(snapshot.site.house_ma, [10_000; 3], "grid less the wallbox");
    // The meter falls silent: the wallbox counts at what it is offered, on
    // the phase its meter showed.
    site.record(0, Some(Ok(unmetered(EvseState::Charging))), 1000);
    site.record(1, Some(Err(DeviceError::Timeout(1000))), 1000);
    site.record(2, Some(Ok(grid([26_000, 10_000, 10_000]))), 1000);
    let (_, snapshot) = site.cycle(Now::mono(1000), 1000);
    let e1 = snapshot.evses[0].clone().unwrap_or_default();
    assert_eq!(
        [e1.current_l1, e1.current_l2, e1.current_l3],
        [16_000, 0, 0]
    );
}

#[test]
fn a_cards_phases_count_while_its_car_charges() {
    let users: Vec<crate::config::User> = serde_json::from_value(serde_json::json!([
        {"id": "anna", "dev_ids": ["E1"], "rfids": [{"id": "04AB", "used_phases": 2}]}
    ]))
    .unwrap();
    let mut site = Site::new(SiteParams::default(), &[wallbox(1, "")], 0);
    site.set_users(users);
    site.record(0, Some(Ok(unmetered(EvseState::Charging))), 0);
    site.cycle(Now::mono(0), 1000);
    site.present_rfid(Some("E1"), "04AB").expect("anna's card");
    site.record(0, Some(Ok(unmetered(EvseState::Charging))), 1000);
    let (_, snapshot) = site.cycle(Now::mono(1000), 1000);
    let e1 = snapshot.evses[0].clone().unwrap_or_default();
    assert_eq!(e1.phases, 0b010, "L2 only, as the card says");
    assert_eq!(
        snapshot.site.evse_ma,
        [0, 16_000, 0],
        "what it is offered, on L2"
    );
    // The next car, without a card, is counted on all three phases again.
    site.record(0, Some(Ok(unmetered(EvseState::Waiting))), 2000);
    site.cycle(Now::mono(2000), 1000);
    site.set_users(Vec::new());
    site.record(0, Some(Ok(unmetered(EvseState::Charging))), 3000);
    let (_, snapshot) = site.cycle(Now::mono(3000), 1000);
    assert_eq!(snapshot.evses[0].clone().unwrap_or_default().phases, 0b111);
}

#[test]
fn an_override_set_with_no_car_holds_for_the_next_until_it_leaves() {
    use super::session::Who;
    let mut site = Site::new(SiteParams::default(), &[wallbox(1, "")], 0);
    site.record(0, Some(Ok(unmetered(EvseState::Waiting))), 0);
    site.cycle(Now::mono(0), 1000);
    site.override_device("E1", "C", Some(8000), &Who::Admin)
        .expect("no car is no reason to refuse");
    let (_, snapshot) = site.cycle(Now::mono(0), 1000);
    let e1 = snapshot.evses[0].clone().unwrap_or_default();
    assert_eq!((e1.overrides, e1.ov_cur), (0b001, 8000));
    // A card cannot set one for a car that is not there.
    assert!(site
        .override_device("E1", "U", None, &Who::Card("04AB".into()))
        .is_err());
    site.record(0, Some(Ok(unmetered(EvseState::Charging))), 1000);
    let (commands, snapshot) = site.cycle(Now::mono(1000), 1000);
    assert_eq!(command(&commands, 0), 0);
    assert_eq!(
        snapshot.evses[0].clone().unwrap_or_default().lb_reason,
        "disabled by override"
    );
    site.override_device("E1", "c", None, &Who::Admin).unwrap();
    let (commands, _) = site.cycle(Now::mono(1000), 1000);
    assert_eq!(command(&commands, 0), 8000, "the cap holds");
    site.record(0, Some(Ok(unmetered(EvseState::Waiting))), 2000);
    let (_, snapshot) = site.cycle(Now::mono(2000), 1000);
    let e1 = snapshot.evses[0].clone().unwrap_or_default();
    assert_eq!((e1.overrides, e1.ov_cur), (0, -1), "gone at unplug");
}

#[test]
fn formulas_read_the_charging_manager_variables() {
    let mut site = Site::new(
        SiteParams::default(),
        &[device(
            "dev_id = \"E1\"\ndev_type = \"evse_powerbrain\"\naddress = \"evse\"\nmax_charging_cur = \"CM.gridLimit * 1000\"\n",
        )],
        0,
    );
    let vars = |v: i64| {
        std::collections::BTreeMap::from([("GridLimit".to_string(), serde_json::Number::from(v))])
    };
    site.set_cm_vars(&vars(10));
    site.record(0, Some(Ok(charging([0; 3]))), 0);
    let (commands, _) = site.cycle(Now::mono(0), 1000);
    assert_eq!(command(&commands, 0), 10_000);
    site.set_cm_vars(&vars(7));
    let (commands, _) = site.cycle(Now::mono(1000), 1000);
    assert_eq!(command(&commands, 0), 7000);
    // A variable that is gone makes the limit 0, never no limit.
    site.set_cm_vars(&std::collections::BTreeMap::new());
    let (commands, _) = site.cycle(Now::mono(2000), 1000);
    assert_eq!(command(&commands, 0), 0);
}

#[test]
fn a_wallbox_push_between_two_meter_readings_does_not_lower_the_house_load() {
    let mut site = Site::new(SiteParams::default(), &[wallbox(1, ""), grid_meter()], 0);
    // 10 A of house load, E1 draws 10 A: the grid meter shows 20 A.
    site.record(0, Some(Ok(charging([10_000; 3]))), 0);
    site.record(1, Some(Ok(grid([20_000; 3]))), 0);
    let (_, snapshot) = site.cycle(Now::mono(0), 1000);
    assert_eq!(snapshot.site.house_ma, [10_000; 3]);
    // E1 reports 16 A before the grid meter is read again (as an HTTP
    // wallbox's push does): the house still draws 10 A, not 4 A.
    site.record(0, Some(Ok(charging([16_000; 3]))), 400);
    let (commands, snapshot) = site.cycle(Now::mono(400), 1000);
    assert_eq!(snapshot.site.house_ma, [10_000; 3]);
    assert_eq!(
        command(&commands, 0),
        22_000,
        "32 A less the 10 A house load"
    );
    // The next meter reading counts as it is, also when lower.
    site.record(1, Some(Ok(grid([22_000; 3]))), 1000);
    let (_, snapshot) = site.cycle(Now::mono(1000), 1000);
    assert_eq!(snapshot.site.house_ma, [6_000; 3]);
}

/// A wallbox with a meter whose counter reads `import_wh`.
fn metered(state: EvseState, import_wh: i64) -> Reading {
    Reading::Evse(EvseReading {
        state,
        charging_enabled: true,
        offered_ma: 16_000,
        cable_ma: 32_000,
        meter: Some(MeterReading {
            current_ma: [16_000; 3],
            voltage_v: [230; 3],
            import_wh,
            per_phase: true,
            ..MeterReading::default()
        }),
        fail_safe: FailSafe::default(),
        rfid: String::new(),
        inputs: 0,
        relay: None,
        transaction_start_wh: None,
    })
}

#[test]
fn a_closed_charge_logs_what_the_meter_or_the_soft_meter_counted() {
    // E1 has a meter; E2 has none: its soft meter integrates 16 A × 230 V
    // on three phases, 11.04 kW, for an hour (3 600 cycles of a second).
    let mut site = Site::new(SiteParams::default(), &[wallbox(1, ""), wallbox(2, "")], 0);
    site.record(0, Some(Ok(metered(EvseState::Charging, 10_000))), 0);
    site.record(1, Some(Ok(unmetered(EvseState::Charging))), 0);
    site.cycle(Now::mono(0), 1000);
    for n in 1..=3600 {
        let now = n * 1000;
        site.record(
            0,
            Some(Ok(metered(EvseState::Charging, 10_000 + n as i64))),
            now,
        );
        site.record(1, Some(Ok(unmetered(EvseState::Charging))), now);
        site.cycle(Now::mono(now), 1000);
    }
    assert!(site.take_events().0.is_empty(), "nothing closed yet");
    site.record(0, Some(Ok(metered(EvseState::Waiting, 13_600))), 3_601_000);
    site.record(1, Some(Ok(unmetered(EvseState::Waiting))), 3_601_000);
    site.cycle(Now::mono(3_601_000), 1000);
    let (closed, _) = site.take_events();
    let energy: Vec<_> = closed
        .iter()
        .map(|tx| (tx.dev_id.as_str(), tx.energy_start_wh, tx.energy_wh))
        .collect();
    assert_eq!(
        energy,
        [("E1", Some(10_000), 3_600), ("E2", Some(0), 11_040)]
    );
}

/// `reading` with the wallbox's word for where its transaction began.
fn with_transaction_start(reading: Reading, wh: i64) -> Reading {
    match reading {
        Reading::Evse(r) => Reading::Evse(EvseReading {
            transaction_start_wh: Some(wh),
            ..r
        }),
        other => other,
    }
}

#[test]
fn a_car_that_arrives_before_the_first_meter_values_is_charged_from_its_start() {
    // Both cars are seen before their wallboxes' meters were first read
    // (an OCPP charge point sends its first MeterValues after the car
    // arrived), both meters count 1000 Wh by then. E1 says nothing more: its
    // first reading is the start. E2 says where its transaction began
    // (OCPP's meterStart, 1000 Wh) before its first meter reading, 1200 Wh,
    // came: the meterStart counts.
    let mut site = Site::new(SiteParams::default(), &[wallbox(1, ""), wallbox(2, "")], 0);
    let hour = 3_600_000;
    site.record(0, Some(Ok(unmetered(EvseState::Present))), 0);
    site.record(1, Some(Ok(unmetered(EvseState::Present))), 0);
    site.cycle(Now::mono(0), 1000);
    site.record(0, Some(Ok(metered(EvseState::Present, 0))), 1000);
    site.record(
        1,
        Some(Ok(with_transaction_start(
            unmetered(EvseState::Charging),
            1000,
        ))),
        1000,
    );
    site.cycle(Now::mono(1000), 1000);
    assert_eq!(
        site.open_transactions()
            .iter()
            .map(|tx| tx.energy_start_wh)
            .collect::<Vec<_>>(),
        [Some(0), Some(1000)],
        "E1 counts from its soft meter until its meter is read (a meter at \
         0 Wh was not); the charge point's word counts for E2"
    );
    site.record(0, Some(Ok(metered(EvseState::Charging, 1000))), 2000);
    site.record(
        1,
        Some(Ok(with_transaction_start(
            metered(EvseState::Charging, 1200),
            1000,
        ))),
        2000,
    );
    site.cycle(Now::mono(2000), 1000);
    for (i, wh) in [(0, 4500), (1, 4500)] {
        site.record(i, Some(Ok(metered(EvseState::Charging, wh))), hour);
    }
    site.cycle(Now::mono(hour), 1000);
    for i in 0..2 {
        site.record(i, Some(Ok(metered(EvseState::Waiting, 4500))), hour + 1000);
    }
    site.cycle(Now::mono(hour + 1000), 1000);
    let (closed, _) = site.take_events();
    let energy: Vec<_> = closed
        .iter()
        .map(|tx| (tx.dev_id.as_str(), tx.energy_start_wh, tx.energy_wh))
        .collect();
    assert_eq!(energy, [("E1", Some(1000), 3500), ("E2", Some(1000), 3500)]);
}

#[test]
fn a_meter_start_of_0_is_a_counter_not_read_and_the_meter_counts() {
    // A charge point without a meter of its own sends meterStart 0; the
    // meter at the wallbox reads 5000 Wh when the car arrives.
    let mut site = Site::new(SiteParams::default(), &[wallbox(1, "")], 0);
    site.record(
        0,
        Some(Ok(with_transaction_start(
            metered(EvseState::Charging, 5000),
            0,
        ))),
        0,
    );
    site.cycle(Now::mono(0), 1000);
    let hour = 3_600_000;
    site.record(0, Some(Ok(metered(EvseState::Charging, 6000))), hour);
    site.cycle(Now::mono(hour), 1000);
    site.record(0, Some(Ok(metered(EvseState::Waiting, 6000))), hour + 1000);
    site.cycle(Now::mono(hour + 1000), 1000);
    let (closed, _) = site.take_events();
    let energy: Vec<_> = closed
        .iter()
        .map(|tx| (tx.energy_start_wh, tx.energy_wh))
        .collect();
    assert_eq!(energy, [(Some(5000), 1000)]);
}

#[test]
fn a_reconfigure_applies_the_new_limits_and_keeps_what_it_tracked() {
    let mut site = Site::new(SiteParams::default(), &[wallbox(1, ""), grid_meter()], 0);
    site.record(0, Some(Ok(charging([0; 3]))), 0);
    site.record(1, Some(Ok(grid([0; 3]))), 0);
    let (commands, _) = site.cycle(Now::mono(0), 1000);
    assert_eq!(command(&commands, 0), 32_000);
    // The wallbox's maximum and the site's limit become formulas. Nothing
    // is polled in between: the readings are kept.
    let params = SiteParams {
        max_total_current: crate::config::CurrentLimit::Formula("10000 + 10000".into()),
        ..SiteParams::default()
    };
    let e1 = device(
        "dev_id = \"E1\"\ndev_type = \"evse_powerbrain\"\naddress = \"evse\"\nmax_charging_cur = \"2 * 8000\"\n",
    );
    site.reconfigure(params.clone(), &[e1.clone(), grid_meter()], &[], 1000);
    let (commands, snapshot) = site.cycle(Now::mono(1000), 1000);
    assert_eq!(snapshot.site.max_total_ma, 20_000);
    assert_eq!(command(&commands, 0), 16_000, "the wallbox's formula");
    let e1_view = snapshot.evses[0].clone().unwrap_or_default();
    assert_eq!(
        e1_view.state,
        EvseState::Charging.code(),
        "its reading kept"
    );
    // A wallbox that was restarted starts afresh: no reading until polled.
    site.reconfigure(params, &[e1, grid_meter()], &["E1".to_string()], 2000);
    let (commands, snapshot) = site.cycle(Now::mono(2000), 1000);
    let e1_view = snapshot.evses[0].clone().unwrap_or_default();
    assert_eq!(e1_view.state, EvseState::Offline.code());
    assert!(command(&commands, 0) <= 0, "{commands:?}");
}

#[test]
fn a_reconfigure_applies_a_wallboxs_new_charging_rules() {
    let rule = |ma: i64| format!("charging_rules = [{{ current = {ma} }}]");
    let mut site = Site::new(
        SiteParams::default(),
        &[wallbox(1, &rule(10_000)), grid_meter()],
        0,
    );
    site.record(0, Some(Ok(charging([0; 3]))), 0);
    site.record(1, Some(Ok(grid([0; 3]))), 0);
    let (commands, _) = site.cycle(Now::mono(0), 1000);
    assert_eq!(command(&commands, 0), 10_000);
    // The same wallbox (same dev_id) with another rule.
    site.reconfigure(
        SiteParams::default(),
        &[wallbox(1, &rule(16_000)), grid_meter()],
        &[],
        1000,
    );
    let (commands, _) = site.cycle(Now::mono(1000), 1000);
    assert_eq!(command(&commands, 0), 16_000, "the new rule");
}

#[test]
fn a_reconfigure_keeps_each_devices_readings_by_its_dev_id() {
    // What was read of each wallbox: its draw on L1, per device in order.
    let drawn = |site: &mut Site, at: u64| {
        let (_, snapshot) = site.cycle(Now::mono(at), 1000);
        snapshot
            .evses
            .iter()
            .map(|v| v.as_ref().map_or(-1, |v| v.current_l1))
            .collect::<Vec<_>>()
    };
    let mut site = Site::new(SiteParams::default(), &[wallbox(1, ""), wallbox(2, "")], 0);
    site.record(0, Some(Ok(charging([7000; 3]))), 0);
    site.record(1, Some(Ok(charging([9000; 3]))), 0);
    assert_eq!(drawn(&mut site, 0), [7000, 9000]);
    // The same wallboxes in the other order: each keeps its own reading.
    let params = SiteParams::default();
    site.reconfigure(params.clone(), &[wallbox(2, ""), wallbox(1, "")], &[], 1000);
    assert_eq!(drawn(&mut site, 1000), [9000, 7000]);
    // E1 replaced by a new wallbox: nothing has been read of it.
    site.reconfigure(params.clone(), &[wallbox(2, ""), wallbox(3, "")], &[], 2000);
    assert_eq!(drawn(&mut site, 2000), [9000, 0]);
    // One more added at the end: all three are there.
    let all = [wallbox(2, ""), wallbox(3, ""), wallbox(4, "")];
    site.reconfigure(params, &all, &[], 3000);
    assert_eq!(drawn(&mut site, 3000), [9000, 0, 0]);
}

#[test]
fn the_largest_overdraw_is_shown_until_it_is_reset() {
    let mut site = Site::new(SiteParams::default(), &[wallbox(1, ""), grid_meter()], 0);
    site.record(0, Some(Ok(charging([0; 3]))), 0);
    site.record(1, Some(Ok(grid([40_000, 0, 0]))), 0);
    let (_, snapshot) = site.cycle(Now::mono(0), 1000);
    assert_eq!(snapshot.site.overdraft_cur, 8000, "40 A on L1 of 32 A");
    site.record(1, Some(Ok(grid([10_000, 0, 0]))), 1000);
    let (_, snapshot) = site.cycle(Now::mono(1000), 1000);
    assert_eq!(
        snapshot.site.overdraft_cur, 8000,
        "kept once the load falls"
    );
    site.reset_overdraft();
    let (_, snapshot) = site.cycle(Now::mono(2000), 1000);
    assert_eq!(snapshot.site.overdraft_cur, 0);
}

#[test]
fn without_a_grid_meter_the_surplus_is_production_less_consumption() {
    // PV makes 10 A per phase, the house uses 3 A per phase, a battery
    // discharges 2 A per phase. No grid meter: the surplus is what the
    // meters add up to; an "all" battery's discharge counts, a home
    // battery's does not. The rule charges at the surplus + 6 A.
    let surplus_with = |battery_role: u8| {
        let meter = |n: usize, role: u8| {
            device(&format!(
                "dev_id = \"M{n}\"\ndev_type = \"meter_sdm630\"\naddress = \"m{n}\"\nrole = {role}\n"
            ))
        };
        let rule = "charging_rules = [{ expr = \"GM.surplus.current + 6000\" }]";
        let mut site = Site::new(
            SiteParams::default(),
            &[
                wallbox(1, rule),
                meter(2, 2),
                meter(3, 1),
                meter(4, battery_role),
            ],
            0,
        );
        site.record(0, Some(Ok(charging([0; 3]))), 0);
        site.record(1, Some(Ok(grid([10_000; 3]))), 0);
        site.record(2, Some(Ok(grid([3000; 3]))), 0);
        site.record(3, Some(Ok(grid([-2000; 3]))), 0);
        let (commands, _) = site.cycle(Now::mono(0), 1000);
        command(&commands, 0) - 6000
    };
    assert_eq!(surplus_with(6), 9000);
    assert_eq!(surplus_with(5), 7000);
}

#[test]
fn a_card_the_wallbox_reads_authorises_its_car() {
    let users: Vec<crate::config::User> = serde_json::from_value(serde_json::json!([
        {"id": "anna", "dev_ids": ["E1"], "rfids": [{"id": "04AB"}]}
    ]))
    .unwrap();
    let mut site = Site::new(SiteParams::default(), &[wallbox(1, "")], 0);
    site.set_users(users);
    site.record(0, Some(Ok(charging([0; 3]))), 0);
    let (commands, _) = site.cycle(Now::mono(0), 1000);
    assert_eq!(command(&commands, 0), 0, "waits for a card");
    // The wallbox's own reader (Power Brain register 8096) shows the card.
    let mut with_card = charging([0; 3]);
    if let Reading::Evse(r) = &mut with_card {
        r.rfid = "04AB".into();
    }
    site.record(0, Some(Ok(with_card)), 1000);
    let (commands, _) = site.cycle(Now::mono(1000), 1000);
    assert_eq!(command(&commands, 0), 32_000, "authorised");
    let (_, notices) = site.take_events();
    assert_eq!(notices.len(), 1, "{notices:?}");
    assert!(notices[0].starts_with("E1: card 04AB: "), "{notices:?}");
}

#[test]
fn a_disabled_wallbox_takes_room_only_while_a_car_is_there() {
    // E1 is disabled and left at its minimum (policy 1): its car draws
    // 6 A outside the load management, so E2 gets what is left. Without a
    // car E1 draws nothing and E2 gets it all.
    let params = SiteParams {
        disable_policy: crate::config::DisablePolicy::Minimum,
        ..SiteParams::default()
    };
    let waiting = Reading::Evse(EvseReading {
        state: EvseState::Waiting,
        charging_enabled: true,
        offered_ma: 6000,
        cable_ma: 32_000,
        meter: None,
        fail_safe: FailSafe::default(),
        rfid: String::new(),
        inputs: 0,
        relay: None,
        transaction_start_wh: None,
    });
    for (e1, e2_gets) in [(charging([0; 3]), 26_000), (waiting, 32_000)] {
        let mut site = Site::new(
            params.clone(),
            &[wallbox(1, "device_enabled = false"), wallbox(2, "")],
            0,
        );
        site.record(0, Some(Ok(e1)), 0);
        site.record(1, Some(Ok(charging([0; 3]))), 0);
        let (commands, _) = site.cycle(Now::mono(0), 1000);
        assert_eq!(command(&commands, 1), e2_gets);
    }
}

#[test]
fn the_cable_limits_the_car_once_the_wallbox_reports_it() {
    // 0 is a wallbox that does not say what its cable takes.
    for (cable_ma, expected) in [(0, 32_000), (20_000, 20_000)] {
        let mut reading = charging([0; 3]);
        if let Reading::Evse(r) = &mut reading {
            r.cable_ma = cable_ma;
        }
        let mut site = Site::new(SiteParams::default(), &[wallbox(1, "")], 0);
        site.record(0, Some(Ok(reading)), 0);
        let (commands, _) = site.cycle(Now::mono(0), 1000);
        assert_eq!(command(&commands, 0), expected, "cable {cable_ma} mA");
    }
}

#[test]
fn a_surplus_rule_charges_with_what_goes_out_per_phase() {
    // 9 A per phase go out to the grid: a three-phase car may take 9 A.
    let rule = "charging_rules = [{ mode = 5 }]";
    let mut site = Site::new(SiteParams::default(), &[wallbox(1, rule), grid_meter()], 0);
    site.record(0, Some(Ok(charging([0; 3]))), 0);
    site.record(1, Some(Ok(grid([-9000; 3]))), 0);
    let (commands, snapshot) = site.cycle(Now::mono(0), 1000);
    assert_eq!(command(&commands, 0), 9000);
    let e1 = snapshot.evses[0].clone().unwrap_or_default();
    assert_eq!(
        (e1.rule_id.as_str(), e1.rule_current),
        ("E1/0", 9000),
        "{e1:?}"
    );
}

#[test]
fn a_rule_that_wishes_the_wallboxs_maximum_does_not_name_itself() {
    // The rule wishes 32 A, the wallbox's own maximum: that maximum is
    // what holds the car, and the reason says so.
    for (wish, reason) in [(32_000, "max_charging_cur"), (20_000, "charging rule")] {
        let rule = format!("charging_rules = [{{ mode = 0, current = {wish} }}]");
        let mut site = Site::new(SiteParams::default(), &[wallbox(1, &rule)], 0);
        site.record(0, Some(Ok(charging([0; 3]))), 0);
        let (commands, snapshot) = site.cycle(Now::mono(0), 1000);
        assert_eq!(command(&commands, 0), wish);
        let e1 = snapshot.evses[0].clone().unwrap_or_default();
        assert!(
            e1.lb_reason.to_string().starts_with(reason),
            "{wish}: {e1:?}"
        );
    }
}

#[test]
fn a_car_stopped_by_a_rule_shows_as_paused_with_the_time_it_has_waited() {
    let mut site = input_rule_site();
    let mut at = |inputs: u8, now: u64| {
        let (_, e1) = input_rule_cycle(&mut site, inputs, now);
        (e1.paused, e1.pause_time)
    };
    assert_eq!(at(1, 0), (false, 0), "charging");
    assert_eq!(
        at(0, 1000),
        (true, 0),
        "stopped by the rule: its pause starts"
    );
    assert_eq!(at(0, 31_000), (true, 30));
    assert_eq!(at(1, 400_000), (false, 0), "charging again");
}

#[test]
fn formulas_see_a_silent_wallboxs_last_draw_until_its_fault_time() {
    // As `a_silent_wallbox_counts_its_last_draw…`, read from the rule's
    // side: `GM.error` is E2's last draw (16 A) for three minutes, then its
    // fail-safe current (8 A).
    let rule = "charging_rules = [{ expr = \"GM.error.current_l2 == 8000 ? 32000 : 16000\" }]";
    let mut site = Site::new(
        SiteParams::default(),
        &[
            wallbox(1, rule),
            wallbox(2, "fail_safe_current = 8000"),
            grid_meter(),
        ],
        0,
    );
    let mut at = |now: u64| {
        site.record(0, Some(Ok(charging([10_000; 3]))), now);
        let e2 = if now == 0 {
            Ok(charging([16_000; 3]))
        } else {
            Err(DeviceError::Timeout(1000))
        };
        site.record(1, Some(e2), now);
        site.record(2, Some(Ok(grid([26_000; 3]))), now);
        let (_, snapshot) = site.cycle(Now::mono(now), 1000);
        snapshot.evses[0].clone().unwrap_or_default().rule_current
    };
    at(0);
    assert_eq!(at(1000), 16_000, "silent for a second: its last draw");
    assert_eq!(at(150_000), 16_000);
    assert_eq!(
        at(182_000),
        32_000,
        "after three minutes: its fail-safe current"
    );
}

#[test]
fn soft_meters_are_read_set_and_restored_by_dev_id() {
    let mut site = Site::new(SiteParams::default(), &[wallbox(1, ""), wallbox(2, "")], 0);
    assert!(site.soft_meters().is_empty(), "nothing counted yet");
    assert_eq!(
        site.soft_meter("E1", Some(1500)),
        Ok(0),
        "answers the old value"
    );
    assert_eq!(site.soft_meter("E1", None), Ok(1500));
    assert_eq!(
        site.soft_meter("E1", Some(-5)),
        Err("val: must not be negative".into())
    );
    assert_eq!(
        site.soft_meter("E1", None),
        Ok(1500),
        "a refused value changes nothing"
    );
    assert!(site.soft_meter("E9", None).is_err());
    // A meter at 0 Wh is not worth saving; one at 1 Wh is.
    site.soft_meter("E2", Some(1)).unwrap();
    let saved = site.soft_meters();
    assert_eq!(
        saved
            .iter()
            .map(|(k, v)| (k.as_str(), *v))
            .collect::<Vec<_>>(),
        [("E1", 1500), ("E2", 1)]
    );
    // After a restart: the soft meters and the open transaction come back,
    // and the car that is still there continues that transaction.
    let open = crate::charging_log::Transaction {
        dev_id: "E1".into(),
        start: 1_700_000_000,
        energy_start_wh: Some(1000),
        ..Default::default()
    };
    let mut site = Site::new(SiteParams::default(), &[wallbox(1, ""), wallbox(2, "")], 0);
    site.restore(&[open], &saved);
    assert_eq!(site.soft_meter("E2", None), Ok(1));
    site.record(0, Some(Ok(unmetered(EvseState::Charging))), 0);
    site.cycle(Now::mono(0), 1000);
    let open = site.open_transactions();
    assert_eq!(
        open.iter()
            .map(|tx| (tx.dev_id.as_str(), tx.start, tx.energy_start_wh))
            .collect::<Vec<_>>(),
        [("E1", 1_700_000_000, Some(1000))]
    );
}

#[test]
fn an_override_below_the_minimum_is_refused_the_minimum_itself_is_not() {
    use super::session::Who;
    let mut site = Site::new(
        SiteParams::default(),
        &[wallbox(1, "min_charging_cur = 6000")],
        0,
    );
    site.record(0, Some(Ok(charging([0; 3]))), 0);
    site.cycle(Now::mono(0), 1000);
    assert!(site
        .override_device("E1", "", Some(5900), &Who::Admin)
        .is_err_and(|e| e.contains("below E1's minimum of 6000 mA")));
    assert_eq!(
        site.override_device("E1", "", Some(6000), &Who::Admin),
        Ok(())
    );
    let (commands, _) = site.cycle(Now::mono(1000), 1000);
    assert_eq!(command(&commands, 0), 6000);
}

#[test]
fn an_inverted_meter_shows_its_counters_swapped_and_its_flow_negated() {
    let meter = device(
        "dev_id = \"M1\"\ndev_type = \"meter_sdm630\"\naddress = \"grid\"\nrole = 3\ninvert = true\n",
    );
    let mut site = Site::new(SiteParams::default(), &[meter], 0);
    let reading = Reading::Meter(MeterReading {
        current_ma: [1000, 2000, 3000],
        power_w: 1380,
        import_wh: 500,
        export_wh: 7000,
        per_phase: true,
        ..MeterReading::default()
    });
    site.record(0, Some(Ok(reading)), 0);
    let (_, snapshot) = site.cycle(Now::mono(0), 1000);
    let m1 = snapshot.meters[0].clone().unwrap_or_default();
    assert_eq!(
        (m1.import, m1.export, m1.power_w),
        (7000, 500, -1380),
        "{m1:?}"
    );
    assert_eq!(
        (m1.current_l1, m1.current_l2, m1.current_l3),
        (-1000, -2000, -3000)
    );
}

#[test]
fn a_wallbox_shows_its_draw_per_phase_and_none_before_it_answered() {
    let mut site = Site::new(SiteParams::default(), &[wallbox(1, ""), wallbox(2, "")], 0);
    site.record(0, Some(Ok(charging([1000, 2000, 3000]))), 0);
    // E2 never answered and was never given a current: it draws nothing.
    site.record(1, Some(Err(DeviceError::Timeout(1000))), 0);
    let (_, snapshot) = site.cycle(Now::mono(0), 1000);
    let view = |i: usize| {
        let e = snapshot.evses[i].clone().unwrap_or_default();
        (e.current_l1, e.current_l2, e.current_l3)
    };
    assert_eq!(view(0), (1000, 2000, 3000));
    assert_eq!(view(1), (0, 0, 0));
    assert_eq!(snapshot.site.evse_ma, [1000, 2000, 3000]);
}

#[test]
fn a_charge_is_logged_from_plug_in_to_unplug_by_the_wall_clock() {
    let mut site = Site::new(SiteParams::default(), &[wallbox(1, "")], 0);
    let at = |mono_ms: u64, wall_secs: u64| Now {
        wall_secs,
        ..Now::mono(mono_ms)
    };
    site.record(0, Some(Ok(metered(EvseState::Charging, 100))), 0);
    site.cycle(at(0, 1_800_000_000), 1000);
    site.record(0, Some(Ok(metered(EvseState::Waiting, 200))), 1000);
    site.cycle(at(1000, 1_800_003_600), 1000);
    let (closed, _) = site.take_events();
    let times: Vec<_> = closed.iter().map(|tx| (tx.start, tx.end)).collect();
    assert_eq!(times, [(1_800_000_000, 1_800_003_600)]);
}

#[test]
fn a_silent_wallbox_adds_nothing_to_its_soft_meter() {
    // Whether its car still charges is not known: the soft meter waits.
    let mut site = Site::new(SiteParams::default(), &[wallbox(1, "")], 0);
    site.record(0, Some(Ok(unmetered(EvseState::Charging))), 0);
    site.cycle(Now::mono(0), 1000);
    site.record(0, Some(Ok(unmetered(EvseState::Charging))), 3_600_000);
    site.cycle(Now::mono(3_600_000), 1000);
    let counted = site.soft_meter("E1", None).unwrap();
    assert_eq!(counted, 11_040, "an hour at 16 A on three phases");
    for n in 1..=60 {
        let now = 3_600_000 + n * 1000;
        site.record(0, Some(Err(DeviceError::Timeout(1000))), now);
        site.cycle(Now::mono(now), 1000);
    }
    assert_eq!(site.soft_meter("E1", None), Ok(counted));
}

#[test]
fn only_a_change_of_the_site_limit_or_reserve_delays_the_overdraft() {
    // A new limit gets ten seconds before an overdraw counts (the load
    // takes a moment to follow); any other change does not.
    for (reserve, counted) in [(0, 8000), (1000, 0)] {
        let mut site = Site::new(SiteParams::default(), &[wallbox(1, ""), grid_meter()], 0);
        let params = SiteParams {
            reserve_current: reserve,
            min_pause_time_s: 60,
            ..SiteParams::default()
        };
        site.reconfigure(params, &[wallbox(1, ""), grid_meter()], &[], 0);
        site.record(0, Some(Ok(charging([0; 3]))), 1000);
        site.record(1, Some(Ok(grid([40_000, 0, 0]))), 1000);
        let (_, snapshot) = site.cycle(Now::mono(1000), 1000);
        assert_eq!(snapshot.site.overdraft_cur, counted, "reserve {reserve}");
    }
}

#[test]
fn observation_mode_shows_whether_the_wallbox_itself_enables_charging() {
    let params = SiteParams {
        lb_enabled: false,
        ..SiteParams::default()
    };
    for enabled in [true, false] {
        let mut reading = charging([0; 3]);
        if let Reading::Evse(r) = &mut reading {
            r.charging_enabled = enabled;
        }
        let mut site = Site::new(params.clone(), &[wallbox(1, "")], 0);
        site.record(0, Some(Ok(reading)), 0);
        let (_, snapshot) = site.cycle(Now::mono(0), 1000);
        let e1 = snapshot.evses[0].clone().unwrap_or_default();
        assert_eq!(e1.charging_enabled, enabled);
        assert_eq!(e1.last_set_charging_cur, -1, "never set");
    }
}

#[test]
fn overrides_set_one_by_one_with_no_car_add_up() {
    use super::session::Who;
    let mut site = Site::new(SiteParams::default(), &[wallbox(1, "")], 0);
    site.record(0, Some(Ok(unmetered(EvseState::Waiting))), 0);
    site.cycle(Now::mono(0), 1000);
    site.override_device("E1", "C", None, &Who::Admin).unwrap();
    site.override_device("E1", "E", Some(8000), &Who::Admin)
        .unwrap();
    let (_, snapshot) = site.cycle(Now::mono(1000), 1000);
    let e1 = snapshot.evses[0].clone().unwrap_or_default();
    assert_eq!((e1.overrides, e1.ov_cur), (0b011, 8000), "both kept");
}

#[test]
fn a_silent_wallbox_shows_the_current_it_was_last_set_to() {
    let mut site = Site::new(SiteParams::default(), &[wallbox(1, "")], 0);
    site.record(0, Some(Ok(charging([0; 3]))), 0);
    let (commands, _) = site.cycle(Now::mono(0), 1000);
    assert_eq!(command(&commands, 0), 32_000);
    site.record(0, Some(Err(DeviceError::Timeout(1000))), 1000);
    let (commands, snapshot) = site.cycle(Now::mono(1000), 1000);
    assert_eq!(command(&commands, 0), -1, "nothing sent to it");
    let e1 = snapshot.evses[0].clone().unwrap_or_default();
    assert_eq!(e1.last_set_charging_cur, 32_000);
}

/// A wallbox without a meter of its own that shows the card `rfid`
/// (empty: none).
fn showing_card(state: EvseState, rfid: &str) -> Reading {
    match unmetered(state) {
        Reading::Evse(r) => Reading::Evse(EvseReading {
            rfid: rfid.into(),
            ..r
        }),
        other => other,
    }
}

#[test]
fn a_card_still_shown_after_its_car_left_does_not_authorise_the_next() {
    let users: Vec<crate::config::User> = serde_json::from_value(serde_json::json!([
        {"id": "anna", "dev_ids": ["E1"], "rfids": [{"id": "04AB"}]}
    ]))
    .unwrap();
    let mut site = Site::new(SiteParams::default(), &[wallbox(1, "")], 0);
    site.set_users(users);
    let mut t = 0;
    let mut step = |site: &mut Site, reading: Result<Reading, DeviceError>| {
        site.record(0, Some(reading), t);
        let (commands, snapshot) = site.cycle(Now::mono(t), 1000);
        t += 1000;
        let reason = snapshot.evses[0]
            .clone()
            .unwrap_or_default()
            .lb_reason
            .to_string();
        (command(&commands, 0), reason)
    };
    // A Power Brain reads anna's card (8096) for the first car.
    let (ma, _) = step(&mut site, Ok(showing_card(EvseState::Charging, "04AB")));
    assert!(ma > 0, "the card read authorises the car");
    // The car leaves; 8096 keeps the last card, and a failed read between
    // changes nothing.
    step(&mut site, Ok(showing_card(EvseState::Waiting, "04AB")));
    step(&mut site, Err(DeviceError::Timeout(1000)));
    // The next car is not authorised by the card still shown.
    let (ma, reason) = step(&mut site, Ok(showing_card(EvseState::Charging, "04AB")));
    assert_eq!(
        (ma, reason.as_str()),
        (0, "waiting for authorisation"),
        "a Power Brain's last card counts once"
    );
    // A wallbox that shows no card once its car left (an OCPP charge point)
    // presents the same card anew for the next car.
    step(&mut site, Ok(showing_card(EvseState::Waiting, "")));
    let (ma, _) = step(&mut site, Ok(showing_card(EvseState::Charging, "04AB")));
    assert!(ma > 0, "the card shown again authorises the next car");
}

#[test]
fn a_car_the_site_cannot_fit_waits_its_minimum_pause() {
    // 32 A site; E1's car charges until the house takes 28 A: the 4 A left
    // are below its minimum, so it pauses, and stays paused for
    // min_pause_time (300 s) even though the house load drops at once.
    let mut site = Site::new(SiteParams::default(), &[wallbox(1, ""), grid_meter()], 0);
    let mut at = |now: u64, car: i64, house: i64| {
        site.record(0, Some(Ok(charging([car; 3]))), now);
        site.record(1, Some(Ok(grid([car + house; 3]))), now);
        let (commands, snapshot) = site.cycle(Now::mono(now), 1000);
        let e1 = snapshot.evses[0].clone().unwrap_or_default();
        (command(&commands, 0), e1.lb_reason.to_string())
    };
    assert_eq!(at(0, 0, 0).0, 32_000);
    assert_eq!(at(1000, 16_000, 28_000).0, 0, "4 A left: paused");
    assert_eq!(
        at(2000, 0, 0),
        (0, "paused: 299 s left of its minimum pause".to_string()),
        "the house load dropped, but the pause holds"
    );
    assert_eq!(at(300_000, 0, 0).0, 0, "still within the pause");
    assert_eq!(
        at(301_000, 0, 0).0,
        32_000,
        "after the pause it charges again"
    );
}

#[test]
fn what_a_wallbox_reports_offering_widens_its_plausible_window() {
    // E1 is set to at most 16 A, but the wallbox itself offers 32 A (set by
    // hand, or its own limit is higher): a car drawing 30 A is then real,
    // and must count, or the site would be overallocated by it.
    let e1 = || {
        device("dev_id = \"E1\"\ndev_type = \"evse_powerbrain\"\naddress = \"evse\"\nmax_charging_cur = 16000\n")
    };
    let offering = |offered_ma: i64, current_ma: [i64; 3]| match charging(current_ma) {
        Reading::Evse(r) => Reading::Evse(EvseReading { offered_ma, ..r }),
        other => other,
    };
    let mut site = Site::new(SiteParams::default(), &[e1()], 0);
    assert!(site
        .record(0, Some(Ok(offering(32_000, [0; 3]))), 0)
        .is_none());
    assert!(
        site.record(0, Some(Ok(offering(32_000, [30_000; 3]))), 1000)
            .is_none(),
        "30 A under an offer of 32 A (plus 10 %) is plausible"
    );
    assert!(
        matches!(
            site.record(0, Some(Ok(offering(32_000, [36_000; 3]))), 2000),
            Some(DeviceError::Implausible(_))
        ),
        "36 A is beyond 32 A plus 10 %"
    );
    // Offering only its 16 A, the same 30 A cannot be true.
    let mut site = Site::new(SiteParams::default(), &[e1()], 0);
    assert!(site
        .record(0, Some(Ok(offering(16_000, [0; 3]))), 0)
        .is_none());
    assert!(matches!(
        site.record(0, Some(Ok(offering(16_000, [30_000; 3]))), 1000),
        Some(DeviceError::Implausible(_))
    ));
}

#[test]
fn the_house_load_comes_from_the_grid_meter_or_else_from_the_others() {
    let meter = |n: usize, role: u8| {
        device(&format!(
            "dev_id = \"M{n}\"\ndev_type = \"meter_sdm630\"\naddress = \"m{n}\"\nrole = {role}\n"
        ))
    };
    // No grid meter: the house uses 20 A per phase (consumption meter), PV
    // makes 8 A (production meter): 12 A of house load, 20 A for the car.
    let mut site = Site::new(
        SiteParams::default(),
        &[wallbox(1, ""), meter(2, 1), meter(3, 2)],
        0,
    );
    site.record(0, Some(Ok(charging([0; 3]))), 0);
    site.record(1, Some(Ok(grid([20_000; 3]))), 0);
    site.record(2, Some(Ok(grid([8000; 3]))), 0);
    let (commands, snapshot) = site.cycle(Now::mono(0), 1000);
    assert_eq!(command(&commands, 0), 20_000);
    assert_eq!(
        (snapshot.site.house_ma, snapshot.site.meter_stale),
        ([12_000; 3], false)
    );
    // With a grid meter, a production meter that never answered does not
    // matter: the grid meter alone gives the house load.
    let mut site = Site::new(
        SiteParams::default(),
        &[wallbox(1, ""), grid_meter(), meter(3, 2)],
        0,
    );
    site.record(0, Some(Ok(charging([0; 3]))), 0);
    site.record(1, Some(Ok(grid([10_000; 3]))), 0);
    let (commands, snapshot) = site.cycle(Now::mono(0), 1000);
    assert_eq!(
        command(&commands, 0),
        22_000,
        "not the minimum of a stale site"
    );
    assert_eq!(
        (snapshot.site.house_ma, snapshot.site.meter_stale),
        ([10_000; 3], false)
    );
}

#[test]
fn a_meter_made_the_grid_meter_is_not_read_with_its_old_role() {
    // M2 measures the house (consumption, 20 A); E1's car draws 10 A.
    let m2 = |role: u8| {
        device(&format!(
            "dev_id = \"M2\"\ndev_type = \"meter_sdm630\"\naddress = \"m2\"\nrole = {role}\n"
        ))
    };
    let mut site = Site::new(SiteParams::default(), &[wallbox(1, ""), m2(1)], 0);
    site.record(0, Some(Ok(charging([10_000; 3]))), 0);
    site.record(1, Some(Ok(grid([20_000; 3]))), 0);
    let (commands, _) = site.cycle(Now::mono(0), 1000);
    assert_eq!(command(&commands, 0), 12_000);
    // M2 becomes the grid meter, and misses its next poll: its reading
    // (20 A, the car's 10 A included) is read as a grid meter's, 10 A of
    // house load, not as the 20 A it meant as a consumption meter.
    site.reconfigure(SiteParams::default(), &[wallbox(1, ""), m2(3)], &[], 500);
    site.record(0, Some(Ok(charging([10_000; 3]))), 1000);
    let (commands, snapshot) = site.cycle(Now::mono(1000), 1000);
    assert_eq!(snapshot.site.house_ma, [10_000; 3]);
    assert_eq!(command(&commands, 0), 22_000);
}

#[test]
fn a_rule_that_wishes_the_minimum_charges_at_the_minimum() {
    // A wish of exactly the car's minimum (6 A) charges it; only less stops it.
    for (wish, expected) in [(6000, 6000), (5999, 0)] {
        let rules = format!("charging_rules = [{{ current = {wish} }}]");
        let mut site = Site::new(SiteParams::default(), &[wallbox(1, &rules)], 0);
        site.record(0, Some(Ok(charging([0; 3]))), 0);
        let (commands, snapshot) = site.cycle(Now::mono(0), 1000);
        let e1 = snapshot.evses[0].clone().unwrap_or_default();
        assert_eq!(
            command(&commands, 0),
            expected,
            "{wish} mA wished: {}",
            e1.lb_reason
        );
    }
}

#[test]
fn pb_inputs_are_the_power_brains_not_another_wallboxs() {
    // E1 is pushed over HTTP and declared first; PB.… names the Power
    // Brain's (E2's) inputs.
    let e1 = device(
        "dev_id = \"E1\"\ndev_type = \"evse_ajax\"\naddress = \"\"\nmax_charging_cur = 32000\ncharging_rules = [{ expr = \"PB.input2 && !PB.input1 ? 7000 : 0\" }]\n",
    );
    let mut site = Site::new(SiteParams::default(), &[e1, wallbox(2, "")], 0);
    let with_inputs = |inputs: u8| match charging([0; 3]) {
        Reading::Evse(r) => Reading::Evse(EvseReading { inputs, ..r }),
        other => other,
    };
    site.record(0, Some(Ok(with_inputs(0b01))), 0);
    site.record(1, Some(Ok(with_inputs(0b10))), 0);
    let (commands, _) = site.cycle(Now::mono(0), 1000);
    assert_eq!(command(&commands, 0), 7000);
}

#[test]
fn the_snapshot_shows_the_parameters_in_force() {
    let params = SiteParams {
        max_total_current: 25_000.into(),
        reserve_current: 1000,
        ..SiteParams::default()
    };
    let mut site = Site::new(SiteParams::default(), &[wallbox(1, "")], 0);
    site.reconfigure(params.clone(), &[wallbox(1, "")], &[], 0);
    let (_, snapshot) = site.cycle(Now::mono(0), 1000);
    assert_eq!(snapshot.params, params);
}

#[test]
fn dimmed_three_wallboxes_share_the_regulated_minimum_for_three() {
    // Three three-phase cars at 16 A; the grid operator dims the site.
    // BK6-22-300's minimum for three devices behind one energy manager:
    // 4.2 kW + 2 × 0.75 × 4.2 kW = 10.5 kW. Two minimums (4.14 kW each)
    // fit in it, three do not: two cars share it, the third waits.
    let mut site = Site::new(
        SiteParams::default(),
        &[wallbox(1, ""), wallbox(2, ""), wallbox(3, ""), grid_meter()],
        0,
    );
    site.set_grid_dimming(true);
    for i in 0..3 {
        site.record(i, Some(Ok(charging([16_000; 3]))), 0);
    }
    site.record(3, Some(Ok(grid([48_000; 3]))), 0);
    let (commands, snapshot) = site.cycle(Now::mono(0), 1000);
    assert!(snapshot.site.grid_dimming.active);
    assert_eq!(snapshot.site.grid_dimming.limit_w, 10_500);
    let got: Vec<i64> = (0..3).map(|i| command(&commands, i).max(0)).collect();
    let charging: Vec<i64> = got.iter().copied().filter(|&ma| ma > 0).collect();
    assert_eq!(charging.len(), 2, "{got:?}");
    let watts: i64 = charging.iter().map(|ma| ma * 3 * 230 / 1000).sum();
    // All of it, less the rounding of each car to 100 mA on three phases.
    assert!(
        (10_500 - 2 * 69..=10_500).contains(&watts),
        "{watts} W: {got:?}"
    );
    let waiting = got.iter().position(|&ma| ma == 0).unwrap();
    assert_eq!(
        snapshot.evses[waiting]
            .as_ref()
            .map(|v| v.lb_reason.to_string()),
        Some("§14a: dimmed, 10500 W for all wallboxes".to_string())
    );
}

#[test]
fn a_silent_wallbox_without_a_meter_counts_at_what_it_was_last_set_to() {
    // Neither wallbox has a meter of its own; no grid meter. They share the
    // 32 A; then E2 falls silent: it may still be drawing its 16 A.
    let mut site = Site::new(SiteParams::default(), &[wallbox(1, ""), wallbox(2, "")], 0);
    for i in 0..2 {
        site.record(i, Some(Ok(unmetered(EvseState::Charging))), 0);
    }
    let (commands, _) = site.cycle(Now::mono(0), 1000);
    assert_eq!(
        (command(&commands, 0), command(&commands, 1)),
        (16_000, 16_000)
    );
    site.record(0, Some(Ok(unmetered(EvseState::Charging))), 1000);
    site.record(1, Some(Err(DeviceError::Timeout(1000))), 1000);
    let (commands, snapshot) = site.cycle(Now::mono(1000), 1000);
    assert_eq!(command(&commands, 0), 16_000, "not the 32 A of an idle E2");
    assert_eq!(snapshot.site.evse_ma, [32_000; 3]);
}

#[test]
fn a_silent_wallbox_counts_its_last_draw_until_its_fault_time() {
    // No grid meter (nothing measures what E2 really draws): E2 drew 16 A
    // and falls silent; until evse_fault_after (180 s) it is counted at
    // 16 A, then at its fail-safe current (8 A).
    let mut site = Site::new(
        SiteParams::default(),
        &[wallbox(1, ""), wallbox(2, "fail_safe_current = 8000")],
        0,
    );
    let mut at = |now: u64, e2: Result<Reading, DeviceError>| {
        site.record(0, Some(Ok(charging([16_000; 3]))), now);
        site.record(1, Some(e2), now);
        let (commands, _) = site.cycle(Now::mono(now), 1000);
        command(&commands, 0)
    };
    assert_eq!(at(0, Ok(charging([16_000; 3]))), 16_000);
    let silent = || Err(DeviceError::Timeout(1000));
    assert_eq!(at(1000, silent()), 16_000, "E2 still counts at 16 A");
    assert_eq!(at(180_000, silent()), 16_000, "within the fault time");
    assert_eq!(at(182_000, silent()), 24_000, "then at its fail-safe 8 A");
}

#[test]
fn a_solar_rule_charges_with_the_solar_current_per_phase() {
    // PV makes 10 A on each phase (30 A in all); a three-phase car on a
    // solar rule (mode 2) charges with 10 A.
    let pv = device("dev_id = \"M2\"\ndev_type = \"meter_sdm630\"\naddress = \"pv\"\nrole = 2\n");
    let rule = "charging_rules = [{ mode = 2 }]";
    let mut site = Site::new(SiteParams::default(), &[wallbox(1, rule), pv], 0);
    site.record(0, Some(Ok(charging([0; 3]))), 0);
    site.record(1, Some(Ok(grid([10_000; 3]))), 0);
    let (commands, _) = site.cycle(Now::mono(0), 1000);
    assert_eq!(command(&commands, 0), 10_000);
}

#[test]
fn a_cards_phases_and_any_more_the_meter_shows_are_counted() {
    // Anna's card says her car charges on L2; E1's meter shows it.
    let users: Vec<crate::config::User> = serde_json::from_value(serde_json::json!([
        {"id": "anna", "dev_ids": ["E1"], "rfids": [{"id": "04AB", "used_phases": 2}]}
    ]))
    .unwrap();
    let mut site = Site::new(SiteParams::default(), &[wallbox(1, "")], 0);
    site.set_users(users);
    site.record(0, Some(Ok(charging([0; 3]))), 0);
    site.cycle(Now::mono(0), 1000);
    site.present_rfid(Some("E1"), "04AB").expect("anna's card");
    site.record(0, Some(Ok(charging([0, 10_000, 0]))), 1000);
    let (_, snapshot) = site.cycle(Now::mono(1000), 1000);
    let phases = |s: &super::Snapshot| s.evses[0].as_ref().map(|v| v.phases);
    assert_eq!(phases(&snapshot), Some(0b010), "the card's L2, as measured");
    // The meter shows it drawing on L1 as well: counted on both.
    site.record(0, Some(Ok(charging([10_000, 10_000, 0]))), 2000);
    let (_, snapshot) = site.cycle(Now::mono(2000), 1000);
    assert_eq!(phases(&snapshot), Some(0b011));
}

#[test]
fn a_grid_dimming_formula_dims_the_site_while_it_holds() {
    // The grid operator's control box switches E1's input 1.
    let params = SiteParams {
        grid_dimming_formula: "E1.input1".into(),
        ..SiteParams::default()
    };
    let mut site = Site::new(params, &[wallbox(1, "")], 0);
    let with_input = |inputs: u8| match charging([16_000; 3]) {
        Reading::Evse(r) => Reading::Evse(EvseReading { inputs, ..r }),
        other => other,
    };
    site.record(0, Some(Ok(with_input(0))), 0);
    let (commands, snapshot) = site.cycle(Now::mono(0), 1000);
    assert_eq!(command(&commands, 0), 32_000);
    assert!(!snapshot.site.grid_dimming.active);
    site.record(0, Some(Ok(with_input(1))), 1000);
    let (commands, snapshot) = site.cycle(Now::mono(1000), 1000);
    // One device keeps 4.2 kW: 6.0 A on three phases at 230 V.
    assert_eq!(command(&commands, 0), 6000);
    let dimming = &snapshot.site.grid_dimming;
    assert_eq!(
        (dimming.active, dimming.source.as_str(), dimming.limit_w),
        (true, "formula", 4200)
    );
    let events = site.take_dimming_events();
    assert_eq!(events.len(), 1, "{events:?}");
    assert!(events[0].ends_with(",start,formula,4200\n"), "{events:?}");
    // The formula taken out of the settings: no longer dimmed.
    site.reconfigure(SiteParams::default(), &[wallbox(1, "")], &[], 2000);
    site.record(0, Some(Ok(with_input(1))), 2000);
    let (commands, snapshot) = site.cycle(Now::mono(2000), 1000);
    assert_eq!(command(&commands, 0), 32_000);
    assert!(!snapshot.site.grid_dimming.active);
}

#[test]
fn an_auto_wallbox_switches_to_one_phase_for_a_surplus_too_small_for_three() {
    // PV makes 3 A on each phase, 9 A in all: under a solar rule a
    // three-phase car (6 A minimum) cannot charge, on one phase it can.
    // Also where the wallbox does not say what its cable takes (0).
    for cable_ma in [0, 32_000] {
        let pv =
            device("dev_id = \"M2\"\ndev_type = \"meter_sdm630\"\naddress = \"pv\"\nrole = 2\n");
        let e1 = wallbox(
            1,
            "charging_rules = [{ mode = 2 }]\nphase_switching = \"auto\"\n",
        );
        let mut site = Site::new(SiteParams::default(), &[e1, pv], 0);
        let reading = || match charging([0; 3]) {
            Reading::Evse(r) => Reading::Evse(EvseReading {
                cable_ma,
                relay: Some(crate::drivers::Relay {
                    one_phase: false,
                    switch_allowed: true,
                    cp_off_s: 0,
                }),
                ..r
            }),
            other => other,
        };
        let mut one_phase = None;
        for now in [0, 1000] {
            site.record(0, Some(Ok(reading())), now);
            site.record(1, Some(Ok(grid([3000; 3]))), now);
            let (commands, _) = site.cycle(Now::mono(now), 1000);
            one_phase = commands
                .iter()
                .find(|c| c.device == 0)
                .and_then(|c| c.one_phase);
        }
        assert_eq!(one_phase, Some(true), "cable {cable_ma} mA");
    }
}

/// `reading` from a wallbox whose 1p/3p relay is on one phase or on three.
fn with_relay(reading: Reading, one_phase: bool) -> Reading {
    match reading {
        Reading::Evse(r) => Reading::Evse(EvseReading {
            relay: Some(crate::drivers::Relay {
                one_phase,
                switch_allowed: true,
                cp_off_s: 0,
            }),
            ..r
        }),
        other => other,
    }
}

#[test]
fn a_relay_still_on_three_phases_during_the_switch_pause_is_not_taken_as_switched_back() {
    // A small surplus (3 A per phase) switches E1 to one phase; its
    // contactors change during the 120 s pause, and until they have, it
    // reports three phases still.
    let mut site = switched_to_one_phase_at_1000(120);
    let (one_phase, _, reason) = relay_cycle(&mut site, Some(false), true, 2000);
    assert_eq!(one_phase, None);
    assert_eq!(reason, "paused: switching to 1p, 119 s left");
}

#[test]
fn a_wallbox_set_to_one_phase_stays_on_one_phase_while_empty() {
    let e1 = wallbox(1, "phase_switching = \"1p\"\nphase_switch_pause_s = 1\n");
    let mut site = Site::new(SiteParams::default(), &[e1], 0);
    let mut relay_one = false;
    let mut writes = Vec::new();
    for now in (0..10).map(|s| s * 1000) {
        let empty = with_relay(unmetered(EvseState::Waiting), relay_one);
        site.record(0, Some(Ok(empty)), now);
        let (commands, _) = site.cycle(Now::mono(now), 1000);
        if let Some(one) = commands
            .iter()
            .find(|c| c.device == 0)
            .and_then(|c| c.one_phase)
        {
            writes.push((now, one));
            relay_one = one;
        }
    }
    assert_eq!(writes, vec![(0, true)], "set to one phase once, and left");
}

#[test]
fn an_idle_car_is_woken_once_and_never_where_wake_up_is_off() {
    // Two cars plugged in that do not start while offered 16 A; E2 has
    // `wake_up` turned off (it is on by default).
    let mut site = Site::new(
        SiteParams::default(),
        &[wallbox(1, ""), wallbox(2, "wake_up = false")],
        0,
    );
    let mut woken = Vec::new();
    for now in (0..=70).map(|s| s * 5000) {
        for i in 0..2 {
            site.record(i, Some(Ok(unmetered(EvseState::Present))), now);
        }
        let (commands, _) = site.cycle(Now::mono(now), 1000);
        for c in commands.iter().filter(|c| c.wake) {
            woken.push((c.device, now));
        }
    }
    let after = crate::phases::wake::WAKE_AFTER_MS;
    assert_eq!(woken, vec![(0, after)]);
}

#[test]
fn a_charge_point_asks_about_a_card_against_the_users_set_last() {
    use crate::supervisor::cards::card_accepted;
    let mut site = Site::new(SiteParams::default(), &[wallbox(1, "")], 0);
    let users: Vec<crate::config::User> = serde_json::from_value(serde_json::json!([
        {"id": "anna", "dev_ids": ["E1"], "rfids": [{"id": "04AB"}]}
    ]))
    .unwrap();
    site.set_users(users);
    assert_eq!(card_accepted(site.users(), "E1", "04AB"), Ok("anna".into()));
    site.set_users(Vec::new());
    assert!(card_accepted(site.users(), "E1", "04AB").is_err());
}

/// Runs the site a second a cycle for `seconds`, E1's (device 0) relay
/// following what it is told; `record` reads the devices for a cycle (E1's
/// relay on one phase or not). Answers where E1's relay ended and its
/// last reason.
fn follow_relay(
    site: &mut Site,
    seconds: u64,
    record: impl Fn(&mut Site, bool, u64),
) -> (bool, String) {
    let mut relay_one = false;
    let mut reason = String::new();
    for now in (0..seconds).map(|s| s * 1000) {
        record(site, relay_one, now);
        let (commands, snapshot) = site.cycle(Now::mono(now), 1000);
        if let Some(one) = commands
            .iter()
            .find(|c| c.device == 0)
            .and_then(|c| c.one_phase)
        {
            relay_one = one;
        }
        reason = snapshot.evses[0]
            .clone()
            .unwrap_or_default()
            .lb_reason
            .to_string();
    }
    (relay_one, reason)
}

#[test]
fn on_one_phase_an_auto_wallbox_is_offered_no_more_than_its_cable_takes() {
    // L2 and L3 are nearly full, L1 is free: three phases do not fit, one
    // does, but the cable takes 16 A.
    let e1 = wallbox(
        1,
        "phase_switching = \"auto\"\nphase_switch_pause_s = 1\nphase_rotation = 0\n",
    );
    let params = SiteParams {
        max_imbalance: 0,
        ..SiteParams::default()
    };
    let mut site = Site::new(params, &[e1, grid_meter()], 0);
    let (relay_one, reason) = follow_relay(&mut site, 10, |site, relay_one, now| {
        let reading = match with_relay(charging([0; 3]), relay_one) {
            Reading::Evse(r) => Reading::Evse(EvseReading {
                cable_ma: 16_000,
                ..r
            }),
            other => other,
        };
        site.record(0, Some(Ok(reading)), now);
        site.record(1, Some(Ok(grid([0, 28_000, 28_000]))), now);
    });
    assert!(relay_one, "switched to one phase");
    assert_eq!(reason, "1p: phase full for 3p, 16.0 A on 1p");
}

#[test]
fn a_wallbox_without_a_meter_counts_as_drawing_only_while_it_charges() {
    let mut site = Site::new(SiteParams::default(), &[wallbox(1, ""), grid_meter()], 0);
    // A car plugged in, not charging yet, offered 16 A: the grid's 20 A
    // are all the house's.
    site.record(0, Some(Ok(unmetered(EvseState::Present))), 0);
    site.record(1, Some(Ok(grid([20_000; 3]))), 0);
    let (commands, snapshot) = site.cycle(Now::mono(0), 1000);
    assert_eq!(snapshot.site.house_ma, [20_000; 3]);
    assert_eq!(command(&commands, 0), 12_000);
    // Charging, it counts at what it is offered.
    site.record(0, Some(Ok(unmetered(EvseState::Charging))), 1000);
    site.record(1, Some(Ok(grid([20_000; 3]))), 1000);
    let (_, snapshot) = site.cycle(Now::mono(1000), 1000);
    assert_eq!(snapshot.site.house_ma, [4000; 3]);
}

#[test]
fn the_metrics_see_how_long_each_step_of_the_last_cycle_took() {
    let mut site = Site::new(SiteParams::default(), &[wallbox(1, ""), grid_meter()], 0);
    site.record(0, Some(Ok(charging([0; 3]))), 0);
    site.record(1, Some(Ok(grid([0; 3]))), 0);
    let began = std::time::Instant::now();
    site.cycle(Now::mono(0), 1000);
    let took = began.elapsed();
    let steps = site.steps();
    let each = [steps.budget, steps.limits, steps.allocation, steps.views];
    assert!(each.iter().all(|t| !t.is_zero()), "{steps:?}");
    assert!(
        each.iter().sum::<std::time::Duration>() <= took,
        "{steps:?}"
    );
}

#[test]
fn a_dimming_formula_that_cannot_be_evaluated_keeps_its_last_verdict() {
    let params = SiteParams {
        grid_dimming_formula: "E1.input1".into(),
        ..SiteParams::default()
    };
    let mut site = Site::new(params.clone(), &[wallbox(1, "")], 0);
    let with_input = |inputs: u8| match charging([16_000; 3]) {
        Reading::Evse(r) => Reading::Evse(EvseReading { inputs, ..r }),
        other => other,
    };
    let dimmed = |site: &mut Site, input: Option<u8>, now: u64| {
        if let Some(input) = input {
            site.record(0, Some(Ok(with_input(input))), now);
        }
        let (_, snapshot) = site.cycle(Now::mono(now), 1000);
        snapshot.site.grid_dimming.active
    };
    assert!(dimmed(&mut site, Some(1), 0));
    assert!(!dimmed(&mut site, Some(0), 1000));
    // E1 restarted: nothing read of it yet, the formula cannot be
    // evaluated. It stays as it was: not dimmed.
    site.reconfigure(params, &[wallbox(1, "")], &["E1".to_string()], 2000);
    assert!(!dimmed(&mut site, None, 2000));
}

#[test]
fn while_dimmed_a_disabled_wallboxs_draw_comes_off_the_regulated_power() {
    // E2 is disabled with the policy "minimum": it draws 6 A on three
    // phases uncontrolled, 4140 W at 230 V, of the 7560 W two wallboxes
    // keep while dimmed. 3420 W are left for E1's one-phase car: 14.8 A.
    let mut site = Site::new(
        SiteParams {
            grid_dimming_formula: "1".into(),
            disable_policy: crate::config::DisablePolicy::Minimum,
            ..SiteParams::default()
        },
        &[
            wallbox(1, "used_phases = 1"),
            wallbox(2, "device_enabled = false"),
        ],
        0,
    );
    site.record(0, Some(Ok(charging([0; 3]))), 0);
    site.record(1, Some(Ok(charging([0; 3]))), 0);
    let (commands, snapshot) = site.cycle(Now::mono(0), 1000);
    let limit_w = snapshot.site.grid_dimming.limit_w;
    assert_eq!(command(&commands, 1), 6000);
    assert_eq!(limit_w, 7560);
    assert_eq!(command(&commands, 0), 14_800);
}

#[test]
fn while_dimmed_a_car_below_its_share_is_not_said_to_be_dimmed() {
    // One wallbox keeps 4200 W; a car at its maximum of 6 A on three
    // phases takes 4140 W: the maximum holds it, not the dimming.
    let mut site = Site::new(
        SiteParams {
            grid_dimming_formula: "1".into(),
            ..SiteParams::default()
        },
        &[device(
            "dev_id = \"E1\"\ndev_type = \"evse_powerbrain\"\naddress = \"evse\"\nmax_charging_cur = 6000\n",
        )],
        0,
    );
    site.record(0, Some(Ok(charging([0; 3]))), 0);
    let (commands, snapshot) = site.cycle(Now::mono(0), 1000);
    assert_eq!(command(&commands, 0), 6000);
    let reason = snapshot.evses[0]
        .clone()
        .unwrap_or_default()
        .lb_reason
        .to_string();
    assert!(!reason.contains("dimmed"), "{reason}");
}

/// Whether an `auto` wallbox charging nothing yet is switched to one phase
/// once its user is known, the site reading `meter` (a grid meter's or a PV
/// meter's currents), the car's user (`anna`, with `user_rules`)
/// authorised, with the override `flags` set.
fn switched_to_one_phase(
    e1: Arc<DeviceSettings>,
    meter: (Arc<DeviceSettings>, [i64; 3]),
    user_rules: serde_json::Value,
    flags: &str,
) -> bool {
    let mut site = Site::new(SiteParams::default(), &[e1, meter.0], 0);
    let users: Vec<crate::config::User> = serde_json::from_value(serde_json::json!([
        {"id": "anna", "dev_ids": ["E1"], "rfids": [{"id": "04AB"}], "charging_rules": user_rules}
    ]))
    .unwrap();
    site.set_users(users);
    let mut one_phase = None;
    for now in [0, 1000, 2000] {
        site.record(0, Some(Ok(with_relay(charging([0; 3]), false))), now);
        site.record(1, Some(Ok(grid(meter.1))), now);
        if now == 1000 {
            // The car is there: the card and the override are for it.
            site.present_rfid(Some("E1"), "04AB").unwrap();
            if !flags.is_empty() {
                site.override_device("E1", flags, None, &crate::supervisor::Who::Admin)
                    .unwrap();
            }
        }
        let (commands, _) = site.cycle(Now::mono(now), 1000);
        one_phase = one_phase.or(commands
            .iter()
            .find(|c| c.device == 0 && now > 0)
            .and_then(|c| c.one_phase));
    }
    one_phase == Some(true)
}

#[test]
fn a_surplus_too_small_for_three_phases_switches_an_auto_wallbox_to_one() {
    // 3 A go out on each phase, 9 A in all: on three phases the surplus
    // rule wishes 3 A (under the 6 A minimum), on one phase 9 A.
    let e1 = wallbox(
        1,
        "charging_rules = [{ mode = 5 }]\nphase_switching = \"auto\"\n",
    );
    assert!(switched_to_one_phase(
        e1,
        (grid_meter(), [-3000; 3]),
        serde_json::json!([]),
        ""
    ));
}

#[test]
fn a_users_solar_rule_switches_an_auto_wallbox_unless_the_users_rules_are_off() {
    // PV makes 3 A on each phase; the rule is the user's (solar only).
    let pv =
        || device("dev_id = \"M2\"\ndev_type = \"meter_sdm630\"\naddress = \"pv\"\nrole = 2\n");
    let e1 = || wallbox(1, "phase_switching = \"auto\"\n");
    let solar = || serde_json::json!([{"mode": 2}]);
    assert!(switched_to_one_phase(e1(), (pv(), [3000; 3]), solar(), ""));
    assert!(
        !switched_to_one_phase(e1(), (pv(), [3000; 3]), solar(), "U"),
        "with the user's rules off it charges at full power on three"
    );
}

#[test]
fn a_wallbox_without_rules_shows_no_rule_current() {
    let mut site = Site::new(SiteParams::default(), &[wallbox(1, "")], 0);
    site.record(0, Some(Ok(charging([0; 3]))), 0);
    let (_, snapshot) = site.cycle(Now::mono(0), 1000);
    let e1 = snapshot.evses[0].clone().unwrap_or_default();
    assert_eq!((e1.rule_id.as_str(), e1.rule_current), ("", -1));
}

#[test]
fn a_wallbox_that_cannot_wake_a_car_is_never_told_to() {
    // An HTTP-input wallbox (no wake-up the daemon can send), an idle car.
    let ajax = device(
        "dev_id = \"E1\"\ndev_type = \"evse_ajax\"\naddress = \"\"\nmax_charging_cur = 32000\n",
    );
    let mut site = Site::new(SiteParams::default(), &[ajax], 0);
    for now in (0..=70).map(|s| s * 5000) {
        site.record(0, Some(Ok(unmetered(EvseState::Present))), now);
        let (commands, _) = site.cycle(Now::mono(now), 1000);
        assert!(commands.iter().all(|c| !c.wake), "at {now}: {commands:?}");
    }
}

/// One cycle of a switchable wallbox E1 (alone, or with a PV meter making
/// 3 A per phase): its relay on one phase or not, or silent (`None`); the
/// car there or not. Answers the relay write and the phases and reason it
/// shows.
fn relay_cycle(
    site: &mut Site,
    relay_one: Option<bool>,
    car: bool,
    now: u64,
) -> (Option<bool>, u8, String) {
    let state = if car {
        EvseState::Charging
    } else {
        EvseState::Waiting
    };
    let reading = relay_one.map(|one| with_relay(unmetered(state), one));
    site.record(0, Some(reading.ok_or(DeviceError::Timeout(1000))), now);
    if site.devices.len() > 1 {
        site.record(1, Some(Ok(grid([3000; 3]))), now);
    }
    let (commands, snapshot) = site.cycle(Now::mono(now), 1000);
    let write = commands
        .iter()
        .find(|c| c.device == 0)
        .and_then(|c| c.one_phase);
    let view = snapshot.evses[0].clone().unwrap_or_default();
    (write, view.phases, view.lb_reason.to_string())
}

/// E1 with a solar rule, `auto`, its relay on three phases, and 3 A of
/// sun per phase: switched to one phase at 1000 ms (the pause
/// `pause_s` long).
fn switched_to_one_phase_at_1000(pause_s: u64) -> Site {
    let pv = device("dev_id = \"M2\"\ndev_type = \"meter_sdm630\"\naddress = \"pv\"\nrole = 2\n");
    let e1 = wallbox(
        1,
        &format!(
            "charging_rules = [{{ mode = 2 }}]\nphase_switching = \"auto\"\nphase_switch_pause_s = {pause_s}\n"
        ),
    );
    let mut site = Site::new(SiteParams::default(), &[e1, pv], 0);
    relay_cycle(&mut site, Some(false), true, 0);
    let (write, ..) = relay_cycle(&mut site, Some(false), true, 1000);
    assert_eq!(write, Some(true), "the switch to one phase");
    site
}

#[test]
fn a_car_is_counted_on_one_phase_only_once_the_relay_reports_it() {
    let mut site = switched_to_one_phase_at_1000(5);
    // Still on three phases during the pause: counted on three.
    let (_, phases, reason) = relay_cycle(&mut site, Some(false), true, 2000);
    assert_eq!(phases, 0b111, "{reason}");
    let (_, phases, reason) = relay_cycle(&mut site, Some(true), true, 3000);
    assert_eq!(phases, 0b001, "{reason}");
}

#[test]
fn a_relay_that_has_not_switched_when_the_pause_ends_is_taken_as_it_is() {
    let mut site = switched_to_one_phase_at_1000(1);
    // The pause ends at 2000 with the relay still on three phases: it is
    // taken as on three phases, and switching again waits its interval.
    let (write, phases, reason) = relay_cycle(&mut site, Some(false), true, 2000);
    assert_eq!(
        (write, phases, reason.as_str()),
        (None, 0b111, "1p blocked: switched 0 min ago")
    );
}

/// The relay writes to E1 (its relay following them) when its car is
/// told by the admin at 0 ms to charge on one phase; the car leaves at
/// `leaves_at`; the override is turned off at `off_at`, if at all.
fn relay_writes_after_an_override_to_one_phase(
    leaves_at: u64,
    off_at: Option<u64>,
) -> Vec<(u64, bool)> {
    let mut site = Site::new(
        SiteParams::default(),
        &[wallbox(1, "phase_switch_pause_s = 1")],
        0,
    );
    let admin = crate::supervisor::Who::Admin;
    relay_cycle(&mut site, Some(false), true, 0);
    site.override_phases("E1", crate::phases::Switching::One, &admin)
        .unwrap();
    let mut writes = Vec::new();
    let mut relay_one = false;
    for now in (1..8).map(|s| s * 1000) {
        if off_at == Some(now) {
            site.override_phases("E1", crate::phases::Switching::Off, &admin)
                .unwrap();
        }
        let (write, ..) = relay_cycle(&mut site, Some(relay_one), now < leaves_at, now);
        if let Some(one) = write {
            writes.push((now, one));
            relay_one = one;
        }
    }
    writes
}

#[test]
fn after_an_override_to_one_phase_the_relay_goes_back_to_three_before_the_next_car() {
    assert_eq!(
        relay_writes_after_an_override_to_one_phase(4000, None),
        vec![(1000, true), (4000, false)]
    );
}

#[test]
fn a_car_that_charges_is_never_woken() {
    let mut site = Site::new(SiteParams::default(), &[wallbox(1, "")], 0);
    for now in (0..=70).map(|s| s * 5000) {
        site.record(0, Some(Ok(unmetered(EvseState::Charging))), now);
        let (commands, _) = site.cycle(Now::mono(now), 1000);
        assert!(commands.iter().all(|c| !c.wake), "at {now}: {commands:?}");
    }
}

#[test]
fn an_override_of_the_phases_turned_off_leaves_the_relay_until_the_car_leaves() {
    // Switching off for this car at 3000: its relay stays as it is.
    assert_eq!(
        relay_writes_after_an_override_to_one_phase(5000, Some(3000)),
        vec![(1000, true), (5000, false)]
    );
}

#[test]
fn auto_wallboxes_alone_are_switched_without_a_meter() {
    // No meter, a site limit of 10 A. E2 (first in priority) has a
    // one-phase car on L2 that takes all of L2: three phases do not fit
    // for E1's car, one (L1) does.
    let params = SiteParams {
        max_total_current: crate::config::CurrentLimit::Fixed(10_000),
        max_imbalance: 0,
        ..SiteParams::default()
    };
    let auto = "phase_switching = \"auto\"\nphase_rotation = 0\n";
    let e2 = format!("{auto}prio = 2\nused_phases = 2\n");
    let mut site = Site::new(params, &[wallbox(1, auto), wallbox(2, &e2)], 0);
    let mut writes = Vec::new();
    for now in [0, 1000, 2000] {
        site.record(0, Some(Ok(with_relay(charging([0; 3]), false))), now);
        site.record(
            1,
            Some(Ok(with_relay(charging([0, 10_000, 0]), false))),
            now,
        );
        let (commands, _) = site.cycle(Now::mono(now), 1000);
        writes.extend(
            commands
                .iter()
                .filter_map(|c| Some((c.device, c.one_phase?))),
        );
    }
    assert!(writes.contains(&(0, true)), "{writes:?}");
}

#[test]
fn on_one_phase_for_the_sun_the_reason_names_the_sun() {
    // L2 and L3 have 4 A left; the sun gives 4 A per phase (12 A on one
    // phase).
    let pv = device("dev_id = \"M2\"\ndev_type = \"meter_sdm630\"\naddress = \"pv\"\nrole = 2\n");
    let e1 = wallbox(
        1,
        "charging_rules = [{ mode = 2 }]\nphase_switching = \"auto\"\nphase_switch_pause_s = 1\nphase_rotation = 0\n",
    );
    let params = SiteParams {
        max_imbalance: 0,
        ..SiteParams::default()
    };
    let mut site = Site::new(params, &[e1, grid_meter(), pv], 0);
    let (relay_one, reason) = follow_relay(&mut site, 6, |site, relay_one, now| {
        site.record(0, Some(Ok(with_relay(charging([0; 3]), relay_one))), now);
        site.record(1, Some(Ok(grid([0, 28_000, 28_000]))), now);
        site.record(2, Some(Ok(grid([4000; 3]))), now);
    });
    assert!(relay_one);
    assert_eq!(reason, "1p: solar surplus 12.0 A");
}

#[test]
fn the_phases_of_a_wallbox_without_a_relay_the_daemon_can_set_cannot_be_overridden() {
    let ajax = device(
        "dev_id = \"E2\"\ndev_type = \"evse_ajax\"\naddress = \"\"\nmax_charging_cur = 32000\n",
    );
    let mut site = Site::new(SiteParams::default(), &[wallbox(1, ""), ajax], 0);
    let admin = crate::supervisor::Who::Admin;
    assert_eq!(
        site.override_phases("E1", crate::phases::Switching::One, &admin),
        Ok(())
    );
    assert_eq!(
        site.override_phases("E2", crate::phases::Switching::One, &admin),
        Err("switch_phases: E2 has no 1p/3p relay the daemon can set".into())
    );
    // A card that is not the charging user's.
    assert_eq!(
        site.override_phases(
            "E1",
            crate::phases::Switching::One,
            &crate::supervisor::Who::Card("FFFF".into())
        ),
        Err("switch_phases: needs the admin password or the card of the user charging here".into())
    );
}

#[test]
fn only_the_charging_users_card_overrides_the_phases_and_the_log_says_what_a_card_did() {
    let mut site = Site::new(SiteParams::default(), &[wallbox(1, "")], 0);
    let users: Vec<crate::config::User> = serde_json::from_value(serde_json::json!([
        {"id": "anna", "dev_ids": ["E1"], "rfids": [{"id": "04AB"}]},
        {"id": "bob", "dev_ids": ["E1"], "rfids": [{"id": "05CD"}]}
    ]))
    .unwrap();
    site.set_users(users);
    site.record(0, Some(Ok(charging([0; 3]))), 0);
    site.cycle(Now::mono(0), 1000);
    let (dev_id, outcome) = site.present_rfid(Some("E1"), "04AB").unwrap();
    assert_eq!(format!("{dev_id}: {outcome}"), "E1: authorised user anna");
    let card = |rfid: &str| crate::supervisor::Who::Card(rfid.into());
    let one = crate::phases::Switching::One;
    assert!(
        site.override_phases("E1", one, &card("05CD")).is_err(),
        "bob's card"
    );
    assert_eq!(
        site.override_phases("E1", one, &card("04AB")),
        Ok(()),
        "anna's"
    );
}

#[test]
fn a_car_the_site_cannot_fit_is_told_to_stop_not_to_charge_at_nothing() {
    // 4 A per phase for a car whose minimum is 6 A.
    let params = SiteParams {
        max_total_current: crate::config::CurrentLimit::Fixed(4000),
        ..SiteParams::default()
    };
    let mut site = Site::new(params, &[wallbox(1, "")], 0);
    site.record(0, Some(Ok(charging([0; 3]))), 0);
    let (commands, _) = site.cycle(Now::mono(0), 1000);
    assert_eq!(commands, vec![Command::current(0, 0, false)]);
}

#[test]
fn a_car_held_by_the_dimming_says_so() {
    let params = SiteParams {
        grid_dimming_formula: "1".into(),
        ..SiteParams::default()
    };
    let mut site = Site::new(params, &[wallbox(1, "")], 0);
    site.record(0, Some(Ok(charging([0; 3]))), 0);
    let (commands, snapshot) = site.cycle(Now::mono(0), 1000);
    assert_eq!(command(&commands, 0), 6000);
    let e1 = snapshot.evses[0].clone().unwrap_or_default();
    assert_eq!(
        e1.lb_reason.to_string(),
        "§14a: dimmed, 4200 W for all wallboxes"
    );
}

#[test]
fn the_relay_shows_its_phases_only_where_the_daemon_switches_it() {
    let mut site = Site::new(
        SiteParams::default(),
        &[wallbox(1, ""), wallbox(2, "phase_switching = \"1p\"")],
        0,
    );
    for now in [0, 1000] {
        site.record(0, Some(Ok(with_relay(charging([0; 3]), false))), now);
        site.record(1, Some(Ok(with_relay(charging([0; 3]), now > 0))), now);
        site.cycle(Now::mono(now), 1000);
    }
    let (_, snapshot) = site.cycle(Now::mono(2000), 1000);
    let relay = |i: usize| snapshot.evses[i].clone().unwrap_or_default().relay_phases;
    assert_eq!((relay(0), relay(1)), (0, 1), "switching off: not shown");
}

#[test]
fn a_wallbox_shows_the_name_of_the_user_charging() {
    let mut site = Site::new(SiteParams::default(), &[wallbox(1, "")], 0);
    let users: Vec<crate::config::User> = serde_json::from_value(serde_json::json!([
        {"id": "anna", "name": "Anna A.", "dev_ids": ["E1"], "rfids": [{"id": "04AB"}]},
        {"id": "bob", "name": "Bob B.", "dev_ids": ["E1"], "rfids": [{"id": "05CD"}]}
    ]))
    .unwrap();
    site.set_users(users);
    site.record(0, Some(Ok(charging([0; 3]))), 0);
    site.cycle(Now::mono(0), 1000);
    site.present_rfid(Some("E1"), "05CD").unwrap();
    let (_, snapshot) = site.cycle(Now::mono(1000), 1000);
    let e1 = snapshot.evses[0].clone().unwrap_or_default();
    assert_eq!((e1.user.as_str(), e1.user_name.as_str()), ("bob", "Bob B."));
}
