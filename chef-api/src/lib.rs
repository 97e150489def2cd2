//! # chef-api
//!
//! The core of chef-sync: everything needed to talk to **one** Chef Infra Server
//! (or goiardi, or anything that speaks the Chef server API).
//!
//! * [`key`]: RSA private keys from PEM (PKCS#1 / PKCS#8), never printed.
//! * [`sign`]: pure request signing for protocol versions 1.0, 1.1 and 1.3.
//! * [`client`]: the typed async client (API-version negotiation, retries, TLS, clock skew).
//! * [`endpoints`]: generic JSON verbs, cookbooks, nodes, search (paged, partial), users.
//! * [`version`]: Chef cookbook versions and version constraints.
//! * [`ruby`]: a sandboxed evaluator for the Ruby DSLs Chef uses (metadata.rb, knife.rb,
//!   Berksfile); it parses with Ruby's own parser (prism) and never runs Ruby.
//! * [`cookbook`]: cookbooks on disk: file walk, chefignore, metadata, manifests.
//!
//! It knows nothing of knife.rb, Berksfiles or fan-out to many servers; that is `chef-sync`.

pub mod client;
pub mod cookbook;
pub mod endpoints;
pub mod error;
pub mod key;
pub mod ruby;
pub mod sign;
pub mod supermarket;
pub mod upload;
pub mod version;

pub use error::{Error, Result};
