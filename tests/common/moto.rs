//! A real `moto_server` for the tests: installed into a virtualenv under `target/` when missing
//! (pinned), started once per test binary on a free loopback port, reset before each test.
//! Tests that use it hold its lock, so they run one at a time against a clean emulator.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

/// The emulator's version, pinned: its gaps are known (see the tests that work around them).
pub const MOTO: &str = "moto[server]==5.2.5";

pub struct Moto {
    pub endpoint: String,
    child: Mutex<Child>,
    python: PathBuf,
}

impl Drop for Moto {
    fn drop(&mut self) {
        if let Ok(mut c) = self.child.lock() {
            let _ = c.kill();
        }
    }
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

    /// Runs tests/support/aws.py (boto3) and parses its JSON answer.
    pub fn aws(&self, args: &[&str]) -> serde_json::Value {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/aws.py");
        let out = Command::new(&self.python)
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

fn venv_dir() -> PathBuf {
    // target/, shared by every test binary and kept between runs of the same checkout.
    Path::new(env!("CARGO_MANIFEST_DIR")).join("target/moto-venv")
}

/// Installs moto into target/moto-venv unless it is there: built in a scratch folder and
/// renamed into place, so a concurrent or interrupted install never leaves half a venv.
fn ensure_installed() -> PathBuf {
    let venv = venv_dir();
    let server = venv.join("bin/python");
    if has_moto(&server) {
        return venv;
    }
    let scratch = venv.with_extension(format!("tmp{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&scratch);
    let ok = Command::new("python3")
        .args(["-m", "venv"])
        .arg(&scratch)
        .status()
        .is_ok_and(|s| s.success())
        && Command::new(scratch.join("bin/pip"))
            .args(["install", "--quiet", "--disable-pip-version-check", MOTO])
            .status()
            .is_ok_and(|s| s.success());
    assert!(
        ok,
        "could not install {MOTO} into {} (needs python3 with venv and the PyPI registry)",
        scratch.display()
    );
    if std::fs::rename(&scratch, &venv).is_err() {
        // Another test binary installed it first.
        let _ = std::fs::remove_dir_all(&scratch);
    }
    assert!(
        has_moto(&server),
        "moto missing from {} after install",
        venv.display()
    );
    venv
}

/// Whether this interpreter can import moto's server. (The venv is renamed into place, so its
/// `bin/` scripts point at the scratch folder: we always go through `python -m`.)
fn has_moto(python: &Path) -> bool {
    Command::new(python)
        .args(["-c", "import moto.server"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn start() -> Moto {
    let venv = ensure_installed();
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(venv.join("bin/python"))
        .args([
            "-m",
            "moto.server",
            "-H",
            "127.0.0.1",
            "-p",
            &port.to_string(),
        ])
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
        child: Mutex::new(child),
        python: venv.join("bin/python"),
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
