//! A real `moto_server` for the tests: installed into target/moto-venv by scripts/moto-venv.sh
//! when missing (pinned there), started once per test binary on a free loopback port, reset before each test.
//! Tests that use it hold its lock, so they run one at a time against a clean emulator.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

pub struct Moto {
    pub endpoint: String,
    _watchdog: Mutex<Child>,
    python: PathBuf,
}

/// `layerpub --output json ARGS` in `dir` against the emulator, as CI would run it.
pub fn run(m: &Moto, dir: &Path, args: &[&str]) -> super::Run {
    super::layerpub_cmd()
        .current_dir(dir)
        .args(["--output", "json"])
        .args(args)
        .moto(m)
        .run()
}

/// Held by a test for its whole run: the emulator is reset and belongs to that test.
pub struct MotoGuard {
    pub moto: &'static Moto,
    _lock: MutexGuard<'static, ()>,
}

impl std::ops::Deref for MotoGuard {
    type Target = Moto;
    fn deref(&self) -> &Moto {
        self.moto
    }
}

static SERVER: OnceLock<Moto> = OnceLock::new();
static LOCK: Mutex<()> = Mutex::new(());

/// The emulator, reset, for this test alone.
pub fn moto() -> MotoGuard {
    let lock = LOCK.lock().unwrap_or_else(|p| p.into_inner());
    let moto = SERVER.get_or_init(start);
    http(&moto.endpoint, "POST", "/moto-api/reset").expect("reset moto");
    MotoGuard { moto, _lock: lock }
}

impl Moto {
    /// Environment for layerpub runs against this emulator, with fake credentials.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ACCESS_KEY_ID", "testing".into()),
            ("AWS_SECRET_ACCESS_KEY", "testing".into()),
            ("AWS_REGION", "us-east-1".into()),
            ("AWS_ENDPOINT_URL", self.endpoint.clone()),
            ("AWS_EC2_METADATA_DISABLED", "true".into()),
        ]
    }

    /// Runs tests/support/aws.py (boto3) in us-east-1 and parses its JSON answer.
    pub fn aws(&self, args: &[&str]) -> serde_json::Value {
        self.aws_in("us-east-1", args)
    }

    /// Runs tests/support/aws.py (boto3) in `region` and parses its JSON answer.
    pub fn aws_in(&self, region: &str, args: &[&str]) -> serde_json::Value {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/aws.py");
        let out = Command::new(&self.python)
            .env("AWS_TEST_REGION", region)
            .arg(script)
            .arg(&self.endpoint)
            .args(args)
            .output()
            .expect("run aws.py");
        assert!(
            out.status.success(),
            "aws.py {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("aws.py prints JSON")
    }

    pub fn versions(&self, layer: &str) -> Vec<serde_json::Value> {
        self.aws(&["versions", layer]).as_array().unwrap().clone()
    }

    pub fn keys(&self, bucket: &str) -> Vec<String> {
        serde_json::from_value(self.aws(&["keys", bucket])).unwrap()
    }
}

/// The venv's python, after scripts/moto-venv.sh made sure the pinned moto is installed there
/// (the same script the demo and the benchmarks use).
fn ensure_installed() -> PathBuf {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/moto-venv.sh");
    let out = Command::new("bash")
        .arg(&script)
        .stderr(Stdio::inherit())
        .output()
        .expect("run scripts/moto-venv.sh");
    assert!(
        out.status.success(),
        "scripts/moto-venv.sh could not install moto (needs python3 with venv and the PyPI registry)"
    );
    PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
}

/// `sh -c WATCHDOG PYTHON PORT`: runs moto, and stops it when the parent (the test process)
/// is gone.
const WATCHDOG: &str = r#"
parent=$PPID
"$0" -m moto.server -H 127.0.0.1 -p "$1" >/dev/null 2>&1 &
server=$!
trap 'kill $server 2>/dev/null' EXIT
trap 'exit 0' TERM INT
while kill -0 "$parent" 2>/dev/null; do sleep 0.5; done
"#;

fn start() -> Moto {
    let python = ensure_installed();
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    // The server lives in a `static`, which Rust never drops: a watchdog shell stops it once
    // this test process has exited, so test runs leave no emulator behind.
    let child = Command::new("sh")
        .arg("-c")
        .arg(WATCHDOG)
        .arg(&python)
        .arg(port.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start moto_server");
    let endpoint = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while http(&endpoint, "GET", "/moto-api/").is_err() {
        assert!(
            Instant::now() < deadline,
            "moto_server did not answer on {endpoint}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    Moto {
        endpoint,
        _watchdog: Mutex::new(child),
        python,
    }
}

/// A bare HTTP/1.1 request: the tests need no HTTP client for two calls.
fn http(endpoint: &str, method: &str, path: &str) -> std::io::Result<String> {
    let addr = endpoint.trim_start_matches("http://");
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )?;
    let mut reply = String::new();
    s.read_to_string(&mut reply)?;
    if reply.starts_with("HTTP/1.1 2") || reply.starts_with("HTTP/1.0 2") {
        Ok(reply)
    } else {
        Err(std::io::Error::other(
            reply.lines().next().unwrap_or("").to_owned(),
        ))
    }
}
