//! Which tools a server exposes, and the defaults tools fall back on.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::registry::{ToolDef, Toolset};

/// Server-wide settings, resolved from flags and the environment (flags win).
#[derive(Debug, Clone)]
pub struct Settings {
    /// Serve only read-only tools.
    pub read_only: bool,
    pub toolsets: BTreeSet<Toolset>,
    /// Individual tools served in addition to the toolsets (still subject to
    /// `read_only`). With `--tools` alone, `toolsets` is empty and only these are served.
    pub tools: BTreeSet<String>,
    /// The SQL warehouse `execute_sql` uses when none is given.
    pub default_warehouse_id: Option<String>,
    /// The cluster command-execution tools use when none is given.
    pub default_cluster_id: Option<String>,
    /// Poll step for waits; `None` uses the client's default (1 s). Tests shorten it.
    pub poll_unit: Option<Duration>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            read_only: false,
            toolsets: Toolset::DEFAULT.into_iter().collect(),
            tools: BTreeSet::new(),
            default_warehouse_id: None,
            default_cluster_id: None,
            poll_unit: None,
        }
    }
}

impl Settings {
    /// Whether `tool` is listed and callable.
    pub fn allows(&self, tool: &ToolDef) -> bool {
        if self.read_only && !tool.read_only {
            return false;
        }
        self.toolsets.contains(&tool.toolset) || self.tools.contains(tool.name)
    }

    /// Why `tool` is not available, for the error an agent sees.
    pub fn refusal(&self, tool: &ToolDef) -> String {
        if self.read_only && !tool.read_only {
            format!("tool `{}` changes the workspace and the server runs in read-only mode", tool.name)
        } else {
            format!(
                "tool `{}` belongs to toolset `{}`, which is not enabled; enable it with --toolsets or name the tool in --tools",
                tool.name, tool.toolset
            )
        }
    }
}
