//! After the decision, end to end against moto: sharing, pruning and moving functions onto the
//! new version, each from its README example.

use crate::common;

use std::fs;
use std::path::Path;

use common::moto::{Moto, moto, run};
use common::*;

/// A project whose layerpub.yml is the README example `name`, with its lock file and folder.
fn project(example: &str) -> tempfile::TempDir {
    let dir = temp();
    write_file(dir.path(), "build/python/lib/m.py", b"x = 1\n", 0o644);
    fs::write(dir.path().join("requirements.txt"), "lib==1\n").unwrap();
    fs::write(dir.path().join("layerpub.yml"), readme_example(example)).unwrap();
    dir
}

/// A new lock file: the next run publishes a new version.
fn bump(dir: &Path, n: u32) {
    fs::write(dir.join("requirements.txt"), format!("lib=={n}\n")).unwrap();
}

fn arn(layer: &str, v: i64) -> String {
    format!("arn:aws:lambda:us-east-1:123456789012:layer:{layer}:{v}")
}

fn sids(m: &Moto, layer: &str, v: i64) -> Vec<String> {
    let policy = m.aws(&["policy", layer, &v.to_string()]);
    let mut ids: Vec<String> = policy["Statement"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|s| s["Sid"].as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default();
    ids.sort();
    ids
}

fn version_numbers(m: &Moto, layer: &str) -> Vec<i64> {
    let mut v: Vec<i64> = m
        .versions(layer)
        .iter()
        .map(|v| v["version"].as_i64().unwrap())
        .collect();
    v.sort();
    v
}

#[test]
fn sharing_grants_each_principal_once_and_a_rerun_adds_none() {
    let m = moto();
    let dir = project("sharing");
    let first = run(&m, dir.path(), &[]).assert_ok().layer();
    assert_eq!(first["published"], true);
    assert_eq!(
        first["shared_with"],
        serde_json::json!(["layerpub-111122223333", "layerpub-o-a1b2c3d4e5"])
    );
    let expected = ["layerpub-111122223333", "layerpub-o-a1b2c3d4e5"];
    assert_eq!(sids(&m, "shared-deps", 1), expected);
    let policy = m.aws(&["policy", "shared-deps", "1"]);
    let org = policy["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["Sid"] == "layerpub-o-a1b2c3d4e5")
        .unwrap()
        .clone();
    assert_eq!(org["OrganizationId"], "o-a1b2c3d4e5");
    assert_eq!(org["Action"], "lambda:GetLayerVersion");

    // moto accepts a duplicate statement ID, so a count that stays put shows the policy was read.
    let again = run(&m, dir.path(), &[]).assert_ok().layer();
    assert_eq!(again["published"], false);
    assert_eq!(again["shared_with"], serde_json::json!([]));
    assert_eq!(sids(&m, "shared-deps", 1), expected);

    // A new version gets the same grants.
    bump(dir.path(), 2);
    let second = run(&m, dir.path(), &[]).assert_ok().layer();
    assert_eq!(second["layer_version"], 2);
    assert_eq!(sids(&m, "shared-deps", 2), expected);
}

#[test]
fn sharing_with_everyone_needs_allow_public_and_nothing_is_published_without_it() {
    let m = moto();
    let dir = project("sharing");
    let r = run(&m, dir.path(), &["--share-with", "*"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("share-with"), "{}", r.stderr);
    assert!(r.stderr.contains("allow-public: true"), "{}", r.stderr);
    assert!(m.versions("shared-deps").is_empty());

    let ok = run(&m, dir.path(), &["--share-with", "*", "--allow-public"]);
    ok.assert_ok();
    assert_eq!(sids(&m, "shared-deps", 1), ["layerpub-public"]);
}

#[test]
fn pruning_keeps_the_newest_two_and_the_version_a_function_uses() {
    let m = moto();
    let dir = project("pruning");
    run(&m, dir.path(), &[]).assert_ok();
    // A function stays on version 1 all along.
    m.aws(&["create-function", "legacy", &arn("app-deps", 1)]);
    for n in 2..=3 {
        bump(dir.path(), n);
        let r = run(&m, dir.path(), &[]).assert_ok().layer();
        assert_eq!(r["layer_version"], n as i64);
    }
    // Newest two are 2 and 3; 1 is in use: nothing to delete yet.
    assert_eq!(version_numbers(&m, "app-deps"), [1, 2, 3]);

    bump(dir.path(), 4);
    let r = run(&m, dir.path(), &[]).assert_ok().layer();
    assert_eq!(r["layer_version"], 4);
    assert_eq!(r["pruned"]["deleted"], serde_json::json!([2]));
    assert_eq!(r["pruned"]["protected_in_use"], serde_json::json!([1]));
    assert_eq!(version_numbers(&m, "app-deps"), [1, 3, 4]);

    // An unchanged run prunes nothing; `prune --dry-run` with one to keep only lists.
    let same = run(&m, dir.path(), &[]).assert_ok().layer();
    assert_eq!(same["pruned"], serde_json::Value::Null);
    let plan = run(
        &m,
        dir.path(),
        &["prune", "--dry-run", "--keep-versions", "1"],
    );
    let plan = plan.assert_ok().layer();
    assert_eq!(plan["deleted"], serde_json::json!([3]));
    assert_eq!(plan["protected_in_use"], serde_json::json!([1]));
    assert_eq!(version_numbers(&m, "app-deps"), [1, 3, 4]);

    let done = run(&m, dir.path(), &["prune", "--keep-versions", "1"])
        .assert_ok()
        .layer();
    assert_eq!(done["deleted"], serde_json::json!([3]));
    assert_eq!(version_numbers(&m, "app-deps"), [1, 4]);
}

#[test]
fn prune_without_keep_versions_is_refused() {
    let m = moto();
    let dir = project("sharing");
    let r = run(&m, dir.path(), &["prune"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("keep-versions"), "{}", r.stderr);
}

#[test]
fn a_function_with_three_layers_moves_onto_the_new_version_and_its_alias_follows() {
    let m = moto();
    let dir = project("functions");
    let before = m.aws(&["publish-layer", "before"]);
    let after = m.aws(&["publish-layer", "after"]);
    let (before, after) = (before.as_str().unwrap(), after.as_str().unwrap());
    m.aws(&["create-function", "orders-api", before, after]);
    run(&m, dir.path(), &[]).assert_ok();
    let ours = arn("app-deps", 1);
    m.aws(&["set-function-layers", "orders-api", before, &ours, after]);

    bump(dir.path(), 2);
    let r = run(&m, dir.path(), &[]).assert_ok().layer();
    assert_eq!(r["layer_version"], 2);
    let f = &r["functions"][0];
    assert_eq!(f["function"], "orders-api");
    assert_eq!(f["outcome"], "updated");
    assert_eq!(f["previous_layer_version_arn"], arn("app-deps", 1));
    assert_eq!(
        m.aws(&["function-layers", "orders-api"]),
        serde_json::json!([before, arn("app-deps", 2), after]),
        "the other two layers kept, in order"
    );
    let version_arn = f["function_version_arn"].as_str().unwrap().to_owned();
    let n = version_arn.rsplit(':').next().unwrap().to_owned();
    assert_eq!(
        m.aws(&["function-layers", "orders-api", &n]),
        serde_json::json!([before, arn("app-deps", 2), after]),
        "the published function version has the new layer"
    );
    let alias = m.aws(&["alias", "orders-api", "live"]);
    assert_eq!(alias["version"], n.as_str());
    assert_eq!(f["alias_arn"], alias["arn"]);

    // Unchanged: the function is already current; no new function version.
    let versions = m.aws(&["function-versions", "orders-api"]);
    let again = run(&m, dir.path(), &[]).assert_ok().layer();
    assert_eq!(again["published"], false);
    assert_eq!(again["functions"][0]["outcome"], "already_current");
    assert_eq!(m.aws(&["function-versions", "orders-api"]), versions);
}

#[test]
fn a_missing_function_fails_before_anything_is_published_and_adding_is_asked_for() {
    let m = moto();
    let dir = project("functions");
    let plan = run(&m, dir.path(), &["plan"]);
    assert_eq!(
        plan.code, 2,
        "a plan finds the missing function too: {}",
        plan.stderr
    );
    let r = run(&m, dir.path(), &[]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("function orders-api not found in region us-east-1"),
        "{}",
        r.stderr
    );
    assert!(m.versions("app-deps").is_empty(), "nothing published");

    // A function without the layer is left alone...
    m.aws(&["create-function", "orders-api"]);
    let first = run(&m, dir.path(), &[]).assert_ok().layer();
    assert_eq!(first["layer_version"], 1);
    assert_eq!(first["functions"][0]["outcome"], "not_using_layer");
    assert_eq!(
        m.aws(&["function-layers", "orders-api"]),
        serde_json::json!([])
    );
    assert_eq!(
        m.aws(&["alias", "orders-api", "live"]),
        serde_json::Value::Null
    );

    // ...until adding is asked for: an unchanged run then rolls it on, with a version and alias.
    let again = run(&m, dir.path(), &["--add-to-functions"])
        .assert_ok()
        .layer();
    assert_eq!(again["published"], false);
    assert_eq!(again["functions"][0]["outcome"], "updated");
    assert_eq!(
        m.aws(&["function-layers", "orders-api"]),
        serde_json::json!([arn("app-deps", 1)])
    );
    let alias = m.aws(&["alias", "orders-api", "live"]);
    assert_eq!(
        Some(alias["arn"].clone()),
        again["functions"][0].get("alias_arn").cloned()
    );
}

#[test]
fn a_plan_lists_the_grants_the_function_moves_and_the_prunes_and_writes_nothing() {
    let m = moto();
    let dir = project("functions");
    m.aws(&["create-function", "orders-api"]);
    run(&m, dir.path(), &[]).assert_ok();
    bump(dir.path(), 2);
    run(&m, dir.path(), &[]).assert_ok();
    m.aws(&["set-function-layers", "orders-api", &arn("app-deps", 2)]);
    let function_versions = m.aws(&["function-versions", "orders-api"]);
    let follow_up = ["--share-with", "111122223333", "--keep-versions", "1"];

    // The lock file changed: the plan would publish version 3, grant it, move the function
    // from version 2 and prune version 1 (2 is protected: the function still uses it now).
    bump(dir.path(), 3);
    let args = [&["plan"][..], &follow_up[..]].concat();
    let plan = run(&m, dir.path(), &args).assert_ok().layer();
    assert_eq!(plan["status"], "would_publish");
    assert_eq!(plan["published"], false);
    assert_eq!(
        plan["reason"], "fingerprint_changed",
        "no bucket: no document to compare"
    );
    assert_eq!(
        plan["shared_with"],
        serde_json::json!(["layerpub-111122223333"])
    );
    let f = &plan["functions"][0];
    assert_eq!(f["function"], "orders-api");
    assert_eq!(f["outcome"], "updated");
    assert_eq!(f["previous_layer_version_arn"], arn("app-deps", 2));
    assert_eq!(plan["pruned"]["deleted"], serde_json::json!([1]));
    assert_eq!(plan["pruned"]["protected_in_use"], serde_json::json!([2]));
    assert_eq!(plan["pruned"]["kept"], serde_json::json!([3]));

    // Nothing was written: no version, no grant, the function untouched, nothing deleted.
    assert_eq!(version_numbers(&m, "app-deps"), [1, 2]);
    assert_eq!(sids(&m, "app-deps", 2), Vec::<String>::new());
    assert_eq!(
        m.aws(&["function-layers", "orders-api"]),
        serde_json::json!([arn("app-deps", 2)])
    );
    assert_eq!(
        m.aws(&["function-versions", "orders-api"]),
        function_versions
    );

    // The run that follows does what the plan said.
    let done = run(&m, dir.path(), &follow_up).assert_ok().layer();
    assert_eq!(done["layer_version"], 3);
    assert_eq!(done["shared_with"], plan["shared_with"]);
    assert_eq!(done["functions"][0]["outcome"], "updated");
    assert_eq!(
        done["functions"][0]["previous_layer_version_arn"],
        arn("app-deps", 2)
    );
    assert!(!version_numbers(&m, "app-deps").contains(&1), "pruned");

    // Unchanged, the plan reads the existing version's policy and the function: nothing to do.
    let again = run(&m, dir.path(), &args).assert_ok().layer();
    assert_eq!(again["shared_with"], serde_json::json!([]));
    assert_eq!(again["functions"][0]["outcome"], "already_current");
    assert_eq!(again["pruned"], serde_json::Value::Null);
}
