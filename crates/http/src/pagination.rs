//! Cursor pagination at the HTTP edge: the `limit` and `cursor` query parameters and the page
//! envelope every list returns.

use crate::problem::ApiError;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;
use waymark_domain::pagination::{into_page, Cursor, Limit};

/// A page of a list. Pass `next_cursor` back as `cursor` for the next page; it is `null` on the last.
#[derive(Debug, Serialize, ToSchema)]
pub struct Page<T: ToSchema> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

/// A validated page request.
#[derive(Clone, Copy, Debug)]
pub struct PageRequest {
    pub limit: Limit,
    pub after: Option<Uuid>,
}

impl PageRequest {
    pub fn parse(limit: Option<u32>, cursor: Option<&str>) -> Result<Self, ApiError> {
        let limit = Limit::parse(limit)
            .map_err(|detail| ApiError::bad_request("invalid_query_parameter", detail))?;
        // An empty cursor is what a client sends for "from the start".
        let after = cursor
            .filter(|raw| !raw.is_empty())
            .map(|raw| Cursor::decode(raw).map(Cursor::last_id))
            .transpose()
            .map_err(|detail| ApiError::bad_request("invalid_query_parameter", detail))?;
        Ok(Self { limit, after })
    }

    /// How many rows to fetch: one more than the page, to know whether another follows.
    pub fn probe(&self) -> i64 {
        self.limit.probe()
    }

    /// Builds the page from fetched rows, mapping each to its response type.
    pub fn page<R, T: ToSchema>(
        &self,
        rows: Vec<R>,
        id_of: impl Fn(&R) -> Uuid,
        map: impl Fn(R) -> T,
    ) -> Page<T> {
        let (rows, next) = into_page(rows, self.limit, id_of);
        Page {
            items: rows.into_iter().map(map).collect(),
            next_cursor: next.map(Cursor::encode),
        }
    }
}
