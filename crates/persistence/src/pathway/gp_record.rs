//! What the message back to the GP needs beyond what the pathway's own modules read: the
//! clinic contacts a referral had, what providers delivered for each onward referral, the
//! names of the organisations referred to and of the referrer.

use crate::error::StoreError;
use chrono::{DateTime, NaiveDate, Utc};
use sqlx::PgConnection;
use std::collections::HashMap;
use uuid::Uuid;
use waymark_domain::{FederationId, PracticeId};

/// A clinic slot booked for the referral.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClinicContact {
    pub slot_id: Uuid,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub location: String,
    /// `attended` or `did_not_attend`, once recorded.
    pub attendance: Option<String>,
}

pub async fn clinic_contacts(
    conn: &mut PgConnection,
    federation: FederationId,
    practice: PracticeId,
    referral: Uuid,
) -> Result<Vec<ClinicContact>, StoreError> {
    Ok(sqlx::query_as!(
        ClinicContact,
        r#"SELECT sl.id AS slot_id, sl.starts_at, sl.ends_at, se.location, sl.attendance
           FROM clinic_slots sl
           JOIN clinic_sessions se ON se.federation_id = sl.federation_id
                AND se.practice_id = sl.practice_id AND se.id = sl.session_id
           WHERE sl.federation_id = $1 AND sl.practice_id = $2 AND sl.referral_id = $3
           ORDER BY sl.starts_at"#,
        federation.as_uuid(),
        practice.as_uuid(),
        referral,
    )
    .fetch_all(conn)
    .await?)
}

/// What a provider delivered for one onward referral.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivered {
    pub activities: i64,
    pub quantity: i64,
    pub last_delivered_on: Option<NaiveDate>,
}

/// Per onward referral of the referral, what its provider recorded delivering.
pub async fn delivered(
    conn: &mut PgConnection,
    federation: FederationId,
    practice: PracticeId,
    referral: Uuid,
) -> Result<HashMap<Uuid, Delivered>, StoreError> {
    Ok(sqlx::query!(
        r#"SELECT a.onward_referral_id, count(*) AS "activities!",
                  sum(a.quantity)::bigint AS "quantity!", max(a.delivered_on) AS last_delivered_on
           FROM activities a
           JOIN onward_referrals o ON o.federation_id = a.federation_id
                AND o.practice_id = a.practice_id AND o.id = a.onward_referral_id
           WHERE a.federation_id = $1 AND a.practice_id = $2 AND o.referral_id = $3
           GROUP BY a.onward_referral_id"#,
        federation.as_uuid(),
        practice.as_uuid(),
        referral,
    )
    .fetch_all(conn)
    .await?
    .into_iter()
    .map(|r| {
        (
            r.onward_referral_id,
            Delivered {
                activities: r.activities,
                quantity: r.quantity,
                last_delivered_on: r.last_delivered_on,
            },
        )
    })
    .collect())
}

/// The names of the federation's organisations among `ids`.
pub async fn organisation_names(
    conn: &mut PgConnection,
    federation: FederationId,
    ids: &[Uuid],
) -> Result<HashMap<Uuid, String>, StoreError> {
    Ok(sqlx::query!(
        "SELECT id, name FROM organisations WHERE federation_id = $1 AND id = ANY ($2)",
        federation.as_uuid(),
        ids,
    )
    .fetch_all(conn)
    .await?
    .into_iter()
    .map(|r| (r.id, r.name))
    .collect())
}

/// The name of a user of the federation (the referrer), if it is one.
pub async fn user_name(
    conn: &mut PgConnection,
    federation: FederationId,
    user: Uuid,
) -> Result<Option<String>, StoreError> {
    Ok(sqlx::query_scalar!(
        "SELECT display_name FROM users WHERE federation_id = $1 AND id = $2",
        federation.as_uuid(),
        user,
    )
    .fetch_optional(conn)
    .await?)
}
