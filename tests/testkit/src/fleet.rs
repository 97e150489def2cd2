//! Several goiardi servers standing in for regions, and a Chef repository in the seed's layout
//! pointing at them: what the demo, the sync tests and the sync benchmark share.
//!
//! The repository is what the OpsWorks multi-region article describes: `.chef/knife.rb` (its
//! text verbatim, no-break spaces included), `.chef/ca_certs/opsworks-cm-ca-2016-root.pem`,
//! one `.chef/<REGION>/config.yml` (`server: 'http://127.0.0.1:PORT'`) and
//! `.chef/<REGION>/private.pem` per server, a `Berksfile` and `cookbooks/`. knife.rb signs as
//! `pivotal`, so each server gets an admin user `pivotal` with a freshly generated key.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! let fleet = chef_testkit::fleet::Fleet::start(&["us-east-1", "eu-west-1"])?;
//! let repo = tempfile::tempdir()?;
//! fleet.provision_repo(&chef_testkit::fleet::example_repo_dir(), repo.path()).await?;
//! # Ok(()) }
//! ```

use std::io;
use std::path::{Path, PathBuf};

use chef_api::client::ChefClient;
use chef_api::key::PrivateKey;

use crate::goiardi::Goiardi;

/// The user knife.rb signs as.
pub const NODE_NAME: &str = "pivotal";

/// `examples/chef-repo` of this workspace: the seed's knife.rb and the example cookbooks.
pub fn example_repo_dir() -> PathBuf {
    crate::workspace_dir().join("examples/chef-repo")
}

/// `tests/data/repos/NAME` of this workspace, e.g. `seed`: the OpsWorks layout without keys.
pub fn repo_fixture_dir(name: &str) -> PathBuf {
    crate::workspace_dir().join("tests/data/repos").join(name)
}

/// A new 2048-bit RSA private key as PKCS#8 PEM.
///
/// # Errors
/// When the key cannot be generated.
pub fn generate_key_pem() -> io::Result<String> {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).map_err(io::Error::other)?;
    Ok(key.serialize_pem())
}

/// A self-signed CA certificate (PEM), standing in for the OpsWorks CA knife.rb names.
///
/// # Errors
/// When the certificate cannot be generated.
pub fn generate_ca_pem() -> io::Result<String> {
    let key = rcgen::KeyPair::generate().map_err(io::Error::other)?;
    let mut params =
        rcgen::CertificateParams::new(Vec::<String>::new()).map_err(io::Error::other)?;
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params.distinguished_name.push(
        rcgen::DnType::CommonName,
        "chef-sync demo CA (stands in for opsworks-cm-ca-2016-root)",
    );
    Ok(params.self_signed(&key).map_err(io::Error::other)?.pem())
}

/// Creates the admin user `pivotal` on `server` with the public half of `private_pem`, signed as
/// goiardi's `admin`.
///
/// # Errors
/// When the key is not valid or the server refuses.
pub async fn create_pivotal(server: &Goiardi, private_pem: &str) -> io::Result<()> {
    let public = PrivateKey::from_pem(private_pem.as_bytes())
        .map_err(io::Error::other)?
        .public_key_pem();
    let admin = server.admin_client()?;
    admin
        .create_user(NODE_NAME, &public, true)
        .await
        .map_err(io::Error::other)?;
    Ok(())
}

/// Copies `src` (a repository: `.chef/knife.rb`, `Berksfile`, `cookbooks/`, ...) into `dest`,
/// adds the CA file knife.rb names, and per server `(region, url, private key PEM)`
/// `.chef/REGION/config.yml` and `.chef/REGION/private.pem`.
///
/// # Errors
/// When a file cannot be read or written.
pub fn layout_repo(
    src: &Path,
    dest: &Path,
    servers: &[(String, String, String)],
) -> io::Result<()> {
    copy_tree(src, dest)?;
    let ca_dir = dest.join(".chef/ca_certs");
    std::fs::create_dir_all(&ca_dir)?;
    std::fs::write(
        ca_dir.join("opsworks-cm-ca-2016-root.pem"),
        generate_ca_pem()?,
    )?;
    for (region, url, pem) in servers {
        let dir = dest.join(".chef").join(region);
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join("config.yml"), format!("server: '{url}'\n"))?;
        std::fs::write(dir.join("private.pem"), pem)?;
    }
    Ok(())
}

/// Copies a directory tree (files and directories only).
///
/// # Errors
/// When a file cannot be read or written.
pub fn copy_tree(src: &Path, dest: &Path) -> io::Result<()> {
    std::fs::create_dir_all(dest)?;
    for entry in std::fs::read_dir(src)? {
        let entry = entry?;
        let to = dest.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_tree(&entry.path(), &to)?;
        } else {
            std::fs::copy(entry.path(), &to)?;
        }
    }
    Ok(())
}

/// A fresh copy of `tests/data/repos/NAME` in a temporary directory (tests edit their copy).
///
/// # Panics
/// When the fixture cannot be copied.
pub fn repo_fixture(name: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    copy_tree(&repo_fixture_dir(name), dir.path()).expect("copy fixture");
    dir
}

/// Writes a fresh private key (PEM) to `path`, as the seed's buildspec copies one from S3.
///
/// # Panics
/// When the key cannot be generated or written.
pub fn write_key(path: &Path) {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("key directory");
    }
    std::fs::write(path, generate_key_pem().expect("generate key")).expect("write key");
}

/// A Supermarket-style cookbook tarball (`NAME/metadata.json`, `NAME/recipes/default.rb`, plus
/// `extra` files as `(path under NAME/, bytes)`), gzip-compressed, for fake Supermarkets.
///
/// # Panics
/// When the archive cannot be built in memory.
pub fn cookbook_tarball(
    name: &str,
    version: &str,
    deps: &[(&str, &str)],
    extra: &[(&str, &[u8])],
) -> Vec<u8> {
    let deps: serde_json::Map<String, serde_json::Value> = deps
        .iter()
        .map(|(n, c)| ((*n).to_owned(), serde_json::Value::String((*c).to_owned())))
        .collect();
    let meta = serde_json::to_vec_pretty(
        &serde_json::json!({"name": name, "version": version, "dependencies": deps}),
    )
    .expect("metadata.json");
    let recipe = format!("log '{name} {version}'\n");
    let mut files: Vec<(String, &[u8])> = vec![
        (format!("{name}/metadata.json"), meta.as_slice()),
        (format!("{name}/recipes/default.rb"), recipe.as_bytes()),
    ];
    files.extend(extra.iter().map(|(p, data)| (format!("{name}/{p}"), *data)));
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut builder = tar::Builder::new(gz);
    for (path, data) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_entry_type(tar::EntryType::Regular);
        builder
            .append_data(&mut header, path, data)
            .expect("tar entry");
    }
    builder
        .into_inner()
        .and_then(flate2::write::GzEncoder::finish)
        .expect("tarball")
}

/// goiardi servers named by region.
#[derive(Debug)]
pub struct Fleet {
    servers: Vec<(String, Goiardi)>,
    keys: Vec<String>,
}

impl Fleet {
    /// Starts one goiardi per region name.
    ///
    /// # Errors
    /// When a server does not start (e.g. goiardi is not installed).
    pub fn start(regions: &[&str]) -> io::Result<Self> {
        Self::start_with_proxy_ports(regions, &[])
    }

    /// Like [`start`](Self::start), but the i-th server reports `proxy_ports[i]` in the URLs it
    /// hands out (see [`Goiardi::start_with_proxy_port`]): for servers behind proxies.
    ///
    /// # Errors
    /// When a server does not start.
    pub fn start_with_proxy_ports(regions: &[&str], proxy_ports: &[u16]) -> io::Result<Self> {
        Self::start_in(regions, proxy_ports, None)
    }

    /// Like [`start_with_proxy_ports`](Self::start_with_proxy_ports), each server's directory
    /// and cookbook file store under `parent` when given (see [`Goiardi::start_in`]).
    ///
    /// # Errors
    /// When a server does not start.
    pub fn start_in(
        regions: &[&str],
        proxy_ports: &[u16],
        parent: Option<&std::path::Path>,
    ) -> io::Result<Self> {
        let mut servers = Vec::with_capacity(regions.len());
        let mut keys = Vec::with_capacity(regions.len());
        for (i, region) in regions.iter().enumerate() {
            let server = Goiardi::start_in(proxy_ports.get(i).copied(), parent)?;
            servers.push(((*region).to_owned(), server));
            keys.push(generate_key_pem()?);
        }
        Ok(Self { servers, keys })
    }

    /// Region names, in start order.
    pub fn regions(&self) -> impl Iterator<Item = &str> {
        self.servers.iter().map(|(r, _)| r.as_str())
    }

    /// The server of `region`.
    ///
    /// # Panics
    /// When there is no such region.
    pub fn server(&self, region: &str) -> &Goiardi {
        &self
            .servers
            .iter()
            .find(|(r, _)| r == region)
            .expect("known region")
            .1
    }

    /// The server of `region`, to stop or restart it.
    ///
    /// # Panics
    /// When there is no such region.
    pub fn server_mut(&mut self, region: &str) -> &mut Goiardi {
        &mut self
            .servers
            .iter_mut()
            .find(|(r, _)| r == region)
            .expect("known region")
            .1
    }

    /// Restarts every server at once and waits until all are up again; each comes back empty
    /// (goiardi keeps its data in memory, and its file store is emptied on start), so
    /// `pivotal` must be created again. At once, because a goiardi start is mostly its key
    /// generation: 50 servers one after the other took minutes on a loaded machine.
    ///
    /// # Errors
    /// The first server that did not come up again.
    pub fn restart_all(&mut self) -> io::Result<()> {
        std::thread::scope(|scope| {
            let restarts: Vec<_> = self
                .servers
                .iter_mut()
                .map(|(_, server)| scope.spawn(move || server.restart()))
                .collect();
            // The scope joins every thread, also those after a first failure.
            restarts
                .into_iter()
                .try_for_each(|r| r.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
        })
    }

    /// The `pivotal` private key (PEM) used on `region`.
    ///
    /// # Panics
    /// When there is no such region.
    pub fn pivotal_pem(&self, region: &str) -> &str {
        let i = self
            .servers
            .iter()
            .position(|(r, _)| r == region)
            .expect("known region");
        &self.keys[i]
    }

    /// A client signing as `pivotal` on `region`.
    ///
    /// # Errors
    /// When the client cannot be built.
    pub fn pivotal_client(&self, region: &str) -> io::Result<ChefClient> {
        ChefClient::builder(self.server(region).url())
            .with_client_name(NODE_NAME)
            .with_key(
                PrivateKey::from_pem(self.pivotal_pem(region).as_bytes())
                    .map_err(io::Error::other)?,
            )
            .build()
            .map_err(io::Error::other)
    }

    /// Creates `pivotal` on `region` (again, e.g. after a restart emptied it).
    ///
    /// # Errors
    /// When the server refuses.
    pub async fn create_pivotal(&self, region: &str) -> io::Result<()> {
        create_pivotal(self.server(region), self.pivotal_pem(region)).await
    }

    /// Creates `pivotal` on every server and lays out the repository from `src` in `dest`,
    /// with each server's URL and pivotal key.
    ///
    /// # Errors
    /// When a server refuses or a file cannot be written.
    pub async fn provision_repo(&self, src: &Path, dest: &Path) -> io::Result<()> {
        let mut servers = Vec::new();
        for (region, server) in &self.servers {
            self.create_pivotal(region).await?;
            servers.push((
                region.clone(),
                server.url(),
                self.pivotal_pem(region).to_owned(),
            ));
        }
        layout_repo(src, dest, &servers)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_repo_has_the_seeds_knife_rb_verbatim() {
        let knife = std::fs::read_to_string(example_repo_dir().join(".chef/knife.rb")).unwrap();
        assert!(knife.starts_with("require 'yaml'\n"));
        assert!(
            knife.contains("node_name\u{a0}"),
            "the pasted no-break spaces are kept"
        );
        assert!(knife.contains("client_key"));
    }

    #[test]
    fn layout_writes_config_and_key_per_region() {
        let tmp = tempfile::tempdir().unwrap();
        let servers = vec![(
            "us-east-1".to_owned(),
            "http://127.0.0.1:4545".to_owned(),
            "PEM".to_owned(),
        )];
        layout_repo(&example_repo_dir(), tmp.path(), &servers).unwrap();
        let yml = std::fs::read_to_string(tmp.path().join(".chef/us-east-1/config.yml")).unwrap();
        assert_eq!(yml, "server: 'http://127.0.0.1:4545'\n");
        assert!(tmp.path().join(".chef/us-east-1/private.pem").is_file());
        assert!(
            tmp.path()
                .join("cookbooks/role_marker/metadata.rb")
                .is_file()
        );
        let ca = std::fs::read_to_string(
            tmp.path()
                .join(".chef/ca_certs/opsworks-cm-ca-2016-root.pem"),
        )
        .unwrap();
        assert!(ca.starts_with("-----BEGIN CERTIFICATE-----"));
    }

    #[test]
    fn example_cookbooks_load_as_knife_would() {
        let dir = example_repo_dir().join("cookbooks");
        let load = |name: &str| chef_api::cookbook::LoadedCookbook::load(&dir.join(name)).unwrap();
        let app = load("app_web");
        assert_eq!(app.version(), "0.9.0");
        assert!(
            app.files().iter().all(|f| !f.path().starts_with("spec/")),
            "chefignore drops spec/"
        );
        let marker = load("role_marker");
        let paths: Vec<&str> = marker.files().iter().map(|f| f.path()).collect();
        assert_eq!(paths, ["metadata.json", "metadata.rb"]);
        for name in ["base", "ntp_client", "nginx_proxy"] {
            assert_eq!(load(name).name(), name);
        }
    }
}
