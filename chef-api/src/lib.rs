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
//! * [`json`]: the nesting limit every JSON document read from outside passes first.
//! * [`ruby`]: a sandboxed evaluator for the Ruby DSLs Chef uses (metadata.rb, knife.rb,
//!   Berksfile); it parses with Ruby's own parser (prism) and never runs Ruby.
//! * [`cookbook`]: cookbooks on disk: file walk, chefignore, metadata, manifests.
//! * [`upload`]: upload cookbooks to one server as knife does (plan, sandbox, files, commit,
//!   manifests in dependency order) with progress events.
//! * [`download`]: download a cookbook version into a directory, every file verified.
//! * [`universe`]: the universe document (cookbook versions, dependencies, locations) that
//!   Chef Server's `/universe` and Supermarkets speak.
//!
//! It knows nothing of knife.rb, Berksfiles or fan-out to many servers; that is `chef-sync`.
//!
//! ## Example
//!
//! List the cookbooks on a server, signing with protocol 1.3:
//!
//! ```no_run
//! use chef_api::client::ChefClient;
//! use chef_api::key::PrivateKey;
//!
//! # async fn run() -> chef_api::Result<()> {
//! let client = ChefClient::builder("https://chef.example.com/organizations/default")
//!     .with_client_name("pivotal")
//!     .with_key(PrivateKey::from_pem_file(".chef/us-east-1/private.pem")?)
//!     .build()?;
//! for (name, listing) in client.list_cookbooks().await? {
//!     println!("{name}: {} versions", listing.versions.len());
//! }
//! # Ok(())
//! # }
//! ```
//!
//! Signing is a pure function, usable without a client:
//!
//! ```
//! use chef_api::sign::{canonical_path, content_hash, SignVersion};
//!
//! assert_eq!(canonical_path("//cookbooks/?num_versions=all"), "/cookbooks");
//! assert_eq!(content_hash(SignVersion::V1_3, b""), "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=");
//! ```

pub mod client;
pub mod cookbook;
pub mod download;
pub mod endpoints;
pub mod error;
pub mod json;
pub mod key;
pub mod ruby;
pub mod sign;
pub mod universe;
pub mod upload;
pub mod version;

pub use error::{Error, Result};
