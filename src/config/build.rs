//! The `build` and `build-command` settings, checked against the layer's runtimes and
//! architectures into one [`BuildSpec`]: what to build, for which Python and which platform.
//! Pure: the build itself runs in `crate::build`.

use std::path::PathBuf;

use crate::config::settings::BuildTool;
use crate::domain::error::Problem;
use crate::domain::limits;

/// How a layer is built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BuildKind {
    /// A package tool with its own platform targeting.
    Tool(BuildTool),
    /// `build-command`: run with `sh -c`.
    Command(String),
}

/// A layer's build, resolved: everything that decides its output is here, and joins the
/// fingerprint (see `package::fingerprint`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildSpec {
    pub kind: BuildKind,
    /// The runtime built for: the layer's Python runtime (pip, uv), its Node.js runtime
    /// (npm, optional), or its first runtime (a command, optional).
    pub runtime: Option<String>,
    /// `3.12` for `python3.12`.
    pub python_version: Option<String>,
    /// `x86_64` or `arm64`: the layer's one architecture (`x86_64` when none is given).
    pub architecture: String,
    /// The platform the tool targets, as the tool spells it: pip's manylinux tags, newest
    /// first; uv's `--python-platform`; npm's `linux-<cpu>`; empty for a command.
    pub platform: Vec<String>,
}

impl BuildSpec {
    /// `pip`, `uv`, `npm` or `command`.
    pub fn tool_name(&self) -> &'static str {
        match &self.kind {
            BuildKind::Tool(t) => t.as_str(),
            BuildKind::Command(_) => "command",
        }
    }

    /// `pip for python3.12 on arm64`: what a plan says it would build.
    pub fn describe(&self) -> String {
        let tool = match &self.kind {
            BuildKind::Tool(t) => t.as_str(),
            BuildKind::Command(_) => "build-command",
        };
        match &self.runtime {
            Some(r) => format!("{tool} for {r} on {}", self.architecture),
            None => format!("{tool} on {}", self.architecture),
        }
    }

    /// The folder inside the zip the build's output goes under, unless `prefix` is given.
    pub(crate) fn default_prefix(tool: Option<BuildTool>) -> &'static str {
        match tool {
            Some(BuildTool::Pip | BuildTool::Uv) => "python",
            Some(BuildTool::Npm) => "nodejs",
            None => "",
        }
    }
}

/// npm's `--cpu` for a Lambda architecture.
pub fn npm_cpu(architecture: &str) -> &'static str {
    if architecture == "arm64" {
        "arm64"
    } else {
        "x64"
    }
}

fn problem(input: &str, message: String) -> Problem {
    Problem {
        input: input.into(),
        layer: None,
        message,
    }
}

/// What the user gave for the build, beside the layer's other settings.
pub(crate) struct BuildSettings<'a> {
    pub tool: Option<BuildTool>,
    pub command: Option<String>,
    pub path_given: bool,
    pub manifest: &'a [PathBuf],
    /// Sorted, checked by the caller.
    pub runtimes: &'a [String],
    pub architectures: &'a [String],
}

/// The layer's build, or `None` without `build` / `build-command`; every problem is pushed.
pub(crate) fn check_build(problems: &mut Vec<Problem>, s: BuildSettings<'_>) -> Option<BuildSpec> {
    let command = s.command.map(|c| c.trim().to_owned());
    let kind = match (s.tool, command) {
        (None, None) => return None,
        (Some(_), Some(_)) => {
            problems.push(problem(
                "build",
                "`build` and `build-command` are both set; give one: `build: pip|uv|npm` for a package tool, or `build-command` for any other build".into(),
            ));
            return None;
        }
        (Some(t), None) => BuildKind::Tool(t),
        (None, Some(c)) => BuildKind::Command(c),
    };
    let input = match kind {
        BuildKind::Tool(_) => "build",
        BuildKind::Command(_) => "build-command",
    };
    let before = problems.len();
    if s.path_given {
        problems.push(problem(
            "path",
            format!("is set together with `{input}`; with a build, the build's output folder is the layer: remove `path`"),
        ));
    }
    if s.manifest.is_empty() {
        let example = match kind {
            BuildKind::Tool(BuildTool::Npm) => "package-lock.json",
            _ => "requirements.txt",
        };
        problems.push(problem(
            "manifest",
            format!("not set; `{input}` builds from the lock file, which also decides when a new version is needed: set `manifest: {example}`"),
        ));
    }
    let architecture = match s.architectures {
        [] => "x86_64".to_owned(),
        [one] => one.clone(),
        _ => {
            problems.push(problem(
                "compatible-architectures",
                format!("`{input}` builds for one architecture, and {} are given; declare the layer once per architecture (two `layers:` entries with the same layer-name, one architecture each: they publish as `NAME-arm64` and `NAME-x86_64`)", s.architectures.len()),
            ));
            String::new()
        }
    };
    let pythons: Vec<&String> = s
        .runtimes
        .iter()
        .filter(|r| r.starts_with("python"))
        .collect();
    let nodes: Vec<&String> = s
        .runtimes
        .iter()
        .filter(|r| r.starts_with("nodejs"))
        .collect();
    let (runtime, platform) = match &kind {
        BuildKind::Tool(tool @ (BuildTool::Pip | BuildTool::Uv)) => {
            let runtime = match pythons.as_slice() {
                [one] => Some((*one).clone()),
                [] => {
                    problems.push(problem(
                        "compatible-runtimes",
                        format!("`build: {}` builds for one Python runtime, and none is given; set `compatible-runtimes: [python3.12]` (the runtime your functions use)", tool.as_str()),
                    ));
                    None
                }
                many => {
                    problems.push(problem(
                        "compatible-runtimes",
                        format!("`build: {}` builds for one Python runtime, and {} are given ({}); native wheels are built per Python version: keep one, or declare one layer per runtime", tool.as_str(), many.len(), many.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(", ")),
                    ));
                    None
                }
            };
            let os = runtime.as_deref().map(|r| (r, limits::runtime_os(r)));
            let platform = match os {
                Some((_, Some(os))) if !architecture.is_empty() => match tool {
                    BuildTool::Pip => limits::manylinux_tags(os.glibc(), &architecture),
                    _ => vec![uv_platform(os.glibc(), &architecture)],
                },
                Some((r, None)) => {
                    problems.push(problem(
                        "compatible-runtimes",
                        format!("`build: {}` cannot build for `{r}`, which Lambda no longer runs new functions on; use python3.9 or later", tool.as_str()),
                    ));
                    vec![]
                }
                _ => vec![],
            };
            (runtime, platform)
        }
        BuildKind::Tool(BuildTool::Npm) => {
            if !pythons.is_empty() && nodes.is_empty() {
                problems.push(problem(
                    "build",
                    "`npm` builds a Node.js layer, and compatible-runtimes lists only Python runtimes; use `build: pip` (or `uv`), or list the nodejs runtime".into(),
                ));
            }
            let platform = if architecture.is_empty() {
                vec![]
            } else {
                vec![format!("linux-{}", npm_cpu(&architecture))]
            };
            (nodes.first().map(|r| (*r).clone()), platform)
        }
        BuildKind::Command(_) => (
            pythons
                .first()
                .or(nodes.first())
                .copied()
                .or(s.runtimes.first())
                .cloned(),
            vec![],
        ),
    };
    if problems.len() > before {
        return None;
    }
    let python_version = runtime
        .as_deref()
        .and_then(|r| r.strip_prefix("python"))
        .map(str::to_owned);
    Some(BuildSpec {
        kind,
        runtime,
        python_version,
        architecture,
        platform,
    })
}

/// uv's `--python-platform` for an OS's glibc and a Lambda architecture
/// (`aarch64-manylinux_2_34`): uv then takes every manylinux wheel up to that glibc. uv names
/// only some glibc versions (2.17, 2.28, 2.31 to 2.40: its `--help` lists them), so the newest
/// of those not above the OS's is taken: Amazon Linux 2's glibc 2.26 is `manylinux_2_17`.
pub(crate) fn uv_platform(glibc: (u32, u32), architecture: &str) -> String {
    let arch = if architecture == "arm64" {
        "aarch64"
    } else {
        "x86_64"
    };
    let named = |minor: u32| minor == 17 || minor == 28 || (31..=40).contains(&minor);
    let minor = (17..=glibc.1.min(40))
        .rev()
        .find(|m| named(*m))
        .unwrap_or(17);
    format!("{arch}-manylinux_{}_{minor}", glibc.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(
        tool: Option<BuildTool>,
        command: Option<&str>,
        runtimes: &[&str],
        archs: &[&str],
        manifest: &[&str],
    ) -> Result<BuildSpec, Vec<String>> {
        let runtimes: Vec<String> = runtimes.iter().map(|s| s.to_string()).collect();
        let archs: Vec<String> = archs.iter().map(|s| s.to_string()).collect();
        let manifest: Vec<PathBuf> = manifest.iter().map(PathBuf::from).collect();
        let mut problems = Vec::new();
        let spec = check_build(
            &mut problems,
            BuildSettings {
                tool,
                command: command.map(str::to_owned),
                path_given: false,
                manifest: &manifest,
                runtimes: &runtimes,
                architectures: &archs,
            },
        );
        match spec {
            Some(s) if problems.is_empty() => Ok(s),
            _ => Err(problems
                .into_iter()
                .map(|p| format!("{}: {}", p.input, p.message))
                .collect()),
        }
    }

    #[test]
    fn pip_builds_for_the_layers_python_and_architecture() {
        let s = check(
            Some(BuildTool::Pip),
            None,
            &["python3.12"],
            &["arm64"],
            &["requirements.txt"],
        )
        .unwrap();
        assert_eq!(s.python_version.as_deref(), Some("3.12"));
        assert_eq!(s.architecture, "arm64");
        assert_eq!(s.platform[0], "manylinux_2_34_aarch64");
        assert_eq!(s.describe(), "pip for python3.12 on arm64");
    }

    #[test]
    fn no_architecture_builds_for_x86_64() {
        let s = check(
            Some(BuildTool::Uv),
            None,
            &["python3.11"],
            &[],
            &["requirements.txt"],
        )
        .unwrap();
        assert_eq!(s.architecture, "x86_64");
        // uv names no manylinux_2_26: the newest it names below Amazon Linux 2's glibc.
        assert_eq!(s.platform, ["x86_64-manylinux_2_17"]);
        assert_eq!(uv_platform((2, 34), "arm64"), "aarch64-manylinux_2_34");
    }

    #[test]
    fn pip_without_a_python_runtime_names_build_and_compatible_runtimes() {
        let e = check(Some(BuildTool::Pip), None, &[], &[], &["r.txt"]).unwrap_err();
        assert!(
            e[0].starts_with("compatible-runtimes: `build: pip`"),
            "{e:?}"
        );
        let e = check(
            Some(BuildTool::Pip),
            None,
            &["python3.11", "python3.12"],
            &[],
            &["r.txt"],
        )
        .unwrap_err();
        assert!(e[0].contains("2 are given"), "{e:?}");
    }

    #[test]
    fn a_build_needs_a_manifest_one_architecture_and_not_both_settings() {
        let e = check(
            Some(BuildTool::Pip),
            None,
            &["python3.12"],
            &["arm64", "x86_64"],
            &[],
        )
        .unwrap_err();
        assert_eq!(e.len(), 2, "{e:?}");
        assert!(e[0].starts_with("manifest: not set"), "{e:?}");
        assert!(e[1].starts_with("compatible-architectures:"), "{e:?}");
        let e = check(Some(BuildTool::Pip), Some("make"), &[], &[], &["r"]).unwrap_err();
        assert!(e[0].contains("are both set"), "{e:?}");
    }

    #[test]
    fn a_built_layer_needs_no_path_refuses_one_and_defaults_its_prefix() {
        use crate::config::settings::Settings;
        let settings = |path: Option<&str>, tool| Settings {
            layer_name: Some("deps".into()),
            path: path.map(Into::into),
            build: Some(tool),
            manifest: Some(vec!["requirements.txt".into()]),
            compatible_runtimes: Some(vec!["python3.12".into()]),
            ..Settings::default()
        };
        let resolve = |s| crate::config::resolve(None, Settings::default(), s);
        let layer = resolve(settings(None, BuildTool::Pip))
            .unwrap()
            .layers
            .remove(0);
        assert_eq!(layer.prefix, "python");
        assert!(layer.build.is_some());
        let mut npm = settings(None, BuildTool::Npm);
        npm.compatible_runtimes = Some(vec!["nodejs20.x".into()]);
        let layer = resolve(npm).unwrap().layers.remove(0);
        assert_eq!(layer.prefix, "nodejs");
        let e = resolve(settings(Some("site"), BuildTool::Pip)).unwrap_err();
        assert!(
            e.to_string().contains("path: is set together with `build`"),
            "{e}"
        );
    }

    #[test]
    fn npm_targets_linux_and_the_cpu() {
        let s = check(
            Some(BuildTool::Npm),
            None,
            &["nodejs20.x"],
            &["arm64"],
            &["package-lock.json"],
        )
        .unwrap();
        assert_eq!(s.platform, ["linux-arm64"]);
        assert_eq!(s.describe(), "npm for nodejs20.x on arm64");
    }

    #[test]
    fn a_command_is_kept_trimmed_with_the_layers_runtime() {
        let s = check(None, Some(" make layer \n"), &["python3.13"], &[], &["r"]).unwrap();
        assert_eq!(s.kind, BuildKind::Command("make layer".into()));
        assert_eq!(s.python_version.as_deref(), Some("3.13"));
        assert!(s.platform.is_empty());
    }
}
