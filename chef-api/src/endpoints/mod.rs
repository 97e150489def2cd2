//! Typed Chef server endpoints on top of [`ChefClient`]: generic JSON verbs plus cookbooks,
//! nodes, search and users.

mod cookbooks;
mod nodes;
mod search;
mod users;

use bytes::Bytes;
use reqwest::Method;
use serde::Serialize;
use serde::de::DeserializeOwned;

pub use cookbooks::{CookbookListing, CookbookVersionRef};
pub use search::{SearchOptions, SearchPage};

use crate::client::ChefClient;
use crate::error::{Error, Result};

/// Serialises a request body.
pub(crate) fn to_body<B: Serialize + ?Sized>(body: &B) -> Result<Bytes> {
    serde_json::to_vec(body)
        .map(Bytes::from)
        .map_err(|e| Error::Config {
            key: "body".into(),
            message: format!("request body is not serialisable as JSON: {e}"),
        })
}

impl ChefClient {
    /// GET `path` (relative to the server URL, may include a query) and decode the JSON
    /// answer as `T` (use [`serde_json::Value`] for raw JSON).
    ///
    /// # Errors
    /// The request's error, or [`Error::InvalidResponse`] naming the JSON path at fault.
    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        self.request(Method::GET, path, None).await?.json()
    }

    /// DELETE `path` and decode the answer.
    ///
    /// # Errors
    /// As for [`ChefClient::get`].
    pub async fn delete<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        self.request(Method::DELETE, path, None).await?.json()
    }

    /// PUT `body` as JSON to `path` and decode the answer.
    ///
    /// # Errors
    /// As for [`ChefClient::get`].
    pub async fn put<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T> {
        self.request(Method::PUT, path, Some(to_body(body)?))
            .await?
            .json()
    }

    /// POST `body` as JSON to `path` and decode the answer.
    ///
    /// # Errors
    /// As for [`ChefClient::get`].
    pub async fn post<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T> {
        self.request(Method::POST, path, Some(to_body(body)?))
            .await?
            .json()
    }

    /// Finds the server API version: the one already negotiated, or asks the server with a
    /// small signed GET (`/environments/_default`). Any answer below 500 decides, even an
    /// error status.
    ///
    /// # Errors
    /// Transport, TLS, 401 and 5xx errors of that request.
    pub async fn negotiate_api_version(&self) -> Result<u32> {
        if let Some(v) = self.api_version() {
            return Ok(v);
        }
        match self
            .request(Method::GET, "environments/_default", None)
            .await
        {
            Ok(_) => {}
            Err(e @ (Error::Unauthorized(_) | Error::Server(_))) => return Err(e),
            Err(e) if e.status().is_none() => return Err(e),
            Err(_) => {}
        }
        Ok(self.api_version().unwrap_or(0))
    }
}
