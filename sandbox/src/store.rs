//! Persistence: each service saves its state as one JSON document under the data
//! directory, written crash-safely (a temporary file, fsync, then rename).

use std::path::{Path, PathBuf};

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// Where state lives. Without a directory, saving does nothing.
#[derive(Debug, Clone)]
pub struct Store {
    dir: Option<PathBuf>,
}

impl Store {
    pub fn open(dir: Option<PathBuf>) -> anyhow::Result<Self> {
        if let Some(d) = &dir {
            std::fs::create_dir_all(d)
                .map_err(|e| anyhow::anyhow!("cannot create data directory {}: {e}", d.display()))?;
        }
        Ok(Self { dir })
    }

    /// An in-memory store.
    pub fn memory() -> Self {
        Self { dir: None }
    }

    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    /// Read `<name>.json`, or `None` when it does not exist (or there is no directory).
    pub fn load<T: DeserializeOwned>(&self, name: &str) -> anyhow::Result<Option<T>> {
        let Some(dir) = &self.dir else { return Ok(None) };
        let path = dir.join(format!("{name}.json"));
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| anyhow::anyhow!("{} is not valid sandbox state: {e}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(anyhow::anyhow!("cannot read {}: {e}", path.display())),
        }
    }

    /// Write `<name>.json` atomically.
    pub fn save<T: Serialize>(&self, name: &str, value: &T) -> Result<(), ApiError> {
        let Some(dir) = &self.dir else { return Ok(()) };
        let bytes = serde_json::to_vec(value).map_err(|e| ApiError::internal(format!("cannot encode {name}: {e}")))?;
        write_atomic(&dir.join(format!("{name}.json")), &bytes)
            .map_err(|e| ApiError::new(500, "IO_ERROR", format!("cannot persist {name}: {e}")))
    }
}

/// Write a file so that a crash leaves either the old or the new contents.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let tmp = path.with_extension(format!("tmp-{}", uuid::Uuid::new_v4().simple()));
    let mut file = std::fs::File::create(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&tmp, path)
}
