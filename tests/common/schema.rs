//! Every JSON document layerpub prints is checked against the committed JSON Schemas
//! (schema/*.schema.json) by an independent implementation, Python's `jsonschema` (pinned in
//! scripts/moto-venv.sh), through tests/support/schema_check.py. One validator process per
//! test binary, started on first use and kept: a request costs a line each way, not a Python
//! start.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::{Mutex, OnceLock};

use serde_json::{Value, json};

/// Which schema a document is checked against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Schema {
    /// `publish` and `plan` (schema/result.schema.json), and the `result-json` step output.
    Result,
    Package,
    Fingerprint,
    Prune,
    /// Chosen by the validator from the first item's keys: for [`super::Run::json`], which does
    /// not know which command it ran.
    Auto,
}

impl Schema {
    fn name(self) -> &'static str {
        match self {
            Schema::Result => "result",
            Schema::Package => "package",
            Schema::Fingerprint => "fingerprint",
            Schema::Prune => "prune",
            Schema::Auto => "auto",
        }
    }
}

struct Validator {
    _child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

static VALIDATOR: OnceLock<Mutex<Validator>> = OnceLock::new();

fn start() -> Mutex<Validator> {
    let python = super::moto::ensure_installed();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/schema_check.py");
    // The process ends when this test process does: its stdin closes, and the script's loop
    // with it.
    let mut child = Command::new(python)
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start tests/support/schema_check.py");
    let stdin = child.stdin.take().unwrap();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    Mutex::new(Validator {
        _child: child,
        stdin,
        stdout,
    })
}

/// What is wrong with `document` under `schema`: empty when it is valid.
pub fn schema_errors(schema: Schema, document: &Value) -> Vec<String> {
    let mut v = VALIDATOR
        .get_or_init(start)
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    let request = json!({"schema": schema.name(), "document": document});
    writeln!(v.stdin, "{request}").expect("send a document to schema_check.py");
    v.stdin.flush().unwrap();
    let mut answer = String::new();
    v.stdout
        .read_line(&mut answer)
        .expect("read schema_check.py's answer");
    serde_json::from_str(&answer).unwrap_or_else(|e| {
        panic!("schema_check.py answered {answer:?} ({e}); its error is above in the test output")
    })
}

/// Fails the test unless `document` is valid under `schema`.
pub fn assert_valid(schema: Schema, document: &Value) {
    let errors = schema_errors(schema, document);
    assert!(
        errors.is_empty(),
        "the JSON breaks its contract:\n  {}\ndocument: {document:#}",
        errors.join("\n  ")
    );
}

/// Fails the test unless `document` is a valid publish / plan result
/// (schema/result.schema.json): `--output json` of `publish` and `plan`, and `result-json`.
pub fn assert_valid_result(document: &Value) {
    assert_valid(Schema::Result, document);
}

/// Where the committed snapshots live.
fn snapshot_path(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/snapshots")
        .join(name)
}

/// Fails the test unless `text` is exactly the committed tests/snapshots/NAME: the keys in
/// the order printed, and the values. With `LAYERPUB_UPDATE_SNAPSHOTS=1` the file is written
/// instead: review its diff before committing it, as it is the documented contract.
pub fn assert_snapshot(name: &str, text: &str) {
    let path = snapshot_path(name);
    if std::env::var_os("LAYERPUB_UPDATE_SNAPSHOTS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    assert!(
        text == expected,
        "the document differs from {} (if the change is intended, run again with \
         LAYERPUB_UPDATE_SNAPSHOTS=1 and review the diff):\n{text}",
        path.display()
    );
}

/// A committed snapshot, as JSON.
pub fn snapshot(name: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(snapshot_path(name)).unwrap()).unwrap()
}
