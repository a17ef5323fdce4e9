//! `build: pip` and `build-command` end to end: the real binary builds the layer from its lock
//! file for Lambda's platform, against moto, with no network. The test makes a wheelhouse
//! (tests/support/wheelhouse.py: a pure wheel, manylinux2014 aarch64 and x86_64 wheels holding
//! a tiny ELF file each, an sdist) and points pip at it through `PIP_NO_INDEX` and
//! `PIP_FIND_LINKS`, which pip reads from the environment. `pip` on PATH is a script that notes
//! each start in a marker file, then runs the moto venv's pip: so a test can prove that an
//! unchanged run starts no build tool at all.

use crate::common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use common::moto::{Moto, MotoGuard, ensure_installed, moto_with_bucket};
use common::*;

const BUCKET: &str = "layers";

/// A project built with `build: pip` for python3.12 on arm64, with its wheelhouse and a
/// `pip` on PATH that leaves a mark each time it starts.
struct Project {
    dir: tempfile::TempDir,
    bin: PathBuf,
    wheelhouse: PathBuf,
    marker: PathBuf,
}

impl Project {
    fn new(requirements: &str, extra_yaml: &str) -> Project {
        let dir = temp();
        let root = dir.path();
        fs::write(root.join("requirements.txt"), requirements).unwrap();
        fs::write(
            root.join("layerpub.yml"),
            format!(
                "layer-name: deps\nmanifest: requirements.txt\nbuild: pip\ncompatible-runtimes: [python3.12]\ncompatible-architectures: [arm64]\ns3-bucket: {BUCKET}\n{extra_yaml}"
            ),
        )
        .unwrap();
        let wheelhouse = root.join("wheelhouse");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/wheelhouse.py");
        let ok = std::process::Command::new("python3")
            .arg(script)
            .arg(&wheelhouse)
            .status()
            .unwrap()
            .success();
        assert!(ok, "wheelhouse.py failed");
        let bin = root.join("bin");
        let marker = root.join("pip-started");
        let python = ensure_installed();
        let pip = format!(
            "#!/bin/sh\necho \"$*\" >> '{}'\nexec '{}' -m pip \"$@\"\n",
            marker.display(),
            python.display()
        );
        write_script(&bin.join("pip"), &pip);
        Project {
            dir,
            bin,
            wheelhouse,
            marker,
        }
    }

    fn root(&self) -> &Path {
        self.dir.path()
    }

    /// PATH with the project's `bin` first.
    fn path(&self) -> String {
        format!(
            "{}:{}",
            self.bin.display(),
            std::env::var("PATH").unwrap_or_default()
        )
    }

    fn run(&self, m: &Moto, args: &[&str], extra: &[(&str, &str)]) -> Run {
        layerpub_cmd()
            .current_dir(self.root())
            .args(["--output", "json"])
            .args(args)
            .moto(m)
            .env("PATH", self.path())
            .env("PIP_NO_INDEX", "1")
            .env("PIP_NO_CACHE_DIR", "1")
            .env("PIP_FIND_LINKS", &self.wheelhouse)
            .envs(extra.iter().copied())
            .run()
    }

    fn pip_started(&self) -> bool {
        self.marker.exists()
    }
}

fn write_script(path: &Path, text: &str) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, text).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).unwrap();
}

fn bucket() -> MotoGuard {
    moto_with_bucket(BUCKET)
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn pip_builds_an_arm64_layer_on_this_machine_and_an_unchanged_run_starts_no_tool() {
    let m = bucket();
    let p = Project::new("purepkg==1.0\nnativepkg==1.0\n", "");

    let first = p.run(&m, &[], &[]);
    let layer = first.assert_ok().layer();
    assert_eq!(layer["published"], true, "{}", first.stderr);
    let build = &layer["build"];
    assert_eq!(build["tool"], "pip");
    assert!(
        build["tool_version"]
            .as_str()
            .is_some_and(|v| v.starts_with(|c: char| c.is_ascii_digit())),
        "{build}"
    );
    assert_eq!(build["runtime"], "python3.12");
    assert_eq!(build["architecture"], "arm64");
    assert_eq!(build["platform"], "manylinux_2_34_aarch64");
    assert!(build["duration_ms"].as_u64().is_some(), "{build}");
    assert!(
        first
            .stderr
            .contains("build: pip for python3.12 on arm64 (deps)"),
        "{}",
        first.stderr
    );
    assert!(
        first.stderr.contains("build: Successfully installed"),
        "{}",
        first.stderr
    );
    assert!(
        first.stderr.contains("build: deps built with pip "),
        "{}",
        first.stderr
    );
    // Not on GitHub: no workflow commands.
    assert!(!first.stderr.contains("::group::"), "{}", first.stderr);

    // The zip holds the packages under python/, with the aarch64 library and not the x86_64 one.
    let entries = python_entries(&p.root().join("deps.zip"));
    let names: Vec<&str> = entries
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"python/purepkg/__init__.py"), "{names:?}");
    let so = entries
        .iter()
        .find(|e| e["name"] == "python/nativepkg/_native.cpython-312-aarch64-linux-gnu.so")
        .unwrap_or_else(|| panic!("no aarch64 library in {names:?}"));
    assert_eq!(so["sha256"], sha256_hex(&elf_header(183)));
    assert!(!names.iter().any(|n| n.contains("x86_64")), "{names:?}");
    assert!(names.iter().all(|n| n.starts_with("python/")), "{names:?}");
    assert_eq!(m.versions("deps").len(), 1);

    // Unchanged: one decision, no build tool started at all.
    fs::remove_file(&p.marker).unwrap();
    let second = p.run(&m, &[], &[]);
    let layer = second.assert_ok().layer();
    assert_eq!(layer["published"], false);
    assert_eq!(layer["reason"], "unchanged");
    assert_eq!(layer["build"], serde_json::Value::Null);
    assert!(!p.pip_started(), "pip was started on an unchanged run");
    assert!(!second.stderr.contains("build:"), "{}", second.stderr);

    // A new pin publishes again, built anew.
    fs::write(p.root().join("requirements.txt"), "purepkg==1.0\n").unwrap();
    let third = p.run(&m, &[], &[]);
    let layer = third.assert_ok().layer();
    assert_eq!(layer["layer_version"], 2, "{}", third.stderr);
    assert_eq!(layer["reason"], "manifest_changed");
    let names: Vec<String> = python_entries(&p.root().join("deps.zip"))
        .iter()
        .map(|e| e["name"].as_str().unwrap().to_owned())
        .collect();
    assert!(!names.iter().any(|n| n.contains("nativepkg")), "{names:?}");
}

#[test]
fn a_change_of_architecture_rebuilds_for_the_new_platform() {
    let m = bucket();
    let p = Project::new("nativepkg==1.0\n", "");
    p.run(&m, &[], &[]).assert_ok();
    let x86 = p.run(&m, &[], &[("LAYERPUB_COMPATIBLE_ARCHITECTURES", "x86_64")]);
    let layer = x86.assert_ok().layer();
    assert_eq!(layer["reason"], "settings_changed", "{}", x86.stderr);
    assert_eq!(layer["build"]["platform"], "manylinux_2_34_x86_64");
    let entries = python_entries(&p.root().join("deps.zip"));
    let so = entries
        .iter()
        .find(|e| e["name"] == "python/nativepkg/_native.cpython-312-x86_64-linux-gnu.so")
        .expect("the x86_64 library");
    assert_eq!(so["sha256"], sha256_hex(&elf_header(62)));
}

#[test]
fn a_plan_says_what_it_would_build_and_starts_no_tool() {
    let m = bucket();
    let p = Project::new("purepkg==1.0\n", "");
    let plan = p.run(&m, &["plan"], &[]);
    let layer = plan.assert_ok().layer();
    assert_eq!(layer["status"], "would_publish");
    assert_eq!(layer["build"]["tool"], "pip");
    assert_eq!(layer["build"]["tool_version"], serde_json::Value::Null);
    assert_eq!(layer["build"]["duration_ms"], serde_json::Value::Null);
    assert!(
        plan.stderr
            .contains("build        would build with pip for python3.12 on arm64"),
        "{}",
        plan.stderr
    );
    assert!(!p.pip_started());
    assert!(m.versions("deps").is_empty());
}

#[test]
fn a_missing_tool_is_bad_input_before_any_aws_write() {
    let m = bucket();
    let p = Project::new("purepkg==1.0\n", "");
    fs::remove_file(p.bin.join("pip")).unwrap();
    // Only the project's (now empty) bin on PATH: no pip anywhere.
    let r = layerpub_cmd()
        .current_dir(p.root())
        .moto(&m)
        .env("PATH", &p.bin)
        .run();
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("build: pip: `pip` is not on PATH"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("setup-python"), "{}", r.stderr);
    assert!(m.versions("deps").is_empty());
    assert!(m.keys(BUCKET).is_empty(), "{:?}", m.keys(BUCKET));
}

#[test]
fn a_failing_build_is_exit_1_with_its_last_lines_and_nothing_is_uploaded() {
    let m = bucket();
    let p = Project::new("purepkg==1.0\n", "");
    write_script(
        &p.bin.join("pip"),
        "#!/bin/sh\n[ \"$1\" = --version ] && { echo 'pip 99.0 from here'; exit 0; }\necho 'Collecting purepkg'\necho 'ERROR: the disk is on fire' >&2\nexit 3\n",
    );
    let r = p.run(&m, &[], &[("GITHUB_ACTIONS", "true")]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("::group::build: pip for python3.12 on arm64 (deps)"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr
            .contains("build: ERROR: the disk is on fire\n::endgroup::"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr
            .contains("build: pip failed, so layer deps was not built and nothing was uploaded"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("\n    ERROR: the disk is on fire"),
        "{}",
        r.stderr
    );
    assert!(m.versions("deps").is_empty());
    assert!(m.keys(BUCKET).is_empty(), "{:?}", m.keys(BUCKET));
}

#[test]
fn a_requirement_with_only_a_source_distribution_is_named_with_the_ways_out() {
    let m = bucket();
    let p = Project::new("purepkg==1.0\nsdistonly==1.0\n", "");
    let r = p.run(&m, &[], &[]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("build: pip found no wheel of `sdistonly==1.0` for python3.12 on arm64 (manylinux_2_34_aarch64)"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("`build-command`"), "{}", r.stderr);
    assert!(r.stderr.contains("glibc at most 2.34"), "{}", r.stderr);
    assert!(m.versions("deps").is_empty());
}

/// A project whose layer is made by `build-command`.
fn command_project(command: &str) -> tempfile::TempDir {
    let dir = temp();
    fs::write(dir.path().join("tools.lock"), "tool 1.0\n").unwrap();
    let yaml = format!(
        "layer-name: tools\nmanifest: tools.lock\ncompatible-runtimes: [python3.11]\ncompatible-architectures: [arm64]\ns3-bucket: {BUCKET}\nbuild-command: {}\n",
        serde_json::to_string(command).unwrap()
    );
    fs::write(dir.path().join("layerpub.yml"), yaml).unwrap();
    dir
}

#[test]
fn build_command_fills_the_build_dir_with_the_documented_variables_only_when_publishing() {
    let m = bucket();
    // Runs in the project folder (tools.lock is there), says where it ran, leaves a mark.
    let dir = command_project(
        r#"test -f tools.lock && echo started >> started && mkdir -p "$LAYERPUB_BUILD_DIR/bin" && printf '%s %s %s' "$LAYERPUB_ARCHITECTURE" "$LAYERPUB_RUNTIME" "$LAYERPUB_PYTHON_VERSION" > "$LAYERPUB_BUILD_DIR/bin/info" && echo made it"#,
    );
    let first = common::moto::run(&m, dir.path(), &[]);
    let layer = first.assert_ok().layer();
    assert_eq!(layer["published"], true);
    assert_eq!(layer["build"]["tool"], "command");
    assert_eq!(layer["build"]["tool_version"], serde_json::Value::Null);
    assert_eq!(layer["build"]["platform"], serde_json::Value::Null);
    assert_eq!(layer["build"]["runtime"], "python3.11");
    assert!(layer["build"]["duration_ms"].as_u64().is_some());
    assert!(first.stderr.contains("build: made it"), "{}", first.stderr);
    assert!(
        first
            .stderr
            .contains("build: tools built with build-command in "),
        "{}",
        first.stderr
    );
    let entries = python_entries(&dir.path().join("tools.zip"));
    let names: Vec<&str> = entries
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["bin/info"]);
    assert_eq!(entries[0]["text"], "arm64 python3.11 3.11");

    let second = common::moto::run(&m, dir.path(), &[]);
    assert_eq!(second.assert_ok().layer()["reason"], "unchanged");
    assert_eq!(
        fs::read_to_string(dir.path().join("started")).unwrap(),
        "started\n",
        "the command ran again on an unchanged run"
    );
}

#[test]
fn a_failing_build_command_is_exit_1_with_its_last_lines() {
    let m = bucket();
    let dir = command_project("echo compiling; echo 'cc: fatal error' >&2; exit 4");
    let r = common::moto::run(&m, dir.path(), &[]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains(
            "build-command failed, so layer tools was not built and nothing was uploaded"
        ),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("\n    compiling\n    cc: fatal error"),
        "{}",
        r.stderr
    );
    assert!(m.versions("tools").is_empty());
    assert!(m.keys(BUCKET).is_empty());
}

#[test]
fn sigterm_stops_the_build_and_everything_it_started() {
    let m = bucket();
    let dir = command_project("sleep 60 & echo $! > sleeper; wait");
    let child = layerpub_cmd()
        .current_dir(dir.path())
        .moto(&m)
        .spawn(std::process::Stdio::null(), std::process::Stdio::piped());
    let sleeper = dir.path().join("sleeper");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while fs::read_to_string(&sleeper).map_or(true, |s| s.trim().is_empty()) {
        assert!(
            std::time::Instant::now() < deadline,
            "the build never started"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let pid = fs::read_to_string(&sleeper).unwrap().trim().to_owned();
    std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let started = std::time::Instant::now();
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(143),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    // The tool's own child is gone too (reparented and reaped once stopped).
    let gone = (0..100).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(50));
        !Path::new(&format!("/proc/{pid}")).exists()
            || fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| s.contains(") Z "))
    });
    assert!(gone, "sleep {pid} still runs");
    assert!(m.versions("tools").is_empty());
}

/// The pinned uv, installed into target/uv-venv by scripts/uv-venv.sh when missing.
fn uv_binary() -> PathBuf {
    static UV: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    UV.get_or_init(|| {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/uv-venv.sh");
        let out = std::process::Command::new("bash")
            .arg(script)
            .stderr(std::process::Stdio::inherit())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "scripts/uv-venv.sh could not install uv"
        );
        PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
    })
    .clone()
}

/// A project built with `build: uv` from `manifest` (with `files` beside it), and `uv` on
/// PATH as a script that marks each start.
fn uv_project(manifest: &str, files: &[(&str, &str)]) -> Project {
    let p = Project::new("", "");
    for (name, text) in files {
        fs::write(p.root().join(name), text).unwrap();
    }
    fs::write(
        p.root().join("layerpub.yml"),
        format!(
            "layer-name: deps\nmanifest: {manifest}\nbuild: uv\ncompatible-runtimes: [python3.12]\ncompatible-architectures: [arm64]\ns3-bucket: {BUCKET}\n"
        ),
    )
    .unwrap();
    fs::remove_file(p.bin.join("pip")).unwrap();
    write_script(
        &p.bin.join("uv"),
        &format!(
            "#!/bin/sh\necho \"$*\" >> '{}'\nexec '{}' \"$@\"\n",
            p.marker.display(),
            uv_binary().display()
        ),
    );
    p
}

/// uv has no variable for `--no-index`: a config file (`UV_CONFIG_FILE`) says it.
fn uv_env(p: &Project) -> Vec<(&'static str, String)> {
    let config = p.root().join("uv-test.toml");
    fs::write(
        &config,
        format!(
            "no-index = true\nfind-links = [{}]\n",
            serde_json::to_string(&p.wheelhouse).unwrap()
        ),
    )
    .unwrap();
    vec![
        ("UV_CONFIG_FILE", config.to_str().unwrap().to_owned()),
        ("UV_NO_CACHE", "1".to_owned()),
        ("UV_PYTHON_DOWNLOADS", "never".to_owned()),
    ]
}

fn run_uv(p: &Project, m: &Moto) -> Run {
    let env = uv_env(p);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    p.run(m, &[], &env)
}

/// The zip's names, checked for uv's own files (`.lock`, the time-stamped `uv_cache.json`).
fn uv_layer_names(p: &Project) -> Vec<String> {
    let names: Vec<String> = python_entries(&p.root().join("deps.zip"))
        .iter()
        .map(|e| e["name"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        names.contains(&"python/nativepkg/_native.cpython-312-aarch64-linux-gnu.so".to_owned()),
        "{names:?}"
    );
    assert!(
        names.contains(&"python/purepkg/__init__.py".to_owned()),
        "{names:?}"
    );
    assert!(
        !names
            .iter()
            .any(|n| n.ends_with("/.lock") || n.ends_with("uv_cache.json") || n.contains("x86_64")),
        "{names:?}"
    );
    names
}

#[test]
fn uv_builds_an_arm64_layer_from_requirements_and_an_unchanged_run_starts_no_tool() {
    let m = bucket();
    let p = uv_project(
        "requirements.txt",
        &[("requirements.txt", "purepkg==1.0\nnativepkg==1.0\n")],
    );
    let first = run_uv(&p, &m);
    let layer = first.assert_ok().layer();
    assert_eq!(layer["published"], true, "{}", first.stderr);
    assert_eq!(layer["build"]["tool"], "uv");
    assert_eq!(layer["build"]["tool_version"], "0.13.9");
    assert_eq!(layer["build"]["platform"], "aarch64-manylinux_2_34");
    uv_layer_names(&p);

    fs::remove_file(&p.marker).unwrap();
    let second = run_uv(&p, &m);
    assert_eq!(second.assert_ok().layer()["reason"], "unchanged");
    assert!(!p.pip_started(), "uv was started on an unchanged run");
}

#[test]
fn uv_builds_from_a_uv_lock_through_uv_export() {
    let m = bucket();
    let pyproject = "[project]\nname = \"app\"\nversion = \"0.1.0\"\nrequires-python = \">=3.11\"\ndependencies = [\"purepkg==1.0\", \"nativepkg==1.0\"]\n";
    let p = uv_project("uv.lock", &[("pyproject.toml", pyproject)]);
    // The lock, made from the wheelhouse like the build.
    let locked = std::process::Command::new(uv_binary())
        .arg("lock")
        .current_dir(p.root())
        .envs(uv_env(&p))
        .status()
        .unwrap();
    assert!(locked.success());
    let r = run_uv(&p, &m);
    let layer = r.assert_ok().layer();
    assert_eq!(layer["published"], true, "{}", r.stderr);
    assert!(p.marker.exists());
    let started = fs::read_to_string(&p.marker).unwrap();
    assert!(started.contains("export --frozen"), "{started}");
    let names = uv_layer_names(&p);
    assert!(!names.iter().any(|n| n.contains("app")), "{names:?}");
}

/// A local npm package as a tarball (`npm pack`) in `dir/name/`, with `extra` package.json keys.
fn npm_package(dir: &Path, name: &str, extra: &str) {
    let folder = dir.join(name);
    fs::create_dir_all(&folder).unwrap();
    fs::write(
        folder.join("package.json"),
        format!("{{\"name\":\"{name}\",\"version\":\"1.0.0\",\"main\":\"index.js\"{extra}}}"),
    )
    .unwrap();
    fs::write(
        folder.join("index.js"),
        format!("module.exports = '{name}';\n"),
    )
    .unwrap();
    let ok = std::process::Command::new("npm")
        .args(["pack", "--silent"])
        .current_dir(&folder)
        .env("npm_config_cache", dir.join(".npm-cache"))
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap()
        .success();
    assert!(ok, "npm pack {name}");
}

#[test]
fn npm_installs_the_lock_for_linux_arm64_without_dev_dependencies_into_nodejs_node_modules() {
    if std::process::Command::new("npm")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("skipped: npm is not installed here");
        return;
    }
    let m = bucket();
    let p = Project::new("", "");
    let root = p.root();
    npm_package(root, "localdep", "");
    npm_package(root, "devdep", "");
    npm_package(root, "armonly", ",\"os\":[\"linux\"],\"cpu\":[\"arm64\"]");
    npm_package(root, "x64only", ",\"os\":[\"linux\"],\"cpu\":[\"x64\"]");
    fs::write(
        root.join("package.json"),
        r#"{"name":"app","version":"1.0.0",
            "dependencies":{"localdep":"file:localdep/localdep-1.0.0.tgz"},
            "optionalDependencies":{"armonly":"file:armonly/armonly-1.0.0.tgz","x64only":"file:x64only/x64only-1.0.0.tgz"},
            "devDependencies":{"devdep":"file:devdep/devdep-1.0.0.tgz"}}"#,
    )
    .unwrap();
    let cache = root.join(".npm-cache");
    let locked = std::process::Command::new("npm")
        .args([
            "install",
            "--package-lock-only",
            "--offline",
            "--no-audit",
            "--no-fund",
        ])
        .current_dir(root)
        .env("npm_config_cache", &cache)
        .status()
        .unwrap();
    assert!(locked.success());
    fs::write(
        root.join("layerpub.yml"),
        format!(
            "layer-name: deps\nmanifest: package-lock.json\nbuild: npm\ncompatible-runtimes: [nodejs20.x]\ncompatible-architectures: [arm64]\ns3-bucket: {BUCKET}\n"
        ),
    )
    .unwrap();
    fs::remove_file(p.bin.join("pip")).unwrap();
    let npm = String::from_utf8(
        std::process::Command::new("sh")
            .args(["-c", "command -v npm"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    write_script(
        &p.bin.join("npm"),
        &format!(
            "#!/bin/sh\necho \"$*\" >> '{}'\nexec '{}' \"$@\"\n",
            p.marker.display(),
            npm.trim()
        ),
    );
    let env = [
        ("npm_config_cache", cache.to_str().unwrap()),
        ("npm_config_offline", "true"),
    ];
    let first = p.run(&m, &[], &env);
    let layer = first.assert_ok().layer();
    assert_eq!(layer["published"], true, "{}", first.stderr);
    assert_eq!(layer["build"]["tool"], "npm");
    assert_eq!(layer["build"]["platform"], "linux-arm64");
    let names: Vec<String> = python_entries(&root.join("deps.zip"))
        .iter()
        .map(|e| e["name"].as_str().unwrap().to_owned())
        .collect();
    for want in [
        "nodejs/node_modules/localdep/index.js",
        "nodejs/node_modules/armonly/index.js",
    ] {
        assert!(names.contains(&want.to_owned()), "{want} not in {names:?}");
    }
    assert!(
        !names
            .iter()
            .any(|n| n.contains("devdep") || n.contains("x64only")),
        "{names:?}"
    );
    assert!(
        names.iter().all(|n| n.starts_with("nodejs/node_modules/")),
        "{names:?}"
    );

    fs::remove_file(&p.marker).unwrap();
    let second = p.run(&m, &[], &env);
    assert_eq!(second.assert_ok().layer()["reason"], "unchanged");
    assert!(!p.pip_started(), "npm was started on an unchanged run");
}

/// The one test against the real package index (PyPI, which the CI machine reaches): the
/// issue's example, six and charset-normalizer, built from this x86_64 machine for arm64 and
/// for x86_64 as one layer declared per architecture, each for its own platform.
#[test]
fn pypi_six_and_charset_normalizer_build_per_architecture_from_one_machine() {
    let p = Project::new("six==1.16.0\ncharset-normalizer==3.4.0\n", "");
    fs::write(
        p.root().join("layerpub.yml"),
        "manifest: requirements.txt\nbuild: pip\ncompatible-runtimes: [python3.12]\nlayers:\n  - layer-name: deps\n    compatible-architectures: [arm64]\n  - layer-name: deps\n    compatible-architectures: [x86_64]\n",
    )
    .unwrap();
    let r = layerpub_cmd()
        .current_dir(p.root())
        .args(["package", "--output", "json"])
        .env("PATH", p.path())
        .env("PIP_NO_CACHE_DIR", "1")
        .run();
    r.assert_ok();
    for (zip, arch, other) in [
        ("deps-arm64.zip", "aarch64", "x86_64"),
        ("deps-x86_64.zip", "x86_64", "aarch64"),
    ] {
        let names: Vec<String> = python_entries(&p.root().join(zip))
            .iter()
            .map(|e| e["name"].as_str().unwrap().to_owned())
            .collect();
        assert!(
            names.contains(&"python/six.py".to_owned()),
            "{zip}: {names:?}"
        );
        let libraries: Vec<&String> = names.iter().filter(|n| n.ends_with(".so")).collect();
        assert!(!libraries.is_empty(), "{zip}: {names:?}");
        assert!(
            libraries
                .iter()
                .all(|n| n.contains(&format!("cpython-312-{arch}-linux-gnu")) && !n.contains(other)),
            "{zip}: {libraries:?}"
        );
    }
}

#[test]
fn a_build_that_leaves_nothing_is_bad_input_naming_the_build_dir() {
    let m = bucket();
    let dir = command_project("echo nothing to do");
    let r = common::moto::run(&m, dir.path(), &[]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("build-command succeeded but left the build folder empty, so layer tools has nothing to publish; build-command must write the layer's files into $LAYERPUB_BUILD_DIR"),
        "{}",
        r.stderr
    );
    assert!(m.versions("tools").is_empty());
}

#[test]
fn the_layers_of_each_architecture_build_side_by_side() {
    let m = bucket();
    let dir = temp();
    fs::write(dir.path().join("tools.lock"), "tool 1.0\n").unwrap();
    // Each build waits (at most 10 s) until the other has started: one after the other, the
    // first would give up and fail.
    let command = r#"touch "started-$LAYERPUB_ARCHITECTURE"; i=0; while [ ! -e started-arm64 ] || [ ! -e started-x86_64 ]; do i=$((i+1)); [ $i -gt 200 ] && exit 9; sleep 0.05; done; echo "$LAYERPUB_ARCHITECTURE" > "$LAYERPUB_BUILD_DIR/arch""#;
    fs::write(
        dir.path().join("layerpub.yml"),
        format!(
            "manifest: tools.lock\ns3-bucket: {BUCKET}\nbuild-command: {}\nlayers:\n  - layer-name: tools\n    compatible-architectures: [arm64]\n  - layer-name: tools\n    compatible-architectures: [x86_64]\n",
            serde_json::to_string(command).unwrap()
        ),
    )
    .unwrap();
    let r = common::moto::run(&m, dir.path(), &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let doc = r.json();
    let layers = doc["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 2);
    for (layer, arch) in layers.iter().zip(["arm64", "x86_64"]) {
        assert_eq!(layer["layer_name"], format!("tools-{arch}"));
        assert_eq!(layer["published"], true);
        assert_eq!(layer["build"]["architecture"], arch);
        let entries = python_entries(&dir.path().join(format!("tools-{arch}.zip")));
        assert_eq!(entries[0]["text"], format!("{arch}\n"));
    }
    // Each build's output is shown whole, in the layers' order.
    let arm = r
        .stderr
        .find("build: build-command on arm64 (tools-arm64)")
        .unwrap();
    let x86 = r
        .stderr
        .find("build: build-command on x86_64 (tools-x86_64)")
        .unwrap();
    assert!(arm < x86, "{}", r.stderr);
}
