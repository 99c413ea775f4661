//! Answers for requests no route takes: 405 with `Allow` when the path exists under other
//! methods, 404 otherwise. Known paths come from the OpenAPI document, so they cannot drift.
//!
//! Where a literal path and a parameterised one overlap (`/v1/ledger/charges/decisions` and
//! `/v1/ledger/charges/{charge_id}`), the literal one owns the path: a method only the other
//! has is routed there, and its parameter fails to parse, which answers as the owner would
//! (405), not as a bad parameter (400).

use crate::problem::ApiError;
use actix_web::dev::ResourceDef;
use actix_web::error::PathError;
use actix_web::{web, HttpRequest, HttpResponse};
use utoipa::openapi::OpenApi;

/// The document's paths, most specific first, each with its template and methods.
pub struct KnownPaths(Vec<(ResourceDef, String, Vec<&'static str>)>);

/// Orders templates so that, at the first segment where two differ, a literal comes before a
/// parameter.
fn specificity(template: &str) -> Vec<bool> {
    template
        .split('/')
        .map(|segment| segment.starts_with('{'))
        .collect()
}

impl KnownPaths {
    pub fn from_openapi(doc: &OpenApi) -> Self {
        let paths = doc
            .paths
            .paths
            .iter()
            .map(|(path, item)| {
                let mut methods = Vec::new();
                for (name, present) in [
                    ("GET", item.get.is_some()),
                    ("POST", item.post.is_some()),
                    ("PUT", item.put.is_some()),
                    ("PATCH", item.patch.is_some()),
                    ("DELETE", item.delete.is_some()),
                ] {
                    if present {
                        methods.push(name);
                    }
                }
                (ResourceDef::new(path.as_str()), path.clone(), methods)
            })
            .collect::<Vec<_>>();
        let mut paths = paths;
        paths.sort_by_cached_key(|(_, template, _)| specificity(template));
        Self(paths)
    }

    /// The template that owns `path`, and the methods it allows.
    fn owner(&self, path: &str) -> Option<(&str, String)> {
        self.0
            .iter()
            .find(|(def, _, _)| def.is_match(path))
            .map(|(_, template, methods)| (template.as_str(), methods.join(", ")))
    }
}

/// A path parameter that does not parse: 405 when the path belongs to another of the
/// document's paths (the router tried a parameterised route for a literal path under a method
/// the literal one lacks), `400 invalid_path_parameter` otherwise.
pub fn path_error(error: PathError, req: &HttpRequest) -> actix_web::Error {
    let owner = req
        .app_data::<web::Data<KnownPaths>>()
        .and_then(|known| known.owner(req.path()));
    match owner {
        Some((template, allowed)) if req.match_pattern().as_deref() != Some(template) => {
            ApiError::MethodNotAllowed { allowed }.into()
        }
        _ => ApiError::bad_request("invalid_path_parameter", error.to_string()).into(),
    }
}

pub async fn unmatched(
    req: HttpRequest,
    known: web::Data<KnownPaths>,
) -> Result<HttpResponse, ApiError> {
    Err(match known.owner(req.path()) {
        Some((_, allowed)) => ApiError::MethodNotAllowed { allowed },
        None => ApiError::NotFound,
    })
}
