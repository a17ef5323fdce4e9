//! The `layerpub` binary: parses the command line, reads the process environment once,
//! runs, maps the outcome to an exit code.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use layerpub::cli::{Cli, Io, run};
use layerpub::config::env::Env;

/// The static binary's allocator: see Cargo.toml on dlmalloc.
#[cfg(target_env = "musl")]
#[global_allocator]
static ALLOCATOR: dlmalloc::GlobalDlmalloc = dlmalloc::GlobalDlmalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The only read of the process environment: everything after looks at `env`.
    let (env, problems) = Env::from_os(std::env::vars_os());
    init_logging(&env);
    if !problems.is_empty() {
        let e = layerpub::domain::error::Error::from(layerpub::domain::error::ConfigError::from(
            problems,
        ));
        return fail(&e, env.on_github());
    }
    let cwd = match std::env::current_dir() {
        Ok(d) => d,
        Err(e) => {
            eprintln!("error: cannot read the working directory: {e}");
            return ExitCode::from(layerpub::domain::error::EXIT_FAILURE);
        }
    };
    let (mut stdout, mut stderr) = (std::io::stdout().lock(), std::io::stderr());
    let io = Io {
        stdout: &mut stdout,
        stderr: &mut stderr,
    };
    match run(cli, &env, &cwd, io) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e, env.on_github()),
    }
}

/// Prints the error the run ends with, once, and gives its exit code.
fn fail(e: &layerpub::domain::error::Error, on_github: bool) -> ExitCode {
    // A value in the message (a file name, a setting) cannot start a workflow command.
    eprintln!(
        "error: {}",
        layerpub::ci::github_output::defuse_commands(&e.to_string())
    );
    if on_github {
        // An annotation on the run's page; the plain line above stays in the log.
        eprint!(
            "{}",
            layerpub::ci::github_output::annotation("error", "layerpub failed", &e.to_string())
        );
    }
    ExitCode::from(e.exit_code())
}

/// Logs go to stderr at the level in LAYERPUB_LOG (default `warn`) for layerpub's own events;
/// other crates stay at `warn` whatever the level (layerpub::cli::log says why). Colour only
/// on a terminal and never with NO_COLOR (set and not empty, as no-color.org says); off a
/// terminal each line goes through the same defusing as every other line of the log.
fn init_logging(env: &Env) {
    let level = env
        .get("LAYERPUB_LOG")
        .and_then(|l| l.parse::<tracing::Level>().ok())
        .unwrap_or(tracing::Level::WARN);
    let colour = std::io::stderr().is_terminal() && env.get("NO_COLOR").is_none();
    layerpub::cli::log::init(level, colour);
}
