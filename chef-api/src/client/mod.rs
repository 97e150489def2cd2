//! The typed async client for one Chef server.
//!
//! ```no_run
//! # async fn demo() -> chef_api::Result<()> {
//! use chef_api::client::ChefClient;
//! use chef_api::key::PrivateKey;
//!
//! let client = ChefClient::builder("https://chef.example/organizations/acme")
//!     .with_client_name("deploy")
//!     .with_key(PrivateKey::from_pem_file("deploy.pem")?)
//!     .build()?;
//! let cookbooks = client.list_cookbooks().await?;
//! println!("{} cookbooks, API v{}", cookbooks.len(), client.negotiate_api_version().await?);
//! # Ok(()) }
//! ```
//!
//! One [`ChefClient`] serves one server; it is cheap to clone (an `Arc` inside) and may be
//! used from many tasks at once. Signed requests go through one pipeline ([`send`]) that
//! negotiates the server API version ([`api_version`]), corrects the clock ([`clock`]),
//! falls back from signing protocol 1.3 to 1.1 once, and retries transient failures
//! ([`retry`]). Unsigned requests to absolute URLs (sandbox file uploads, file downloads)
//! are in [`absolute`].

pub mod absolute;
pub mod api_version;
mod body;
mod builder;
pub mod clock;
mod config_key;
mod dns;
pub mod flavor;
pub mod license;
pub mod retry;
pub mod send;
pub mod tls;

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

use url::Url;

pub use absolute::UploadBody;
pub use body::DEFAULT_MAX_RESPONSE_BYTES;
pub use builder::{ChefClientBuilder, DEFAULT_CHEF_VERSION};
pub use clock::{Clock, OffsetClock, SystemClock};
pub use config_key::{ChefConfigKey, parse_sign_version};
pub use license::LicenseNotice;
pub use retry::RetryConfig;
pub use send::{Response, SignedAhead};
pub use tls::TlsOptions;

use crate::key::PrivateKey;
use crate::sign::SignVersion;

/// A client for one Chef server. Clone it freely; clones share connections and what was
/// learned about the server (API version, clock offset, signing version).
#[derive(Clone)]
pub struct ChefClient {
    inner: Arc<Inner>,
}

struct Inner {
    base: Url,
    client_name: String,
    key: PrivateKey,
    sign_version: SignVersionCell,
    chef_version: reqwest::header::HeaderValue,
    http: reqwest::Client,
    /// Built on the first download (redirects followed): a sync that only uploads sets up
    /// one HTTP client (and one TLS configuration) per server, not two.
    download_http: builder::LazyHttp,
    retry: RetryConfig,
    clock: Arc<dyn Clock>,
    /// Ceiling on one buffered answer body.
    max_response_bytes: u64,
    skew: clock::Skew,
    api: api_version::ApiVersionState,
    license: license::LicenseState,
    flavor: flavor::FlavorState,
}

impl std::fmt::Debug for ChefClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChefClient")
            .field("server_url", &crate::error::redact_url(&self.inner.base))
            .field("client_name", &self.inner.client_name)
            .field("sign_version", &self.sign_version())
            .field("api_version", &self.api_version())
            .finish_non_exhaustive()
    }
}

/// The signing version, shared so that a fallback to 1.1 sticks for all clones.
struct SignVersionCell(AtomicU8);

impl SignVersionCell {
    fn new(v: SignVersion) -> Self {
        Self(AtomicU8::new(Self::encode(v)))
    }
    fn encode(v: SignVersion) -> u8 {
        match v {
            SignVersion::V1_0 => 0,
            SignVersion::V1_1 => 1,
            SignVersion::V1_3 => 3,
        }
    }
    fn get(&self) -> SignVersion {
        match self.0.load(Ordering::Relaxed) {
            0 => SignVersion::V1_0,
            1 => SignVersion::V1_1,
            _ => SignVersion::V1_3,
        }
    }
    fn set(&self, v: SignVersion) {
        self.0.store(Self::encode(v), Ordering::Relaxed);
    }
}

impl ChefClient {
    /// Starts configuring a client for `server_url`, with or without `/organizations/ORG`,
    /// with or without a trailing `/`.
    pub fn builder(server_url: impl Into<String>) -> ChefClientBuilder {
        ChefClientBuilder::new(server_url.into())
    }

    /// The server URL requests are relative to (no trailing `/`).
    pub fn server_url(&self) -> &Url {
        &self.inner.base
    }

    /// The name requests are signed as.
    pub fn client_name(&self) -> &str {
        &self.inner.client_name
    }

    /// The signing protocol in use (1.1 after a server rejected 1.3).
    pub fn sign_version(&self) -> SignVersion {
        self.inner.sign_version.get()
    }

    /// The server API version negotiated so far, `None` before the first answer.
    /// Cookbook manifests use `all_files` when this is 2 and segments otherwise.
    pub fn api_version(&self) -> Option<u32> {
        self.inner.api.get()
    }

    /// The latest `X-Ops-License` notice the server sent (a licence in its grace period),
    /// if any.
    pub fn license_notice(&self) -> Option<LicenseNotice> {
        self.inner.license.get()
    }

    /// Whether the server is goiardi: true once any of its answers carried `X-Goiardi: yes`
    /// ([`flavor`]), so false before the first answer. For server quirks only.
    pub fn is_goiardi(&self) -> bool {
        self.inner.flavor.is_goiardi()
    }

    /// Who requests are signed as: server, client name and where the key came from.
    pub fn signed_as(&self) -> crate::error::SignedAs {
        crate::error::SignedAs {
            server: crate::error::redact_url(&self.inner.base)
                .trim_end_matches('/')
                .to_owned(),
            client_name: self.inner.client_name.clone(),
            key: self.inner.key.origin().clone(),
        }
    }

    /// The clock offset (server − local, seconds) learned from the server's `Date` header.
    pub fn clock_offset_seconds(&self) -> i64 {
        self.inner.skew.get()
    }

    /// The absolute URL of `path` (relative to the server URL, may carry a query string),
    /// or `path` itself when it is already an absolute `http(s)://` URL.
    ///
    /// # Errors
    /// [`crate::Error::Config`] when an absolute URL does not parse.
    pub fn url_for(&self, path: &str) -> crate::Result<Url> {
        if path.starts_with("http://") || path.starts_with("https://") {
            return Url::parse(path).map_err(|e| crate::Error::Config {
                key: "url".into(),
                message: format!("`{path}`: {e}"),
            });
        }
        let (p, query) = match path.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (path, None),
        };
        let mut url = self.inner.base.clone();
        let joined = format!(
            "{}/{}",
            self.inner.base.path().trim_end_matches('/'),
            p.trim_start_matches('/')
        );
        url.set_path(&joined);
        url.set_query(query);
        Ok(url)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_version_cell_round_trips() {
        let cell = SignVersionCell::new(SignVersion::V1_3);
        assert_eq!(cell.get(), SignVersion::V1_3);
        for v in [SignVersion::V1_0, SignVersion::V1_1, SignVersion::V1_3] {
            cell.set(v);
            assert_eq!(cell.get(), v);
        }
    }
}
