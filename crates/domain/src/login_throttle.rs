//! Throttling of failed sign-ins over a sliding window, without locking out the innocent.
//!
//! Guessing one account's password is slowed where it happens: a few failures for an account
//! from one address make that address wait before trying the account again. Guessing from many
//! addresses meets a larger budget for the account as a whole, and trying many accounts from one
//! address (password spraying) a much larger budget for the address. So a practice behind one
//! NAT, or everyone behind a proxy, keeps signing in while one of them (or an attacker among
//! them) gets a password wrong: their accounts are not the one being guessed, and their few
//! failures are far from the address's budget. A wait refuses the right password too, so it
//! tells an attacker nothing.

use std::time::Duration;

/// How many failures are tolerated, and for how long they count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LoginThrottle {
    /// Failures for one account from one address.
    pub max_failures_per_account_and_address: u32,
    /// Failures for one account from every address.
    pub max_failures_per_account: u32,
    /// Failures from one address, for every account.
    pub max_failures_per_address: u32,
    pub window: Duration,
}

impl Default for LoginThrottle {
    fn default() -> Self {
        Self {
            max_failures_per_account_and_address: 5,
            max_failures_per_account: 20,
            max_failures_per_address: 200,
            window: Duration::from_secs(15 * 60),
        }
    }
}

/// Failures within the window that count against one limit, and how long ago the oldest of
/// them was.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Failures {
    pub count: u32,
    pub oldest_age: Duration,
}

/// Recent failures, as counted within the window for each limit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RecentFailures {
    pub for_account_and_address: Failures,
    pub for_account: Failures,
    pub for_address: Failures,
}

impl LoginThrottle {
    /// `Err(retry_after)` when another attempt must wait: until enough of the failures behind
    /// every limit reached have left the window. The attempt is refused before the password is
    /// even checked, so a wait gives an attacker no signal.
    pub fn check(&self, recent: RecentFailures) -> Result<(), Duration> {
        let wait = [
            (
                recent.for_account_and_address,
                self.max_failures_per_account_and_address,
            ),
            (recent.for_account, self.max_failures_per_account),
            (recent.for_address, self.max_failures_per_address),
        ]
        .into_iter()
        .filter(|(failures, limit)| failures.count >= *limit)
        .map(|(failures, _)| self.window.saturating_sub(failures.oldest_age))
        .max();
        match wait {
            Some(wait) => Err(wait.max(Duration::from_secs(1))),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failures(count: u32, age_secs: u64) -> Failures {
        Failures {
            count,
            oldest_age: Duration::from_secs(age_secs),
        }
    }

    fn recent(pair: Failures, account: Failures, address: Failures) -> RecentFailures {
        RecentFailures {
            for_account_and_address: pair,
            for_account: account,
            for_address: address,
        }
    }

    #[test]
    fn under_every_limit_attempts_go_ahead() {
        let throttle = LoginThrottle::default();
        let none = Failures::default();
        assert_eq!(
            throttle.check(recent(failures(4, 0), failures(19, 0), failures(199, 0))),
            Ok(())
        );
        assert_eq!(throttle.check(recent(none, none, none)), Ok(()));
    }

    #[test]
    fn guessing_one_account_from_one_address_waits_there_and_nowhere_else() {
        let throttle = LoginThrottle::default();
        // The attacker's own address, for the account being guessed.
        assert_eq!(
            throttle.check(recent(failures(5, 60), failures(5, 60), failures(5, 60))),
            Err(Duration::from_secs(840))
        );
        // A neighbour behind the same address, signing in to another account: the address's
        // five failures are no account's of theirs and far from its budget.
        assert_eq!(
            throttle.check(recent(failures(0, 0), failures(0, 0), failures(5, 60))),
            Ok(())
        );
        // The account's owner, from another address.
        assert_eq!(
            throttle.check(recent(failures(0, 0), failures(5, 60), failures(0, 0))),
            Ok(())
        );
    }

    #[test]
    fn many_addresses_at_one_account_or_many_accounts_from_one_address_wait_too() {
        let throttle = LoginThrottle::default();
        assert_eq!(
            throttle.check(recent(failures(1, 10), failures(20, 300), failures(1, 10))),
            Err(Duration::from_secs(600))
        );
        assert_eq!(
            throttle.check(recent(failures(0, 0), failures(0, 0), failures(200, 899))),
            Err(Duration::from_secs(1))
        );
        // The longest of the waits owed.
        assert_eq!(
            throttle.check(recent(failures(5, 800), failures(20, 100), failures(0, 0))),
            Err(Duration::from_secs(800))
        );
        // A failure as old as the window no longer counts; at worst a second's wait.
        assert_eq!(
            throttle.check(recent(
                failures(5, 5_000),
                failures(5, 5_000),
                failures(5, 5_000)
            )),
            Err(Duration::from_secs(1))
        );
    }
}
