//! Witnesses over sizes and counts: `max_file_size`, `max_changed_files`, `max_changed_lines`,
//! `no_binary_files`.

use fleet_shared::definition::Size;

use super::Finding;
use crate::change::{ChangeSet, FileStatus};

/// `2.5 MiB`-style size for messages; exact bytes are in the change set itself.
fn human(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["bytes", "KiB", "MiB", "GiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} bytes")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

pub(super) fn max_file_size(limit: Size, change: &ChangeSet) -> Vec<Finding> {
    change
        .files
        .iter()
        .filter(|f| f.status != FileStatus::Deleted && f.size_bytes > limit.bytes())
        .map(|f| {
            Finding::about(
                &f.path,
                format!("is {}, over the limit of {limit}", human(f.size_bytes)),
            )
        })
        .collect()
}

pub(super) fn max_changed_files(limit: u64, change: &ChangeSet) -> Vec<Finding> {
    let n = change.files.len() as u64;
    if n <= limit {
        return vec![];
    }
    vec![Finding::general(format!(
        "{n} files changed, over the limit of {limit}"
    ))]
}

pub(super) fn max_changed_lines(limit: u64, change: &ChangeSet) -> Vec<Finding> {
    let n = change.changed_lines();
    if n <= limit {
        return vec![];
    }
    let added: u64 = change.files.iter().map(|f| f.lines_added).sum();
    let removed: u64 = change.files.iter().map(|f| f.lines_removed).sum();
    vec![Finding::general(format!(
        "{n} lines changed (+{added} -{removed}), over the limit of {limit}"
    ))]
}

pub(super) fn no_binary_files(on: bool, change: &ChangeSet) -> Vec<Finding> {
    if !on {
        return vec![];
    }
    change
        .files
        .iter()
        // Deleting a binary is fine: it removes one.
        .filter(|f| f.binary && f.status != FileStatus::Deleted)
        .map(|f| Finding::about(&f.path, "is a binary file"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::super::{Verdict, evaluate};
    use crate::change::FileStatus;

    fn one(constraint: &str, files: Vec<crate::change::ChangedFile>) -> Verdict {
        evaluate(&constraints(constraint), &change(files)).remove(0)
    }

    #[test]
    fn max_file_size_flags_only_files_over_the_limit() {
        let c = "  - {constraint_id: c, witness: max_file_size, value: 1k}";
        let small = file("small.txt", FileStatus::Added, &"x".repeat(1024));
        let mut big = file("big.txt", FileStatus::Modified, &"x".repeat(1536));
        assert!(one(c, vec![small.clone()]).passed);
        let v = one(c, vec![small, big.clone()]);
        assert!(!v.passed);
        assert_eq!(v.findings.len(), 1);
        assert_eq!(v.findings[0].path.as_deref(), Some("big.txt"));
        assert_eq!(v.findings[0].message, "is 1.5 KiB, over the limit of 1k");
        big.status = FileStatus::Deleted;
        big.size_bytes = 0;
        assert!(one(c, vec![big]).passed);
    }

    #[test]
    fn max_changed_files_counts_every_file() {
        let c = "  - {constraint_id: c, witness: max_changed_files, value: 2}";
        let f = |p: &str| file(p, FileStatus::Modified, "x\n");
        assert!(one(c, vec![f("a"), f("b")]).passed);
        let v = one(c, vec![f("a"), f("b"), f("c")]);
        assert!(!v.passed);
        assert_eq!(
            v.findings[0].message,
            "3 files changed, over the limit of 2"
        );
    }

    #[test]
    fn max_changed_lines_adds_added_and_removed_lines() {
        let c = "  - {constraint_id: c, witness: max_changed_lines, value: 10}";
        let mut a = file("a", FileStatus::Modified, "");
        a.lines_added = 6;
        a.lines_removed = 4;
        assert!(one(c, vec![a.clone()]).passed);
        a.lines_removed = 5;
        let v = one(c, vec![a]);
        assert!(!v.passed);
        assert_eq!(
            v.findings[0].message,
            "11 lines changed (+6 -5), over the limit of 10"
        );
    }

    #[test]
    fn no_binary_files_flags_added_binaries_but_not_deleted_ones() {
        let on = "  - {constraint_id: c, witness: no_binary_files, value: true}";
        let off = "  - {constraint_id: c, witness: no_binary_files, value: false}";
        let mut bin = file("a.png", FileStatus::Added, "");
        bin.binary = true;
        assert!(!one(on, vec![bin.clone()]).passed);
        assert!(one(off, vec![bin.clone()]).passed);
        bin.status = FileStatus::Deleted;
        assert!(one(on, vec![bin, file("a.rs", FileStatus::Added, "x")]).passed);
    }
}
