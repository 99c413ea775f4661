//! Users of a federation and the roles they hold, and the platform's administrators, who belong
//! to none (`platform_users`). A user's password lives in `credentials`.

use crate::code_arrays::{codes, decode};
use crate::credentials;
use crate::error::{on_constraint, StoreError};
use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;
use waymark_domain::user::{Email, RoleAssignment};
use waymark_domain::{
    FederationId, OrganisationId, PracticeId, Principal, PrincipalKind, Role, UserId,
};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserRecord {
    pub id: Uuid,
    pub federation_id: Option<Uuid>,
    pub practice_id: Option<Uuid>,
    pub organisation_id: Option<Uuid>,
    pub email: String,
    pub display_name: String,
    pub roles: Vec<Role>,
    pub active: bool,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl UserRecord {
    /// The principal this user acts as once signed in.
    pub fn principal(&self) -> Principal {
        Principal {
            kind: PrincipalKind::User,
            subject: self.id,
            federation_id: self.federation_id.map(FederationId::from),
            practice_id: self.practice_id.map(PracticeId::from),
            organisation_id: self.organisation_id.map(OrganisationId::from),
            roles: self.roles.clone(),
            scopes: vec![],
        }
    }
}

struct UserRow {
    id: Uuid,
    federation_id: Option<Uuid>,
    practice_id: Option<Uuid>,
    organisation_id: Option<Uuid>,
    email: String,
    display_name: String,
    roles: Vec<String>,
    active: bool,
    version: i32,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl TryFrom<UserRow> for UserRecord {
    type Error = StoreError;

    fn try_from(row: UserRow) -> Result<Self, StoreError> {
        let roles = decode::<Role>(&row.roles)?;
        Ok(UserRecord {
            id: row.id,
            federation_id: row.federation_id,
            practice_id: row.practice_id,
            organisation_id: row.organisation_id,
            email: row.email,
            display_name: row.display_name,
            roles,
            active: row.active,
            version: row.version,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

/// What a new user row holds; the password is already hashed.
pub struct UserToCreate<'a> {
    pub id: UserId,
    pub federation: Option<FederationId>,
    pub email: &'a Email,
    pub display_name: &'a str,
    pub roles: &'a [Role],
    pub practice_id: Option<PracticeId>,
    pub organisation_id: Option<uuid::Uuid>,
    pub password_hash: &'a str,
}

/// Creates the user and their sign-in credential together.
pub async fn create(
    conn: &mut PgConnection,
    user: UserToCreate<'_>,
) -> Result<UserRecord, StoreError> {
    let row = match user.federation {
        None => create_platform_user(conn, &user).await?,
        Some(federation) => sqlx::query_as!(
            UserRow,
            r#"INSERT INTO users (id, federation_id, practice_id, organisation_id, email, display_name, roles)
               VALUES ($1, $2, $3, $4, $5, $6, $7)
               RETURNING id, federation_id AS "federation_id?", practice_id, organisation_id, email,
                         display_name, roles, active, version, created_at, updated_at"#,
            user.id.as_uuid(),
            federation.as_uuid(),
            user.practice_id.map(|p| p.as_uuid()),
            user.organisation_id,
            user.email.as_str(),
            user.display_name,
            &codes(user.roles),
        )
        .fetch_one(&mut *conn)
        .await
        .map_err(|e| {
            on_constraint(
                e,
                &[
                    ("users_email_key", StoreError::Duplicate { field: "email" }),
                    ("users_practice_fkey", StoreError::MissingReference { field: "practice_id" }),
                    ("users_organisation_fkey", StoreError::MissingReference { field: "organisation_id" }),
                ],
            )
        })?,
    };
    credentials::create_for_user(
        conn,
        user.email.as_str(),
        user.id,
        user.federation,
        user.password_hash,
    )
    .await?;
    row.try_into()
}

/// A user of no federation, whose one role is platform administrator (the domain's
/// `RoleAssignment` gives every other role a federation).
async fn create_platform_user(
    conn: &mut PgConnection,
    user: &UserToCreate<'_>,
) -> Result<UserRow, StoreError> {
    sqlx::query_as!(
        UserRow,
        r#"INSERT INTO platform_users (id, email, display_name) VALUES ($1, $2, $3)
           RETURNING id, NULL::uuid AS federation_id, NULL::uuid AS practice_id,
                     NULL::uuid AS organisation_id, email, display_name,
                     ARRAY['platform_admin'] AS "roles!", active, version, created_at, updated_at"#,
        user.id.as_uuid(),
        user.email.as_str(),
        user.display_name,
    )
    .fetch_one(&mut *conn)
    .await
    .map_err(|e| {
        on_constraint(
            e,
            &[(
                "platform_users_email_key",
                StoreError::Duplicate { field: "email" },
            )],
        )
    })
}

pub async fn find(
    conn: &mut PgConnection,
    federation: FederationId,
    id: UserId,
) -> Result<UserRecord, StoreError> {
    sqlx::query_as!(
        UserRow,
        r#"SELECT id, federation_id AS "federation_id?", practice_id, organisation_id, email, display_name, roles,
                  active, version, created_at, updated_at
           FROM users WHERE federation_id = $1 AND id = $2"#,
        federation.as_uuid(),
        id.as_uuid(),
    )
    .fetch_optional(conn)
    .await?
    .ok_or(StoreError::NotFound)?
    .try_into()
}

/// The user a credential belongs to, in the tenant scope the credential names (platform
/// administrators have no federation).
pub async fn find_for_sign_in(
    conn: &mut PgConnection,
    federation: Option<FederationId>,
    id: UserId,
) -> Result<UserRecord, StoreError> {
    match federation {
        Some(federation) => find(conn, federation, id).await,
        None => sqlx::query_as!(
            UserRow,
            r#"SELECT id, NULL::uuid AS federation_id, NULL::uuid AS practice_id,
                      NULL::uuid AS organisation_id, email, display_name,
                      ARRAY['platform_admin'] AS "roles!", active, version, created_at, updated_at
               FROM platform_users WHERE id = $1"#,
            id.as_uuid(),
        )
        .fetch_optional(conn)
        .await?
        .ok_or(StoreError::NotFound)?
        .try_into(),
    }
}

/// The user who signs in with `email`: in `federation`, or a platform administrator.
pub async fn find_by_email(
    conn: &mut PgConnection,
    federation: Option<FederationId>,
    email: &Email,
) -> Result<UserRecord, StoreError> {
    let id = sqlx::query_scalar!(
        "SELECT principal_id FROM credentials WHERE login = $1 AND federation_id IS NOT DISTINCT FROM $2",
        email.as_str(),
        federation.map(|f| f.as_uuid()),
    )
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(StoreError::NotFound)?;
    find_for_sign_in(conn, federation, UserId::from(id)).await
}

/// Users of the federation, or of one practice of it, in creation order.
pub async fn list(
    conn: &mut PgConnection,
    federation: FederationId,
    practice: Option<PracticeId>,
    after: Option<Uuid>,
    probe: i64,
) -> Result<Vec<UserRecord>, StoreError> {
    sqlx::query_as!(
        UserRow,
        r#"SELECT id, federation_id AS "federation_id?", practice_id, organisation_id, email, display_name, roles,
                  active, version, created_at, updated_at
           FROM users
           WHERE federation_id = $1 AND ($2::uuid IS NULL OR practice_id = $2)
             AND ($3::uuid IS NULL OR id > $3)
           ORDER BY id LIMIT $4"#,
        federation.as_uuid(),
        practice.map(|p| p.as_uuid()),
        after,
        probe,
    )
    .fetch_all(conn)
    .await?
    .into_iter()
    .map(UserRecord::try_from)
    .collect()
}

/// A change to a user; absent fields stay as they are.
pub struct UserChanges<'a> {
    pub display_name: Option<&'a str>,
    pub active: Option<bool>,
    pub assignment: Option<&'a RoleAssignment>,
}

/// Applies `changes` if the user is still at `expected_version`.
pub async fn update(
    conn: &mut PgConnection,
    federation: FederationId,
    id: UserId,
    expected_version: i32,
    changes: UserChanges<'_>,
) -> Result<UserRecord, StoreError> {
    let assignment = changes.assignment;
    let roles = assignment.map(|a| codes(&a.roles));
    let updated = sqlx::query_as!(
        UserRow,
        r#"UPDATE users
           SET display_name = coalesce($4, display_name),
               active = coalesce($5, active),
               roles = coalesce($6, roles),
               practice_id = CASE WHEN $7 THEN $8 ELSE practice_id END,
               organisation_id = CASE WHEN $7 THEN $9 ELSE organisation_id END,
               version = version + 1, updated_at = now()
           WHERE federation_id = $1 AND id = $2 AND version = $3
           RETURNING id, federation_id AS "federation_id?", practice_id, organisation_id, email,
                     display_name, roles, active, version, created_at, updated_at"#,
        federation.as_uuid(),
        id.as_uuid(),
        expected_version,
        changes.display_name,
        changes.active,
        roles.as_deref(),
        assignment.is_some(),
        assignment.and_then(|a| a.practice_id).map(|p| p.as_uuid()),
        assignment
            .and_then(|a| a.organisation_id)
            .map(|o| o.as_uuid()),
    )
    .fetch_optional(&mut *conn)
    .await
    .map_err(|e| {
        on_constraint(
            e,
            &[
                (
                    "users_practice_fkey",
                    StoreError::MissingReference {
                        field: "practice_id",
                    },
                ),
                (
                    "users_organisation_fkey",
                    StoreError::MissingReference {
                        field: "organisation_id",
                    },
                ),
            ],
        )
    })?;
    match updated {
        Some(row) => row.try_into(),
        None => {
            let current = find(conn, federation, id).await?;
            Err(StoreError::VersionMismatch {
                current_version: current.version,
            })
        }
    }
}
