//! Retry policy: exponential backoff with jitter, and the server's `Retry-After`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

/// How long to wait between attempts; how many attempts is per provider (`max_retries`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    /// Backoff before the first retry; it doubles at each further retry.
    pub base_delay: Duration,
    /// Cap on the exponential backoff.
    pub max_delay: Duration,
    /// Cap on a server's `Retry-After` (a server asking for an hour gets this instead).
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
            max_retry_after: Duration::from_secs(120),
        }
    }
}

impl RetryPolicy {
    /// Backoff before retry number `retry` (0 = first retry) with "equal jitter": uniformly in
    /// `[d/2, d)` for `d = min(max_delay, base_delay * 2^retry)`, `unit` being a uniform draw in `[0, 1)`.
    pub fn backoff(&self, retry: u32, unit: f64) -> Duration {
        let exp = self.base_delay.as_secs_f64() * 2f64.powi(retry.min(60) as i32);
        let capped = exp.min(self.max_delay.as_secs_f64());
        Duration::from_secs_f64(capped * (0.5 + 0.5 * unit.clamp(0.0, 1.0)))
    }

    /// Wait before retry number `retry`: the server's `Retry-After` (capped) when it sent one, else
    /// [`RetryPolicy::backoff`].
    pub fn delay(&self, retry: u32, retry_after: Option<Duration>, unit: f64) -> Duration {
        match retry_after {
            Some(wait) => wait.min(self.max_retry_after),
            None => self.backoff(retry, unit),
        }
    }
}

/// Parses a `Retry-After` value: seconds (integer or decimal) or an HTTP date (a past date is 0).
pub(crate) fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// Uniform draws in `[0, 1)` for jitter (splitmix64; shared by all calls of a client, lock-free).
#[derive(Debug)]
pub(crate) struct Jitter(AtomicU64);

impl Jitter {
    pub(crate) fn new(seed: u64) -> Self {
        Jitter(AtomicU64::new(seed))
    }

    pub(crate) fn next_unit(&self) -> f64 {
        let mut z = self
            .0
            .fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed)
            .wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check_backoff(retry: u32, unit: f64, expected_ms: u64) {
        let policy = RetryPolicy::default();
        assert_eq!(
            policy.backoff(retry, unit).as_millis() as u64,
            expected_ms,
            "retry {retry} unit {unit}"
        );
    }

    #[test]
    fn backoff_doubles_with_equal_jitter_and_caps() {
        check_backoff(0, 0.0, 250);
        check_backoff(0, 0.999_999, 499);
        check_backoff(1, 0.0, 500);
        check_backoff(3, 0.5, 3000);
        check_backoff(6, 0.0, 15_000);
        check_backoff(7, 0.0, 15_000);
        check_backoff(u32::MAX, 1.0, 30_000);
    }

    #[test]
    fn retry_after_wins_but_is_capped() {
        let policy = RetryPolicy::default();
        assert_eq!(
            policy.delay(5, Some(Duration::from_secs(2)), 0.3),
            Duration::from_secs(2)
        );
        assert_eq!(
            policy.delay(0, Some(Duration::from_secs(3600)), 0.3),
            Duration::from_secs(120)
        );
        assert_eq!(policy.delay(0, None, 0.0), Duration::from_millis(250));
    }

    #[test]
    fn retry_after_parses_seconds_and_dates() {
        let now = httpdate::parse_http_date("Wed, 21 Oct 2015 07:28:00 GMT").unwrap();
        assert_eq!(parse_retry_after(" 7 ", now), Some(Duration::from_secs(7)));
        assert_eq!(
            parse_retry_after("0.25", now),
            Some(Duration::from_millis(250))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:27:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("-1", now), None);
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[test]
    fn jitter_is_uniform_enough_and_in_range() {
        let jitter = Jitter::new(42);
        let draws: Vec<f64> = (0..10_000).map(|_| jitter.next_unit()).collect();
        assert!(draws.iter().all(|u| (0.0..1.0).contains(u)));
        let mean = draws.iter().sum::<f64>() / draws.len() as f64;
        assert!((mean - 0.5).abs() < 0.02, "mean {mean}");
        let low = draws.iter().filter(|&&u| u < 0.1).count();
        assert!((800..1200).contains(&low), "{low} draws below 0.1");
    }
}
