//! Start and stop local goiardi servers (auth on, loopback only, in memory).

use std::io;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The goiardi binary: `$GOIARDI` if set, else `goiardi` from `PATH`.
fn goiardi_binary() -> PathBuf {
    std::env::var_os("GOIARDI").map_or_else(|| PathBuf::from("goiardi"), PathBuf::from)
}

/// A running goiardi server. Dropping it kills the process and removes its directory.
#[derive(Debug)]
pub struct Goiardi {
    port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
    proxy_port: Option<u16>,
    /// `--local-filestore-dir` (emptied on restart, like the in-memory data).
    file_store: Option<PathBuf>,
}

impl Goiardi {
    /// Starts goiardi with `-A` on 127.0.0.1 on a free port and waits until it answers.
    ///
    /// # Errors
    /// When goiardi is not installed (the message says how to install it) or does not come up.
    pub fn start() -> io::Result<Self> {
        Self::start_with_proxy_port(None)
    }

    /// Like [`start`](Self::start), but goiardi reports `proxy_port` in the URLs it hands out
    /// (sandbox upload URLs, `--proxy-port`), for a server behind a proxy on that port.
    ///
    /// # Errors
    /// As [`start`](Self::start).
    pub fn start_with_proxy_port(proxy_port: Option<u16>) -> io::Result<Self> {
        Self::start_in(proxy_port, None)
    }

    /// Like [`start_with_proxy_port`](Self::start_with_proxy_port), with the server's
    /// directory and its cookbook file store (`--local-filestore-dir`) under `parent` when
    /// given (e.g. `/dev/shm`, so that storing files costs no disk filesystem CPU).
    ///
    /// # Errors
    /// As [`start`](Self::start).
    pub fn start_in(proxy_port: Option<u16>, parent: Option<&Path>) -> io::Result<Self> {
        let builder = tempfile::Builder::new().prefix("goiardi-").clone();
        let mut dir = match parent {
            Some(parent) => builder.tempdir_in(parent)?,
            None => builder.tempdir()?,
        };
        let file_store = parent.map(|_| dir.path().join("files"));
        let mut last_err = None;
        for _ in 0..5 {
            let port = free_port()?;
            let mut server = Self {
                port,
                dir,
                child: None,
                proxy_port,
                file_store: file_store.clone(),
            };
            match server.spawn() {
                Ok(()) => return Ok(server),
                Err(e) => {
                    last_err = Some(e);
                    dir = server.take_dir();
                }
            }
        }
        Err(last_err.unwrap_or_else(|| io::Error::other("goiardi did not start")))
    }

    fn take_dir(mut self) -> tempfile::TempDir {
        self.kill();
        let placeholder = tempfile::Builder::new()
            .prefix("goiardi-x-")
            .tempdir()
            .expect("tempdir");
        std::mem::replace(&mut self.dir, placeholder)
    }

    fn spawn(&mut self) -> io::Result<()> {
        if let Some(store) = &self.file_store {
            // A fresh start holds no files, in memory or in the store.
            if store.exists() {
                std::fs::remove_dir_all(store)?;
            }
            std::fs::create_dir_all(store)?;
        }
        let log = std::fs::File::create(self.dir.path().join("goiardi.log"))?;
        let child = Command::new(goiardi_binary())
            .args(["-A", "-I", "127.0.0.1", "-H", "127.0.0.1", "-P"])
            .arg(self.port.to_string())
            .arg("--conf-root")
            .arg(self.dir.path())
            .args(self.proxy_port.map(|p| format!("--proxy-port={p}")))
            .args(
                self.file_store
                    .as_ref()
                    .map(|d| format!("--local-filestore-dir={}", d.display())),
            )
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .map_err(|e| {
                if e.kind() == io::ErrorKind::NotFound {
                    io::Error::new(
                        e.kind(),
                        "goiardi is not installed: run `apt-get install goiardi` (Debian) or set $GOIARDI",
                    )
                } else {
                    e
                }
            })?;
        self.child = Some(child);
        self.wait_ready(Duration::from_secs(20))
    }

    fn wait_ready(&mut self, limit: Duration) -> io::Result<()> {
        let start = Instant::now();
        let key = self.admin_key_path();
        loop {
            if let Some(child) = self.child.as_mut()
                && let Some(status) = child.try_wait()?
            {
                let log = std::fs::read_to_string(self.dir.path().join("goiardi.log"))
                    .unwrap_or_default();
                return Err(io::Error::other(format!(
                    "goiardi exited with {status}: {log}"
                )));
            }
            if key.exists() && TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return Ok(());
            }
            if start.elapsed() > limit {
                self.kill();
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "goiardi did not come up in time",
                ));
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// The server's base URL, e.g. `http://127.0.0.1:40123`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The TCP port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The server's own directory (`--conf-root`).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Path of `admin.pem`, the key of the admin user `admin`.
    pub fn admin_key_path(&self) -> PathBuf {
        self.dir.path().join("admin.pem")
    }

    /// The bytes of `admin.pem`.
    ///
    /// # Errors
    /// When the file cannot be read.
    pub fn admin_pem(&self) -> io::Result<Vec<u8>> {
        std::fs::read(self.admin_key_path())
    }

    /// A client signing as `admin` with `admin.pem`.
    ///
    /// # Errors
    /// When the key cannot be read or the client cannot be built.
    pub fn admin_client(&self) -> io::Result<chef_api::client::ChefClient> {
        chef_api::client::ChefClient::builder(self.url())
            .with_client_name("admin")
            .with_key_file(self.admin_key_path())
            .build()
            .map_err(io::Error::other)
    }

    /// Stops the server (SIGKILL by PID) and waits for it; the directory stays until drop.
    pub fn stop(&mut self) {
        self.kill();
    }

    /// Starts a stopped server again on the same port with the same keys. Data was in memory,
    /// so the server comes back empty, like a fresh region.
    ///
    /// # Errors
    /// When it does not come up.
    pub fn restart(&mut self) -> io::Result<()> {
        self.kill();
        self.spawn()
    }

    /// Is the process still running?
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Goiardi {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A TCP port on 127.0.0.1 that was free a moment ago.
///
/// # Errors
/// When no port can be bound.
pub fn free_port() -> io::Result<u16> {
    Ok(TcpListener::bind(("127.0.0.1", 0))?.local_addr()?.port())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_restarts_and_stops() {
        let mut g = Goiardi::start().expect("start goiardi");
        assert!(
            g.admin_pem()
                .unwrap()
                .starts_with(b"-----BEGIN RSA PRIVATE KEY-----")
        );
        let pid = g.pid().unwrap();
        assert!(Path::new(&format!("/proc/{pid}")).exists());
        g.stop();
        assert!(!g.is_running());
        assert!(TcpStream::connect(("127.0.0.1", g.port())).is_err());
        g.restart().unwrap();
        assert!(g.is_running());
        assert!(TcpStream::connect(("127.0.0.1", g.port())).is_ok());
    }
}
