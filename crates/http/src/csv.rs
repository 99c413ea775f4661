//! Answers that may be asked for as CSV: how a client asks (`format=csv`, or `Accept:
//! text/csv`), and text cells a spreadsheet cannot take for formulas.

use crate::problem::ApiError;
use actix_web::http::header;
use actix_web::HttpRequest;

/// What such an answer can be rendered as: JSON (the default) or CSV.
pub const FORMATS: [&str; 2] = ["json", "csv"];

/// The `format` query parameter's schema.
pub fn format_parameter() -> utoipa::openapi::Object {
    utoipa::openapi::schema::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .enum_values(Some(FORMATS))
        .description(Some(
            "`json` (the default) or `csv`; `Accept: text/csv` also asks for CSV",
        ))
        .build()
}

/// Whether the request asks for CSV: `format` when given, else its `Accept` header.
pub fn wants_csv(format: Option<&str>, req: &HttpRequest) -> Result<bool, ApiError> {
    match format {
        Some(f) if f == FORMATS[1] => Ok(true),
        Some(f) if f == FORMATS[0] => Ok(false),
        Some(other) => Err(ApiError::bad_request(
            "invalid_query_parameter",
            format!("format: `{other}` is not json or csv"),
        )),
        None => Ok(req
            .headers()
            .get(header::ACCEPT)
            .and_then(|a| a.to_str().ok())
            .is_some_and(|a| a.contains("text/csv"))),
    }
}

/// A text cell: quoted when it must be, and prefixed with `'` when it starts like a formula, so
/// a service name such as `=HYPERLINK(…)` stays text when opened in a spreadsheet. Numbers are
/// written as numbers, never through here.
pub fn text_cell(value: &str) -> String {
    let value = if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{value}")
    } else {
        value.to_owned()
    };
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value
    }
}

#[cfg(test)]
mod tests {
    use super::text_cell;

    #[test]
    fn text_cells_cannot_become_formulas_and_are_quoted_when_needed() {
        assert_eq!(text_cell("Walking group"), "Walking group");
        assert_eq!(text_cell("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(text_cell("+44 123"), "'+44 123");
        assert_eq!(text_cell("-1"), "'-1");
        assert_eq!(text_cell("@sum"), "'@sum");
        assert_eq!(text_cell("Tea, cake"), "\"Tea, cake\"");
    }
}
