//! Tools of the `unity_catalog` toolset.
