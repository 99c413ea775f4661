//! Services of a federation's directory, and searching them.

use crate::code_arrays::{codes, decode};
use crate::error::{on_constraint, StoreError};
use chrono::{DateTime, NaiveTime, Utc};
use sqlx::types::Json;
use sqlx::{PgConnection, Postgres, QueryBuilder};
use uuid::Uuid;
use waymark_domain::directory::eligibility::{AgeFilter, EligibleAges};
use waymark_domain::directory::schedule::{
    DayOfWeek, OpeningFilter, OpeningPeriod, TimeOfDay, WeeklySchedule,
};
use waymark_domain::directory::service::{ServiceDetails, ServiceInput};
use waymark_domain::directory::{DeliveryMode, NeedCategory};
use waymark_domain::{FederationId, OrganisationId, ServiceId};

#[derive(Clone, Debug, PartialEq)]
pub struct ServiceRecord {
    pub id: Uuid,
    pub federation_id: Uuid,
    pub organisation_id: Uuid,
    pub organisation_name: String,
    pub external_id: Option<String>,
    pub name: String,
    pub description: String,
    pub need_categories: Vec<NeedCategory>,
    pub eligibility: Option<String>,
    pub ages: EligibleAges,
    pub delivery_modes: Vec<DeliveryMode>,
    pub address: Option<String>,
    pub postcode: Option<String>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    pub opening_times: Option<String>,
    pub schedule: WeeklySchedule,
    pub capacity: Option<i32>,
    pub accepting_referrals: bool,
    pub cost_to_patient: String,
    pub contact_email: Option<String>,
    pub contact_phone: Option<String>,
    pub website: Option<String>,
    pub active: bool,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl ServiceRecord {
    /// Whether the service has a place to attend: it is delivered in person, at coordinates or
    /// a postcode. Open Referral UK shows such a service at one location. [`published_page`]
    /// with `located` and [`find_published_at_location`] apply the same rule in SQL.
    pub fn is_located(&self) -> bool {
        self.delivery_modes.contains(&DeliveryMode::InPerson)
            && (self.latitude.is_some() || self.postcode.is_some())
    }

    /// The record as input, for applying a partial change and validating the result whole.
    pub fn to_input(&self) -> ServiceInput {
        ServiceInput {
            organisation_id: Some(OrganisationId::from(self.organisation_id)),
            external_id: self.external_id.clone(),
            name: self.name.clone(),
            description: self.description.clone(),
            need_categories: self.need_categories.clone(),
            eligibility: self.eligibility.clone(),
            minimum_age: self.ages.minimum().map(f64::from),
            maximum_age: self.ages.maximum().map(f64::from),
            delivery_modes: self.delivery_modes.clone(),
            address: self.address.clone(),
            postcode: self.postcode.clone(),
            latitude: self.latitude,
            longitude: self.longitude,
            opening_times: self.opening_times.clone(),
            schedules: self.schedule.to_inputs(),
            capacity: self.capacity,
            accepting_referrals: self.accepting_referrals,
            cost_to_patient: Some(self.cost_to_patient.clone()),
            contact_email: self.contact_email.clone(),
            contact_phone: self.contact_phone.clone(),
            website: self.website.clone(),
            active: self.active,
        }
    }
}

/// One opening period as the queries return it: `[day, opens_at, closes_at]`.
pub(super) type PeriodCell = (i16, NaiveTime, NaiveTime);

/// A service as the database returns it, with its organisation's name and its opening periods
/// (read in the same statement, so they are of the same moment as the rest).
#[derive(sqlx::FromRow)]
pub(super) struct ServiceRow {
    pub(super) id: Uuid,
    federation_id: Uuid,
    organisation_id: Uuid,
    organisation_name: String,
    external_id: Option<String>,
    pub(super) name: String,
    description: String,
    need_categories: Vec<String>,
    eligibility: Option<String>,
    minimum_age: Option<i16>,
    maximum_age: Option<i16>,
    delivery_modes: Vec<String>,
    address: Option<String>,
    postcode: Option<String>,
    latitude: Option<f64>,
    longitude: Option<f64>,
    opening_times: Option<String>,
    schedule: Json<Vec<PeriodCell>>,
    capacity: Option<i32>,
    accepting_referrals: bool,
    cost_to_patient: String,
    contact_email: Option<String>,
    contact_phone: Option<String>,
    website: Option<String>,
    active: bool,
    version: i32,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl TryFrom<ServiceRow> for ServiceRecord {
    type Error = StoreError;

    fn try_from(r: ServiceRow) -> Result<Self, StoreError> {
        Ok(ServiceRecord {
            need_categories: decode(&r.need_categories)?,
            delivery_modes: decode(&r.delivery_modes)?,
            ages: EligibleAges::parse(r.minimum_age.map(f64::from), r.maximum_age.map(f64::from))
                .map_err(|e| undecodable(format!("ages of service {}: {e:?}", r.id)))?,
            schedule: decode_schedule(&r.schedule.0)
                .map_err(|e| undecodable(format!("schedule of service {}: {e}", r.id)))?,
            id: r.id,
            federation_id: r.federation_id,
            organisation_id: r.organisation_id,
            organisation_name: r.organisation_name,
            external_id: r.external_id,
            name: r.name,
            description: r.description,
            eligibility: r.eligibility,
            address: r.address,
            postcode: r.postcode,
            latitude: r.latitude,
            longitude: r.longitude,
            opening_times: r.opening_times,
            capacity: r.capacity,
            accepting_referrals: r.accepting_referrals,
            cost_to_patient: r.cost_to_patient,
            contact_email: r.contact_email,
            contact_phone: r.contact_phone,
            website: r.website,
            active: r.active,
            version: r.version,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

/// Stored values the domain refuses: the schema and the code disagree, which is a bug.
fn undecodable(message: String) -> StoreError {
    StoreError::Database(sqlx::Error::Decode(message.into()))
}

fn decode_schedule(cells: &[PeriodCell]) -> Result<WeeklySchedule, String> {
    let periods = cells
        .iter()
        .map(|&(day, opens_at, closes_at)| {
            let day = DayOfWeek::from_number(day).ok_or(format!("day {day}"))?;
            let time = |t: NaiveTime| TimeOfDay::from_naive_time(t).ok_or(format!("time {t}"));
            OpeningPeriod::new(day, time(opens_at)?, time(closes_at)?).map_err(|e| e.message)
        })
        .collect::<Result<Vec<_>, String>>()?;
    WeeklySchedule::from_periods(periods).map_err(|e| e.message)
}

/// Replaces the service's opening periods with `schedule`'s.
async fn replace_schedule(
    conn: &mut PgConnection,
    federation: FederationId,
    id: ServiceId,
    schedule: &WeeklySchedule,
    first: bool,
) -> Result<(), StoreError> {
    if !first {
        sqlx::query!(
            "DELETE FROM service_schedules WHERE federation_id = $1 AND service_id = $2",
            federation.as_uuid(),
            id.as_uuid(),
        )
        .execute(&mut *conn)
        .await?;
    }
    if schedule.is_empty() {
        return Ok(());
    }
    // Rows as VALUES, not unnest(): see `crate::rows`.
    for periods in schedule.periods().chunks(crate::rows::PER_STATEMENT) {
        let mut insert = QueryBuilder::<Postgres>::new(
            "INSERT INTO service_schedules (federation_id, service_id, day, opens_at, closes_at) ",
        );
        insert.push_values(periods, |mut row, period| {
            row.push_bind(federation.as_uuid())
                .push_bind(id.as_uuid())
                .push_bind(period.day().number())
                .push_bind(period.opens_at().to_naive_time())
                .push_bind(period.closes_at().to_naive_time());
        });
        insert.build().execute(&mut *conn).await?;
    }
    Ok(())
}

const SERVICE_CONSTRAINTS: [(&str, StoreError); 2] = [
    (
        "services_federation_id_external_id_key",
        StoreError::Duplicate {
            field: "external_id",
        },
    ),
    (
        "services_organisation_fkey",
        StoreError::MissingReference {
            field: "organisation_id",
        },
    ),
];

pub async fn create(
    conn: &mut PgConnection,
    federation: FederationId,
    id: ServiceId,
    s: &ServiceDetails,
) -> Result<ServiceRecord, StoreError> {
    sqlx::query!(
        r#"INSERT INTO services (id, federation_id, organisation_id, external_id, name, description,
               need_categories, eligibility, delivery_modes, address, postcode, latitude, longitude,
               opening_times, capacity, accepting_referrals, cost_to_patient, contact_email, contact_phone,
               website, active, minimum_age, maximum_age)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21,
                   $22, $23)"#,
        id.as_uuid(),
        federation.as_uuid(),
        s.organisation_id.as_uuid(),
        s.external_id,
        s.name,
        s.description,
        &codes(&s.need_categories),
        s.eligibility,
        &codes(&s.delivery_modes),
        s.address,
        s.postcode,
        s.location.map(|p| p.latitude()),
        s.location.map(|p| p.longitude()),
        s.opening_times,
        s.capacity,
        s.accepting_referrals,
        s.cost_to_patient,
        s.contact_email,
        s.contact_phone,
        s.website,
        s.active,
        s.ages.minimum().map(i16::from),
        s.ages.maximum().map(i16::from),
    )
    .execute(&mut *conn)
    .await
    .map_err(|e| on_constraint(e, &SERVICE_CONSTRAINTS))?;
    replace_schedule(conn, federation, id, &s.schedule, true).await?;
    find(conn, federation, id).await
}

pub async fn find(
    conn: &mut PgConnection,
    federation: FederationId,
    id: ServiceId,
) -> Result<ServiceRecord, StoreError> {
    sqlx::query_as!(
        ServiceRow,
        r#"SELECT s.id, s.federation_id, s.organisation_id, o.name AS organisation_name, s.external_id, s.name,
                  s.description, s.need_categories, s.eligibility, s.minimum_age, s.maximum_age, s.delivery_modes,
                  s.address, s.postcode, s.latitude, s.longitude, s.opening_times,
                  coalesce((SELECT jsonb_agg(jsonb_build_array(h.day, h.opens_at, h.closes_at) ORDER BY h.day, h.opens_at)
                            FROM service_schedules h WHERE h.federation_id = $1 AND h.service_id = s.id),
                           '[]') AS "schedule!: Json<Vec<PeriodCell>>",
                  s.capacity, s.accepting_referrals, s.cost_to_patient,
                  s.contact_email, s.contact_phone, s.website, s.active, s.version, s.created_at, s.updated_at
           FROM services s
           JOIN organisations o ON o.federation_id = s.federation_id AND o.id = s.organisation_id
           WHERE s.federation_id = $1 AND s.id = $2"#,
        federation.as_uuid(),
        id.as_uuid(),
    )
    .fetch_optional(conn)
    .await?
    .ok_or(StoreError::NotFound)?
    .try_into()
}

pub async fn find_by_external_id(
    conn: &mut PgConnection,
    federation: FederationId,
    external_id: &str,
) -> Result<Option<ServiceRecord>, StoreError> {
    let id = sqlx::query_scalar!(
        "SELECT id FROM services WHERE federation_id = $1 AND external_id = $2",
        federation.as_uuid(),
        external_id,
    )
    .fetch_optional(&mut *conn)
    .await?;
    match id {
        Some(id) => find(conn, federation, ServiceId::from(id)).await.map(Some),
        None => Ok(None),
    }
}

/// Replaces the service's details if it is still at `expected_version`.
pub async fn update(
    conn: &mut PgConnection,
    federation: FederationId,
    id: ServiceId,
    expected_version: i32,
    s: &ServiceDetails,
) -> Result<ServiceRecord, StoreError> {
    let updated = sqlx::query!(
        r#"UPDATE services SET organisation_id = $4, external_id = $5, name = $6, description = $7,
               need_categories = $8, eligibility = $9, delivery_modes = $10, address = $11, postcode = $12,
               latitude = $13, longitude = $14, opening_times = $15, capacity = $16, accepting_referrals = $17,
               cost_to_patient = $18, contact_email = $19, contact_phone = $20, website = $21, active = $22,
               minimum_age = $23, maximum_age = $24, version = version + 1, updated_at = now()
           WHERE federation_id = $1 AND id = $2 AND version = $3"#,
        federation.as_uuid(),
        id.as_uuid(),
        expected_version,
        s.organisation_id.as_uuid(),
        s.external_id,
        s.name,
        s.description,
        &codes(&s.need_categories),
        s.eligibility,
        &codes(&s.delivery_modes),
        s.address,
        s.postcode,
        s.location.map(|p| p.latitude()),
        s.location.map(|p| p.longitude()),
        s.opening_times,
        s.capacity,
        s.accepting_referrals,
        s.cost_to_patient,
        s.contact_email,
        s.contact_phone,
        s.website,
        s.active,
        s.ages.minimum().map(i16::from),
        s.ages.maximum().map(i16::from),
    )
    .execute(&mut *conn)
    .await
    .map_err(|e| on_constraint(e, &SERVICE_CONSTRAINTS))?;
    if updated.rows_affected() == 0 {
        let current = find(conn, federation, id).await?;
        return Err(StoreError::VersionMismatch {
            current_version: current.version,
        });
    }
    replace_schedule(conn, federation, id, &s.schedule, false).await?;
    find(conn, federation, id).await
}

/// What the Open Referral UK lists filter published services by. Absent filters do not filter.
#[derive(Clone, Copy, Debug, Default)]
pub struct PublishedFilter<'a> {
    /// Words in web-search syntax; results are then ranked by relevance.
    pub text: Option<&'a str>,
    pub category: Option<NeedCategory>,
    pub ages: AgeFilter,
    /// Kept when one opening period meets every part of it.
    pub opening: OpeningFilter,
    /// Only services with a place to attend ([`ServiceRecord::is_located`]).
    pub located: bool,
}

/// Published services (active, of an active organisation) that meet `filter`, ranked by
/// relevance with text, else in name order. Returns the page and the number of matches in all.
pub async fn published_page(
    conn: &mut PgConnection,
    federation: FederationId,
    filter: &PublishedFilter<'_>,
    offset: i64,
    limit: i64,
) -> Result<(Vec<ServiceRecord>, i64), StoreError> {
    let category = filter.category.map(|c| c.code());
    let minimum_at_least = filter.ages.minimum_at_least.map(i16::from);
    let maximum_at_most = filter.ages.maximum_at_most.map(i16::from);
    let by_opening = !filter.opening.is_empty();
    let day = filter.opening.day.map(DayOfWeek::number);
    let opens_from = filter.opening.opens_from.map(TimeOfDay::to_naive_time);
    let closes_by = filter.opening.closes_by.map(TimeOfDay::to_naive_time);
    let total = sqlx::query_scalar!(
        r#"SELECT count(*) AS "total!" FROM services s
           JOIN organisations o ON o.id = s.organisation_id
           WHERE s.federation_id = $1 AND s.active AND o.active
             AND ($2::text IS NULL OR s.search @@ websearch_to_tsquery('english', $2))
             AND ($3::text IS NULL OR s.need_categories @> ARRAY[$3::text])
             AND ($4::int2 IS NULL OR coalesce(s.minimum_age, 0) >= $4)
             AND ($5::int2 IS NULL OR s.maximum_age <= $5)
             AND (NOT $6::bool OR EXISTS (
                   SELECT 1 FROM service_schedules h
                   WHERE h.federation_id = $1 AND h.service_id = s.id
                     AND ($7::int2 IS NULL OR h.day = $7)
                     AND ($8::time IS NULL OR h.opens_at >= $8)
                     AND ($9::time IS NULL OR h.closes_at <= $9)))
             AND (NOT $10::bool OR (s.delivery_modes @> ARRAY['in_person']::text[]
                                    AND (s.latitude IS NOT NULL OR s.postcode IS NOT NULL)))"#,
        federation.as_uuid(),
        filter.text,
        category,
        minimum_at_least,
        maximum_at_most,
        by_opening,
        day,
        opens_from,
        closes_by,
        filter.located,
    )
    .fetch_one(&mut *conn)
    .await?;
    let rows = sqlx::query_as!(
        ServiceRow,
        r#"SELECT s.id, s.federation_id, s.organisation_id, o.name AS organisation_name, s.external_id, s.name,
                  s.description, s.need_categories, s.eligibility, s.minimum_age, s.maximum_age, s.delivery_modes,
                  s.address, s.postcode, s.latitude, s.longitude, s.opening_times,
                  coalesce((SELECT jsonb_agg(jsonb_build_array(h.day, h.opens_at, h.closes_at) ORDER BY h.day, h.opens_at)
                            FROM service_schedules h WHERE h.federation_id = $1 AND h.service_id = s.id),
                           '[]') AS "schedule!: Json<Vec<PeriodCell>>",
                  s.capacity, s.accepting_referrals, s.cost_to_patient,
                  s.contact_email, s.contact_phone, s.website, s.active, s.version, s.created_at, s.updated_at
           FROM services s
           JOIN organisations o ON o.id = s.organisation_id
           WHERE s.federation_id = $1 AND s.active AND o.active
             AND ($2::text IS NULL OR s.search @@ websearch_to_tsquery('english', $2))
             AND ($3::text IS NULL OR s.need_categories @> ARRAY[$3::text])
             AND ($4::int2 IS NULL OR coalesce(s.minimum_age, 0) >= $4)
             AND ($5::int2 IS NULL OR s.maximum_age <= $5)
             AND (NOT $6::bool OR EXISTS (
                   SELECT 1 FROM service_schedules h
                   WHERE h.federation_id = $1 AND h.service_id = s.id
                     AND ($7::int2 IS NULL OR h.day = $7)
                     AND ($8::time IS NULL OR h.opens_at >= $8)
                     AND ($9::time IS NULL OR h.closes_at <= $9)))
             AND (NOT $10::bool OR (s.delivery_modes @> ARRAY['in_person']::text[]
                                    AND (s.latitude IS NOT NULL OR s.postcode IS NOT NULL)))
           ORDER BY CASE WHEN $2::text IS NULL THEN 0
                         ELSE -ts_rank(s.search, websearch_to_tsquery('english', $2)) END,
                    s.name, s.id
           OFFSET $11 LIMIT $12"#,
        federation.as_uuid(),
        filter.text,
        category,
        minimum_at_least,
        maximum_at_most,
        by_opening,
        day,
        opens_from,
        closes_by,
        filter.located,
        offset,
        limit,
    )
    .fetch_all(conn)
    .await?
    .into_iter()
    .map(ServiceRecord::try_from)
    .collect::<Result<Vec<_>, _>>()?;
    Ok((rows, total))
}

/// One published service (active, of an active organisation).
pub async fn find_published(
    conn: &mut PgConnection,
    federation: FederationId,
    id: ServiceId,
) -> Result<ServiceRecord, StoreError> {
    sqlx::query_as!(
        ServiceRow,
        r#"SELECT s.id, s.federation_id, s.organisation_id, o.name AS organisation_name, s.external_id, s.name,
                  s.description, s.need_categories, s.eligibility, s.minimum_age, s.maximum_age, s.delivery_modes,
                  s.address, s.postcode, s.latitude, s.longitude, s.opening_times,
                  coalesce((SELECT jsonb_agg(jsonb_build_array(h.day, h.opens_at, h.closes_at) ORDER BY h.day, h.opens_at)
                            FROM service_schedules h WHERE h.federation_id = $1 AND h.service_id = s.id),
                           '[]') AS "schedule!: Json<Vec<PeriodCell>>",
                  s.capacity, s.accepting_referrals, s.cost_to_patient,
                  s.contact_email, s.contact_phone, s.website, s.active, s.version, s.created_at, s.updated_at
           FROM services s
           JOIN organisations o ON o.id = s.organisation_id
           WHERE s.federation_id = $1 AND s.id = $2 AND s.active AND o.active"#,
        federation.as_uuid(),
        id.as_uuid(),
    )
    .fetch_optional(conn)
    .await?
    .ok_or(StoreError::NotFound)?
    .try_into()
}

/// The published, located service whose service_at_location id (in the Open Referral UK API)
/// is `service_at_location_id`, which is the service's own.
pub async fn find_published_at_location(
    conn: &mut PgConnection,
    federation: FederationId,
    service_at_location_id: Uuid,
) -> Result<ServiceRecord, StoreError> {
    sqlx::query_as!(
        ServiceRow,
        r#"SELECT s.id, s.federation_id, s.organisation_id, o.name AS organisation_name, s.external_id, s.name,
                  s.description, s.need_categories, s.eligibility, s.minimum_age, s.maximum_age, s.delivery_modes,
                  s.address, s.postcode, s.latitude, s.longitude, s.opening_times,
                  coalesce((SELECT jsonb_agg(jsonb_build_array(h.day, h.opens_at, h.closes_at) ORDER BY h.day, h.opens_at)
                            FROM service_schedules h WHERE h.federation_id = $1 AND h.service_id = s.id),
                           '[]') AS "schedule!: Json<Vec<PeriodCell>>",
                  s.capacity, s.accepting_referrals, s.cost_to_patient,
                  s.contact_email, s.contact_phone, s.website, s.active, s.version, s.created_at, s.updated_at
           FROM services s
           JOIN organisations o ON o.id = s.organisation_id
           WHERE s.federation_id = $1 AND s.id = $2
             AND s.active AND o.active
             AND s.delivery_modes @> ARRAY['in_person']::text[]
             AND (s.latitude IS NOT NULL OR s.postcode IS NOT NULL)"#,
        federation.as_uuid(),
        service_at_location_id,
    )
    .fetch_optional(conn)
    .await?
    .ok_or(StoreError::NotFound)?
    .try_into()
}
