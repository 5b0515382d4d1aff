//! Tools of the `dbfs` toolset.
