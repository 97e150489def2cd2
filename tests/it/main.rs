//! The integration tests, one binary (linked once) with one module per topic. Shared helpers
//! are in `support` (and in the `chef_testkit` member, with what the examples and benchmarks
//! use too).

mod support;

mod berkshelf_dsl;
mod berkshelf_git;
mod berkshelf_lockfile;
mod berkshelf_prepare;
mod berkshelf_resolve;
mod berkshelf_sources;
mod berkshelf_supermarket;
mod berkshelf_sync;
mod chef_semantics;
mod client_goiardi;
mod client_insecure_warning;
mod client_wiremock;
mod config_client;
mod config_seed;
mod config_variants;
mod cookbook_loader;
mod error_causes;
mod metadata_fixtures;
mod policy_install;
mod policy_push;
mod policy_push_lean_fake;
mod policy_push_progress;
mod policy_sources;
mod repo_objects;
mod signing_oracle;
mod status;
mod sync_goiardi;
mod upload_goiardi;
mod upload_wiremock;
