//! The append-only audit log of access to patient data. Rows are only ever inserted: the
//! service's role has no UPDATE or DELETE on the table and triggers refuse both to anyone.

use crate::error::StoreError;
use chrono::{DateTime, Utc};
use sqlx::{PgConnection, Postgres, QueryBuilder};
use uuid::Uuid;
use waymark_domain::{FederationId, PracticeId, Principal, PrincipalKind};

/// Who is acting, as the log records it.
#[derive(Clone, Debug)]
pub struct Actor {
    pub id: Uuid,
    pub kind: &'static str,
    pub roles: Vec<String>,
    pub organisation_id: Option<Uuid>,
    pub request_id: Option<String>,
}

impl Actor {
    pub fn new(principal: &Principal, request_id: Option<String>) -> Self {
        Self {
            id: principal.subject,
            kind: match principal.kind {
                PrincipalKind::User => "user",
                PrincipalKind::ServiceAccount => "service_account",
            },
            roles: principal.roles.iter().map(ToString::to_string).collect(),
            organisation_id: principal.organisation_id.map(|o| o.as_uuid()),
            request_id,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Read,
    Create,
    Update,
}

impl Action {
    fn code(self) -> &'static str {
        match self {
            Action::Read => "read",
            Action::Create => "create",
            Action::Update => "update",
        }
    }
}

/// One access to one patient's data.
#[derive(Clone, Copy, Debug)]
pub struct Access {
    pub practice: PracticeId,
    pub patient: Uuid,
    pub resource_type: &'static str,
    pub resource: Uuid,
}

/// Records `action` on each of `accesses`, in the caller's transaction, so the log holds
/// exactly what was committed.
pub async fn record(
    conn: &mut PgConnection,
    federation: FederationId,
    actor: &Actor,
    action: Action,
    accesses: &[Access],
) -> Result<(), StoreError> {
    if accesses.is_empty() {
        return Ok(());
    }
    // Rows as VALUES, not unnest(): see `crate::rows`.
    for accesses in accesses.chunks(crate::rows::PER_STATEMENT) {
        let mut insert = QueryBuilder::<Postgres>::new(
            "INSERT INTO audit_events (federation_id, practice_id, id, actor_id, actor_kind, \
             actor_roles, actor_organisation_id, action, resource_type, resource_id, patient_id, \
             request_id) ",
        );
        insert.push_values(accesses, |mut row, access| {
            row.push_bind(federation.as_uuid())
                .push_bind(access.practice.as_uuid())
                .push_bind(Uuid::now_v7())
                .push_bind(actor.id)
                .push_bind(actor.kind)
                .push_bind(&actor.roles)
                .push_bind(actor.organisation_id)
                .push_bind(action.code())
                .push_bind(access.resource_type)
                .push_bind(access.resource)
                .push_bind(access.patient)
                .push_bind(&actor.request_id);
        });
        insert.build().execute(&mut *conn).await?;
    }
    Ok(())
}

#[derive(Clone, Debug)]
pub struct AuditEventRecord {
    pub id: Uuid,
    pub practice_id: Uuid,
    pub occurred_at: DateTime<Utc>,
    pub actor_id: Uuid,
    pub actor_kind: String,
    pub actor_roles: Vec<String>,
    pub actor_organisation_id: Option<Uuid>,
    pub action: String,
    pub resource_type: String,
    pub resource_id: Uuid,
    pub patient_id: Uuid,
    pub request_id: Option<String>,
}

/// Filters of the practice's audit log; absent filters match everything.
#[derive(Clone, Debug, Default)]
pub struct AuditFilter {
    pub patient: Option<Uuid>,
    pub actor: Option<Uuid>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
}

/// The practice's log, newest first, in pages keyed by id (ids are time-ordered).
pub async fn list(
    conn: &mut PgConnection,
    federation: FederationId,
    practice: PracticeId,
    filter: &AuditFilter,
    before: Option<Uuid>,
    probe: i64,
) -> Result<Vec<AuditEventRecord>, StoreError> {
    Ok(sqlx::query_as!(
        AuditEventRecord,
        r#"SELECT id, practice_id, occurred_at, actor_id, actor_kind, actor_roles,
                  actor_organisation_id, action, resource_type, resource_id, patient_id, request_id
           FROM audit_events
           WHERE federation_id = $1 AND practice_id = $2
             AND ($3::uuid IS NULL OR patient_id = $3)
             AND ($4::uuid IS NULL OR actor_id = $4)
             AND ($5::timestamptz IS NULL OR occurred_at >= $5)
             AND ($6::timestamptz IS NULL OR occurred_at < $6)
             AND ($7::uuid IS NULL OR id < $7)
           ORDER BY id DESC LIMIT $8"#,
        federation.as_uuid(),
        practice.as_uuid(),
        filter.patient,
        filter.actor,
        filter.since,
        filter.until,
        before,
        probe,
    )
    .fetch_all(conn)
    .await?)
}
