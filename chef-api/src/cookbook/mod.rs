//! Cookbooks on disk: file walk, chefignore, metadata, manifests.

pub mod metadata;
