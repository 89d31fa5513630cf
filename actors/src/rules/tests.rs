//! The formula language: every operator, function and kind of name, the
//! documented examples, clear errors, and random input that never panics.

use std::collections::HashMap;

use proptest::prelude::*;

use super::formula::{eval, parse, EvalError, Names, MAX_DEPTH};

struct Table(HashMap<String, f64>);

impl Names for Table {
    fn lookup(&self, path: &[String]) -> Option<f64> {
        self.0.get(&path.join(".")).copied()
    }
}

fn names() -> Table {
    Table(
        [
            ("m1.current", 7000.0),
            ("m1.current_l1", 7100.0),
            ("m3.current", 12_000.0),
            ("e2.power_w", 3680.0),
            ("e1.state", 3.0),
            ("date.dayminute", 500.0),
            ("date.weekday", 0.0),
            ("date.hour", 8.0),
            ("cm._price_level", -5.0),
            ("cm.var1", 2.0),
            ("gm.surplus.power_w", 4200.0),
            ("pb.input2", 1.0),
            ("param.max_total_current", 32_000.0),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect(),
    )
}

fn value(text: &str) -> Result<f64, String> {
    let expr = parse(text).map_err(|e| e.to_string())?;
    eval(&expr, &names()).map_err(|e| e.to_string())
}

#[test]
fn operators_and_precedence() {
    let cases: &[(&str, f64)] = &[
        ("1 + 2 * 3", 7.0),
        ("(1 + 2) * 3", 9.0),
        ("10 - 4 - 3", 3.0),
        ("20 / 4 / 5", 1.0),
        ("17 % 5", 2.0),
        ("2 ^ 3 ^ 2", 512.0),
        ("10^2", 100.0),
        ("-2 ^ 2", 4.0),
        ("6 & 3", 2.0),
        ("6 | 3", 7.0),
        ("1 < 2", 1.0),
        ("2 <= 2", 1.0),
        ("3 > 4", 0.0),
        ("4 >= 5", 0.0),
        ("2 < 2", 0.0),
        ("2 > 2", 0.0),
        ("2 >= 2", 1.0),
        ("3 > 2", 1.0),
        ("5 == 5", 1.0),
        ("5 != 5", 0.0),
        ("!0", 1.0),
        ("!7", 0.0),
        ("1 && 0", 0.0),
        ("1 || 0", 1.0),
        ("0 || 0", 0.0),
        ("1 ? 2 : 3", 2.0),
        ("0 ? 2 : 0 ? 4 : 5", 5.0),
        ("1 + 1 == 2 && 3 > 2", 1.0),
        ("-(-3)", 3.0),
        ("+4", 4.0),
        ("1.5 * 2", 3.0),
        (".5 + .5", 1.0),
    ];
    for (text, expected) in cases {
        assert_eq!(value(text), Ok(*expected), "{text}");
    }
}

#[test]
fn functions() {
    let cases: &[(&str, f64)] = &[
        ("min(3, 1, 2)", 1.0),
        ("max(3, 1, 2)", 3.0),
        ("abs(-4)", 4.0),
        ("clamp(50, 0, 16)", 16.0),
        ("clamp(-5, 0, 16)", 0.0),
        ("round(2.5)", 3.0),
        ("sqrt(16)", 4.0),
        ("exists(M1.current)", 1.0),
        ("exists(M9.current)", 0.0),
        ("param(max_total_current)", 32_000.0),
        ("MIN(1, 2)", 1.0),
    ];
    for (text, expected) in cases {
        assert_eq!(value(text), Ok(*expected), "{text}");
    }
}

#[test]
fn names_are_case_insensitive() {
    assert_eq!(value("M1.Current_L1"), Ok(7100.0));
    assert_eq!(value("CM.VAR1 + cm.var1"), Ok(4.0));
    assert_eq!(value("E2.power_w + E1.state"), Ok(3683.0));
    assert_eq!(value("GM.surplus.power_w"), Ok(4200.0));
    assert_eq!(value("CM._price_level <= -5 ? 16000 : 0"), Ok(16_000.0));
}

#[test]
fn the_documented_examples() {
    assert_eq!(value("date.dayminute >= 480 ? 8000 : 0"), Ok(8000.0));
    assert_eq!(value("16000 - M1.current"), Ok(9000.0));
    assert_eq!(value("min(16000, 29000 - M3.current)"), Ok(16_000.0));
    assert_eq!(
        value("date.weekday == 5 || date.weekday == 6 ? 16000 : 0"),
        Ok(0.0)
    );
    assert_eq!(value("PB.input2 ? 6000 : 0"), Ok(6000.0));
}

#[test]
fn evaluation_errors_are_defined() {
    assert_eq!(value("1 / 0"), Err(EvalError::DivisionByZero.to_string()));
    assert_eq!(value("5 % 0"), Err("division by zero".into()));
    assert_eq!(
        value("M9.current + 1"),
        Err("unknown name m9.current".into())
    );
    assert_eq!(value("sqrt(-1)"), Err("the result is not a number".into()));
    // The right side of && and || is not looked at when the left decides.
    assert_eq!(value("0 && M9.current"), Ok(0.0));
    assert_eq!(value("1 || M9.current"), Ok(1.0));
    assert_eq!(value("exists(M9.x) ? M9.x : 6000"), Ok(6000.0));
}

#[test]
fn parse_errors_say_where_and_what() {
    let cases: &[(&str, &str)] = &[
        (
            "",
            "at 1: expected a number, a name, '(' , '-' or '!', found the end",
        ),
        ("1 +", "at 4: expected a number"),
        ("(1 + 2", "at 7: expected ')', found the end"),
        ("1 ? 2", "at 6: expected ':', found the end"),
        (
            "min(1)",
            "at 1: expected min with at least 2 arguments, found 1 arguments",
        ),
        ("clamp(1, 2)", "expected clamp with 3 arguments"),
        ("foo(1)", "at 1: expected a function"),
        (
            "1 2",
            "at 3: expected an operator or the end, found number 2",
        ),
        (
            "3 $ 4",
            "at 3: expected a number, a name, an operator or a parenthesis, found '$'",
        ),
        ("M1..current", "expected a name like M1.current_l1"),
        ("1.2.3", "expected a number, found '1.2.3'"),
        ("min(1, 2", "expected ',' or ')'"),
    ];
    for (text, says) in cases {
        let err = parse(text).expect_err(text).to_string();
        assert!(err.contains(says), "{text}: {err:?} should say {says:?}");
    }
}

#[test]
fn deep_nesting_and_huge_formulas_are_refused_not_a_stack_overflow() {
    let deep = format!("{}1{}", "(".repeat(1000), ")".repeat(1000));
    assert!(parse(&deep)
        .unwrap_err()
        .to_string()
        .contains(&format!("at most {MAX_DEPTH} levels")));
    let negations = "-".repeat(10_000) + "1";
    assert!(parse(&negations).is_err());
    let powers = vec!["2"; 5000].join("^");
    assert!(parse(&powers).is_err());
    let many = vec!["1"; 1500].join("+");
    assert!(parse(&many)
        .unwrap_err()
        .to_string()
        .contains("at most 2000 parts"));
    let long = "1".repeat(5000);
    assert!(parse(&long)
        .unwrap_err()
        .to_string()
        .contains("at most 4096 characters"));
}

#[test]
fn the_limits_are_exact_what_is_at_a_limit_is_accepted() {
    use super::formula::{MAX_LEN, MAX_NODES};
    // Nesting: the formula is level 1, each parenthesis one more.
    let nested = |levels: usize| format!("{}1{}", "(".repeat(levels - 1), ")".repeat(levels - 1));
    assert_eq!(value(&nested(MAX_DEPTH)), Ok(1.0));
    assert!(parse(&nested(MAX_DEPTH + 1)).is_err());
    // Parts: each number, operator and sign is one; `-1+1+…+1` with k ones
    // has 2k.
    let parts = |k: usize| format!("-1{}", "+1".repeat(k - 1));
    assert_eq!(value(&parts(MAX_NODES / 2)), Ok(998.0));
    assert!(parse(&format!("-{}", parts(MAX_NODES / 2))).is_err());
    // Length: spaces count.
    let long = |len: usize| format!("1{}", " ".repeat(len - 1));
    assert_eq!(value(&long(MAX_LEN)), Ok(1.0));
    assert!(parse(&long(MAX_LEN + 1)).is_err());
    // Powers one after the other are not nested: a hundred of them parse.
    let powers = vec!["1^1"; 100].join("+");
    assert_eq!(value(&powers), Ok(100.0));
    // Nor are negations.
    let negations = vec!["-1"; 100].join("+");
    assert_eq!(value(&negations), Ok(-100.0));
    // Nor are conditions one after the other.
    let conditions = vec!["(1 ? 1 : 0)"; 100].join("+");
    assert_eq!(value(&conditions), Ok(100.0));
}

proptest! {
    #![proptest_config(crate::property_cases(3000))]

    /// Any text: an error or a value, never a panic.
    #[test]
    fn random_text_never_panics(text in "\\PC{0,200}") {
        if let Ok(expr) = parse(&text) {
            let _ = eval(&expr, &names());
        }
    }

    /// Text made of the language's own pieces, to get past the tokenizer.
    #[test]
    fn random_formulas_never_panic(parts in prop::collection::vec(
        prop::sample::select(vec!["1", "0", "-", "+", "*", "/", "%", "^", "(", ")", "?", ":", "&&", "||", "!",
            "==", "<", "min(", "max(", "clamp(", ",", "M1.current", "date.hour", "exists(", "1e9", "0.5"]),
        0..80,
    )) {
        let text = parts.concat();
        if let Ok(expr) = parse(&text) {
            let _ = eval(&expr, &names());
        }
    }
}
