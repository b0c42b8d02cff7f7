//! A model crate of the proc-macro-heavy bench workspace.
include!("../../model.rs");
