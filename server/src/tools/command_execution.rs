//! Tools of the `command_execution` toolset.
