//! The command line: parses flags, gathers the settings from every source, runs the command,
//! and writes the report. The only module besides `main` that knows about stdout and stderr.

pub mod log;

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::{Parser, Subcommand, ValueEnum};

use crate::aws::ClientOptions;
use crate::ci::forge::{Comments, Outcome};
use crate::ci::github_output;
use crate::config::env::Env;
use crate::config::settings::Settings;
use crate::config::{self, LayerConfig, RunConfig};
use crate::domain::blocking::off_workers;
use crate::domain::error::{ConfigError, Problem};
use crate::domain::error::{Error, TargetFailure, TargetFailures};
use crate::domain::interrupt::Interrupt;
use crate::domain::outcome::PublishResult;
use crate::package::archive::DosTime;
use crate::package::destinations;
use crate::package::{PackageOptions, fingerprint_document, package};
use crate::publish::{self, publish_all};
use crate::render::report::{self, FingerprintReport, PackageReport};
use crate::render::{comment, dotenv, summary};

/// Publish AWS Lambda layers from CI: a deterministic zip, and a new version only when the
/// dependency manifest changed.
///
/// Every setting can be given as a flag, as an environment variable (LAYERPUB_LAYER_NAME, or
/// INPUT_LAYER-NAME as the GitHub runner passes action inputs) or in layerpub.yml;
/// a flag beats the environment, which beats the file.
#[derive(Debug, Parser)]
#[command(name = "layerpub", version)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    /// YAML file with the settings, or a list of layers (default: layerpub.yml when present;
    /// also LAYERPUB_CONFIG).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// How the result is printed on stdout; the text report always goes to stderr.
    #[arg(long, global = true, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,

    #[command(flatten)]
    pub settings: Settings,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Subcommand)]
pub enum Command {
    /// Publish a new layer version when the fingerprint changed, else report the existing one
    /// (the default command).
    Publish,
    /// Say what publish would do, calling only read APIs (publish --dry-run).
    Plan,
    /// Write each layer's deterministic zip and report its hashes, sizes and fingerprint.
    Package,
    /// Print each layer's fingerprint without packaging, to decide before building anything.
    Fingerprint,
    /// Delete versions beyond keep-versions, never the newest N nor (with protect-in-use) one a
    /// function uses; with --dry-run, only list them.
    Prune,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// Nothing on stdout but what the command is for (the fingerprint for `fingerprint`).
    Text,
    /// One JSON document on stdout.
    Json,
}

/// Where a run writes, so tests can capture it.
pub struct Io<'a> {
    pub stdout: &'a mut dyn Write,
    pub stderr: &'a mut dyn Write,
}

/// Runs one invocation: `env` is the process environment, `cwd` the working directory.
///
/// The one boundary between blocking and async code: the library's network work is `async`
/// and never makes or enters a runtime; here each command makes one runtime and blocks on it
/// once.
pub fn run(cli: Cli, env: &Env, cwd: &Path, io: Io<'_>) -> Result<(), Error> {
    let mut run = load_run(&cli, env, cwd)?;
    mask_secrets(env, &run, io.stderr)?;
    let command = cli.command.unwrap_or(Command::Publish);
    check_reads_and_writes(command, &run, env, cwd)?;
    let client_options = ClientOptions::from_env(env);
    let stamp = source_date(env)?;
    let rt = runtime()?;
    match command {
        command @ (Command::Publish | Command::Plan) => {
            if command == Command::Plan {
                run.layers.iter_mut().for_each(|l| l.dry_run = true);
            }
            // Where the comment goes is read before anything is published; whatever is wrong
            // there is a warning, said after the publish: the comment is a report, never the
            // reason a publish fails or is skipped.
            let comments = Comments::for_run(env, &run);
            rt.block_on(publish(
                cli.output,
                env,
                &run,
                &client_options,
                (stamp, cwd),
                comments,
                io,
            ))
        }
        // Prune deletes one version at a time and is left to the signals' default.
        Command::Prune => rt.block_on(prune(cli.output, &run.layers, &client_options, io)),
        command @ (Command::Package | Command::Fingerprint) => {
            // The listener is a task on the runtime's workers; packaging then runs here, on
            // this thread, outside any future, and checks it between chunks.
            let options = PackageOptions {
                stamp,
                interrupt: rt.block_on(Interrupt::install())?,
                ..PackageOptions::default()
            };
            if command == Command::Package {
                package_layers(cli.output, &run.layers, (&options, cwd), io)
            } else {
                fingerprint_layers(cli.output, &run.layers, &options, io)
            }
        }
    }
}

/// `publish` and `plan`: publishes (or plans) every target, reports each, then tells the CI
/// system. SIGINT/SIGTERM end packaging and publishing cleanly (temporary files removed,
/// uploads aborted, claims released, exit 130/143).
async fn publish(
    output: OutputFormat,
    env: &Env,
    run: &RunConfig,
    client_options: &ClientOptions,
    (stamp, cwd): (DosTime, &Path),
    comments: Comments,
    io: Io<'_>,
) -> Result<(), Error> {
    let options = PackageOptions {
        stamp,
        interrupt: Interrupt::install().await?,
        ..PackageOptions::default()
    };
    let mut log = crate::build::run::BuildLog {
        out: &mut *io.stderr,
        fold: env.get("GITHUB_ACTIONS") == Some("true"),
    };
    let builds = publish::Builds { cwd, log: &mut log };
    let outcomes = publish_all(&run.layers, &options, client_options, builds).await?;
    for o in &outcomes {
        write(
            io.stderr,
            &github_output::defuse_commands(&report::publish_text(&o.result)),
        )?;
    }
    let (results, errors): (Vec<PublishResult>, Vec<Option<Error>>) =
        outcomes.into_iter().map(|o| (o.result, o.error)).unzip();
    if output == OutputFormat::Json {
        write(io.stdout, &report::json(&results))?;
    }
    let failure = run_failure(&results, errors);
    if let Some(e @ Error::Interrupted(_)) = failure {
        return Err(e);
    }
    report_to_ci(env, run, comments, &results, io.stderr).await?;
    match failure {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// `prune`: every target's report, then the first error.
async fn prune(
    output: OutputFormat,
    layers: &[LayerConfig],
    client_options: &ClientOptions,
    io: Io<'_>,
) -> Result<(), Error> {
    let (reports, failure) = publish::prune_all(layers, client_options).await?;
    for r in &reports {
        write(
            io.stderr,
            &github_output::defuse_commands(&report::prune_text(r)),
        )?;
    }
    if output == OutputFormat::Json {
        write(io.stdout, &report::json(&reports))?;
    }
    match failure {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// `package`: each layer's zip, and its report.
fn package_layers(
    output: OutputFormat,
    layers: &[LayerConfig],
    (options, cwd): (&PackageOptions, &Path),
    io: Io<'_>,
) -> Result<(), Error> {
    let mut reports = Vec::new();
    for layer in layers {
        // A built layer is built here too: `package` shows what `publish` would upload.
        let mut log = crate::build::run::BuildLog {
            out: &mut *io.stderr,
            fold: false,
        };
        let built = match &layer.build {
            Some(_) => Some(crate::build::run::build(
                layer,
                cwd,
                &mut log,
                &options.interrupt,
            )?),
            None => None,
        };
        let mut layer = layer.clone();
        if let Some(b) = &built {
            layer.path = b.output.clone();
        }
        let layer = &layer;
        let packaged = package(layer, options)?;
        let r = PackageReport::new(layer, &packaged);
        write(
            io.stderr,
            &github_output::defuse_commands(&report::package_text(&r)),
        )?;
        reports.push(r);
    }
    if output == OutputFormat::Json {
        write(io.stdout, &report::json(&reports))?;
    }
    Ok(())
}

/// `fingerprint`: each layer's fingerprint, without packaging.
fn fingerprint_layers(
    output: OutputFormat,
    layers: &[LayerConfig],
    options: &PackageOptions,
    io: Io<'_>,
) -> Result<(), Error> {
    let mut reports = Vec::new();
    for layer in layers {
        let (document, fingerprint) = fingerprint_document(layer, options)?;
        reports.push(FingerprintReport {
            layer_name: layer.layer_name.clone(),
            fingerprint,
            document,
        });
    }
    match output {
        OutputFormat::Json => write(io.stdout, &report::json(&reports)),
        OutputFormat::Text => {
            let text = match reports.as_slice() {
                [one] => format!("{}\n", one.fingerprint),
                many => many
                    .iter()
                    .map(|r| format!("{} {}\n", r.layer_name, r.fingerprint))
                    .collect(),
            };
            write(io.stdout, &text)
        }
    }
}

/// The error a run ends with when targets failed: the target's own error when the run had
/// one target (its kind and message unchanged), an interruption as such, else one error
/// listing every failed target with its own error, whose kind is computed from theirs (see
/// [`TargetFailures::kind`]).
fn run_failure(results: &[PublishResult], errors: Vec<Option<Error>>) -> Option<Error> {
    let total = results.len();
    let mut failed: Vec<TargetFailure> = results
        .iter()
        .zip(errors)
        .filter_map(|(r, e)| {
            e.map(|error| TargetFailure {
                layer: r.layer_name.clone(),
                region: r.region.clone(),
                error,
            })
        })
        .collect();
    if failed.is_empty() {
        return None;
    }
    if let Some(i) = failed
        .iter()
        .position(|f| matches!(f.error, Error::Interrupted(_)))
    {
        return Some(failed.swap_remove(i).error);
    }
    if total == 1 {
        return failed.pop().map(|f| f.error);
    }
    Some(Error::Targets(TargetFailures { total, failed }))
}

fn runtime() -> Result<tokio::runtime::Runtime, Error> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|source| Error::Io {
            context: "cannot start the async runtime".into(),
            source,
        })
}

/// Where the CI system looks: step outputs, the job summary, annotations and the sticky
/// comment on GitHub; the dotenv report and the merge-request note on GitLab. `run` holds the
/// run-level settings (github-token, comment, pr-number, dotenv-file). The runner's files are
/// written on the blocking pool, like every file on an async path.
async fn report_to_ci(
    env: &Env,
    run: &RunConfig,
    comments: Comments,
    results: &[PublishResult],
    stderr: &mut dyn Write,
) -> Result<(), Error> {
    let on_github = env.on_github();
    if let Some(path) = env.get("GITHUB_OUTPUT") {
        let text = github_output::render_outputs(
            &github_output::outputs(results),
            &github_output::random_delimiter(),
        )?;
        let path = PathBuf::from(path);
        off_workers(move || github_output::append(&path, &text)).await?;
    }
    if let Some(path) = env.get("GITHUB_STEP_SUMMARY") {
        let (path, text) = (PathBuf::from(path), summary::summary_markdown(results));
        off_workers(move || github_output::append(&path, &text)).await?;
    }
    if on_github {
        for r in results {
            for w in &r.warnings {
                let title = format!("layerpub: {}", r.layer_name);
                write(stderr, &github_output::annotation("warning", &title, w))?;
            }
        }
    }
    if let Some(path) = &run.dotenv_file {
        let (path, text) = (
            path.clone(),
            dotenv::dotenv(results, dotenv::Shape::of(run))?,
        );
        off_workers(move || {
            std::fs::write(&path, text).map_err(|source| Error::Io {
                context: format!("cannot write dotenv-file `{}`", path.display()),
                source,
            })
        })
        .await?;
    }
    let annotate = on_github;
    let forge = match comments {
        Comments::Off => None,
        Comments::NoPullRequest => {
            write(
                stderr,
                "no pull request for this event: no comment posted\n",
            )?;
            None
        }
        Comments::Unavailable(why) => {
            write(
                stderr,
                &format!("{}\n", comment_warning(None, &why, annotate)),
            )?;
            None
        }
        Comments::To(forge) => Some(forge),
        Comments::AfterMerge(forge, sha) => match forge.merged_as(&sha).await {
            Ok(Some(forge)) => Some(forge),
            Ok(None) => {
                write(
                    stderr,
                    &format!("commit {sha} is no pull request's merge: no comment updated\n"),
                )?;
                None
            }
            Err(e) => {
                let why = e.to_string();
                write(
                    stderr,
                    &format!("{}\n", comment_warning(None, &why, annotate)),
                )?;
                None
            }
        },
    };
    if let Some(forge) = forge {
        for (name, group) in by_layer(results) {
            let body = comment::layer_comment_body(&group);
            let what = forge.noun();
            let said = match forge.upsert(name, &body).await {
                Ok(Outcome::Created(id)) => format!("{what} {id} created"),
                Ok(Outcome::Updated(id)) => format!("{what} {id} updated"),
                Ok(Outcome::Unchanged(id)) => format!("{what} {id} already up to date"),
                Ok(Outcome::Forbidden(why)) => comment_warning(Some(name), &why, annotate),
                Err(e) => comment_warning(Some(name), &e.to_string(), annotate),
            };
            write(stderr, &format!("{said}\n"))?;
        }
    }
    Ok(())
}

/// The results grouped by layer name, in the order the layers first appear: one comment per
/// layer, with a section per region.
fn by_layer(results: &[PublishResult]) -> Vec<(&str, Vec<&PublishResult>)> {
    let mut groups: Vec<(&str, Vec<&PublishResult>)> = Vec::new();
    for r in results {
        match groups.iter_mut().find(|(n, _)| *n == r.layer_name) {
            Some((_, g)) => g.push(r),
            None => groups.push((&r.layer_name, vec![r])),
        }
    }
    groups
}

/// On GitHub, asks the runner to mask every token layerpub was given, before anything else is
/// printed: a token passed as a plain input (not `${{ secrets.* }}`) is otherwise not masked.
fn mask_secrets(env: &Env, run: &RunConfig, stderr: &mut dyn Write) -> Result<(), Error> {
    if !env.on_github() {
        return Ok(());
    }
    if let Some(token) = &run.github_token {
        // Split where the runner splits (CR too), so each line is masked and none is a command.
        for line in token
            .expose()
            .split(crate::domain::text::is_line_break)
            .filter(|l| !l.trim().is_empty())
        {
            write(stderr, &format!("::add-mask::{line}\n"))?;
        }
    }
    Ok(())
}

/// A comment that could not be written (no token, a token refused or read-only, the API
/// unreachable) is a warning, never an error: the layer is published, and failing the job now
/// would skip the steps that deploy it (and, on GitLab, the dotenv report later jobs read).
/// `layer` is `None` when no comment of the run could be written.
fn comment_warning(layer: Option<&str>, why: &str, annotate: bool) -> String {
    let which = layer.map_or_else(
        || "no comment was written".to_owned(),
        |l| format!("the comment for {l} was not written"),
    );
    let text = github_output::defuse_commands(&format!("warning: {which}: {why}"));
    if annotate {
        text + "\n" + github_output::annotation("warning", "layerpub comment", why).trim_end()
    } else {
        text
    }
}

fn write(w: &mut dyn Write, text: &str) -> Result<(), Error> {
    w.write_all(text.as_bytes())
        .and_then(|_| w.flush())
        .map_err(|source| Error::Io {
            context: "cannot write the report".into(),
            source,
        })
}

/// Before anything is read for the layer or written anywhere: what the run reads lies inside
/// the workspace (unless allowed otherwise), and every place it writes can take its output
/// (zip-path, dotenv-file, the runner's files). A mistake there is bad input, found before the
/// first AWS write, not after a publish. `prune` reads and writes none of these.
fn check_reads_and_writes(
    command: Command,
    run: &RunConfig,
    env: &Env,
    cwd: &Path,
) -> Result<(), Error> {
    if command == Command::Prune {
        return Ok(());
    }
    let workspace = crate::config::inputs::workspace(
        env.get("GITHUB_WORKSPACE"),
        env.get("CI_PROJECT_DIR"),
        cwd,
    );
    let confined =
        crate::config::inputs::confine(&run.layers, run.allow_outside_workspace, workspace, cwd);
    let mut problems = confined.err().map(|e| e.0).unwrap_or_default();
    if command != Command::Fingerprint {
        problems.extend(destinations::check_zip_paths(&run.layers));
    }
    if matches!(command, Command::Publish | Command::Plan) {
        problems.extend(destinations::check_report_files(
            run.dotenv_file.as_deref(),
            env.get("GITHUB_OUTPUT"),
            env.get("GITHUB_STEP_SUMMARY"),
        ));
    }
    destinations::into_result(problems)?;
    // GitLab refuses a dotenv report over its limits only once the job ends: checked here, on
    // the run's targets, so that it never refuses one after versions were published.
    if matches!(command, Command::Publish | Command::Plan) && run.dotenv_file.is_some() {
        dotenv::check_fits(&run.layers, dotenv::Shape::of(run))?;
    }
    Ok(())
}

/// Settings from every source, merged and checked; environment problems and file problems
/// are reported together.
fn load_run(cli: &Cli, env: &Env, cwd: &Path) -> Result<RunConfig, Error> {
    let from_env = env.settings();
    // Read from `cwd`, but named in messages as the user named it.
    let file = config::config_file_path(cli.config.as_deref(), env.get("LAYERPUB_CONFIG"), cwd)
        .map(|(path, source)| config::read_config_file(&cwd.join(&path), &path, source))
        .transpose();
    match (from_env, file) {
        (Ok(env_settings), Ok(file)) => Ok(config::resolve(
            file.as_ref(),
            env_settings,
            cli.settings.clone(),
        )?),
        (env_result, file_result) => {
            let mut problems = Vec::new();
            if let Err(e) = file_result {
                problems.extend(e.0);
            }
            if let Err(e) = env_result {
                problems.extend(ConfigError::from(e).0);
            }
            Err(ConfigError(problems).into())
        }
    }
}

/// The entries' timestamp: `SOURCE_DATE_EPOCH` when set (the reproducible-builds convention),
/// else 1980-01-01 00:00.
fn source_date(env: &Env) -> Result<DosTime, Error> {
    match env.get("SOURCE_DATE_EPOCH") {
        None => Ok(DosTime::EPOCH),
        Some(v) => v.parse::<i64>().map(DosTime::from_unix).map_err(|_| {
            ConfigError(vec![Problem {
                input: "SOURCE_DATE_EPOCH".into(),
                layer: None,
                message: format!("`{v}` is not a Unix time in seconds; set it to e.g. $(git log -1 --format=%ct), or unset it"),
            }])
            .into()
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::error::Kind;

    fn outcome(region: &str, error: Option<Error>) -> (PublishResult, Option<Error>) {
        let result = PublishResult {
            layer_name: "deps".into(),
            region: region.into(),
            ..Default::default()
        };
        (result, error)
    }

    fn run_failure(outcomes: Vec<(PublishResult, Option<Error>)>) -> Option<Error> {
        let (results, errors): (Vec<_>, Vec<_>) = outcomes.into_iter().unzip();
        super::run_failure(&results, errors)
    }

    #[test]
    fn a_run_fails_with_its_one_targets_error_or_one_listing_every_failure() {
        assert!(run_failure(vec![outcome("us-east-1", None)]).is_none());
        let one = run_failure(vec![outcome(
            "us-east-1",
            Some(Error::bad_input("no bucket")),
        )]);
        assert!(matches!(one, Some(Error::BadInput(m)) if m == "no bucket"));

        let partial = run_failure(vec![
            outcome("us-east-1", None),
            outcome("eu-west-1", Some(Error::bad_input("no bucket"))),
        ])
        .unwrap();
        assert_eq!(
            partial.exit_code(),
            crate::domain::error::EXIT_FAILURE,
            "some published: exit 1"
        );
        let text = partial.to_string();
        assert!(text.starts_with("1 of 2 layer publishes failed"), "{text}");
        assert!(
            text.contains("\n  - deps in eu-west-1: no bucket"),
            "{text}"
        );
        // Each target's failure is kept as data, with its own kind.
        let Error::Targets(targets) = &partial else {
            panic!("{partial:?}")
        };
        assert_eq!((targets.total, targets.failed.len()), (2, 1), "{targets:?}");
        assert_eq!(targets.failed[0].region, "eu-west-1");
        assert_eq!(targets.failed[0].error.kind(), Kind::BadInput);

        let all_bad = run_failure(vec![
            outcome("us-east-1", Some(Error::bad_input("a"))),
            outcome("eu-west-1", Some(Error::bad_input("b"))),
        ])
        .unwrap();
        assert_eq!(all_bad.exit_code(), crate::domain::error::EXIT_BAD_INPUT);
        let mixed = run_failure(vec![
            outcome("us-east-1", Some(Error::bad_input("a"))),
            outcome("eu-west-1", Some(Error::aws("b"))),
        ])
        .unwrap();
        assert_eq!(mixed.exit_code(), crate::domain::error::EXIT_FAILURE);

        let stopped = run_failure(vec![
            outcome("us-east-1", Some(Error::aws("b"))),
            outcome(
                "eu-west-1",
                Some(Error::Interrupted(crate::domain::error::Signal::Terminate)),
            ),
        ])
        .unwrap();
        assert!(matches!(stopped, Error::Interrupted(_)));
    }
}
