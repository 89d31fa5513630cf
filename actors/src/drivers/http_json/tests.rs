use serde_json::json;

use super::*;

/// An HTTP-JSON definition with `readings` in place.
fn file(readings: &str) -> String {
    format!(
        "name = \"test_json\"\nprotocol = \"http_json\"\nkind = \"meter\"\ntitle = \"T\"\nmaker = \"M\"\n\
         device = \"D\"\nsource = \"S\"\n[http]\npath = \"/status\"\n[readings]\n{readings}"
    )
}

fn error(readings: &str) -> (String, String) {
    match parse("t.toml", &file(readings)) {
        Ok(_) => panic!("accepted: {readings}"),
        Err(e) => (e.field, e.message),
    }
}

#[test]
fn every_shipped_json_definition_loads() {
    let shipped = crate::drivers::definition::shipped().expect("the shipped definitions load");
    let keys: Vec<&str> = shipped.http_json.iter().map(|m| m.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "meter_shelly_pro_3em",
            "meter_shelly_3em",
            "meter_tasmota_sml"
        ]
    );
}

#[test]
fn paths_take_keys_and_indices() {
    let meter = parse(
        "t.toml",
        &file("power = { json = \"a.list[1][0].w\", scale = 1000, invert = true }\n"),
    )
    .expect("loads");
    let body = json!({"a": {"list": [[0], [{"w": 1.5}]]}}).to_string();
    assert_eq!(meter.decode(body.as_bytes()).expect("reads").power_w, -1500);
}

#[test]
fn a_bad_definition_names_its_field() {
    assert_eq!(
        error("current = [{ json = \"a\" }]\n").0,
        "readings.power",
        "a meter needs its power"
    );
    assert_eq!(
        error("power = { json = \"a\", scale = 0 }\n").0,
        "readings.power.scale"
    );
    assert_eq!(
        error("power = { json = \"a..b\" }\n").0,
        "readings.power.json"
    );
    assert_eq!(
        error("power = { json = \"a[x]\" }\n").0,
        "readings.power.json"
    );
    assert_eq!(
        error("power = { json = \"a[1\" }\n").0,
        "readings.power.json"
    );
    assert_eq!(
        error("power = { json = \"p\" }\ncurrent = [{ json = \"a\" }, { json = \"b\" }]\n").0,
        "readings.current"
    );
    assert_eq!(
        error("power = { json = \"p\", addr = 3 }\n").0,
        "readings.power.addr"
    );
    let no_path =
        file("power = { json = \"p\" }\n").replace("path = \"/status\"", "path = \"status\"");
    assert_eq!(
        parse("t.toml", &no_path).err().map(|e| e.field).as_deref(),
        Some("http.path")
    );
}

#[test]
fn a_missing_path_or_a_value_that_is_no_number_is_a_failed_reading() {
    let meter = parse(
        "t.toml",
        &file("power = { json = \"total\" }\nvoltage = [{ json = \"v\" }]\n"),
    )
    .expect("loads");
    let missing = meter.decode(br#"{"total": 10}"#).expect_err("no v");
    assert_eq!(missing.to_string(), "readings.voltage[0]: no value at v");
    let text = meter
        .decode(br#"{"total": "10", "v": 230}"#)
        .expect_err("a text");
    assert_eq!(
        text.to_string(),
        "readings.power: total is \"10\", not a number"
    );
    let null = meter
        .decode(br#"{"total": null, "v": 230}"#)
        .expect_err("null");
    assert_eq!(
        null.to_string(),
        "readings.power: total is null, not a number"
    );
    let html = meter
        .decode(b"<html>Unauthorized</html>")
        .expect_err("no JSON");
    assert!(
        html.to_string().starts_with("the answer is not JSON"),
        "{html}"
    );
}

#[test]
fn the_url_is_the_address_and_the_path() {
    let meter = parse("t.toml", &file("power = { json = \"p\" }\n")).expect("loads");
    assert_eq!(meter.url("192.168.1.30"), "http://192.168.1.30/status");
    assert_eq!(
        meter.url("http://shelly:8080/"),
        "http://shelly:8080/status"
    );
}
