//! Retry delays: `exponential` is 30 s × 2^(n−1) with ±25 % jitter, capped at one hour (n is
//! the retry number: 1 before the second attempt); `fixed:<d>` waits exactly `d` every time.

use time::Duration;

use crate::config::RetryDelay;

/// The first exponential delay.
pub const BASE: Duration = Duration::seconds(30);
/// The longest exponential delay.
pub const CAP: Duration = Duration::hours(1);

/// The wait before attempt `next` (2 for the first retry). `unit` is a uniform sample from
/// [0, 1) that sets the jitter.
pub fn delay(policy: RetryDelay, next: u32, unit: f64) -> Duration {
    match policy {
        RetryDelay::Fixed(d) => d.max(Duration::ZERO),
        RetryDelay::Exponential => {
            let n = next.saturating_sub(1).max(1);
            // 2^(n−1), saturating well past the cap.
            let factor = 2f64.powi(i32::try_from(n - 1).unwrap_or(i32::MAX).min(30));
            let base = BASE.as_seconds_f64() * factor;
            let jittered = base * (1.0 + 0.25 * (2.0 * unit - 1.0));
            Duration::seconds_f64(jittered.clamp(0.0, CAP.as_seconds_f64()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exponential_doubles_from_thirty_seconds_within_a_quarter_and_caps_at_an_hour() {
        for (next, base) in [(2, 30.0), (3, 60.0), (4, 120.0), (5, 240.0), (8, 1920.0)] {
            let lo = delay(RetryDelay::Exponential, next, 0.0).as_seconds_f64();
            let mid = delay(RetryDelay::Exponential, next, 0.5).as_seconds_f64();
            let hi = delay(RetryDelay::Exponential, next, 0.999_999).as_seconds_f64();
            assert!((lo - base * 0.75).abs() < 1e-6, "attempt {next}: {lo}");
            assert!((mid - base).abs() < 1e-6, "attempt {next}: {mid}");
            assert!((hi - base * 1.25).abs() < 1e-3, "attempt {next}: {hi}");
        }
        // 30 s × 2^7 = 3840 s: capped unless the jitter brings it below the hour; 2^8 always is.
        assert_eq!(delay(RetryDelay::Exponential, 9, 0.5), CAP);
        assert_eq!(delay(RetryDelay::Exponential, 9, 0.0), Duration::seconds(2880));
        assert_eq!(delay(RetryDelay::Exponential, 10, 0.0), CAP);
        assert_eq!(delay(RetryDelay::Exponential, 1000, 0.5), CAP);
    }

    #[test]
    fn fixed_waits_exactly_its_delay() {
        let d = Duration::minutes(5);
        for next in [2, 3, 10] {
            for unit in [0.0, 0.5, 0.99] {
                assert_eq!(delay(RetryDelay::Fixed(d), next, unit), d);
            }
        }
    }
}
