//! Malformed requests: each gets a clear JSON error string with a 4xx
//! status, changes nothing, and the daemon keeps serving.

use serde_json::{json, Value};

use crate::harness::{simulated_power_brain, Daemon};

/// (query, status, what the error says)
const CASES: &[(&str, u16, &str)] = &[
    ("", 400, "missing parameter: cmd"),
    ("cmd=", 400, "unknown command: "),
    ("cmd=nonsense", 400, "unknown command: nonsense"),
    ("cmd=modbus", 400, "missing parameter: device"),
    (
        "cmd=modbus&device=nope&read=8002",
        404,
        "unknown device: nope",
    ),
    (
        "cmd=modbus&device=evse",
        400,
        "missing parameter: read or write",
    ),
    (
        "cmd=modbus&device=evse&read=",
        400,
        "bad parameter read: bad register address ''",
    ),
    (
        "cmd=modbus&device=evse&read=abc",
        400,
        "bad parameter read: bad register address 'abc'",
    ),
    (
        "cmd=modbus&device=evse&read=8002x",
        400,
        "bad parameter read: bad register address '8002x'",
    ),
    (
        "cmd=modbus&device=evse&read=-1",
        400,
        "bad register address '-1'",
    ),
    (
        "cmd=modbus&device=evse&read=65536",
        400,
        "register address out of range: '65536'",
    ),
    (
        "cmd=modbus&device=evse&read=99999999999999999999999",
        400,
        "register address out of range",
    ),
    (
        "cmd=modbus&device=evse&read=8002&count=0",
        400,
        "bad parameter count: '0' is not a number from 1 to 125",
    ),
    (
        "cmd=modbus&device=evse&read=8002&count=126",
        400,
        "bad parameter count: '126'",
    ),
    (
        "cmd=modbus&device=evse&read=8002&count=-3",
        400,
        "bad parameter count: '-3'",
    ),
    (
        "cmd=modbus&device=evse&read=8002&count=ten",
        400,
        "bad parameter count: 'ten'",
    ),
    (
        "cmd=modbus&device=evse&read=8058q&count=32",
        400,
        "32 values of 4 registers exceed 125 registers",
    ),
    (
        "cmd=modbus&device=evse&read=65535&count=2",
        400,
        "2 registers from 65535 run past 65535",
    ),
    (
        "cmd=modbus&device=evse&read=all&count=2",
        400,
        "bad parameter count: does not go with read=all",
    ),
    (
        "cmd=modbus&device=evse&read=8093s",
        400,
        "8093 is not a string register of this device",
    ),
    (
        "cmd=modbus&device=evse&read=8002&write=8093&value=1",
        400,
        "give read or write, not both",
    ),
    (
        "cmd=modbus&device=evse&write=8093",
        400,
        "missing parameter: value or values",
    ),
    (
        "cmd=modbus&device=evse&write=8093&value=abc",
        400,
        "bad parameter value: 'abc' is not an integer",
    ),
    (
        "cmd=modbus&device=evse&write=8093&value=1.5",
        400,
        "'1.5' is not an integer",
    ),
    (
        "cmd=modbus&device=evse&write=8093&value=65536",
        400,
        "value 65536 does not fit a 16-bit register",
    ),
    (
        "cmd=modbus&device=evse&write=8093&value=-5",
        400,
        "-5 does not fit an unsigned 16-bit register",
    ),
    (
        "cmd=modbus&device=evse&write=9000&value=-32769",
        400,
        "value -32769 does not fit a 16-bit register",
    ),
    (
        "cmd=modbus&device=evse&write=8083d&value=2147483648",
        400,
        "does not fit a 32-bit register",
    ),
    (
        "cmd=modbus&device=evse&write=8050q&value=9223372036854775808",
        400,
        "does not fit a 64-bit register",
    ),
    (
        "cmd=modbus&device=evse&write=8016s&value=1",
        400,
        "string registers cannot be written",
    ),
    (
        "cmd=modbus&device=evse&write=8093q&value=1",
        400,
        "bad modbus register size",
    ),
    (
        "cmd=modbus&device=evse&write=8005&value=1",
        400,
        "bad modbus register size",
    ),
    (
        "cmd=modbus&device=evse&write=8093&value=1&values=[1]",
        400,
        "give value or values, not both",
    ),
    (
        "cmd=modbus&device=evse&write=8044&values=7,230",
        400,
        "is not an array of integers",
    ),
    (
        "cmd=modbus&device=evse&write=8044&values=[]",
        400,
        "needs 1 to 123 values",
    ),
    (
        "cmd=modbus&device=evse&write=8044&values=[1,70000]",
        400,
        "value 70000 does not fit a 16-bit register",
    ),
    (
        "cmd=modbus&device=evse&write=8044&values=[\"a\"]",
        400,
        "is not an array of integers",
    ),
    (
        "cmd=modbus&device=evse&write=8044d&values=[1,2]",
        400,
        "drop the suffix",
    ),
    (
        "cmd=modbus&device=evse&write=8092&value=1",
        400,
        "register 8092 (charge_pilot_state) is read-only",
    ),
    (
        "cmd=modbus&device=evse&write=8093&values=[1,2,3]",
        400,
        "register 8095 (charging_current) is read-only",
    ),
    (
        "cmd=modbus&device=evse&write=8093&value=1&count=2",
        400,
        "bad parameter count: does not go with write",
    ),
    (
        "cmd=modbus&cmd=modbus&device=evse&read=8002",
        400,
        "parameter cmd given more than once",
    ),
    (
        "cmd=modbus&device=evse&read=%ZZ",
        400,
        "bad register address",
    ),
    (
        "cmd=modbus&device=%FF%FE&read=8002",
        404,
        "unknown device: ",
    ),
    (
        "cmd=modbus&device=evse&read=8002&count",
        400,
        "bad parameter count",
    ),
];

#[tokio::test]
async fn malformed_requests_get_clear_client_errors() {
    assert!(CASES.len() >= 30);
    // In observation mode the load manager writes nothing, so the registers
    // the rejected writes aim at (8093 and 8094 among them) change only if
    // a rejected request wrote them.
    let d =
        Daemon::start(simulated_power_brain().env("CHARGEBRAIN__LOAD__LB_ENABLED", "false")).await;
    // A value none of the rejected writes would leave.
    d.ok_change("cmd=modbus&device=evse&write=8093&value=123")
        .await;
    let registers = [
        "read=8044&count=4",
        "read=8050q",
        "read=8080&count=9",
        "read=8090&count=2",
        "read=8093&count=2",
    ];
    let mut before = Vec::new();
    for r in registers {
        before.push(d.ok(&format!("cmd=modbus&device=evse&{r}")).await);
    }
    for (query, status, says) in CASES {
        // Writes are changes, sent as POST; their errors are the same.
        let (got_status, body) = if query.contains("write=") {
            d.change(query).await
        } else {
            d.get(query).await
        };
        let text = match &body {
            Value::String(s) => s.clone(),
            other => panic!("{query}: the error is not a JSON string: {other}"),
        };
        assert_eq!(got_status, *status, "{query} -> {text}");
        assert!(text.contains(says), "{query}: {text:?} should say {says:?}");
    }
    for (r, was) in registers.iter().zip(before) {
        let now = d.ok(&format!("cmd=modbus&device=evse&{r}")).await;
        assert_eq!(now, was, "a rejected request changed {r}");
    }
    assert_eq!(d.ok("cmd=modbus&device=meter1&read=8002").await, json!(1));
}

#[tokio::test]
async fn other_paths_answer_json_not_a_page() {
    let d = Daemon::start(simulated_power_brain()).await;
    let resp = d
        .client()
        .get(format!("{}/nothing/here", d.base))
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status().as_u16(), 404);
    assert_eq!(
        resp.json::<Value>().await.expect("json"),
        json!("not found: /nothing/here")
    );
    let resp = d
        .client()
        .post(format!("{}/cnf?cmd=modbus&device=meter1&read=8002", d.base))
        .send()
        .await
        .expect("post");
    assert_eq!(
        resp.json::<Value>().await.expect("json"),
        json!(1),
        "POST works like GET"
    );
}
