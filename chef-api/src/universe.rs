//! The universe document: every cookbook version a source offers, with its dependencies and
//! where to get it (Chef RFC 014).
//!
//! Supermarket, Berkshelf-API servers, Artifactory and Chef Infra Server (`GET /universe`,
//! see [`crate::client::ChefClient::universe`]) all speak it. [`Universe::parse`] reads one;
//! fetching it from a Supermarket and downloading tarballs is chef-sync's Berkshelf code.

use std::collections::BTreeMap;
use std::fmt;

use url::Url;

use crate::version::Version;

/// Why a universe document could not be read. Every variant names the URL involved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UniverseError {
    /// The source URL cannot be joined with `/universe`.
    #[error("invalid universe source URL {url:?}: {reason}")]
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The JSON does not have the documented shape.
    #[error("universe from {url} is not valid: {reason}")]
    Invalid {
        /// The universe URL.
        url: String,
        /// What was wrong, with the JSON path where known.
        reason: String,
    },
}

/// `Result` with [`UniverseError`].
pub type Result<T, E = UniverseError> = std::result::Result<T, E>;

/// Where a universe entry's cookbook lives (`location_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum LocationType {
    /// `opscode`: a Supermarket (the literal Supermarket sends).
    Opscode,
    /// `supermarket`: a Berkshelf-API server; handled like `opscode`.
    Supermarket,
    /// `chef_server`: a Chef Infra Server universe (signed requests; later).
    ChefServer,
    /// `file_store`: a local chef repo.
    FileStore,
    /// `uri`: a plain URL.
    Uri,
    /// `github`.
    Github,
    /// `gitlab`.
    Gitlab,
}

impl LocationType {
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "opscode" => Self::Opscode,
            "supermarket" => Self::Supermarket,
            "chef_server" => Self::ChefServer,
            "file_store" => Self::FileStore,
            "uri" => Self::Uri,
            "github" => Self::Github,
            "gitlab" => Self::Gitlab,
            _ => return None,
        })
    }

    /// The name as the universe writes it.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Opscode => "opscode",
            Self::Supermarket => "supermarket",
            Self::ChefServer => "chef_server",
            Self::FileStore => "file_store",
            Self::Uri => "uri",
            Self::Github => "github",
            Self::Gitlab => "gitlab",
        }
    }

    /// Can a cookbook of this type be fetched by its `download_url` (a plain HTTP download)?
    pub const fn is_downloadable(self) -> bool {
        matches!(self, Self::Opscode | Self::Supermarket | Self::Uri)
    }
}

impl fmt::Display for LocationType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One cookbook version in a universe.
#[derive(Debug, Clone, PartialEq)]
pub struct UniverseEntry {
    /// `location_type`.
    pub location_type: LocationType,
    /// `location_path` (made absolute against the source URL when relative).
    pub location_path: String,
    /// `download_url` (made absolute against the source URL when relative).
    pub download_url: String,
    /// Dependencies: cookbook name -> constraint string as written in its metadata.
    pub dependencies: BTreeMap<String, String>,
}

/// A source's universe: cookbook name -> version -> entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Universe {
    /// The source URL it came from.
    pub source: Url,
    /// The cookbooks.
    pub cookbooks: BTreeMap<String, BTreeMap<Version, UniverseEntry>>,
}

/// Is `name` safe to use as a cookbook name (and thus in a path): `[A-Za-z0-9_-]+`?
pub fn is_valid_cookbook_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

impl Universe {
    /// Parses a universe document. Entries with an unsafe cookbook name or an invalid version
    /// are skipped with a warning (a hostile source must not put `../` into cache paths);
    /// an unknown `location_type` or a wrong JSON shape is an error.
    pub fn parse(source: &Url, body: &[u8]) -> Result<Self> {
        let url = universe_url(source)?.to_string();
        let bad = |reason: String| UniverseError::Invalid {
            url: url.clone(),
            reason,
        };
        crate::json::check_depth(body, crate::json::MAX_DEPTH).map_err(|e| bad(e.to_string()))?;
        let doc: BTreeMap<String, BTreeMap<String, RawEntry>> = serde_json::from_slice(body)
            .map_err(|e| {
                bad(format!(
                    "expected an object of cookbook name -> version -> entry: {e}"
                ))
            })?;
        let mut cookbooks = BTreeMap::new();
        for (name, versions) in doc {
            if !is_valid_cookbook_name(&name) {
                tracing::warn!(source = %source, name = %name, "skipping universe entry with an unsafe cookbook name");
                continue;
            }
            let mut out = BTreeMap::new();
            for (ver, attrs) in versions {
                let Ok(version) = Version::parse(&ver) else {
                    tracing::warn!(source = %source, name = %name, version = %ver, "skipping universe entry with an invalid version");
                    continue;
                };
                let field = |value: Option<String>, key: &str| -> Result<String> {
                    value.ok_or_else(|| bad(format!("{name}.{ver}.{key}: expected a string")))
                };
                let lt = field(attrs.location_type, "location_type")?;
                let location_type = LocationType::parse(&lt).ok_or_else(|| {
                    bad(format!("{name}.{ver}.location_type: unknown type {lt:?}"))
                })?;
                let location_path =
                    absolutize(source, field(attrs.location_path, "location_path")?);
                let download_url = match attrs.download_url {
                    Some(u) => absolutize(source, u),
                    None => format!(
                        "{}/cookbooks/{name}/versions/{version}/download",
                        location_path.trim_end_matches('/')
                    ),
                };
                let dependencies = attrs
                    .dependencies
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(dep, c)| match c {
                        serde_json::Value::String(c) => (dep, c),
                        // Chef turns an array constraint into "no constraint".
                        _ => (dep, String::new()),
                    })
                    .collect();
                out.insert(
                    version,
                    UniverseEntry {
                        location_type,
                        location_path,
                        download_url,
                        dependencies,
                    },
                );
            }
            if !out.is_empty() {
                cookbooks.insert(name, out);
            }
        }
        Ok(Self {
            source: source.clone(),
            cookbooks,
        })
    }

    /// The entry for `name` at `version`, if this source lists it.
    pub fn get(&self, name: &str, version: &Version) -> Option<&UniverseEntry> {
        self.cookbooks.get(name)?.get(version)
    }
}

/// One version's attributes as the universe JSON has them.
#[derive(serde::Deserialize)]
struct RawEntry {
    location_type: Option<String>,
    location_path: Option<String>,
    download_url: Option<String>,
    dependencies: Option<BTreeMap<String, serde_json::Value>>,
}

fn absolutize(source: &Url, s: String) -> String {
    if s.contains("://") {
        return s;
    }
    let base = source.as_str().trim_end_matches('/');
    format!("{base}/{}", s.trim_start_matches('/'))
}

/// `{source}/universe`, keeping any path prefix of the source (Artifactory).
pub fn universe_url(source: &Url) -> Result<Url> {
    let joined = format!("{}/universe", source.as_str().trim_end_matches('/'));
    Url::parse(&joined).map_err(|e| UniverseError::InvalidUrl {
        url: source.to_string(),
        reason: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn src() -> Url {
        Url::parse("https://supermarket.example/").unwrap()
    }

    #[test]
    fn parses_the_supermarket_shape_and_skips_unsafe_entries() {
        let body = br#"{
          "apt": {"7.1.1": {"location_type": "opscode", "location_path": "https://supermarket.example/api/v1",
                   "download_url": "https://supermarket.example/api/v1/cookbooks/apt/versions/7.1.1/download",
                   "dependencies": null},
                  "2.9.2": {"location_type": "supermarket", "location_path": "/api/v1",
                   "dependencies": {"compat_resource": ">= 12.16.3"}},
                  "1.x": {"location_type": "opscode", "location_path": "x", "dependencies": {}}},
          "../evil": {"1.0.0": {"location_type": "opscode", "location_path": "x", "dependencies": {}}}
        }"#;
        let u = Universe::parse(&src(), body).unwrap();
        assert_eq!(u.cookbooks.len(), 1, "the unsafe name is skipped");
        let apt = &u.cookbooks["apt"];
        assert_eq!(apt.len(), 2, "the invalid version is skipped");
        let old = &apt[&Version::new(2, 9, 2)];
        assert_eq!(old.location_type, LocationType::Supermarket);
        assert_eq!(old.location_path, "https://supermarket.example/api/v1");
        assert_eq!(
            old.download_url,
            "https://supermarket.example/api/v1/cookbooks/apt/versions/2.9.2/download"
        );
        assert_eq!(old.dependencies["compat_resource"], ">= 12.16.3");
    }

    #[test]
    fn unknown_location_type_is_an_error_naming_the_entry() {
        let body = br#"{"apt": {"1.0.0": {"location_type": "ftp", "location_path": "x"}}}"#;
        let err = Universe::parse(&src(), body).unwrap_err().to_string();
        assert!(err.contains("apt.1.0.0.location_type"), "{err}");
        assert!(
            err.contains("https://supermarket.example/universe"),
            "{err}"
        );
    }
}
