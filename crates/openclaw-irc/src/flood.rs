//! Outgoing flood control: a token bucket. Servers disconnect clients that
//! send faster than a few lines per second ("Excess Flood"), so every line we
//! write takes a token; a burst of `capacity` lines goes out at once, then
//! one line per `interval`.

use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct TokenBucket {
    capacity: f64,
    tokens: f64,
    interval: Duration,
    last: Instant,
}

impl TokenBucket {
    pub fn new(capacity: u32, interval: Duration, now: Instant) -> Self {
        TokenBucket {
            capacity: capacity.max(1) as f64,
            tokens: capacity.max(1) as f64,
            interval,
            last: now,
        }
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.last);
        self.last = now;
        if self.interval.is_zero() {
            self.tokens = self.capacity;
        } else {
            self.tokens = (self.tokens + elapsed.as_secs_f64() / self.interval.as_secs_f64())
                .min(self.capacity);
        }
    }

    /// Takes a token if one is available; otherwise says how long until one
    /// is.
    pub fn try_take(&mut self, now: Instant) -> Result<(), Duration> {
        self.refill(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            let missing = 1.0 - self.tokens;
            Err(self.interval.mul_f64(missing))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_one_per_interval() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(3, Duration::from_secs(2), t0);
        assert!(b.try_take(t0).is_ok());
        assert!(b.try_take(t0).is_ok());
        assert!(b.try_take(t0).is_ok());
        let wait = b.try_take(t0).unwrap_err();
        assert_eq!(wait, Duration::from_secs(2));
        assert_eq!(
            b.try_take(t0 + Duration::from_secs(1)).unwrap_err(),
            Duration::from_secs(1)
        );
        assert!(b.try_take(t0 + Duration::from_secs(2)).is_ok());
        // a long pause refills to capacity, not beyond
        let later = t0 + Duration::from_secs(100);
        for _ in 0..3 {
            assert!(b.try_take(later).is_ok());
        }
        assert!(b.try_take(later).is_err());
    }
}
