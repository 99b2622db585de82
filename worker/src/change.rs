//! The change an agent made to its workspace, as witnesses see it before anything is committed.
//!
//! Built by [`crate::git`] from the workspace's diff against the base commit (staged as the
//! commit would be), consumed by [`crate::witness`].

use serde::Serialize;

/// Every file the would-be commit touches.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ChangeSet {
    pub files: Vec<ChangedFile>,
}

impl ChangeSet {
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// Lines added plus lines removed, over every text file.
    pub fn changed_lines(&self) -> u64 {
        self.files
            .iter()
            .map(|f| f.lines_added + f.lines_removed)
            .sum()
    }
}

/// How a file changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FileStatus {
    Added,
    Modified,
    Deleted,
    Renamed,
    /// File mode (e.g. the executable bit) or type changed.
    TypeChanged,
}

/// One file of the change.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChangedFile {
    /// Path relative to the repository root, `/`-separated (the new path for renames).
    pub path: String,
    /// The old path, for renames.
    pub old_path: Option<String>,
    pub status: FileStatus,
    /// Size of the new content in bytes (0 for deletions).
    pub size_bytes: u64,
    pub lines_added: u64,
    pub lines_removed: u64,
    pub binary: bool,
    /// The new content of text files up to [`MAX_CONTENT_BYTES`] (for secret scanning);
    /// `None` for deletions, binaries and larger files.
    #[serde(skip)]
    pub content: Option<String>,
}

/// Text contents larger than this are not loaded for scanning (their size still is checked).
pub const MAX_CONTENT_BYTES: u64 = 1 << 20;
