//! Helpers shared by the integration tests: run the real binary, build trees, read zips back
//! with independent readers (Python's zipfile, Info-ZIP's unzip).

#![allow(dead_code)]

pub mod fault_proxy;
pub mod moto;
pub mod prop;
pub mod schema;

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

pub const BIN: &str = env!("CARGO_BIN_EXE_layerpub");

/// What one run of the binary gave.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl From<std::process::Output> for Run {
    fn from(out: std::process::Output) -> Run {
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

impl Run {
    /// Stdout as the JSON document it must be, checked against its schema (schema/*.schema.json,
    /// chosen from the items' keys: see [`schema::Schema::Auto`]).
    pub fn json(&self) -> serde_json::Value {
        let doc = serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}): {}\nstderr: {}",
                self.stdout, self.stderr
            )
        });
        schema::assert_valid(schema::Schema::Auto, &doc);
        doc
    }

    /// The one item of a run with one layer (in one region): `layers[0]` of [`Run::json`].
    pub fn layer(&self) -> serde_json::Value {
        let mut doc = self.json();
        let layers = doc["layers"].as_array_mut().expect("a `layers` list");
        assert_eq!(layers.len(), 1, "one layer expected: {}", self.stdout);
        layers.remove(0)
    }

    pub fn assert_ok(&self) -> &Self {
        assert_eq!(self.code, 0, "stderr: {}", self.stderr);
        self
    }
}

/// The environment CI gives a step, for any program a test runs as a step (the binary, the
/// action's launcher): nothing from the test process but `PATH`.
pub fn ci_command(program: impl AsRef<OsStr>) -> Command {
    let mut c = Command::new(program);
    c.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .stdin(Stdio::null());
    c
}

/// `layerpub` as a test runs it, whatever the test: one place that decides its environment
/// ([`ci_command`]: empty but `PATH`), and how a run is waited for and read back.
///
/// ```ignore
/// let r = layerpub_cmd().current_dir(dir).args(["--output", "json"]).moto(&m).run();
/// ```
pub struct Layerpub(Command);

/// The builder for one run of the binary; see [`Layerpub`].
pub fn layerpub_cmd() -> Layerpub {
    Layerpub(ci_command(BIN))
}

impl Layerpub {
    pub fn current_dir(mut self, dir: &Path) -> Self {
        self.0.current_dir(dir);
        self
    }

    pub fn args<S: AsRef<OsStr>>(mut self, args: impl IntoIterator<Item = S>) -> Self {
        self.0.args(args);
        self
    }

    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Self {
        self.0.env(key, value);
        self
    }

    pub fn envs<K: AsRef<OsStr>, V: AsRef<OsStr>>(
        mut self,
        vars: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        self.0.envs(vars);
        self
    }

    /// The emulator's endpoint and fake credentials ([`moto::Moto::env`]); a later
    /// [`Layerpub::env`] of `AWS_ENDPOINT_URL` points the run elsewhere (a fault proxy).
    pub fn moto(self, m: &moto::Moto) -> Self {
        self.envs(m.env())
    }

    /// Runs it to the end and reads what it printed.
    pub fn run(mut self) -> Run {
        self.0.output().expect("run layerpub").into()
    }

    /// [`Layerpub::run`], but a run still going after [`HANG_LIMIT`] is killed and reported
    /// as hung (`code` -1, stderr saying so), so a regression that blocks (a FIFO opened for
    /// reading) fails its test instead of hanging the suite.
    pub fn run_within(self) -> Run {
        use std::io::Read;
        let args: Vec<_> = self.0.get_args().map(|a| a.to_owned()).collect();
        let mut child = self.spawn(Stdio::piped(), Stdio::piped());
        // Drained on threads: a run that fills a pipe must not look hung.
        let drain = |mut r: Box<dyn Read + Send>| {
            std::thread::spawn(move || {
                let mut buf = Vec::new();
                let _ = r.read_to_end(&mut buf);
                String::from_utf8_lossy(&buf).into_owned()
            })
        };
        let stdout = drain(Box::new(child.stdout.take().unwrap()));
        let stderr = drain(Box::new(child.stderr.take().unwrap()));
        let deadline = std::time::Instant::now() + HANG_LIMIT;
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break Some(status);
            }
            if std::time::Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        };
        let (stdout, mut stderr) = (stdout.join().unwrap(), stderr.join().unwrap());
        let code = match status {
            Some(s) => s.code().unwrap_or(-1),
            None => {
                stderr.push_str(&format!(
                    "\n[test] layerpub {args:?} was still running after {HANG_LIMIT:?}: killed (hung)"
                ));
                -1
            }
        };
        Run {
            code,
            stdout,
            stderr,
        }
    }

    /// Starts it without waiting (to signal or kill it), with stdout and stderr as given.
    pub fn spawn(mut self, stdout: Stdio, stderr: Stdio) -> Child {
        self.0
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .expect("run layerpub")
    }
}

/// Runs `layerpub ARGS` in `cwd` with only `env` (plus PATH) in its environment, as CI would.
pub fn layerpub(cwd: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    layerpub_cmd()
        .current_dir(cwd)
        .args(args)
        .envs(env.iter().copied())
        .run()
}

/// How long [`Layerpub::run_within`] lets a run take before it counts as hung: far above any
/// run the tests make (they take well under a second), so it only ever ends a hang.
pub const HANG_LIMIT: std::time::Duration = std::time::Duration::from_secs(60);

/// [`layerpub`] with the hang guard of [`Layerpub::run_within`].
pub fn layerpub_within(cwd: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    layerpub_cmd()
        .current_dir(cwd)
        .args(args)
        .envs(env.iter().copied())
        .run_within()
}

/// Writes a file, creating its folders, with the given permission bits.
pub fn write_file(root: &Path, rel: &str, content: &[u8], mode: u32) {
    let path = root.join(rel);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(&path, content).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
}

/// A small site-packages-like tree: text, binary, an executable, an empty file, litter that the
/// default excludes drop, and a name with non-ASCII characters.
pub fn sample_files() -> Vec<(&'static str, Vec<u8>, bool)> {
    let text: Vec<u8> = "import os\nprint('layer')\n".repeat(400).into_bytes();
    let binary = noise(50_000, 0x2545_f491);
    vec![
        ("requests/__init__.py", text.clone(), false),
        ("requests/api.py", b"def get(): pass\n".to_vec(), false),
        ("requests/_native.so", binary, false),
        ("bin/tool", b"#!/bin/sh\necho hi\n".to_vec(), true),
        ("empty.txt", Vec::new(), false),
        (
            "caf\u{e9}/men\u{fc}.txt",
            "d\u{e9}j\u{e0} vu".as_bytes().to_vec(),
            false,
        ),
        (
            "requests/__pycache__/api.cpython-312.pyc",
            b"junk".to_vec(),
            false,
        ),
        ("requests/stale.pyc", b"junk".to_vec(), false),
        (".DS_Store", b"junk".to_vec(), false),
    ]
}

/// Incompressible bytes from a xorshift generator: the same for the same seed.
pub fn noise(len: usize, seed: u32) -> Vec<u8> {
    let mut state = seed;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state as u8
        })
        .collect()
}

/// Creates the sample tree in `root`, files written in the given order, with `file_mode` /
/// `exec_mode` as permission bits (to mimic different umasks).
pub fn make_tree(root: &Path, reverse: bool, file_mode: u32, exec_mode: u32) {
    let mut files = sample_files();
    if reverse {
        files.reverse();
    }
    for (rel, content, exec) in files {
        write_file(
            root,
            rel,
            &content,
            if exec { exec_mode } else { file_mode },
        );
    }
}

/// Entries of a zip as Python's zipfile reads them.
pub fn python_entries(zip: &Path) -> Vec<serde_json::Value> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/zipinfo.py");
    let out = Command::new("python3")
        .arg(script)
        .arg(zip)
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "zipfile could not read {}: {}",
        zip.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v.as_array().unwrap().clone()
}

/// `unzip -t`: Info-ZIP's own integrity test of every entry.
pub fn assert_unzip_ok(zip: &Path) {
    let out = Command::new("unzip")
        .arg("-t")
        .arg(zip)
        .output()
        .expect("unzip (Info-ZIP) must be installed; .ci/run installs it");
    assert!(
        out.status.success(),
        "unzip -t failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("No errors detected"));
}

pub fn temp() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

pub fn path_str(p: &Path) -> String {
    p.to_str().unwrap().to_owned()
}

pub fn root_of(dir: &tempfile::TempDir) -> PathBuf {
    dir.path().to_path_buf()
}

/// Copies a folder tree (files and folders only).
pub fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &to.join(e.file_name()));
        } else {
            fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

/// The YAML of the README's code block that holds the line `# example: NAME`: tests run the
/// README's own examples, so the documentation cannot drift from what works.
pub fn readme_example(name: &str) -> String {
    let readme = fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
        .expect("read README.md");
    let tag = format!("# example: {name}\n");
    let start = readme
        .find(&tag)
        .unwrap_or_else(|| panic!("README.md has no block with `{}`", tag.trim()));
    let end = readme[start..].find("```").expect("the block ends") + start;
    readme[start..end].to_owned()
}

/// `$GITHUB_OUTPUT` read strictly as the runner reads it: `name<<DELIM`, value lines, `DELIM`
/// (or `name=value`); any other line is a failure. Returns every output, each once.
pub fn parse_github_output(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        let (name, value) = if let Some((name, delim)) = line.split_once("<<") {
            let mut value = Vec::new();
            let mut closed = false;
            for l in lines.by_ref() {
                if l == delim {
                    closed = true;
                    break;
                }
                value.push(l);
            }
            assert!(
                closed,
                "{name}: the delimiter {delim} never closes:\n{text}"
            );
            (name, value.join("\n"))
        } else {
            let (n, v) = line
                .split_once('=')
                .unwrap_or_else(|| panic!("not an output line: {line:?}"));
            (n, v.to_owned())
        };
        assert!(
            out.insert(name.to_owned(), value).is_none(),
            "{name} written twice:\n{text}"
        );
    }
    out
}

/// Appends one JSON line to `$LAYERPUB_REPORT_DIR/<file>` when that is set: the rows
/// scripts/reliability.sh renders into docs/reliability.md.
pub fn report_row(file: &str, row: &serde_json::Value) {
    use std::io::Write;
    let Some(dir) = std::env::var_os("LAYERPUB_REPORT_DIR").filter(|d| !d.is_empty()) else {
        return;
    };
    std::fs::create_dir_all(&dir).unwrap();
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(Path::new(&dir).join(file))
        .unwrap();
    writeln!(f, "{row}").unwrap();
}

/// A 64-bit little-endian ELF header for `machine` (183 AArch64, 62 x86-64), as
/// tests/support/wheelhouse.py writes it: enough for the native check to read the machine.
pub fn elf_header(machine: u16) -> Vec<u8> {
    let mut h = b"\x7fELF\x02\x01\x01".to_vec();
    h.extend([0u8; 9]);
    h.extend(3u16.to_le_bytes());
    h.extend(machine.to_le_bytes());
    h.resize(64, 0);
    h
}
