//! [`ChefClientBuilder`]: configuration and validation of a [`ChefClient`].

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use url::Url;

use super::api_version::ApiVersionState;
use super::body::DEFAULT_MAX_RESPONSE_BYTES;
use super::clock::{Clock, Skew, SystemClock};
use super::retry::RetryConfig;
use super::tls::{TlsOptions, extra_roots, shared_config};
use super::{ChefClient, Inner, SignVersionCell};
use crate::error::{Error, Result};
use crate::key::PrivateKey;
use crate::sign::SignVersion;

/// The `X-Chef-Version` sent by default (Chef Server's nginx wants a version ≥ 10).
pub const DEFAULT_CHEF_VERSION: &str = "18.4.12";

/// Builds a [`ChefClient`]. Start with [`ChefClient::builder`].
///
/// Defaults: signing protocol 1.3 (stepping down to 1.1 once if the server rejects it),
/// `X-Chef-Version` [`DEFAULT_CHEF_VERSION`], connect timeout 10 s, request timeout 60 s,
/// [`RetryConfig::default`], the system clock, TLS verification on with the system roots,
/// proxies from the environment (`HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY`, `NO_PROXY`),
/// answers of at most [`DEFAULT_MAX_RESPONSE_BYTES`].
#[derive(Debug, Clone)]
pub struct ChefClientBuilder {
    server_url: String,
    client_name: Option<String>,
    key: Option<PrivateKey>,
    key_file: Option<PathBuf>,
    sign_version: SignVersion,
    chef_version: String,
    tls: TlsOptions,
    proxy: Option<String>,
    no_proxy: Option<String>,
    connect_timeout: Duration,
    request_timeout: Duration,
    retry: RetryConfig,
    clock: Arc<dyn Clock>,
    max_response_bytes: u64,
}

impl ChefClientBuilder {
    pub(super) fn new(server_url: String) -> Self {
        Self {
            server_url,
            client_name: None,
            key: None,
            key_file: None,
            sign_version: SignVersion::V1_3,
            chef_version: DEFAULT_CHEF_VERSION.to_owned(),
            tls: TlsOptions::default(),
            proxy: None,
            no_proxy: None,
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(60),
            retry: RetryConfig::default(),
            clock: Arc::new(SystemClock),
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
        }
    }

    /// Replaces the server URL given to [`ChefClient::builder`].
    #[must_use]
    pub fn with_server_url(mut self, server_url: impl Into<String>) -> Self {
        self.server_url = server_url.into();
        self
    }

    /// The client or user name requests are signed as (knife's `node_name`).
    #[must_use]
    pub fn with_client_name(mut self, name: impl Into<String>) -> Self {
        self.client_name = Some(name.into());
        self
    }

    /// The private key requests are signed with.
    #[must_use]
    pub fn with_key(mut self, key: PrivateKey) -> Self {
        self.key = Some(key);
        self.key_file = None;
        self
    }

    /// Reads the private key from a PEM file at [`build`](Self::build) (knife's `client_key`).
    #[must_use]
    pub fn with_key_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.key_file = Some(path.into());
        self.key = None;
        self
    }

    /// The signing protocol to start with (default 1.3).
    #[must_use]
    pub fn with_sign_version(mut self, version: SignVersion) -> Self {
        self.sign_version = version;
        self
    }

    /// The `X-Chef-Version` header value.
    #[must_use]
    pub fn with_chef_version(mut self, version: impl Into<String>) -> Self {
        self.chef_version = version.into();
        self
    }

    /// All TLS options at once.
    #[must_use]
    pub fn with_tls(mut self, tls: TlsOptions) -> Self {
        self.tls = tls;
        self
    }

    /// Trusts the CA certificates in this PEM file too (knife's `ssl_ca_file`).
    #[must_use]
    pub fn with_ssl_ca_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.tls.ssl_ca_file = Some(path.into());
        self
    }

    /// Trusts every certificate in this directory too (knife's `trusted_certs_dir`).
    #[must_use]
    pub fn with_trusted_certs_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.tls.trusted_certs_dir = Some(dir.into());
        self
    }

    /// Turns TLS certificate verification off. Each client built so logs a warning.
    #[must_use]
    pub fn with_insecure_skip_tls_verify(mut self, insecure: bool) -> Self {
        self.tls.insecure_skip_verify = insecure;
        self
    }

    /// Sends every request through this proxy instead of the one from the environment.
    #[must_use]
    pub fn with_proxy(mut self, proxy_url: impl Into<String>) -> Self {
        self.proxy = Some(proxy_url.into());
        self
    }

    /// Hosts that bypass the explicit proxy (`NO_PROXY` syntax); default: `NO_PROXY` from the
    /// environment.
    #[must_use]
    pub fn with_no_proxy(mut self, no_proxy: impl Into<String>) -> Self {
        self.no_proxy = Some(no_proxy.into());
        self
    }

    /// Time allowed to establish a connection.
    #[must_use]
    pub fn with_connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Time allowed for one whole request (one attempt).
    #[must_use]
    pub fn with_request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// The retry policy.
    #[must_use]
    pub fn with_retry(mut self, retry: RetryConfig) -> Self {
        self.retry = retry;
        self
    }

    /// Sets only [`RetryConfig::max_retries`] (knife's `http_retry_count`).
    #[must_use]
    pub fn with_max_retries(mut self, max_retries: u32) -> Self {
        self.retry.max_retries = max_retries;
        self
    }

    /// The clock timestamps come from (tests use [`super::OffsetClock`]).
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The largest answer body the client buffers, in bytes (default
    /// [`DEFAULT_MAX_RESPONSE_BYTES`], 64 MiB). A larger one (by its `Content-Length`, or by
    /// what actually arrives) is refused with [`Error::InvalidResponse`] naming the request,
    /// before more than this is held in memory. Error answers keep only their first MiB.
    /// [`ChefClient::download_stream`] streams and is not limited by this.
    #[must_use]
    pub fn with_max_response_bytes(mut self, bytes: u64) -> Self {
        self.max_response_bytes = bytes;
        self
    }

    /// Validates the configuration and builds the client.
    ///
    /// # Errors
    /// [`Error::Config`] for a bad URL, missing name or key, bad proxy or header value;
    /// [`Error::Key`] / [`Error::Io`] when the key or a certificate cannot be read.
    pub fn build(self) -> Result<ChefClient> {
        let base = parse_server_url(&self.server_url)?;
        let client_name = self
            .client_name
            .filter(|n| !n.trim().is_empty())
            .ok_or_else(|| config("client_name", "a client name is required"))?;
        let key = match (self.key, self.key_file) {
            (Some(key), _) => key,
            (None, Some(path)) => PrivateKey::from_pem_file(&path)?,
            (None, None) => return Err(config("client_key", "a private key is required")),
        };
        let chef_version = reqwest::header::HeaderValue::from_str(&self.chef_version)
            .map_err(|e| config("chef_version", &e.to_string()))?;

        let roots = extra_roots(&self.tls)?;
        if self.tls.insecure_skip_verify {
            tracing::warn!(
                server = %crate::error::redact_url(&base),
                "TLS certificate verification is OFF for this Chef server client"
            );
        }
        let proxy = match &self.proxy {
            None => None,
            Some(p) => {
                let no_proxy = match &self.no_proxy {
                    Some(list) => reqwest::NoProxy::from_string(list),
                    None => reqwest::NoProxy::from_env(),
                };
                Some(
                    reqwest::Proxy::all(p)
                        .map_err(|e| config("proxy", &e.to_string()))?
                        .no_proxy(no_proxy),
                )
            }
        };
        let settings = HttpSettings {
            connect_timeout: self.connect_timeout,
            request_timeout: self.request_timeout,
            insecure_skip_verify: self.tls.insecure_skip_verify,
            roots,
            proxy,
        };
        let http = settings.build(reqwest::redirect::Policy::none())?;
        let download_http = LazyHttp {
            settings,
            client: std::sync::OnceLock::new(),
        };

        Ok(ChefClient {
            inner: Arc::new(Inner {
                base,
                client_name,
                key,
                sign_version: SignVersionCell::new(self.sign_version),
                chef_version,
                http,
                download_http,
                retry: self.retry,
                clock: self.clock,
                max_response_bytes: self.max_response_bytes,
                skew: Skew::default(),
                api: ApiVersionState::new(),
                license: super::license::LicenseState::default(),
                flavor: super::flavor::FlavorState::default(),
            }),
        })
    }
}

/// What an HTTP client of this server is built from.
struct HttpSettings {
    connect_timeout: Duration,
    request_timeout: Duration,
    insecure_skip_verify: bool,
    roots: Vec<rustls::pki_types::CertificateDer<'static>>,
    proxy: Option<reqwest::Proxy>,
}

impl HttpSettings {
    fn build(&self, redirects: reqwest::redirect::Policy) -> Result<reqwest::Client> {
        let mut b = reqwest::Client::builder()
            .redirect(redirects)
            .connect_timeout(self.connect_timeout)
            .timeout(self.request_timeout)
            // One DNS lookup per host for the many connections an upload opens at once.
            .dns_resolver(Arc::new(super::dns::SharedLookups::default()));
        b = if self.insecure_skip_verify {
            b.tls_danger_accept_invalid_certs(true)
        } else {
            // The process's one configuration for this trust: the system roots are read once
            // per process, not once per server's client.
            b.tls_backend_preconfigured(shared_config(&self.roots)?)
        };
        if let Some(p) = &self.proxy {
            b = b.proxy(p.clone());
        }
        b.build().map_err(|e| config("tls", &e.to_string()))
    }
}

/// The download client (up to 5 redirects), built on first use.
pub(super) struct LazyHttp {
    settings: HttpSettings,
    client: std::sync::OnceLock<reqwest::Client>,
}

impl LazyHttp {
    /// The client, built now if this is the first call.
    ///
    /// # Errors
    /// [`Error::Config`] when the TLS configuration cannot be built (the same settings built
    /// the upload client, so in practice never).
    pub(super) fn get(&self) -> Result<&reqwest::Client> {
        if let Some(client) = self.client.get() {
            return Ok(client);
        }
        let built = self.settings.build(reqwest::redirect::Policy::limited(5))?;
        Ok(self.client.get_or_init(|| built))
    }
}

fn config(key: &str, message: &str) -> Error {
    Error::Config {
        key: key.to_owned(),
        message: message.to_owned(),
    }
}

/// Parses the server URL: http(s), with a host, no query; the trailing `/` dropped so that
/// `https://h/organizations/o/` and `https://h/organizations/o` are the same base.
pub(crate) fn parse_server_url(raw: &str) -> Result<Url> {
    let mut url = Url::parse(raw.trim())
        .map_err(|e| config("server_url", &format!("`{raw}` is not a URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(config(
            "server_url",
            &format!("`{raw}` must be an http:// or https:// URL with a host"),
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(config(
            "server_url",
            &format!("`{raw}` must not have a query or fragment"),
        ));
    }
    let trimmed = url.path().trim_end_matches('/').to_owned();
    url.set_path(&trimmed);
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_urls_with_and_without_org_and_slash() {
        for (raw, path) in [
            ("https://chef.example", ""),
            ("https://chef.example/", ""),
            (
                "https://chef.example/organizations/acme",
                "/organizations/acme",
            ),
            (
                "https://chef.example/organizations/acme/",
                "/organizations/acme",
            ),
            ("http://127.0.0.1:4545", ""),
        ] {
            let url = parse_server_url(raw).unwrap();
            assert_eq!(url.path().trim_end_matches('/'), path, "{raw}");
        }
        for bad in ["chef.example", "ftp://chef.example", "https://h/o?x=1", ""] {
            let err = parse_server_url(bad).unwrap_err();
            assert!(err.to_string().contains("server_url"), "{bad}: {err}");
        }
    }

    #[test]
    fn build_requires_name_and_key() {
        let err = ChefClient::builder("https://chef.example")
            .build()
            .unwrap_err();
        assert!(err.to_string().contains("client_name"), "{err}");
        let err = ChefClient::builder("https://chef.example")
            .with_client_name("bob")
            .build()
            .unwrap_err();
        assert!(err.to_string().contains("client_key"), "{err}");
    }
}
