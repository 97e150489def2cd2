//! The bridge from a [`ServerSpec`] to the typed [`ChefClient`] of `chef-api`.

use chef_api::client::{ChefClient, ChefClientBuilder};
use chef_api::key::PrivateKey;

use super::{ConfigError, KeySource, ServerSpec};

impl ServerSpec {
    /// A client builder set up from this server: URL, client name, key, TLS (`ssl_ca_file`,
    /// `trusted_certs_dir`, verification) and proxy (`https_proxy` for an https URL, else
    /// `http_proxy`, with `no_proxy`). Add timeouts or retries before
    /// [`build`](ChefClientBuilder::build); without a proxy setting the builder's default
    /// (the environment's proxies) applies.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Client`] when injected PEM bytes are not a private key (a key file is
    /// read by `build`).
    pub fn client_builder(&self) -> Result<ChefClientBuilder, ConfigError> {
        let mut b =
            ChefClient::builder(self.url.clone()).with_client_name(self.client_name.clone());
        b = match &self.key {
            KeySource::Path(p) => b.with_key_file(p.clone()),
            KeySource::Pem(pem) => {
                b.with_key(PrivateKey::from_pem(pem).map_err(|e| ConfigError::Client {
                    server: self.name.clone(),
                    url: super::servers::redact_url(&self.url),
                    source: Box::new(e.into()),
                })?)
            }
        };
        if let Some(f) = &self.ssl_ca_file {
            b = b.with_ssl_ca_file(f.clone());
        }
        if let Some(d) = &self.trusted_certs_dir {
            b = b.with_trusted_certs_dir(d.clone());
        }
        if !self.ssl_verify {
            b = b.with_insecure_skip_tls_verify(true);
        }
        let https = self
            .url
            .trim_start()
            .to_ascii_lowercase()
            .starts_with("https:");
        let proxy = if https {
            self.https_proxy.as_ref()
        } else {
            self.http_proxy.as_ref()
        };
        if let Some(p) = proxy {
            b = b.with_proxy(p.clone());
        }
        if let Some(n) = &self.no_proxy {
            b = b.with_no_proxy(n.clone());
        }
        Ok(b)
    }

    /// Builds the client for this server (see [`client_builder`](Self::client_builder)).
    ///
    /// # Errors
    ///
    /// [`ConfigError::Client`] naming the server and URL when the key or a certificate
    /// cannot be read or an option is invalid.
    pub fn client(&self) -> Result<ChefClient, ConfigError> {
        self.client_builder()?
            .build()
            .map_err(|source| ConfigError::Client {
                server: self.name.clone(),
                url: super::servers::redact_url(&self.url),
                source: Box::new(source),
            })
    }
}
