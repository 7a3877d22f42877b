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
        self.try_take_n(1, now)
    }

    /// Takes `n` tokens at once (at most the capacity: more could never be
    /// there) if they are available; otherwise says how long until they
    /// are. For lines that must go out together.
    pub fn try_take_n(&mut self, n: u32, now: Instant) -> Result<(), Duration> {
        self.refill(now);
        let n = (n.max(1) as f64).min(self.capacity);
        if self.tokens >= n {
            self.tokens -= n;
            Ok(())
        } else {
            let missing = n - self.tokens;
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

    #[test]
    fn several_at_once_or_none() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(5, Duration::from_secs(1), t0);
        assert!(b.try_take_n(3, t0).is_ok());
        // two left: four wait two intervals, and nothing is taken meanwhile
        assert_eq!(b.try_take_n(4, t0).unwrap_err(), Duration::from_secs(2));
        assert!(b.try_take_n(2, t0).is_ok());
        // more than the capacity takes the whole bucket
        let later = t0 + Duration::from_secs(100);
        assert!(b.try_take_n(9, later).is_ok());
        assert!(b.try_take(later).is_err());
    }
}
