//! Name resolution for one client's connections: one lookup per host at a time, shared by every
//! connection opened meanwhile and remembered for [`REMEMBERED`].
//!
//! reqwest's default resolver runs `getaddrinfo` on the blocking pool once per new connection.
//! An upload opens hundreds of connections to the same host at once, and the runtime chef-sync
//! builds has a small blocking pool (see `chef_sync::runtime`): those lookups would queue
//! behind each other, one DNS round trip per few connections. Here they wait for one lookup.
//! A failed lookup is not remembered: the next connection asks again.

use std::collections::HashMap;
use std::net::{SocketAddr, ToSocketAddrs as _};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use tokio::sync::OnceCell;

/// How long a successful lookup is used for new connections (a sync takes seconds; DNS
/// changes during one are rare, and later connections see them after this).
pub const REMEMBERED: Duration = Duration::from_secs(30);

type Lookup = Arc<OnceCell<(Instant, std::io::Result<Vec<SocketAddr>>)>>;

/// A [`Resolve`] sharing each host's lookup between connections.
#[derive(Debug, Default)]
pub(crate) struct SharedLookups {
    hosts: Mutex<HashMap<String, Lookup>>,
}

impl SharedLookups {
    /// The lookup for `host`: the one in flight or remembered, or a new one.
    fn lookup(&self, host: &str) -> Lookup {
        let mut hosts = self.hosts.lock().unwrap_or_else(PoisonError::into_inner);
        let usable = hosts.get(host).filter(|l| match l.get() {
            None => true,
            Some((at, Ok(_))) => at.elapsed() < REMEMBERED,
            Some((_, Err(_))) => false,
        });
        if let Some(lookup) = usable {
            return Arc::clone(lookup);
        }
        let lookup = Lookup::default();
        hosts.insert(host.to_owned(), Arc::clone(&lookup));
        lookup
    }
}

impl Resolve for SharedLookups {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        let lookup = self.lookup(&host);
        Box::pin(async move {
            let (_, found) = lookup
                .get_or_init(|| async move {
                    let found = tokio::task::spawn_blocking(move || {
                        (host.as_str(), 0).to_socket_addrs().map(Iterator::collect)
                    })
                    .await
                    .unwrap_or_else(|e| Err(std::io::Error::other(e)));
                    (Instant::now(), found)
                })
                .await;
            match found {
                Ok(addrs) => Ok(Box::new(addrs.clone().into_iter()) as Addrs),
                Err(e) => Err(std::io::Error::new(e.kind(), e.to_string()).into()),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use std::str::FromStr as _;

    use super::*;

    #[tokio::test]
    async fn connections_at_once_share_one_lookup_and_failures_are_asked_again() {
        let lookups = SharedLookups::default();
        let name = || Name::from_str("localhost").unwrap();
        let first = lookups.lookup("localhost");
        let all: Vec<_> = (0..50).map(|_| lookups.resolve(name())).collect();
        for resolving in futures::future::join_all(all).await {
            let addrs: Vec<SocketAddr> = resolving.unwrap().collect();
            assert!(addrs.iter().any(|a| a.ip().is_loopback()), "{addrs:?}");
        }
        assert!(
            Arc::ptr_eq(&first, &lookups.lookup("localhost")),
            "one lookup"
        );

        let bad = "no-such-host.invalid";
        let failed = lookups.resolve(Name::from_str(bad).unwrap()).await;
        assert!(failed.is_err());
        let again = lookups.lookup(bad);
        assert!(again.get().is_none(), "a failure is not remembered");
    }
}
