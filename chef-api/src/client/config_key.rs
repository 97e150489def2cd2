//! [`ChefConfigKey`]: one parser for option names, so knife.rb, config.yml, environment
//! variables and Python keyword arguments all configure a client the same way.

use std::str::FromStr;
use std::time::Duration;

use super::ChefClientBuilder;
use crate::error::{Error, Result};
use crate::sign::SignVersion;

/// A client option by name. Parse with [`str::parse`]; knife.rb names are accepted
/// (`chef_server_url`, `node_name`, `client_key`, `ssl_verify_mode`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ChefConfigKey {
    /// `chef_server_url`, `server_url`, `url`.
    ServerUrl,
    /// `node_name`, `client_name`.
    ClientName,
    /// `client_key`, `key`, `key_file`: path of the PEM key.
    ClientKey,
    /// `authentication_protocol_version`, `sign_version`: `1.0`, `1.1` or `1.3`.
    SignVersion,
    /// `chef_version`: the `X-Chef-Version` header.
    ChefVersion,
    /// `ssl_ca_file`.
    SslCaFile,
    /// `trusted_certs_dir`.
    TrustedCertsDir,
    /// `ssl_verify_mode`: `verify_peer` (default) or `verify_none` (a leading `:` is allowed).
    SslVerifyMode,
    /// `https_proxy`, `http_proxy`, `proxy`.
    Proxy,
    /// `no_proxy`.
    NoProxy,
    /// `connect_timeout` in seconds.
    ConnectTimeout,
    /// `rest_timeout`, `request_timeout` in seconds.
    RequestTimeout,
    /// `http_retry_count`, `max_retries`.
    MaxRetries,
}

impl FromStr for ChefConfigKey {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        Ok(match s.trim().to_ascii_lowercase().as_str() {
            "chef_server_url" | "server_url" | "url" => Self::ServerUrl,
            "node_name" | "client_name" => Self::ClientName,
            "client_key" | "key" | "key_file" => Self::ClientKey,
            "authentication_protocol_version" | "sign_version" => Self::SignVersion,
            "chef_version" => Self::ChefVersion,
            "ssl_ca_file" => Self::SslCaFile,
            "trusted_certs_dir" => Self::TrustedCertsDir,
            "ssl_verify_mode" => Self::SslVerifyMode,
            "https_proxy" | "http_proxy" | "proxy" => Self::Proxy,
            "no_proxy" => Self::NoProxy,
            "connect_timeout" => Self::ConnectTimeout,
            "rest_timeout" | "request_timeout" => Self::RequestTimeout,
            "http_retry_count" | "max_retries" => Self::MaxRetries,
            _ => {
                return Err(Error::Config {
                    key: s.to_owned(),
                    message: "unknown client option".into(),
                });
            }
        })
    }
}

/// Parses `1.0`, `1.1`, `1.3`.
pub fn parse_sign_version(s: &str) -> Result<SignVersion> {
    match s.trim() {
        "1.0" => Ok(SignVersion::V1_0),
        "1.1" => Ok(SignVersion::V1_1),
        "1.3" => Ok(SignVersion::V1_3),
        other => Err(Error::Config {
            key: "authentication_protocol_version".into(),
            message: format!("`{other}` is not one of 1.0, 1.1, 1.3"),
        }),
    }
}

fn seconds(key: &str, value: &str) -> Result<Duration> {
    value
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s > 0.0)
        .map(Duration::from_secs_f64)
        .ok_or_else(|| Error::Config {
            key: key.into(),
            message: format!("`{value}` is not a positive number of seconds"),
        })
}

impl ChefClientBuilder {
    /// Sets one option by name from its string value.
    ///
    /// # Errors
    /// [`Error::Config`] naming the option when the value does not parse.
    pub fn with_config(self, key: ChefConfigKey, value: &str) -> Result<Self> {
        Ok(match key {
            ChefConfigKey::ServerUrl => self.with_server_url(value),
            ChefConfigKey::ClientName => self.with_client_name(value),
            ChefConfigKey::ClientKey => self.with_key_file(value),
            ChefConfigKey::SignVersion => self.with_sign_version(parse_sign_version(value)?),
            ChefConfigKey::ChefVersion => self.with_chef_version(value),
            ChefConfigKey::SslCaFile => self.with_ssl_ca_file(value),
            ChefConfigKey::TrustedCertsDir => self.with_trusted_certs_dir(value),
            ChefConfigKey::SslVerifyMode => match value.trim().trim_start_matches(':') {
                "verify_none" => self.with_insecure_skip_tls_verify(true),
                "verify_peer" => self.with_insecure_skip_tls_verify(false),
                other => {
                    return Err(Error::Config {
                        key: "ssl_verify_mode".into(),
                        message: format!("`{other}` is not verify_peer or verify_none"),
                    });
                }
            },
            ChefConfigKey::Proxy => self.with_proxy(value),
            ChefConfigKey::NoProxy => self.with_no_proxy(value),
            ChefConfigKey::ConnectTimeout => {
                self.with_connect_timeout(seconds("connect_timeout", value)?)
            }
            ChefConfigKey::RequestTimeout => {
                self.with_request_timeout(seconds("rest_timeout", value)?)
            }
            ChefConfigKey::MaxRetries => {
                let n = value.trim().parse().map_err(|_| Error::Config {
                    key: "http_retry_count".into(),
                    message: format!("`{value}` is not a whole number"),
                })?;
                self.with_max_retries(n)
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::ChefClient;

    #[test]
    fn knife_names_parse() {
        for (name, key) in [
            ("chef_server_url", ChefConfigKey::ServerUrl),
            ("node_name", ChefConfigKey::ClientName),
            ("client_key", ChefConfigKey::ClientKey),
            ("ssl_verify_mode", ChefConfigKey::SslVerifyMode),
            ("HTTPS_PROXY", ChefConfigKey::Proxy),
            ("http_retry_count", ChefConfigKey::MaxRetries),
        ] {
            assert_eq!(name.parse::<ChefConfigKey>().unwrap(), key);
        }
        let err = "cookbook_path".parse::<ChefConfigKey>().unwrap_err();
        assert!(err.to_string().contains("cookbook_path"), "{err}");
    }

    #[test]
    fn values_are_validated_with_the_key_named() {
        let b = || ChefClient::builder("https://chef.example");
        let err = b()
            .with_config(ChefConfigKey::SignVersion, "1.2")
            .unwrap_err();
        assert!(err.to_string().contains("1.2"), "{err}");
        let err = b()
            .with_config(ChefConfigKey::SslVerifyMode, ":verify_maybe")
            .unwrap_err();
        assert!(err.to_string().contains("ssl_verify_mode"), "{err}");
        let err = b()
            .with_config(ChefConfigKey::RequestTimeout, "-1")
            .unwrap_err();
        assert!(err.to_string().contains("rest_timeout"), "{err}");
        let ok = b()
            .with_config(ChefConfigKey::SslVerifyMode, ":verify_none")
            .and_then(|b| b.with_config(ChefConfigKey::MaxRetries, "2"))
            .and_then(|b| b.with_config(ChefConfigKey::ConnectTimeout, "1.5"));
        assert!(ok.is_ok());
        assert_eq!(parse_sign_version(" 1.1 ").unwrap(), SignVersion::V1_1);
    }
}
