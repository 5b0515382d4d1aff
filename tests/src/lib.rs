//! End-to-end tests live in this package so that they are compiled as part of the workspace.
#![forbid(unsafe_code)]
