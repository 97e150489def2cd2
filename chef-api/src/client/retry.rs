//! Retry policy: exponential back-off with jitter for transient failures.

use std::time::{Duration, Instant, SystemTime};

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

    /// The delay before retry number `retries` (0-based) of a request first sent at `started`
    /// that failed in a way worth retrying, or `None` to give up: the retries are used up, or
    /// waiting would pass [`RetryConfig::retry_timeout`]. The server's `Retry-After`
    /// (`retry_after`) lengthens the delay, up to [`RetryConfig::max_delay`].
    pub fn next_delay(
        &self,
        retries: u32,
        started: Instant,
        retry_after: Option<Duration>,
    ) -> Option<Duration> {
        if retries >= self.max_retries {
            return None;
        }
        let mut delay = self.delay(retries);
        if let Some(asked) = retry_after {
            delay = delay.max(asked.min(self.max_delay));
        }
        (started.elapsed() + delay <= self.retry_timeout).then_some(delay)
    }
}

/// Statuses worth retrying: 429, 500, 502, 503 and 504.
pub fn is_retryable_status(status: u16) -> bool {
    matches!(status, 429 | 500 | 502 | 503 | 504)
}

/// A request that got no answer is worth retrying (connection refused or reset, DNS, timeout),
/// unless it could not be built or its redirects failed.
pub fn is_retryable_transport(error: &reqwest::Error) -> bool {
    !error.is_builder() && !error.is_redirect()
}

/// The `Retry-After` header as a duration (delta seconds or an HTTP date).
pub fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
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

    #[test]
    fn next_delay_stops_at_max_retries_and_retry_timeout() {
        let cfg = RetryConfig {
            max_retries: 2,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(1),
            retry_timeout: Duration::from_secs(10),
        };
        let now = Instant::now();
        let d = cfg.next_delay(0, now, None).unwrap();
        assert!(d >= Duration::from_millis(50) && d <= Duration::from_millis(100));
        assert!(cfg.next_delay(2, now, None).is_none(), "retries used up");
        let asked = cfg
            .next_delay(0, now, Some(Duration::from_secs(30)))
            .unwrap();
        assert_eq!(
            asked,
            Duration::from_secs(1),
            "Retry-After is capped at max_delay"
        );
        let late = now.checked_sub(Duration::from_secs(10)).unwrap();
        assert!(
            cfg.next_delay(0, late, None).is_none(),
            "past retry_timeout"
        );
        assert_eq!(RetryConfig::none().next_delay(0, now, None), None);
        let retryable: Vec<u16> = (100..600).filter(|s| is_retryable_status(*s)).collect();
        assert_eq!(retryable, [429, 500, 502, 503, 504]);
    }
}
