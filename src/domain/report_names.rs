//! The names of the variables layerpub's dotenv report exports, and the rule that tells them
//! from settings.
//!
//! GitLab hands every variable of an earlier job's dotenv report to every later job, ranked
//! above the later job's own variables. A later layerpub job (another layer, `layerpub prune`)
//! then sees `LAYERPUB_LAYER_VERSION_ARN` and the rest in its environment. So the report's names
//! are kept disjoint from the settings' `LAYERPUB_*` names (a unit test in `config::env` checks
//! every setting against [`is_report_variable`]), and the settings reader skips them: an
//! inherited report can neither stop a later job ("not a layerpub setting") nor steer it (the
//! report's region once was `LAYERPUB_REGION`, which published a later job in the earlier
//! job's region; it is `LAYERPUB_LAYER_REGION` now).

/// Every report variable starts with this.
pub const PREFIX: &str = "LAYERPUB_";

/// The field names of the `variables` form, in the order they are written: each becomes
/// `LAYERPUB_<FIELD>`, suffixed `_<LAYER>` and/or `_<REGION>` when a run has several.
pub const FIELDS: [&str; 10] = [
    "LAYER_ARN",
    "LAYER_VERSION_ARN",
    "LAYER_VERSION",
    "PUBLISHED",
    "PREVIOUS_VERSION",
    "FINGERPRINT",
    "CODE_SHA256",
    "CODE_SIZE",
    "REASON",
    "LAYER_REGION",
];

/// The one variable of the `json` form.
pub const RESULTS_JSON: &str = "LAYERPUB_RESULTS_JSON";

/// Whether `name` is a variable a layerpub dotenv report exports (in either form, with any
/// suffix), and so never a setting.
pub fn is_report_variable(name: &str) -> bool {
    if name == RESULTS_JSON {
        return true;
    }
    let Some(rest) = name.strip_prefix(PREFIX) else {
        return false;
    };
    FIELDS.iter().any(|field| {
        rest.strip_prefix(field)
            .is_some_and(|tail| tail.is_empty() || tail.starts_with('_'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_names_with_any_suffix_are_recognised_and_nothing_else() {
        for name in [
            "LAYERPUB_LAYER_VERSION_ARN",
            "LAYERPUB_LAYER_VERSION_ARN_PY_DEPS_EU_WEST_1",
            "LAYERPUB_PUBLISHED",
            "LAYERPUB_CODE_SHA256_NODE",
            "LAYERPUB_LAYER_REGION_US_EAST_1",
            "LAYERPUB_RESULTS_JSON",
        ] {
            assert!(is_report_variable(name), "{name}");
        }
        for name in [
            "LAYERPUB_REGION",
            "LAYERPUB_LAYER_NAME",
            "LAYERPUB_PUBLISHEDX",
            "LAYERPUB_CODE",
            "LAYER_VERSION_ARN",
            "INPUT_LAYER_VERSION_ARN",
        ] {
            assert!(!is_report_variable(name), "{name}");
        }
    }
}
