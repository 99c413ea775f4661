//! A request budget per client: so many requests in each fixed window, counted wherever the
//! requests were served (the count lives in the database, shared by every instance).

use std::time::Duration;

/// Requests allowed in each window of `window`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RequestBudget {
    pub per_window: u32,
    pub window: Duration,
}

/// A client's window as counted, this request included.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WindowCount {
    pub requests: u32,
    /// How long ago the window began.
    pub age: Duration,
}

impl RequestBudget {
    pub const fn per_minute(per_window: u32) -> Self {
        Self {
            per_window,
            window: Duration::from_secs(60),
        }
    }

    /// `Err(retry_after)` when the request just counted is over the budget: the wait is until
    /// the window ends, at least a second (a `Retry-After` of 0 would invite an instant retry).
    pub fn check(&self, count: WindowCount) -> Result<(), Duration> {
        if count.requests <= self.per_window {
            Ok(())
        } else {
            Err(self
                .window
                .saturating_sub(count.age)
                .max(Duration::from_secs(1)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(requests: u32, age_secs: u64) -> WindowCount {
        WindowCount {
            requests,
            age: Duration::from_secs(age_secs),
        }
    }

    #[test]
    fn requests_up_to_the_budget_go_ahead() {
        let budget = RequestBudget::per_minute(3);
        assert_eq!(budget.check(count(1, 0)), Ok(()));
        assert_eq!(budget.check(count(3, 59)), Ok(()));
    }

    #[test]
    fn the_request_over_the_budget_waits_for_the_window_to_end() {
        let budget = RequestBudget::per_minute(3);
        assert_eq!(budget.check(count(4, 10)), Err(Duration::from_secs(50)));
    }

    #[test]
    fn the_wait_is_never_zero() {
        let budget = RequestBudget::per_minute(3);
        assert_eq!(budget.check(count(4, 60)), Err(Duration::from_secs(1)));
        // A clock that has the window starting in the future still gives a whole window.
        assert_eq!(
            RequestBudget::per_minute(0).check(count(1, 0)),
            Err(Duration::from_secs(60))
        );
    }
}
