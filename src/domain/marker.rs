//! The fingerprint marker every published version carries at the end of its `Description`.
//!
//! Publishing and recording the fingerprint are then one API call: no crash can leave a version
//! without its record. Pure.

use crate::domain::limits::DESCRIPTION_MAX;

const TAG: &str = "layerpub:sha256:";
/// Length of the marker itself: the tag and 64 hex digits.
pub(crate) const MARKER_LEN: usize = TAG.len() + 64;
/// Characters left for the user's description: the marker and one separating space take the
/// rest of Lambda's 256.
pub(crate) const DESCRIPTION_ROOM: usize = DESCRIPTION_MAX - MARKER_LEN - 1;

/// `layerpub:sha256:<fingerprint>`.
pub fn marker(fingerprint: &str) -> String {
    format!("{TAG}{fingerprint}")
}

/// The description to publish: the user's, then the marker.
pub fn description(user: Option<&str>, fingerprint: &str) -> String {
    match user.map(str::trim).filter(|u| !u.is_empty()) {
        Some(u) => format!("{u} {}", marker(fingerprint)),
        None => marker(fingerprint),
    }
}

/// The fingerprint a published description carries, if it carries a well-formed marker.
pub fn fingerprint_in(description: &str) -> Option<&str> {
    let start = description.rfind(TAG)? + TAG.len();
    let hex = description[start..].get(..64)?;
    let rest = &description[start + 64..];
    let well_formed = hex
        .bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        && rest.trim().is_empty();
    well_formed.then_some(hex)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FP: &str = "5186db4295f3b689d21d288a6e3412918eb5e3c1cbfeb89404e2cd38ada4fde2";

    #[test]
    fn round_trip_with_and_without_a_user_description() {
        let d = description(Some("Shared deps"), FP);
        assert_eq!(d, format!("Shared deps layerpub:sha256:{FP}"));
        assert_eq!(fingerprint_in(&d), Some(FP));
        assert_eq!(fingerprint_in(&description(None, FP)), Some(FP));
    }

    #[test]
    fn the_fullest_description_fits_lambdas_limit() {
        let d = description(Some(&"x".repeat(DESCRIPTION_ROOM)), FP);
        assert_eq!(d.chars().count(), DESCRIPTION_MAX);
        assert_eq!(DESCRIPTION_ROOM, 175);
    }

    #[test]
    fn foreign_or_damaged_descriptions_carry_no_fingerprint() {
        assert_eq!(fingerprint_in("published by hand"), None);
        assert_eq!(
            fingerprint_in(&format!("layerpub:sha256:{}", &FP[..63])),
            None
        );
        assert_eq!(
            fingerprint_in(&format!("layerpub:sha256:{} and more", FP)),
            None
        );
        assert_eq!(
            fingerprint_in(&format!("layerpub:sha256:{}", FP.to_uppercase())),
            None
        );
    }

    #[test]
    fn the_last_marker_counts() {
        let other = "0".repeat(64);
        let d = format!("copied from layerpub:sha256:{other} then {}", marker(FP));
        assert_eq!(fingerprint_in(&d), Some(FP));
    }
}
