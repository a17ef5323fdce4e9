//! The sticky pull-request comment on GitHub: which pull request (from the runner's
//! environment and event file), then one comment per layer, created once and edited in place
//! on every later run. The shell's edge: [`upsert_comment`] talks to the GitHub REST API
//! through the forges' client ([`crate::ci::rest`]); [`context`] only reads the event file. The rules shared with GitLab's note (the
//! marker, whose comment is ours, the outcome) are in [`crate::ci::forge`].
//!
//! The comment is found by its hidden marker ([`forge::marker`]) *and* its author, so a comment
//! someone else wrote with the same marker (quoted, or forged) is never edited. A pull request
//! from a fork gets a read-only token: a refused write is [`Outcome::Forbidden`], for the
//! caller to report as a warning, not a failed run.

use std::time::Duration;

use http::Method;
use http::header::{AUTHORIZATION, HeaderValue};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::aws::transport::Proxy;
use crate::ci::forge::{self, Outcome};
use crate::ci::rest::{Exchange, Refused, Rest};
use crate::config::env::Env;
use crate::domain::error::{Error, ForgeError};
use crate::domain::secret::Secret;

/// The public GitHub API; GitHub Enterprise Server sets `GITHUB_API_URL` to `https://HOST/api/v3`.
pub(crate) const DEFAULT_API_URL: &str = "https://api.github.com";

/// Who writes with the workflow's default `GITHUB_TOKEN`. That installation token may not read
/// `GET /user` (403), so this is the login we look for instead.
pub(crate) const ACTIONS_BOT_LOGIN: &str = "github-actions[bot]";

/// Comment pages read at most (100 comments each): a broken `Link` header cannot loop forever.
const MAX_PAGES: usize = 100;

/// Where the comment goes, and the token that writes it. `Debug` shows the token as `***`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitHubContext {
    /// The API root without a trailing `/`, a path prefix kept (`https://HOST/api/v3`).
    pub api_url: String,
    pub owner: String,
    pub repo: String,
    /// The pull request's number (its issue number).
    pub pr: u64,
    token: Secret,
    /// The proxy for an `https://` API URL (none unless set: [`GitHubContext::with_proxy`]).
    pub proxy: Proxy,
}

impl GitHubContext {
    /// Checks every part, since they become the request paths: an API URL that is http(s),
    /// an owner and repository GitHub could have named, a pull request number from 1.
    pub fn new(
        api_url: &str,
        owner: &str,
        repo: &str,
        pr: u64,
        token: Secret,
    ) -> Result<Self, Error> {
        if pr == 0 {
            return Err(Error::bad_input(
                "pr-number: 0 is not a pull request number; pull requests count from 1",
            ));
        }
        Ok(GitHubContext {
            pr,
            ..GitHubContext::repository(api_url, owner, repo, token)?
        })
    }

    /// The repository alone, its pull request still to be found ([`merged_pull_request`]).
    fn repository(api_url: &str, owner: &str, repo: &str, token: Secret) -> Result<Self, Error> {
        let api_url = api_url.trim_end_matches('/');
        if !(api_url.starts_with("https://") || api_url.starts_with("http://")) {
            return Err(Error::bad_input(format!(
                "GITHUB_API_URL: `{api_url}` is not an http:// or https:// URL; leave it to the runner (https://api.github.com, or https://HOST/api/v3 on GitHub Enterprise Server)"
            )));
        }
        let name_ok = |s: &str| {
            !s.is_empty()
                && s != "."
                && s != ".."
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        };
        if !name_ok(owner) || !name_ok(repo) {
            return Err(Error::bad_input(format!(
                "GITHUB_REPOSITORY: `{owner}/{repo}` is not an owner/repository name; leave it to the runner, which sets it on every job"
            )));
        }
        Ok(GitHubContext {
            api_url: api_url.to_owned(),
            owner: owner.to_owned(),
            repo: repo.to_owned(),
            pr: 0,
            token,
            proxy: Proxy::default(),
        })
    }

    /// The same context, its API reached through `proxy` (from `HTTPS_PROXY` / `NO_PROXY`).
    pub fn with_proxy(self, proxy: Proxy) -> Self {
        GitHubContext { proxy, ..self }
    }

    /// `/repos/OWNER/REPO/issues/N/comments`: list and create.
    fn comments_path(&self) -> String {
        format!(
            "/repos/{}/{}/issues/{}/comments",
            self.owner, self.repo, self.pr
        )
    }

    /// `OWNER/REPO#N`, for messages.
    fn pull_request(&self) -> String {
        format!("{}/{}#{}", self.owner, self.repo, self.pr)
    }
}

/// The pull request this run comments on, from the runner's variables and the event file they
/// name. `Ok(None)` when there is none: a push, a tag, a schedule, or not GitHub at all.
/// `pr_number` (the `pr-number` setting) wins over the event.
pub fn context(
    env: &Env,
    token: Option<&Secret>,
    pr_number: Option<u64>,
) -> Result<Option<GitHubContext>, Error> {
    let var = |name: &str| env.get(name);
    let pr = match pr_number {
        Some(n) => n,
        None => match pr_from_event(var("GITHUB_EVENT_NAME"), var("GITHUB_EVENT_PATH"))? {
            Some(n) => n,
            None => return Ok(None),
        },
    };
    let repository = var("GITHUB_REPOSITORY").ok_or_else(|| {
        Error::bad_input(format!(
            "GITHUB_REPOSITORY: not set, but there is a pull request (#{pr}) to comment on; run on GitHub Actions, or set `comment: false`"
        ))
    })?;
    let (owner, repo) = repository.split_once('/').unwrap_or((repository, ""));
    let token = token.filter(|t| !t.expose().is_empty()).ok_or_else(|| {
        Error::bad_input(format!(
            "github-token: not set, but layerpub comments on pull request #{pr}; pass `github-token: ${{{{ github.token }}}}` (the action's default) or set LAYERPUB_GITHUB_TOKEN, or set `comment: false`"
        ))
    })?;
    let api_url = var("GITHUB_API_URL").unwrap_or(DEFAULT_API_URL);
    GitHubContext::new(api_url, owner, repo, pr, token.clone())
        .map(|c| Some(c.with_proxy(Proxy::from_env(env))))
}

/// On a push (a merge into the default branch, typically): the repository and the pushed
/// commit, whose merged pull request [`merged_pull_request`] finds, so that its comment can say
/// what was published. `Ok(None)` for any other event, or without a token (a push has no pull
/// request to warn about).
pub fn push_context(
    env: &Env,
    token: Option<&Secret>,
) -> Result<Option<(GitHubContext, String)>, Error> {
    let (Some("push"), Some(sha), Some(repository), Some(token)) = (
        env.get("GITHUB_EVENT_NAME"),
        env.get("GITHUB_SHA"),
        env.get("GITHUB_REPOSITORY"),
        token.filter(|t| !t.expose().is_empty()),
    ) else {
        return Ok(None);
    };
    if !(sha.len() == 40 || sha.len() == 64) || !sha.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(Error::bad_input(format!(
            "GITHUB_SHA: `{sha}` is not a commit hash; leave it to the runner"
        )));
    }
    let (owner, repo) = repository.split_once('/').unwrap_or((repository, ""));
    let api_url = env.get("GITHUB_API_URL").unwrap_or(DEFAULT_API_URL);
    let ctx = GitHubContext::repository(api_url, owner, repo, token.clone())?
        .with_proxy(Proxy::from_env(env));
    Ok(Some((ctx, sha.to_ascii_lowercase())))
}

/// A pull request as `GET /repos/O/R/commits/SHA/pulls` lists it; only what we read.
#[derive(Debug, Deserialize)]
struct PullRequest {
    number: u64,
    #[serde(default)]
    merge_commit_sha: Option<String>,
    #[serde(default)]
    merged_at: Option<String>,
}

/// The pull request that was merged as commit `sha` (its merge, squash or rebase commit), with
/// `ctx` pointing at it; `None` when the commit is no pull request's merge (a direct push).
/// A pull request that merely contains the commit is not it: its comment must not be changed.
pub async fn merged_pull_request(
    ctx: GitHubContext,
    sha: &str,
) -> Result<Option<GitHubContext>, Error> {
    let client = client(&ctx)?;
    let path = format!("/repos/{}/{}/commits/{sha}/pulls", ctx.owner, ctx.repo);
    let pulls: Vec<PullRequest> = call(&client, Method::GET, &path, None)
        .await
        .map_err(|e| {
            failure(
                &ctx,
                &format!("finding the pull request merged as {sha}"),
                e,
            )
        })?
        .0;
    let merged = pulls.into_iter().find(|p| {
        p.merged_at.is_some()
            && p.merge_commit_sha
                .as_deref()
                .is_some_and(|m| m.eq_ignore_ascii_case(sha))
    });
    Ok(merged.map(|p| GitHubContext {
        pr: p.number,
        ..ctx
    }))
}

/// The pull request number of a `pull_request` or `pull_request_target` event; `None` for any
/// other event. The event file is the runner's; if it is missing or unreadable something is
/// wrong with the job, so that is an error rather than a silent skip.
fn pr_from_event(name: Option<&str>, path: Option<&str>) -> Result<Option<u64>, Error> {
    let Some(name @ ("pull_request" | "pull_request_target")) = name else {
        return Ok(None);
    };
    let path = path.ok_or_else(|| {
        Error::bad_input(format!(
            "GITHUB_EVENT_PATH: not set, but GITHUB_EVENT_NAME is {name}; leave both to the runner, or set pr-number"
        ))
    })?;
    // Like any named file: never blocks on a FIFO, never reads without bound.
    let text = crate::config::inputs::read_regular(std::path::Path::new(path), crate::config::inputs::READ_MAX)
        .map_err(|e| {
            Error::bad_input(format!(
                "GITHUB_EVENT_PATH: cannot read the event file `{path}` ({}); leave it to the runner, or set pr-number",
                crate::config::inputs::describe(&e)
            ))
        })?;
    let event: serde_json::Value = serde_json::from_slice(&text).map_err(|e| {
        Error::bad_input(format!(
            "GITHUB_EVENT_PATH: the event file `{path}` is not valid JSON ({e}); leave it to the runner, or set pr-number"
        ))
    })?;
    event
        .pointer("/pull_request/number")
        .or_else(|| event.get("number"))
        .and_then(serde_json::Value::as_u64)
        .filter(|n| *n > 0)
        .map(Some)
        .ok_or_else(|| {
            Error::bad_input(format!(
                "GITHUB_EVENT_PATH: the {name} event in `{path}` has no pull_request.number; set pr-number"
            ))
        })
}

/// An issue comment, as far as we read it.
#[derive(Debug, Deserialize)]
struct Comment {
    id: u64,
    #[serde(default)]
    body: Option<String>,
    #[serde(default)]
    user: Option<User>,
}

#[derive(Debug, Deserialize)]
struct User {
    login: String,
}

/// Three retries (four attempts) of what may be repeated, as octocrab's retry layer made
/// before; short pauses, since a comment is a report that must not hold the job up.
const RETRY_DELAYS: [Duration; 3] = [
    Duration::from_millis(250),
    Duration::from_millis(500),
    Duration::from_secs(1),
];

/// Why a call to GitHub did not give what was asked: GitHub refused it (its status and
/// message), no answer came, or the answer is not the JSON expected.
#[derive(Debug)]
enum Failed {
    Refused(Refused),
    Exchange(Exchange),
    Decode(serde_json::Error),
}

/// Creates this layer's comment on the pull request, or edits ours in place; writes nothing
/// when our comment already says `body`, which must start with the layer's marker (checked
/// before any request).
pub async fn upsert_comment(
    ctx: &GitHubContext,
    layer_name: &str,
    body: &str,
) -> Result<Outcome, Error> {
    let marker =
        forge::checked_marker(layer_name, body, "pull-request comment").map_err(Error::GitHub)?;
    let client = client(ctx)?;
    let login = our_login(&client, ctx).await?;
    let ours = find_comment(&client, ctx, &marker, &login).await?;
    let payload = serde_json::json!({ "body": body });
    match ours {
        Some(c) if forge::same_body(c.body.as_deref().unwrap_or(""), body) => {
            tracing::debug!(id = c.id, "the pull-request comment is current");
            Ok(Outcome::Unchanged(c.id))
        }
        Some(c) => {
            let path = format!("/repos/{}/{}/issues/comments/{}", ctx.owner, ctx.repo, c.id);
            let written = call(&client, Method::PATCH, &path, Some(&payload)).await;
            write_outcome(ctx, ("update", "updating"), written, Outcome::Updated)
        }
        None => {
            let written = call(&client, Method::POST, &ctx.comments_path(), Some(&payload)).await;
            write_outcome(ctx, ("create", "creating"), written, Outcome::Created)
        }
    }
}

/// One call whose 2xx answer is a `T`, the answer's `Link` to the next page beside it.
async fn call<T: DeserializeOwned>(
    client: &Rest,
    method: Method,
    path: &str,
    json: Option<&serde_json::Value>,
) -> Result<(T, Option<String>), Failed> {
    let reply = client
        .send(method, path, json)
        .await
        .map_err(Failed::Exchange)?;
    if !reply.status.is_success() {
        return Err(Failed::Refused(Refused::of(&reply)));
    }
    let value = reply.json().map_err(Failed::Decode)?;
    Ok((value, reply.next_link().map(str::to_owned)))
}

/// The client for the context's API URL (a path prefix kept) and token, which goes as
/// `Authorization: Bearer …` on every request.
fn client(ctx: &GitHubContext) -> Result<Rest, Error> {
    let setup = |why: String| {
        Error::GitHub(ForgeError::failure(format!(
            "could not set up the GitHub client for {}: {why}",
            ctx.api_url
        )))
    };
    let auth = HeaderValue::from_str(&format!("Bearer {}", ctx.token.expose())).map_err(|_| {
        Error::bad_input(
            "github-token: contains characters that cannot be sent in an HTTP header; copy the token again",
        )
    })?;
    Rest::new(
        "GitHub",
        &ctx.api_url,
        (AUTHORIZATION, auth),
        "application/vnd.github+json",
        &RETRY_DELAYS,
        &ctx.proxy,
    )
    .map_err(setup)
}

/// The login our comments carry. A personal or app user token can read `GET /user`; the
/// workflow's installation token gets 403 there, and writes as `github-actions[bot]`.
async fn our_login(client: &Rest, ctx: &GitHubContext) -> Result<String, Error> {
    match call::<User>(client, Method::GET, "/user", None).await {
        Ok((user, _)) => Ok(user.login),
        Err(e) if status(&e) == Some(403) => {
            tracing::debug!(
                "GET /user is forbidden (an installation token); looking for comments by {ACTIONS_BOT_LOGIN}"
            );
            Ok(ACTIONS_BOT_LOGIN.to_owned())
        }
        Err(e) => Err(failure(ctx, "reading the token's user (GET /user)", e)),
    }
}

/// Our comment for this layer: the first one, oldest first over every page, that carries the
/// marker and was written by `login`.
async fn find_comment(
    client: &Rest,
    ctx: &GitHubContext,
    marker: &str,
    login: &str,
) -> Result<Option<Comment>, Error> {
    let what = || format!("listing the comments of {}", ctx.pull_request());
    // `per_page=100`: GitHub's largest page, so most pull requests take one request.
    let first = format!("{}?per_page=100", ctx.comments_path());
    let (mut items, mut next): (Vec<Comment>, _) = call(client, Method::GET, &first, None)
        .await
        .map_err(|e| failure(ctx, &what(), e))?;
    for _ in 0..MAX_PAGES {
        let found = items.into_iter().find(|c| {
            c.body.as_deref().is_some_and(|b| forge::carries(b, marker))
                && c.user
                    .as_ref()
                    .is_some_and(|u| u.login.eq_ignore_ascii_case(login))
        });
        if found.is_some() {
            return Ok(found);
        }
        let Some(link) = next else {
            return Ok(None);
        };
        // The token goes to the API host only, whatever a Link header says.
        let Some(path) = link
            .strip_prefix(ctx.api_url.as_str())
            .filter(|rest| rest.starts_with('/'))
        else {
            return Err(Error::GitHub(ForgeError::failure(format!(
                "{} failed: GitHub's next-page link `{link}` is outside {}",
                what(),
                ctx.api_url
            ))));
        };
        (items, next) = call(client, Method::GET, path, None)
            .await
            .map_err(|e| failure(ctx, &what(), e))?;
    }
    tracing::warn!(
        "{} has over {} comments; not looking further for layerpub's",
        ctx.pull_request(),
        MAX_PAGES * 100
    );
    Ok(None)
}

/// The outcome of a create or update: 403 is `Forbidden`, other errors fail.
fn write_outcome(
    ctx: &GitHubContext,
    (verb, doing): (&str, &str),
    written: Result<(Comment, Option<String>), Failed>,
    done: fn(u64) -> Outcome,
) -> Result<Outcome, Error> {
    match written {
        Ok((c, _)) => {
            tracing::debug!(id = c.id, "{verb}d the pull-request comment");
            Ok(done(c.id))
        }
        Err(e) if status(&e) == Some(403) => Ok(Outcome::Forbidden(format!(
            "GitHub refused to {verb} the comment on {} ({}): a pull request from a fork gets a read-only token; otherwise give the job `permissions: pull-requests: write`",
            ctx.pull_request(),
            describe(&e, &ctx.token)
        ))),
        Err(e) => Err(failure(
            ctx,
            &format!("{doing} the comment on {}", ctx.pull_request()),
            e,
        )),
    }
}

/// The HTTP status of an error GitHub answered, if it answered.
fn status(e: &Failed) -> Option<u16> {
    match e {
        Failed::Refused(refused) => Some(refused.status),
        _ => None,
    }
}

/// An error as a message with the fix, the underlying error ([`Refused`], the exchange's, or
/// serde's) kept as its source: a refused token and a missing pull request are input the user
/// can fix (exit 2); the rest is a failure (exit 1).
fn failure(ctx: &GitHubContext, what: &str, e: Failed) -> Error {
    let text = describe(&e, &ctx.token);
    let error = match status(&e) {
        Some(401) => ForgeError::bad_input(format!(
            "{what} failed: GitHub refused the token ({text}); check github-token"
        )),
        Some(404) => ForgeError::bad_input(format!(
            "{what} failed ({text}): check pr-number and GITHUB_REPOSITORY, and that github-token can read {}/{}",
            ctx.owner, ctx.repo
        )),
        Some(_) => ForgeError::failure(format!("{what} failed: {text}")),
        None => ForgeError::failure(format!(
            "{what} failed: {text}; check the network and GITHUB_API_URL"
        )),
    };
    Error::GitHub(match e {
        Failed::Refused(r) => error.caused_by(r),
        Failed::Exchange(x) => error.caused_by(x),
        Failed::Decode(d) => error.caused_by(d),
    })
}

/// What went wrong, in one line: GitHub's status and message, or the transport's error chain.
/// No message carries request headers; the token is still scrubbed, in case.
fn describe(e: &Failed, token: &Secret) -> String {
    let mut text = match e {
        Failed::Refused(r) => r.to_string(),
        Failed::Exchange(x) => x.to_string(),
        Failed::Decode(d) => format!("GitHub's answer is not what layerpub expects: {d}"),
    };
    text = text.replace(['\n', '\r'], " ");
    if !token.expose().is_empty() {
        text = text.replace(token.expose(), "***");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Env {
        Env::from_pairs(pairs.iter().copied())
    }

    #[test]
    fn pr_number_setting_wins_and_needs_no_event() {
        let token = Secret::new("t");
        let ctx = context(
            &env(&[("GITHUB_REPOSITORY", "o/r"), ("GITHUB_EVENT_NAME", "push")]),
            Some(&token),
            Some(12),
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            (
                ctx.api_url.as_str(),
                ctx.owner.as_str(),
                ctx.repo.as_str(),
                ctx.pr
            ),
            ("https://api.github.com", "o", "r", 12)
        );
    }

    #[test]
    fn ghes_api_url_keeps_its_path_without_a_trailing_slash() {
        let ctx = context(
            &env(&[
                ("GITHUB_REPOSITORY", "o/r"),
                ("GITHUB_API_URL", "https://ghe.example.com/api/v3/"),
            ]),
            Some(&Secret::new("t")),
            Some(1),
        )
        .unwrap()
        .unwrap();
        assert_eq!(ctx.api_url, "https://ghe.example.com/api/v3");
    }

    #[test]
    fn no_event_and_no_setting_means_no_pull_request() {
        assert_eq!(context(&Env::default(), None, None).unwrap(), None);
    }

    #[test]
    fn a_pull_request_without_a_token_asks_for_github_token() {
        let e = context(&env(&[("GITHUB_REPOSITORY", "o/r")]), None, Some(3)).unwrap_err();
        assert!(e.to_string().starts_with("github-token: not set"), "{e}");
        assert!(e.to_string().contains("${{ github.token }}"), "{e}");
        assert_eq!(e.exit_code(), crate::domain::error::EXIT_BAD_INPUT);
        let empty = Secret::new("");
        assert!(context(&env(&[("GITHUB_REPOSITORY", "o/r")]), Some(&empty), Some(3)).is_err());
    }

    #[test]
    fn repository_names_that_would_leave_the_path_are_refused() {
        let t = Secret::new("t");
        for bad in ["o", "o/", "/r", "o/r/x", "../r", "o/..", "o/r?x"] {
            let e = context(&env(&[("GITHUB_REPOSITORY", bad)]), Some(&t), Some(1)).unwrap_err();
            assert!(
                e.to_string().starts_with("GITHUB_REPOSITORY:"),
                "{bad}: {e}"
            );
        }
        let e = context(
            &env(&[("GITHUB_REPOSITORY", "o/r"), ("GITHUB_API_URL", "ftp://x")]),
            Some(&t),
            Some(1),
        )
        .unwrap_err();
        assert!(e.to_string().starts_with("GITHUB_API_URL:"), "{e}");
    }

    #[test]
    fn pull_request_event_without_an_event_path_is_an_error() {
        let e = context(
            &env(&[("GITHUB_EVENT_NAME", "pull_request")]),
            Some(&Secret::new("t")),
            None,
        )
        .unwrap_err();
        assert!(
            e.to_string().starts_with("GITHUB_EVENT_PATH: not set"),
            "{e}"
        );
    }
}
