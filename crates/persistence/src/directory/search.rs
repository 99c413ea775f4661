//! Searching a federation's services: ranked text, need category, delivery mode, accepting
//! referrals, organisation and distance from a point, in keyset pages.
//!
//! The statement is built for the filters actually given, so each combination is its own
//! prepared statement with a plan made for exactly those predicates and kept by PostgreSQL: a
//! single catch-all statement (`$n IS NULL OR …`) either scans with a generic plan or, planned
//! afresh for every request, spends more time planning than executing. Only fixed SQL fragments
//! are concatenated; every value is a bound parameter.

use super::services::{ServiceRecord, ServiceRow};
use crate::error::StoreError;
use sqlx::{PgConnection, Postgres, QueryBuilder};
use waymark_domain::directory::{DeliveryMode, GeoPoint, NeedCategory};
use waymark_domain::pagination::{KeysetCursor, SortKey};
use waymark_domain::{FederationId, OrganisationId};

/// What to search for. Absent filters do not filter.
#[derive(Clone, Debug, Default)]
pub struct ServiceSearch {
    /// Free text, in web-search syntax ("walking group", -online, "or").
    pub text: Option<String>,
    pub category: Option<NeedCategory>,
    pub delivery_mode: Option<DeliveryMode>,
    pub accepting_referrals: Option<bool>,
    /// A point and a radius in kilometres.
    pub near: Option<(GeoPoint, f64)>,
    pub organisation: Option<OrganisationId>,
    pub include_inactive: bool,
}

impl ServiceSearch {
    /// Results are ordered by relevance for text, by distance near a point, else by name.
    pub fn orders_by_name(&self) -> bool {
        self.text.is_none() && self.near.is_none()
    }
}

/// A search result: the service, its distance from the point searched near, and its position.
#[derive(Clone, Debug)]
pub struct ServiceHit {
    pub service: ServiceRecord,
    pub distance_km: Option<f64>,
    pub position: KeysetCursor,
}

#[derive(sqlx::FromRow)]
struct HitRow {
    #[sqlx(flatten)]
    service: ServiceRow,
    distance_km: Option<f64>,
    sort_number: Option<f64>,
}

/// Up to `probe` services matching `search`, after `after`, ordered by relevance (text), distance
/// (near) or name, ties broken by id, so pages never skip or repeat a service.
pub async fn search(
    conn: &mut PgConnection,
    federation: FederationId,
    search: &ServiceSearch,
    after: Option<&KeysetCursor>,
    probe: i64,
) -> Result<Vec<ServiceHit>, StoreError> {
    let mut sql = QueryBuilder::<Postgres>::new(
        "SELECT s.id, s.federation_id, s.organisation_id, o.name AS organisation_name, \
                s.external_id, s.name, s.description, s.need_categories, s.eligibility, \
                s.minimum_age, s.maximum_age, s.delivery_modes, s.address, s.postcode, \
                s.latitude, s.longitude, s.opening_times, \
                coalesce((SELECT jsonb_agg(jsonb_build_array(h.day, h.opens_at, h.closes_at) \
                                           ORDER BY h.day, h.opens_at) \
                          FROM service_schedules h \
                          WHERE h.service_id = s.id AND h.federation_id = ",
    );
    // The federation named in the subquery as well: Citus routes a correlated subquery to the
    // federation's shard only when its own table is filtered by the distribution column.
    sql.push_bind(federation.as_uuid());
    sql.push(
        "), '[]') AS schedule, \
                s.capacity, s.accepting_referrals, s.cost_to_patient, \
                s.contact_email, s.contact_phone, s.website, s.active, s.version, s.created_at, \
                s.updated_at, ",
    );
    // The expression results are ordered by, as SQL to repeat; bound once per use.
    let order = Order::of(search);
    match search.near {
        Some((point, _)) => push_distance(&mut sql, point),
        None => {
            sql.push("NULL::float8");
        }
    }
    sql.push(" AS distance_km, ");
    match &order {
        Order::Relevance(text) => push_relevance(&mut sql, text),
        Order::Distance(point) => push_distance(&mut sql, *point),
        Order::Name => {
            sql.push("NULL::float8");
        }
    }
    sql.push(" AS sort_number");
    // Joined by id alone (the foreign key keeps it in the same federation): equating the
    // federations would tie the services scan to organisations' row-level security and keep
    // PostgreSQL from using the search indexes.
    sql.push(" FROM services s JOIN organisations o ON o.id = s.organisation_id WHERE s.federation_id = ");
    sql.push_bind(federation.as_uuid());
    if !search.include_inactive {
        sql.push(" AND s.active");
    }
    if let Some(text) = &search.text {
        sql.push(" AND s.search @@ websearch_to_tsquery('english', ");
        sql.push_bind(text.clone());
        sql.push(")");
    }
    if let Some(category) = search.category {
        // A literal, so that the category's own partial index (a migration makes one for every
        // code) matches; the code comes from the fixed vocabulary, never from the request.
        debug_assert!(category
            .code()
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b == b'_'));
        sql.push(" AND s.need_categories @> ARRAY['");
        sql.push(category.code());
        sql.push("']::text[]");
    }
    if let Some(mode) = search.delivery_mode {
        sql.push(" AND s.delivery_modes @> ARRAY[");
        sql.push_bind(mode.code());
        sql.push("]::text[]");
    }
    if let Some(accepting) = search.accepting_referrals {
        sql.push(" AND s.accepting_referrals = ");
        sql.push_bind(accepting);
    }
    if let Some(organisation) = search.organisation {
        sql.push(" AND s.organisation_id = ");
        sql.push_bind(organisation.as_uuid());
    }
    if let Some((point, km)) = search.near {
        // The box is found with the location index; the exact distance decides.
        let bbox = point.bounding_box(km);
        sql.push(" AND s.latitude IS NOT NULL AND point(s.longitude, s.latitude) <@ box(point(");
        sql.push_bind(bbox.min_longitude);
        sql.push(", ");
        sql.push_bind(bbox.min_latitude);
        sql.push("), point(");
        sql.push_bind(bbox.max_longitude);
        sql.push(", ");
        sql.push_bind(bbox.max_latitude);
        sql.push(")) AND ");
        push_distance(&mut sql, point);
        sql.push(" <= ");
        sql.push_bind(km);
    }
    if let Some(after) = after {
        sql.push(" AND (");
        match (&order, &after.key) {
            (Order::Name, SortKey::Text(name)) => {
                sql.push("s.name, s.id) > (");
                sql.push_bind(name.clone());
            }
            (Order::Name, SortKey::Number(_)) => return Ok(Vec::new()),
            (Order::Relevance(_) | Order::Distance(_), SortKey::Text(_)) => return Ok(Vec::new()),
            (Order::Relevance(text), SortKey::Number(n)) => {
                push_relevance(&mut sql, text);
                sql.push(", s.id) > (");
                sql.push_bind(*n);
            }
            (Order::Distance(point), SortKey::Number(n)) => {
                push_distance(&mut sql, *point);
                sql.push(", s.id) > (");
                sql.push_bind(*n);
            }
        }
        sql.push(", ");
        sql.push_bind(after.id);
        sql.push(")");
    }
    sql.push(match order {
        Order::Name => " ORDER BY s.name, s.id LIMIT ",
        _ => " ORDER BY sort_number, s.id LIMIT ",
    });
    sql.push_bind(probe);

    let rows: Vec<HitRow> = sql.build_query_as().fetch_all(conn).await?;
    rows.into_iter()
        .map(|row| {
            let position = KeysetCursor {
                key: match row.sort_number {
                    Some(n) => SortKey::Number(n),
                    None => SortKey::Text(row.service.name.clone()),
                },
                id: row.service.id,
            };
            Ok(ServiceHit {
                service: row.service.try_into()?,
                distance_km: row.distance_km,
                position,
            })
        })
        .collect()
}

enum Order<'a> {
    Relevance(&'a str),
    Distance(GeoPoint),
    Name,
}

impl<'a> Order<'a> {
    fn of(search: &'a ServiceSearch) -> Self {
        match (&search.text, search.near) {
            (Some(text), _) => Order::Relevance(text),
            (None, Some((point, _))) => Order::Distance(point),
            (None, None) => Order::Name,
        }
    }
}

/// Higher ranks first: names weigh more than descriptions (the `search` column's weights).
fn push_relevance(sql: &mut QueryBuilder<'_, Postgres>, text: &str) {
    sql.push("(-ts_rank(s.search, websearch_to_tsquery('english', ");
    sql.push_bind(text.to_owned());
    sql.push("))::float8)");
}

fn push_distance(sql: &mut QueryBuilder<'_, Postgres>, point: GeoPoint) {
    sql.push("waymark_distance_km(");
    sql.push_bind(point.latitude());
    sql.push(", ");
    sql.push_bind(point.longitude());
    sql.push(", s.latitude, s.longitude)");
}
