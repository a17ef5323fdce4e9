//! Hostile text from the repository — a file name in the layer (shown in a warning), the
//! description, and lock-file lines (shown under "What changed" on the next publish) — holding
//! line breaks, `%`, `::`, workflow commands, `<script>`, a look-alike of the comment's marker,
//! backticks and a `$GITHUB_OUTPUT` delimiter look-alike, through a real run in GitHub mode
//! (moto, a mock GitHub API). Nothing may escape its place: the step outputs parse into exactly
//! the expected set, no line of the log starts a workflow command that is not layerpub's own,
//! and the summary and the comment show the text only inside code spans or escaped.

use crate::common;

use std::fs;

use common::moto::moto;
use common::*;
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// Every trick at once; a single file name (under 255 bytes) so that it is the one the layout
/// warning names (it sorts first: it starts with a line break).
const NASTY: &str = "\n::error::injected %0A `tick` ::set-output name=published::hacked\n::add-mask::x <script>alert(1)<!-- layerpub:deps --> ghadelimiter_0123456789abcdef\r::warning title=cr::after-a-carriage-return ##[error]legacy-form";

/// Lock-file lines: each is one line, so no line break, but everything else.
const NASTY_LINES: &[&str] = &[
    "::set-output name=published::hacked",
    "::add-mask::requests",
    "%0A::error::from-a-lock-file",
    "evil==1 ; `x` <script>alert(1)</script>",
    "<!-- layerpub:deps -->",
    "<!-- layerpub:other -->",
    "ghadelimiter_0123456789abcdef",
    "| a | table |",
    "```",
    "cr==1\r::error::after-a-carriage-return",
    "legacy==1 ##[set-output name=published;]hacked",
];

/// The outputs a single-layer run writes, and nothing else.
const OUTPUTS: &[&str] = &[
    "layer-arn",
    "layer-version-arn",
    "layer-version",
    "published",
    "previous-version",
    "fingerprint",
    "code-sha256",
    "code-size",
    "reason",
    "layer-version-arns",
    "result-json",
];

/// Markdown with every inline code span removed (CommonMark: a run of N backticks up to the
/// next run of exactly N; `\` escapes the next character outside spans).
fn outside_code_spans(md: &str) -> String {
    let chars: Vec<char> = md.chars().collect();
    let run_at = |i: usize| chars[i..].iter().take_while(|c| **c == '`').count();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '\\' if i + 1 < chars.len() => {
                out.push(chars[i]);
                out.push(chars[i + 1]);
                i += 2;
            }
            '`' => {
                let n = run_at(i);
                let mut j = i + n;
                let mut close = None;
                while j < chars.len() {
                    if chars[j] == '`' {
                        let m = run_at(j);
                        if m == n {
                            close = Some(j + m);
                            break;
                        }
                        j += m;
                    } else {
                        j += 1;
                    }
                }
                match close {
                    Some(end) => i = end,
                    None => {
                        out.extend(&chars[i..i + n]);
                        i += n;
                    }
                }
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    out
}

/// Markdown that opens no HTML: outside code spans, every `<` is backslash-escaped, apart from
/// the marker (`allowed`) and the summary's `<br>`.
fn assert_no_raw_html(what: &str, md: &str, allowed: &[&str]) {
    let mut text = outside_code_spans(md);
    for a in allowed {
        text = text.replacen(a, "", 1);
    }
    let text = text.replace("<br>", "");
    let raw: Vec<usize> = text
        .match_indices('<')
        .map(|(i, _)| i)
        .filter(|&i| i == 0 || !text[..i].ends_with('\\'))
        .collect();
    assert!(
        raw.is_empty(),
        "{what}: raw `<` outside code spans:\n{text}\n--- the markdown:\n{md}"
    );
}

/// No line of the log starts a workflow command other than layerpub's own (masking, and the
/// annotations it escapes). Lines end where the runner ends them: at LF, CR or CRLF (its
/// `StreamReader.ReadLine`); it trims Unicode white space before `::`; and it also runs the
/// legacy form `##[command]` found anywhere in a line.
/// The runner tries the legacy form only on a line that is not a `::` command, so layerpub's
/// own annotations may carry `##[` in their (escaped) message.
fn assert_no_injected_command(what: &str, log: &str) {
    for line in log.split(['\n', '\r']) {
        let t = line.trim_start();
        if t.starts_with("::") {
            assert!(
                t.starts_with("::add-mask::")
                    || t.starts_with("::warning title=")
                    || t.starts_with("::error title="),
                "{what}: a line starts a workflow command: {line:?}\n{log}"
            );
        } else {
            assert!(
                !line.contains("##["),
                "{what}: a line holds a legacy workflow command: {line:?}\n{log}"
            );
        }
    }
}

#[test]
fn hostile_names_descriptions_and_lock_lines_stay_in_their_place() {
    let m = moto();
    m.aws(&["create-bucket", "layers"]);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let github = rt.block_on(MockServer::start());
    rt.block_on(
        Mock::given(method("GET"))
            .and(path("/user"))
            .respond_with(ResponseTemplate::new(403))
            .mount(&github),
    );
    rt.block_on(
        Mock::given(method("GET"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
            .mount(&github),
    );
    rt.block_on(
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(201).set_body_json(json!({"id": 41, "body": ""})))
            .mount(&github),
    );

    let dir = temp();
    let d = dir.path();
    write_file(d, &format!("layer/{NASTY}"), b"x", 0o644);
    write_file(d, "layer/tool.py", b"print(1)\n", 0o644);
    fs::write(d.join("requirements.txt"), "requests==2.32.3\n").unwrap();
    fs::write(
        d.join("layerpub.yml"),
        "layer-name: deps\npath: layer\nmanifest: requirements.txt\ns3-bucket: layers\n",
    )
    .unwrap();
    fs::write(d.join("event.json"), r#"{"number": 7}"#).unwrap();

    let mut env: Vec<(String, String)> = m.env().into_iter().map(|(k, v)| (k.into(), v)).collect();
    let p = |f: &str| path_str(&d.join(f));
    env.extend([
        ("GITHUB_ACTIONS".into(), "true".into()),
        ("GITHUB_OUTPUT".into(), p("output")),
        ("GITHUB_STEP_SUMMARY".into(), p("summary")),
        ("GITHUB_EVENT_NAME".into(), "pull_request".into()),
        ("GITHUB_EVENT_PATH".into(), p("event.json")),
        ("GITHUB_REPOSITORY".into(), "acme/app".into()),
        ("GITHUB_API_URL".into(), github.uri()),
        ("INPUT_GITHUB-TOKEN".into(), "ghs_fake".into()),
        (
            "LAYERPUB_DESCRIPTION".into(),
            "line one\n::error::from-the-description %0A <script>x</script> `\r::error::cr ##[error]x".into(),
        ),
    ]);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();

    // First publish: the file name reaches the warning; then a lock file full of tricks.
    for (run, lock) in [
        (1, "requests==2.32.3\n".to_owned()),
        (2, format!("requests==2.32.4\n{}\n", NASTY_LINES.join("\n"))),
    ] {
        fs::write(d.join("requirements.txt"), lock).unwrap();
        fs::write(d.join("output"), "").unwrap();
        fs::write(d.join("summary"), "").unwrap();
        let seen = rt.block_on(github.received_requests()).unwrap().len();
        let r = layerpub(d, &["--output", "json"], &env);
        r.assert_ok().json();

        // The warning names the file, its line breaks shown as `\n`, on one line.
        assert!(
            r.stderr
                .contains("e.g. `\\n::error::injected %0A `tick` ::set-output"),
            "run {run}:\n{}",
            r.stderr
        );
        assert_no_injected_command(&format!("run {run} stderr"), &r.stderr);
        assert_no_injected_command(&format!("run {run} stdout"), &r.stdout);

        // Exactly the outputs, each once, and the values whole.
        let outputs = parse_github_output(&fs::read_to_string(d.join("output")).unwrap());
        let names: Vec<&str> = outputs.keys().map(String::as_str).collect();
        let mut expected = OUTPUTS.to_vec();
        expected.sort();
        assert_eq!(names, expected, "run {run}");
        assert_eq!(outputs["published"], "true");
        assert_eq!(outputs["layer-version"], run.to_string());
        let doc: Value = serde_json::from_str(&outputs["result-json"]).unwrap();
        common::schema::assert_valid_result(&doc);
        let result = &doc["layers"][0];
        assert!(
            result["warnings"][0].as_str().unwrap().contains(NASTY),
            "the file name survives whole in result-json: {result}"
        );

        let summary = fs::read_to_string(d.join("summary")).unwrap();
        assert_no_raw_html(&format!("run {run} summary"), &summary, &[]);
        assert!(
            !outside_code_spans(&summary).contains("::set-output"),
            "{summary}"
        );

        let posts: Vec<String> = rt
            .block_on(github.received_requests())
            .unwrap()
            .into_iter()
            .skip(seen)
            .filter(|r| r.method.as_str() == "POST")
            .map(|r| {
                serde_json::from_slice::<Value>(&r.body).unwrap()["body"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect();
        assert_eq!(posts.len(), 1, "run {run}: one comment");
        let body = &posts[0];
        assert_eq!(body.lines().next(), Some("<!-- layerpub:deps -->"));
        assert_no_raw_html(
            &format!("run {run} comment"),
            body,
            &["<!-- layerpub:deps -->"],
        );
        assert!(!outside_code_spans(body).contains("::set-output"), "{body}");

        if run == 2 {
            // Every hostile lock-file line is listed, each inside a code span (below the
            // marker, which is the first line), a carriage return shown as `\r`.
            let below_marker = body.split_once('\n').unwrap().1;
            for line in NASTY_LINES {
                let line = &line.replace('\r', "\\r");
                assert!(body.contains(line), "comment lacks {line:?}:\n{body}");
                assert!(
                    !outside_code_spans(below_marker).contains(line),
                    "{line:?} outside a code span:\n{body}"
                );
                assert!(
                    !outside_code_spans(&summary).contains(line),
                    "{line:?} outside a code span:\n{summary}"
                );
            }
        }
    }
    assert_eq!(m.versions("deps").len(), 2);
    // The description went to Lambda whole, with the marker after it.
    assert!(
        m.versions("deps")[1]["description"]
            .as_str()
            .unwrap()
            .starts_with("line one\n::error::from-the-description"),
    );
}

#[test]
fn a_setting_with_a_line_break_cannot_start_a_command_in_an_error() {
    let dir = temp();
    write_file(dir.path(), "layer/x.py", b"x", 0o644);
    let r = layerpub(
        dir.path(),
        &["package", "--path", "layer"],
        &[
            ("GITHUB_ACTIONS", "true"),
            (
                "LAYERPUB_LAYER_NAME",
                "x\n::set-output name=published::hacked",
            ),
        ],
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert_no_injected_command("stderr", &r.stderr);
    assert!(
        r.stderr.contains(
            "layer-name: `x\\n::set-output name=published::hacked` is not a valid layer name"
        ),
        "{}",
        r.stderr
    );
}

#[test]
fn a_file_name_with_a_line_break_cannot_start_a_command_in_an_error() {
    use std::os::unix::fs::symlink;
    // LF, and a lone CR, which the runner also ends a line at.
    for (raw, shown) in [("\n", "\\n"), ("\r", "\\r")] {
        let dir = temp();
        write_file(dir.path(), "layer/x.py", b"x", 0o644);
        let name = format!("a{raw}::error title=x::owned");
        symlink("gone", dir.path().join("layer").join(&name)).unwrap();
        let r = layerpub(
            dir.path(),
            &["package", "--layer-name", "d", "--path", "layer"],
            &[("GITHUB_ACTIONS", "true")],
        );
        assert_eq!(r.code, 2, "{}", r.stderr);
        assert_no_injected_command("stderr", &r.stderr);
        let expected = format!("`a{shown}::error title=x::owned` is a symbolic link to `gone`");
        assert!(r.stderr.contains(&expected), "{}", r.stderr);
    }
}

#[test]
fn a_carriage_return_in_a_file_name_cannot_start_a_command() {
    let dir = temp();
    write_file(dir.path(), "layer/a\r::error title=x::x.py", b"x", 0o644);
    write_file(dir.path(), "layer/b ##[error]legacy.py", b"x", 0o644);
    let r = layerpub(
        dir.path(),
        &[
            "package",
            "--layer-name",
            "d",
            "--path",
            "layer",
            "--output",
            "json",
        ],
        &[("GITHUB_ACTIONS", "true")],
    );
    r.assert_ok();
    assert!(
        r.stderr.contains("`a\\r::error title=x::x.py`"),
        "the warning names the file, its CR shown as \\r:\n{}",
        r.stderr
    );
    assert_no_injected_command("stderr", &r.stderr);
    assert_no_injected_command("stdout", &r.stdout);
    let warnings = r.layer()["warnings"].to_string();
    assert!(
        warnings.contains("a\\r::error title=x::x.py"),
        "the JSON keeps the name: {warnings}"
    );
}

/// `LAYERPUB_DESCRIPTION=$'caf\xe9'` was published with U+FFFD in place of the byte: a
/// non-UTF-8 value of a variable layerpub reads is refused, naming it; one it does not read
/// does not matter.
#[test]
fn a_non_utf8_value_of_a_variable_layerpub_reads_is_refused_naming_it() {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    let dir = temp();
    write_file(dir.path(), "layer/x.py", b"x", 0o644);
    let run = |name: &str| {
        let out = layerpub_cmd()
            .args(["package", "--layer-name", "d", "--path", "layer"])
            .current_dir(dir.path())
            .env(name, OsStr::from_bytes(b"caf\xe9"))
            .run();
        (out.code, out.stderr)
    };
    for name in [
        "LAYERPUB_DESCRIPTION",
        "INPUT_DESCRIPTION",
        "GITHUB_OUTPUT",
        "SOURCE_DATE_EPOCH",
        "AWS_REGION",
    ] {
        let (code, stderr) = run(name);
        assert_eq!(code, 2, "{name}: {stderr}");
        assert!(
            stderr.contains(&format!("{name}: is not valid UTF-8 (byte 4)")),
            "{name}: {stderr}"
        );
        assert!(!stderr.contains('\u{FFFD}'), "{stderr}");
    }
    let (code, stderr) = run("SOME_OTHER_TOOLS_VARIABLE");
    assert_eq!(code, 0, "a variable layerpub does not read: {stderr}");
}

/// `endpoint-url: http://user:secret@host` echoed the password in errors and in the `::error`
/// annotation. No URL layerpub prints (endpoint-url, GITHUB_API_URL, CI_API_V4_URL) shows its
/// credentials: not in stdout, stderr, the step outputs or the job summary.
#[test]
fn a_password_in_a_url_is_never_printed() {
    const SECRET: &str = "s3cr3t-Pa55";
    let dir = temp();
    let d = dir.path();
    write_file(d, "layer/x.py", b"x", 0o644);
    fs::write(d.join("event.json"), r#"{"number": 7}"#).unwrap();
    // A port nothing listens on: every call fails, after the clients' retries.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://layerpub:{SECRET}@127.0.0.1:{port}");
    let p = |f: &str| path_str(&d.join(f));
    let (output, summary, event) = (p("output"), p("summary"), p("event.json"));
    let assert_hidden = |what: &str, r: &Run| {
        for (stream, text) in [
            ("stdout", &r.stdout),
            ("stderr", &r.stderr),
            (
                "GITHUB_OUTPUT",
                &fs::read_to_string(d.join("output")).unwrap_or_default(),
            ),
            (
                "summary",
                &fs::read_to_string(d.join("summary")).unwrap_or_default(),
            ),
        ] {
            assert!(
                !text.contains(SECRET),
                "{what}: the password is in {stream}:\n{text}"
            );
        }
    };

    // A URL layerpub refuses is named without its password.
    let bad = format!("ftp://layerpub:{SECRET}@127.0.0.1:{port}");
    let r = layerpub(
        d,
        &["publish", "--layer-name", "d", "--path", "layer"],
        &[("GITHUB_ACTIONS", "true"), ("LAYERPUB_ENDPOINT_URL", &bad)],
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("ftp://***@127.0.0.1"), "{}", r.stderr);
    assert_hidden("a refused endpoint-url", &r);

    // A publish whose endpoint and GitHub API do not answer: the errors, the warning about
    // the comment, the outputs and the summary all name the URLs.
    for (name, gitlab) in [("github", false), ("gitlab", true)] {
        let mut env = vec![
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
            ("AWS_REGION", "us-east-1"),
            ("LAYERPUB_ENDPOINT_URL", url.as_str()),
            ("GITHUB_OUTPUT", output.as_str()),
            ("GITHUB_STEP_SUMMARY", summary.as_str()),
        ];
        if gitlab {
            env.extend([
                ("GITLAB_CI", "true"),
                ("CI_API_V4_URL", url.as_str()),
                ("CI_PROJECT_ID", "1"),
                ("CI_MERGE_REQUEST_IID", "7"),
                ("GITLAB_TOKEN", "glpat-fake"),
            ]);
        } else {
            env.extend([
                ("GITHUB_ACTIONS", "true"),
                ("GITHUB_EVENT_NAME", "pull_request"),
                ("GITHUB_EVENT_PATH", event.as_str()),
                ("GITHUB_REPOSITORY", "acme/app"),
                ("GITHUB_API_URL", url.as_str()),
                ("INPUT_GITHUB-TOKEN", "ghs_fake"),
            ]);
        }
        let r = layerpub(
            d,
            &["--layer-name", "d", "--path", "layer", "--output", "json"],
            &env,
        );
        assert_eq!(r.code, 1, "{name}: {}", r.stderr);
        assert!(
            r.stdout.contains("ListLayerVersions failed"),
            "{name}: {}",
            r.stdout
        );
        assert_eq!(r.layer()["status"], "failed", "{name}: {}", r.stdout);
        assert_hidden(name, &r);
    }
}
