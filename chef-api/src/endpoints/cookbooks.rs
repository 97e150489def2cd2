//! `/cookbooks`: listing and single versions.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::client::ChefClient;
use crate::error::Result;
use crate::version::Version;

/// One cookbook in `GET /cookbooks?num_versions=all`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CookbookListing {
    /// URL of the cookbook.
    pub url: String,
    /// Its versions, newest first.
    pub versions: Vec<CookbookVersionRef>,
}

/// One version of a cookbook in a listing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CookbookVersionRef {
    /// URL of the version.
    pub url: String,
    /// The version.
    pub version: Version,
}

impl ChefClient {
    /// Every cookbook with every version (`GET /cookbooks?num_versions=all`), by name.
    ///
    /// # Errors
    /// The request's error, or [`crate::Error::InvalidResponse`].
    pub async fn list_cookbooks(&self) -> Result<BTreeMap<String, CookbookListing>> {
        self.get("cookbooks?num_versions=all").await
    }

    /// One cookbook version as the server returns it (manifest in the negotiated API
    /// version's shape, with file `url`s). `version` may be `_latest`.
    ///
    /// # Errors
    /// [`crate::Error::NotFound`] when it does not exist.
    pub async fn cookbook_version(&self, name: &str, version: &str) -> Result<serde_json::Value> {
        self.get(&format!("cookbooks/{name}/{version}")).await
    }

    /// The server's universe (`GET /universe`, Chef RFC 014): every cookbook version with its
    /// dependencies, in the Supermarket universe shape (`location_type: chef_server`,
    /// `location_path` = the version's URL). Berkshelf's `source :chef_server` resolves
    /// against it.
    ///
    /// # Errors
    /// The request's error, or [`crate::Error::InvalidResponse`] when the document is not a
    /// universe.
    pub async fn universe(&self) -> Result<crate::universe::Universe> {
        let resp = self.request(reqwest::Method::GET, "universe", None).await?;
        crate::universe::Universe::parse(self.server_url(), &resp.body).map_err(|e| {
            crate::Error::InvalidResponse {
                method: resp.method().to_owned(),
                url: resp.url().to_owned(),
                path: ".".to_owned(),
                message: e.to_string(),
            }
        })
    }
}
