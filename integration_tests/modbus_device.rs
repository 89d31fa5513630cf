//! A Modbus TCP device served by PyPI pymodbus
//! (`integration_tests/modbus_device/device.py`): a third party answers the
//! daemon's requests and encodes the typed values it holds.

use std::process::Stdio;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

use crate::harness::{ask_line, repo_file, test_python};

/// What the device holds: raw words and typed values, each in its table.
#[derive(Default, Clone)]
pub struct Registers {
    runs: Vec<Value>,
    values: Vec<Value>,
}

impl Registers {
    /// Raw words from `addr` on in `table` ("holding" or "input").
    pub fn words(mut self, table: &str, addr: u16, words: &[u16]) -> Self {
        self.runs
            .push(json!({"table": table, "addr": addr, "words": words}));
        self
    }

    /// A value of pymodbus's `ty` ("float32", "int32", "uint64", ...) at
    /// `addr`, which pymodbus encodes high word first.
    pub fn value(mut self, table: &str, addr: u16, ty: &str, value: f64) -> Self {
        self.values
            .push(json!({"table": table, "addr": addr, "type": ty, "value": value}));
        self
    }

    /// These registers, then `other`'s over them.
    pub fn then(mut self, other: &Registers) -> Self {
        self.runs.extend(other.runs.iter().cloned());
        self.values.extend(other.values.iter().cloned());
        self
    }

    /// The same, low word first.
    pub fn value_low_first(mut self, table: &str, addr: u16, ty: &str, value: f64) -> Self {
        self.values
            .push(json!({"table": table, "addr": addr, "type": ty,
            "value": value, "word_order": "low_first"}));
        self
    }
}

/// A running pymodbus device; stopped when dropped.
pub struct PyDevice {
    _child: Child,
    stdin: ChildStdin,
    stdout: Lines<BufReader<ChildStdout>>,
    pub addr: String,
}

impl PyDevice {
    pub async fn start(unit: u8, registers: &Registers) -> PyDevice {
        Self::run(json!({"unit": unit, "registers": registers.runs, "values": registers.values}))
            .await
    }

    /// A device that speaks Modbus ASCII (pymodbus's ASCII framer) on its
    /// socket: the frames a serial device sends, for a test to carry to a
    /// serial line.
    pub async fn start_ascii(unit: u8, registers: &Registers) -> PyDevice {
        Self::run(json!({"unit": unit, "registers": registers.runs,
            "values": registers.values, "framer": "ascii"}))
        .await
    }

    /// A device whose holding registers from 40000 hold the SunSpec
    /// `chain` (see `device.py`: models laid out by pysunspec2).
    pub async fn start_sunspec(unit: u8, registers: &Registers, chain: Value) -> PyDevice {
        Self::run(json!({"unit": unit, "registers": registers.runs,
            "values": registers.values, "sunspec": chain}))
        .await
    }

    async fn run(spec: Value) -> PyDevice {
        let mut child = Command::new(test_python())
            .arg(repo_file("integration_tests/modbus_device/device.py"))
            .arg(spec.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("the test venv's python runs");
        let stdin = child.stdin.take().expect("stdin");
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let first = tokio::time::timeout(Duration::from_secs(30), stdout.next_line())
            .await
            .expect("the pymodbus device starts")
            .expect("read")
            .expect("the pymodbus device exited");
        let port: Value = serde_json::from_str(&first).expect("JSON");
        let addr = format!("127.0.0.1:{}", port["port"]);
        PyDevice {
            _child: child,
            stdin,
            stdout,
            addr,
        }
    }

    async fn ask(&mut self, cmd: Value) -> Value {
        ask_line(
            &mut self.stdin,
            &mut self.stdout,
            &cmd,
            Duration::from_secs(10),
        )
        .await
    }

    /// The holding registers from `addr` on as the device holds them now
    /// (`None` before the daemon touched the table).
    pub async fn holding(&mut self, addr: u16, count: u16) -> Option<Vec<u16>> {
        let got = self
            .ask(json!({"cmd": "get", "table": "holding", "addr": addr, "count": count}))
            .await;
        serde_json::from_value(got["values"].clone()).ok()
    }

    /// The reads answered since the last look: (function code, address,
    /// count).
    pub async fn reads(&mut self) -> Vec<(u8, u16, u16)> {
        let got = self.ask(json!({"cmd": "reads"})).await;
        serde_json::from_value(got["reads"].clone()).expect("reads")
    }

    /// The writes since the last look: (function code, address, words).
    pub async fn writes(&mut self) -> Vec<(u8, u16, Vec<u16>)> {
        let got = self.ask(json!({"cmd": "writes"})).await;
        serde_json::from_value(got["writes"].clone()).expect("writes")
    }
}
