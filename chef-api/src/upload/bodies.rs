//! File bodies for the sandbox PUTs: each small file read once per sync and its bytes shared
//! by every server's PUT, large files streamed in large reads, memory bounded globally.
//!
//! Two byte budgets bound the memory whatever the file sizes and however many PUTs are in
//! flight:
//! * **held**: bytes kept for the servers that have not sent a file yet. A file is held only
//!   when it fits (never waited for), and is dropped once every server has taken it.
//! * **in flight**: bytes read for a PUT that is not held (one server only, or the held budget
//!   is full). A PUT waits for room here, so request concurrency never multiplies memory.
//!
//! Files larger than [`SMALL_FILE`] are streamed from disk in [`STREAM_CHUNK`] reads and take
//! one chunk of the in-flight budget while they are sent.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use tokio::sync::{OnceCell, OwnedSemaphorePermit, Semaphore};

use crate::client::UploadBody;
use crate::cookbook::{CookbookFile, FileBody};
use crate::error::{Error, Result};

/// Files up to this size are read whole (one `read`) and may be shared between servers.
pub const SMALL_FILE: u64 = 1024 * 1024;

/// Read size when a large file is streamed.
pub const STREAM_CHUNK: usize = 256 * 1024;

/// Default budget for bytes held for other servers.
pub const DEFAULT_HELD_BYTES: usize = 16 * 1024 * 1024;

/// Default budget for bytes of PUTs in flight that are not held.
pub const DEFAULT_IN_FLIGHT_BYTES: usize = 16 * 1024 * 1024;

/// Files read at the same time (each read is one blocking-pool thread: without a bound, a few
/// hundred PUTs starting together grew the pool to dozens of threads).
pub const READS_AT_ONCE: usize = 4;

/// Budgets are counted in KiB so that a `u32` permit count covers any file.
const UNIT: u64 = 1024;

/// Shared file bodies of one sync; give the same `Arc` to every server's uploader through
/// [`UploadOptions::bodies`](super::UploadOptions::bodies).
pub struct SharedBodies {
    readers: usize,
    held_budget: Arc<Semaphore>,
    in_flight: Arc<Semaphore>,
    reads: Semaphore,
    held: Mutex<HashMap<[u8; 16], Arc<Held>>>,
}

impl std::fmt::Debug for SharedBodies {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedBodies")
            .field("readers", &self.readers)
            .field("held_kib_free", &self.held_budget.available_permits())
            .field("in_flight_kib_free", &self.in_flight.available_permits())
            .finish_non_exhaustive()
    }
}

/// One held file: read by whichever server asks first, taken by `readers` servers in all.
struct Held {
    bytes: OnceCell<Bytes>,
    takes_left: Mutex<usize>,
    _budget: OwnedSemaphorePermit,
}

/// A body ready to send, and the in-flight budget it holds until dropped.
#[derive(Debug)]
pub struct Body {
    /// What to PUT.
    pub body: UploadBody,
    _in_flight: Option<OwnedSemaphorePermit>,
}

fn units(bytes: u64) -> u32 {
    u32::try_from(bytes.div_ceil(UNIT).max(1)).unwrap_or(u32::MAX)
}

impl SharedBodies {
    /// Bodies for `readers` servers (each file is expected to be PUT once by each) with the
    /// default budgets.
    pub fn new(readers: usize) -> Self {
        Self::with_budgets(readers, DEFAULT_HELD_BYTES, DEFAULT_IN_FLIGHT_BYTES)
    }

    /// Bodies with explicit budgets in bytes (`in_flight` at least 1 MiB, the largest file read
    /// whole).
    pub fn with_budgets(readers: usize, held: usize, in_flight: usize) -> Self {
        let kib = |b: usize| units(b as u64) as usize;
        Self {
            readers: readers.max(1),
            held_budget: Arc::new(Semaphore::new(kib(held))),
            in_flight: Arc::new(Semaphore::new(
                kib(in_flight.max(STREAM_CHUNK)).max(units(SMALL_FILE) as usize),
            )),
            reads: Semaphore::new(READS_AT_ONCE),
            held: Mutex::new(HashMap::new()),
        }
    }

    /// Number of files currently held for other servers.
    pub fn held_files(&self) -> usize {
        self.held.lock().expect("bodies lock").len()
    }

    /// The body of one PUT of `file`.
    ///
    /// # Errors
    /// [`Error::Io`] when the file cannot be read.
    pub async fn body(&self, file: &CookbookFile) -> Result<Body> {
        let path = match file.body() {
            FileBody::Memory(bytes) => {
                return Ok(Body {
                    body: UploadBody::Bytes(bytes.clone()),
                    _in_flight: None,
                });
            }
            FileBody::Disk(path) => path,
        };
        if file.size() > SMALL_FILE {
            let permit = self.in_flight_permit(STREAM_CHUNK as u64).await;
            return Ok(Body {
                body: UploadBody::File(path.clone()),
                _in_flight: Some(permit),
            });
        }
        if let Some(held) = self.held_entry(file) {
            let bytes = held
                .bytes
                .get_or_try_init(|| self.read(path))
                .await?
                .clone();
            self.taken(file, &held);
            return Ok(Body {
                body: UploadBody::Bytes(bytes),
                _in_flight: None,
            });
        }
        let permit = self.in_flight_permit(file.size()).await;
        Ok(Body {
            body: UploadBody::Bytes(self.read(path).await?),
            _in_flight: Some(permit),
        })
    }

    /// Reads a whole file, at most [`READS_AT_ONCE`] at a time.
    async fn read(&self, path: &std::path::Path) -> Result<Bytes> {
        let _reading = self
            .reads
            .acquire()
            .await
            .expect("the read limit is never closed");
        read_whole(path.to_owned()).await
    }

    async fn in_flight_permit(&self, bytes: u64) -> OwnedSemaphorePermit {
        Arc::clone(&self.in_flight)
            .acquire_many_owned(units(bytes))
            .await
            .expect("the in-flight budget is never closed")
    }

    /// The held entry of `file`, made when it fits the held budget; `None` when only one
    /// server reads or there is no room.
    fn held_entry(&self, file: &CookbookFile) -> Option<Arc<Held>> {
        if self.readers < 2 {
            return None;
        }
        let mut held = self.held.lock().expect("bodies lock");
        if let Some(entry) = held.get(&file.md5()) {
            return Some(Arc::clone(entry));
        }
        let budget = Arc::clone(&self.held_budget)
            .try_acquire_many_owned(units(file.size()))
            .ok()?;
        let entry = Arc::new(Held {
            bytes: OnceCell::new(),
            takes_left: Mutex::new(self.readers),
            _budget: budget,
        });
        held.insert(file.md5(), Arc::clone(&entry));
        Some(entry)
    }

    /// Counts one server's take; the last one drops the entry (and its budget).
    fn taken(&self, file: &CookbookFile, entry: &Arc<Held>) {
        let mut left = entry.takes_left.lock().expect("bodies lock");
        *left = left.saturating_sub(1);
        if *left == 0 {
            let mut held = self.held.lock().expect("bodies lock");
            if held.get(&file.md5()).is_some_and(|e| Arc::ptr_eq(e, entry)) {
                held.remove(&file.md5());
            }
        }
    }
}

/// The whole file in one `read` (on the blocking pool: `std::fs::read` sizes its buffer from
/// the metadata).
async fn read_whole(path: std::path::PathBuf) -> Result<Bytes> {
    let shown = path.clone();
    tokio::task::spawn_blocking(move || std::fs::read(&path))
        .await
        .map_err(|e| Error::Io {
            path: shown.clone(),
            source: std::io::Error::other(e),
        })?
        .map(Bytes::from)
        .map_err(|source| Error::Io {
            path: shown,
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn disk_file(dir: &std::path::Path, name: &str, size: usize) -> CookbookFile {
        let path = dir.join(name);
        std::fs::write(&path, vec![b'x' + (size % 3) as u8; size]).unwrap();
        CookbookFile::from_disk(&format!("files/default/{name}"), path).unwrap()
    }

    fn bytes_of(body: &Body) -> Bytes {
        match &body.body {
            UploadBody::Bytes(b) => b.clone(),
            UploadBody::File(p) => panic!("expected bytes, got a stream of {}", p.display()),
        }
    }

    #[tokio::test]
    async fn a_small_file_is_read_once_and_dropped_after_every_server_took_it() {
        let dir = tempfile::tempdir().unwrap();
        let file = disk_file(dir.path(), "a", 10_000);
        let bodies = SharedBodies::new(3);
        let first = bodies.body(&file).await.unwrap();
        assert_eq!(bodies.held_files(), 1);
        // The file changes on disk: the other servers still get the bytes read the first time,
        // which proves they were not read again.
        std::fs::write(dir.path().join("a"), b"changed").unwrap();
        let second = bodies.body(&file).await.unwrap();
        assert_eq!(bodies.held_files(), 1);
        let third = bodies.body(&file).await.unwrap();
        assert_eq!(bodies.held_files(), 0, "the last server's take drops it");
        for b in [&first, &second, &third] {
            assert_eq!(bytes_of(b).len(), 10_000);
        }
        assert_eq!(bytes_of(&first).as_ptr(), bytes_of(&third).as_ptr());
    }

    #[tokio::test]
    async fn no_room_to_hold_means_a_private_read_and_large_files_stream() {
        let dir = tempfile::tempdir().unwrap();
        let small = disk_file(dir.path(), "s", 8 * 1024);
        let large = disk_file(dir.path(), "l", SMALL_FILE as usize + 1);
        let bodies = SharedBodies::with_budgets(2, 4 * 1024, 1024 * 1024);
        let b = bodies.body(&small).await.unwrap();
        assert_eq!(
            bodies.held_files(),
            0,
            "8 KiB does not fit a 4 KiB held budget"
        );
        assert_eq!(bytes_of(&b).len(), 8 * 1024);
        let l = bodies.body(&large).await.unwrap();
        assert!(matches!(l.body, UploadBody::File(_)), "{l:?}");
    }

    #[tokio::test]
    async fn in_flight_bytes_wait_for_room() {
        let dir = tempfile::tempdir().unwrap();
        let a = disk_file(dir.path(), "a", 600 * 1024);
        let b = disk_file(dir.path(), "b", 600 * 1024);
        let bodies = SharedBodies::with_budgets(1, 0, 1024 * 1024);
        let first = bodies.body(&a).await.unwrap();
        let waiting = tokio::time::timeout(std::time::Duration::from_millis(50), bodies.body(&b));
        assert!(waiting.await.is_err(), "1.2 MiB in flight exceeds 1 MiB");
        drop(first);
        let second = bodies.body(&b).await.unwrap();
        assert_eq!(bytes_of(&second).len(), 600 * 1024);
    }

    #[tokio::test]
    async fn an_unreadable_file_names_its_path() {
        let dir = tempfile::tempdir().unwrap();
        let file = disk_file(dir.path(), "gone", 100);
        std::fs::remove_file(dir.path().join("gone")).unwrap();
        let err = SharedBodies::new(1).body(&file).await.unwrap_err();
        assert!(err.to_string().contains("gone"), "{err}");
    }
}
