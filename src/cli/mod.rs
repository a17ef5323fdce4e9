//! The command line: parses flags, gathers the settings from every source, runs the command,
//! and writes the report. The only module besides `main` that knows about stdout and stderr.

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::{Parser, Subcommand, ValueEnum};

use crate::aws::ClientOptions;
use crate::ci::github::CommentOutcome;
use crate::ci::gitlab::NoteOutcome;
use crate::ci::{github, github_output, gitlab};
use crate::config::env::Env;
use crate::config::settings::Settings;
use crate::config::{self, RunConfig};
use crate::domain::error::Error;
use crate::domain::error::{ConfigError, Problem};
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
pub fn run(cli: Cli, env: &Env, cwd: &Path, io: Io<'_>) -> Result<(), Error> {
    let mut run = load_run(&cli, env, cwd)?;
    mask_secrets(env, &run, io.stderr)?;
    let command = cli.command.unwrap_or(Command::Publish);
    check_reads_and_writes(command, &run, env, cwd)?;
    let client_options = ClientOptions::from_env(env);
    let rt = runtime()?;
    let options = PackageOptions {
        stamp: source_date(env)?,
        // SIGINT/SIGTERM end packaging and publishing cleanly (temporary files removed,
        // uploads aborted, claims released, exit 130/143). Prune deletes one version at a
        // time and is left to the signal's default.
        interrupt: if command == Command::Prune {
            Interrupt::never()
        } else {
            Interrupt::install(&rt)?
        },
        ..PackageOptions::default()
    };
    match command {
        command @ (Command::Publish | Command::Plan) => {
            if command == Command::Plan {
                run.layers.iter_mut().for_each(|l| l.dry_run = true);
            }
            // Where the comment goes is read before anything is published: a malformed event
            // file or a missing pull-request number is the user's to fix (exit 2), and must
            // not be found only after a version was published.
            let comment_to = comment_target(env, &run)?;
            let outcomes = publish_all(&rt, &run.layers, &options, &client_options)?;
            for o in &outcomes {
                write(
                    io.stderr,
                    &github_output::defuse_commands(&report::publish_text(&o.result)),
                )?;
            }
            let (results, errors): (Vec<PublishResult>, Vec<Option<Error>>) =
                outcomes.into_iter().map(|o| (o.result, o.error)).unzip();
            if cli.output == OutputFormat::Json {
                write(io.stdout, &report::json(&results))?;
            }
            let failure = run_failure(&results, errors);
            if let Some(e @ Error::Interrupted(_)) = failure {
                return Err(e);
            }
            report_to_ci(&rt, env, &run, comment_to, &results, io.stderr)?;
            if let Some(e) = failure {
                return Err(e);
            }
        }
        Command::Prune => {
            let (reports, failure) = publish::prune_all(&rt, &run.layers, &client_options)?;
            for r in &reports {
                write(
                    io.stderr,
                    &github_output::defuse_commands(&report::prune_text(r)),
                )?;
            }
            if cli.output == OutputFormat::Json {
                write(io.stdout, &report::json(&reports))?;
            }
            if let Some(e) = failure {
                return Err(e);
            }
        }
        Command::Package => {
            let mut reports = Vec::new();
            for layer in &run.layers {
                let packaged = package(layer, &options)?;
                let r = PackageReport::new(layer, &packaged);
                write(
                    io.stderr,
                    &github_output::defuse_commands(&report::package_text(&r)),
                )?;
                reports.push(r);
            }
            if cli.output == OutputFormat::Json {
                write(io.stdout, &report::json(&reports))?;
            }
        }
        Command::Fingerprint => {
            let mut reports = Vec::new();
            for layer in &run.layers {
                let document = fingerprint_document(layer, &options)?;
                reports.push(FingerprintReport {
                    layer_name: layer.layer_name.clone(),
                    fingerprint: document.fingerprint(),
                    document,
                });
            }
            match cli.output {
                OutputFormat::Json => write(io.stdout, &report::json(&reports))?,
                OutputFormat::Text => {
                    let text = match reports.as_slice() {
                        [one] => format!("{}\n", one.fingerprint),
                        many => many
                            .iter()
                            .map(|r| format!("{} {}\n", r.layer_name, r.fingerprint))
                            .collect(),
                    };
                    write(io.stdout, &text)?;
                }
            }
        }
    }
    Ok(())
}

/// The error a run ends with when targets failed: the target's own error when the run had
/// one target (its exit code and message unchanged), an interruption as such, else one error
/// listing the failed targets, exit 1 (some published, or failures of different kinds) or the
/// failures' common exit code when every target failed the same way.
fn run_failure(results: &[PublishResult], errors: Vec<Option<Error>>) -> Option<Error> {
    let total = results.len();
    let failed: Vec<(&PublishResult, Error)> = results
        .iter()
        .zip(errors)
        .filter_map(|(r, e)| e.map(|e| (r, e)))
        .collect();
    if failed.is_empty() {
        return None;
    }
    if let Some(i) = failed
        .iter()
        .position(|(_, e)| matches!(e, Error::Interrupted(_)))
    {
        return failed.into_iter().nth(i).map(|(_, e)| e);
    }
    if total == 1 {
        return failed.into_iter().next().map(|(_, e)| e);
    }
    let codes: std::collections::BTreeSet<u8> = failed.iter().map(|(_, e)| e.exit_code()).collect();
    let exit_code = match (failed.len() == total, codes.len()) {
        (true, 1) => codes
            .into_iter()
            .next()
            .unwrap_or(crate::domain::error::EXIT_FAILURE),
        _ => crate::domain::error::EXIT_FAILURE,
    };
    let mut message = format!(
        "{} of {total} layer publishes failed (the others are reported above); fix the cause and run again: a re-run publishes only what is missing",
        failed.len()
    );
    for (r, e) in &failed {
        message += &format!("\n  - {} in {}: {e}", r.layer_name, r.region);
    }
    Some(Error::Targets { message, exit_code })
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

/// Where the comment (or note) of a run goes.
enum CommentTarget {
    /// Comments off, or not a GitHub or GitLab job.
    None,
    /// On GitHub, with no pull request for this event.
    NoPullRequest,
    GitHub(github::GitHubContext),
    GitLab(gitlab::GitLabContext),
}

/// The pull request (GitHub) or merge request (GitLab) the run comments on, from the
/// runner's variables and event file and the run-level settings.
fn comment_target(env: &Env, run: &RunConfig) -> Result<CommentTarget, Error> {
    if !run.comment {
        return Ok(CommentTarget::None);
    }
    if env.on_github() {
        return Ok(
            match github::context(env, run.github_token.as_ref(), run.pr_number)? {
                Some(ctx) => CommentTarget::GitHub(ctx),
                None => CommentTarget::NoPullRequest,
            },
        );
    }
    if env.is_true("GITLAB_CI")
        && let Some(mut ctx) = gitlab::context(env)?
    {
        if let Some(n) = run.pr_number {
            ctx.mr_iid = n;
        }
        return Ok(CommentTarget::GitLab(ctx));
    }
    Ok(CommentTarget::None)
}

/// Where the CI system looks: step outputs, the job summary, annotations and the sticky
/// comment on GitHub; the dotenv report and the merge-request note on GitLab.
fn report_to_ci(
    rt: &tokio::runtime::Runtime,
    env: &Env,
    run: &RunConfig,
    comment_to: CommentTarget,
    results: &[PublishResult],
    stderr: &mut dyn Write,
) -> Result<(), Error> {
    let on_github = env.on_github();
    if let Some(path) = env.get("GITHUB_OUTPUT") {
        let text = github_output::render_outputs(
            &github_output::outputs(results),
            &github_output::random_delimiter(),
        )?;
        github_output::append(Path::new(path), &text)?;
    }
    if let Some(path) = env.get("GITHUB_STEP_SUMMARY") {
        github_output::append(Path::new(path), &summary::summary_markdown(results))?;
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
        std::fs::write(path, dotenv::dotenv(results)?).map_err(|source| Error::Io {
            context: format!("cannot write dotenv-file `{}`", path.display()),
            source,
        })?;
    }
    match comment_to {
        CommentTarget::None => {}
        CommentTarget::NoPullRequest => write(
            stderr,
            "no pull request for this event: no comment posted\n",
        )?,
        CommentTarget::GitHub(ctx) => {
            for (name, group) in by_layer(results) {
                let body = comment::layer_comment_body(&group);
                let outcome = rt.block_on(github::upsert_comment(&ctx, name, &body));
                let said = match outcome {
                    Ok(CommentOutcome::Created(id)) => {
                        format!("pull request comment {id} created")
                    }
                    Ok(CommentOutcome::Updated(id)) => {
                        format!("pull request comment {id} updated")
                    }
                    Ok(CommentOutcome::Unchanged(id)) => {
                        format!("pull request comment {id} already up to date")
                    }
                    Ok(CommentOutcome::Forbidden(why)) => comment_warning(name, &why, on_github),
                    Err(e) => failed_comment(e, name, on_github)?,
                };
                write(stderr, &format!("{said}\n"))?;
            }
        }
        CommentTarget::GitLab(ctx) => {
            for (name, group) in by_layer(results) {
                let body = comment::layer_comment_body(&group);
                let marker = comment::marker(name);
                let said = match rt.block_on(gitlab::upsert_note(&ctx, &marker, &body)) {
                    Ok(NoteOutcome::Created(id)) => format!("merge request note {id} created"),
                    Ok(NoteOutcome::Updated(id)) => format!("merge request note {id} updated"),
                    Ok(NoteOutcome::Unchanged(id)) => {
                        format!("merge request note {id} already up to date")
                    }
                    Ok(NoteOutcome::Forbidden(why)) => comment_warning(name, &why, false),
                    Err(e) => failed_comment(e, name, false)?,
                };
                write(stderr, &format!("{said}\n"))?;
            }
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

/// A comment that could not be written is a warning: the layer is published, and failing the
/// job now would skip the steps that deploy it.
fn comment_warning(layer: &str, why: &str, annotate: bool) -> String {
    let text = github_output::defuse_commands(&format!(
        "warning: the comment for {layer} was not written: {why}"
    ));
    if annotate {
        text + "\n" + github_output::annotation("warning", "layerpub comment", why).trim_end()
    } else {
        text
    }
}

/// A failure of the GitHub or GitLab API is a warning (see [`comment_warning`]); a mistake in
/// the settings (a token GitHub refuses, a wrong pull-request number) stays an error.
fn failed_comment(e: Error, layer: &str, annotate: bool) -> Result<String, Error> {
    match e.exit_code() {
        crate::domain::error::EXIT_BAD_INPUT => Err(e),
        _ => Ok(comment_warning(layer, &e.to_string(), annotate)),
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
    Ok(destinations::into_result(problems)?)
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

        let all_bad = run_failure(vec![
            outcome("us-east-1", Some(Error::bad_input("a"))),
            outcome("eu-west-1", Some(Error::bad_input("b"))),
        ])
        .unwrap();
        assert_eq!(all_bad.exit_code(), crate::domain::error::EXIT_BAD_INPUT);
        let mixed = run_failure(vec![
            outcome("us-east-1", Some(Error::bad_input("a"))),
            outcome("eu-west-1", Some(Error::Aws("b".into()))),
        ])
        .unwrap();
        assert_eq!(mixed.exit_code(), crate::domain::error::EXIT_FAILURE);

        let stopped = run_failure(vec![
            outcome("us-east-1", Some(Error::Aws("b".into()))),
            outcome(
                "eu-west-1",
                Some(Error::Interrupted(crate::domain::error::Signal::Terminate)),
            ),
        ])
        .unwrap();
        assert!(matches!(stopped, Error::Interrupted(_)));
    }
}
