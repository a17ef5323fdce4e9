//! TLS only where it is used: a run against a plain `http://` endpoint (the emulator here,
//! LocalStack or a local proxy for users) reads no root certificates, while an `https://`
//! endpoint still gets the SDK's TLS, certificates and all (issue 17: the ~290 certificates
//! cost about 4 ms of the 11 ms no-change run).
//!
//! Observed from outside: `SSL_CERT_FILE` is a FIFO, and a watcher notices when anything opens
//! it for reading (rustls-native-certs reads that file, and only it, when it is set). The
//! watcher then closes its end, so a regression reads an empty file instead of hanging.

use crate::common;

use std::fs;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use common::moto::{Moto, moto};
use common::*;

/// A FIFO standing in for the certificate file, and the thread that reports whether it was
/// opened for reading.
struct CertFileWatch {
    path: PathBuf,
    stop: Arc<AtomicBool>,
    watcher: JoinHandle<bool>,
}

impl CertFileWatch {
    fn new(dir: &Path) -> CertFileWatch {
        let path = dir.join("roots.pem");
        let made = std::process::Command::new("mkfifo")
            .arg(&path)
            .status()
            .expect("run mkfifo");
        assert!(made.success(), "mkfifo {}", path.display());
        let stop = Arc::new(AtomicBool::new(false));
        let watcher = {
            let (path, stop) = (path.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut opened = false;
                while !stop.load(Ordering::SeqCst) {
                    // A non-blocking open for writing succeeds only while a reader has the
                    // FIFO open (ENXIO otherwise); closing it gives the reader an empty file.
                    if fs::OpenOptions::new()
                        .write(true)
                        .custom_flags(libc::O_NONBLOCK)
                        .open(&path)
                        .is_ok()
                    {
                        opened = true;
                    }
                    std::thread::sleep(Duration::from_millis(2));
                }
                opened
            })
        };
        CertFileWatch {
            path,
            stop,
            watcher,
        }
    }

    /// Whether the certificate file was read since [`CertFileWatch::new`].
    fn was_read(self) -> bool {
        self.stop.store(true, Ordering::SeqCst);
        self.watcher.join().unwrap()
    }
}

fn project(dir: &Path) {
    write_file(dir, "site-packages/six.py", b"# six\n", 0o644);
    fs::write(dir.join("requirements.txt"), "six==1.16.0\n").unwrap();
    fs::write(
        dir.join("layerpub.yml"),
        "layer-name: deps\npath: site-packages\nprefix: python\nmanifest: requirements.txt\ncompatible-runtimes: [python3.12]\n",
    )
    .unwrap();
}

fn run_with_cert_file(m: &Moto, dir: &Path, certs: &CertFileWatch, endpoint: &str) -> Run {
    layerpub_cmd()
        .current_dir(dir)
        .args(["--output", "json"])
        .moto(m)
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("SSL_CERT_FILE", &certs.path)
        .env("SSL_CERT_DIR", dir.join("no-such-dir"))
        .env("LAYERPUB_TEST_TIMEOUT_SECS", "5")
        .run_within()
}

#[test]
fn a_plain_http_endpoint_reads_no_root_certificates() {
    let m = moto();
    let dir = temp();
    project(dir.path());
    let certs = CertFileWatch::new(dir.path());
    let first = run_with_cert_file(&m, dir.path(), &certs, &m.endpoint);
    assert_eq!(
        first.assert_ok().layer()["published"],
        true,
        "{}",
        first.stdout
    );
    // The no-change run: the one benchmarked.
    let again = run_with_cert_file(&m, dir.path(), &certs, &m.endpoint);
    assert_eq!(
        again.assert_ok().layer()["published"],
        false,
        "{}",
        again.stdout
    );
    assert!(
        !certs.was_read(),
        "root certificates were loaded for {}",
        m.endpoint
    );
}

#[test]
fn an_https_endpoint_still_sets_up_tls_with_the_system_s_certificates() {
    let m = moto();
    let dir = temp();
    project(dir.path());
    let certs = CertFileWatch::new(dir.path());
    // The emulator speaks plain HTTP: a TLS client cannot talk to it, and must not fall back.
    let https = m.endpoint.replacen("http://", "https://", 1);
    assert!(https.starts_with("https://"), "{https}");
    let r = run_with_cert_file(&m, dir.path(), &certs, &https);
    assert_ne!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(!r.stderr.contains("hung"), "{}", r.stderr);
    assert!(
        certs.was_read(),
        "no root certificates were loaded for {https}: {}",
        r.stderr
    );
    assert!(m.versions("deps").is_empty(), "nothing was published");
}

/// Writes a self-signed certificate for 127.0.0.1 and its key as `NAME.pem` and `NAME.key`
/// in `dir`, with Python's `cryptography` (moto needs it, so the emulator's venv has it).
fn self_signed(python: &Path, dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    const MAKE: &str = r#"
import datetime, ipaddress, sys
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
cert_path, key_path = sys.argv[1], sys.argv[2]
key = ec.generate_private_key(ec.SECP256R1())
name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "layerpub test")])
now = datetime.datetime.now(datetime.timezone.utc)
cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
    .public_key(key.public_key()).serial_number(x509.random_serial_number())
    .not_valid_before(now - datetime.timedelta(days=1))
    .not_valid_after(now + datetime.timedelta(days=1))
    .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
    .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
    .sign(key, hashes.SHA256()))
open(cert_path, "wb").write(cert.public_bytes(serialization.Encoding.PEM))
open(key_path, "wb").write(key.private_bytes(serialization.Encoding.PEM,
    serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
"#;
    let (cert, key) = (
        dir.join(format!("{name}.pem")),
        dir.join(format!("{name}.key")),
    );
    let made = std::process::Command::new(python)
        .args(["-c", MAKE])
        .arg(&cert)
        .arg(&key)
        .status()
        .expect("run the venv's python");
    assert!(
        made.success(),
        "could not make a certificate with cryptography"
    );
    (cert, key)
}

/// A child process stopped when dropped: the servers these tests start.
struct Server(std::process::Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A moto server speaking HTTPS only, with a certificate of its own.
struct TlsMoto {
    endpoint: String,
    ca: PathBuf,
    _server: Server,
}

fn tls_moto(dir: &Path) -> TlsMoto {
    let python = common::moto::ensure_installed();
    let (ca, key) = self_signed(&python, dir, "server");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let server = std::process::Command::new(&python)
        .args([
            "-m",
            "moto.server",
            "-H",
            "127.0.0.1",
            "-p",
            &port.to_string(),
        ])
        .arg("-c")
        .arg(&ca)
        .arg("-k")
        .arg(&key)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start moto over TLS");
    let endpoint = format!("https://127.0.0.1:{port}");
    let s = TlsMoto {
        endpoint,
        ca,
        _server: Server(server),
    };
    // Answering over TLS, with this certificate, before any test run.
    const PROBE: &str = "import ssl, sys, urllib.request\nurllib.request.urlopen(sys.argv[1] + '/moto-api/', context=ssl.create_default_context(cafile=sys.argv[2]), timeout=2)";
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !std::process::Command::new(&python)
        .args(["-c", PROBE, &s.endpoint])
        .arg(&s.ca)
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap()
        .success()
    {
        assert!(
            std::time::Instant::now() < deadline,
            "moto did not answer on {}",
            s.endpoint
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    s
}

/// The whole publish over TLS (no bucket: the zip goes inline to Lambda), with the
/// certificate checked: a run trusting another certificate fails naming it and publishes
/// nothing; the run trusting the server's publishes version 1, and the next finds it unchanged.
#[test]
fn an_https_endpoint_publishes_over_verified_tls() {
    let dir = temp();
    project(dir.path());
    let s = tls_moto(dir.path());
    let (stranger, _) = self_signed(&common::moto::ensure_installed(), dir.path(), "stranger");
    let run = |ca: &Path| tls_run(dir.path(), &s, ca, &[]);
    let refused = run(&stranger);
    assert_eq!(refused.code, 1, "{}\n{}", refused.stdout, refused.stderr);
    assert!(
        refused.stderr.contains("invalid peer certificate"),
        "the error names the certificate: {}",
        refused.stderr
    );
    let first = run(&s.ca);
    let layer = first.assert_ok().layer();
    assert_eq!(layer["published"], true, "{}", first.stdout);
    assert_eq!(
        layer["layer_version"], 1,
        "the refused run published nothing"
    );
    let again = run(&s.ca);
    assert_eq!(
        again.assert_ok().layer()["published"],
        false,
        "{}",
        again.stdout
    );
}

/// A layerpub run against `s`, trusting `ca`, with `extra` variables.
fn tls_run(dir: &Path, s: &TlsMoto, ca: &Path, extra: &[(&str, &str)]) -> Run {
    let mut cmd = layerpub_cmd()
        .current_dir(dir)
        .args(["--output", "json"])
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_ENDPOINT_URL", &s.endpoint)
        .env("SSL_CERT_FILE", ca)
        .env("SSL_CERT_DIR", dir.join("no-such-dir"))
        .env("LAYERPUB_TEST_TIMEOUT_SECS", "5");
    for (k, v) in extra {
        cmd = cmd.env(k, v);
    }
    cmd.run_within()
}

/// tests/support/connect_proxy.py on a free port: a proxy that tunnels CONNECT requests and
/// logs each one's target.
struct ConnectProxy {
    port: u16,
    log: PathBuf,
    _server: Server,
}

impl ConnectProxy {
    fn start(dir: &Path) -> ConnectProxy {
        let (port_file, log) = (dir.join("proxy.port"), dir.join("proxy.log"));
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/connect_proxy.py");
        let server = std::process::Command::new("python3")
            .arg(script)
            .arg(&port_file)
            .arg(&log)
            .spawn()
            .expect("start the proxy");
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        let port = loop {
            if let Ok(p) = fs::read_to_string(&port_file) {
                break p.trim().parse().unwrap();
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the proxy did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        ConnectProxy {
            port,
            log,
            _server: Server(server),
        }
    }

    fn requests(&self) -> Vec<String> {
        fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }
}

/// On a runner that reaches AWS through a proxy: `https://` calls go through `HTTPS_PROXY`'s
/// CONNECT tunnel (with its credentials, which no output shows), TLS still verified end to
/// end; a host in `NO_PROXY` is reached directly; a proxy setting that is not a URL is bad
/// input naming the variable and not its value.
#[test]
fn https_calls_go_through_https_proxy_unless_no_proxy_names_the_host() {
    let dir = temp();
    project(dir.path());
    let s = tls_moto(dir.path());
    let proxy = ConnectProxy::start(dir.path());
    let via = format!("http://builder:pr0xy-pa55@127.0.0.1:{}", proxy.port);
    let moto_host = s.endpoint.trim_start_matches("https://").to_owned();

    let first = tls_run(dir.path(), &s, &s.ca, &[("HTTPS_PROXY", &via)]);
    assert_eq!(
        first.assert_ok().layer()["published"],
        true,
        "{}",
        first.stdout
    );
    let seen = proxy.requests();
    assert!(!seen.is_empty(), "nothing went through the proxy");
    assert!(
        seen.iter()
            .all(|r| *r == format!("CONNECT {moto_host} auth")),
        "every call is a tunnel to the endpoint, with the proxy's credentials: {seen:?}"
    );
    for out in [&first.stdout, &first.stderr] {
        assert!(
            !out.contains("pr0xy-pa55"),
            "the proxy's password was shown: {out}"
        );
    }

    let direct = tls_run(
        dir.path(),
        &s,
        &s.ca,
        &[("https_proxy", &via), ("NO_PROXY", "127.0.0.1")],
    );
    assert_eq!(
        direct.assert_ok().layer()["published"],
        false,
        "{}",
        direct.stdout
    );
    assert_eq!(
        proxy.requests(),
        seen,
        "NO_PROXY's host went through the proxy"
    );

    let bad = tls_run(
        dir.path(),
        &s,
        &s.ca,
        &[("HTTPS_PROXY", "socks5://builder:pr0xy-pa55@127.0.0.1:1")],
    );
    assert_eq!(bad.code, 2, "{}", bad.stderr);
    assert!(
        bad.stderr
            .contains("HTTPS_PROXY: not an http://host:port URL"),
        "{}",
        bad.stderr
    );
    assert!(!bad.stderr.contains("pr0xy-pa55"), "{}", bad.stderr);
}
