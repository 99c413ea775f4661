//! The request body of a secret's rotation, shared by service accounts and webhook endpoints.

use crate::problem::ApiError;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use utoipa::ToSchema;
use waymark_domain::secret_rotation::grace_period;
use waymark_domain::ValidationErrors;

/// How long the secret being replaced keeps working beside the new one, so whoever holds it
/// can switch without downtime.
#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct SecretRotationBody {
    /// Seconds, 0 (the old secret stops now) to 604800 (a week); a day when left out. A secret
    /// still in an earlier rotation's grace period stops now.
    #[schema(minimum = 0, maximum = 604800, example = 86400)]
    pub grace_period_seconds: Option<i64>,
}

impl SecretRotationBody {
    /// Until when the replaced secret works, from `now`; `None`: it stops now.
    pub fn previous_secret_expires_at(
        &self,
        now: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>, ApiError> {
        let grace = grace_period(self.grace_period_seconds).map_err(|mut error| {
            error.field = "grace_period_seconds".into();
            ApiError::Validation(ValidationErrors(vec![error]))
        })?;
        Ok(grace
            .and_then(|grace| chrono::Duration::from_std(grace).ok())
            .map(|grace| now + grace))
    }
}
