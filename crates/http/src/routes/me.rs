//! `GET /v1/me`: who the token says the caller is.

use crate::auth::Caller;
use actix_web::{get, HttpResponse};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;
use waymark_domain::{PrincipalKind, Role, ServiceScope};

#[derive(Serialize, ToSchema)]
pub struct Me {
    /// The user or service account id.
    pub subject: Uuid,
    /// `user` or `service_account`.
    pub kind: &'static str,
    pub federation_id: Option<Uuid>,
    pub practice_id: Option<Uuid>,
    pub organisation_id: Option<Uuid>,
    #[schema(schema_with = crate::schemas::roles)]
    pub roles: Vec<Role>,
    #[schema(schema_with = crate::schemas::scopes)]
    pub scopes: Vec<ServiceScope>,
}

/// The caller's identity, tenancy, roles and scopes, as carried by the access token.
#[utoipa::path(tag = "auth", security(("bearer" = [])), responses((status = 200, description = "The caller", body = Me)))]
#[get("/me")]
pub async fn me(caller: Caller) -> HttpResponse {
    HttpResponse::Ok().json(Me {
        subject: caller.subject,
        kind: match caller.kind {
            PrincipalKind::User => "user",
            PrincipalKind::ServiceAccount => "service_account",
        },
        federation_id: caller.federation_id.map(|f| f.as_uuid()),
        practice_id: caller.practice_id.map(|p| p.as_uuid()),
        organisation_id: caller.organisation_id.map(|o| o.as_uuid()),
        roles: caller.roles.clone(),
        scopes: caller.scopes.clone(),
    })
}
