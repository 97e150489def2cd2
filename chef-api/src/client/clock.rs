//! Request timestamps: an injectable clock plus the offset learned from the server.
//!
//! Chef servers reject signatures whose timestamp is more than 15 minutes off their own
//! clock. The client learns the server's time from each response's `Date` header; when a
//! request is refused because of the clock, it is signed again with the corrected time.

use std::fmt::Debug;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime};

/// Where the client takes the current time from.
pub trait Clock: Debug + Send + Sync {
    /// The current time.
    fn now(&self) -> SystemTime;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// The system clock shifted by a fixed number of seconds, e.g. to test a host whose clock is
/// 20 minutes off: `OffsetClock(-1200)`.
#[derive(Debug, Clone, Copy, Default)]
pub struct OffsetClock(pub i64);

impl Clock for OffsetClock {
    fn now(&self) -> SystemTime {
        shift(SystemTime::now(), self.0)
    }
}

/// `t` moved by `seconds` (either direction).
pub(crate) fn shift(t: SystemTime, seconds: i64) -> SystemTime {
    let d = Duration::from_secs(seconds.unsigned_abs());
    if seconds >= 0 { t + d } else { t - d }
}

/// Offsets below this many seconds are noise (the `Date` header has one-second precision).
const NOISE_SECONDS: i64 = 2;

/// The offset server time − local time, shared by all clones of a client.
#[derive(Debug, Default)]
pub(crate) struct Skew {
    seconds: AtomicI64,
}

impl Skew {
    /// Current offset in seconds.
    pub(crate) fn get(&self) -> i64 {
        self.seconds.load(Ordering::Relaxed)
    }

    /// Learns from a response's `Date` header, compared with local time `now`.
    /// Returns true when the stored offset changed.
    pub(crate) fn observe(&self, date_header: Option<&str>, now: SystemTime) -> bool {
        let Some(server) = date_header.and_then(|d| httpdate::parse_http_date(d).ok()) else {
            return false;
        };
        let offset = match server.duration_since(now) {
            Ok(ahead) => i64::try_from(ahead.as_secs()).unwrap_or(i64::MAX),
            Err(behind) => -i64::try_from(behind.duration().as_secs()).unwrap_or(i64::MAX),
        };
        let offset = if offset.abs() < NOISE_SECONDS {
            0
        } else {
            offset
        };
        self.seconds.swap(offset, Ordering::Relaxed) != offset
    }
}

/// Does this 401 say the timestamp was out of range? (Chef Server: "Synchronize the clock on
/// your host."; goiardi: "Please check your system's clock.")
pub(crate) fn is_clock_complaint(messages: &[String]) -> bool {
    messages.iter().any(|m| {
        let m = m.to_ascii_lowercase();
        m.contains("clock") || m.contains("synchroniz")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn learns_offset_from_date_header() {
        let skew = Skew::default();
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let server = httpdate::fmt_http_date(now + Duration::from_secs(1200));
        assert!(skew.observe(Some(&server), now));
        assert_eq!(skew.get(), 1200);
        let server = httpdate::fmt_http_date(now - Duration::from_secs(90));
        skew.observe(Some(&server), now);
        assert_eq!(skew.get(), -90);
        skew.observe(Some(&httpdate::fmt_http_date(now)), now);
        assert_eq!(skew.get(), 0);
        assert!(!skew.observe(Some("not a date"), now));
        assert!(!skew.observe(None, now));
        assert_eq!(shift(now, -90), now - Duration::from_secs(90));
    }

    #[test]
    fn recognises_clock_complaints() {
        assert!(is_clock_complaint(&[
            "Failed to authenticate as bob. Synchronize the clock on your host.".into()
        ]));
        assert!(is_clock_complaint(&[
            "Authentication failed. Please check your system's clock.".into()
        ]));
        assert!(!is_clock_complaint(&[
            "Invalid signature for user or client 'bob'".into()
        ]));
    }
}
