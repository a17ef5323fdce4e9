//! The bottom layer: values and rules every other layer shares (errors, ARNs, Lambda's limits, the
//! version marker, untrusted text, secrets, the run's interrupt). Imports nothing from the crate
//! outside this folder.

pub mod arn;
pub mod blocking;
pub mod error;
pub mod follow_up;
pub mod grantee;
pub mod interrupt;
pub mod limits;
pub mod marker;
pub mod outcome;
pub mod report_names;
pub mod secret;
pub mod text;
