//! Allocation tables (every field named) and the safety properties.

use proptest::prelude::*;

use super::*;

const ALL: u8 = 0b111;
const L1: u8 = 0b001;

fn evse(prio: i64, turn: u64, phases: u8, min_ma: i64, max_ma: i64) -> EvseInput {
    EvseInput {
        group: 0,
        prio,
        turn,
        phases,
        min_ma,
        max_ma,
        uncontrolled: false,
    }
}

fn site(available: i64) -> SiteInput {
    SiteInput {
        available_ma: [available; 3],
        ..SiteInput::default()
    }
}

fn targets(site: &SiteInput, evses: &[EvseInput]) -> Vec<i64> {
    allocate(site, evses)
        .unwrap()
        .iter()
        .map(|a| a.target_ma)
        .collect()
}

struct Case {
    name: &'static str,
    site: SiteInput,
    evses: Vec<EvseInput>,
    expected_ma: Vec<i64>,
    expected_reasons: Vec<&'static str>,
}

#[test]
fn allocation_table() {
    let cases = vec![
        Case {
            name: "two cars share what a 32 A site with 10 A of house load leaves",
            site: site(32_000 - 10_000),
            evses: vec![evse(1, 0, ALL, 6000, 16_000), evse(1, 1, ALL, 6000, 16_000)],
            expected_ma: vec![11_000, 11_000],
            expected_reasons: vec!["site L1", "site L1"],
        },
        Case {
            name: "plenty of current: each car gets its maximum",
            site: site(63_000),
            evses: vec![evse(1, 0, ALL, 6000, 16_000), evse(1, 1, ALL, 6000, 32_000)],
            expected_ma: vec![16_000, 32_000],
            expected_reasons: vec!["max_charging_cur", "max_charging_cur"],
        },
        Case {
            name: "water-filling: a car capped low leaves the rest to the other",
            site: site(30_000),
            evses: vec![evse(1, 0, ALL, 6000, 10_000), evse(1, 1, ALL, 6000, 32_000)],
            expected_ma: vec![10_000, 20_000],
            expected_reasons: vec!["max_charging_cur", "site L1"],
        },
        Case {
            name: "evcc's failure: three one-phase cars rotated 0/120/240 on 3x16 A each get 16 A",
            site: site(16_000),
            evses: vec![
                evse(1, 0, Rotation::Deg0.to_building(L1), 6000, 16_000),
                evse(1, 1, Rotation::Deg120.to_building(L1), 6000, 16_000),
                evse(1, 2, Rotation::Deg240.to_building(L1), 6000, 16_000),
            ],
            expected_ma: vec![16_000, 16_000, 16_000],
            expected_reasons: vec!["max_charging_cur", "max_charging_cur", "max_charging_cur"],
        },
        Case {
            name: "higher priority is served first, the rest goes down",
            site: site(20_000),
            evses: vec![evse(1, 0, ALL, 6000, 16_000), evse(2, 1, ALL, 6000, 16_000)],
            expected_ma: vec![0, 16_000],
            expected_reasons: vec!["paused: no minimum (site L1)", "max_charging_cur"],
        },
        Case {
            name: "lower priority gets what is left above its minimum",
            site: site(24_000),
            evses: vec![evse(1, 0, ALL, 6000, 16_000), evse(2, 1, ALL, 6000, 16_000)],
            expected_ma: vec![8000, 16_000],
            expected_reasons: vec!["site L1", "max_charging_cur"],
        },
        Case {
            name: "no room for two minimums: the later turn is paused",
            site: site(10_000),
            evses: vec![evse(1, 5, ALL, 6000, 16_000), evse(1, 3, ALL, 6000, 16_000)],
            expected_ma: vec![0, 10_000],
            expected_reasons: vec!["paused: no minimum (site L1)", "site L1"],
        },
        Case {
            name: "per-phase limits: a one-phase car on the full phase is paused, the other phase still serves",
            site: SiteInput {
                available_ma: [4000, 20_000, 20_000],
                ..SiteInput::default()
            },
            evses: vec![evse(1, 0, 0b001, 6000, 16_000), evse(1, 1, 0b010, 6000, 16_000)],
            expected_ma: vec![0, 16_000],
            expected_reasons: vec!["paused: no minimum (site L1)", "max_charging_cur"],
        },
        Case {
            name: "max_total_evse_current caps all EVSEs together",
            site: SiteInput {
                evse_cap_ma: Some(20_000),
                ..site(63_000)
            },
            evses: vec![evse(1, 0, ALL, 6000, 32_000), evse(1, 1, ALL, 6000, 32_000)],
            expected_ma: vec![10_000, 10_000],
            expected_reasons: vec!["max_total_evse_current L1", "max_total_evse_current L1"],
        },
        Case {
            name: "a group limit binds its members; a car outside it takes the rest",
            site: SiteInput {
                groups: vec![GroupInput {
                    id: 5,
                    parent: 0,
                    limit_ma: [12_000; 3],
                }],
                ..site(40_000)
            },
            evses: vec![
                EvseInput { group: 5, ..evse(1, 0, ALL, 6000, 16_000) },
                EvseInput { group: 5, ..evse(1, 1, ALL, 6000, 16_000) },
                evse(1, 2, ALL, 6000, 32_000),
            ],
            expected_ma: vec![6000, 6000, 28_000],
            expected_reasons: vec!["group E5 L1", "group E5 L1", "site L1"],
        },
        Case {
            name: "nested groups: the inner limit and the outer one both hold",
            site: SiteInput {
                groups: vec![
                    GroupInput { id: 1, parent: 0, limit_ma: [20_000; 3] },
                    GroupInput { id: 2, parent: 1, limit_ma: [8000; 3] },
                ],
                ..site(63_000)
            },
            evses: vec![
                EvseInput { group: 2, ..evse(1, 0, ALL, 6000, 16_000) },
                EvseInput { group: 1, ..evse(1, 1, ALL, 6000, 16_000) },
            ],
            expected_ma: vec![8000, 12_000],
            expected_reasons: vec!["group E2 L1", "group E1 L1"],
        },
        Case {
            name: "an uncontrolled wallbox is counted at its assumed draw",
            site: site(32_000),
            evses: vec![
                EvseInput { uncontrolled: true, ..evse(1, 0, ALL, 6000, 16_000) },
                evse(1, 1, ALL, 6000, 32_000),
            ],
            expected_ma: vec![16_000, 16_000],
            expected_reasons: vec!["not controlled", "site L1"],
        },
        Case {
            name: "targets are rounded down to 100 mA",
            site: site(20_050),
            evses: vec![evse(1, 0, ALL, 6000, 32_000), evse(1, 1, ALL, 6000, 32_000), evse(1, 2, ALL, 6000, 32_000)],
            expected_ma: vec![6600, 6600, 6600],
            expected_reasons: vec!["site L1", "site L1", "site L1"],
        },
        Case {
            name: "house load above the limit: nobody charges",
            site: site(-3000),
            evses: vec![evse(1, 0, ALL, 6000, 16_000)],
            expected_ma: vec![0],
            expected_reasons: vec!["paused: no minimum (site L1)"],
        },
        Case {
            name: "imbalance: a 32 A one-phase car is held to 20 A",
            site: SiteInput {
                max_imbalance_ma: Some(20_000),
                ..site(63_000)
            },
            evses: vec![evse(1, 0, L1, 6000, 32_000), evse(1, 1, ALL, 6000, 16_000)],
            expected_ma: vec![20_000, 16_000],
            expected_reasons: vec!["imbalance L1", "max_charging_cur"],
        },
        Case {
            name: "imbalance with house load counted: the one-phase car on the heavy phase is paused",
            site: SiteInput {
                max_imbalance_ma: Some(20_000),
                imbalance_base_ma: [18_000, 0, 0],
                ..site(40_000)
            },
            evses: vec![evse(1, 0, L1, 6000, 16_000), evse(1, 1, 0b010, 6000, 16_000)],
            expected_ma: vec![0, 16_000],
            expected_reasons: vec!["paused: imbalance L1", "max_charging_cur"],
        },
        Case {
            name: "the 100 mA a car's target is rounded by stays for the cars after it",
            site: SiteInput {
                available_ma: [16_497, 23_387, 10_499],
                ..SiteInput::default()
            },
            evses: vec![evse(2, 0, ALL, 6000, 17_400), evse(1, 1, L1, 6000, 6000)],
            expected_ma: vec![10_400, 6000],
            expected_reasons: vec!["site L3", "max_charging_cur"],
        },
        Case {
            name: "a car waiting for its minimum keeps it from the cars after it in turn",
            site: site(8000),
            evses: vec![
                evse(1, 0, L1, 6000, 16_000),
                evse(1, 1, ALL, 6000, 16_000),
                evse(1, 2, 0b010, 6000, 16_000),
            ],
            expected_ma: vec![8000, 0, 0],
            expected_reasons: vec![
                "site L1",
                "paused: no minimum (site L1)",
                "paused: another car's turn (site L2)",
            ],
        },
        Case {
            name: "what an imbalance cut frees goes by priority: the lower one does not keep it",
            site: SiteInput {
                evse_cap_ma: Some(18_000),
                max_imbalance_ma: Some(4734),
                imbalance_base_ma: [9217, 15_217, 0],
                ..site(40_000)
            },
            evses: vec![
                evse(1, 0, 0b100, 6000, 7500),
                evse(2, 1, ALL, 6000, 20_000),
                evse(2, 2, L1, 6000, 7500),
            ],
            expected_ma: vec![0, 18_000, 0],
            expected_reasons: vec![
                "paused: no minimum (max_total_evse_current L3)",
                "max_total_evse_current L1",
                "paused: imbalance L1",
            ],
        },
        Case {
            name: "when an imbalance cut makes another phase the heaviest, its cars are reduced too",
            site: SiteInput {
                max_imbalance_ma: Some(10_000),
                ..site(100_000)
            },
            evses: vec![evse(1, 0, L1, 6000, 30_000), evse(1, 1, 0b010, 6000, 25_000)],
            expected_ma: vec![10_000, 10_000],
            expected_reasons: vec!["imbalance L1", "imbalance L2"],
        },
        Case {
            name: "a wallbox on no phase gets nothing",
            site: site(32_000),
            evses: vec![evse(1, 0, 0, 6000, 16_000), evse(1, 1, ALL, 6000, 16_000)],
            expected_ma: vec![0, 16_000],
            expected_reasons: vec!["max_charging_cur", "max_charging_cur"],
        },
        Case {
            name: "a maximum below the minimum cannot charge",
            site: site(32_000),
            evses: vec![evse(1, 0, ALL, 6000, 5000)],
            expected_ma: vec![0],
            expected_reasons: vec!["max_charging_cur"],
        },
    ];
    for case in cases {
        let result = allocate(&case.site, &case.evses).unwrap();
        let got: Vec<i64> = result.iter().map(|a| a.target_ma).collect();
        let reasons: Vec<String> = result.iter().map(|a| a.reason.to_string()).collect();
        assert_eq!(got, case.expected_ma, "{}", case.name);
        assert_eq!(reasons, case.expected_reasons, "{}", case.name);
    }
}

#[test]
fn unknown_groups_and_cycles_are_errors() {
    let e = EvseInput {
        group: 9,
        ..evse(1, 0, ALL, 6000, 16_000)
    };
    assert_eq!(
        allocate(&site(32_000), std::slice::from_ref(&e)),
        Err(AllocError::UnknownGroup { index: 0, group: 9 })
    );
    let cyclic = SiteInput {
        groups: vec![
            GroupInput {
                id: 9,
                parent: 8,
                limit_ma: [1; 3],
            },
            GroupInput {
                id: 8,
                parent: 9,
                limit_ma: [1; 3],
            },
        ],
        ..site(32_000)
    };
    assert!(matches!(
        allocate(&cyclic, &[e]),
        Err(AllocError::GroupCycle(_))
    ));
}

#[test]
fn rotation_maps_wallbox_phases_to_building_phases() {
    assert_eq!(Rotation::Deg120.to_building(L1), 0b010);
    assert_eq!(Rotation::Deg240.to_building(L1), 0b100);
    assert_eq!(Rotation::Deg120.to_building(0b011), 0b110);
    assert_eq!(Rotation::Deg240.to_building(ALL), ALL);
    assert_eq!(Rotation::Deg120.to_building_values([1, 2, 3]), [3, 1, 2]);
    assert_eq!(Rotation::from_degrees(90), None);
    for (degrees, rotation) in [
        (0, Rotation::Deg0),
        (120, Rotation::Deg120),
        (240, Rotation::Deg240),
    ] {
        assert_eq!(Rotation::from_degrees(degrees), Some(rotation));
        assert_eq!(rotation.degrees(), degrees);
    }
}

// ---- properties -------------------------------------------------------

#[derive(Debug, Clone)]
struct RandomSite {
    site: SiteInput,
    evses: Vec<EvseInput>,
}

fn random_site() -> impl Strategy<Value = RandomSite> {
    let groups = prop::collection::vec((0u32..4, 0i64..40_000), 0..4);
    let evses = prop::collection::vec(
        (
            0u32..5,
            1i64..4,
            0u64..1000,
            1u8..8,
            6000i64..10_000,
            0i64..40_000,
            prop::bool::weighted(0.05),
        ),
        1..500,
    );
    let site = (
        prop::array::uniform3(-10_000i64..100_000),
        prop::option::of(0i64..80_000),
        prop::option::of(0i64..30_000),
        prop::array::uniform3(0i64..20_000),
    );
    (groups, evses, site).prop_map(|(groups, evses, (available, cap, imbalance, base))| {
        // Group n+1's parent is a lower-numbered group (or the site): a tree.
        let groups: Vec<GroupInput> = groups
            .iter()
            .enumerate()
            .map(|(n, &(parent, limit))| GroupInput {
                id: n as u32 + 1,
                parent: parent % (n as u32 + 1),
                limit_ma: [limit, limit / 2 + 5000, limit],
            })
            .collect();
        let count = groups.len() as u32 + 1;
        let evses = evses
            .into_iter()
            .map(
                |(group, prio, turn, phases, min, extra, uncontrolled)| EvseInput {
                    group: group % count,
                    prio,
                    turn,
                    phases,
                    min_ma: min,
                    max_ma: min + extra,
                    uncontrolled,
                },
            )
            .collect();
        RandomSite {
            site: SiteInput {
                available_ma: available,
                evse_cap_ma: cap,
                max_imbalance_ma: imbalance,
                imbalance_base_ma: base,
                groups,
            },
            evses,
        }
    })
}

/// The groups an EVSE belongs to, innermost first.
fn chain(site: &SiteInput, mut group: u32) -> Vec<u32> {
    let mut out = Vec::new();
    while group != 0 {
        out.push(group);
        group = site
            .groups
            .iter()
            .find(|g| g.id == group)
            .map_or(0, |g| g.parent);
    }
    out
}

/// Checks one limit: the controlled EVSEs under it never exceed what the
/// uncontrolled ones left (and get nothing if they left nothing). Sums in
/// `i128`, so limits anywhere in `i64` are checked without overflow.
fn check_limit(
    name: &str,
    limit: PerPhase,
    members: &[usize],
    r: &RandomSite,
    out: &[Allocation],
) -> Result<(), TestCaseError> {
    for (p, limit) in limit.iter().enumerate() {
        let on = |i: &&usize| r.evses[**i].phases & (1 << p) != 0;
        let sum = |uncontrolled: bool| -> i128 {
            members
                .iter()
                .filter(on)
                .filter(|&&i| r.evses[i].uncontrolled == uncontrolled)
                .map(|&i| i128::from(out[i].target_ma))
                .sum()
        };
        let (fixed, given) = (sum(true), sum(false));
        prop_assert!(
            given <= (i128::from(*limit) - fixed).max(0),
            "{name} L{}: gave {given}, limit {limit} less {fixed} uncontrolled",
            p + 1
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(crate::property_cases(2000))]

    #[test]
    fn no_limit_is_ever_exceeded(r in random_site()) {
        let out = allocate(&r.site, &r.evses).unwrap();
        let everyone: Vec<usize> = (0..r.evses.len()).collect();
        check_limit("site", r.site.available_ma, &everyone, &r, &out)?;
        if let Some(cap) = r.site.evse_cap_ma {
            check_limit("evse cap", [cap; 3], &everyone, &r, &out)?;
        }
        for g in &r.site.groups {
            let members: Vec<usize> = everyone.iter().copied().filter(|&i| chain(&r.site, r.evses[i].group).contains(&g.id)).collect();
            check_limit(&format!("group {}", g.id), g.limit_ma, &members, &r, &out)?;
        }
    }

    #[test]
    fn targets_are_zero_or_between_minimum_and_maximum(r in random_site()) {
        let out = allocate(&r.site, &r.evses).unwrap();
        for (e, a) in r.evses.iter().zip(&out) {
            if e.uncontrolled {
                continue;
            }
            prop_assert!(a.target_ma == 0 || (a.target_ma >= e.min_ma && a.target_ma <= e.max_ma), "{e:?} got {a:?}");
            prop_assert_eq!(a.target_ma % STEP_MA, 0);
        }
    }

    #[test]
    fn the_imbalance_limit_holds(r in random_site()) {
        let mut r = r;
        r.site.imbalance_base_ma = [0; 3];
        for e in &mut r.evses {
            e.uncontrolled = false;
        }
        let out = allocate(&r.site, &r.evses).unwrap();
        if let Some(limit) = r.site.max_imbalance_ma {
            let load = phase_load([0; 3], &r.evses, &out);
            let spread = load.iter().max().unwrap() - load.iter().min().unwrap();
            prop_assert!(spread <= limit, "imbalance {spread} over {limit}: {load:?}");
        }
    }

    #[test]
    fn equal_cars_get_equal_currents(
        count in 2usize..40,
        available in 0i64..200_000,
        min in 6000i64..8000,
        max in 8000i64..32_000,
        phases in 1u8..8,
    ) {
        let evses: Vec<EvseInput> = (0..count).map(|i| evse(1, i as u64, phases, min, max)).collect();
        let out = targets(&site(available), &evses);
        let charging: Vec<i64> = out.iter().copied().filter(|t| *t > 0).collect();
        prop_assert!(charging.windows(2).all(|w| w[0] == w[1]), "{charging:?}");
        // And nobody is paused while another car could give up current for it.
        let total: i64 = out.iter().sum();
        let paused = out.len() - charging.len();
        if paused > 0 {
            let spare = available - total;
            let reducible: i64 = charging.iter().map(|t| t - ((min + 99) / 100 * 100)).sum();
            prop_assert!(spare + reducible < ((min + 99) / 100 * 100), "a paused car could have had its minimum");
        }
    }
}

// ---- extreme inputs ------------------------------------------------------

/// Currents a broken device or a wild formula could make of a limit or a
/// draw: the `i64` edges, 1e18, negative, zero and everyday values.
fn extreme_ma() -> impl Strategy<Value = i64> {
    prop_oneof![
        Just(i64::MIN),
        Just(i64::MAX),
        Just(i64::MIN + 1),
        Just(i64::MAX - 1),
        Just(1_000_000_000_000_000_000),
        Just(-1_000_000_000_000_000_000),
        Just(0),
        Just(-1),
        -100_000i64..100_000,
        any::<i64>(),
    ]
}

fn extreme_site() -> impl Strategy<Value = RandomSite> {
    let evses = prop::collection::vec(
        (
            0u32..3,
            any::<i64>(),
            any::<u64>(),
            any::<u8>(),
            extreme_ma(),
            extreme_ma(),
            prop::bool::weighted(0.3),
        ),
        1..40,
    );
    let site = (
        prop::array::uniform3(extreme_ma()),
        prop::option::of(extreme_ma()),
        prop::option::of(extreme_ma()),
        prop::array::uniform3(extreme_ma()),
        prop::array::uniform3(extreme_ma()),
    );
    (evses, site).prop_map(
        |(evses, (available, cap, imbalance, base, group))| RandomSite {
            site: SiteInput {
                available_ma: available,
                evse_cap_ma: cap,
                max_imbalance_ma: imbalance,
                imbalance_base_ma: base,
                groups: vec![
                    GroupInput {
                        id: 1,
                        parent: 0,
                        limit_ma: group,
                    },
                    GroupInput {
                        id: 2,
                        parent: 1,
                        limit_ma: [group[2], group[0], group[1]],
                    },
                ],
            },
            evses: evses
                .into_iter()
                .map(
                    |(group, prio, turn, phases, min, max, uncontrolled)| EvseInput {
                        group,
                        prio,
                        turn,
                        phases,
                        min_ma: min,
                        max_ma: max,
                        uncontrolled,
                    },
                )
                .collect(),
        },
    )
}

proptest! {
    #![proptest_config(crate::property_cases(3000))]

    /// The i64 edges, 1e18 and negative values neither panic (the tests
    /// run with overflow checks) nor let any limit be exceeded.
    #[test]
    fn extreme_values_neither_overflow_nor_exceed_a_limit(r in extreme_site()) {
        let out = allocate(&r.site, &r.evses).unwrap();
        prop_assert_eq!(out.len(), r.evses.len());
        let everyone: Vec<usize> = (0..r.evses.len()).collect();
        for (e, a) in r.evses.iter().zip(&out) {
            prop_assert!(a.target_ma >= 0, "{e:?} got {a:?}");
            if !e.uncontrolled && a.target_ma > 0 {
                prop_assert!(a.target_ma <= e.max_ma && a.target_ma >= e.min_ma, "{e:?} got {a:?}");
            }
        }
        // A limit clamped to MAX_INPUT_MA is still far above any real draw;
        // what counts is that nothing wrapped round.
        let clamp = |l: PerPhase| l.map(|v| v.clamp(-MAX_INPUT_MA, MAX_INPUT_MA));
        check_limit("site", clamp(r.site.available_ma), &everyone, &r, &out)?;
        if let Some(cap) = r.site.evse_cap_ma {
            check_limit("evse cap", clamp([cap; 3]), &everyone, &r, &out)?;
        }
        for g in &r.site.groups {
            let members: Vec<usize> = everyone.iter().copied().filter(|&i| chain(&r.site, r.evses[i].group).contains(&g.id)).collect();
            check_limit(&format!("group {}", g.id), clamp(g.limit_ma), &members, &r, &out)?;
        }
    }
}
