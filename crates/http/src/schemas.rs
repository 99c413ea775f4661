//! OpenAPI schemas for domain enums, built from the enums themselves so the document lists
//! exactly the values the service accepts.

use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Type};
use utoipa::openapi::{Array, Object};
use waymark_domain::{Role, ServiceScope};

fn string_enum(values: impl IntoIterator<Item = &'static str>, description: &str) -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(values))
        .description(Some(description))
        .build()
}

pub fn role() -> Object {
    string_enum(
        Role::ALL.map(Role::as_str),
        "A role; see the roles table in the API description",
    )
}

pub fn roles() -> Array {
    ArrayBuilder::new().items(role()).build()
}

pub fn scopes() -> Array {
    ArrayBuilder::new()
        .items(string_enum(
            ServiceScope::ALL.map(ServiceScope::as_str),
            "A service-account scope",
        ))
        .build()
}
