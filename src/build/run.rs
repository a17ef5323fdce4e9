//! The thin shell of the build: find the tool on PATH, run it in a fresh temporary folder,
//! show its output (each line prefixed `build: `, folded in a `::group::` on GitHub) with its
//! duration, and stop it on SIGINT/SIGTERM.
//!
//! The tools run in the process environment as it is (PATH, `PIP_*`, `UV_*`,
//! `npm_config_*`), as they would in the user's own shell: that is how a user points them at
//! a mirror or a wheelhouse. It is the one place the library looks at the process
//! environment (PATH, to say which tool is missing before starting anything).

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

use crate::build::{
    Invocation, has_hashes, install_hint, invocation, is_uv_lock, missing_wheel, npm_local_paths,
    uv_export,
};
use crate::config::LayerConfig;
use crate::config::build::{BuildKind, BuildSpec};
use crate::config::inputs::{READ_MAX, read_regular};
use crate::config::settings::BuildTool;
use crate::domain::error::Error;
use crate::domain::interrupt::Interrupt;
use crate::domain::outcome::BuildRecord;
use crate::domain::text::visible;

/// The tool's last lines kept for the error when it fails.
const TAIL_LINES: usize = 20;
/// How long a stopped tool gets to end after SIGTERM before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// Where the build's output is shown: the run's log (stderr), folded on GitHub.
pub struct BuildLog<'a> {
    pub out: &'a mut dyn Write,
    /// Wrap the tool's output in `::group::` / `::endgroup::` (GitHub Actions).
    pub fold: bool,
}

impl BuildLog<'_> {
    fn line(&mut self, text: &str) {
        // The log is a report: a write error there must not fail the build.
        let _ = writeln!(self.out, "{text}");
        let _ = self.out.flush();
    }

    /// One line of the tool's own output: shown as text, never as a workflow command.
    fn tool_line(&mut self, raw: &str) {
        let shown = visible(raw.trim_end_matches('\r')).replace("##[", "##\\[");
        self.line(&format!("build: {shown}"));
    }
}

/// A finished build: its folder (removed when this is dropped) and what is reported.
pub struct Built {
    /// Holds the temporary folder; dropped after packaging.
    pub dir: tempfile::TempDir,
    /// The folder whose contents become the layer (inside `dir`).
    pub output: PathBuf,
    pub record: BuildRecord,
}

/// What a plan reports it would build.
pub fn planned(spec: &BuildSpec) -> BuildRecord {
    BuildRecord {
        tool: spec.tool_name().to_owned(),
        tool_version: None,
        runtime: spec.runtime.clone(),
        architecture: spec.architecture.clone(),
        platform: spec.platform.first().cloned(),
        duration_ms: None,
    }
}

/// The program to run for `names`: the first found on PATH.
fn find_on_path(names: &[&str]) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::var_os("PATH")?;
    names.iter().find_map(|name| {
        std::env::split_paths(&path)
            .filter(|dir| !dir.as_os_str().is_empty())
            .map(|dir| dir.join(name))
            .find(|p| {
                std::fs::metadata(p)
                    .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            })
    })
}

/// Finds the tool the layer's build needs, before anything is started or written: a missing
/// tool is the user's to fix (exit 2).
pub fn check_tool(layer: &LayerConfig) -> Result<(), Error> {
    let Some(spec) = &layer.build else {
        return Ok(());
    };
    program(layer, spec).map(|_| ())
}

fn program(layer: &LayerConfig, spec: &BuildSpec) -> Result<PathBuf, Error> {
    let (names, input, hint): (&[&str], String, &str) = match &spec.kind {
        BuildKind::Tool(tool) => (
            match tool {
                BuildTool::Pip => &["pip", "pip3"],
                BuildTool::Uv => &["uv"],
                BuildTool::Npm => &["npm"],
            },
            format!("build: {}", tool.as_str()),
            install_hint(*tool),
        ),
        BuildKind::Command(_) => (
            &["sh"],
            "build-command".to_owned(),
            "build-command runs with `sh -c`: run layerpub where a POSIX shell is on PATH",
        ),
    };
    find_on_path(names).ok_or_else(|| {
        Error::bad_input(format!(
            "{input}: `{}` is not on PATH, so layer {} cannot be built; {hint}",
            names[0], layer.layer_name
        ))
    })
}

/// Builds several layers at once (a layer declared per architecture builds once per
/// architecture, each in its own folder): one thread each, every build to its end. A single
/// build's output is shown as it comes; with several, each build's output is shown whole, in
/// the layers' order, once all have ended. The first failure, in the layers' order, is the
/// error.
pub fn build_all(
    layers: &[&LayerConfig],
    cwd: &Path,
    log: &mut BuildLog<'_>,
    interrupt: &Interrupt,
) -> Result<Vec<Built>, Error> {
    if layers.len() <= 1 {
        return layers
            .iter()
            .map(|l| build(l, cwd, log, interrupt))
            .collect();
    }
    let fold = log.fold;
    let results: Vec<(Vec<u8>, Result<Built, Error>)> = std::thread::scope(|s| {
        let running: Vec<_> = layers
            .iter()
            .map(|layer| {
                s.spawn(move || {
                    let mut out = Vec::new();
                    let mut own = BuildLog {
                        out: &mut out,
                        fold,
                    };
                    let result = build(layer, cwd, &mut own, interrupt);
                    (out, result)
                })
            })
            .collect();
        running
            .into_iter()
            .map(|t| t.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    });
    let mut built = Vec::with_capacity(results.len());
    let mut first = None;
    for (out, result) in results {
        let _ = log.out.write_all(&out);
        match result {
            Ok(b) => built.push(b),
            Err(e) => {
                first.get_or_insert(e);
            }
        }
    }
    let _ = log.out.flush();
    match first {
        Some(e) => Err(e),
        None => Ok(built),
    }
}

/// Builds the layer into a fresh temporary folder. `cwd` is the working directory the
/// settings' paths are relative to.
pub fn build(
    layer: &LayerConfig,
    cwd: &Path,
    log: &mut BuildLog<'_>,
    interrupt: &Interrupt,
) -> Result<Built, Error> {
    let spec = layer
        .build
        .as_ref()
        .expect("only a layer with a build is built");
    let program = program(layer, spec)?;
    let io = |context: String| move |source| Error::Io { context, source };
    let dir = tempfile::Builder::new()
        .prefix("layerpub-build-")
        .tempdir()
        .map_err(io("cannot make a temporary folder for the build".into()))?;
    let manifests: Vec<PathBuf> = layer.manifest.iter().map(|m| cwd.join(m)).collect();
    let mut record = planned(spec);
    // A step before the install (`uv export` of a uv.lock).
    let mut before: Option<Command> = None;
    let (mut command, output) = match &spec.kind {
        BuildKind::Command(text) => {
            let output = dir.path().join("layer");
            std::fs::create_dir(&output).map_err(io("cannot make the build folder".into()))?;
            let mut c = Command::new(&program);
            c.arg("-c").arg(text).current_dir(cwd);
            c.env("LAYERPUB_BUILD_DIR", &output)
                .env("LAYERPUB_ARCHITECTURE", &spec.architecture);
            if let Some(r) = &spec.runtime {
                c.env("LAYERPUB_RUNTIME", r);
            }
            if let Some(v) = &spec.python_version {
                c.env("LAYERPUB_PYTHON_VERSION", v);
            }
            (c, output)
        }
        BuildKind::Tool(tool) => {
            record.tool_version = tool_version(&program, *tool);
            let prepared = prepare(spec, dir.path(), &manifests)?;
            let command = |inv: &Invocation, workdir: Option<&Path>| {
                let mut c = Command::new(&program);
                c.args(&inv.args).current_dir(workdir.unwrap_or(cwd));
                c
            };
            if let Some((inv, workdir)) = &prepared.before {
                before = Some(command(inv, Some(workdir)));
            }
            (
                command(&prepared.install, prepared.workdir.as_deref()),
                prepared.output,
            )
        }
    };
    let what = format!("{} ({})", spec.describe(), layer.layer_name);
    if log.fold {
        log.line(&format!("::group::build: {what}"));
    } else {
        log.line(&format!("build: {what}"));
    }
    let started = Instant::now();
    let ran = match before.as_mut().map(|b| run_streamed(b, log, interrupt)) {
        Some(Ok((false, tail))) => Ok((false, tail)),
        Some(Err(e)) => Err(e),
        _ => run_streamed(&mut command, log, interrupt),
    };
    let took = started.elapsed();
    if log.fold {
        log.line("::endgroup::");
    }
    let (success, tail) = ran?;
    record.duration_ms = Some(u64::try_from(took.as_millis()).unwrap_or(u64::MAX));
    let tool_named = match (&spec.kind, &record.tool_version) {
        (BuildKind::Command(_), _) => "build-command".to_owned(),
        (_, Some(v)) => format!("{} {v}", record.tool),
        (_, None) => spec.tool_name().to_owned(),
    };
    if !success {
        log.line(&format!(
            "build: {} failed after {}",
            layer.layer_name,
            seconds(took)
        ));
        return Err(failure(layer, spec, &tail));
    }
    match spec.kind {
        BuildKind::Tool(BuildTool::Npm) => finish_npm(dir.path(), &output)?,
        BuildKind::Tool(BuildTool::Uv) => finish_uv(&output)?,
        _ => {}
    }
    let empty = std::fs::read_dir(&output).map_or(true, |mut d| d.next().is_none());
    if empty {
        let fix = match spec.kind {
            BuildKind::Command(_) => {
                "build-command must write the layer's files into $LAYERPUB_BUILD_DIR"
            }
            BuildKind::Tool(BuildTool::Npm) => {
                "check that package.json lists dependencies (dev dependencies are left out)"
            }
            BuildKind::Tool(_) => "check that the requirements file lists packages",
        };
        return Err(Error::bad_input(format!(
            "{} succeeded but left the build folder empty, so layer {} has nothing to publish; {fix}",
            match spec.kind {
                BuildKind::Command(_) => "build-command".to_owned(),
                BuildKind::Tool(t) => format!("build: {}", t.as_str()),
            },
            layer.layer_name
        )));
    }
    log.line(&format!(
        "build: {} built with {tool_named} in {}",
        layer.layer_name,
        seconds(took)
    ));
    Ok(Built {
        dir,
        output,
        record,
    })
}

fn seconds(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

/// What a tool build runs.
struct Prepared {
    /// A step before the install, and the folder it runs in.
    before: Option<(Invocation, PathBuf)>,
    install: Invocation,
    /// The folder the install runs in; `None`: the working directory.
    workdir: Option<PathBuf>,
    /// The folder that becomes the layer.
    output: PathBuf,
}

fn prepare(spec: &BuildSpec, dir: &Path, manifests: &[PathBuf]) -> Result<Prepared, Error> {
    let read = |m: &Path| {
        read_regular(m, READ_MAX).map_err(|_| {
            Error::bad_input(format!(
                "manifest `{}` cannot be read for the build; list the lock file the build installs from",
                m.display()
            ))
        })
    };
    let output = dir.join("layer");
    match spec.kind {
        BuildKind::Tool(BuildTool::Npm) => {
            // npm installs into the folder holding package.json: a copy of both files in a
            // folder of its own, so the checkout is left alone.
            let work = dir.join("npm");
            std::fs::create_dir(&work).map_err(|source| Error::Io {
                context: "cannot make the build folder".into(),
                source,
            })?;
            let lock = manifests
                .iter()
                .find(|m| {
                    m.file_name()
                        .is_some_and(|n| n == "package-lock.json" || n == "npm-shrinkwrap.json")
                })
                .ok_or_else(|| {
                    Error::bad_input(
                        "build: npm: `manifest` names no package-lock.json; set `manifest: package-lock.json` (with its package.json beside it)",
                    )
                })?;
            let package_json = lock.with_file_name("package.json");
            let folder = lock.parent().unwrap_or(Path::new("."));
            let lock_text = String::from_utf8_lossy(&read(lock)?).into_owned();
            for local in npm_local_paths(&lock_text) {
                copy_local(&folder.join(&local), &work.join(&local))?;
            }
            let npmrc = folder.join(".npmrc");
            if npmrc.is_file() {
                copy_local(&npmrc, &work.join(".npmrc"))?;
            }
            for (from, name) in [
                (lock.as_path(), lock.file_name().unwrap_or_default()),
                (package_json.as_path(), "package.json".as_ref()),
            ] {
                let bytes = read(from)?;
                std::fs::write(work.join(name), bytes).map_err(|source| Error::Io {
                    context: "cannot copy the manifests into the build folder".into(),
                    source,
                })?;
            }
            Ok(Prepared {
                before: None,
                install: invocation(spec, &output, manifests, false).expect("a tool"),
                workdir: Some(work),
                output,
            })
        }
        BuildKind::Tool(BuildTool::Uv)
            if let Some(lock) = manifests.iter().find(|m| is_uv_lock(m)) =>
        {
            // uv.lock: exported to a requirements file, then installed from it (uv checks the
            // hashes the lock records).
            let exported = dir.join("requirements.txt");
            let folder = lock
                .parent()
                .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
            Ok(Prepared {
                before: Some((uv_export(&exported), folder)),
                install: invocation(spec, &output, &[exported], false).expect("a tool"),
                workdir: None,
                output,
            })
        }
        _ => {
            let mut hashes = false;
            for m in manifests {
                hashes |= has_hashes(&String::from_utf8_lossy(&read(m)?));
            }
            Ok(Prepared {
                before: None,
                install: invocation(spec, &output, manifests, hashes).expect("a tool"),
                workdir: None,
                output,
            })
        }
    }
}

/// Copies a local package (a tarball or a folder, without its node_modules) into npm's
/// folder; a path that does not exist is left for npm to report.
fn copy_local(from: &Path, to: &Path) -> Result<(), Error> {
    let io = |source| Error::Io {
        context: format!(
            "cannot copy the local package `{}` into the build folder",
            from.display()
        ),
        source,
    };
    // Links are not followed: a loop must not recurse forever.
    let Ok(meta) = std::fs::symlink_metadata(from) else {
        return Ok(());
    };
    if meta.file_type().is_symlink() {
        return Ok(());
    }
    if let Some(parent) = to.parent() {
        std::fs::create_dir_all(parent).map_err(io)?;
    }
    if meta.is_file() {
        std::fs::copy(from, to).map_err(io)?;
        return Ok(());
    }
    std::fs::create_dir_all(to).map_err(io)?;
    for entry in std::fs::read_dir(from).map_err(io)? {
        let entry = entry.map_err(io)?;
        if entry.file_name() == "node_modules" {
            continue;
        }
        copy_local(&entry.path(), &to.join(entry.file_name()))?;
    }
    Ok(())
}

/// uv leaves its own files in the target: `.lock`, and a `uv_cache.json` stamped with the time
/// in each `.dist-info`. Neither belongs in a layer, and the stamp would change every zip.
fn finish_uv(output: &Path) -> Result<(), Error> {
    let io = |source| Error::Io {
        context: "cannot tidy uv's files out of the build folder".into(),
        source,
    };
    let _ = std::fs::remove_file(output.join(".lock"));
    let Ok(entries) = std::fs::read_dir(output) else {
        return Ok(());
    };
    for entry in entries {
        let path = entry.map_err(io)?.path();
        if path.extension().is_some_and(|e| e == "dist-info") {
            let stamp = path.join("uv_cache.json");
            if stamp.exists() {
                std::fs::remove_file(stamp).map_err(io)?;
            }
        }
    }
    Ok(())
}

/// npm filled `npm/node_modules`: it becomes the layer's `node_modules` (under the prefix
/// `nodejs`).
fn finish_npm(dir: &Path, output: &Path) -> Result<(), Error> {
    let io = |source| Error::Io {
        context: "cannot move node_modules into the layer folder".into(),
        source,
    };
    std::fs::create_dir_all(output).map_err(io)?;
    let modules = dir.join("npm").join("node_modules");
    if modules.is_dir() {
        std::fs::rename(&modules, output.join("node_modules")).map_err(io)?;
    }
    Ok(())
}

/// `pip 24.0 from … (python 3.12)` → `24.0`; `uv 0.5.1` → `0.5.1`; `10.8.2` → `10.8.2`.
fn tool_version(program: &Path, tool: BuildTool) -> Option<String> {
    let out = Command::new(program)
        .arg("--version")
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    parse_version(&text, tool)
}

fn parse_version(text: &str, tool: BuildTool) -> Option<String> {
    let first = text.lines().next()?.trim();
    let word = match tool {
        BuildTool::Npm => first.split_whitespace().next(),
        _ => first.split_whitespace().nth(1),
    }?;
    word.chars()
        .next()
        .is_some_and(|c| c.is_ascii_digit())
        .then(|| word.to_owned())
}

/// Runs the command with stdout and stderr merged, each line shown as it comes; stops it on a
/// signal. Returns whether it succeeded, and its last lines.
fn run_streamed(
    command: &mut Command,
    log: &mut BuildLog<'_>,
    interrupt: &Interrupt,
) -> Result<(bool, Vec<String>), Error> {
    let io = |context: &str| {
        let context = context.to_owned();
        move |source| Error::Io { context, source }
    };
    let (reader, writer) = std::io::pipe().map_err(io("cannot start the build"))?;
    let writer2 = writer.try_clone().map_err(io("cannot start the build"))?;
    // Its own process group: a signal stops the tool and everything it started.
    command
        .stdin(Stdio::null())
        .stdout(writer)
        .stderr(writer2)
        .process_group(0);
    let spawned = command.spawn();
    // Our copies of the pipe's writing end go with the command's settings: the reader then
    // sees the end of the output when the tool and its children are done.
    command.stdout(Stdio::null()).stderr(Stdio::null());
    let mut child = spawned.map_err(io("cannot start the build tool"))?;
    let (tx, rx) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(reader).split(b'\n') {
            let Ok(line) = line else { break };
            if tx
                .send(String::from_utf8_lossy(&line).into_owned())
                .is_err()
            {
                break;
            }
        }
    });
    let mut tail: VecDeque<String> = VecDeque::with_capacity(TAIL_LINES);
    let mut exited_at: Option<Instant> = None;
    loop {
        if let Some(signal) = interrupt.signal() {
            stop(&mut child);
            return Err(Error::Interrupted(signal));
        }
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(line) => {
                log.tool_line(&line);
                if tail.len() == TAIL_LINES {
                    tail.pop_front();
                }
                tail.push_back(line);
            }
            Err(RecvTimeoutError::Disconnected) => break,
            Err(RecvTimeoutError::Timeout) => {
                // A process the tool left running may hold the output open: once the tool
                // itself has ended, wait a little for its last lines, then go on.
                match exited_at {
                    Some(at) if at.elapsed() > Duration::from_secs(2) => break,
                    Some(_) => {}
                    None => {
                        if matches!(child.try_wait(), Ok(Some(_))) {
                            exited_at = Some(Instant::now());
                        }
                    }
                }
            }
        }
    }
    let status = child.wait().map_err(io("cannot wait for the build tool"))?;
    Ok((status.success(), tail.into()))
}

/// SIGTERM to the tool's process group, then SIGKILL if it has not ended in time.
fn stop(child: &mut Child) {
    let group = format!("-{}", child.id());
    let _ = Command::new("kill")
        .args(["-TERM", "--", &group])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    let until = Instant::now() + STOP_GRACE;
    while Instant::now() < until {
        if matches!(child.try_wait(), Ok(Some(_))) {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// The error for a failed build: the tool's last lines, and for a requirement with no wheel
/// for the platform, the package and the ways out.
fn failure(layer: &LayerConfig, spec: &BuildSpec, tail: &[String]) -> Error {
    let last: String = tail
        .iter()
        .map(|l| format!("\n    {}", visible(l.trim_end_matches('\r'))))
        .collect();
    let what = match &spec.kind {
        BuildKind::Tool(t) => format!("build: {}", t.as_str()),
        BuildKind::Command(_) => "build-command".to_owned(),
    };
    if matches!(spec.kind, BuildKind::Tool(BuildTool::Pip | BuildTool::Uv))
        && let Some(requirement) = missing_wheel(tail)
    {
        let platform = spec.platform.first().cloned().unwrap_or_default();
        return Error::Build(format!(
            "{what} found no wheel of `{requirement}` for {} on {} ({platform}), so layer {} was not built and nothing was uploaded. Lambda cannot build a source distribution, so layerpub installs wheels only. Ways out: pin a version of it that publishes a wheel for this platform (or a pure-Python `py3-none-any` one); or build the layer with `build-command` on a runner that matches Lambda (same architecture, glibc at most {}); or, if the package index could not be reached, check the network and run again. The tool's last lines:{last}",
            spec.runtime.as_deref().unwrap_or("the runtime"),
            spec.architecture,
            layer.layer_name,
            spec.runtime
                .as_deref()
                .and_then(crate::domain::limits::runtime_os)
                .map_or_else(String::new, |os| {
                    let (a, b) = os.glibc();
                    format!("{a}.{b}, {}", os.name())
                }),
        ));
    }
    Error::Build(format!(
        "{what} failed, so layer {} was not built and nothing was uploaded; fix the build (its last lines below) and run again:{last}",
        layer.layer_name
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tool_versions_are_read_from_their_own_words() {
        assert_eq!(
            parse_version(
                "pip 24.0 from /usr/lib/python3/dist-packages/pip (python 3.12)\n",
                BuildTool::Pip
            )
            .as_deref(),
            Some("24.0")
        );
        assert_eq!(
            parse_version("uv 0.5.1 (abc 2024-11-01)\n", BuildTool::Uv).as_deref(),
            Some("0.5.1")
        );
        assert_eq!(
            parse_version("10.8.2\n", BuildTool::Npm).as_deref(),
            Some("10.8.2")
        );
        assert_eq!(parse_version("", BuildTool::Pip), None);
        assert_eq!(parse_version("oops", BuildTool::Pip), None);
    }

    #[test]
    fn tool_output_cannot_start_a_workflow_command() {
        let mut out = Vec::new();
        let mut log = BuildLog {
            out: &mut out,
            fold: true,
        };
        log.tool_line("::error::x ##[set-output name=a]b\r");
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "build: ::error::x ##\\[set-output name=a]b\n"
        );
    }
}
