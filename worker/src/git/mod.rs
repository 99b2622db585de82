//! Git with libgit2: mirror cache, workspace clone, change set, commit, push. Being written.
