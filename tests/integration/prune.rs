//! `husky prune` tests (being written).
