//! Rate limits shared by every instance of the service, counted in the database without a
//! database round trip per request.
//!
//! Each policy allows `quota` requests per key (a token's subject, a client address) in each
//! fixed window of [`WINDOW_SECONDS`], the same windows for every instance (the database's clock
//! numbers them). An instance does not ask the database about every request: it takes a *lease*
//! of a few requests at once from the key's shared count, serves requests from it, and takes
//! another when it runs out. The shared count only grows, one lease at a time, so however many
//! instances there are, the requests admitted in a window never exceed the quota: a lease is
//! granted only from what no other lease has taken. What an instance leased and did not use is
//! lost with its window, so a key may be refused a little before its quota (at most one lease
//! per instance); never after it.

use std::time::Duration;

/// Every policy counts in windows of this many seconds.
pub const WINDOW_SECONDS: u64 = 60;

/// The largest lease an instance takes at once.
const MAX_LEASE: u32 = 100;

/// A limit: `quota` requests per key in each window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RatePolicy {
    /// The policy's name in the `RateLimit-Policy` and `RateLimit` headers.
    pub name: &'static str,
    pub quota: u32,
}

impl RatePolicy {
    /// How many requests an instance leases at once: a fiftieth of the quota, from 1 to 100,
    /// so a small quota is counted exactly and a large one costs a database round trip per
    /// fifty-odd requests.
    pub fn lease_size(&self) -> u32 {
        (self.quota / 50).clamp(1, MAX_LEASE)
    }

    /// What a lease of `asked` got, given the key's shared count of requests asked for in the
    /// window once this lease was added (`asked_in_window`). The count holds every lease ever
    /// asked for, granted or not, each added whole by one atomic update, so what was asked
    /// before this lease is `asked_in_window - asked`, and this lease gets what the quota had
    /// left after that.
    pub fn granted(&self, asked: u32, asked_in_window: u64) -> Grant {
        let before = asked_in_window.saturating_sub(u64::from(asked));
        let left_before = u64::from(self.quota).saturating_sub(before);
        let granted = left_before.min(u64::from(asked)) as u32;
        Grant {
            granted,
            left_in_window: u64::from(self.quota).saturating_sub(asked_in_window) as u32,
        }
    }
}

/// The outcome of one lease.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Grant {
    /// Requests this instance may now serve.
    pub granted: u32,
    /// Requests no lease has taken yet in the window.
    pub left_in_window: u32,
}

/// What an instance holds for one key in one window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Allowance {
    /// The window, as whole windows since the Unix epoch.
    pub window: i64,
    /// Leased requests not yet served.
    pub leased: u32,
    /// Requests no lease had taken when this instance last leased.
    pub unleased: u32,
}

/// The answer for one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admission {
    /// Served; `remaining` is what this instance knows to be left in the window.
    Admitted { remaining: u32 },
    /// The quota is spent until the window ends.
    Refused,
    /// This instance holds nothing for the window: lease first.
    Lease,
}

impl Allowance {
    /// Serves one request from what is held for `window`, if anything.
    pub fn take(&mut self, window: i64) -> Admission {
        if self.window != window {
            return Admission::Lease;
        }
        if self.leased > 0 {
            self.leased -= 1;
            return Admission::Admitted {
                remaining: self.leased.saturating_add(self.unleased),
            };
        }
        if self.unleased == 0 {
            Admission::Refused
        } else {
            Admission::Lease
        }
    }

    /// Adds a lease for `window` to what is held (a lease for a newer window replaces it; one
    /// for an older window, arriving late, is dropped).
    pub fn add(&mut self, window: i64, grant: Grant) {
        if window > self.window {
            *self = Allowance {
                window,
                leased: grant.granted,
                unleased: grant.left_in_window,
            };
        } else if window == self.window {
            self.leased = self.leased.saturating_add(grant.granted);
            self.unleased = self.unleased.min(grant.left_in_window);
        }
    }
}

/// The window `unix_seconds` falls in.
pub fn window_of(unix_seconds: u64) -> i64 {
    (unix_seconds / WINDOW_SECONDS) as i64
}

/// How long until `window` ends, at least a second (a `Retry-After` or reset of 0 would invite
/// an instant retry), at most a window.
pub fn until_end_of(window: i64, unix_seconds: u64) -> Duration {
    let end = (window.max(0) as u64 + 1) * WINDOW_SECONDS;
    Duration::from_secs(end.saturating_sub(unix_seconds).clamp(1, WINDOW_SECONDS))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const POLICY: RatePolicy = RatePolicy {
        name: "subject",
        quota: 10,
    };

    #[test]
    fn leases_are_a_fiftieth_of_the_quota_within_bounds() {
        let lease = |quota| RatePolicy { name: "x", quota }.lease_size();
        assert_eq!(lease(10), 1);
        assert_eq!(lease(1200), 24);
        assert_eq!(lease(1_000_000), 100);
        assert_eq!(lease(0), 1);
    }

    #[test]
    fn a_lease_gets_what_the_quota_has_left_after_the_leases_before_it() {
        assert_eq!(
            POLICY.granted(4, 4),
            Grant {
                granted: 4,
                left_in_window: 6
            }
        );
        assert_eq!(
            POLICY.granted(4, 12),
            Grant {
                granted: 2,
                left_in_window: 0
            }
        );
        assert_eq!(
            POLICY.granted(4, 16),
            Grant {
                granted: 0,
                left_in_window: 0
            }
        );
    }

    #[test]
    fn an_allowance_serves_its_lease_then_asks_again_then_refuses_when_the_window_is_spent() {
        let mut held = Allowance {
            window: 7,
            leased: 0,
            unleased: 0,
        };
        assert_eq!(held.take(8), Admission::Lease);
        held.add(
            8,
            Grant {
                granted: 2,
                left_in_window: 3,
            },
        );
        assert_eq!(held.take(8), Admission::Admitted { remaining: 4 });
        assert_eq!(held.take(8), Admission::Admitted { remaining: 3 });
        assert_eq!(held.take(8), Admission::Lease);
        held.add(
            8,
            Grant {
                granted: 1,
                left_in_window: 0,
            },
        );
        assert_eq!(held.take(8), Admission::Admitted { remaining: 0 });
        assert_eq!(held.take(8), Admission::Refused);
        // The next window starts afresh.
        assert_eq!(held.take(9), Admission::Lease);
        // A late lease for an ended window changes nothing.
        held.add(
            7,
            Grant {
                granted: 5,
                left_in_window: 5,
            },
        );
        assert_eq!(held.take(8), Admission::Refused);
    }

    #[test]
    fn the_wait_runs_to_the_end_of_the_window_and_is_never_zero() {
        assert_eq!(until_end_of(2, 130), Duration::from_secs(50));
        assert_eq!(until_end_of(2, 180), Duration::from_secs(1));
        assert_eq!(until_end_of(2, 10), Duration::from_secs(60));
        assert_eq!(window_of(179), 2);
    }

    proptest! {
        /// However many instances lease in whatever order and sizes, the requests they admit
        /// in a window never exceed the quota, and once no lease is left unserved and the
        /// shared count is spent, every instance refuses.
        #[test]
        fn instances_leasing_in_any_order_never_admit_more_than_the_quota(
            quota in 0u32..200,
            steps in proptest::collection::vec(0usize..4, 1..300),
        ) {
            let policy = RatePolicy { name: "p", quota };
            let mut asked_in_window = 0u64;
            let mut instances = [Allowance { window: 0, leased: 0, unleased: 0 }; 4];
            let mut admitted = 0u32;
            for instance in &steps {
                let held = &mut instances[*instance];
                loop {
                    match held.take(1) {
                        Admission::Admitted { .. } => { admitted += 1; break; }
                        Admission::Refused => break,
                        Admission::Lease => {
                            let asked = policy.lease_size();
                            asked_in_window += u64::from(asked);
                            let grant = policy.granted(asked, asked_in_window);
                            held.add(1, grant);
                            if grant.granted == 0 {
                                prop_assert_eq!(held.take(1), Admission::Refused);
                                break;
                            }
                        }
                    }
                }
            }
            prop_assert!(admitted <= quota);
            let total_leased: u64 = asked_in_window.min(u64::from(quota));
            let unserved: u64 = instances.iter().map(|i| u64::from(i.leased)).sum();
            prop_assert_eq!(u64::from(admitted) + unserved, total_leased);
        }
    }
}
