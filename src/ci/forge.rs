//! One forge: the sticky pull-request comment (GitHub) and the merge-request note (GitLab)
//! behind one type. Which forge a run comments on ([`Comments::for_run`]), one [`Outcome`],
//! one marker rule ([`marker`], [`carries`]) and one rule for "already says this"
//! ([`same_body`]); the answers of each stay in its own module (`github`, `gitlab`),
//! over one HTTP client ([`crate::ci::rest`]), as release-plz keeps one `GitForge` enum over its clients.
//!
//! On both, a layer's comment is found by its first line, the hidden marker, *and* by its
//! author being the token's user: a comment someone else wrote with the same marker (quoted,
//! or forged) is never edited. A refused write (403: a fork's read-only token, a token without
//! the scope) is [`Outcome::Forbidden`], a warning for the caller, not a failed run.

use crate::ci::{github, gitlab};
use crate::config::RunConfig;
use crate::config::env::Env;
use crate::domain::error::Error;
use crate::domain::error::ForgeError;

/// Where a run's comments go.
#[derive(Debug)]
pub(crate) enum Comments {
    /// Comments off (`comment: false`), or not a GitHub or GitLab job.
    Off,
    /// On GitHub, with no pull request for this event (a tag, a schedule, a push without a
    /// token).
    NoPullRequest,
    /// Comments are on, but cannot be written (no token, a broken event file): the warning,
    /// which says what to set. Never a reason to fail or skip a publish.
    Unavailable(String),
    /// The pull or merge request this run comments on.
    To(Forge),
    /// A push of commit `.1`: the comment goes to the pull or merge request merged as that
    /// commit, if any, found after publishing ([`Forge::merged_as`]).
    AfterMerge(Forge, String),
}

/// A pull request on GitHub or a merge request on GitLab, with the token that writes there.
#[derive(Debug)]
pub(crate) enum Forge {
    GitHub(github::GitHubContext),
    GitLab(gitlab::GitLabContext),
}

/// What [`Forge::upsert`] did; each carries the comment's (or note's) id, or the refusal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// No comment of ours had the marker: this one was created.
    Created(u64),
    /// Our comment had another body: it was replaced.
    Updated(u64),
    /// Our comment already had this body: nothing was written.
    Unchanged(u64),
    /// The forge answered 403 to a write (GitHub: a fork's read-only token, or no
    /// `pull-requests: write`) or to any call (GitLab: the token's scope or role): a warning
    /// for the caller, not a failure. The text says what to change.
    Forbidden(String),
}

impl Comments {
    /// The pull request (GitHub) or merge request (GitLab) the run comments on, from the
    /// runner's variables and event file and the run-level settings in `run` (`comment`,
    /// `github-token`, `pr-number`). Read before anything is published, but the comment is a
    /// report: whatever is missing or wrong here (no token, a malformed event file) is
    /// [`Comments::Unavailable`], a warning, and the run's exit code stays the publish's.
    pub(crate) fn for_run(env: &Env, run: &RunConfig) -> Comments {
        if !run.comment {
            return Comments::Off;
        }
        match Comments::find(env, run) {
            Ok(comments) => comments,
            Err(e) => Comments::Unavailable(e.to_string()),
        }
    }

    fn find(env: &Env, run: &RunConfig) -> Result<Comments, Error> {
        let token = run.github_token.as_ref();
        if env.on_github() {
            if let Some(ctx) = github::context(env, token, run.pr_number)? {
                return Ok(Comments::To(Forge::GitHub(ctx)));
            }
            return Ok(match github::push_context(env, token)? {
                Some((ctx, sha)) => Comments::AfterMerge(Forge::GitHub(ctx), sha),
                None => Comments::NoPullRequest,
            });
        }
        if !env.is_true("GITLAB_CI") {
            return Ok(Comments::Off);
        }
        if let Some(mut ctx) = gitlab::context(env)? {
            if let Some(n) = run.pr_number {
                ctx.mr_iid = n;
            }
            return Ok(Comments::To(Forge::GitLab(ctx)));
        }
        Ok(match gitlab::push_context(env)? {
            Some((ctx, sha)) => Comments::AfterMerge(Forge::GitLab(ctx), sha),
            None => Comments::Off,
        })
    }
}

impl Forge {
    /// The forge pointed at the pull or merge request merged as commit `sha`; `None` when the
    /// commit is none's merge (a direct push).
    pub(crate) async fn merged_as(self, sha: &str) -> Result<Option<Forge>, Error> {
        Ok(match self {
            Forge::GitHub(ctx) => github::merged_pull_request(ctx, sha)
                .await?
                .map(Forge::GitHub),
            Forge::GitLab(ctx) => gitlab::merged_merge_request(ctx, sha)
                .await?
                .map(Forge::GitLab),
        })
    }

    /// Creates this layer's comment, or edits ours in place; writes nothing when ours already
    /// says `body`. `body` must start with the layer's [`marker`].
    pub(crate) async fn upsert(&self, layer_name: &str, body: &str) -> Result<Outcome, Error> {
        match self {
            Forge::GitHub(ctx) => github::upsert_comment(ctx, layer_name, body).await,
            Forge::GitLab(ctx) => gitlab::upsert_note(ctx, layer_name, body).await,
        }
    }

    /// What the forge calls the thing written, for the log: `pull request comment 41 created`.
    pub(crate) fn noun(&self) -> &'static str {
        match self {
            Forge::GitHub(_) => "pull request comment",
            Forge::GitLab(_) => "merge request note",
        }
    }
}

/// The hidden first line of a layer's comment or note, `<!-- layerpub:NAME -->`: the one rule
/// both forges find their comment by (composed by the renderer, which writes it).
pub fn marker(layer_name: &str) -> String {
    crate::render::comment::marker(layer_name)
}

/// Whether `body` is a comment of layer `marker` by its text: its first line is the marker. The
/// same text further down (a lock-file line shown in another layer's comment) does not count.
pub(crate) fn carries(body: &str, marker: &str) -> bool {
    body.lines().next().map(str::trim_end) == Some(marker)
}

/// The layer's marker, once `body` is checked to start with it: a comment without it could not
/// be found again, and every later run would add another. `what` names the comment in the
/// message.
pub(crate) fn checked_marker(
    layer_name: &str,
    body: &str,
    what: &str,
) -> Result<String, ForgeError> {
    let marker = marker(layer_name);
    if carries(body, &marker) {
        Ok(marker)
    } else {
        Err(ForgeError::failure(format!(
            "the {what} of layer {layer_name} must start with its marker `{marker}`, or the next run would add a second {what} instead of updating this one"
        )))
    }
}

/// Bodies compare equal up to line endings and trailing white space, which either forge may
/// normalise: an unchanged result must not be rewritten on every run.
pub(crate) fn same_body(existing: &str, body: &str) -> bool {
    existing.replace("\r\n", "\n").trim_end() == body.replace("\r\n", "\n").trim_end()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_comment_is_ours_by_its_first_line_only() {
        let m = marker("deps");
        assert!(carries(&format!("{m}\n### deps"), &m));
        assert!(carries(&format!("{m}  \r\n### deps"), &m));
        assert!(!carries(&format!("### other\n{m}"), &m));
        assert!(!carries(&format!("{}\n{m}", marker("other")), &m));
    }

    #[test]
    fn a_body_that_does_not_start_with_its_marker_is_refused() {
        let m = marker("deps");
        assert_eq!(
            checked_marker("deps", &format!("{m}\nbody"), "note").unwrap(),
            m
        );
        let e = checked_marker("deps", &format!("body\n{m}"), "note").unwrap_err();
        assert!(e.message.contains("must start with its marker"), "{e}");
        // An empty name still has a marker of its own, never an empty one.
        assert!(checked_marker("", "anything", "note").is_err());
    }

    #[test]
    fn same_body_ignores_line_endings_and_trailing_space() {
        assert!(same_body("a\r\nb\r\n", "a\nb\n"));
        assert!(same_body("a\nb  \n\n", "a\nb"));
        assert!(!same_body("a\nb", "a\nc"));
    }

    fn run_settings(comment: bool, pr_number: Option<u64>) -> RunConfig {
        let flags = crate::config::settings::Settings {
            layer_name: Some("deps".into()),
            path: Some("layer".into()),
            comment: Some(comment),
            pr_number,
            ..Default::default()
        };
        crate::config::resolve(None, Default::default(), flags).unwrap()
    }

    fn env(pairs: &[(&str, &str)]) -> Env {
        Env::from_pairs(pairs.iter().copied())
    }

    #[test]
    fn the_forge_is_the_job_s_platform() {
        let gitlab = env(&[
            ("GITLAB_CI", "true"),
            ("CI_API_V4_URL", "https://gitlab.example.com/api/v4"),
            ("CI_PROJECT_ID", "5"),
            ("CI_MERGE_REQUEST_IID", "3"),
            ("GITLAB_TOKEN", "t"),
        ]);
        match Comments::for_run(&gitlab, &run_settings(true, Some(9))) {
            Comments::To(f @ Forge::GitLab(_)) => {
                assert_eq!(f.noun(), "merge request note");
                let Forge::GitLab(ctx) = f else {
                    unreachable!()
                };
                assert_eq!(ctx.mr_iid, 9, "pr-number wins over the pipeline's");
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            Comments::for_run(&gitlab, &run_settings(false, None)),
            Comments::Off
        ));
        let github = env(&[("GITHUB_ACTIONS", "true"), ("GITHUB_EVENT_NAME", "push")]);
        assert!(matches!(
            Comments::for_run(&github, &run_settings(true, None)),
            Comments::NoPullRequest
        ));
        assert!(matches!(
            Comments::for_run(&env(&[]), &run_settings(true, None)),
            Comments::Off
        ));
    }

    #[test]
    fn a_comment_that_cannot_be_written_is_a_warning_saying_what_to_set() {
        let gitlab = env(&[
            ("GITLAB_CI", "true"),
            ("CI_API_V4_URL", "https://gitlab.example.com/api/v4"),
            ("CI_PROJECT_ID", "5"),
            ("CI_MERGE_REQUEST_IID", "3"),
        ]);
        match Comments::for_run(&gitlab, &run_settings(true, None)) {
            Comments::Unavailable(why) => {
                assert!(why.starts_with("GITLAB_TOKEN: not set"), "{why}");
                assert!(why.contains("comment: false"), "{why}");
            }
            other => panic!("{other:?}"),
        }
        let github = env(&[
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_EVENT_NAME", "pull_request"),
            ("GITHUB_REPOSITORY", "o/r"),
        ]);
        match Comments::for_run(&github, &run_settings(true, None)) {
            Comments::Unavailable(why) => {
                assert!(why.starts_with("GITHUB_EVENT_PATH: not set"), "{why}")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_push_with_a_token_looks_for_the_merged_request_of_its_commit() {
        let sha = "0123456789abcdef0123456789ABCDEF01234567";
        let gitlab = env(&[
            ("GITLAB_CI", "true"),
            ("CI_PIPELINE_SOURCE", "push"),
            ("CI_COMMIT_SHA", sha),
            ("CI_API_V4_URL", "https://gitlab.example.com/api/v4"),
            ("CI_PROJECT_ID", "5"),
            ("GITLAB_TOKEN", "t"),
        ]);
        match Comments::for_run(&gitlab, &run_settings(true, None)) {
            Comments::AfterMerge(Forge::GitLab(_), s) => assert_eq!(s, sha.to_lowercase()),
            other => panic!("{other:?}"),
        }
        let mut settings = run_settings(true, None);
        settings.github_token = Some(crate::domain::secret::Secret::new("t"));
        let github = env(&[
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_EVENT_NAME", "push"),
            ("GITHUB_SHA", sha),
            ("GITHUB_REPOSITORY", "o/r"),
        ]);
        assert!(matches!(
            Comments::for_run(&github, &settings),
            Comments::AfterMerge(Forge::GitHub(_), _)
        ));
        // No token on a push: nothing to find, nothing to warn about.
        let no_token: Vec<(&str, &str)> = [
            ("GITLAB_CI", "true"),
            ("CI_PIPELINE_SOURCE", "push"),
            ("CI_COMMIT_SHA", sha),
        ]
        .to_vec();
        assert!(matches!(
            Comments::for_run(&env(&no_token), &run_settings(true, None)),
            Comments::Off
        ));
    }
}
