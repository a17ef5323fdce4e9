//! From settings (flags, environment, file) to one checked [`RunConfig`]: the run-level
//! settings once, and one [`LayerConfig`] per layer.
//!
//! Precedence, highest first: command-line flag, environment (`INPUT_*` over `LAYERPUB_*`),
//! the layer's own entry in the file, the file's top-level defaults, built-in defaults.
//! Everything Lambda would reject is checked here, before any call, and every problem is
//! reported at once; what can be parsed once (globs, ARNs, function references, grantees) is
//! parsed here and carried typed. Pure apart from [`read_config_file`].

pub mod build;
pub mod env;
pub(crate) mod glob;
pub mod globs;
pub mod inputs;
pub mod settings;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::config::globs::Globs;
use crate::config::settings::{NativeCheck, Settings, SymlinkPolicy};
use crate::domain::arn::{FunctionRef, LayerArn, is_region};
use crate::domain::error::{ConfigError, Problem};
use crate::domain::limits;

/// Excluded unless `default-excludes: false`: build litter no layer needs.
pub(crate) const DEFAULT_EXCLUDES: &[&str] = &["__pycache__/", "*.pyc", ".git/", ".DS_Store"];

/// Names the config file may have when no `--config` or `LAYERPUB_CONFIG` is given.
pub(crate) const DEFAULT_CONFIG_FILES: &[&str] = &["layerpub.yml", "layerpub.yaml"];

/// What one run does: the settings that belong to the run, once, and the layers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunConfig {
    /// Every layer, in the file's order (at least one).
    pub layers: Vec<LayerConfig>,
    /// Token for the pull-request comment.
    pub github_token: Option<crate::domain::secret::Secret>,
    /// Post or update the comment (GitHub) or note (GitLab).
    pub comment: bool,
    /// The pull or merge request to comment on, when the event does not say.
    pub pr_number: Option<u64>,
    /// Where the dotenv report goes; from the file, relative to the file's folder.
    pub dotenv_file: Option<PathBuf>,
    /// The most variables the dotenv report may hold.
    pub dotenv_max_variables: usize,
    /// How the dotenv report carries the results.
    pub dotenv_format: crate::config::settings::DotenvFormat,
    /// Manifests and `path` may lie outside the workspace (see
    /// [`crate::config::inputs::confine`]). Never from the file.
    pub allow_outside_workspace: bool,
}

/// The settings that belong to the run, not to one layer: what is reported where, and what
/// the run may read. In a file they are top-level keys; inside a `layers:` entry they are
/// refused (see [`resolve`]), since one layer cannot have its own comment or dotenv report.
/// (`allow-outside-workspace` belongs to the run too, but the file cannot set it at all.)
pub(crate) const RUN_SETTINGS: &[&str] = &[
    "github-token",
    "comment",
    "pr-number",
    "dotenv-file",
    "dotenv-max-variables",
    "dotenv-format",
];

/// One layer, every setting resolved and checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerConfig {
    /// As given: a plain name or a layer ARN; for a layer declared once per architecture, the
    /// name with the architecture appended (`deps-arm64`, see [`resolve`]).
    pub layer_name: String,
    /// `layer_name` parsed, when it is a layer ARN.
    pub arn: Option<LayerArn>,
    /// The name the user declared: `layer_name` without an architecture suffix.
    pub logical_name: String,
    pub path: PathBuf,
    /// Folder inside the zip, without leading or trailing `/`; empty for the zip's root.
    pub prefix: String,
    /// `include` and `exclude` (the default excludes, unless turned off, then the user's),
    /// compiled.
    pub globs: Globs,
    pub manifest: Vec<PathBuf>,
    /// Sorted and without duplicates: their order means nothing to Lambda.
    pub compatible_runtimes: Vec<String>,
    pub compatible_architectures: Vec<String>,
    pub license_info: Option<String>,
    pub description: Option<String>,
    pub symlinks: SymlinkPolicy,
    /// What packaging does with native files that cannot load on Lambda.
    pub native_check: NativeCheck,
    /// `build` / `build-command`: the layer is built (into a fresh folder that becomes
    /// `path`) when, and only when, a new version is published.
    pub build: Option<crate::config::build::BuildSpec>,
    pub zip_path: PathBuf,
    /// The regions to publish in, in the order given; empty: the SDK's region (AWS_REGION,
    /// the profile).
    pub regions: Vec<String>,
    /// `None`: the SDK's endpoint (AWS_ENDPOINT_URL when set, else AWS).
    pub endpoint_url: Option<String>,
    /// May hold `{region}`: see [`LayerConfig::bucket_in`].
    pub s3_bucket: Option<String>,
    /// Empty, or ends with `/`.
    pub s3_prefix: String,
    pub force: bool,
    pub dry_run: bool,
    pub claim_timeout: std::time::Duration,
    /// Who every version this run publishes (and the current one) is shared with.
    pub share_with: Vec<crate::domain::grantee::Grantee>,
    /// After a publish, keep this many newest versions and delete older ones.
    pub keep_versions: Option<usize>,
    pub protect_in_use: bool,
    /// Functions moved onto the layer's current version, each parsed once.
    pub functions: Vec<FunctionRef>,
    pub roll_out: crate::domain::follow_up::RollOut,
}

/// Default key prefix for uploads.
pub(crate) const DEFAULT_S3_PREFIX: &str = "layerpub/";
/// Default age after which an unfinished claim is taken over.
pub(crate) const DEFAULT_CLAIM_TIMEOUT_SECS: u64 = 900;

/// Replaced by each region in `s3-bucket`: Lambda reads a layer's zip only from a bucket in
/// the region it publishes in, so several regions need one bucket each.
pub(crate) const REGION_PLACEHOLDER: &str = "{region}";

impl LayerConfig {
    /// The layer's plain name (the last part of an ARN).
    pub(crate) fn short_name(&self) -> &str {
        self.arn.as_ref().map_or(&self.layer_name, LayerArn::name)
    }

    /// The functions to move in `region`: every name and partial ARN, and the full ARNs of
    /// that region.
    pub(crate) fn functions_in<'a>(
        &'a self,
        region: &'a str,
    ) -> impl Iterator<Item = &'a FunctionRef> {
        self.functions.iter().filter(move |f| f.is_in(region))
    }

    /// The bucket to upload to for publishing in `region`.
    pub fn bucket_in(&self, region: &str) -> Option<String> {
        self.s3_bucket
            .as_deref()
            .map(|b| b.replace(REGION_PLACEHOLDER, region))
    }
}

/// A parsed config file and where it came from.
#[derive(Debug, Clone)]
pub struct ConfigFile {
    pub path: PathBuf,
    pub settings: Settings,
}

/// What named the config file: the fix for a bad one is said there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ConfigSource {
    /// `--config FILE`.
    Flag,
    /// `LAYERPUB_CONFIG`.
    Env,
    /// Found by its name (`layerpub.yml`, `layerpub.yaml`) in the working directory.
    Default,
}

impl ConfigSource {
    fn name(self) -> &'static str {
        match self {
            ConfigSource::Flag => "--config",
            ConfigSource::Env => "LAYERPUB_CONFIG",
            ConfigSource::Default => "the working directory's config file",
        }
    }
}

/// Which file to read: `--config`, else `LAYERPUB_CONFIG`, else `layerpub.yml` when present.
/// Returns `None` when no file was asked for and none is present. A `layerpub.yml` that is
/// present as anything (a folder, a dangling link) is returned, so that reading it says what
/// is wrong instead of the run going on without the settings the user meant.
pub(crate) fn config_file_path(
    flag: Option<&Path>,
    env: Option<&str>,
    cwd: &Path,
) -> Option<(PathBuf, ConfigSource)> {
    if let Some(p) = flag {
        return Some((p.to_path_buf(), ConfigSource::Flag));
    }
    if let Some(p) = env.filter(|p| !p.trim().is_empty()) {
        return Some((PathBuf::from(p), ConfigSource::Env));
    }
    DEFAULT_CONFIG_FILES
        .iter()
        .find(|name| std::fs::symlink_metadata(cwd.join(name)).is_ok())
        .map(|name| (PathBuf::from(name), ConfigSource::Default))
}

/// Reads and parses the config file at `path`, named `shown` in messages (as the user named
/// it). Only a regular file is read, never blocking on a FIFO, and up to
/// [`crate::config::inputs::READ_MAX`].
pub(crate) fn read_config_file(
    path: &Path,
    shown: &Path,
    source: ConfigSource,
) -> Result<ConfigFile, ConfigError> {
    use crate::config::inputs::{READ_MAX, ReadError, read_regular};
    let fix = match source {
        ConfigSource::Default => {
            "rename or remove it (layerpub reads a file of that name in the working directory as its settings), or name the config file with --config / LAYERPUB_CONFIG".to_owned()
        }
        _ => format!("point {} at the YAML file", source.name()),
    };
    let message = match read_regular(path, READ_MAX) {
        Ok(bytes) => match String::from_utf8(bytes) {
            // Named as the user named it, but relative paths in it taken from where it is.
            Ok(text) => return parse_config(&text, shown, path.parent()),
            Err(_) => format!("is not UTF-8 text; {fix}"),
        },
        Err(ReadError::Missing) => format!(
            "cannot read the config file: it does not exist; check {}",
            source.name()
        ),
        Err(ReadError::DanglingLink(target)) => format!(
            "is a symbolic link to `{}`, which does not exist; fix the link or remove it",
            target.display()
        ),
        Err(ReadError::NotRegular(kind)) => format!("is {kind}, not a regular file; {fix}"),
        Err(ReadError::TooLarge(n)) => {
            format!("is {n} bytes, over the {READ_MAX} layerpub reads of a config file; {fix}")
        }
        Err(ReadError::Io(e)) => {
            format!("cannot read the config file: {e}; check {}", source.name())
        }
    };
    Err(one_problem(shown.display().to_string(), message))
}

/// Parses the text of a config file. Unknown keys are errors that name the key and the file.
/// Relative paths inside the file are taken from the file's folder, as a reader expects.
pub fn parse_config_file(text: &str, path: &Path) -> Result<ConfigFile, ConfigError> {
    parse_config(text, path, path.parent())
}

/// [`parse_config_file`], with relative paths in the file taken from `base`.
fn parse_config(text: &str, path: &Path, base: Option<&Path>) -> Result<ConfigFile, ConfigError> {
    let mut settings: Settings = if text.trim().is_empty() {
        Settings::default()
    } else {
        serde_saphyr::from_str(text)
            .map_err(|e| one_problem(path.display().to_string(), yaml_message(&e, path)))?
    };
    refuse_in_file(&settings, path)?;
    let base = base.unwrap_or(Path::new(""));
    rebase_paths(&mut settings, base);
    if let Some(layers) = settings.layers.as_mut() {
        for layer in layers {
            rebase_paths(layer, base);
        }
    }
    Ok(ConfigFile {
        path: path.to_path_buf(),
        settings,
    })
}

/// The YAML library's message, except where its words are about its own options: a key
/// given twice is said in the file's terms.
fn yaml_message(e: &serde_saphyr::Error, path: &Path) -> String {
    let mut inner = e;
    while let serde_saphyr::Error::WithSnippet { error, .. }
    | serde_saphyr::Error::AliasError { error, .. } = inner
    {
        inner = error;
    }
    match inner {
        serde_saphyr::Error::DuplicateMappingKey {
            key: Some(key),
            location,
        } => format!(
            "key `{key}` appears twice in {} (line {}); keep one",
            path.display(),
            location.line()
        ),
        _ => e.to_string().trim_end().to_owned(),
    }
}

/// Settings that may not come from the file: `allow-outside-workspace` lifts the limit that
/// keeps a pull request editing layerpub.yml from publishing files outside the checkout, so
/// only the workflow (a flag, a variable, an action input) may set it.
fn refuse_in_file(settings: &Settings, path: &Path) -> Result<(), ConfigError> {
    let in_file = std::iter::once(settings)
        .chain(settings.layers.iter().flatten())
        .any(|s| s.allow_outside_workspace.is_some());
    if !in_file {
        return Ok(());
    }
    Err(one_problem(
        "allow-outside-workspace".into(),
        format!(
            "cannot be set in {}; give it as a flag, a LAYERPUB_ALLOW_OUTSIDE_WORKSPACE variable or an action input: a change to the config file (say, in a pull request) must not be able to let layerpub read and publish files outside the checkout",
            path.display()
        ),
    ))
}

fn rebase_paths(s: &mut Settings, base: &Path) {
    if base.as_os_str().is_empty() {
        return;
    }
    let rebase = |p: &Path| {
        // An empty path stays empty, for `check_layer` to refuse: joined to the file's folder
        // it would quietly package the whole project.
        if p.is_absolute() || p.as_os_str().is_empty() {
            p.to_path_buf()
        } else {
            base.join(p)
        }
    };
    s.path = s.path.as_deref().map(rebase);
    s.zip_path = s.zip_path.as_deref().map(rebase);
    s.dotenv_file = s.dotenv_file.as_deref().map(rebase);
    if let Some(m) = s.manifest.as_mut() {
        for item in m.iter_mut() {
            *item = rebase(Path::new(item.as_str()))
                .to_string_lossy()
                .into_owned();
        }
    }
}

fn one_problem(input: String, message: String) -> ConfigError {
    ConfigError(vec![Problem {
        input,
        layer: None,
        message,
    }])
}

/// Merges the sources into the run's config: the run-level settings (see [`RUN_SETTINGS`])
/// from the flags, the environment and the file's top level, and one checked config per
/// layer, every layer of the file in file order. A run-level setting inside a `layers:` entry
/// is a problem that names the key and the layer: a typo or a misplaced key is never ignored.
pub fn resolve(
    file: Option<&ConfigFile>,
    env: Settings,
    flags: Settings,
) -> Result<RunConfig, ConfigError> {
    let mut problems = Vec::new();
    let (defaults, entries) = match file {
        Some(f) => {
            let mut defaults = f.settings.clone();
            let layers = defaults.layers.take();
            match layers {
                Some(list) if list.is_empty() => {
                    problems.push(Problem {
                        input: "layers".into(),
                        layer: None,
                        message: format!(
                            "{} lists no layers; give at least one, or remove `layers:` and set the layer at the top level",
                            f.path.display()
                        ),
                    });
                    (defaults, vec![])
                }
                Some(list) => (defaults, list),
                None => (defaults, vec![Settings::default()]),
            }
        }
        None => (Settings::default(), vec![Settings::default()]),
    };
    let several = entries.len() > 1;
    let mut merged = Vec::new();
    for (i, entry) in entries.into_iter().enumerate() {
        let label = several.then(|| {
            entry
                .layer_name
                .clone()
                .map_or_else(|| format!("#{}", i + 1), |n| format!("`{n}`"))
        });
        if entry.layers.is_some() {
            problems.push(Problem {
                input: "layers".into(),
                layer: label.clone(),
                message: "layers cannot be nested; list every layer under the top-level `layers:`"
                    .into(),
            });
        }
        if let Some(f) = file {
            problems.extend(run_settings_in_entry(&entry, i, &f.path));
        }
        let settings = defaults
            .clone()
            .overlay(entry)
            .overlay(env.clone())
            .overlay(flags.clone());
        merged.push((label, settings));
    }
    let logical = name_per_architecture(&mut merged);
    let mut layers = Vec::new();
    for ((label, settings), logical_name) in merged.into_iter().zip(logical) {
        match check_layer(settings) {
            Ok(mut layer) => {
                if let Some(name) = logical_name {
                    layer.logical_name = name;
                }
                layers.push(layer)
            }
            Err(ps) => problems.extend(ps.into_iter().map(|mut p| {
                p.layer = p.layer.or_else(|| label.clone());
                p
            })),
        }
    }
    problems.extend(check_distinct(&layers));
    let run = defaults.overlay(env).overlay(flags);
    check_maximum(
        &mut problems,
        "pr-number",
        run.pr_number,
        (PR_NUMBER_MAX, ""),
        "give the number of the pull request (or merge request) to comment on",
    );
    if run.dotenv_max_variables == Some(0) {
        problems.push(problem(
            "dotenv-max-variables",
            "must be at least 1; set it to your GitLab instance's `dotenv_variables` limit (20 by default), or use `dotenv-format: json`, which writes one variable".into(),
        ));
    }
    check_maximum(
        &mut problems,
        "dotenv-max-variables",
        run.dotenv_max_variables.map(u64::from),
        (DOTENV_MAX_VARIABLES_MAX.into(), ""),
        "GitLab allows at most a few hundred variables per dotenv report",
    );
    if problems.is_empty() {
        Ok(RunConfig {
            layers,
            github_token: run.github_token,
            comment: run.comment.unwrap_or(true),
            pr_number: run.pr_number,
            dotenv_file: run.dotenv_file,
            dotenv_max_variables: run
                .dotenv_max_variables
                .map_or(DOTENV_MAX_VARIABLES_DEFAULT, |n| n as usize),
            dotenv_format: run.dotenv_format.unwrap_or_default(),
            allow_outside_workspace: run.allow_outside_workspace.unwrap_or(false),
        })
    } else {
        Err(ConfigError(problems))
    }
}

/// The run-level settings a `layers:` entry sets, each a problem naming the layer (by name,
/// else by position, however many layers there are) and saying where the key goes.
fn run_settings_in_entry(entry: &Settings, index: usize, file: &Path) -> Vec<Problem> {
    let set = [
        ("github-token", entry.github_token.is_some()),
        ("comment", entry.comment.is_some()),
        ("pr-number", entry.pr_number.is_some()),
        ("dotenv-file", entry.dotenv_file.is_some()),
        ("dotenv-max-variables", entry.dotenv_max_variables.is_some()),
        ("dotenv-format", entry.dotenv_format.is_some()),
    ];
    debug_assert!(set.iter().map(|(k, _)| *k).eq(RUN_SETTINGS.iter().copied()));
    let layer = entry
        .layer_name
        .as_deref()
        .map_or_else(|| format!("#{}", index + 1), |n| format!("`{}`", n.trim()));
    set.into_iter()
        .filter(|(_, given)| *given)
        .map(|(key, _)| Problem {
            input: key.into(),
            layer: Some(layer.clone()),
            message: format!(
                "belongs to the whole run, not to one layer; move `{key}:` to the top level of {} (above `layers:`), or give it as --{key} or {}",
                file.display(),
                env::variable_name(key)
            ),
        })
        .collect()
}

/// A layer declared once per architecture: entries that share a `layer-name`, each with exactly
/// one architecture and no two the same, are published as separate layers named
/// `<layer-name>-<architecture>` (`deps-arm64`, `deps-x86_64`). Separate names, not versions of
/// one name: each has its own newest version to compare its own fingerprint with, so the two
/// builds never make each other look changed. Renames those entries in place (before their
/// defaults, such as the zip path, are derived) and returns, per entry, the declared name of
/// the renamed ones. Any other repeated name is left for [`check_distinct`] to refuse.
fn name_per_architecture(entries: &mut [(Option<String>, Settings)]) -> Vec<Option<String>> {
    let mut groups: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (i, (_, s)) in entries.iter().enumerate() {
        if let Some(name) = s.layer_name.as_deref().map(str::trim) {
            groups.entry(name.to_owned()).or_default().push(i);
        }
    }
    let mut logical = vec![None; entries.len()];
    for (name, members) in groups.into_iter().filter(|(_, m)| m.len() > 1) {
        let archs: Vec<Option<String>> = members
            .iter()
            .map(
                |&i| match entries[i].1.compatible_architectures.as_deref() {
                    Some([one]) => Some(one.trim().to_owned()),
                    _ => None,
                },
            )
            .collect();
        let distinct = archs
            .iter()
            .flatten()
            .collect::<std::collections::BTreeSet<_>>();
        let per_arch = !name.starts_with("arn:")
            && archs.iter().all(Option::is_some)
            && distinct.len() == members.len();
        if !per_arch {
            continue;
        }
        for (&i, arch) in members.iter().zip(archs.into_iter().flatten()) {
            entries[i].1.layer_name = Some(format!("{name}-{arch}"));
            logical[i] = Some(name.clone());
        }
    }
    logical
}

/// Two layers with one name or one zip path would overwrite each other; this also catches a
/// name or zip path set in the environment for a file that lists several layers.
fn check_distinct(layers: &[LayerConfig]) -> Vec<Problem> {
    let mut problems = Vec::new();
    let mut names: BTreeMap<&str, usize> = BTreeMap::new();
    let mut zips: BTreeMap<&Path, usize> = BTreeMap::new();
    for l in layers {
        *names.entry(l.short_name()).or_default() += 1;
        *zips.entry(&l.zip_path).or_default() += 1;
    }
    for (name, n) in names.into_iter().filter(|(_, n)| *n > 1) {
        problems.push(Problem {
            input: "layer-name".into(),
            layer: None,
            message: format!(
                "{n} layers are named `{name}`; give each layer its own name in the file (a layer-name from the environment or a flag applies to every layer), or, for one layer built per architecture, give each entry one different `compatible-architectures` so they publish as `{name}-arm64` and `{name}-x86_64`"
            ),
        });
    }
    for (zip, n) in zips.into_iter().filter(|(_, n)| *n > 1) {
        problems.push(Problem {
            input: "zip-path".into(),
            layer: None,
            message: format!(
                "{n} layers would write {}; give each layer its own zip-path",
                zip.display()
            ),
        });
    }
    problems
}

fn problem(input: &str, message: String) -> Problem {
    Problem {
        input: input.into(),
        layer: None,
        message,
    }
}

/// Checks one merged layer and fills in the defaults.
fn check_layer(s: Settings) -> Result<LayerConfig, Vec<Problem>> {
    let mut problems = Vec::new();
    let missing = |name: &str, example: &str| {
        let env = format!("LAYERPUB_{}", name.to_ascii_uppercase().replace('-', "_"));
        problem(
            name,
            format!("not set; set `{name}: {example}` in layerpub.yml, {env}, or --{name}"),
        )
    };

    let layer_name = match s.layer_name.map(|n| n.trim().to_owned()) {
        None => {
            problems.push(missing("layer-name", "my-deps"));
            None
        }
        Some(n) if !limits::is_valid_layer_name(&n) => {
            problems.push(problem(
                "layer-name",
                format!(
                    "`{n}` is not a valid layer name; use 1 to {} letters, digits, '-' or '_' (e.g. `my-deps`), or a layer ARN (arn:aws:lambda:REGION:ACCOUNT:layer:NAME)",
                    limits::LAYER_NAME_MAX
                ),
            ));
            None
        }
        Some(n) => Some(n),
    };

    let builds = s.build.is_some() || s.build_command.is_some();
    match s.path.as_deref() {
        None if builds => {}
        None => problems.push(missing("path", "build/layer")),
        // `path: ''` is not "the working directory": that would package the whole project.
        Some(p) if p.as_os_str().to_string_lossy().trim().is_empty() => problems.push(problem(
            "path",
            "is empty; set it to the folder whose contents become the layer (e.g. `build/layer`), or `.` if that really is the working directory".into(),
        )),
        Some(_) => {}
    }

    let default_prefix = crate::config::build::BuildSpec::default_prefix(s.build);
    let prefix = match normalise_prefix(s.prefix.as_deref().unwrap_or(default_prefix)) {
        Ok(p) => p,
        Err(msg) => {
            problems.push(problem("prefix", msg));
            String::new()
        }
    };

    let include = s.include.unwrap_or_default();
    let mut exclude: Vec<String> = if s.default_excludes.unwrap_or(true) {
        DEFAULT_EXCLUDES.iter().map(|p| (*p).to_owned()).collect()
    } else {
        Vec::new()
    };
    exclude.extend(s.exclude.unwrap_or_default());
    let globs = Globs::new(include, exclude)
        .map_err(|ps| problems.extend(ps))
        .ok();

    let manifest: Vec<PathBuf> = s
        .manifest
        .unwrap_or_default()
        .into_iter()
        .map(PathBuf::from)
        .collect();

    let runtimes = sorted_unique(s.compatible_runtimes.unwrap_or_default());
    for r in &runtimes {
        if !limits::RUNTIMES.contains(&r.as_str()) {
            let hint = match limits::closest_runtime(r) {
                Some(c) => format!("did you mean `{c}`?"),
                None => "use Lambda runtime identifiers such as `python3.12`, `nodejs20.x`, `java21` or `provided.al2023`".to_owned(),
            };
            problems.push(problem(
                "compatible-runtimes",
                format!("`{r}` is not a Lambda runtime; {hint}"),
            ));
        }
    }
    if runtimes.len() > limits::RUNTIMES_MAX {
        problems.push(problem(
            "compatible-runtimes",
            format!(
                "{} runtimes given; Lambda accepts at most {}: keep the ones your functions use",
                runtimes.len(),
                limits::RUNTIMES_MAX
            ),
        ));
    }

    let architectures = sorted_unique(s.compatible_architectures.unwrap_or_default());
    for a in &architectures {
        if !limits::ARCHITECTURES.contains(&a.as_str()) {
            let hint = match a.to_ascii_lowercase().as_str() {
                "amd64" | "x86-64" | "x64" | "x86_64" => " (did you mean `x86_64`?)",
                "aarch64" | "arm" | "arm64" => " (did you mean `arm64`?)",
                _ => "",
            };
            problems.push(problem(
                "compatible-architectures",
                format!("`{a}` is not a Lambda architecture{hint}; use `x86_64`, `arm64`, or both"),
            ));
        }
    }
    // Two distinct valid values at most, so only invalid extras can exceed the limit.
    if architectures.len() > limits::ARCHITECTURES_MAX {
        problems.push(problem(
            "compatible-architectures",
            format!(
                "{} architectures given; Lambda accepts at most {} (`x86_64` and `arm64`)",
                architectures.len(),
                limits::ARCHITECTURES_MAX
            ),
        ));
    }

    let build = crate::config::build::check_build(
        &mut problems,
        crate::config::build::BuildSettings {
            tool: s.build,
            command: s.build_command,
            path_given: builds && s.path.is_some(),
            manifest: &manifest,
            runtimes: &runtimes,
            architectures: &architectures,
        },
    );

    check_length(
        &mut problems,
        "license-info",
        s.license_info.as_deref(),
        limits::LICENSE_MAX,
        "use an SPDX identifier such as `MIT`, or a URL to the license text",
    );
    check_length(
        &mut problems,
        "description",
        s.description.as_deref(),
        crate::domain::marker::DESCRIPTION_ROOM,
        "the rest of Lambda's 256 holds the fingerprint marker (` layerpub:sha256:` and 64 hex digits); shorten it",
    );
    let regions = check_regions(&mut problems, s.region, s.regions);
    if let Some(bucket) = s.s3_bucket.as_deref() {
        check_bucket(&mut problems, bucket, &regions);
    }
    let s3_prefix = match normalise_prefix(s.s3_prefix.as_deref().unwrap_or(DEFAULT_S3_PREFIX)) {
        Ok(p) if p.is_empty() => String::new(),
        Ok(p) => format!("{p}/"),
        Err(msg) => {
            problems.push(problem("s3-prefix", msg));
            String::new()
        }
    };
    if let Some(url) = s.endpoint_url.as_deref()
        && let Err(msg) = check_endpoint_url(url)
    {
        problems.push(problem("endpoint-url", msg));
    }
    let share_with = check_sharing(&mut problems, s.share_with, s.allow_public.unwrap_or(false));
    let functions = check_functions(&mut problems, s.functions, &regions);
    let roll_out = crate::domain::follow_up::RollOut {
        add_if_missing: s.add_to_functions.unwrap_or(false),
        publish_version: s.publish_function_version.unwrap_or(false),
        alias: s.alias.map(|a| a.trim().to_owned()),
    };
    check_roll_out(&mut problems, &roll_out, &functions);
    if s.keep_versions == Some(0) {
        problems.push(problem(
            "keep-versions",
            "must be at least 1: the newest version is never deleted; leave it unset to keep every version".into(),
        ));
    }
    if s.claim_timeout == Some(0) {
        problems.push(problem(
            "claim-timeout",
            "must be at least 1 second; it is how long a run waits on another run publishing the same fingerprint".into(),
        ));
    }
    check_maximum(
        &mut problems,
        "claim-timeout",
        s.claim_timeout,
        (CLAIM_TIMEOUT_MAX_SECS, " seconds (one day)"),
        "a claim older than that belongs to a run that died",
    );
    check_maximum(
        &mut problems,
        "keep-versions",
        s.keep_versions.map(u64::from),
        (KEEP_VERSIONS_MAX.into(), ""),
        "leave it unset to keep every version",
    );

    let (Some(layer_name), Some(globs), true) = (layer_name, globs, problems.is_empty()) else {
        return Err(problems);
    };
    let arn = LayerArn::parse(&layer_name);
    let short_name = arn.as_ref().map_or(layer_name.as_str(), LayerArn::name);
    let zip_path = s
        .zip_path
        .unwrap_or_else(|| PathBuf::from(format!("{short_name}.zip")));
    Ok(LayerConfig {
        logical_name: layer_name.clone(),
        layer_name,
        arn,
        path: s.path.unwrap_or_default(),
        prefix,
        globs,
        manifest,
        compatible_runtimes: runtimes,
        compatible_architectures: architectures,
        license_info: s.license_info,
        description: s.description,
        symlinks: s.symlinks.unwrap_or_default(),
        native_check: s.native_check.unwrap_or_default(),
        build,
        zip_path,
        regions,
        endpoint_url: s.endpoint_url,
        s3_bucket: s.s3_bucket,
        s3_prefix,
        force: s.force.unwrap_or(false),
        dry_run: s.dry_run.unwrap_or(false),
        claim_timeout: std::time::Duration::from_secs(
            s.claim_timeout.unwrap_or(DEFAULT_CLAIM_TIMEOUT_SECS),
        ),
        share_with,
        keep_versions: s.keep_versions.map(|n| n as usize),
        protect_in_use: s.protect_in_use.unwrap_or(true),
        functions,
        roll_out,
    })
}

/// The largest `claim-timeout`: a day. A run that holds a claim longer has died; waiting
/// longer only blocks publishing, and durations stay far from overflowing.
pub(crate) const CLAIM_TIMEOUT_MAX_SECS: u64 = 86_400;
/// The largest `keep-versions`: far more versions than a layer is ever kept with.
pub(crate) const KEEP_VERSIONS_MAX: u32 = 10_000;
/// GitLab's default `dotenv_variables` limit (self-managed instances; GitLab.com plans allow
/// 50 to 150): the most variables one dotenv report may hold.
pub(crate) const DOTENV_MAX_VARIABLES_DEFAULT: usize = 20;
/// The largest `dotenv-max-variables` accepted: far above any GitLab plan's limit.
pub(crate) const DOTENV_MAX_VARIABLES_MAX: u32 = 10_000;
/// The largest `pr-number`: GitHub and GitLab number pull and merge requests with 32-bit
/// signed integers.
pub(crate) const PR_NUMBER_MAX: u64 = i32::MAX as u64;

/// Every number a setting takes has a maximum, so no arithmetic on it can overflow.
/// `max` is said as written (`900 seconds (one day)`), then what to do.
fn check_maximum(
    problems: &mut Vec<Problem>,
    input: &str,
    value: Option<u64>,
    (max, said): (u64, &str),
    fix: &str,
) {
    if let Some(n) = value.filter(|n| *n > max) {
        problems.push(problem(
            input,
            format!("{n} is over the maximum of {max}{said}; {fix}"),
        ));
    }
}

/// `share-with`, parsed; `*` only with `allow-public: true`.
fn check_sharing(
    problems: &mut Vec<Problem>,
    share_with: Option<Vec<String>>,
    allow_public: bool,
) -> Vec<crate::domain::grantee::Grantee> {
    let mut grantees = Vec::new();
    for entry in share_with.unwrap_or_default() {
        match crate::domain::grantee::Grantee::parse(entry.trim()) {
            Ok(crate::domain::grantee::Grantee::Public) if !allow_public => problems.push(problem(
                "share-with",
                "`*` makes the layer usable by every AWS account; if that is meant, also set `allow-public: true`, else list account IDs or your organization ID (`o-…`)".into(),
            )),
            Ok(g) => {
                if !grantees.contains(&g) {
                    grantees.push(g);
                }
            }
            Err(msg) => problems.push(problem("share-with", msg)),
        }
    }
    grantees
}

/// Function names (`my-fn`), partial ARNs or ARNs, each parsed once; an ARN names its
/// region, which must be one the layer is published in.
fn check_functions(
    problems: &mut Vec<Problem>,
    functions: Option<Vec<String>>,
    regions: &[String],
) -> Vec<FunctionRef> {
    let mut out: Vec<FunctionRef> = Vec::new();
    for f in functions.unwrap_or_default() {
        match FunctionRef::parse(&f) {
            Err(msg) => problems.push(problem("functions", msg)),
            Ok(f) => match f.region() {
                Some(r) if !regions.is_empty() && !regions.iter().any(|x| x == r) => {
                    problems.push(problem(
                        "functions",
                        format!("`{f}` is in {r}, where this layer is not published ({}); a function can only use a layer version of its own region", regions.join(", ")),
                    ))
                }
                _ if out.contains(&f) => {}
                _ => out.push(f),
            },
        }
    }
    out
}

/// The function settings only mean something together.
fn check_roll_out(
    problems: &mut Vec<Problem>,
    roll_out: &crate::domain::follow_up::RollOut,
    functions: &[FunctionRef],
) {
    if let Some(alias) = &roll_out.alias {
        let valid = (1..=128).contains(&alias.len())
            && alias
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
            && !alias.bytes().all(|c| c.is_ascii_digit());
        if !valid {
            problems.push(problem(
                "alias",
                format!("`{alias}` is not an alias name; use 1 to 128 letters, digits, '-' or '_', not only digits (e.g. `live`)"),
            ));
        } else if !roll_out.publish_version {
            problems.push(problem(
                "alias",
                "an alias points at a published function version; also set `publish-function-version: true`".into(),
            ));
        }
    }
    let needs_functions = [
        ("add-to-functions", roll_out.add_if_missing),
        ("publish-function-version", roll_out.publish_version),
    ];
    for (input, set) in needs_functions {
        if set && functions.is_empty() {
            problems.push(problem(
                input,
                "applies to the functions listed in `functions`, and none is; list them, e.g. `functions: [my-api]`".into(),
            ));
        }
    }
}

/// `region` (one) or `regions` (a list), checked; empty when neither is set.
fn check_regions(
    problems: &mut Vec<Problem>,
    region: Option<String>,
    regions: Option<Vec<String>>,
) -> Vec<String> {
    let (input, list) = match (region, regions) {
        (Some(_), Some(_)) => {
            problems.push(problem(
                "regions",
                "both `region` and `regions` are set; use `regions: [us-east-1, eu-west-1]` alone for several regions, or `region` for one".into(),
            ));
            return Vec::new();
        }
        (Some(r), None) => ("region", vec![r.trim().to_owned()]),
        (None, Some(list)) => (
            "regions",
            list.iter().map(|r| r.trim().to_owned()).collect(),
        ),
        (None, None) => return Vec::new(),
    };
    if list.is_empty() {
        problems.push(problem(
            "regions",
            "lists no region; give at least one, e.g. `regions: [us-east-1, eu-west-1]`, or remove it to use AWS_REGION".into(),
        ));
    }
    let mut seen = Vec::new();
    for r in list {
        if !is_region(&r) {
            problems.push(problem(
                input,
                format!("`{r}` is not an AWS region name; use e.g. `us-east-1` or `eu-west-1`"),
            ));
        } else if !seen.contains(&r) {
            seen.push(r);
        }
    }
    seen
}

/// The bucket's name, with `{region}` standing for each region.
fn check_bucket(problems: &mut Vec<Problem>, bucket: &str, regions: &[String]) {
    // Checked with each region it will be published in: a name that fits with `us-east-1`
    // can exceed 63 characters with `ap-southeast-2`. Without `regions`, the SDK's region is
    // known only later; `us-east-1` stands for it here.
    let in_region = |r: &str| (r.to_owned(), bucket.replace(REGION_PLACEHOLDER, r));
    let names: Vec<(String, String)> = if regions.is_empty() {
        vec![in_region("us-east-1")]
    } else {
        regions.iter().map(|r| in_region(r)).collect()
    };
    if let Some((region, name)) = names.iter().find(|(_, n)| !is_valid_bucket_name(n)) {
        let in_region = if bucket.contains(REGION_PLACEHOLDER) {
            format!(" (in {region} it is `{name}`, {} characters)", name.len())
        } else {
            String::new()
        };
        problems.push(problem(
            "s3-bucket",
            format!("`{bucket}` is not a valid S3 bucket name{in_region}; use 3 to 63 lowercase letters, digits, '.' or '-', starting and ending with a letter or digit (the bucket's name, not an s3:// URL or ARN), with `{REGION_PLACEHOLDER}` where the region goes for one bucket per region"),
        ));
    } else if regions.len() > 1 && !bucket.contains(REGION_PLACEHOLDER) {
        problems.push(problem(
            "s3-bucket",
            format!("`{bucket}` is one bucket, but the layer is published in {} regions and Lambda reads a layer's zip only from a bucket in the region it publishes in; name one bucket per region with `{REGION_PLACEHOLDER}`, e.g. `{bucket}-{REGION_PLACEHOLDER}`, or leave s3-bucket unset to send zips up to 50 MB inline", regions.len()),
        ));
    }
}

/// S3's bucket naming rules (general purpose buckets).
fn is_valid_bucket_name(b: &str) -> bool {
    let ok_chars = b
        .bytes()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'.' || c == b'-');
    let ends_ok = |c: Option<u8>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    (3..=63).contains(&b.len())
        && ok_chars
        && ends_ok(b.bytes().next())
        && ends_ok(b.bytes().last())
        && !b.contains("..")
}

fn check_endpoint_url(url: &str) -> Result<(), String> {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .ok_or_else(|| format!("`{url}` is not an http:// or https:// URL; e.g. http://127.0.0.1:5000 for a local moto server"))?;
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    if host.is_empty() || host.contains(char::is_whitespace) {
        return Err(format!("`{url}` has no host; e.g. http://127.0.0.1:5000"));
    }
    // The SDK's URL parser is built without Unicode tables (Cargo.lock pins idna_adapter to
    // its ASCII-only 1.0 line: ~0.2 MB less binary); AWS and emulator hosts are ASCII.
    if !host.is_ascii() {
        return Err(format!(
            "`{url}` has a host name that is not ASCII; write it in its ASCII (punycode, xn--…) form"
        ));
    }
    Ok(())
}

fn check_length(
    problems: &mut Vec<Problem>,
    input: &str,
    value: Option<&str>,
    max: usize,
    fix: &str,
) {
    if let Some(v) = value {
        let n = v.chars().count();
        if n > max {
            problems.push(problem(
                input,
                format!("{n} characters long; Lambda accepts at most {max}: {fix}"),
            ));
        }
    }
}

fn sorted_unique(mut v: Vec<String>) -> Vec<String> {
    v.iter_mut().for_each(|s| *s = s.trim().to_owned());
    v.retain(|s| !s.is_empty());
    v.sort();
    v.dedup();
    v
}

/// `/python/` → `python`; refuses what would escape the zip or mean something else on Windows.
pub fn normalise_prefix(prefix: &str) -> Result<String, String> {
    if prefix.contains('\\') {
        return Err(format!(
            "`{prefix}` contains '\\'; separate folders with '/', e.g. `python/lib`"
        ));
    }
    let parts: Vec<&str> = prefix
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect();
    if parts.contains(&"..") {
        return Err(format!(
            "`{prefix}` contains `..`; the prefix is a folder inside the zip, e.g. `python` or `nodejs/node_modules`"
        ));
    }
    Ok(parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Settings {
        Settings {
            layer_name: Some("deps".into()),
            path: Some("build".into()),
            ..Settings::default()
        }
    }

    fn problems_of(s: Settings) -> Vec<Problem> {
        resolve(None, Settings::default(), s).unwrap_err().0
    }

    #[test]
    fn regions_are_checked_and_a_shared_bucket_needs_the_placeholder() {
        let l = resolve(
            None,
            Settings::default(),
            Settings {
                regions: Some(vec![
                    "eu-west-1".into(),
                    "us-east-1".into(),
                    "eu-west-1".into(),
                ]),
                s3_bucket: Some("layers-{region}".into()),
                ..base()
            },
        )
        .unwrap()
        .layers
        .remove(0);
        assert_eq!(
            l.regions,
            ["eu-west-1", "us-east-1"],
            "given order, once each"
        );
        assert_eq!(
            l.bucket_in("eu-west-1").as_deref(),
            Some("layers-eu-west-1")
        );

        let m = only_message(Settings {
            regions: Some(vec!["eu-west-1".into(), "us-east-1".into()]),
            s3_bucket: Some("layers".into()),
            ..base()
        });
        assert!(
            m.starts_with(
                "s3-bucket: `layers` is one bucket, but the layer is published in 2 regions"
            ),
            "{m}"
        );
        assert!(m.contains("`layers-{region}`"), "{m}");
        let m = only_message(Settings {
            region: Some("eu-west-1".into()),
            regions: Some(vec!["us-east-1".into()]),
            ..base()
        });
        assert!(
            m.starts_with("regions: both `region` and `regions` are set"),
            "{m}"
        );
        let m = only_message(Settings {
            regions: Some(vec!["Ireland".into()]),
            ..base()
        });
        assert!(
            m.starts_with("regions: `Ireland` is not an AWS region name"),
            "{m}"
        );
        let m = only_message(Settings {
            regions: Some(vec![]),
            ..base()
        });
        assert!(m.starts_with("regions: lists no region"), "{m}");
        let m = only_message(Settings {
            s3_bucket: Some("Layers-{region}".into()),
            ..base()
        });
        assert!(m.contains("is not a valid S3 bucket name"), "{m}");
    }

    fn file_with(yaml: &str) -> ConfigFile {
        parse_config_file(yaml, Path::new("layerpub.yml")).unwrap()
    }

    #[test]
    fn one_name_per_architecture_becomes_one_layer_name_each() {
        let f = file_with(
            "layers:\n  - {layer-name: deps, path: a, compatible-architectures: [arm64]}\n  - {layer-name: deps, path: b, compatible-architectures: [x86_64]}\n  - {layer-name: other, path: c}\n",
        );
        let ls = resolve(Some(&f), Settings::default(), Settings::default())
            .unwrap()
            .layers;
        let names: Vec<(&str, &str, &Path)> = ls
            .iter()
            .map(|l| {
                (
                    l.layer_name.as_str(),
                    l.logical_name.as_str(),
                    l.zip_path.as_path(),
                )
            })
            .collect();
        assert_eq!(
            names,
            [
                ("deps-arm64", "deps", Path::new("deps-arm64.zip")),
                ("deps-x86_64", "deps", Path::new("deps-x86_64.zip")),
                ("other", "other", Path::new("other.zip")),
            ]
        );
        // One name with two entries that do not each name one different architecture: refused.
        for second in ["[arm64]", "[x86_64, arm64]"] {
            let f = file_with(&format!(
                "layers:\n  - {{layer-name: deps, path: a, compatible-architectures: [arm64]}}\n  - {{layer-name: deps, path: b, compatible-architectures: {second}}}\n"
            ));
            let e = resolve(Some(&f), Settings::default(), Settings::default()).unwrap_err();
            assert!(e.to_string().contains("2 layers are named `deps`"), "{e}");
            assert!(e.to_string().contains("`deps-arm64`"), "{e}");
        }
    }

    #[test]
    fn sharing_functions_and_pruning_settings_are_checked_together() {
        let m = only_message(Settings {
            share_with: Some(vec!["*".into()]),
            ..base()
        });
        assert!(
            m.starts_with("share-with: `*` makes the layer usable by every AWS account"),
            "{m}"
        );
        let l = resolve(
            None,
            Settings::default(),
            Settings {
                share_with: Some(vec![
                    "*".into(),
                    "111122223333".into(),
                    "111122223333".into(),
                ]),
                allow_public: Some(true),
                ..base()
            },
        )
        .unwrap()
        .layers
        .remove(0);
        assert_eq!(
            l.share_with.len(),
            2,
            "duplicates dropped: {:?}",
            l.share_with
        );
        assert!(
            only_message(Settings {
                share_with: Some(vec!["12345".into()]),
                ..base()
            })
            .starts_with("share-with: ")
        );

        let m = only_message(Settings {
            functions: Some(vec!["api".into()]),
            alias: Some("live".into()),
            ..base()
        });
        assert!(m.contains("set `publish-function-version: true`"), "{m}");
        let m = only_message(Settings {
            publish_function_version: Some(true),
            ..base()
        });
        assert!(
            m.starts_with("publish-function-version: applies to the functions listed"),
            "{m}"
        );
        let m = only_message(Settings {
            functions: Some(vec!["api".into()]),
            publish_function_version: Some(true),
            alias: Some("123".into()),
            ..base()
        });
        assert!(m.starts_with("alias: `123` is not an alias name"), "{m}");
        let m = only_message(Settings {
            functions: Some(vec![
                "arn:aws:lambda:eu-west-1:123456789012:function:api".into(),
            ]),
            regions: Some(vec!["us-east-1".into()]),
            ..base()
        });
        assert!(
            m.starts_with(
                "functions: `arn:aws:lambda:eu-west-1:123456789012:function:api` is in eu-west-1"
            ),
            "{m}"
        );
        let m = only_message(Settings {
            functions: Some(vec!["my api".into()]),
            ..base()
        });
        assert!(
            m.starts_with("functions: `my api` is not a function name"),
            "{m}"
        );
        let m = only_message(Settings {
            keep_versions: Some(0),
            ..base()
        });
        assert!(m.starts_with("keep-versions: must be at least 1"), "{m}");

        let l = resolve(
            None,
            Settings::default(),
            Settings {
                functions: Some(vec![
                    "api".into(),
                    "arn:aws:lambda:us-east-1:123456789012:function:worker".into(),
                ]),
                keep_versions: Some(3),
                ..base()
            },
        )
        .unwrap()
        .layers
        .remove(0);
        assert_eq!(l.functions.len(), 2);
        assert_eq!(l.keep_versions, Some(3));
        assert!(l.protect_in_use, "protect-in-use defaults to true");
        assert_eq!(l.functions[1].region(), Some("us-east-1"));
        assert_eq!(l.functions[0].region(), None);
        assert_eq!(l.functions_in("eu-west-1").count(), 1, "the name only");
    }

    #[test]
    fn an_unquoted_account_id_in_yaml_is_read_as_written() {
        // A plain scalar reaches us as its text: a leading zero survives (no octal, no number).
        let f = parse_config_file(
            "layer-name: deps\npath: build\nshare-with: [011122223333, 111122223333]\n",
            Path::new("layerpub.yml"),
        )
        .unwrap();
        let l = resolve(Some(&f), Settings::default(), Settings::default())
            .unwrap()
            .layers;
        let expected: Vec<crate::domain::grantee::Grantee> = ["011122223333", "111122223333"]
            .iter()
            .map(|a| crate::domain::grantee::Grantee::parse(a).unwrap())
            .collect();
        assert_eq!(l[0].share_with, expected);
    }

    fn only_message(s: Settings) -> String {
        let ps = problems_of(s);
        assert_eq!(ps.len(), 1, "{ps:?}");
        ps[0].to_string()
    }

    #[test]
    fn defaults_fill_in_zip_path_excludes_and_policy() {
        let l = resolve(None, Settings::default(), base())
            .unwrap()
            .layers
            .remove(0);
        assert_eq!(l.zip_path, PathBuf::from("deps.zip"));
        assert_eq!(l.globs.exclude(), DEFAULT_EXCLUDES);
        assert_eq!(l.symlinks, SymlinkPolicy::Preserve);
        assert_eq!(l.prefix, "");
    }

    #[test]
    fn flags_beat_env_beat_file_beat_defaults() {
        let file = parse_config_file(
            "layer-name: from-file\npath: build\nprefix: python\ndescription: file\n",
            Path::new("layerpub.yml"),
        )
        .unwrap();
        let env = Settings {
            layer_name: Some("from-env".into()),
            description: Some("env".into()),
            ..Settings::default()
        };
        let flags = Settings {
            layer_name: Some("from-flag".into()),
            ..Settings::default()
        };
        let l = resolve(Some(&file), env, flags).unwrap().layers.remove(0);
        assert_eq!(l.layer_name, "from-flag");
        assert_eq!(l.description.as_deref(), Some("env"));
        assert_eq!(l.prefix, "python");
        assert_eq!(l.symlinks, SymlinkPolicy::Preserve);
    }

    #[test]
    fn missing_name_and_path_are_both_reported_with_the_fix() {
        let ps = problems_of(Settings::default());
        assert_eq!(ps.len(), 2);
        assert_eq!(
            ps[0].to_string(),
            "layer-name: not set; set `layer-name: my-deps` in layerpub.yml, LAYERPUB_LAYER_NAME, or --layer-name"
        );
        assert_eq!(ps[1].input, "path");
    }

    #[test]
    fn bad_layer_name_is_explained() {
        let msg = only_message(Settings {
            layer_name: Some("my layer".into()),
            ..base()
        });
        assert!(
            msg.starts_with(
                "layer-name: `my layer` is not a valid layer name; use 1 to 140 letters"
            ),
            "{msg}"
        );
    }

    #[test]
    fn unknown_runtime_suggests_the_closest() {
        let msg = only_message(Settings {
            compatible_runtimes: Some(vec!["python3.12".into(), "pyhton3.12".into()]),
            ..base()
        });
        assert_eq!(
            msg,
            "compatible-runtimes: `pyhton3.12` is not a Lambda runtime; did you mean `python3.12`?"
        );
    }

    #[test]
    fn more_than_fifteen_runtimes_is_refused() {
        let runtimes: Vec<String> = limits::RUNTIMES[..16]
            .iter()
            .map(|r| r.to_string())
            .collect();
        let msg = only_message(Settings {
            compatible_runtimes: Some(runtimes),
            ..base()
        });
        assert!(
            msg.contains("16 runtimes given; Lambda accepts at most 15"),
            "{msg}"
        );
    }

    #[test]
    fn runtimes_are_sorted_and_deduplicated() {
        let l = resolve(
            None,
            Settings::default(),
            Settings {
                compatible_runtimes: Some(vec![
                    "python3.13".into(),
                    "python3.12".into(),
                    "python3.13".into(),
                ]),
                ..base()
            },
        )
        .unwrap()
        .layers
        .remove(0);
        assert_eq!(l.compatible_runtimes, ["python3.12", "python3.13"]);
    }

    #[test]
    fn unknown_architecture_and_too_many_are_refused() {
        let msg = only_message(Settings {
            compatible_architectures: Some(vec!["amd64".into()]),
            ..base()
        });
        assert_eq!(
            msg,
            "compatible-architectures: `amd64` is not a Lambda architecture (did you mean `x86_64`?); use `x86_64`, `arm64`, or both"
        );
        let ps = problems_of(Settings {
            compatible_architectures: Some(vec!["arm64".into(), "x86_64".into(), "mips".into()]),
            ..base()
        });
        assert!(
            ps.iter()
                .any(|p| p.message.starts_with("3 architectures given")),
            "{ps:?}"
        );
    }

    #[test]
    fn long_description_and_license_are_refused() {
        let ps = problems_of(Settings {
            description: Some("d".repeat(176)),
            license_info: Some("l".repeat(513)),
            ..base()
        });
        let text: Vec<String> = ps.iter().map(|p| p.to_string()).collect();
        assert_eq!(
            text,
            [
                "license-info: 513 characters long; Lambda accepts at most 512: use an SPDX identifier such as `MIT`, or a URL to the license text",
                "description: 176 characters long; Lambda accepts at most 175: the rest of Lambda's 256 holds the fingerprint marker (` layerpub:sha256:` and 64 hex digits); shorten it",
            ]
        );
        // The limit counts characters, not bytes.
        assert!(
            resolve(
                None,
                Settings::default(),
                Settings {
                    description: Some("é".repeat(175)),
                    ..base()
                }
            )
            .is_ok()
        );
    }

    #[test]
    fn bad_glob_and_escaping_prefix_are_refused() {
        let ps = problems_of(Settings {
            exclude: Some(vec!["[abc".into()]),
            prefix: Some("../python".into()),
            ..base()
        });
        let inputs: Vec<&str> = ps.iter().map(|p| p.input.as_str()).collect();
        assert_eq!(inputs, ["prefix", "exclude"]);
        assert!(
            ps[1].message.contains("`[abc` is not a valid glob"),
            "{}",
            ps[1].message
        );
    }

    #[test]
    fn an_endpoint_host_must_be_ascii() {
        let ps = problems_of(Settings {
            endpoint_url: Some("https://bücher.example/aws".into()),
            ..base()
        });
        assert_eq!(ps.len(), 1, "{ps:?}");
        assert_eq!(ps[0].input, "endpoint-url");
        assert!(ps[0].message.contains("not ASCII"), "{}", ps[0]);
        let ok = resolve(
            None,
            Settings::default(),
            Settings {
                endpoint_url: Some("https://xn--bcher-kva.example/aws".into()),
                ..base()
            },
        );
        assert!(ok.is_ok(), "{ok:?}");
    }

    #[test]
    fn aws_settings_are_checked_before_any_call() {
        let ps = problems_of(Settings {
            s3_bucket: Some("s3://My_Bucket".into()),
            endpoint_url: Some("localhost:5000".into()),
            region: Some("Frankfurt".into()),
            claim_timeout: Some(0),
            ..base()
        });
        let inputs: Vec<&str> = ps.iter().map(|p| p.input.as_str()).collect();
        assert_eq!(
            inputs,
            ["region", "s3-bucket", "endpoint-url", "claim-timeout"]
        );
        assert!(
            ps[1]
                .message
                .starts_with("`s3://My_Bucket` is not a valid S3 bucket name"),
            "{}",
            ps[1]
        );
        assert!(ps[2].message.contains("http://127.0.0.1:5000"), "{}", ps[2]);
    }

    #[test]
    fn s3_prefix_defaults_and_normalises() {
        let l = resolve(None, Settings::default(), base())
            .unwrap()
            .layers
            .remove(0);
        assert_eq!(l.s3_prefix, "layerpub/");
        let l = resolve(
            None,
            Settings::default(),
            Settings {
                s3_prefix: Some("/ci/layers".into()),
                ..base()
            },
        )
        .unwrap()
        .layers
        .remove(0);
        assert_eq!(l.s3_prefix, "ci/layers/");
        assert!(is_region("us-gov-west-1") && is_region("eu-central-2"));
        assert!(is_valid_bucket_name("my-layers.eu-west-1") && !is_valid_bucket_name("ab"));
    }

    #[test]
    fn bucket_with_region_placeholder_is_checked_in_every_region() {
        // Found by tests/prop_config.rs: 54 characters + `us-east-1` fit S3's 63, but Lambda
        // reads the zip from the `ap-southeast-2` bucket, whose name has 68.
        let stem = "a".repeat(54);
        let bucket = format!("{stem}{{region}}");
        let with = |regions: &[&str]| Settings {
            regions: Some(regions.iter().map(|r| r.to_string()).collect()),
            s3_bucket: Some(bucket.clone()),
            ..base()
        };
        assert!(resolve(None, Settings::default(), with(&["us-east-1"])).is_ok());
        let m = only_message(with(&["us-east-1", "ap-southeast-2"]));
        assert!(
            m.starts_with(&format!(
                "s3-bucket: `{bucket}` is not a valid S3 bucket name (in ap-southeast-2 it is `{stem}ap-southeast-2`, 68 characters)"
            )),
            "{m}"
        );
    }

    #[test]
    fn prefix_is_normalised() {
        assert_eq!(normalise_prefix("/python//lib/").unwrap(), "python/lib");
        assert_eq!(normalise_prefix("./").unwrap(), "");
        assert!(normalise_prefix("a\\b").is_err());
    }

    #[test]
    fn default_excludes_can_be_turned_off_and_user_excludes_add_to_them() {
        let l = resolve(
            None,
            Settings::default(),
            Settings {
                exclude: Some(vec!["tests/".into()]),
                ..base()
            },
        )
        .unwrap()
        .layers
        .remove(0);
        assert_eq!(l.globs.exclude().last().map(String::as_str), Some("tests/"));
        assert_eq!(l.globs.exclude().len(), DEFAULT_EXCLUDES.len() + 1);
        let l = resolve(
            None,
            Settings::default(),
            Settings {
                default_excludes: Some(false),
                ..base()
            },
        )
        .unwrap()
        .layers
        .remove(0);
        assert!(l.globs.exclude().is_empty());
    }

    #[test]
    fn file_with_several_layers_shares_top_level_defaults() {
        let file = parse_config_file(
            "compatible-runtimes: [python3.12]\nprefix: python\nlayers:\n  - layer-name: a\n    path: a\n  - layer-name: b\n    path: b\n    prefix: ''\n",
            Path::new("ci/layerpub.yml"),
        )
        .unwrap();
        let layers = resolve(Some(&file), Settings::default(), Settings::default())
            .unwrap()
            .layers;
        assert_eq!(layers.len(), 2);
        assert_eq!(layers[0].prefix, "python");
        assert_eq!(layers[1].prefix, "");
        assert_eq!(layers[1].compatible_runtimes, ["python3.12"]);
        // Paths in the file are relative to the file's folder.
        assert_eq!(layers[0].path, PathBuf::from("ci/a"));
    }

    #[test]
    fn one_name_for_several_layers_is_refused() {
        let file = parse_config_file(
            "layers:\n  - path: a\n  - path: b\n",
            Path::new("layerpub.yml"),
        )
        .unwrap();
        let env = Settings {
            layer_name: Some("same".into()),
            ..Settings::default()
        };
        let err = resolve(Some(&file), env, Settings::default()).unwrap_err();
        assert_eq!(err.0.len(), 2, "{err}");
        assert!(
            err.0[0].message.starts_with("2 layers are named `same`"),
            "{err}"
        );
        assert!(
            err.0[1]
                .message
                .starts_with("2 layers would write same.zip"),
            "{err}"
        );
    }

    #[test]
    fn problems_in_a_listed_layer_name_the_layer() {
        let file = parse_config_file(
            "layers:\n  - layer-name: ok\n    path: a\n  - layer-name: bad\n    path: b\n    compatible-architectures: [sparc]\n",
            Path::new("layerpub.yml"),
        )
        .unwrap();
        let err = resolve(Some(&file), Settings::default(), Settings::default()).unwrap_err();
        assert_eq!(err.0.len(), 1);
        assert!(
            err.0[0]
                .to_string()
                .starts_with("compatible-architectures (layer `bad`): `sparc`"),
            "{err}"
        );
    }

    #[test]
    fn unknown_key_in_the_file_names_the_key_and_the_file() {
        let err = parse_config_file(
            "layer-name: x\nlayer_nmae: y\n",
            Path::new("conf/layerpub.yml"),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("conf/layerpub.yml"), "{err}");
        assert!(err.contains("layer_nmae"), "{err}");
    }

    #[test]
    fn a_key_given_twice_is_named_with_its_line_not_the_librarys_options() {
        let err = parse_config_file(
            "layers:\n  - layer-name: a\n    path: a\n    path: b\n",
            Path::new("ci/layerpub.yml"),
        )
        .unwrap_err()
        .to_string();
        assert_eq!(
            err,
            "invalid configuration: ci/layerpub.yml: key `path` appears twice in ci/layerpub.yml (line 4); keep one"
        );
    }

    #[test]
    fn allow_outside_workspace_comes_from_flags_or_the_environment_not_the_file() {
        for text in [
            "allow-outside-workspace: true\n",
            "layers:\n  - {layer-name: a, path: a, allow-outside-workspace: false}\n",
        ] {
            let err = parse_config_file(text, Path::new("layerpub.yml")).unwrap_err();
            assert_eq!(err.0[0].input, "allow-outside-workspace", "{text}");
        }
        let l = resolve(
            None,
            Settings {
                allow_outside_workspace: Some(true),
                ..Settings::default()
            },
            base(),
        )
        .unwrap();
        assert!(l.allow_outside_workspace);
        let l = resolve(None, Settings::default(), base()).unwrap();
        assert!(!l.allow_outside_workspace, "confined by default");
    }

    #[test]
    fn a_default_config_file_present_as_anything_is_found() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(config_file_path(None, None, dir.path()), None);
        std::os::unix::fs::symlink("gone.yml", dir.path().join("layerpub.yml")).unwrap();
        assert_eq!(
            config_file_path(None, None, dir.path()),
            Some((PathBuf::from("layerpub.yml"), ConfigSource::Default))
        );
        assert_eq!(
            config_file_path(Some(Path::new("x.yml")), Some("y.yml"), dir.path()),
            Some((PathBuf::from("x.yml"), ConfigSource::Flag))
        );
    }

    #[test]
    fn wrong_type_in_the_file_is_reported_with_the_file() {
        let err = parse_config_file("layer-name: [a, b]\n", Path::new("layerpub.yml"))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("invalid configuration: layerpub.yml:"),
            "{err}"
        );
    }

    #[test]
    fn several_problems_render_as_a_list() {
        let err = resolve(None, Settings::default(), Settings::default()).unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with("invalid configuration (2 problems):\n  - layer-name: not set"),
            "{text}"
        );
    }

    /// `claim-timeout: 18446744073709551615` with another run's claim present panicked
    /// ("overflow when adding durations"): every number has a documented maximum.
    #[test]
    fn every_numeric_setting_has_a_maximum() {
        let over = problems_of(Settings {
            claim_timeout: Some(u64::MAX),
            keep_versions: Some(u32::MAX),
            pr_number: Some(u64::MAX),
            ..base()
        });
        let text: Vec<String> = over.iter().map(|p| p.to_string()).collect();
        assert_eq!(
            text,
            [
                format!(
                    "claim-timeout: {} is over the maximum of {CLAIM_TIMEOUT_MAX_SECS} seconds (one day); a claim older than that belongs to a run that died",
                    u64::MAX
                ),
                format!(
                    "keep-versions: {} is over the maximum of {KEEP_VERSIONS_MAX}; leave it unset to keep every version",
                    u32::MAX
                ),
                format!(
                    "pr-number: {} is over the maximum of {PR_NUMBER_MAX}; give the number of the pull request (or merge request) to comment on",
                    u64::MAX
                ),
            ]
        );
        let at_max = resolve(
            None,
            Settings::default(),
            Settings {
                claim_timeout: Some(CLAIM_TIMEOUT_MAX_SECS),
                keep_versions: Some(KEEP_VERSIONS_MAX),
                pr_number: Some(PR_NUMBER_MAX),
                ..base()
            },
        );
        assert!(at_max.is_ok(), "{at_max:?}");
    }

    #[test]
    fn a_run_level_setting_inside_a_layer_entry_is_refused_naming_the_key_and_the_layer() {
        let f = parse_config_file(
            "layers:\n  - {layer-name: a, path: a, comment: false}\n  - {path: b, layer-name: b}\n  - {path: c, dotenv-file: out.env, pr-number: 3}\n",
            Path::new("ci/layerpub.yml"),
        )
        .unwrap();
        let err = resolve(Some(&f), Settings::default(), Settings::default()).unwrap_err();
        let text: Vec<String> = err
            .0
            .iter()
            .filter(|p| RUN_SETTINGS.contains(&p.input.as_str()))
            .map(|p| p.to_string())
            .collect();
        assert_eq!(
            text,
            [
                "comment (layer `a`): belongs to the whole run, not to one layer; move `comment:` to the top level of ci/layerpub.yml (above `layers:`), or give it as --comment or LAYERPUB_COMMENT",
                "pr-number (layer #3): belongs to the whole run, not to one layer; move `pr-number:` to the top level of ci/layerpub.yml (above `layers:`), or give it as --pr-number or LAYERPUB_PR_NUMBER",
                "dotenv-file (layer #3): belongs to the whole run, not to one layer; move `dotenv-file:` to the top level of ci/layerpub.yml (above `layers:`), or give it as --dotenv-file or LAYERPUB_DOTENV_FILE",
            ]
        );
        // One entry is still an entry: the key is not silently read as the run's.
        let f = file_with("layers:\n  - {layer-name: a, path: a, github-token: t}\n");
        let err = resolve(Some(&f), Settings::default(), Settings::default()).unwrap_err();
        assert_eq!(err.0.len(), 1, "{err}");
        assert!(
            err.to_string().starts_with(
                "invalid configuration: github-token (layer `a`): belongs to the whole run"
            ),
            "{err}"
        );
    }

    #[test]
    fn run_level_settings_are_resolved_once_flag_over_env_over_the_files_top_level() {
        let f = file_with(
            "comment: false\npr-number: 4\ndotenv-file: out.env\nlayers:\n  - {layer-name: a, path: a}\n  - {layer-name: b, path: b}\n",
        );
        let run = resolve(Some(&f), Settings::default(), Settings::default()).unwrap();
        assert_eq!(run.layers.len(), 2);
        assert!(!run.comment);
        assert_eq!(run.pr_number, Some(4));
        assert_eq!(run.dotenv_file.as_deref(), Some(Path::new("out.env")));
        assert_eq!(run.github_token, None);
        let env = Settings {
            pr_number: Some(5),
            comment: Some(true),
            ..Settings::default()
        };
        let flags = Settings {
            pr_number: Some(6),
            ..Settings::default()
        };
        let run = resolve(Some(&f), env, flags).unwrap();
        assert_eq!((run.comment, run.pr_number), (true, Some(6)));
        let defaults = resolve(None, Settings::default(), base()).unwrap();
        assert!(defaults.comment && defaults.pr_number.is_none() && defaults.dotenv_file.is_none());
        // Checked once for the run, not once per layer.
        let over = resolve(
            Some(&f),
            Settings {
                pr_number: Some(PR_NUMBER_MAX + 1),
                ..Settings::default()
            },
            Settings::default(),
        )
        .unwrap_err();
        assert_eq!(over.0.len(), 1, "{over}");
        assert_eq!(
            (over.0[0].input.as_str(), &over.0[0].layer),
            ("pr-number", &None)
        );
    }

    #[test]
    fn dotenv_file_in_the_file_is_relative_to_the_files_folder() {
        let f = parse_config_file(
            "layer-name: deps\npath: build\ndotenv-file: out/layerpub.env\n",
            Path::new("ci/layerpub.yml"),
        )
        .unwrap();
        let run = resolve(Some(&f), Settings::default(), Settings::default()).unwrap();
        assert_eq!(
            run.dotenv_file.as_deref(),
            Some(Path::new("ci/out/layerpub.env"))
        );
        // From a flag it stays relative to the working directory.
        let flags = Settings {
            dotenv_file: Some("here.env".into()),
            ..Settings::default()
        };
        let run = resolve(Some(&f), Settings::default(), flags).unwrap();
        assert_eq!(run.dotenv_file.as_deref(), Some(Path::new("here.env")));
    }

    #[test]
    fn the_layer_carries_its_compiled_globs_its_arn_and_its_functions_parsed() {
        let l = resolve(
            None,
            Settings::default(),
            Settings {
                layer_name: Some("arn:aws-cn:lambda:cn-north-1:123456789012:layer:deps".into()),
                regions: Some(vec!["cn-north-1".into()]),
                include: Some(vec!["*.py".into()]),
                functions: Some(vec![
                    "123456789012:function:api".into(),
                    "arn:aws-cn:lambda:cn-north-1:123456789012:function:worker".into(),
                ]),
                ..base()
            },
        )
        .unwrap()
        .layers
        .remove(0);
        assert!(l.globs.keeps_file("pkg/a.py") && !l.globs.keeps_file("pkg/a.txt"));
        assert!(
            !l.globs.keeps_file("pkg/a.pyc"),
            "default excludes still apply"
        );
        assert_eq!(l.arn.as_ref().map(LayerArn::region), Some("cn-north-1"));
        assert_eq!(l.short_name(), "deps");
        assert_eq!(l.zip_path, PathBuf::from("deps.zip"));
        let regions: Vec<Option<&str>> = l.functions.iter().map(FunctionRef::region).collect();
        assert_eq!(regions, [None, Some("cn-north-1")]);
        let plain = resolve(None, Settings::default(), base())
            .unwrap()
            .layers
            .remove(0);
        assert_eq!((&plain.arn, plain.short_name()), (&None, "deps"));
    }
}
