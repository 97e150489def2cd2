//! # chef-sync
//!
//! Sync one Chef repository to many Chef Infra Servers at once.

pub mod berkshelf;
pub mod config;
