//! Who a layer version is shared with: the `share-with` entries, parsed once when the config is
//! resolved, each with the statement ID layerpub gives its grant.

use std::fmt;

/// What `share-with` takes, for every message about a bad entry.
pub(crate) const ACCEPTED: &str = "a 12-digit account ID (123456789012), an account's root ARN \
    (arn:aws:iam::123456789012:root), an organization ID (o- then 10 to 32 lowercase letters or \
    digits), or `*` for every AWS account";

/// Who a layer version is shared with (the `share-with` setting).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub enum Grantee {
    Account(String),
    Organization(String),
    Public,
}

impl Grantee {
    /// Parses one share-with entry: a 12-digit account ID, an organization ID `o-` + 10 to 32
    /// lowercase letters/digits, or `*`. An account's root ARN (`arn:aws:iam::123456789012:root`,
    /// any partition) is taken as its account, so both spellings give one statement.
    pub fn parse(s: &str) -> Result<Grantee, String> {
        let entry = s.trim();
        if entry == "*" {
            return Ok(Grantee::Public);
        }
        let account = crate::domain::arn::account_in_root_arn(entry).unwrap_or(entry);
        if is_account_id(account) {
            return Ok(Grantee::Account(account.to_owned()));
        }
        if is_organization_id(entry) {
            return Ok(Grantee::Organization(entry.to_owned()));
        }
        Err(format!(
            "share-with: `{entry}` {}; use {ACCEPTED}",
            why_rejected(entry)
        ))
    }

    /// The statement ID layerpub gives this grant: `layerpub-123456789012`, `layerpub-o-…`,
    /// `layerpub-public`. Derived from the grantee alone, so a re-run (or a concurrent run)
    /// recognises grants already made, and statements added by hand are never mistaken for ours.
    pub(crate) fn statement_id(&self) -> String {
        match self {
            Grantee::Account(id) | Grantee::Organization(id) => format!("layerpub-{id}"),
            Grantee::Public => "layerpub-public".to_owned(),
        }
    }

    /// `Principal` and `OrganizationId` for `AddLayerVersionPermission`: an organization is
    /// every account (`*`) narrowed by its ID.
    pub(crate) fn principal(&self) -> (&str, Option<&str>) {
        match self {
            Grantee::Account(id) => (id, None),
            Grantee::Organization(id) => ("*", Some(id)),
            Grantee::Public => ("*", None),
        }
    }
}

impl fmt::Display for Grantee {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Grantee::Account(id) => write!(f, "account {id}"),
            Grantee::Organization(id) => write!(f, "organization {id}"),
            Grantee::Public => f.write_str("every AWS account"),
        }
    }
}

fn is_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

/// Lambda's own pattern: `o-[a-z0-9]{10,32}`.
fn is_organization_id(s: &str) -> bool {
    s.strip_prefix("o-").is_some_and(|rest| {
        (10..=32).contains(&rest.len())
            && rest
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    })
}

/// Says what is wrong with an entry that is none of the accepted forms.
fn why_rejected(entry: &str) -> String {
    if entry.is_empty() {
        return "is empty".to_owned();
    }
    if entry.bytes().all(|b| b.is_ascii_digit()) {
        return format!("has {} digits; an account ID has 12", entry.len());
    }
    if entry.get(..2).is_some_and(|p| p.eq_ignore_ascii_case("o-")) {
        return "is not an organization ID, which is `o-` then 10 to 32 lowercase letters or digits"
            .to_owned();
    }
    if entry.starts_with("arn:") {
        return "is not an account's root ARN; other ARNs (users, roles) cannot be granted a layer"
            .to_owned();
    }
    "is not an account ID, an organization ID or `*`".to_owned()
}
