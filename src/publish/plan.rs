//! The publish decision: (local fingerprint, the newest published version, --force) → publish
//! or not, and why. Pure: the caller fetched the remote state.

use crate::domain::marker::fingerprint_in;
use crate::domain::outcome::{Reason, RemoteVersion};
use crate::package::fingerprint::FingerprintDocument;

/// What to do for one layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Nothing: the newest version already has this fingerprint.
    Unchanged(RemoteVersion),
    /// Package, upload and publish.
    Publish {
        reason: Reason,
        previous: Option<RemoteVersion>,
    },
}

/// Decides from the newest version alone: one API call's worth of state.
pub fn decide(latest: Option<RemoteVersion>, fingerprint: &str, force: bool) -> Decision {
    let reason = match &latest {
        None => Reason::FirstVersion,
        Some(_) if force => Reason::Forced,
        Some(v) => match fingerprint_in(&v.description) {
            Some(fp) if fp == fingerprint => {
                return Decision::Unchanged(latest.expect("matched Some"));
            }
            Some(_) => Reason::FingerprintChanged,
            None => Reason::NoMarker,
        },
    };
    Decision::Publish {
        reason,
        previous: latest,
    }
}

/// Says how the fingerprint changed, when the previous version's document is at hand.
pub fn refine(
    reason: Reason,
    previous: Option<&FingerprintDocument>,
    current: &FingerprintDocument,
) -> Reason {
    match (reason, previous) {
        (Reason::FingerprintChanged, Some(prev)) if prev.source != current.source => {
            Reason::ManifestChanged
        }
        (Reason::FingerprintChanged, Some(prev))
            if prev.settings != current.settings || prev.layer_name != current.layer_name =>
        {
            Reason::SettingsChanged
        }
        _ => reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::marker::description;

    const FP: &str = "5186db4295f3b689d21d288a6e3412918eb5e3c1cbfeb89404e2cd38ada4fde2";

    fn version(desc: &str) -> RemoteVersion {
        RemoteVersion {
            version: 3,
            layer_version_arn: "arn:aws:lambda:us-east-1:123456789012:layer:deps:3".into(),
            description: desc.into(),
        }
    }

    #[test]
    fn same_marker_publishes_nothing() {
        let v = version(&description(Some("deps"), FP));
        assert_eq!(decide(Some(v.clone()), FP, false), Decision::Unchanged(v));
    }

    #[test]
    fn no_layer_yet_is_a_first_version_even_when_forced() {
        assert_eq!(
            decide(None, FP, true),
            Decision::Publish {
                reason: Reason::FirstVersion,
                previous: None
            }
        );
    }

    #[test]
    fn another_marker_a_missing_marker_and_force_all_publish() {
        let other = version(&description(None, &"0".repeat(64)));
        let foreign = version("built by hand");
        let same = version(&description(None, FP));
        let reason = |d: Decision| match d {
            Decision::Publish { reason, .. } => reason,
            Decision::Unchanged(_) => panic!("expected a publish"),
        };
        assert_eq!(
            reason(decide(Some(other), FP, false)),
            Reason::FingerprintChanged
        );
        assert_eq!(reason(decide(Some(foreign), FP, false)), Reason::NoMarker);
        assert_eq!(reason(decide(Some(same), FP, true)), Reason::Forced);
    }
}
