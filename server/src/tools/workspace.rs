//! Tools of the `workspace` toolset.
