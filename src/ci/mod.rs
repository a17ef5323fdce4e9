//! The CI platforms: GitHub (the runner's files, annotations, the pull-request comment) and
//! GitLab (the merge-request note), the comment and the note behind one forge.

pub mod forge;
pub mod github;
pub mod github_output;
pub mod gitlab;
pub mod rest;
