//! Answers for requests no route takes: 405 with `Allow` when the path exists under other
//! methods, 404 otherwise. Known paths come from the OpenAPI document, so they cannot drift.

use crate::problem::ApiError;
use actix_web::dev::ResourceDef;
use actix_web::{web, HttpRequest, HttpResponse};
use utoipa::openapi::OpenApi;

pub struct KnownPaths(Vec<(ResourceDef, Vec<&'static str>)>);

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
                (ResourceDef::new(path.as_str()), methods)
            })
            .collect();
        Self(paths)
    }

    fn allowed(&self, path: &str) -> Option<String> {
        self.0
            .iter()
            .find(|(def, _)| def.is_match(path))
            .map(|(_, methods)| methods.join(", "))
    }
}

pub async fn unmatched(
    req: HttpRequest,
    known: web::Data<KnownPaths>,
) -> Result<HttpResponse, ApiError> {
    Err(match known.allowed(req.path()) {
        Some(allowed) => ApiError::MethodNotAllowed { allowed },
        None => ApiError::NotFound,
    })
}
