//! Tools of the `compute` toolset.
