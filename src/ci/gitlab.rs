//! The merge-request note: one note per layer and merge request that layerpub keeps up to date
//! instead of adding a new one on every pipeline. The shell's edge: talks to GitLab's REST API
//! (v4). The rules shared with GitHub's comment (the marker, whose note is ours, the outcome)
//! are in [`crate::ci::forge`].
//!
//! The note is found by the layer's marker, its first line (an HTML comment is invisible in
//! the rendered note), *and* by its author being the token's user: someone quoting the marker
//! in their own note must not have it overwritten, nor stop ours from being updated.
//!
//! HTTP goes through the forges' client ([`crate::ci::rest`]). The token travels only in the
//! `PRIVATE-TOKEN` header (marked sensitive) and is held as a [`Secret`], so no `Debug`, log
//! line or error shows it.

use std::time::Duration;

use http::header::{HeaderMap, HeaderName, HeaderValue};
use http::{Method, StatusCode, Uri};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Deserialize;

use crate::aws::transport::Proxy;
use crate::ci::forge::{self, Outcome};
use crate::ci::rest::{self, Reply, Rest};
use crate::config::env::Env;
use crate::domain::error::{Error, ForgeError};
use crate::domain::secret::Secret;

/// Where and as whom to post: read from the job's environment by [`context`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitLabContext {
    /// `CI_API_V4_URL`, e.g. `https://gitlab.com/api/v4`, without a trailing `/`.
    pub api_url: String,
    /// `CI_PROJECT_ID`: a number, or a path such as `group/project` (encoded when sent).
    pub project_id: String,
    /// `CI_MERGE_REQUEST_IID`: the merge request's number within the project (`!42`).
    pub mr_iid: u64,
    /// `GITLAB_TOKEN`: a project (or personal) access token with the `api` scope.
    pub token: Secret,
    /// The proxy for an `https://` API URL (from `HTTPS_PROXY` / `NO_PROXY`).
    pub proxy: Proxy,
}

/// Why a token is needed and how to make one: said whenever the token is missing or refused.
const TOKEN_HELP: &str = "create a project access token with the `api` scope (Settings > Access \
    tokens, role Reporter or higher) and store it as a masked CI/CD variable named GITLAB_TOKEN, \
    not protected unless only protected branches run merge-request pipelines (the job's \
    CI_JOB_TOKEN cannot post notes); or set `comment: false` to skip the note";

/// Reads the GitLab context from the job's environment.
///
/// `Ok(None)` outside a merge-request pipeline (no `CI_MERGE_REQUEST_IID`): there is nothing to
/// comment on. Inside one, `CI_API_V4_URL`, `CI_PROJECT_ID` and `GITLAB_TOKEN` must be set;
/// a missing token is bad input whose message says how to create one. Call this only when
/// commenting is on. `CI_JOB_TOKEN` is never read: GitLab does not let it post notes, so using
/// it would only trade a clear error here for a 403 later.
pub fn context(env: &Env) -> Result<Option<GitLabContext>, Error> {
    let get = |name: &str| env.get(name);
    let Some(iid) = get("CI_MERGE_REQUEST_IID") else {
        return Ok(None);
    };
    let mr_iid = iid.parse::<u64>().map_err(|_| {
        Error::bad_input(format!(
            "CI_MERGE_REQUEST_IID: `{iid}` is not a merge request number"
        ))
    })?;
    let api_url = get("CI_API_V4_URL").ok_or_else(|| {
        Error::bad_input(
            "CI_API_V4_URL: not set in a merge-request pipeline; GitLab sets it in every job \
             (e.g. https://gitlab.com/api/v4): set it when running layerpub elsewhere",
        )
    })?;
    let api_url = api_url.trim_end_matches('/');
    check_api_url(api_url)?;
    let project_id = get("CI_PROJECT_ID").ok_or_else(|| {
        Error::bad_input(
            "CI_PROJECT_ID: not set in a merge-request pipeline; GitLab sets it in every job: \
             set it (the project's number or path) when running layerpub elsewhere",
        )
    })?;
    let token = get("GITLAB_TOKEN").ok_or_else(|| {
        Error::bad_input(format!(
            "GITLAB_TOKEN: not set, and layerpub comments on merge request !{mr_iid} in \
             merge-request pipelines; {TOKEN_HELP}"
        ))
    })?;
    Ok(Some(GitLabContext {
        api_url: api_url.to_owned(),
        project_id: project_id.to_owned(),
        mr_iid,
        token: Secret::new(token),
        proxy: Proxy::from_env(env),
    }))
}

/// In a push pipeline (a merge into the default branch, typically): the project and the pushed
/// commit, whose merged merge request [`merged_merge_request`] finds, so that its note can say
/// what was published. `Ok(None)` in other pipelines, or without GITLAB_TOKEN (a push has no
/// merge request to warn about).
pub fn push_context(env: &Env) -> Result<Option<(GitLabContext, String)>, Error> {
    let get = |name: &str| env.get(name);
    let (Some("push"), None, Some(sha), Some(token)) = (
        get("CI_PIPELINE_SOURCE"),
        get("CI_MERGE_REQUEST_IID"),
        get("CI_COMMIT_SHA"),
        get("GITLAB_TOKEN"),
    ) else {
        return Ok(None);
    };
    if !(sha.len() == 40 || sha.len() == 64) || !sha.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(Error::bad_input(format!(
            "CI_COMMIT_SHA: `{sha}` is not a commit hash; leave it to GitLab"
        )));
    }
    let (Some(api_url), Some(project_id)) = (get("CI_API_V4_URL"), get("CI_PROJECT_ID")) else {
        return Ok(None);
    };
    let api_url = api_url.trim_end_matches('/');
    check_api_url(api_url)?;
    let ctx = GitLabContext {
        api_url: api_url.to_owned(),
        project_id: project_id.to_owned(),
        mr_iid: 0,
        token: Secret::new(token),
        proxy: Proxy::from_env(env),
    };
    Ok(Some((ctx, sha.to_ascii_lowercase())))
}

/// A merge request as `GET /projects/:id/repository/commits/:sha/merge_requests` lists it.
#[derive(Debug, Deserialize)]
struct MergeRequest {
    iid: u64,
    #[serde(default)]
    state: String,
    #[serde(default)]
    merge_commit_sha: Option<String>,
    #[serde(default)]
    squash_commit_sha: Option<String>,
    /// The source branch's head: the pushed commit after a fast-forward merge.
    #[serde(default)]
    sha: Option<String>,
}

/// The merge request that was merged as commit `sha` (its merge or squash commit, or its head
/// after a fast-forward merge), with `ctx` pointing at it; `None` when the commit is no merge
/// request's merge (a direct push). A 403 is a warning like any refused note.
pub async fn merged_merge_request(
    ctx: GitLabContext,
    sha: &str,
) -> Result<Option<GitLabContext>, Error> {
    let api = Api::new(&ctx)?;
    let path = format!(
        "/projects/{}/repository/commits/{sha}/merge_requests",
        utf8_percent_encode(&ctx.project_id, PATH_SEGMENT)
    );
    let answer = match api.send(Method::GET, &path, None).await {
        Ok(answer) => answer,
        Err(Failure::Forbidden(why)) => return Err(Error::GitLab(ForgeError::failure(why))),
        Err(Failure::Error(e)) => return Err(e),
    };
    let requests: Vec<MergeRequest> = json(&answer, &path)?;
    let is = |v: &Option<String>| v.as_deref().is_some_and(|v| v.eq_ignore_ascii_case(sha));
    let iid = requests
        .iter()
        .find(|m| {
            m.state == "merged"
                && (is(&m.merge_commit_sha)
                    || is(&m.squash_commit_sha)
                    || (m.merge_commit_sha.is_none() && is(&m.sha)))
        })
        .map(|m| m.iid);
    Ok(iid.map(|mr_iid| GitLabContext { mr_iid, ..ctx }))
}

fn check_api_url(url: &str) -> Result<(), Error> {
    let bad = || {
        Error::bad_input(format!(
            "CI_API_V4_URL: `{url}` is not an http:// or https:// URL"
        ))
    };
    let uri: Uri = url.parse().map_err(|_| bad())?;
    match (uri.scheme_str(), uri.authority()) {
        (Some("http" | "https"), Some(_)) => Ok(()),
        _ => Err(bad()),
    }
}

/// Creates or updates this layer's note on the merge request, so that each merge request
/// carries one note per layer from layerpub that always shows the latest run.
///
/// Reads `GET /user` (our username) and the merge request's notes, oldest first, page by page
/// until our note is found; then `POST`s a new note, `PUT`s the new body into ours, or writes
/// nothing when the body is already there. `body` must start with the layer's marker
/// ([`forge::marker`]), or the next run could not find the note again: checked before any
/// request. A 403 gives [`Outcome::Forbidden`]; a 401 is bad input about the token; other
/// failures are [`Error::GitLab`].
pub async fn upsert_note(
    ctx: &GitLabContext,
    layer_name: &str,
    body: &str,
) -> Result<Outcome, Error> {
    let marker =
        forge::checked_marker(layer_name, body, "merge-request note").map_err(Error::GitLab)?;
    let api = Api::new(ctx)?;
    match upsert(&api, &marker, body).await {
        Ok(outcome) => Ok(outcome),
        Err(Failure::Forbidden(why)) => Ok(Outcome::Forbidden(why)),
        Err(Failure::Error(e)) => Err(e),
    }
}

async fn upsert(api: &Api<'_>, marker: &str, body: &str) -> Result<Outcome, Failure> {
    let me = api.username().await?;
    let notes = api.notes_path();
    let payload = serde_json::json!({ "body": body });
    match find_note(api, &me, marker).await? {
        // GitLab may drop trailing white space from what it stores: compared without it, so an
        // unchanged note is not rewritten on every run.
        Some(note) if forge::same_body(&note.body, body) => Ok(Outcome::Unchanged(note.id)),
        Some(note) => {
            let path = format!("{notes}/{}", note.id);
            let answer = api.send(Method::PUT, &path, Some(&payload)).await?;
            Ok(Outcome::Updated(json::<Note>(&answer, &path)?.id))
        }
        None => {
            let answer = api.send(Method::POST, &notes, Some(&payload)).await?;
            Ok(Outcome::Created(json::<Note>(&answer, &notes)?.id))
        }
    }
}

/// At most this many pages of 100 notes are read (10,000 notes) before giving up.
const MAX_PAGES: usize = 100;

/// Our oldest note carrying the marker, reading the pages in order and stopping at the first.
async fn find_note(api: &Api<'_>, me: &str, marker: &str) -> Result<Option<Note>, Failure> {
    let first = format!("{}?per_page=100&sort=asc", api.notes_path());
    let mut next = Some(first.clone());
    let mut pages = 0;
    while let Some(path) = next.take() {
        if pages == MAX_PAGES {
            return Err(Failure::Error(Error::GitLab(ForgeError::failure(format!(
                "merge request !{} has more than {} notes; layerpub stopped looking for its own",
                api.ctx.mr_iid,
                MAX_PAGES * 100
            )))));
        }
        pages += 1;
        let answer = api.send(Method::GET, &path, None).await?;
        let page: Vec<Note> = json(&answer, &path)?;
        if let Some(note) = page.into_iter().find(|n| n.is_ours(me, marker)) {
            return Ok(Some(note));
        }
        next = next_page(&answer.headers, &first, &api.ctx.api_url)?;
    }
    Ok(None)
}

/// The next page's path (below the API URL), from `X-Next-Page` (offset pagination) or else
/// the `Link: <…>; rel="next"` header (also used by keyset pagination).
///
/// `X-Next-Page` is applied to our own first-page path. A `Link` is followed only when it
/// points below our API URL: the token goes with every request, and must never be sent to
/// another host because a header said so.
fn next_page(headers: &HeaderMap, first: &str, api_url: &str) -> Result<Option<String>, Failure> {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    if let Some(n) = header("x-next-page").filter(|n| !n.is_empty()) {
        return match n.parse::<u64>() {
            Ok(n) => Ok(Some(format!("{first}&page={n}"))),
            Err(e) => Err(Failure::Error(Error::GitLab(
                ForgeError::failure(format!(
                    "GitLab answered with X-Next-Page `{n}`, which is not a page number"
                ))
                .caused_by(e),
            ))),
        };
    }
    let Some(link) = header("link").and_then(rest::next_link) else {
        return Ok(None);
    };
    match link.strip_prefix(api_url) {
        Some(rest) if rest.starts_with('/') => Ok(Some(rest.to_owned())),
        _ => Err(Failure::Error(Error::GitLab(ForgeError::failure(format!(
            "GitLab's next page of notes is at `{link}`, outside {api_url}; layerpub does not \
             send the token there (is CI_API_V4_URL the instance's external URL?)"
        ))))),
    }
}

/// A note as GitLab lists it; only what we read.
#[derive(Debug, Deserialize)]
struct Note {
    id: u64,
    #[serde(default)]
    body: String,
    author: Option<User>,
    /// System notes ("added 1 commit") are GitLab's, never ours.
    #[serde(default)]
    system: bool,
}

impl Note {
    fn is_ours(&self, me: &str, marker: &str) -> bool {
        !self.system
            && self.author.as_ref().is_some_and(|a| a.username == me)
            && forge::carries(&self.body, marker)
    }
}

#[derive(Debug, Deserialize)]
struct User {
    username: String,
}

/// A request's end when it did not succeed: a 403 (reported, not failed) or an error.
enum Failure {
    Forbidden(String),
    Error(Error),
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Failure::Error(e)
    }
}

/// Project ids that are paths (`group/sub/project`) go into one path segment: everything but
/// letters, digits and `-._~` is percent-encoded, `/` as `%2F` as GitLab requires.
const PATH_SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Pauses before the second and third attempt of a request that may be repeated.
const RETRY_DELAYS: [Duration; 2] = [Duration::from_millis(500), Duration::from_secs(2)];

/// One merge request's notes API: the forges' client with the token's header.
struct Api<'a> {
    ctx: &'a GitLabContext,
    rest: Rest,
}

/// A 2xx reply.
type Answer = Reply;

/// The body of a 2xx reply as `T`, or an error saying the answer to `path` was not GitLab's.
fn json<T: for<'de> Deserialize<'de>>(answer: &Answer, path: &str) -> Result<T, Error> {
    answer.json().map_err(|e| {
        Error::GitLab(
            ForgeError::failure(format!(
                "GitLab's answer to {path} is not what layerpub expects: {e}"
            ))
            .caused_by(e),
        )
    })
}

impl<'a> Api<'a> {
    fn new(ctx: &'a GitLabContext) -> Result<Self, Error> {
        let token = HeaderValue::from_str(ctx.token.expose()).map_err(|_| {
            Error::bad_input(
                "GITLAB_TOKEN: contains characters that cannot be sent in an HTTP header; \
                 copy the token again",
            )
        })?;
        let rest = Rest::new(
            "GitLab",
            &ctx.api_url,
            (HeaderName::from_static("private-token"), token),
            "application/json",
            &RETRY_DELAYS,
            &ctx.proxy,
        )
        .map_err(|m| Error::GitLab(ForgeError::failure(m)))?;
        Ok(Api { ctx, rest })
    }

    /// `/projects/:id/merge_requests/:iid/notes`, below the API URL.
    fn notes_path(&self) -> String {
        format!(
            "/projects/{}/merge_requests/{}/notes",
            utf8_percent_encode(&self.ctx.project_id, PATH_SEGMENT),
            self.ctx.mr_iid
        )
    }

    /// The token's user name: notes are matched by it.
    async fn username(&self) -> Result<String, Failure> {
        let answer = self.send(Method::GET, "/user", None).await?;
        Ok(json::<User>(&answer, "/user")?.username)
    }

    /// Sends one request (retried by [`Rest::send`] where that is safe) and sorts out the
    /// status.
    async fn send(
        &self,
        method: Method,
        path: &str,
        json: Option<&serde_json::Value>,
    ) -> Result<Answer, Failure> {
        let what = format!("{method} {path}");
        match self.rest.send(method, path, json).await {
            Ok(reply) => check_status(self.ctx, &what, reply),
            Err(e) => {
                let message = format!(
                    "{what} on {} failed: {e}; check the network and CI_API_V4_URL",
                    self.rest.api_url()
                );
                Err(Failure::Error(Error::GitLab(
                    ForgeError::failure(message).caused_by(e),
                )))
            }
        }
    }
}

/// 2xx → the answer; 403 → [`Failure::Forbidden`]; anything else → an error that says what
/// to check. GitLab's own message is quoted; it never contains the token.
fn check_status(ctx: &GitLabContext, what: &str, reply: Reply) -> Result<Answer, Failure> {
    let status = reply.status;
    if status.is_success() {
        return Ok(reply);
    }
    let said = reply
        .message()
        .map(|m| format!(" ({m})"))
        .unwrap_or_default();
    let answered = format!("GitLab answered {status}{said} to {what}");
    Err(match status {
        StatusCode::FORBIDDEN => Failure::Forbidden(format!(
            "{answered}: the token in GITLAB_TOKEN may not read or write notes on merge request \
             !{}; give it the `api` scope and at least the Reporter role",
            ctx.mr_iid
        )),
        StatusCode::UNAUTHORIZED => Failure::Error(Error::bad_input(format!(
            "{answered}: GITLAB_TOKEN is not a valid token (expired, revoked or mistyped); \
             {TOKEN_HELP}"
        ))),
        StatusCode::NOT_FOUND => Failure::Error(Error::GitLab(ForgeError::failure(format!(
            "{answered}: project {} or merge request !{} does not exist, or the token's user \
             cannot see it",
            ctx.project_id, ctx.mr_iid
        )))),
        _ => Failure::Error(Error::GitLab(
            ForgeError::failure(answered).caused_by(rest::Refused::of(&reply)),
        )),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    const API: &str = "https://gitlab.example.com/api/v4";
    const FIRST: &str = "/projects/7/merge_requests/3/notes?per_page=100&sort=asc";

    fn next(h: &HeaderMap) -> Option<String> {
        match next_page(h, FIRST, API) {
            Ok(p) => p,
            Err(Failure::Error(e)) => panic!("{e}"),
            Err(Failure::Forbidden(f)) => panic!("{f}"),
        }
    }

    #[test]
    fn x_next_page_is_applied_to_our_own_path() {
        assert_eq!(
            next(&headers(&[("x-next-page", "2")])).as_deref(),
            Some("/projects/7/merge_requests/3/notes?per_page=100&sort=asc&page=2")
        );
        assert_eq!(next(&headers(&[("x-next-page", "")])), None);
        assert_eq!(next(&headers(&[])), None);
    }

    #[test]
    fn link_rel_next_is_followed_only_below_the_api_url() {
        let link = format!(
            "<{API}/projects/7/merge_requests/3/notes?page=1&per_page=100>; rel=\"prev\", \
             <{API}/projects/7/merge_requests/3/notes?cursor=abc&per_page=100>; rel=\"next\""
        );
        assert_eq!(
            next(&headers(&[("link", &link)])).as_deref(),
            Some("/projects/7/merge_requests/3/notes?cursor=abc&per_page=100")
        );
        let elsewhere = "<https://evil.example/api/v4/x?page=2>; rel=\"next\"";
        assert!(next_page(&headers(&[("link", elsewhere)]), FIRST, API).is_err());
        let prefix_trick = format!("<{API}.evil.example/x>; rel=\"next\"");
        assert!(next_page(&headers(&[("link", &prefix_trick)]), FIRST, API).is_err());
        let only_prev = format!("<{API}/x?page=1>; rel=\"prev\"");
        assert_eq!(next(&headers(&[("link", &only_prev)])), None);
    }

    #[test]
    fn project_paths_are_one_encoded_segment() {
        let ctx = GitLabContext {
            api_url: API.into(),
            project_id: "group/sub-group/my.project".into(),
            mr_iid: 5,
            token: Secret::new("x"),
            proxy: Proxy::default(),
        };
        let api = Api::new(&ctx).unwrap();
        assert_eq!(
            api.notes_path(),
            "/projects/group%2Fsub-group%2Fmy.project/merge_requests/5/notes"
        );
    }
}
