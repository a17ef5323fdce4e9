//! Building a layer from its lock file for Lambda's platform, with the package tools' own
//! cross-platform targeting: no container, any architecture from one runner.
//!
//! This file is the pure part: the exact command line of each tool, and what its output
//! means. [`run`] is the thin shell that finds the tool, runs it in a fresh folder and shows
//! its output. The build runs only when the decision is to publish (see `publish`).

pub mod run;

use std::path::{Path, PathBuf};

use crate::config::build::{BuildKind, BuildSpec};
use crate::config::settings::BuildTool;

/// One process to start: the program (looked up on PATH) and its arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    /// Looked up on PATH: the first that exists is run.
    pub programs: Vec<&'static str>,
    pub args: Vec<String>,
}

/// Whether a requirements file pins hashes (`--hash=sha256:…` on any requirement line): pip
/// then gets `--require-hashes`, so that every file it installs must match.
pub fn has_hashes(requirements: &str) -> bool {
    requirements.lines().any(|line| {
        let code = line.split(" #").next().unwrap_or("").trim_start();
        !code.starts_with('#') && code.contains("--hash")
    })
}

/// `pip install` into `target` for the spec's platform: the manylinux tags of the runtime's
/// OS and the layer's architecture, CPython of the runtime's version, wheels only.
pub fn pip(spec: &BuildSpec, target: &Path, requirements: &[PathBuf], hashes: bool) -> Invocation {
    let mut args: Vec<String> = vec!["install".into(), "--target".into(), path(target)];
    for tag in &spec.platform {
        args.push("--platform".into());
        args.push(tag.clone());
    }
    args.extend([
        "--implementation".into(),
        "cp".into(),
        "--python-version".into(),
        spec.python_version.clone().unwrap_or_default(),
        "--only-binary=:all:".into(),
        // Bytecode would be compiled by the runner's Python, for its own version, and is
        // left out of the layer by the default excludes anyway.
        "--no-compile".into(),
        "--disable-pip-version-check".into(),
        "--no-input".into(),
        // One line per package in the log, not a redrawn bar.
        "--progress-bar=off".into(),
    ]);
    requirements_args(&mut args, requirements, hashes);
    Invocation {
        programs: vec!["pip", "pip3"],
        args,
    }
}

/// pip's and uv's common tail: `--require-hashes` when the files pin hashes, then `-r FILE` each.
fn requirements_args(args: &mut Vec<String>, requirements: &[PathBuf], hashes: bool) {
    if hashes {
        args.push("--require-hashes".into());
    }
    for r in requirements {
        args.push("-r".into());
        args.push(path(r));
    }
}

fn path(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

/// The invocation for a tool build (`None` for a command, which runs through `sh -c`).
pub fn invocation(
    spec: &BuildSpec,
    target: &Path,
    manifests: &[PathBuf],
    hashes: bool,
) -> Option<Invocation> {
    match &spec.kind {
        BuildKind::Tool(BuildTool::Pip) => Some(pip(spec, target, manifests, hashes)),
        BuildKind::Tool(BuildTool::Uv) => Some(uv(spec, target, manifests, hashes)),
        BuildKind::Tool(BuildTool::Npm) => Some(npm(spec)),
        BuildKind::Command(_) => None,
    }
}

/// `uv pip install` into `target`: uv's `--python-platform` names the architecture and the
/// newest glibc, and uv takes every manylinux wheel up to it.
pub fn uv(spec: &BuildSpec, target: &Path, requirements: &[PathBuf], hashes: bool) -> Invocation {
    let mut args: Vec<String> = vec![
        "pip".into(),
        "install".into(),
        "--target".into(),
        path(target),
        "--python-platform".into(),
        spec.platform.first().cloned().unwrap_or_default(),
        "--python-version".into(),
        spec.python_version.clone().unwrap_or_default(),
        "--only-binary".into(),
        ":all:".into(),
        "--no-compile".into(),
    ];
    requirements_args(&mut args, requirements, hashes);
    Invocation {
        programs: vec!["uv"],
        args,
    }
}

/// Whether a manifest is uv's lock file, which `uv export` turns into requirements first.
pub fn is_uv_lock(manifest: &Path) -> bool {
    manifest.file_name().is_some_and(|n| n == "uv.lock")
}

/// `uv export` of the uv.lock in the folder it runs in: the locked packages (not the project
/// itself, not the dev group) as a requirements file with hashes, unchanged from the lock
/// (`--frozen`).
pub fn uv_export(output: &Path) -> Invocation {
    Invocation {
        programs: vec!["uv"],
        args: vec![
            "export".into(),
            "--frozen".into(),
            "--format".into(),
            "requirements.txt".into(),
            "--no-dev".into(),
            "--no-emit-project".into(),
            "--no-header".into(),
            "--output-file".into(),
            path(output),
        ],
    }
}

/// `npm ci` for Linux and the layer's CPU, without dev dependencies, run in the folder that
/// holds the copied package.json and package-lock.json.
pub fn npm(spec: &BuildSpec) -> Invocation {
    let cpu = crate::config::build::npm_cpu(&spec.architecture);
    Invocation {
        programs: vec!["npm"],
        args: vec![
            "ci".into(),
            "--omit=dev".into(),
            "--os=linux".into(),
            format!("--cpu={cpu}"),
            // A `file:` folder is installed as a copy, not a link that would dangle in /opt.
            "--install-links".into(),
            "--no-audit".into(),
            "--no-fund".into(),
        ],
    }
}

/// The local packages a package-lock.json installs from (`"resolved": "file:…"`, or a linked
/// folder), relative to its folder: npm runs in a copy of package.json and the lock, so these
/// are copied beside them. Paths that are absolute or climb out of the folder (`..`) are left
/// where they are (npm then reports them missing, naming them).
pub fn npm_local_paths(lock: &str) -> Vec<String> {
    let Ok(doc) = serde_json::from_str::<serde_json::Value>(lock) else {
        return vec![];
    };
    let mut paths: Vec<String> = doc["packages"]
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(_, p)| {
            let resolved = p["resolved"].as_str()?;
            match resolved.strip_prefix("file:") {
                Some(path) => Some(path.to_owned()),
                None if p["link"].as_bool() == Some(true) => Some(resolved.to_owned()),
                None => None,
            }
        })
        .filter(|p| {
            let path = Path::new(p);
            !p.is_empty()
                && path.is_relative()
                && path.components().all(|c| {
                    matches!(
                        c,
                        std::path::Component::Normal(_) | std::path::Component::CurDir
                    )
                })
        })
        .collect();
    paths.sort();
    paths.dedup();
    paths
}

/// How to get a missing tool, for the error that names it.
pub fn install_hint(tool: BuildTool) -> &'static str {
    match tool {
        BuildTool::Pip => {
            "install Python 3 with pip on the runner (actions/setup-python does; on Debian or Ubuntu `apt-get install python3-pip`), or use `build: uv`"
        }
        BuildTool::Uv => {
            "install uv on the runner (astral-sh/setup-uv, `pip install uv`, or `curl -LsSf https://astral.sh/uv/install.sh | sh`)"
        }
        BuildTool::Npm => {
            "install Node.js with npm on the runner (actions/setup-node, or a node image)"
        }
    }
}

/// The requirement a wheels-only install could not find, from pip's or uv's output: pip says
/// `No matching distribution found for NAME==1.0` (after `Could not find a version that
/// satisfies the requirement NAME==1.0`); uv says `Because NAME==1.0 has no wheels with a
/// matching platform tag` or `NAME==1.0 ... no usable wheels`.
pub fn missing_wheel(lines: &[String]) -> Option<String> {
    let after = |line: &str, marker: &str| {
        line.find(marker).map(|at| {
            line[at + marker.len()..]
                .split_whitespace()
                .next()
                .unwrap_or("")
                .trim_end_matches([',', '.', ':'])
                .to_owned()
        })
    };
    let found = lines.iter().rev().find_map(|l| {
        after(l, "No matching distribution found for ")
            .or_else(|| after(l, "satisfies the requirement "))
            .or_else(|| {
                (l.contains("has no wheels") || l.contains("no usable wheels"))
                    .then(|| after(l, "Because "))
                    .flatten()
            })
    });
    found.filter(|r| !r.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(tool: BuildTool, runtime: &str, arch: &str) -> BuildSpec {
        let s = crate::config::settings::Settings {
            layer_name: Some("deps".into()),
            build: Some(tool),
            manifest: Some(vec!["requirements.txt".into()]),
            compatible_runtimes: Some(vec![runtime.into()]),
            compatible_architectures: Some(vec![arch.into()]),
            ..Default::default()
        };
        crate::config::resolve(None, Default::default(), s)
            .unwrap()
            .layers
            .remove(0)
            .build
            .unwrap()
    }

    #[test]
    fn pip_targets_the_runtimes_glibc_and_the_layers_architecture() {
        let s = spec(BuildTool::Pip, "python3.12", "arm64");
        let inv = pip(&s, Path::new("/b"), &["requirements.txt".into()], false);
        let line = inv.args.join(" ");
        assert!(
            line.starts_with("install --target /b --platform manylinux_2_34_aarch64 --platform manylinux_2_33_aarch64 "),
            "{line}"
        );
        assert!(
            line.contains("--platform manylinux_2_17_aarch64 --platform manylinux2014_aarch64 --implementation cp --python-version 3.12 --only-binary=:all: "),
            "{line}"
        );
        assert!(line.ends_with(" -r requirements.txt"), "{line}");
        assert!(!line.contains("--require-hashes"));
        assert!(!line.contains("x86_64"));
        assert_eq!(inv.programs, ["pip", "pip3"]);
    }

    #[test]
    fn pip_for_amazon_linux_2_stops_at_glibc_2_26_and_requires_hashes_when_pinned() {
        let s = spec(BuildTool::Pip, "python3.11", "x86_64");
        let line = pip(&s, Path::new("/b"), &["r.txt".into()], true)
            .args
            .join(" ");
        assert!(
            line.contains("--platform manylinux_2_26_x86_64 --platform manylinux_2_25_x86_64"),
            "{line}"
        );
        assert!(!line.contains("manylinux_2_27"), "{line}");
        assert!(line.contains("--platform manylinux1_x86_64"), "{line}");
        assert!(line.contains("--python-version 3.11"), "{line}");
        assert!(line.contains("--require-hashes -r r.txt"), "{line}");
    }

    #[test]
    fn hashes_are_seen_on_requirement_lines_not_in_comments() {
        assert!(has_hashes(
            "six==1.16.0 \\\n    --hash=sha256:1e61c37477a1626458e36f7b1d82aa5c9b094fa4802892072e49de9c60c4c926\n"
        ));
        assert!(!has_hashes("six==1.16.0\n# pin with --hash later\n"));
        assert!(!has_hashes("six==1.16.0  # no --hash here\n"));
    }

    #[test]
    fn uv_names_one_platform_and_the_python_version() {
        let s = spec(BuildTool::Uv, "python3.12", "arm64");
        let line = uv(&s, Path::new("/b"), &["r.txt".into()], false)
            .args
            .join(" ");
        assert_eq!(
            line,
            "pip install --target /b --python-platform aarch64-manylinux_2_34 --python-version 3.12 --only-binary :all: --no-compile -r r.txt"
        );
    }

    #[test]
    fn a_uv_lock_is_exported_frozen_without_the_project_or_dev_dependencies() {
        assert!(is_uv_lock(Path::new("app/uv.lock")));
        assert!(!is_uv_lock(Path::new("requirements.txt")));
        assert_eq!(
            uv_export(Path::new("/b/requirements.txt")).args.join(" "),
            "export --frozen --format requirements.txt --no-dev --no-emit-project --no-header --output-file /b/requirements.txt"
        );
    }

    #[test]
    fn npm_installs_for_linux_and_the_layers_cpu_without_dev_dependencies() {
        let mut s = spec(BuildTool::Pip, "python3.12", "arm64");
        s.kind = BuildKind::Tool(BuildTool::Npm);
        assert_eq!(
            npm(&s).args.join(" "),
            "ci --omit=dev --os=linux --cpu=arm64 --install-links --no-audit --no-fund"
        );
        s.architecture = "x86_64".into();
        assert!(npm(&s).args.contains(&"--cpu=x64".to_owned()));
    }

    #[test]
    fn the_local_packages_of_a_lock_are_found_inside_its_folder_only() {
        let lock = r#"{"packages": {
            "": {"name": "app"},
            "node_modules/a": {"resolved": "file:vendor/a-1.0.0.tgz"},
            "node_modules/b": {"resolved": "libs/b", "link": true},
            "node_modules/c": {"resolved": "https://registry.npmjs.org/c/-/c-1.0.0.tgz"},
            "node_modules/d": {"resolved": "file:../outside/d.tgz"},
            "node_modules/e": {"resolved": "file:/abs/e.tgz"}
        }}"#;
        assert_eq!(npm_local_paths(lock), ["libs/b", "vendor/a-1.0.0.tgz"]);
        assert!(npm_local_paths("not json").is_empty());
    }

    #[test]
    fn the_requirement_without_a_wheel_is_found_in_pips_and_uvs_words() {
        let lines = |t: &str| t.lines().map(str::to_owned).collect::<Vec<_>>();
        assert_eq!(
            missing_wheel(&lines(
                "ERROR: Could not find a version that satisfies the requirement sdistonly==1.0 (from versions: none)\nERROR: No matching distribution found for sdistonly==1.0\n"
            ))
            .as_deref(),
            Some("sdistonly==1.0")
        );
        assert_eq!(
            missing_wheel(&lines(
                "  × No solution found when resolving dependencies:\n  ╰─▶ Because sdistonly==1.0 has no wheels with a matching platform tag and you require sdistonly==1.0, we can conclude that your requirements are unsatisfiable."
            ))
            .as_deref(),
            Some("sdistonly==1.0")
        );
        assert_eq!(missing_wheel(&lines("ERROR: Invalid requirement")), None);
    }
}
