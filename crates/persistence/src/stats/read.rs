//! Reading the statistics: the rollups and the deltas not yet folded into them, summed in one
//! snapshot, so every answer is exact as of the moment that snapshot was taken whether or not
//! the compactor has caught up. Every query names the federation and reads one bucket kind,
//! need category, age band and sex slice, in bucket order (the rollups' primary key). A question
//! about the whole federation reads its rows under the nil practice id, which the folds keep
//! for every practice together; one about some practices adds up theirs.

use crate::error::StoreError;
use chrono::{DateTime, NaiveDate, Utc};
use sqlx::PgConnection;
use uuid::Uuid;
use waymark_domain::directory::NeedCategory;
use waymark_domain::stats::{BucketKind, PairSums, Period, ReferralMeasures};
use waymark_domain::FederationId;

/// What a question is asked of: a federation's whole buckets in a period, its practices (all
/// when `None`), one need category, one age band and one sex (`all` for any not asked).
#[derive(Clone, Debug)]
pub struct Slice {
    pub federation: FederationId,
    pub period: Period,
    pub practices: Option<Vec<Uuid>>,
    pub need_category: String,
    pub age_band: String,
    pub sex: String,
}

/// The rollups' name for every need category, every age band or every sex.
pub use waymark_domain::stats::rollup::ALL;

fn kind(period: &Period) -> &'static str {
    match period.kind() {
        BucketKind::Week => "week",
        BucketKind::Month => "month",
    }
}

/// The moment the transaction's snapshot was taken: call first, in a snapshot transaction.
pub async fn as_of(conn: &mut PgConnection) -> Result<DateTime<Utc>, StoreError> {
    Ok(
        sqlx::query_scalar!(r#"SELECT statement_timestamp() AS "as_of!""#)
            .fetch_one(conn)
            .await?,
    )
}

/// One practice's sums for one bucket.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PracticeBucket {
    pub practice_id: Uuid,
    pub bucket_start: NaiveDate,
    pub measures: ReferralMeasures,
}

/// The slice's sums by practice and bucket; pairs that have nothing are left out.
pub async fn referral_measures(
    conn: &mut PgConnection,
    slice: &Slice,
) -> Result<Vec<PracticeBucket>, StoreError> {
    let rows = sqlx::query!(
        r#"SELECT practice_id AS "practice_id!", bucket_start AS "bucket_start!",
                  sum(referrals)::bigint AS "referrals!",
                  sum(booked)::bigint AS "booked!",
                  sum(seen)::bigint AS "seen!",
                  sum(onward_referred)::bigint AS "onward_referred!",
                  sum(engaged)::bigint AS "engaged!",
                  sum(closed)::bigint AS "closed!",
                  sum(declined)::bigint AS "declined!",
                  sum(did_not_attend)::bigint AS "did_not_attend!",
                  sum(withdrawn)::bigint AS "withdrawn!",
                  sum(contacts)::bigint AS "contacts!",
                  sum(contact_days_total)::bigint AS "contact_days_total!",
                  sum(swemwbs_pairs)::bigint AS "swemwbs_pairs!",
                  sum(swemwbs_change)::bigint AS "swemwbs_change!",
                  sum(swemwbs_improved)::bigint AS "swemwbs_improved!",
                  sum(life_satisfaction_pairs)::bigint AS "life_satisfaction_pairs!",
                  sum(life_satisfaction_change)::bigint AS "life_satisfaction_change!",
                  sum(life_satisfaction_improved)::bigint AS "life_satisfaction_improved!",
                  sum(worthwhile_pairs)::bigint AS "worthwhile_pairs!",
                  sum(worthwhile_change)::bigint AS "worthwhile_change!",
                  sum(worthwhile_improved)::bigint AS "worthwhile_improved!",
                  sum(happiness_pairs)::bigint AS "happiness_pairs!",
                  sum(happiness_change)::bigint AS "happiness_change!",
                  sum(happiness_improved)::bigint AS "happiness_improved!",
                  sum(anxiety_pairs)::bigint AS "anxiety_pairs!",
                  sum(anxiety_change)::bigint AS "anxiety_change!",
                  sum(anxiety_improved)::bigint AS "anxiety_improved!",
                  sum(gp_pairs)::bigint AS "gp_pairs!",
                  sum(gp_before)::bigint AS "gp_before!",
                  sum(gp_after)::bigint AS "gp_after!"
           FROM (
               SELECT practice_id, bucket_start, referrals, booked, seen, onward_referred, engaged, closed, declined, did_not_attend, withdrawn, contacts, contact_days_total, swemwbs_pairs, swemwbs_change, swemwbs_improved, life_satisfaction_pairs, life_satisfaction_change, life_satisfaction_improved, worthwhile_pairs, worthwhile_change, worthwhile_improved, happiness_pairs, happiness_change, happiness_improved, anxiety_pairs, anxiety_change, anxiety_improved, gp_pairs, gp_before, gp_after
               FROM stats_referral_rollups
               WHERE federation_id = $1 AND bucket_kind = $2 AND need_category = $3
                 AND age_band = $4 AND sex = $8 AND bucket_start BETWEEN $5 AND $6
                 AND practice_id <> '00000000-0000-0000-0000-000000000000'
                 AND ($7::uuid[] IS NULL OR practice_id = ANY($7))
               UNION ALL
               SELECT practice_id, CASE WHEN $2 = 'week' THEN date_trunc('week', referred_on::timestamp)::date ELSE date_trunc('month', referred_on::timestamp)::date END, referrals, booked, seen, onward_referred, engaged, closed, declined, did_not_attend, withdrawn, contacts, contact_days_total, swemwbs_pairs, swemwbs_change, swemwbs_improved, life_satisfaction_pairs, life_satisfaction_change, life_satisfaction_improved, worthwhile_pairs, worthwhile_change, worthwhile_improved, happiness_pairs, happiness_change, happiness_improved, anxiety_pairs, anxiety_change, anxiety_improved, gp_pairs, gp_before, gp_after
               FROM stats_referral_deltas
               WHERE federation_id = $1 AND ($3 = 'all' OR $3 = ANY(need_categories))
                 AND ($4 = 'all' OR age_band = $4) AND ($8 = 'all' OR sex = $8)
                 AND referred_on BETWEEN $5 AND $6
                 AND ($7::uuid[] IS NULL OR practice_id = ANY($7))
           ) x
           GROUP BY 1, 2
           ORDER BY 2, 1"#,
        slice.federation.as_uuid(),
        kind(&slice.period),
        slice.need_category,
        slice.age_band,
        slice.period.from(),
        slice.period.to(),
        slice.practices.as_deref(),
        slice.sex,
    )
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| PracticeBucket {
            practice_id: r.practice_id,
            bucket_start: r.bucket_start,
            measures: ReferralMeasures {
                referrals: r.referrals,
                booked: r.booked,
                seen: r.seen,
                onward_referred: r.onward_referred,
                engaged: r.engaged,
                closed: r.closed,
                declined: r.declined,
                did_not_attend: r.did_not_attend,
                withdrawn: r.withdrawn,
                contacts: r.contacts,
                contact_days_total: r.contact_days_total,
                gp_pairs: r.gp_pairs,
                gp_before: r.gp_before,
                gp_after: r.gp_after,
                swemwbs: PairSums {
                    pairs: r.swemwbs_pairs,
                    change: r.swemwbs_change,
                    improved: r.swemwbs_improved,
                },
                life_satisfaction: PairSums {
                    pairs: r.life_satisfaction_pairs,
                    change: r.life_satisfaction_change,
                    improved: r.life_satisfaction_improved,
                },
                worthwhile: PairSums {
                    pairs: r.worthwhile_pairs,
                    change: r.worthwhile_change,
                    improved: r.worthwhile_improved,
                },
                happiness: PairSums {
                    pairs: r.happiness_pairs,
                    change: r.happiness_change,
                    improved: r.happiness_improved,
                },
                anxiety: PairSums {
                    pairs: r.anxiety_pairs,
                    change: r.anxiety_change,
                    improved: r.anxiety_improved,
                },
            },
        })
        .collect())
}

/// Referrals made in the slice by need category and bucket (a referral with two needs counts
/// under each): the slice's own need category is ignored.
pub async fn referrals_by_need(
    conn: &mut PgConnection,
    slice: &Slice,
) -> Result<Vec<(String, NaiveDate, i64)>, StoreError> {
    // Named one by one rather than as "not all", so the rollups' key (need category before
    // age band, sex and practice) is read as a range per category, not the whole bucket kind.
    let categories: Vec<String> = NeedCategory::ALL
        .iter()
        .map(|c| c.code().to_owned())
        .collect();
    let rows = sqlx::query!(
        r#"SELECT need_category AS "need_category!", bucket_start AS "bucket_start!",
                  sum(referrals)::bigint AS "referrals!"
           FROM (
               SELECT need_category, bucket_start, referrals
               FROM stats_referral_rollups
               WHERE federation_id = $1 AND bucket_kind = $2 AND need_category = ANY($8)
                 AND age_band = $3 AND sex = $7 AND bucket_start BETWEEN $4 AND $5
                 AND practice_id = ANY(coalesce($6, ARRAY['00000000-0000-0000-0000-000000000000'::uuid]))
               UNION ALL
               SELECT c.need_category, CASE WHEN $2 = 'week' THEN date_trunc('week', d.referred_on::timestamp)::date
                                            ELSE date_trunc('month', d.referred_on::timestamp)::date END,
                      d.referrals
               FROM stats_referral_deltas d CROSS JOIN LATERAL unnest(d.need_categories) c (need_category)
               WHERE d.federation_id = $1 AND ($3 = 'all' OR d.age_band = $3)
                 AND ($7 = 'all' OR d.sex = $7) AND d.referred_on BETWEEN $4 AND $5
                 AND ($6::uuid[] IS NULL OR d.practice_id = ANY($6))
           ) x
           GROUP BY 1, 2
           ORDER BY 1, 2"#,
        slice.federation.as_uuid(),
        kind(&slice.period),
        slice.age_band,
        slice.period.from(),
        slice.period.to(),
        slice.practices.as_deref(),
        slice.sex,
        &categories,
    )
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| (r.need_category, r.bucket_start, r.referrals))
        .collect())
}

/// How many of the slice's referrals were first seen how many days after they were made.
pub async fn contact_days(
    conn: &mut PgConnection,
    slice: &Slice,
) -> Result<Vec<(i32, i64)>, StoreError> {
    let rows = sqlx::query!(
        r#"SELECT contact_days AS "contact_days!", sum(contacts)::bigint AS "contacts!"
           FROM (
               SELECT contact_days, contacts
               FROM stats_contact_day_rollups
               WHERE federation_id = $1 AND bucket_kind = $2 AND need_category = $3
                 AND age_band = $4 AND sex = $8 AND bucket_start BETWEEN $5 AND $6
                 AND practice_id = ANY(coalesce($7, ARRAY['00000000-0000-0000-0000-000000000000'::uuid]))
               UNION ALL
               SELECT contact_days, contacts::bigint
               FROM stats_referral_deltas
               WHERE federation_id = $1 AND contact_days IS NOT NULL
                 AND ($3 = 'all' OR $3 = ANY(need_categories))
                 AND ($4 = 'all' OR age_band = $4) AND ($8 = 'all' OR sex = $8)
                 AND referred_on BETWEEN $5 AND $6
                 AND ($7::uuid[] IS NULL OR practice_id = ANY($7))
           ) x
           GROUP BY 1
           ORDER BY 1"#,
        slice.federation.as_uuid(),
        kind(&slice.period),
        slice.need_category,
        slice.age_band,
        slice.period.from(),
        slice.period.to(),
        slice.practices.as_deref(),
        slice.sex,
    )
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| (r.contact_days, r.contacts))
        .collect())
}

/// Spend on one provider's service in one bucket.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceSpend {
    pub bucket_start: NaiveDate,
    pub organisation_id: Uuid,
    pub service_id: Uuid,
    pub charges: i64,
    pub amount_pence: i64,
}

/// Approved and paid charges less clawbacks, by bucket (of the day delivered), provider and
/// service, for the slice's practices (need categories and age bands do not apply).
pub async fn spend(
    conn: &mut PgConnection,
    slice: &Slice,
) -> Result<Vec<ServiceSpend>, StoreError> {
    let rows = sqlx::query!(
        r#"SELECT bucket_start AS "bucket_start!", organisation_id AS "organisation_id!",
                  service_id AS "service_id!", sum(charges)::bigint AS "charges!",
                  sum(amount_pence)::bigint AS "amount_pence!"
           FROM (
               SELECT bucket_start, organisation_id, service_id, charges, amount_pence
               FROM stats_spend_rollups
               WHERE federation_id = $1 AND bucket_kind = $2 AND bucket_start BETWEEN $3 AND $4
                 AND practice_id = ANY(coalesce($5, ARRAY['00000000-0000-0000-0000-000000000000'::uuid]))
               UNION ALL
               SELECT CASE WHEN $2 = 'week' THEN date_trunc('week', delivered_on::timestamp)::date
                           ELSE date_trunc('month', delivered_on::timestamp)::date END,
                      organisation_id, service_id, charges::bigint, amount_pence
               FROM stats_spend_deltas
               WHERE federation_id = $1 AND delivered_on BETWEEN $3 AND $4
                 AND ($5::uuid[] IS NULL OR practice_id = ANY($5))
           ) x
           GROUP BY 1, 2, 3
           ORDER BY 1, 2, 3"#,
        slice.federation.as_uuid(),
        kind(&slice.period),
        slice.period.from(),
        slice.period.to(),
        slice.practices.as_deref(),
    )
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| ServiceSpend {
            bucket_start: r.bucket_start,
            organisation_id: r.organisation_id,
            service_id: r.service_id,
            charges: r.charges,
            amount_pence: r.amount_pence,
        })
        .collect())
}

/// Clinic sessions held and volunteer minutes given at them, by practice and bucket.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClinicTime {
    pub practice_id: Uuid,
    pub bucket_start: NaiveDate,
    pub sessions: i64,
    pub volunteer_minutes: i64,
}

pub async fn clinic_time(
    conn: &mut PgConnection,
    slice: &Slice,
) -> Result<Vec<ClinicTime>, StoreError> {
    let rows = sqlx::query!(
        r#"SELECT practice_id AS "practice_id!", bucket_start AS "bucket_start!",
                  sum(sessions)::bigint AS "sessions!",
                  sum(volunteer_minutes)::bigint AS "volunteer_minutes!"
           FROM (
               SELECT practice_id, bucket_start, sessions, volunteer_minutes
               FROM stats_clinic_rollups
               WHERE federation_id = $1 AND bucket_kind = $2 AND bucket_start BETWEEN $3 AND $4
                 AND ($5::uuid[] IS NULL OR practice_id = ANY($5))
               UNION ALL
               SELECT practice_id, CASE WHEN $2 = 'week' THEN date_trunc('week', session_on::timestamp)::date
                                        ELSE date_trunc('month', session_on::timestamp)::date END,
                      sessions::bigint, volunteer_minutes
               FROM stats_clinic_deltas
               WHERE federation_id = $1 AND session_on BETWEEN $3 AND $4
                 AND ($5::uuid[] IS NULL OR practice_id = ANY($5))
           ) x
           GROUP BY 1, 2
           ORDER BY 2, 1"#,
        slice.federation.as_uuid(),
        kind(&slice.period),
        slice.period.from(),
        slice.period.to(),
        slice.practices.as_deref(),
    )
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| ClinicTime {
            practice_id: r.practice_id,
            bucket_start: r.bucket_start,
            sessions: r.sessions,
            volunteer_minutes: r.volunteer_minutes,
        })
        .collect())
}

/// The names statistics are shown under: the federation's practices, and its providers and
/// their services.
pub async fn practice_names(
    conn: &mut PgConnection,
    federation: FederationId,
) -> Result<Vec<(Uuid, String, String)>, StoreError> {
    let rows = sqlx::query!(
        "SELECT id, ods_code, name FROM practices WHERE federation_id = $1 ORDER BY name, id",
        federation.as_uuid(),
    )
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| (r.id, r.ods_code, r.name))
        .collect())
}

pub async fn service_names(
    conn: &mut PgConnection,
    federation: FederationId,
    services: &[Uuid],
) -> Result<Vec<(Uuid, Uuid, String, String)>, StoreError> {
    let rows = sqlx::query!(
        r#"SELECT s.id, s.organisation_id, s.name, o.name AS organisation_name
           FROM services s
           JOIN organisations o ON o.federation_id = s.federation_id AND o.id = s.organisation_id
           WHERE s.federation_id = $1 AND o.federation_id = $1 AND s.id = ANY($2)"#,
        federation.as_uuid(),
        services,
    )
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| (r.id, r.organisation_id, r.name, r.organisation_name))
        .collect())
}
