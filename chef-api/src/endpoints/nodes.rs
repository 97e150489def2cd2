//! `/nodes`.

use std::collections::BTreeMap;

use crate::client::ChefClient;
use crate::error::Result;

impl ChefClient {
    /// Node names and their URLs (`GET /nodes`).
    ///
    /// # Errors
    /// The request's error.
    pub async fn list_nodes(&self) -> Result<BTreeMap<String, String>> {
        self.get("nodes").await
    }

    /// One node as raw JSON (`GET /nodes/NAME`).
    ///
    /// # Errors
    /// [`crate::Error::NotFound`] when it does not exist.
    pub async fn node(&self, name: &str) -> Result<serde_json::Value> {
        self.get(&format!("nodes/{name}")).await
    }
}
