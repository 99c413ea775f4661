//! `GET /v1/directory/need-categories`: the taxonomy services and referrals are classified by.

use crate::auth::Caller;
use crate::problem::ApiError;
use actix_web::{get, HttpResponse};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;
use waymark_domain::directory::NeedCategory;

#[derive(Serialize, ToSchema)]
pub struct NeedCategoryEntry {
    /// The code used in requests and filters.
    #[schema(example = "loneliness_isolation")]
    pub code: &'static str,
    #[schema(example = "Loneliness and isolation")]
    pub name: &'static str,
    pub description: &'static str,
    /// The category's id as an Open Referral UK taxonomy term.
    pub taxonomy_term_id: Uuid,
}

#[derive(Serialize, ToSchema)]
pub struct NeedCategoryList {
    pub items: Vec<NeedCategoryEntry>,
}

/// The need categories, in their fixed order.
#[utoipa::path(
    tag = "directory",
    security(("bearer" = [])),
    responses((status = 200, description = "Every need category", body = NeedCategoryList))
)]
#[get("/directory/need-categories")]
pub async fn list_need_categories(caller: Caller) -> Result<HttpResponse, ApiError> {
    super::readable_directory(&caller)?;
    let items = NeedCategory::ALL
        .into_iter()
        .map(|c| NeedCategoryEntry {
            code: c.code(),
            name: c.name(),
            description: c.description(),
            taxonomy_term_id: c.term_id(),
        })
        .collect();
    Ok(HttpResponse::Ok().json(NeedCategoryList { items }))
}
