//! A mutation fuzzer for chef-sync that runs on stable Rust, and the replay of its findings.
//!
//! One [target](targets) per parser of input chef-sync did not write: the Ruby sandbox through
//! each DSL (metadata.rb, knife.rb, Berksfile), PEM keys, config.yml, credentials,
//! Berksfile.lock, universe JSON, metadata.json, Chef server JSON answers, version constraints,
//! chefignore patterns and cookbook archives (tar, tar.gz, zip). Seeds come from the
//! repository's `tests/data` fixtures and a few inline samples; [`mutate`] changes them
//! (bytes, dictionary tokens, deep nesting, integer edges); [`harness`] runs every input on a
//! 256 KiB stack under a 1 s and 256 MiB ceiling and keeps each failure under
//! `fuzz/regressions/<target>/`, which `cargo test -p chef-sync-fuzz` replays.
//!
//! Run it with `scripts/fuzz [SECONDS] [TARGET...]`; see `FUZZING.md` for long runs and the
//! latest results.

pub mod alloc;
pub mod harness;
pub mod mutate;
pub mod targets;
