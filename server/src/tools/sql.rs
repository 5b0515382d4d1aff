//! Tools of the `sql` toolset.
