//! Rolling functions onto a layer's new version: each function's `Layers` list gets the new
//! version in place of the old one, then optionally a function version is published and an
//! alias moved to it.
//!
//! The list arithmetic ([`new_layers`]) is pure. [`roll_out`] is the shell around it: read,
//! write guarded by the `RevisionId` just read, wait for Lambda to apply the update, publish.
//! Another deployment touching the function in between makes Lambda answer
//! `PreconditionFailedException`; the roll-out then starts over from a fresh read, because the
//! other writer may have changed the very list we computed from.

use std::time::Duration;

use aws_sdk_lambda::Client;
use aws_sdk_lambda::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_lambda::types::{LastUpdateStatus, State};
use tokio::time::Instant;

use crate::aws::{sdk_error, sdk_error_with_fix};
use crate::domain::arn::{LayerArn, LayerVersionArn};
use crate::domain::error::Error;
use crate::domain::follow_up::{FunctionOutcome, FunctionResult, RollOut};
use crate::domain::interrupt::Interrupt;

/// Lambda's limit on layers per function.
pub(crate) const MAX_LAYERS: usize = 5;

/// Reads of the function before giving up on concurrent writers.
const MAX_ATTEMPTS: u32 = 3;

/// How long Lambda may take to apply an update before we stop waiting. Updates usually take
/// seconds; VPC functions can take minutes.
const SETTLE_LIMIT: Duration = Duration::from_secs(300);
const FIRST_POLL_DELAY: Duration = Duration::from_millis(500);
const MAX_POLL_DELAY: Duration = Duration::from_secs(5);

/// The permissions a roll-out needs, for the message when one is missing.
const PERMISSIONS_HINT: &str = "check that the role allows lambda:GetFunctionConfiguration, lambda:UpdateFunctionConfiguration, lambda:PublishVersion and, with an alias, lambda:GetAlias, lambda:CreateAlias, lambda:UpdateAlias on the function";

/// Whether `entry` (a layer version ARN from a function's configuration, as Lambda answered
/// it) is a version of `layer_arn`. The whole layer ARN must match, so `deps` never matches
/// `deps-extra`; an entry that is not a layer version ARN is nobody's, and is kept as it is.
fn is_version_of(entry: &str, layer_arn: &LayerArn) -> bool {
    LayerVersionArn::parse(entry).is_some_and(|v| v.is_version_of(layer_arn))
}

/// Pure: the function's new Layers list: `layer_arn`'s entry (any version of that layer,
/// matched on the ARN without the version) replaced by `version_arn` in place, other layers kept
/// in order; appended when absent and `add_if_missing`. Returns None when nothing would change
/// or the layer is absent and not to be added. Lambda allows at most 5 layers per function:
/// adding a 6th is an error with a clear message.
pub(crate) fn new_layers(
    current: &[String],
    layer_arn: &LayerArn,
    version_arn: &LayerVersionArn,
    add_if_missing: bool,
) -> Result<Option<Vec<String>>, String> {
    if !version_arn.is_version_of(layer_arn) {
        return Err(format!(
            "{version_arn} is not a version of the layer {layer_arn}"
        ));
    }
    let mut replaced = false;
    let mut layers = Vec::with_capacity(current.len() + 1);
    for entry in current {
        if !is_version_of(entry, layer_arn) {
            layers.push(entry.clone());
        } else if !replaced {
            layers.push(version_arn.to_string());
            replaced = true;
        }
        // A second version of the same layer: Lambda refuses such a list, so it is dropped.
    }
    if !replaced {
        if !add_if_missing {
            return Ok(None);
        }
        if current.len() >= MAX_LAYERS {
            return Err(format!(
                "cannot add {version_arn}: the function already uses {} layers, Lambda's limit is {MAX_LAYERS}; remove a layer from it or drop it from `functions`",
                current.len()
            ));
        }
        layers.push(version_arn.to_string());
    }
    Ok((layers != current).then_some(layers))
}

/// The function's current entry for `layer_arn`, if it uses the layer.
fn current_entry(layers: &[String], layer_arn: &LayerArn) -> Option<String> {
    layers.iter().find(|e| is_version_of(e, layer_arn)).cloned()
}

/// Reads the function's configuration (GetFunctionConfiguration), computes new_layers, and when
/// it changes calls UpdateFunctionConfiguration(Layers, RevisionId = the one just read), then
/// waits until LastUpdateStatus is Successful. With publish_version: PublishVersion guarded by
/// the RevisionId and CodeSha256 read after the update; with alias: UpdateAlias, or
/// CreateAlias when the alias does not exist. A PreconditionFailedException restarts from a
/// fresh read, at most 3 attempts in all.
///
/// When the function already has exactly `version_arn`: AlreadyCurrent and no write; but with
/// publish_version + alias, the alias is still made to point at a published version that has
/// `version_arn`, so a re-run after a failure between the update and PublishVersion converges.
pub async fn roll_out(
    lambda: &Client,
    function: &str,
    layer_arn: &LayerArn,
    version_arn: &LayerVersionArn,
    opts: &RollOut,
    interrupt: &Interrupt,
) -> Result<FunctionResult, Error> {
    let region = lambda
        .config()
        .region()
        .map_or_else(|| "(no region)".to_owned(), |r| r.to_string());
    let run = Run {
        lambda,
        function,
        region: &region,
        layer_arn,
        version_arn,
        opts,
        interrupt,
    };
    // Set once an attempt has written the new list: a later attempt then finds the function
    // current, yet must still publish, and reports what the list held before our write.
    let mut written: Option<Option<String>> = None;
    let mut last_conflict = String::new();
    for attempt in 1..=MAX_ATTEMPTS {
        interrupt.check()?;
        match run.attempt(&mut written).await {
            Ok(mut result) => {
                result.attempts = attempt;
                return Ok(result);
            }
            Err(Failure::Fatal(e)) => return Err(e),
            Err(Failure::Conflict(what)) => {
                tracing::warn!(function, attempt, "{what}; reading the function again");
                last_conflict = what;
            }
        }
    }
    Err(Error::aws(format!(
        "function {function}: another deployment kept changing it during the roll-out onto {version_arn} ({MAX_ATTEMPTS} attempts, the last: {last_conflict}); {} re-run once the other deployment has finished",
        if written.is_some() {
            "its layers were updated, but publishing the version or moving the alias did not complete;"
        } else {
            "its layers were not changed;"
        }
    )))
}

/// The plan of [`roll_out`], which a `plan` shows without writing: one read of the function,
/// then the same decision. `version_arn` is the version that would stand, possibly one not
/// published yet (a plan that would publish): a function on an older version is `Updated`.
/// `None` is a plan of the layer's first version, whose ARN is not known yet: no function can
/// use it, so the function would get it only with `add-to-functions` (and was already checked
/// to exist by the plan's preflight).
pub(crate) async fn plan_move(
    lambda: &Client,
    function: &str,
    version_arn: Option<&LayerVersionArn>,
    opts: &RollOut,
) -> Result<FunctionResult, Error> {
    let Some(version_arn) = version_arn else {
        return Ok(FunctionResult {
            function: function.to_owned(),
            outcome: if opts.add_if_missing {
                FunctionOutcome::Updated
            } else {
                FunctionOutcome::NotUsingLayer
            },
            previous_layer_version_arn: None,
            function_version_arn: None,
            alias_arn: None,
            attempts: 1,
        });
    };
    let region = lambda
        .config()
        .region()
        .map_or_else(|| "(no region)".to_owned(), |r| r.to_string());
    let never = Interrupt::never();
    let run = Run {
        lambda,
        function,
        region: &region,
        layer_arn: version_arn.layer(),
        version_arn,
        opts,
        interrupt: &never,
    };
    let current = run.read(None).await.map_err(|f| match f {
        Failure::Fatal(e) => e,
        Failure::Conflict(what) => Error::aws(what),
    })?;
    Ok(run.decide(&current.layers)?.1)
}

/// Checks that the function exists, before a layer version is published: a misspelt name then
/// fails the run before anything is written rather than after.
pub(crate) async fn preflight(lambda: &Client, function: &str) -> Result<(), Error> {
    match lambda
        .get_function_configuration()
        .function_name(function)
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_not_found_exception()) =>
        {
            let region = lambda
                .config()
                .region()
                .map_or_else(|| "(no region)".to_owned(), |r| r.to_string());
            Err(Error::bad_input(format!(
                "function {function} not found in region {region}: check `functions` (the name or ARN, and that the function is in the layer's region); nothing was published"
            )))
        }
        Err(e) => Err(sdk_error(
            &format!("GetFunctionConfiguration on function {function}"),
            e,
        )),
    }
}

/// Why one attempt stopped.
enum Failure {
    /// Someone else changed the function between our read and our write: worth a fresh read.
    Conflict(String),
    Fatal(Error),
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Failure::Fatal(e)
    }
}

/// What a roll-out needs from a function's configuration.
struct Snapshot {
    layers: Vec<String>,
    revision_id: Option<String>,
    code_sha256: Option<String>,
    function_arn: Option<String>,
    /// An update (ours or another's) or the function's creation is still being applied.
    busy: bool,
    /// Why Lambda could not apply the last update, when it failed.
    failed: Option<String>,
}

/// An alias as GetAlias reports it.
struct Alias {
    arn: String,
    version: String,
}

/// A published function version.
struct Published {
    version: String,
    arn: Option<String>,
}

/// One function's roll-out: the inputs every step needs.
struct Run<'a> {
    lambda: &'a Client,
    function: &'a str,
    region: &'a str,
    layer_arn: &'a LayerArn,
    version_arn: &'a LayerVersionArn,
    opts: &'a RollOut,
    interrupt: &'a Interrupt,
}

impl Run<'_> {
    /// The decision shared by the roll-out and its plan: the function's new layer list (None:
    /// nothing to write) and what the result says before any write.
    fn decide(&self, layers: &[String]) -> Result<(Option<Vec<String>>, FunctionResult), Error> {
        let previous = current_entry(layers, self.layer_arn);
        let change = new_layers(
            layers,
            self.layer_arn,
            self.version_arn,
            self.opts.add_if_missing,
        )
        .map_err(|m| Error::bad_input(format!("function {}: {m}", self.function)))?;
        let outcome = match (&change, &previous) {
            (Some(_), _) => FunctionOutcome::Updated,
            (None, None) => FunctionOutcome::NotUsingLayer,
            (None, Some(_)) => FunctionOutcome::AlreadyCurrent,
        };
        let result = FunctionResult {
            function: self.function.to_owned(),
            outcome,
            previous_layer_version_arn: previous,
            function_version_arn: None,
            alias_arn: None,
            attempts: 1,
        };
        Ok((change, result))
    }

    /// Read, decide, write. `written` carries over from an earlier attempt of this roll-out.
    async fn attempt(
        &self,
        written: &mut Option<Option<String>>,
    ) -> Result<FunctionResult, Failure> {
        let current = self.settled(false).await?;
        let (change, mut result) = self.decide(&current.layers)?;
        let previous = result.previous_layer_version_arn.clone();
        match (change, &previous, written.clone()) {
            (Some(layers), _, _) => {
                self.update(layers, current.revision_id).await?;
                // What the list held before this roll-out's first write, on a retry too.
                result.previous_layer_version_arn =
                    written.get_or_insert_with(|| previous.clone()).clone();
                tracing::info!(
                    function = self.function,
                    "layers updated to {}",
                    self.version_arn
                );
                // The guards for PublishVersion come from the configuration our update produced.
                let after = self.settled(true).await?;
                if self.opts.publish_version {
                    self.publish_and_point(&after, None, &mut result).await?;
                }
            }
            (None, None, _) => result.outcome = FunctionOutcome::NotUsingLayer,
            (None, Some(_), Some(before)) => {
                // Our own earlier attempt made it current; its publish step is still owed.
                result.outcome = FunctionOutcome::Updated;
                result.previous_layer_version_arn = before;
                if self.opts.publish_version {
                    self.publish_and_point(&current, None, &mut result).await?;
                }
            }
            (None, Some(_), None) => {
                result.outcome = FunctionOutcome::AlreadyCurrent;
                if self.opts.publish_version && self.opts.alias.is_some() {
                    self.converge_alias(&current, &mut result).await?;
                }
            }
        }
        Ok(result)
    }

    /// With the function already current: leaves an alias that points at a published version
    /// with the new layer alone; otherwise publishes (a no-op version on AWS when the last one
    /// matches) and moves the alias there.
    async fn converge_alias(
        &self,
        current: &Snapshot,
        result: &mut FunctionResult,
    ) -> Result<(), Failure> {
        let Some(name) = self.opts.alias.as_deref() else {
            return Ok(());
        };
        let existing = self.get_alias(name).await?;
        if let Some(alias) = existing.as_ref().filter(|a| a.version != "$LATEST") {
            let published = self.read(Some(&alias.version)).await?;
            if published
                .layers
                .iter()
                .any(|l| LayerVersionArn::parse(l).as_ref() == Some(self.version_arn))
            {
                result.function_version_arn = published.function_arn;
                result.alias_arn = Some(alias.arn.clone());
                return Ok(());
            }
        }
        self.publish_and_point(current, existing, result).await
    }

    /// PublishVersion from `config`'s guards, then the alias (if any) onto that version.
    /// `existing` is the alias when the caller already read it.
    async fn publish_and_point(
        &self,
        config: &Snapshot,
        existing: Option<Alias>,
        result: &mut FunctionResult,
    ) -> Result<(), Failure> {
        let published = self.publish(config).await?;
        result.function_version_arn = published.arn.clone();
        if let Some(name) = self.opts.alias.as_deref() {
            let existing = match existing {
                Some(a) => Some(a),
                None => self.get_alias(name).await?,
            };
            result.alias_arn = Some(self.point_alias(name, existing, &published.version).await?);
        }
        Ok(())
    }

    /// The function's configuration once Lambda is done applying updates to it. After our own
    /// update (`ours`), a failed update is an error; before it, the last update was someone
    /// else's and ours may still succeed.
    async fn settled(&self, ours: bool) -> Result<Snapshot, Failure> {
        let deadline = Instant::now() + SETTLE_LIMIT;
        let mut delay = FIRST_POLL_DELAY;
        loop {
            let config = self.read(None).await?;
            if ours && let Some(reason) = &config.failed {
                return Err(Error::aws(format!(
                    "function {}: Lambda could not apply the new layers ({}): {reason}; fix the function (or the layer) and re-run",
                    self.function, self.version_arn
                ))
                .into());
            }
            if !config.busy {
                return Ok(config);
            }
            if Instant::now() + delay > deadline {
                return Err(Error::aws(format!(
                    "function {}: still updating after {} minutes (LastUpdateStatus InProgress); check it in the Lambda console and re-run",
                    self.function,
                    SETTLE_LIMIT.as_secs() / 60
                ))
                .into());
            }
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                signal = self.interrupt.wait() => return Err(Error::Interrupted(signal).into()),
            }
            delay = (delay * 2).min(MAX_POLL_DELAY);
        }
    }

    /// GetFunctionConfiguration of `$LATEST`, or of a published version.
    async fn read(&self, qualifier: Option<&str>) -> Result<Snapshot, Failure> {
        let out = self
            .lambda
            .get_function_configuration()
            .function_name(self.function)
            .set_qualifier(qualifier.map(str::to_owned))
            .send()
            .await
            .map_err(|e| {
                if qualifier.is_none()
                    && e.as_service_error()
                        .is_some_and(|s| s.is_resource_not_found_exception())
                {
                    Failure::Fatal(Error::bad_input(format!(
                        "function {} not found in region {}: check `functions` (the name or ARN, and that the function is in the layer's region)",
                        self.function, self.region
                    )))
                } else {
                    self.failure("GetFunctionConfiguration", e)
                }
            })?;
        let failed = (out.last_update_status() == Some(&LastUpdateStatus::Failed)).then(|| {
            let reason = out.last_update_status_reason().unwrap_or("no reason given");
            match out.last_update_status_reason_code() {
                Some(code) => format!("{reason} ({})", code.as_str()),
                None => reason.to_owned(),
            }
        });
        Ok(Snapshot {
            layers: out
                .layers()
                .iter()
                .filter_map(|l| l.arn().map(str::to_owned))
                .collect(),
            revision_id: out.revision_id().map(str::to_owned),
            code_sha256: out.code_sha256().map(str::to_owned),
            function_arn: out.function_arn().map(str::to_owned),
            busy: out.last_update_status() == Some(&LastUpdateStatus::InProgress)
                || out.state() == Some(&State::Pending),
            failed,
        })
    }

    /// UpdateFunctionConfiguration with only `Layers`, guarded by the revision we read (when
    /// the service gave one: emulators may not).
    async fn update(
        &self,
        layers: Vec<String>,
        revision_id: Option<String>,
    ) -> Result<(), Failure> {
        self.lambda
            .update_function_configuration()
            .function_name(self.function)
            .set_layers(Some(layers))
            .set_revision_id(revision_id)
            .send()
            .await
            .map_err(|e| self.failure("UpdateFunctionConfiguration", e))?;
        Ok(())
    }

    /// PublishVersion guarded by `config`'s RevisionId and CodeSha256: what gets published is
    /// exactly the configuration we checked, or nothing.
    async fn publish(&self, config: &Snapshot) -> Result<Published, Failure> {
        let out = self
            .lambda
            .publish_version()
            .function_name(self.function)
            .set_revision_id(config.revision_id.clone())
            .set_code_sha256(config.code_sha256.clone())
            .send()
            .await
            .map_err(|e| self.failure("PublishVersion", e))?;
        let version = out.version().unwrap_or_default().to_owned();
        tracing::info!(
            function = self.function,
            version,
            "function version published"
        );
        Ok(Published {
            version,
            arn: out.function_arn().map(str::to_owned),
        })
    }

    /// The alias, or `None` when the function has no alias by that name.
    async fn get_alias(&self, name: &str) -> Result<Option<Alias>, Failure> {
        match self
            .lambda
            .get_alias()
            .function_name(self.function)
            .name(name)
            .send()
            .await
        {
            Ok(out) => Ok(Some(Alias {
                arn: out.alias_arn().unwrap_or_default().to_owned(),
                version: out.function_version().unwrap_or_default().to_owned(),
            })),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_not_found_exception()) =>
            {
                Ok(None)
            }
            Err(e) => Err(self.failure("GetAlias", e)),
        }
    }

    /// Points the alias at `version` (creating it when `existing` is `None`); its ARN.
    async fn point_alias(
        &self,
        name: &str,
        existing: Option<Alias>,
        version: &str,
    ) -> Result<String, Failure> {
        let arn = match existing {
            Some(alias) if alias.version == version => alias.arn,
            Some(_) => self
                .lambda
                .update_alias()
                .function_name(self.function)
                .name(name)
                .function_version(version)
                .send()
                .await
                .map_err(|e| self.failure("UpdateAlias", e))?
                .alias_arn()
                .unwrap_or_default()
                .to_owned(),
            // Created by someone else since GetAlias: ResourceConflictException, and the next
            // attempt updates it instead.
            None => self
                .lambda
                .create_alias()
                .function_name(self.function)
                .name(name)
                .function_version(version)
                .send()
                .await
                .map_err(|e| self.failure("CreateAlias", e))?
                .alias_arn()
                .unwrap_or_default()
                .to_owned(),
        };
        tracing::info!(
            function = self.function,
            alias = name,
            version,
            "alias points at the version"
        );
        Ok(arn)
    }

    /// A failed call: a conflict with another writer, or an error naming the step and the
    /// function.
    fn failure<E>(
        &self,
        step: &str,
        err: SdkError<E, aws_sdk_lambda::config::http::HttpResponse>,
    ) -> Failure
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        let code = err.code().unwrap_or_default().to_owned();
        let message = err.message().unwrap_or_default().to_owned();
        match code.as_str() {
            // The RevisionId or CodeSha256 guard saw another write; or an update (someone
            // else's) is still in progress; or the alias appeared since we looked.
            "PreconditionFailedException" | "ResourceConflictException" => {
                Failure::Conflict(format!("{step} answered {code}: {message}"))
            }
            "AccessDenied" | "AccessDeniedException" => Failure::Fatal(sdk_error_with_fix(
                &format!("{step} on function {}", self.function),
                err,
                PERMISSIONS_HINT,
            )),
            _ => Failure::Fatal(sdk_error(
                &format!("{step} on function {}", self.function),
                err,
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEPS: &str = "arn:aws:lambda:us-east-1:123456789012:layer:deps";

    fn arn(name: &str, version: u32) -> String {
        format!("arn:aws:lambda:us-east-1:123456789012:layer:{name}:{version}")
    }

    fn v(n: u32) -> String {
        arn("deps", n)
    }

    /// `new_layers` with the layer and the version parsed, as a roll-out has them.
    fn new_layers(
        current: &[String],
        layer_arn: &str,
        version_arn: &str,
        add_if_missing: bool,
    ) -> Result<Option<Vec<String>>, String> {
        super::new_layers(
            current,
            &layer_arn.parse().unwrap(),
            &version_arn.parse().unwrap(),
            add_if_missing,
        )
    }

    #[test]
    fn replaces_the_layer_in_place_keeping_the_others_in_order() {
        let current = [arn("other", 4), v(1), arn("another", 9)];
        let got = new_layers(&current, DEPS, &v(2), false).unwrap();
        assert_eq!(got, Some(vec![arn("other", 4), v(2), arn("another", 9)]));
    }

    #[test]
    fn an_older_or_newer_version_is_replaced_alike() {
        let got = new_layers(&[v(7)], DEPS, &v(3), false).unwrap();
        assert_eq!(got, Some(vec![v(3)]));
    }

    #[test]
    fn absent_layer_is_left_alone_unless_asked() {
        let current = [arn("other", 1)];
        assert_eq!(new_layers(&current, DEPS, &v(2), false).unwrap(), None);
    }

    #[test]
    fn absent_layer_is_appended_when_asked() {
        let current = [arn("other", 1), arn("another", 2)];
        let got = new_layers(&current, DEPS, &v(2), true).unwrap();
        assert_eq!(got, Some(vec![arn("other", 1), arn("another", 2), v(2)]));
        assert_eq!(
            new_layers(&[], DEPS, &v(2), true).unwrap(),
            Some(vec![v(2)])
        );
    }

    #[test]
    fn adding_a_sixth_layer_is_an_error_naming_the_limit() {
        let current: Vec<String> = (0..5).map(|i| arn(&format!("l{i}"), 1)).collect();
        let err = new_layers(&current, DEPS, &v(2), true).unwrap_err();
        assert!(err.contains("already uses 5 layers"), "{err}");
        assert!(err.contains("limit is 5"), "{err}");
    }

    #[test]
    fn replacing_in_a_full_list_is_fine() {
        let mut current: Vec<String> = (0..4).map(|i| arn(&format!("l{i}"), 1)).collect();
        current.insert(2, v(1));
        let got = new_layers(&current, DEPS, &v(2), true).unwrap().unwrap();
        assert_eq!(got.len(), 5);
        assert_eq!(got[2], v(2));
    }

    #[test]
    fn already_current_changes_nothing() {
        let current = [arn("other", 1), v(2)];
        assert_eq!(new_layers(&current, DEPS, &v(2), false).unwrap(), None);
        assert_eq!(new_layers(&current, DEPS, &v(2), true).unwrap(), None);
    }

    #[test]
    fn a_layer_whose_name_extends_ours_is_not_touched() {
        let current = [arn("deps-extra", 3), arn("dep", 1)];
        assert_eq!(new_layers(&current, DEPS, &v(2), false).unwrap(), None);
        let got = new_layers(&current, DEPS, &v(2), true).unwrap();
        assert_eq!(got, Some(vec![arn("deps-extra", 3), arn("dep", 1), v(2)]));
    }

    #[test]
    fn the_same_layer_name_in_another_account_or_region_is_not_ours() {
        let foreign = "arn:aws:lambda:eu-west-1:123456789012:layer:deps:1".to_owned();
        let other_account = "arn:aws:lambda:us-east-1:999999999999:layer:deps:1".to_owned();
        let current = [foreign, other_account];
        assert_eq!(new_layers(&current, DEPS, &v(2), false).unwrap(), None);
    }

    #[test]
    fn a_second_version_of_our_layer_is_dropped() {
        let current = [v(1), arn("other", 1), v(3)];
        let got = new_layers(&current, DEPS, &v(4), false).unwrap();
        assert_eq!(got, Some(vec![v(4), arn("other", 1)]));
    }

    #[test]
    fn a_version_of_another_layer_is_refused() {
        let err = new_layers(&[v(1)], DEPS, &arn("other", 2), false).unwrap_err();
        assert!(err.contains("is not a version of the layer"), "{err}");
        // A layer ARN without a version is not a version at all: it cannot even be given.
        assert!(DEPS.parse::<LayerVersionArn>().is_err());
    }
}
