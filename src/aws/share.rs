//! Sharing layer versions with accounts, an organization or everyone (`share-with`), through
//! `AddLayerVersionPermission`.
//!
//! Each grant is one statement of the version's policy, with an ID derived from the grantee, so
//! a re-run reads the policy, recognises its own statements and adds only what is missing. The
//! parsing and the "what is missing" computation are pure; `ensure_grants` is the shell.

use std::collections::BTreeSet;
use std::time::Duration;

use aws_sdk_lambda::Client;
use aws_sdk_lambda::error::SdkError;
use aws_sdk_lambda::operation::add_layer_version_permission::AddLayerVersionPermissionError;

use crate::aws::sdk_error_with_fix;
use crate::domain::error::Error;
use crate::domain::grantee::Grantee;

/// The one action a grant allows: using the layer version (reading its content), nothing else.
const ACTION: &str = "lambda:GetLayerVersion";

/// The fix when the role may not read or change layer version policies.
const DENIED_FIX: &str = "grant the role lambda:GetLayerVersionPolicy and \
    lambda:AddLayerVersionPermission on the layer, or remove `share-with`";

/// How often an add that met a concurrent change to the same policy is tried.
const CONFLICT_ATTEMPTS: u32 = 3;

/// The statement IDs (`Statement[].Sid`) of a policy document. IAM allows `Statement` to be a
/// single object as well as a list.
pub(crate) fn statement_ids(policy: &str) -> Result<BTreeSet<String>, serde_json::Error> {
    let doc: serde_json::Value = serde_json::from_str(policy)?;
    let statements = match doc.get("Statement") {
        Some(serde_json::Value::Array(list)) => list.iter().collect(),
        Some(one) => vec![one],
        None => Vec::new(),
    };
    Ok(statements
        .into_iter()
        .filter_map(|s| s.get("Sid")?.as_str())
        .map(str::to_owned)
        .collect())
}

/// The grantees whose statement is not among `present`, each once, in a stable order.
pub fn missing<'a>(grantees: &'a [Grantee], present: &BTreeSet<String>) -> Vec<&'a Grantee> {
    let wanted: BTreeSet<&Grantee> = grantees.iter().collect();
    wanted
        .into_iter()
        .filter(|g| !present.contains(&g.statement_id()))
        .collect()
}

/// Makes sure version `version` of `layer_name` grants `lambda:GetLayerVersion` to every
/// grantee: reads the version's policy (unless `new_version`: a version published by this run
/// has none yet, which saves the call) and adds only the statements whose ID is missing.
/// Returns the statement IDs it added: empty on a re-run.
pub async fn ensure_grants(
    lambda: &Client,
    layer_name: &str,
    version: i64,
    grantees: &[Grantee],
    new_version: bool,
) -> Result<Vec<String>, Error> {
    let mut added = Vec::new();
    for grantee in missing_grants(lambda, layer_name, version, grantees, new_version).await? {
        if add_grant(lambda, layer_name, version, grantee).await? {
            added.push(grantee.statement_id());
        }
    }
    Ok(added)
}

/// The plan of [`ensure_grants`], which a `plan` shows without adding anything: the grantees
/// whose statement version `version`'s policy lacks. A `new_version` (published by this run, or
/// one a plan would publish) has no policy yet: every grantee, without a read.
pub(crate) async fn missing_grants<'a>(
    lambda: &Client,
    layer_name: &str,
    version: i64,
    grantees: &'a [Grantee],
    new_version: bool,
) -> Result<Vec<&'a Grantee>, Error> {
    if grantees.is_empty() {
        return Ok(Vec::new());
    }
    let present = if new_version {
        BTreeSet::new()
    } else {
        policy_statement_ids(lambda, layer_name, version).await?
    };
    Ok(missing(grantees, &present))
}

/// The statement IDs of the version's policy; a version without a policy has none.
async fn policy_statement_ids(
    lambda: &Client,
    layer_name: &str,
    version: i64,
) -> Result<BTreeSet<String>, Error> {
    let step = format!("GetLayerVersionPolicy for {layer_name}:{version}");
    let out = match lambda
        .get_layer_version_policy()
        .layer_name(layer_name)
        .version_number(version)
        .send()
        .await
    {
        Ok(out) => out,
        // Lambda answers "not found" for a version nobody has shared yet.
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_not_found_exception()) =>
        {
            return Ok(BTreeSet::new());
        }
        Err(e) => return Err(sdk_error_with_fix(&step, e, DENIED_FIX)),
    };
    statement_ids(out.policy().unwrap_or("{}")).map_err(|e| {
        Error::aws_caused(
            format!("{step}: the policy is not a JSON document ({e})"),
            e,
        )
    })
}

/// Adds the grantee's statement. A conflict means another change to the same policy met ours:
/// most often a concurrent run adding this very statement, which then counts as present (false:
/// not added by us). The policy is read again to know, and the add retried if it is absent.
async fn add_grant(
    lambda: &Client,
    layer_name: &str,
    version: i64,
    grantee: &Grantee,
) -> Result<bool, Error> {
    let sid = grantee.statement_id();
    let step = format!("AddLayerVersionPermission {sid} to {layer_name}:{version}");
    for attempt in 1..=CONFLICT_ATTEMPTS {
        match add_statement(lambda, layer_name, version, grantee).await {
            Ok(()) => return Ok(true),
            Err(e) if is_conflict(&e) => {
                if policy_statement_ids(lambda, layer_name, version)
                    .await?
                    .contains(&sid)
                {
                    return Ok(false);
                }
                if attempt < CONFLICT_ATTEMPTS {
                    tokio::time::sleep(Duration::from_millis(250 * u64::from(attempt))).await;
                }
            }
            Err(e) if is_policy_full(&e) => {
                return Err(Error::bad_input(format!(
                    "{step} failed: the version's policy is at its size limit — share with an \
                     organization (o-…) instead of many accounts"
                )));
            }
            Err(e) => return Err(sdk_error_with_fix(&step, e, DENIED_FIX)),
        }
    }
    Err(Error::aws(format!(
        "{step} failed: the policy kept changing under {CONFLICT_ATTEMPTS} attempts \
         (ResourceConflictException); re-run to add the grant"
    )))
}

type AddError =
    SdkError<AddLayerVersionPermissionError, aws_sdk_lambda::config::http::HttpResponse>;

async fn add_statement(
    lambda: &Client,
    layer_name: &str,
    version: i64,
    grantee: &Grantee,
) -> Result<(), AddError> {
    let (principal, organization) = grantee.principal();
    lambda
        .add_layer_version_permission()
        .layer_name(layer_name)
        .version_number(version)
        .statement_id(grantee.statement_id())
        .action(ACTION)
        .principal(principal)
        .set_organization_id(organization.map(str::to_owned))
        .send()
        .await
        .map(|_| ())
}

fn is_conflict(e: &AddError) -> bool {
    e.as_service_error()
        .is_some_and(|s| s.is_resource_conflict_exception())
}

fn is_policy_full(e: &AddError) -> bool {
    e.as_service_error()
        .is_some_and(|s| s.is_policy_length_exceeded_exception())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::grantee::ACCEPTED;

    fn account(id: &str) -> Grantee {
        Grantee::Account(id.to_owned())
    }

    #[test]
    fn parse_accepts_an_account_an_organization_a_root_arn_and_star() {
        assert_eq!(Grantee::parse("123456789012"), Ok(account("123456789012")));
        assert_eq!(
            Grantee::parse("o-abc123defg"),
            Ok(Grantee::Organization("o-abc123defg".into()))
        );
        assert_eq!(
            Grantee::parse(&format!("o-{}", "a".repeat(32))),
            Ok(Grantee::Organization(format!("o-{}", "a".repeat(32))))
        );
        assert_eq!(
            Grantee::parse("arn:aws:iam::123456789012:root"),
            Ok(account("123456789012"))
        );
        assert_eq!(
            Grantee::parse("arn:aws-cn:iam::123456789012:root"),
            Ok(account("123456789012"))
        );
        assert_eq!(Grantee::parse("*"), Ok(Grantee::Public));
        assert_eq!(
            Grantee::parse(" 123456789012 "),
            Ok(account("123456789012"))
        );
    }

    #[test]
    fn parse_rejects_with_the_reason_and_the_accepted_forms() {
        let err = |s: &str| Grantee::parse(s).unwrap_err();
        assert!(err("12345678901").contains("has 11 digits; an account ID has 12"));
        assert!(err("O-ABC").contains("lowercase"));
        assert!(err("o-abc").contains("10 to 32"));
        assert!(err("o-abcdefghi").contains("is not an organization ID"));
        assert!(err(&format!("o-{}", "a".repeat(33))).contains("is not an organization ID"));
        assert!(err("arn:aws:iam::123456789012:role/deploy").contains("root ARN"));
        assert!(err("arn:aws:iam::12345:root").contains("root ARN"));
        assert!(err("").contains("is empty"));
        assert!(err("everyone").contains("is not an account ID"));
        for e in [err("O-ABC"), err("12345678901"), err("everyone")] {
            assert!(e.starts_with("share-with: `"), "{e}");
            assert!(e.contains(ACCEPTED), "{e}");
        }
    }

    #[test]
    fn statement_ids_are_stable_and_valid_for_lambda() {
        let ids = [
            account("123456789012").statement_id(),
            Grantee::Organization("o-abc123defg".into()).statement_id(),
            Grantee::Public.statement_id(),
        ];
        assert_eq!(
            ids,
            [
                "layerpub-123456789012",
                "layerpub-o-abc123defg",
                "layerpub-public"
            ]
        );
        // Lambda's StatementId: ([a-zA-Z0-9-_]+), at most 100 characters.
        let longest = Grantee::Organization(format!("o-{}", "a".repeat(32))).statement_id();
        assert!(longest.len() <= 100);
        assert!(
            longest
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
    }

    #[test]
    fn a_root_arn_and_its_account_are_one_grant() {
        let arn = Grantee::parse("arn:aws:iam::123456789012:root").unwrap();
        let id = Grantee::parse("123456789012").unwrap();
        assert_eq!(arn.statement_id(), id.statement_id());
    }

    #[test]
    fn statement_ids_of_a_policy_as_lambda_returns_it() {
        let policy = r#"{"Version": "2012-10-17", "Id": "default", "Statement": [
            {"Action": "lambda:GetLayerVersion", "Principal": "123456789012", "Effect": "Allow",
             "Resource": "arn:aws:lambda:us-east-1:123456789012:layer:deps:1", "Sid": "layerpub-123456789012"},
            {"Action": "lambda:GetLayerVersion", "Principal": "*", "OrganizationId": "o-abc123defg",
             "Effect": "Allow", "Resource": "arn:aws:lambda:us-east-1:123456789012:layer:deps:1", "Sid": "by-hand"},
            {"Action": "lambda:GetLayerVersion", "Principal": "*", "Effect": "Allow"}]}"#;
        assert_eq!(
            statement_ids(policy).unwrap(),
            BTreeSet::from(["layerpub-123456789012".into(), "by-hand".into()])
        );
        let single = r#"{"Statement": {"Sid": "layerpub-public"}}"#;
        assert_eq!(
            statement_ids(single).unwrap(),
            BTreeSet::from(["layerpub-public".into()])
        );
        assert!(statement_ids("{}").unwrap().is_empty());
        assert!(statement_ids("not json").is_err());
    }

    #[test]
    fn missing_leaves_out_present_statements_and_duplicates() {
        let grantees = [
            Grantee::Public,
            account("123456789012"),
            Grantee::Organization("o-abc123defg".into()),
            account("123456789012"),
            account("210987654321"),
        ];
        let present = BTreeSet::from([
            "layerpub-123456789012".to_owned(),
            // Someone else's grant to the same organization is not ours: ours is still added.
            "org-share".to_owned(),
        ]);
        assert_eq!(
            missing(&grantees, &present),
            vec![
                &account("210987654321"),
                &Grantee::Organization("o-abc123defg".into()),
                &Grantee::Public
            ]
        );
        let all: BTreeSet<String> = grantees.iter().map(Grantee::statement_id).collect();
        assert!(missing(&grantees, &all).is_empty());
    }
}
