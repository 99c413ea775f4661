//! `GET /v1/events`: the change feed, followed with a saved cursor.

use crate::auth::Caller;
use crate::csv::text_cell;
use crate::csv_export;
use crate::problem::ApiError;
use crate::state::AppState;
use actix_web::{get, web, HttpResponse};
use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use waymark_domain::events::{feed_limit, parse_types, Audience, FeedCursor, Visibility};
use waymark_domain::FederationId;
use waymark_persistence::events::{self, EventRow};
use waymark_persistence::{end_read, TenantScope};

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EventQuery {
    /// The `next_cursor` of your last page; leave it out (or give 0) to start at the oldest
    /// event kept.
    #[param(example = "1042")]
    pub after: Option<String>,
    /// Only these event types, separated by commas (e.g. `referral.created,referral.updated`).
    pub types: Option<String>,
    /// Events in a page, 1 to 1000 (100 by default).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
}

/// One committed change.
#[derive(Serialize, ToSchema)]
pub struct Event {
    pub id: Uuid,
    /// Its place in the feed: positions rise by one from event to event of the federation.
    #[schema(example = 1043)]
    pub position: i64,
    /// `resource.verb`: referral, onward_referral, charge, organisation and service are
    /// `created` or `updated`; activity is `recorded`; payment_run and remittance `created`.
    #[serde(rename = "type")]
    #[schema(example = "referral.updated")]
    pub event_type: String,
    #[schema(example = "referral")]
    pub resource_type: String,
    /// Fetch the resource itself through its own route, which checks your access to it.
    pub resource_id: Uuid,
    /// The practice whose record it is, when it is one.
    pub practice_id: Option<Uuid>,
    /// When the change's transaction began.
    pub occurred_at: DateTime<Utc>,
    /// When it took its place in the feed, shortly after its transaction committed.
    pub sequenced_at: DateTime<Utc>,
    /// A few of the resource's fields after the change (state, version, amount), never a
    /// patient's details.
    #[schema(value_type = Object, example = json!({"state": "booked", "version": 3}))]
    pub data: serde_json::Value,
}

impl From<EventRow> for Event {
    fn from(r: EventRow) -> Self {
        Self {
            id: r.id,
            position: r.position,
            event_type: r.event_type,
            resource_type: r.resource_type,
            resource_id: r.resource_id,
            practice_id: r.practice_id,
            occurred_at: r.occurred_at,
            sequenced_at: r.sequenced_at,
            data: r.data,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct EventPage {
    pub items: Vec<Event>,
    /// Save this and ask with `after=` it next time: never null. When `items` is empty it is
    /// the cursor you gave (or the feed's end), and asking again later gives what has come
    /// since.
    #[schema(example = "1043")]
    pub next_cursor: String,
    /// Whether more events than this page held were waiting when it was read.
    pub has_more: bool,
}

/// The change feed of the caller's federation, in order, each committed change exactly once
/// (federation administrators: everything; practice staff: their practice's referrals,
/// onward referrals and activities; providers: their own onward referrals, activities,
/// charges and remittances; service accounts with `events:read`: payment runs, remittances;
/// everyone who may follow the feed: the directory). Events are given their places after
/// their transactions commit, so a cursor never skips one that committed late; a long
/// transaction delays only its own events. Events are kept for the federation's retention
/// period (30 days at least): a cursor from before what was pruned answers 410
/// `events_cursor_expired`, and the reader must start again from a fresh copy.
#[utoipa::path(
    tag = "events",
    security(("bearer" = [])),
    params(EventQuery),
    responses(
        (status = 200, description = "The events after the cursor", body = EventPage),
        (status = 410, description = "Events after the cursor were pruned: `events_cursor_expired`", body = crate::problem::Problem, content_type = "application/problem+json"),
    )
)]
#[get("/events")]
pub async fn list_events(
    state: web::Data<AppState>,
    caller: Caller,
    query: web::Query<EventQuery>,
) -> Result<HttpResponse, ApiError> {
    let reader = FeedReader::of(&caller, query.after.as_deref(), query.types.as_deref())?;
    let limit =
        feed_limit(query.limit).map_err(|e| ApiError::bad_request("invalid_query_parameter", e))?;

    // What committed before this request is in the answer, whatever the sequencer's interval.
    events::sequence(&state.db.pool, reader.federation).await?;
    let page = events::read(
        &state.db.pool,
        TenantScope::of(&caller),
        reader.federation,
        &reader.visibility,
        &reader.types,
        reader.after,
        limit + 1,
    )
    .await?;
    reader.answerable(page.pruned_through, page.last_position)?;
    let after = reader.after;
    let mut items: Vec<Event> = page.events.into_iter().map(Event::from).collect();
    let has_more = items.len() > limit as usize;
    items.truncate(limit as usize);
    let next = after.next(
        items.last().map(|e| e.position),
        has_more,
        page.last_position,
    );
    Ok(HttpResponse::Ok().json(EventPage {
        items,
        next_cursor: next.encode(),
        has_more,
    }))
}

/// A reader of the feed: whose events it may see, from where, of which types.
struct FeedReader {
    federation: FederationId,
    visibility: Visibility,
    after: FeedCursor,
    types: Vec<String>,
}

impl FeedReader {
    fn of(caller: &Caller, after: Option<&str>, types: Option<&str>) -> Result<Self, ApiError> {
        let audience = Audience::of(caller);
        caller.require(
            audience.is_some(),
            "the change feed is for federation administrators, practice staff, providers and service accounts with events:read",
        )?;
        let federation = caller.federation()?;
        let after = match after {
            None | Some("") => FeedCursor::START,
            Some(raw) => FeedCursor::decode(raw)
                .map_err(|e| ApiError::bad_request("invalid_query_parameter", e))?,
        };
        let types =
            parse_types(types).map_err(|e| ApiError::bad_request("invalid_query_parameter", e))?;
        Ok(Self {
            federation,
            visibility: audience.expect("checked above").visibility(),
            after,
            types,
        })
    }

    /// `410 events_cursor_expired` when events after the cursor were pruned; `400` when the
    /// cursor is past the feed's end (no cursor this feed gave can be).
    fn answerable(&self, pruned_through: i64, last_position: i64) -> Result<(), ApiError> {
        if self.after.has_expired(pruned_through) {
            return Err(ApiError::Gone {
                code: "events_cursor_expired",
                detail: format!(
                    "events up to position {} were pruned after the retention period; this cursor \
                     ({}) would miss some, so start again from the beginning of the feed",
                    pruned_through,
                    self.after.encode()
                ),
            });
        }
        if self.after.is_ahead_of(last_position) {
            return Err(ApiError::bad_request(
                "invalid_query_parameter",
                format!(
                    "after ({}) is past the end of this federation's feed ({last_position}); \
                     use a cursor this feed gave, or leave after out to start from the beginning",
                    self.after.encode()
                ),
            ));
        }
        Ok(())
    }
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EventExportQuery {
    /// A cursor (a page's `next_cursor`, or the `Waymark-Feed-Position` of the last export);
    /// leave it out to start at the oldest event kept.
    #[param(example = "1042")]
    pub after: Option<String>,
    /// Only these event types, separated by commas.
    pub types: Option<String>,
}

const EVENT_HEADER: &str =
    "position,id,type,resource_type,resource_id,practice_id,occurred_at,sequenced_at,data";

/// The events after the cursor that the caller may see, up to the end of the feed as the
/// export begins, as CSV streamed from the database (the same readers as `GET /v1/events`).
/// `Waymark-Feed-Position` is that end: ask with `after=` it next time to go on from where this
/// export stopped, whether or not its last rows were ones you may see. `data` is the event's
/// JSON.
#[utoipa::path(
    tag = "events",
    security(("bearer" = [])),
    params(EventExportQuery),
    responses(
        (status = 200, description = "The events, one per row after a header row: position, id, type, resource_type, resource_id, practice_id, occurred_at, sequenced_at, data", content_type = "text/csv", body = String,
            headers(("Waymark-Feed-Position" = String, description = "The cursor to go on from"))),
        (status = 410, description = "Events after the cursor were pruned: `events_cursor_expired`", body = crate::problem::Problem, content_type = "application/problem+json"),
    )
)]
#[get("/events/export")]
pub async fn export_events(
    state: web::Data<AppState>,
    caller: Caller,
    query: web::Query<EventExportQuery>,
) -> Result<HttpResponse, ApiError> {
    let reader = FeedReader::of(&caller, query.after.as_deref(), query.types.as_deref())?;
    events::sequence(&state.db.pool, reader.federation).await?;
    let slot = state.exports.take()?;
    let mut tx = state.begin_snapshot(TenantScope::of(&caller)).await?;
    let feed = events::feed_state(&mut tx, reader.federation).await?;
    reader.answerable(feed.pruned_through, feed.last_position)?;
    let through = feed.last_position;
    Ok(csv_export::stream(
        slot,
        "events.csv",
        EVENT_HEADER,
        &[("Waymark-Feed-Position", FeedCursor::after(through).encode())],
        move |mut out| async move {
            let mut rows = events::export(
                &mut tx,
                reader.federation,
                &reader.visibility,
                &reader.types,
                reader.after,
                through,
            );
            while let Some(event) = rows.next().await.transpose()? {
                out.line(&format!(
                    "{},{},{},{},{},{},{},{},{}",
                    event.position,
                    event.id,
                    event.event_type,
                    event.resource_type,
                    event.resource_id,
                    event.practice_id.map(|p| p.to_string()).unwrap_or_default(),
                    event.occurred_at.to_rfc3339(),
                    event.sequenced_at.to_rfc3339(),
                    text_cell(&event.data.to_string()),
                ))
                .await?;
            }
            drop(rows);
            end_read(tx);
            Ok(out)
        },
    ))
}
