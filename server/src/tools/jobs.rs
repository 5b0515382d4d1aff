//! Tools of the `jobs` toolset.
