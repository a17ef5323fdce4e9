//! The log: `tracing` events to stderr, one line each, in tracing-subscriber's default shape
//! (`2026-11-30T05:53:02.123456Z  WARN message key="value"`). A subscriber of its own instead
//! of tracing-subscriber's registry and fmt layer, which are built for spans, layers and
//! per-span filters this program does not use; the binary is smaller by what they weighed
//! (docs/benchmarks.md, "Binary size").
//!
//! Levels: `level` for layerpub's own events, `warn` for every other crate whatever `level`
//! says, because the HTTP and signing crates log headers and canonical requests (session
//! tokens among them) at debug and trace. Spans are never enabled: nothing here shows them.

use std::fmt::Write as _;
use std::io::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

use tracing::field::{Field, Visit};
use tracing::level_filters::LevelFilter;
use tracing::subscriber::Interest;
use tracing::{Event, Level, Metadata, Subscriber, span};

use crate::ci::github_output;

/// Installs the logger for the process. `level` is layerpub's own level; `colour` writes
/// events as they are, coloured (a terminal, where colours must pass), else through
/// [`github_output::defuse_commands`] (a value in a log line, a bucket or an AWS answer, cannot
/// start a workflow command).
pub fn init(level: Level, colour: bool) {
    let logger = Logger { level, colour };
    // Only fails when a logger is already set, which main never does.
    let _ = tracing::subscriber::set_global_default(logger);
}

struct Logger {
    level: Level,
    colour: bool,
}

/// Whether an event of `level` from `target` is shown, with layerpub's own level `ours`.
fn shown(ours: Level, target: &str, level: Level) -> bool {
    let mine = target == "layerpub" || target.starts_with("layerpub::");
    // Levels order by verbosity: ERROR < WARN < … < TRACE.
    level <= if mine { ours } else { Level::WARN }
}

impl Subscriber for Logger {
    fn register_callsite(&self, metadata: &'static Metadata<'static>) -> Interest {
        if self.enabled(metadata) {
            Interest::always()
        } else {
            Interest::never()
        }
    }

    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.is_event() && shown(self.level, metadata.target(), *metadata.level())
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        Some(LevelFilter::from_level(self.level.max(Level::WARN)))
    }

    fn new_span(&self, _: &span::Attributes<'_>) -> span::Id {
        // Never called for a disabled span; an id is still owed to the caller.
        span::Id::from_u64(1)
    }

    fn record(&self, _: &span::Id, _: &span::Record<'_>) {}

    fn record_follows_from(&self, _: &span::Id, _: &span::Id) {}

    fn event(&self, event: &Event<'_>) {
        let line = line(event, self.colour, SystemTime::now());
        let mut stderr = std::io::stderr().lock();
        let text = if self.colour {
            line
        } else {
            github_output::defuse_commands(&line)
        };
        // A log line that cannot be written is not worth failing the run for.
        let _ = stderr.write_all(text.as_bytes());
    }

    fn enter(&self, _: &span::Id) {}

    fn exit(&self, _: &span::Id) {}
}

/// One event as its line: time, level, message, then the other fields as `key=value`
/// (values in their `Debug` form, so strings are quoted).
fn line(event: &Event<'_>, colour: bool, now: SystemTime) -> String {
    let level = *event.metadata().level();
    let mut fields = Fields::default();
    event.record(&mut fields);
    let mut out = String::with_capacity(64 + fields.message.len() + fields.rest.len());
    let time = timestamp(now);
    if colour {
        let code = match level {
            Level::ERROR => "31",
            Level::WARN => "33",
            Level::INFO => "32",
            Level::DEBUG => "34",
            Level::TRACE => "35",
        };
        let _ = write!(out, "\x1b[2m{time}\x1b[0m \x1b[{code}m{level:>5}\x1b[0m ");
    } else {
        let _ = write!(out, "{time} {level:>5} ");
    }
    out.push_str(&fields.message);
    out.push_str(&fields.rest);
    out.push('\n');
    out
}

#[derive(Default)]
struct Fields {
    message: String,
    rest: String,
}

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            let _ = write!(self.rest, " {}={value:?}", field.name());
        }
    }
}

/// `2026-11-30T05:53:02.123456Z`: UTC, microseconds, as tracing-subscriber prints it.
fn timestamp(now: SystemTime) -> String {
    let since = now.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = crate::package::archive::civil_from_days(days as i64);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:06}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60,
        since.subsec_micros()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn other_crates_stay_at_warn_whatever_our_level() {
        assert!(shown(Level::DEBUG, "layerpub::aws", Level::DEBUG));
        assert!(shown(Level::TRACE, "layerpub", Level::TRACE));
        assert!(!shown(Level::WARN, "layerpub::aws", Level::INFO));
        // The signing and HTTP crates log credentials at debug and trace.
        assert!(!shown(
            Level::TRACE,
            "aws_sigv4::http_request",
            Level::DEBUG
        ));
        assert!(!shown(Level::TRACE, "hyper_util::client", Level::TRACE));
        assert!(shown(Level::TRACE, "aws_smithy_runtime", Level::WARN));
        assert!(!shown(Level::DEBUG, "layerpubx", Level::DEBUG));
        assert!(shown(Level::ERROR, "layerpub", Level::ERROR));
        assert!(!shown(Level::ERROR, "layerpub", Level::WARN));
    }

    #[test]
    fn timestamps_are_utc_with_microseconds() {
        let at = |secs: u64, micros: u64| {
            timestamp(UNIX_EPOCH + Duration::from_secs(secs) + Duration::from_micros(micros))
        };
        assert_eq!(at(0, 0), "1970-01-01T00:00:00.000000Z");
        assert_eq!(at(951_782_400, 7), "2000-02-29T00:00:00.000007Z");
        assert_eq!(at(1_796_017_982, 123_456), "2026-11-30T05:53:02.123456Z");
    }
}
