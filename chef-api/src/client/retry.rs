//! Retry policy: exponential back-off with jitter for transient failures.

use std::time::{Duration, SystemTime};

use reqwest::header::{HeaderMap, RETRY_AFTER};

/// When and how often a failed request is tried again.
///
/// Retried: connection errors, timeouts, and the statuses 429, 500, 502, 503 and 504 (see
/// [`crate::Error::is_retryable`]). Everything else fails at once. The delay before retry `n`
/// (0-based) is a random value between half and all of `min(max_delay, base_delay * 2^n)`.
///
/// `retry_timeout` caps the time spent on one request including its retries: no new attempt
/// starts once waiting for it would pass that limit, and the last error is returned. Keep
/// `retry_timeout` plus one request timeout below the deadline of whatever runs the sync
/// (an AWS Lambda function stops after at most 15 minutes, often far less).
///
/// A `Retry-After` from the server (429, 503) lengthens the delay, up to `max_delay`.
///
/// Default: 5 retries, 250 ms base delay, 8 s max delay, 60 s retry timeout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryConfig {
    /// Retries after the first attempt (0 disables retries).
    pub max_retries: u32,
    /// Delay before the first retry (before jitter).
    pub base_delay: Duration,
    /// Upper bound of one delay.
    pub max_delay: Duration,
    /// Upper bound of the time spent retrying one request.
    pub retry_timeout: Duration,
}

impl Default for RetryConfig {
    fn default() -> Self {
        Self {
            max_retries: 5,
            base_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(8),
            retry_timeout: Duration::from_secs(60),
        }
    }
}

impl RetryConfig {
    /// No retries at all.
    pub fn none() -> Self {
        Self {
            max_retries: 0,
            ..Self::default()
        }
    }

    /// The delay before retry number `retry` (0-based), jittered.
    pub fn delay(&self, retry: u32) -> Duration {
        let ceiling = self
            .base_delay
            .saturating_mul(2u32.saturating_pow(retry.min(31)))
            .min(self.max_delay);
        let half = ceiling / 2;
        let spread = u64::try_from((ceiling - half).as_micros()).unwrap_or(u64::MAX);
        let jitter = if spread == 0 {
            0
        } else {
            rand::random_range(0..=spread)
        };
        half + Duration::from_micros(jitter)
    }
}

/// The `Retry-After` header as a duration (delta seconds or an HTTP date).
pub(crate) fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_retry_after() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let mut h = HeaderMap::new();
        assert_eq!(retry_after(&h, now), None);
        h.insert(RETRY_AFTER, "3".parse().unwrap());
        assert_eq!(retry_after(&h, now), Some(Duration::from_secs(3)));
        let later = httpdate::fmt_http_date(now + Duration::from_secs(7));
        h.insert(RETRY_AFTER, later.parse().unwrap());
        assert_eq!(retry_after(&h, now), Some(Duration::from_secs(7)));
        h.insert(RETRY_AFTER, "soon".parse().unwrap());
        assert_eq!(retry_after(&h, now), None);
    }

    #[test]
    fn delays_grow_within_bounds() {
        let cfg = RetryConfig {
            max_retries: 10,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(1),
            retry_timeout: Duration::from_secs(10),
        };
        for _ in 0..50 {
            let d0 = cfg.delay(0);
            assert!(d0 >= Duration::from_millis(50) && d0 <= Duration::from_millis(100));
            let d2 = cfg.delay(2);
            assert!(d2 >= Duration::from_millis(200) && d2 <= Duration::from_millis(400));
            let d9 = cfg.delay(9);
            assert!(d9 >= Duration::from_millis(500) && d9 <= Duration::from_secs(1));
            assert!(cfg.delay(200) <= Duration::from_secs(1));
        }
        assert_eq!(RetryConfig::none().max_retries, 0);
    }
}
