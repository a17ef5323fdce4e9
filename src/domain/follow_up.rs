//! What follows a publish: how functions are moved onto the new version and what happened to
//! each, and what pruning deleted. Pure data: configured by `config`, filled by `aws`, shown by
//! `render`.

/// How functions are moved onto the layer's new version.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RollOut {
    /// Add the layer to a function that does not use it yet (else such a function is reported
    /// and left alone).
    pub add_if_missing: bool,
    /// Publish a function version after the update (PublishVersion with RevisionId and
    /// CodeSha256 guards).
    pub publish_version: bool,
    /// Move (or create) this alias to the published function version. Only with
    /// publish_version.
    pub alias: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FunctionOutcome {
    Updated,
    AlreadyCurrent,
    NotUsingLayer,
}

impl FunctionOutcome {
    /// What happened, in the words the text report, the summary and the comment share.
    pub(crate) fn describe(&self) -> &'static str {
        match self {
            FunctionOutcome::Updated => "moved onto this version",
            FunctionOutcome::AlreadyCurrent => "already on this version",
            FunctionOutcome::NotUsingLayer => {
                "does not use this layer: left alone (add-to-functions adds it)"
            }
        }
    }
}

/// What happened to one function.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FunctionResult {
    /// As the user named it.
    pub function: String,
    /// What happened to the function's own (`$LATEST`) layer list.
    pub outcome: FunctionOutcome,
    /// The function's entry for this layer before the roll-out (the new version itself when
    /// already current); `None` when it did not use the layer.
    pub previous_layer_version_arn: Option<String>,
    /// The published function version, with `publish_version`.
    pub function_version_arn: Option<String>,
    pub alias_arn: Option<String>,
    /// 1 unless PreconditionFailed forced fresh reads.
    pub attempts: u32,
}

/// What a prune did (or, in a dry run, would do). Each list is sorted ascending.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
pub struct Pruned {
    /// Deleted (in a dry run: would be deleted).
    pub deleted: Vec<i64>,
    /// Old enough to delete, but used by a function version.
    pub protected_in_use: Vec<i64>,
    /// The newest `keep`, and the version this run published.
    pub kept: Vec<i64>,
}
