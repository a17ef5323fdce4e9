//! Real `moto_server`s for the tests: installed into target/moto-venv by scripts/moto-venv.sh
//! when missing (pinned there), started on free loopback ports as tests ask for them, at most
//! [`servers`] of them, each reset before a test takes it. A test holds its server for its whole
//! run, so every test has a clean emulator to itself while several run at once: most of a test's
//! time is spent waiting (on moto, on the SDK's retry backoff), not computing.
//!
//! What a test reads back goes through tests/support/aws.py (boto3), kept running beside each
//! server (`--serve`): starting Python and loading boto3 takes about a second, once per server
//! instead of once per question.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::{Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

pub struct Moto {
    pub endpoint: String,
    _watchdog: Mutex<Child>,
    python: PathBuf,
    /// aws.py `--serve` for this server, started on the first question.
    helper: Mutex<Option<Helper>>,
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
    _slot: Slot,
}

impl std::ops::Deref for MotoGuard {
    type Target = Moto;
    fn deref(&self) -> &Moto {
        self.moto
    }
}

/// How many emulators may run at once: `LAYERPUB_TEST_MOTO_SERVERS`, or 4. With 1, tests that
/// use moto run one at a time, as they did when every test file had its own binary.
pub fn servers() -> usize {
    static N: OnceLock<usize> = OnceLock::new();
    *N.get_or_init(|| {
        std::env::var("LAYERPUB_TEST_MOTO_SERVERS")
            .ok()
            .and_then(|n| n.parse().ok())
            .filter(|n| *n > 0)
            .unwrap_or(4)
    })
}

struct Pool {
    servers: Vec<OnceLock<Moto>>,
    /// Which servers a test holds.
    taken: Mutex<Vec<bool>>,
    freed: Condvar,
}

fn pool() -> &'static Pool {
    static POOL: OnceLock<Pool> = OnceLock::new();
    POOL.get_or_init(|| Pool {
        servers: (0..servers()).map(|_| OnceLock::new()).collect(),
        taken: Mutex::new(vec![false; servers()]),
        freed: Condvar::new(),
    })
}

/// A server a test holds; given back when the test ends, whether it passed or panicked.
struct Slot(usize);

impl Drop for Slot {
    fn drop(&mut self) {
        let pool = pool();
        pool.taken.lock().unwrap_or_else(|p| p.into_inner())[self.0] = false;
        pool.freed.notify_one();
    }
}

/// An emulator, reset, for this test alone: the first free one (started if it never was), or
/// the first one another test gives back.
/// A server from the pool with the bucket `name` already made.
pub fn moto_with_bucket(name: &str) -> MotoGuard {
    let m = moto();
    m.aws(&["create-bucket", name]);
    m
}

pub fn moto() -> MotoGuard {
    let pool = pool();
    let slot = {
        let mut taken = pool.taken.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if let Some(i) = taken.iter().position(|t| !t) {
                taken[i] = true;
                break Slot(i);
            }
            taken = pool.freed.wait(taken).unwrap_or_else(|p| p.into_inner());
        }
    };
    let moto = pool.servers[slot.0].get_or_init(start);
    http(&moto.endpoint, "POST", "/moto-api/reset").expect("reset moto");
    MotoGuard { moto, _slot: slot }
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

    /// Runs an aws.py command (boto3) in us-east-1 and returns its JSON answer.
    pub fn aws(&self, args: &[&str]) -> serde_json::Value {
        self.aws_in("us-east-1", args)
    }

    /// Runs an aws.py command (boto3) in `region` and returns its JSON answer.
    pub fn aws_in(&self, region: &str, args: &[&str]) -> serde_json::Value {
        let mut helper = self.helper.lock().unwrap_or_else(|p| p.into_inner());
        let h = helper.get_or_insert_with(|| Helper::start(&self.python, &self.endpoint));
        let answer = h.ask(region, args);
        if answer.is_err() {
            // Dead or out of step: the next question starts a new one.
            *helper = None;
        }
        match answer {
            Ok(mut a) if a.get("ok").is_some() => a["ok"].take(),
            Ok(a) => panic!("aws.py {args:?}: {}", a["error"].as_str().unwrap_or("")),
            Err(e) => panic!("aws.py {args:?}: {e}"),
        }
    }

    pub fn versions(&self, layer: &str) -> Vec<serde_json::Value> {
        self.aws(&["versions", layer]).as_array().unwrap().clone()
    }

    pub fn keys(&self, bucket: &str) -> Vec<String> {
        serde_json::from_value(self.aws(&["keys", bucket])).unwrap()
    }
}

/// tests/support/aws.py `ENDPOINT --serve`: one JSON question per line in, one answer out.
/// It ends when the test process does (its stdin closes).
struct Helper {
    _child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Helper {
    fn start(python: &Path, endpoint: &str) -> Helper {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/aws.py");
        let mut child = Command::new(python)
            .arg(script)
            .arg(endpoint)
            .arg("--serve")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("run aws.py");
        Helper {
            stdin: child.stdin.take().unwrap(),
            stdout: BufReader::new(child.stdout.take().unwrap()),
            _child: child,
        }
    }

    fn ask(&mut self, region: &str, args: &[&str]) -> std::io::Result<serde_json::Value> {
        let question = serde_json::json!({ "region": region, "args": args });
        writeln!(self.stdin, "{question}")?;
        self.stdin.flush()?;
        let mut line = String::new();
        if self.stdout.read_line(&mut line)? == 0 {
            return Err(std::io::Error::other(
                "aws.py ended without an answer (its error is above)",
            ));
        }
        serde_json::from_str(&line).map_err(std::io::Error::other)
    }
}

/// The venv's python, after scripts/moto-venv.sh made sure the pinned moto (and jsonschema,
/// for [`super::schema`]) is installed there (the same script the demo and the benchmarks
/// use). Once per test process.
pub fn ensure_installed() -> PathBuf {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON
        .get_or_init(|| {
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
        })
        .clone()
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
        helper: Mutex::new(None),
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
