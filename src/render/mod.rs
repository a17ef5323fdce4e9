//! Rendering of results for people and programs: the text and JSON report, the job summary,
//! the pull-request comment and the GitLab dotenv report. Pure: values in, strings out.

pub mod comment;
pub mod dotenv;
pub mod report;
pub mod summary;
