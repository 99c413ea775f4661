//! Rotating a secret without downtime: the secret it replaces keeps working for a grace period
//! (a service account's client secret, a webhook endpoint's signing secret).

use crate::validation::FieldError;
use std::time::Duration;

/// Left out, the old secret works for a day.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(24 * 60 * 60);
/// At most a week.
pub const MAX_GRACE: Duration = Duration::from_secs(7 * 24 * 60 * 60);

/// How long the replaced secret keeps working, from a request's `grace_period_seconds`: `None`
/// when it stops at once (0 seconds).
pub fn grace_period(seconds: Option<i64>) -> Result<Option<Duration>, FieldError> {
    let seconds = seconds.unwrap_or(DEFAULT_GRACE.as_secs() as i64);
    if !(0..=MAX_GRACE.as_secs() as i64).contains(&seconds) {
        return Err(FieldError::new(
            "out_of_range",
            "must be between 0 and 604800 (a week)",
        ));
    }
    Ok((seconds > 0).then(|| Duration::from_secs(seconds as u64)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_grace_period_is_a_day_unless_asked_and_at_most_a_week() {
        assert_eq!(grace_period(None), Ok(Some(DEFAULT_GRACE)));
        assert_eq!(grace_period(Some(0)), Ok(None));
        assert_eq!(grace_period(Some(604_800)), Ok(Some(MAX_GRACE)));
        assert_eq!(grace_period(Some(-1)).unwrap_err().code, "out_of_range");
        assert_eq!(
            grace_period(Some(604_801)).unwrap_err().code,
            "out_of_range"
        );
    }
}
