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
