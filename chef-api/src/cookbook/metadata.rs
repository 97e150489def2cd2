//! Cookbook metadata: `metadata.json`, or `metadata.rb` evaluated by the sandboxed interpreter.
//!
//! CONTRACT STUB: the metadata work (issue 3) replaces the bodies; the cookbook loader codes
//! against these signatures.
#![allow(missing_docs, clippy::missing_errors_doc)]

use std::path::Path;

/// Where the metadata came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetadataSource {
    /// `metadata.json` (taken verbatim, wins over metadata.rb).
    Json,
    /// `metadata.rb`, evaluated; knife uploads the compiled JSON as an extra root file.
    Rb,
}

/// A cookbook's metadata as the JSON object that goes into the manifest.
#[derive(Debug, Clone, PartialEq)]
pub struct Metadata {
    json: serde_json::Map<String, serde_json::Value>,
}

/// Why metadata could not be loaded (file, line, column and what was wrong).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MetadataError {
    #[error("stub")]
    Stub,
}

impl Metadata {
    /// The cookbook name (`name`).
    pub fn name(&self) -> &str {
        self.json
            .get("name")
            .and_then(|v| v.as_str())
            .unwrap_or_default()
    }
    /// The version string as the manifest carries it.
    pub fn version(&self) -> &str {
        self.json
            .get("version")
            .and_then(|v| v.as_str())
            .unwrap_or("0.0.0")
    }
    /// The whole metadata object.
    pub fn as_json(&self) -> &serde_json::Map<String, serde_json::Value> {
        &self.json
    }
    /// `metadata.json` exactly as knife writes it when compiling metadata.rb.
    pub fn to_knife_json(&self) -> String {
        String::new()
    }
}

/// Loads a cookbook directory's metadata: `metadata.json` if present, else `metadata.rb`.
pub fn load(cookbook_dir: &Path) -> Result<(Metadata, MetadataSource), MetadataError> {
    let _ = cookbook_dir;
    Err(MetadataError::Stub)
}
