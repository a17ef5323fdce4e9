//! Faults at every step of a publish: the real binary talks to moto through
//! tests/common/fault_proxy.rs, which fails chosen requests (a 429/500/503 with the service's
//! error body, a reset connection, a stalled answer, an answer cut in half) once or always,
//! or holds one while the test kills the binary with SIGKILL.
//!
//! What must hold:
//! - a transient fault is retried and the run publishes exactly one version;
//! - a persistent fault fails the run with an error naming the step, leaves no claim and no
//!   incomplete multipart upload, and a re-run publishes exactly one version;
//! - after SIGKILL, a re-run (the dead run's claim taken over after `claim-timeout`) publishes
//!   exactly one version. A multipart upload the killed process had started cannot be aborted
//!   by it: the bucket's lifecycle rule `AbortIncompleteMultipartUpload` removes it.
//!
//! With `LAYERPUB_REPORT_DIR` set, every case appends one JSON line to `faults.jsonl` there
//! (scripts/reliability.sh renders them into docs/reliability.md).

use crate::common;

use std::fs;
use std::io::Write;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use common::fault_proxy::{Api, Fault, FaultProxy, Rule};
use common::moto::{Moto, MotoGuard, moto};
use common::*;

const BUCKET: &str = "layers";

/// Read timeout for the stall cases (`LAYERPUB_TEST_TIMEOUT_SECS`, read by src/aws.rs).
const STALL_TIMEOUT_SECS: &str = "2";

/// One row of the table: a fault at one step.
#[derive(Clone, Copy)]
struct Case {
    /// The step as the report names it.
    step: &'static str,
    rule: Rule,
    /// A zip over the multipart threshold (three parts).
    big: bool,
    /// Publish version 1 first and change the lock file, so that the run reads the previous
    /// version (`GetLayerVersion`) and publishes version 2.
    previous: bool,
    /// For a persistent fault: what the error must say.
    error: &'static str,
}

const fn case(step: &'static str, rule: Rule, error: &'static str) -> Case {
    Case {
        step,
        rule,
        big: false,
        previous: false,
        error,
    }
}

const fn big(step: &'static str, rule: Rule, error: &'static str) -> Case {
    Case {
        step,
        rule,
        big: true,
        previous: false,
        error,
    }
}

const LIST: &str = "list (ListLayerVersions)";
const GET: &str = "previous version (GetLayerVersion)";
const HEAD: &str = "head (HeadObject)";
const PUT: &str = "upload (PutObject)";
const CLAIM: &str = "claim (PutObject If-None-Match)";
const MANIFEST: &str = "manifest (PutObject .manifest.json)";
const PUBLISH: &str = "publish (PublishLayerVersion)";
const RELEASE: &str = "claim release (DeleteObject)";
const CREATE: &str = "multipart (CreateMultipartUpload)";
const PART: &str = "multipart (UploadPart)";
const COMPLETE: &str = "multipart (CompleteMultipartUpload)";

use Fault::{HalfResponse as Half, Reset, Stall, StallMidBody, Status};

/// Transient faults on a small zip: retried, one version.
const TRANSIENT: &[Case] = &[
    case(LIST, Rule::once(Api::ListLayerVersions, Status(429)), ""),
    case(LIST, Rule::once(Api::ListLayerVersions, Half), ""),
    case(LIST, Rule::once(Api::ListLayerVersions, Stall), ""),
    case(LIST, Rule::once(Api::ListLayerVersions, StallMidBody), ""),
    Case {
        previous: true,
        ..case(GET, Rule::once(Api::GetLayerVersion, Status(500)), "")
    },
    case(HEAD, Rule::once(Api::HeadObject, Status(503)), ""),
    case(HEAD, Rule::once(Api::HeadObject, Reset), ""),
    case(PUT, Rule::once(Api::PutZip, Status(500)), ""),
    case(PUT, Rule::once(Api::PutZip, Reset), ""),
    case(PUT, Rule::once(Api::PutZip, Half), ""),
    case(PUT, Rule::once(Api::PutZip, Stall), ""),
    case(CLAIM, Rule::once(Api::PutClaim, Status(503)), ""),
    case(CLAIM, Rule::once(Api::PutClaim, Half), ""),
    case(MANIFEST, Rule::once(Api::PutManifest, Status(503)), ""),
    case(MANIFEST, Rule::once(Api::PutManifest, Half), ""),
    case(
        PUBLISH,
        Rule::once(Api::PublishLayerVersion, Status(429)),
        "",
    ),
    case(
        PUBLISH,
        Rule::once(Api::PublishLayerVersion, Status(500)),
        "",
    ),
    case(PUBLISH, Rule::once(Api::PublishLayerVersion, Reset), ""),
    case(PUBLISH, Rule::once(Api::PublishLayerVersion, Half), ""),
    case(PUBLISH, Rule::once(Api::PublishLayerVersion, Stall), ""),
    case(
        PUBLISH,
        Rule::once(Api::PublishLayerVersion, StallMidBody),
        "",
    ),
    case(RELEASE, Rule::once(Api::DeleteClaim, Status(503)), ""),
    case(RELEASE, Rule::once(Api::DeleteClaim, Half), ""),
];

/// Transient faults during a multipart upload (a 20 MiB zip: three parts).
const TRANSIENT_MULTIPART: &[Case] = &[
    big(
        CREATE,
        Rule::once(Api::CreateMultipartUpload, Status(503)),
        "",
    ),
    big(CREATE, Rule::once(Api::CreateMultipartUpload, Reset), ""),
    big(PART, Rule::once(Api::UploadPart, Status(500)).nth(2), ""),
    big(PART, Rule::once(Api::UploadPart, Reset), ""),
    big(PART, Rule::once(Api::UploadPart, Half).nth(3), ""),
    big(
        COMPLETE,
        Rule::once(Api::CompleteMultipartUpload, Status(503)),
        "",
    ),
    big(COMPLETE, Rule::once(Api::CompleteMultipartUpload, Half), ""),
];

/// Persistent faults: the run fails naming the step; a re-run converges.
const PERSISTENT: &[Case] = &[
    case(
        LIST,
        Rule::always(Api::ListLayerVersions, Status(503)),
        "ListLayerVersions failed",
    ),
    case(
        HEAD,
        Rule::always(Api::HeadObject, Status(503)),
        "HeadObject s3://layers/layerpub/deps/",
    ),
    case(
        PUT,
        Rule::always(Api::PutZip, Status(500)),
        "PutObject s3://layers/layerpub/deps/",
    ),
    case(
        CLAIM,
        Rule::always(Api::PutClaim, Status(503)),
        "PutObject (claim) s3://layers/layerpub/deps/claims/",
    ),
    case(
        MANIFEST,
        Rule::always(Api::PutManifest, Status(503)),
        ".manifest.json failed",
    ),
    case(
        PUBLISH,
        Rule::always(Api::PublishLayerVersion, Status(429)),
        "PublishLayerVersion failed",
    ),
    case(
        PUBLISH,
        Rule::always(Api::PublishLayerVersion, Reset),
        "PublishLayerVersion failed",
    ),
    big(
        CREATE,
        Rule::always(Api::CreateMultipartUpload, Status(503)),
        "CreateMultipartUpload s3://layers/",
    ),
    big(
        PART,
        Rule::always(Api::UploadPart, Status(503)).nth(2),
        "UploadPart ",
    ),
    big(
        COMPLETE,
        Rule::always(Api::CompleteMultipartUpload, Status(500)),
        "CompleteMultipartUpload s3://layers/",
    ),
];

#[test]
fn a_transient_fault_at_any_step_is_retried_into_exactly_one_version() {
    run_table(TRANSIENT, transient);
}

#[test]
fn a_transient_fault_during_a_multipart_upload_is_retried_into_exactly_one_version() {
    run_table(TRANSIENT_MULTIPART, transient);
}

#[test]
fn a_persistent_fault_fails_the_run_naming_the_step_and_a_rerun_converges() {
    run_table(PERSISTENT, persistent);
}

/// Runs every row (a failing row does not hide the others), reports each, then fails with
/// the rows that did not hold.
fn run_table(cases: &[Case], check: fn(&Case) -> (String, String)) {
    let mut failed = Vec::new();
    for c in cases {
        let label = format!("{} × {}", c.step, fault_label(&c.rule));
        match catch_unwind(AssertUnwindSafe(|| check(c))) {
            Ok((expected, outcome)) => {
                report(c.step, &fault_label(&c.rule), &expected, &outcome, true)
            }
            Err(panic) => {
                let why = panic_text(&panic);
                let expected = if c.rule.always {
                    "fails naming the step; re-run publishes one version"
                } else {
                    "retried, published"
                };
                report(c.step, &fault_label(&c.rule), expected, &why, false);
                failed.push(format!("{label}: {why}"));
            }
        }
    }
    assert!(
        failed.is_empty(),
        "{} case(s) failed:\n{}",
        failed.len(),
        failed.join("\n")
    );
}

/// A transient fault: the run succeeds, publishes exactly one new version, the faulted call
/// was retried, and nothing is left behind.
fn transient(c: &Case) -> (String, String) {
    let (m, dir) = setup(c);
    let before = usize::from(c.previous);
    let proxy = FaultProxy::start(&m.endpoint, vec![c.rule]);
    let r = run_via(&m, dir.path(), &proxy, &[], extra_env(c));
    assert_eq!(r.code, 0, "the run failed: {}", r.stderr);
    let j = r.layer();
    assert_eq!(j["published"], true, "{j}");
    let state = converged(&m, "after the run");
    assert_eq!(state.versions, before + 1, "exactly one new version");
    assert_eq!(j["layer_version"], before as i64 + 1);
    assert_eq!(
        state.newest_code_sha256, j["code_sha256"],
        "the version holds exactly this zip"
    );
    assert_eq!(proxy.faults(), 1, "the fault was injected once");
    if matches!(c.rule.fault, Fault::Stall | Fault::StallMidBody) {
        assert_eq!(
            proxy.stalls_given_up(),
            1,
            "layerpub's own timeout ended the stall, not the proxy's deadline"
        );
    }
    let log = proxy.requests();
    let failed_at = log.iter().position(|r| r.fault.is_some()).unwrap();
    let retried = log[failed_at + 1..].iter().any(|r| r.api == c.rule.api);
    // A PublishLayerVersion whose answer was lost is not sent again: the retry finds the
    // version the lost attempt published (src/lambda_api.rs).
    let adopted = r.stderr.contains("an earlier attempt published");
    assert!(retried || adopted, "{:?} was not retried", c.rule.api);
    let outcome = if adopted {
        format!(
            "published version {}: the retry found the version the lost answer was for, and did not publish again",
            j["layer_version"]
        )
    } else {
        format!("published version {} after 1 retry", j["layer_version"])
    };
    ("retried, published".into(), outcome)
}

/// A persistent fault: the run fails naming the step, leaves no claim and no incomplete
/// upload, and a re-run without the fault publishes exactly one version.
fn persistent(c: &Case) -> (String, String) {
    let (m, dir) = setup(c);
    let proxy = FaultProxy::start(&m.endpoint, vec![c.rule]);
    let r = run_via(&m, dir.path(), &proxy, &[], extra_env(c));
    assert_eq!(r.code, 1, "a network failure is exit 1: {}", r.stderr);
    assert!(
        r.stderr.contains(c.error),
        "the error names the step ({}): {}",
        c.error,
        r.stderr
    );
    assert!(
        !r.stderr.contains("Error {"),
        "the error is a sentence, not the SDK's debug dump: {}",
        r.stderr
    );
    // Attempts of one call: retries of one part share their path and query.
    let mut attempts = std::collections::HashMap::new();
    for r in proxy.requests().into_iter().filter(|r| r.fault.is_some()) {
        *attempts.entry((r.path, r.query)).or_insert(0) += 1;
    }
    let attempts = attempts.into_values().max().unwrap_or(0);
    assert_eq!(
        attempts, 6,
        "the SDK's 6 attempts (src/aws.rs MAX_ATTEMPTS)"
    );
    assert_eq!(
        converged(&m, "after the failed run").versions,
        0,
        "nothing published"
    );
    drop(proxy);

    let again = run_direct(&m, dir.path(), &[]);
    assert_eq!(again.code, 0, "the re-run failed: {}", again.stderr);
    assert_eq!(
        converged(&m, "after the re-run").versions,
        1,
        "exactly one version"
    );
    let message = r
        .stderr
        .lines()
        .find(|l| l.starts_with("error:"))
        .unwrap_or("")
        .chars()
        .take(160)
        .collect::<String>();
    (
        "fails naming the step; re-run publishes one version".into(),
        format!("exit 1 after {attempts} attempts (`{message}`); re-run published version 1"),
    )
}

/// A claim release that keeps failing is only a warning: the version stands, and the claim
/// left behind is taken over by the next run of the same fingerprint after `claim-timeout`.
#[test]
fn a_claim_release_that_keeps_failing_only_warns_and_the_next_run_takes_the_claim_over() {
    let c = case(RELEASE, Rule::always(Api::DeleteClaim, Status(503)), "");
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        let (m, dir) = setup(&c);
        let proxy = FaultProxy::start(&m.endpoint, vec![c.rule]);
        let r = run_via(&m, dir.path(), &proxy, &[], Vec::new());
        assert_eq!(r.code, 0, "{}", r.stderr);
        assert!(
            r.stderr.contains("could not release the claim"),
            "{}",
            r.stderr
        );
        assert_eq!(m.versions("deps").len(), 1);
        assert_eq!(claims(&m).len(), 1, "the claim is left behind");
        drop(proxy);
        // An unchanged run does not look at claims; a forced one of the same fingerprint
        // takes the stale claim over.
        assert_eq!(run_direct(&m, dir.path(), &[]).layer()["published"], false);
        std::thread::sleep(Duration::from_millis(1100));
        let forced = run_direct(&m, dir.path(), &["--force", "--claim-timeout", "1"]);
        assert_eq!(forced.code, 0, "{}", forced.stderr);
        assert_eq!(m.versions("deps").len(), 2);
        assert!(
            claims(&m).is_empty(),
            "the forced run took the claim over and released it"
        );
        "exit 0 with a warning, claim left; a later run of the fingerprint takes it over".to_owned()
    }));
    finish(
        &c,
        "published; the claim expires after claim-timeout",
        outcome,
    );
}

/// A known limit: when the answer to CreateMultipartUpload is lost after S3 created the
/// upload, the retry creates a second one and nobody knows the first one's id. The run
/// publishes exactly one version; the orphaned upload is left to the bucket's
/// `AbortIncompleteMultipartUpload` lifecycle rule (finding it would take
/// ListMultipartUploads, a permission layerpub does not ask for).
#[test]
fn a_lost_createmultipartupload_answer_publishes_once_and_leaves_one_upload_to_the_lifecycle_rule()
{
    let c = big(
        CREATE,
        Rule::once(Api::CreateMultipartUpload, Fault::HalfResponse),
        "",
    );
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        let (m, dir) = setup(&c);
        let proxy = FaultProxy::start(&m.endpoint, vec![c.rule]);
        let r = run_via(&m, dir.path(), &proxy, &[], Vec::new());
        assert_eq!(r.code, 0, "{}", r.stderr);
        assert_eq!(proxy.count(Api::CreateMultipartUpload), 2, "retried");
        assert_eq!(m.versions("deps").len(), 1, "exactly one version");
        assert!(claims(&m).is_empty());
        assert_eq!(uploads(&m).len(), 1, "the upload whose id was lost");
        "published version 1 after 1 retry; the upload whose answer was lost is left for the lifecycle rule".to_owned()
    }));
    finish(
        &c,
        "retried, published; lost upload left to the lifecycle rule",
        outcome,
    );
}

/// SIGKILL while the first part of a multipart upload is on its way: the re-run takes the dead
/// run's claim over and publishes exactly one version. The killed run's multipart upload stays
/// (no process is left to abort it): the bucket's `AbortIncompleteMultipartUpload` lifecycle
/// rule is the remedy.
#[test]
fn sigkill_during_a_multipart_upload_then_a_rerun_publishes_exactly_one_version() {
    let c = big(PART, Rule::once(Api::UploadPart, Fault::Hold), "");
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        let (m, dir) = setup(&c);
        killed_at(&m, dir.path(), c.rule);
        assert!(m.versions("deps").is_empty(), "nothing published");
        assert_eq!(claims(&m).len(), 1, "the dead run's claim");
        assert_eq!(uploads(&m).len(), 1, "the dead run's multipart upload");

        let again = rerun_after_kill(&m, dir.path());
        assert_eq!(again["layer_version"], 1);
        assert_eq!(m.versions("deps").len(), 1, "exactly one version");
        assert!(
            claims(&m).is_empty(),
            "the stale claim was taken over and released"
        );
        assert_eq!(
            uploads(&m).len(),
            1,
            "only the killed run's upload is left (for the lifecycle rule); the re-run's completed"
        );
        "re-run took the claim over and published version 1; the killed run's upload is left for the lifecycle rule".to_owned()
    }));
    finish(&c, "re-run publishes one version", outcome);
}

/// SIGKILL while PublishLayerVersion is on its way (held before Lambda saw it).
#[test]
fn sigkill_before_publishlayerversion_then_a_rerun_publishes_exactly_one_version() {
    let c = case(
        PUBLISH,
        Rule::once(Api::PublishLayerVersion, Fault::Hold),
        "",
    );
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        let (m, dir) = setup(&c);
        killed_at(&m, dir.path(), c.rule);
        assert!(m.versions("deps").is_empty(), "nothing published");
        assert_eq!(claims(&m).len(), 1, "the dead run's claim");

        let again = rerun_after_kill(&m, dir.path());
        assert_eq!(again["layer_version"], 1);
        assert_eq!(m.versions("deps").len(), 1, "exactly one version");
        assert!(
            claims(&m).is_empty(),
            "the stale claim was taken over and released"
        );
        assert!(uploads(&m).is_empty());
        "re-run took the claim over and published version 1".to_owned()
    }));
    finish(&c, "re-run publishes one version", outcome);
}

/// Starts the binary through a proxy holding `rule`'s request, and SIGKILLs it once the
/// request is held.
fn killed_at(m: &Moto, dir: &Path, rule: Rule) {
    let proxy = FaultProxy::start(&m.endpoint, vec![rule]);
    let mut child = layerpub_cmd()
        .current_dir(dir)
        .moto(m)
        .env("AWS_ENDPOINT_URL", &proxy.endpoint)
        .spawn(Stdio::null(), Stdio::null());
    let held = proxy.wait_held(Duration::from_secs(120));
    child.kill().unwrap(); // SIGKILL
    let status = child.wait().unwrap();
    assert!(held, "the held request never arrived");
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(9),
        "killed by SIGKILL"
    );
}

/// The re-run after a kill: the dead run's claim is older than `--claim-timeout 1`.
fn rerun_after_kill(m: &Moto, dir: &Path) -> serde_json::Value {
    std::thread::sleep(Duration::from_millis(1100));
    let r = run_direct(m, dir, &["--claim-timeout", "1"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("taking over s3://"), "{}", r.stderr);
    r.layer()
}

/// Reports a single-case test and fails it when its check did.
fn finish(c: &Case, expected: &str, outcome: std::thread::Result<String>) {
    let fault = if c.rule.fault == Fault::Hold {
        "SIGKILL".to_owned()
    } else {
        fault_label(&c.rule)
    };
    match outcome {
        Ok(o) => report(c.step, &fault, expected, &o, true),
        Err(panic) => {
            let why = panic_text(&panic);
            report(c.step, &fault, expected, &why, false);
            panic!("{} × {fault}: {why}", c.step);
        }
    }
}

/// A clean emulator with the bucket, and the project (with a large file for `big`).
fn setup(c: &Case) -> (MotoGuard, tempfile::TempDir) {
    let m = moto();
    m.aws(&["create-bucket", BUCKET]);
    let dir = temp();
    let root = dir.path();
    write_file(
        root,
        "site-packages/requests/__init__.py",
        b"print('requests')\n",
        0o644,
    );
    if c.big {
        // Incompressible: a zip of about 20 MiB, uploaded in three parts.
        write_file(root, "site-packages/model.bin", &noise(20 << 20, 7), 0o644);
    }
    fs::write(root.join("requirements.txt"), "requests==2.32.3\n").unwrap();
    fs::write(
        root.join("layerpub.yml"),
        format!("layer-name: deps\npath: site-packages\nprefix: python\nmanifest: requirements.txt\ns3-bucket: {BUCKET}\n"),
    )
    .unwrap();
    if c.previous {
        assert_eq!(run_direct(&m, root, &[]).code, 0);
        fs::write(root.join("requirements.txt"), "requests==2.32.4\n").unwrap();
    }
    (m, dir)
}

fn extra_env(c: &Case) -> Vec<(&'static str, &'static str)> {
    if matches!(c.rule.fault, Fault::Stall | Fault::StallMidBody) {
        vec![("LAYERPUB_TEST_TIMEOUT_SECS", STALL_TIMEOUT_SECS)]
    } else {
        Vec::new()
    }
}

/// A run through the proxy: the emulator's environment with the endpoint replaced by the
/// proxy's.
fn run_via(
    m: &Moto,
    dir: &Path,
    proxy: &FaultProxy,
    args: &[&str],
    extra: Vec<(&'static str, &'static str)>,
) -> Run {
    layerpub_cmd()
        .current_dir(dir)
        .args(["--output", "json"])
        .args(args)
        .moto(m)
        .env("AWS_ENDPOINT_URL", &proxy.endpoint)
        .env("LAYERPUB_LOG", "info")
        .envs(extra)
        .run()
}

fn run_direct(m: &Moto, dir: &Path, args: &[&str]) -> Run {
    common::moto::run(m, dir, args)
}

fn claims(m: &Moto) -> Vec<String> {
    m.keys(BUCKET)
        .into_iter()
        .filter(|k| k.contains("/claims/"))
        .collect()
}

fn uploads(m: &Moto) -> Vec<serde_json::Value> {
    m.aws(&["uploads", BUCKET]).as_array().unwrap().clone()
}

/// What a run left behind, read in one call.
struct State {
    versions: usize,
    newest_code_sha256: serde_json::Value,
}

/// Asserts that no claim object and no incomplete multipart upload is left; returns the rest.
fn converged(m: &Moto, when: &str) -> State {
    let s = m.aws(&["state", "deps", BUCKET]);
    let claims: Vec<&str> = s["keys"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|k| k.as_str())
        .filter(|k| k.contains("/claims/"))
        .collect();
    assert_eq!(claims, Vec::<&str>::new(), "no claim left {when}");
    assert_eq!(
        s["uploads"],
        serde_json::json!([]),
        "no incomplete upload left {when}"
    );
    State {
        versions: s["versions"].as_array().unwrap().len(),
        newest_code_sha256: s["newest_code_sha256"].clone(),
    }
}

fn fault_label(rule: &Rule) -> String {
    let nth = if rule.nth > 1 {
        format!(" from request {}", rule.nth)
    } else {
        String::new()
    };
    let times = if rule.always { "always" } else { "once" };
    format!("{} {times}{nth}", rule.fault.label())
}

fn panic_text(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_else(|| "panicked".into())
}

/// Appends one line to `$LAYERPUB_REPORT_DIR/faults.jsonl` when that variable is set.
fn report(step: &str, fault: &str, expected: &str, outcome: &str, passed: bool) {
    let Some(dir) = std::env::var_os("LAYERPUB_REPORT_DIR") else {
        return;
    };
    let line = serde_json::json!({
        "step": step,
        "fault": fault,
        "expected": expected,
        "outcome": outcome,
        "passed": passed,
    });
    let mut f = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(Path::new(&dir).join("faults.jsonl"))
        .expect("open faults.jsonl");
    writeln!(f, "{line}").expect("write faults.jsonl");
}
