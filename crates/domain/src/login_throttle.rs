//! Throttling of failed sign-ins, per account and per client address, over a sliding window.

use std::time::Duration;

/// How many failures are tolerated, and for how long they count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LoginThrottle {
    pub max_failures_per_account: u32,
    pub max_failures_per_address: u32,
    pub window: Duration,
}

impl Default for LoginThrottle {
    fn default() -> Self {
        Self {
            max_failures_per_account: 5,
            max_failures_per_address: 20,
            window: Duration::from_secs(15 * 60),
        }
    }
}

/// Recent failures, as counted within the window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecentFailures {
    pub for_account: u32,
    pub for_address: u32,
    /// Age of the oldest failure that still counts against the limit that was reached.
    pub oldest_age: Duration,
}

impl LoginThrottle {
    /// `Err(retry_after)` when another attempt must wait; the attempt is refused before the
    /// password is even checked, so a locked account gives an attacker no signal.
    pub fn check(&self, recent: RecentFailures) -> Result<(), Duration> {
        if recent.for_account >= self.max_failures_per_account
            || recent.for_address >= self.max_failures_per_address
        {
            let wait = self.window.saturating_sub(recent.oldest_age);
            Err(wait.max(Duration::from_secs(1)))
        } else {
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failures(account: u32, address: u32, age_secs: u64) -> RecentFailures {
        RecentFailures {
            for_account: account,
            for_address: address,
            oldest_age: Duration::from_secs(age_secs),
        }
    }

    #[test]
    fn under_the_limits_attempts_go_ahead() {
        assert_eq!(LoginThrottle::default().check(failures(4, 19, 0)), Ok(()));
    }

    #[test]
    fn at_either_limit_attempts_wait_for_the_window_to_slide() {
        let throttle = LoginThrottle::default();
        assert_eq!(
            throttle.check(failures(5, 0, 60)),
            Err(Duration::from_secs(840))
        );
        assert_eq!(
            throttle.check(failures(0, 20, 899)),
            Err(Duration::from_secs(1))
        );
        assert_eq!(
            throttle.check(failures(5, 0, 5_000)),
            Err(Duration::from_secs(1))
        );
    }
}
