//! Deleting old layer versions safely: never the newest `keep`, never the version this run
//! published, and (with `protect-in-use`) never a version a function still uses.
//!
//! `select` is the pure decision; the rest lists what exists and carries the decision out.

use std::collections::BTreeSet;

use aws_sdk_lambda::Client;
use aws_sdk_lambda::types::FunctionVersion;

use crate::aws::{sdk_error, sdk_error_with_fix};
use crate::domain::arn::{LayerArn, LayerVersionArn};
use crate::domain::error::Error;
use crate::domain::follow_up::Pruned;

/// Which versions to delete: never the newest `keep` (at least 1, so a layer always keeps a
/// version), never `just_published`, never a version in `in_use`. `versions` in any order;
/// `just_published` counts as listed even when a listing made right after publishing missed
/// it, so it takes one of the `keep` places either way.
pub fn select(
    versions: &[i64],
    keep: usize,
    just_published: Option<i64>,
    in_use: &BTreeSet<i64>,
) -> Pruned {
    let all: BTreeSet<i64> = versions.iter().copied().chain(just_published).collect();
    let newest: BTreeSet<i64> = all.iter().rev().take(keep.max(1)).copied().collect();
    let mut pruned = Pruned::default();
    for v in all {
        if newest.contains(&v) || Some(v) == just_published {
            pruned.kept.push(v);
        } else if in_use.contains(&v) {
            pruned.protected_in_use.push(v);
        } else {
            pruned.deleted.push(v);
        }
    }
    pruned
}

/// All version numbers of the layer (none when the layer does not exist), every page of
/// `ListLayerVersions`.
pub(crate) async fn all_versions(lambda: &Client, layer_name: &str) -> Result<Vec<i64>, Error> {
    let mut pages = lambda
        .list_layer_versions()
        .layer_name(layer_name)
        .into_paginator()
        .send();
    let mut versions = Vec::new();
    while let Some(page) = pages.next().await {
        let page = match page {
            Ok(p) => p,
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_not_found_exception()) =>
            {
                return Ok(Vec::new());
            }
            Err(e) => return Err(sdk_error(&format!("ListLayerVersions of {layer_name}"), e)),
        };
        versions.extend(page.layer_versions().iter().map(|v| v.version()));
    }
    Ok(versions)
}

/// Versions of `layer_arn` (the layer's ARN, without a version) used by any function version in
/// the client's region: `$LATEST` and every published version, as `ListFunctions` with
/// `FunctionVersion=ALL` reports them. Deleting a layer version does not break a function that
/// already uses it, but it can no longer be deployed again as it is, nor its layer read.
/// (A wrong ARN would match nothing and leave every version unprotected: `layer_arn` is typed,
/// so it is a layer ARN without a version.)
pub async fn versions_in_use(
    lambda: &Client,
    layer_arn: &LayerArn,
) -> Result<BTreeSet<i64>, Error> {
    let mut pages = lambda
        .list_functions()
        .function_version(FunctionVersion::All)
        .into_paginator()
        .send();
    let mut in_use = BTreeSet::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| {
            sdk_error_with_fix(
                "ListFunctions (to protect layer versions in use)",
                e,
                "grant the role lambda:ListFunctions, or set `protect-in-use: false` to prune \
                 without checking which versions functions use",
            )
        })?;
        let arns = page
            .functions()
            .iter()
            .flat_map(|f| f.layers())
            .filter_map(|l| l.arn());
        in_use.extend(arns.filter_map(|arn| version_of(arn, layer_arn)));
    }
    Ok(in_use)
}

/// The version number of `layer_version_arn` (as a function's configuration lists it) when it
/// is a version of `layer_arn`.
fn version_of(layer_version_arn: &str, layer_arn: &LayerArn) -> Option<i64> {
    LayerVersionArn::parse(layer_version_arn)
        .filter(|v| v.is_version_of(layer_arn))
        .map(|v| v.version())
}

/// Lists, selects and (unless `dry_run`) deletes, oldest first. `protect_in_use` false skips
/// the `ListFunctions` paging, as does a layer with nothing old enough to delete.
pub async fn prune(
    lambda: &Client,
    layer_name: &str,
    layer_arn: &LayerArn,
    keep: usize,
    just_published: Option<i64>,
    protect_in_use: bool,
    dry_run: bool,
) -> Result<Pruned, Error> {
    let versions = all_versions(lambda, layer_name).await?;
    let unprotected = select(&versions, keep, just_published, &BTreeSet::new());
    // Paging through every function of the region is the costly part: only when it can matter.
    if !protect_in_use || unprotected.deleted.is_empty() {
        return finish(lambda, layer_name, unprotected, dry_run).await;
    }
    let in_use = versions_in_use(lambda, layer_arn).await?;
    let pruned = select(&versions, keep, just_published, &in_use);
    finish(lambda, layer_name, pruned, dry_run).await
}

async fn finish(
    lambda: &Client,
    layer_name: &str,
    pruned: Pruned,
    dry_run: bool,
) -> Result<Pruned, Error> {
    if !dry_run {
        delete(lambda, layer_name, &pruned.deleted).await?;
    }
    Ok(pruned)
}

/// Deletes oldest first: a run stopped halfway has removed the versions least likely to be
/// rolled back to. Deleting a version that is already gone succeeds, so a re-run is safe.
async fn delete(lambda: &Client, layer_name: &str, versions: &[i64]) -> Result<(), Error> {
    for (i, v) in versions.iter().enumerate() {
        lambda
            .delete_layer_version()
            .layer_name(layer_name)
            .version_number(*v)
            .send()
            .await
            .map_err(|e| {
                sdk_error_with_fix(
                    &delete_step(layer_name, *v, &versions[..i]),
                    e,
                    "grant the role lambda:DeleteLayerVersion on the layer, or turn pruning off",
                )
            })?;
        tracing::info!("deleted layer version {layer_name}:{v}");
    }
    Ok(())
}

/// The step's name, and what was already deleted when it failed.
fn delete_step(layer_name: &str, version: i64, done: &[i64]) -> String {
    if done.is_empty() {
        return format!("DeleteLayerVersion {layer_name}:{version}");
    }
    let done: Vec<String> = done.iter().map(i64::to_string).collect();
    format!(
        "DeleteLayerVersion {layer_name}:{version} (after deleting {})",
        done.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(v: &[i64]) -> BTreeSet<i64> {
        v.iter().copied().collect()
    }

    fn pruned(deleted: &[i64], protected_in_use: &[i64], kept: &[i64]) -> Pruned {
        Pruned {
            deleted: deleted.to_vec(),
            protected_in_use: protected_in_use.to_vec(),
            kept: kept.to_vec(),
        }
    }

    #[test]
    fn keeps_the_newest_n_and_deletes_the_rest() {
        assert_eq!(
            select(&[1, 2, 3, 4, 5], 2, None, &set(&[])),
            pruned(&[1, 2, 3], &[], &[4, 5])
        );
    }

    #[test]
    fn never_deletes_the_version_just_published() {
        // A concurrent run published 6 and 7 after ours (5): keep 2 would drop 5.
        assert_eq!(
            select(&[1, 2, 3, 4, 5, 6, 7], 2, Some(5), &set(&[])),
            pruned(&[1, 2, 3, 4], &[], &[5, 6, 7])
        );
    }

    #[test]
    fn the_version_just_published_counts_even_when_the_listing_missed_it() {
        assert_eq!(
            select(&[1, 2, 3], 2, Some(4), &set(&[])),
            pruned(&[1, 2], &[], &[3, 4])
        );
    }

    #[test]
    fn protects_versions_in_use() {
        assert_eq!(
            select(&[1, 2, 3, 4, 5], 2, Some(5), &set(&[2, 5, 9])),
            pruned(&[1, 3], &[2], &[4, 5])
        );
    }

    #[test]
    fn keep_larger_than_the_count_deletes_nothing() {
        assert_eq!(
            select(&[1, 2, 3], 10, None, &set(&[])),
            pruned(&[], &[], &[1, 2, 3])
        );
        assert_eq!(select(&[], 3, None, &set(&[])), Pruned::default());
    }

    #[test]
    fn keep_zero_still_keeps_the_newest() {
        assert_eq!(
            select(&[1, 2, 3], 0, None, &set(&[])),
            pruned(&[1, 2], &[], &[3])
        );
    }

    #[test]
    fn unsorted_and_repeated_input_gives_sorted_lists() {
        assert_eq!(
            select(&[7, 2, 9, 4, 2, 11, 1], 3, None, &set(&[4])),
            pruned(&[1, 2], &[4], &[7, 9, 11])
        );
    }

    #[test]
    fn version_of_matches_only_this_layer() {
        let text = "arn:aws:lambda:us-east-1:123456789012:layer:deps";
        let layer = &text.parse::<LayerArn>().unwrap();
        assert_eq!(version_of(&format!("{text}:7"), layer), Some(7));
        assert_eq!(
            version_of(
                "arn:aws:lambda:us-east-1:123456789012:layer:deps-extra:7",
                layer
            ),
            None
        );
        assert_eq!(
            version_of("arn:aws:lambda:us-east-1:999999999999:layer:deps:7", layer),
            None
        );
        assert_eq!(version_of(text, layer), None);
    }

    #[test]
    fn only_a_layer_arn_without_version_is_accepted() {
        // `versions_in_use` takes a `LayerArn`: these are what it can and cannot be given.
        let is_layer_arn = |s: &str| LayerArn::parse(s).is_some();
        assert!(is_layer_arn(
            "arn:aws:lambda:us-east-1:123456789012:layer:deps"
        ));
        assert!(!is_layer_arn(
            "arn:aws:lambda:us-east-1:123456789012:layer:deps:3"
        ));
        assert!(!is_layer_arn("deps"));
        assert!(!is_layer_arn(""));
    }

    #[test]
    fn a_failed_delete_names_what_was_already_deleted() {
        assert_eq!(delete_step("deps", 1, &[]), "DeleteLayerVersion deps:1");
        assert_eq!(
            delete_step("deps", 4, &[1, 3]),
            "DeleteLayerVersion deps:4 (after deleting 1, 3)"
        );
    }
}
