//! Witnesses over where the change is: `forbidden_paths` and `allowed_paths`. A rename touches
//! two paths, and both are checked: moving a file *out of* a forbidden directory changes it too.

use fleet_shared::definition::GlobList;

use super::Finding;
use crate::change::{ChangeSet, ChangedFile};

/// Every path a file's change touches: its path, and the old path of a rename.
fn touched(file: &ChangedFile) -> impl Iterator<Item = &str> {
    std::iter::once(file.path.as_str()).chain(file.old_path.as_deref())
}

pub(super) fn forbidden(globs: &GlobList, change: &ChangeSet) -> Vec<Finding> {
    let mut findings = Vec::new();
    for file in &change.files {
        for path in touched(file) {
            if let Some(glob) = globs.first_match(path) {
                let message = if path == file.path {
                    format!("matches forbidden glob {glob:?}")
                } else {
                    format!("is renamed from {path:?}, which matches forbidden glob {glob:?}")
                };
                findings.push(Finding::about(&file.path, message));
            }
        }
    }
    findings
}

pub(super) fn allowed(globs: &GlobList, change: &ChangeSet) -> Vec<Finding> {
    let mut findings = Vec::new();
    for file in &change.files {
        for path in touched(file) {
            if !globs.is_match(path) {
                let message = if path == file.path {
                    format!(
                        "is outside the allowed paths ({})",
                        globs.patterns().join(", ")
                    )
                } else {
                    format!(
                        "is renamed from {path:?}, outside the allowed paths ({})",
                        globs.patterns().join(", ")
                    )
                };
                findings.push(Finding::about(&file.path, message));
            }
        }
    }
    findings
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::super::{Verdict, evaluate};
    use crate::change::{ChangedFile, FileStatus};

    fn one(constraint: &str, files: Vec<ChangedFile>) -> Verdict {
        evaluate(&constraints(constraint), &change(files)).remove(0)
    }

    fn renamed(from: &str, to: &str) -> ChangedFile {
        ChangedFile {
            old_path: Some(from.into()),
            ..file(to, FileStatus::Renamed, "x\n")
        }
    }

    const FORBIDDEN: &str =
        "  - {constraint_id: c, witness: forbidden_paths, value: ['.github/**', '*.pem']}";
    const ALLOWED: &str =
        "  - {constraint_id: c, witness: allowed_paths, value: ['docs/**', '*.md']}";

    #[test]
    fn forbidden_paths_flag_matching_files_at_any_depth() {
        assert!(
            one(
                FORBIDDEN,
                vec![file("src/main.rs", FileStatus::Modified, "")]
            )
            .passed
        );
        let v = one(
            FORBIDDEN,
            vec![
                file(".github/workflows/ci.yml", FileStatus::Modified, ""),
                file("keys/server.pem", FileStatus::Deleted, ""),
                file("src/lib.rs", FileStatus::Modified, ""),
            ],
        );
        assert!(!v.passed);
        let paths: Vec<_> = v
            .findings
            .iter()
            .map(|f| f.path.as_deref().unwrap())
            .collect();
        assert_eq!(paths, [".github/workflows/ci.yml", "keys/server.pem"]);
        assert_eq!(v.findings[1].message, "matches forbidden glob \"*.pem\"");
    }

    #[test]
    fn forbidden_paths_see_the_old_path_of_a_rename() {
        let v = one(FORBIDDEN, vec![renamed(".github/CODEOWNERS", "CODEOWNERS")]);
        assert!(!v.passed);
        assert_eq!(
            v.findings[0].message,
            "is renamed from \".github/CODEOWNERS\", which matches forbidden glob \".github/**\""
        );
    }

    #[test]
    fn allowed_paths_pass_when_every_path_matches() {
        let files = vec![
            file("docs/guide/intro.md", FileStatus::Added, ""),
            file("README.md", FileStatus::Modified, ""),
            renamed("docs/old.md", "docs/new.md"),
        ];
        assert!(one(ALLOWED, files).passed);
    }

    #[test]
    fn allowed_paths_flag_files_and_renames_from_outside() {
        let v = one(
            ALLOWED,
            vec![
                file("src/main.rs", FileStatus::Modified, ""),
                renamed("src/notes.txt", "docs/notes.md"),
            ],
        );
        assert!(!v.passed);
        assert_eq!(v.findings.len(), 2);
        assert_eq!(
            v.findings[0].message,
            "is outside the allowed paths (docs/**, *.md)"
        );
        assert_eq!(v.findings[1].path.as_deref(), Some("docs/notes.md"));
        assert!(
            v.findings[1]
                .message
                .starts_with("is renamed from \"src/notes.txt\"")
        );
    }
}
