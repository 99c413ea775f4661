//! The OpenAPI 3.1 document: paths are collected from the routes themselves (utoipa-actix-web),
//! and the problem responses every operation can give are added here, in one place.

use crate::concurrency::IF_MATCH;
use crate::problem::{Problem, PROBLEM_CONTENT_TYPE};
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::{HttpMethod, Operation};
use utoipa::openapi::schema::{ArrayItems, ObjectBuilder, Schema, SchemaFormat, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, OpenApi as OpenApiDoc, Ref, RefOr, ResponseBuilder};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Waymark API",
        description = "Social prescribing across a federation of GP practices: clinicians refer patients, \
volunteers run clinics and refer onward to a shared directory of voluntary and community services, \
providers are paid per activity from a shared ledger, commissioners see aggregate evidence.\n\n\
Every error is `application/problem+json` (RFC 9457) with a stable `code`. Lists are cursor-paginated \
(`limit`, `cursor` → `next_cursor`). Updates need `If-Match` with the `ETag` of your last read. \
Authenticate with `POST /v1/auth/token` and send `Authorization: Bearer <access_token>`.",
        license(name = "AGPL-3.0-or-later"),
        version = env!("CARGO_PKG_VERSION"),
    ),
    components(schemas(Problem)),
    modifiers(&SecurityAndProblems),
    tags(
        (name = "auth", description = "Access tokens and the keys that sign them"),
        (name = "federations", description = "Federations of GP practices (platform administration)"),
        (name = "practices", description = "GP practices of a federation"),
        (name = "users", description = "People who sign in, and their roles"),
        (name = "service-accounts", description = "Integration clients with scoped credentials"),
        (name = "directory", description = "The federation's shared directory of voluntary and community services"),
        (name = "open-referral", description = "Public, read-only Open Referral UK 3.0 view of a federation's directory"),
        (name = "patients", description = "Patients of a practice (the practice's partition)"),
        (name = "referrals", description = "Referrals to the social prescribing service and their state machine"),
        (name = "volunteers", description = "Volunteers of a practice, their training and clearance to run clinics"),
        (name = "clinics", description = "Clinic sessions, their slots, booking referrals and recording attendance"),
        (name = "assessments", description = "The assessment at the clinic and wellbeing measures (SWEMWBS, ONS4)"),
        (name = "onward-referrals", description = "Onward referrals and signposting to directory services"),
        (name = "provider", description = "A provider organisation's onward referrals, activities and concerns"),
        (name = "case-notes", description = "Case notes on a referral (the practice's clinicians and volunteers only)"),
        (name = "safeguarding", description = "Safeguarding concerns, tracked by the practice to resolution"),
        (name = "gp-record", description = "Back to the GP record: the message back to the GP and referrer, as JSON and as a FHIR R4 Bundle of UK Core resources, with SNOMED CT codes"),
        (name = "gp-appointments", description = "GP appointment counts before and after a referral"),
        (name = "ledger", description = "The federation's payment ledger: tariffs, charges, funding, payment runs, statements (integer pence)"),
        (name = "statistics", description = "Aggregate statistics for commissioners, under the federation's disclosure control; exact as of `as_of`"),
        (name = "events", description = "The change feed: every committed change to referrals, onward referrals, activities, charges, payment runs, remittances and the directory, in order, exactly once"),
        (name = "webhooks", description = "Endpoints the federation's events are pushed to, signed per the Standard Webhooks specification and retried for up to three days; their delivery attempts"),
        (name = "dashboard", description = "The commissioner dashboard page, served by Waymark itself"),
        (name = "audit", description = "The append-only log of access to patient data"),
        (name = "operations", description = "Health, readiness and metrics"),
    )
)]
pub struct ApiDoc;

pub const BEARER: &str = "bearer";

struct SecurityAndProblems;

/// Problem responses shared by operations, as `(status, component name, description)`.
const PROBLEMS: [(&str, &str, &str); 13] = [
    (
        "400",
        "BadRequest",
        "Malformed JSON, path or query parameter",
    ),
    (
        "401",
        "Unauthorized",
        "Missing, malformed, expired or otherwise invalid access token",
    ),
    ("403", "Forbidden", "The caller's role may not do this"),
    ("404", "NotFound", "No such resource in the caller's tenant"),
    (
        "409",
        "Conflict",
        "The request conflicts with the current state (e.g. a duplicate)",
    ),
    (
        "412",
        "PreconditionFailed",
        "If-Match names a version that is no longer current",
    ),
    (
        "413",
        "PayloadTooLarge",
        "The body is larger than the configured limit",
    ),
    (
        "415",
        "UnsupportedMediaType",
        "The body is not sent as JSON",
    ),
    (
        "422",
        "UnprocessableEntity",
        "The body is well-formed but invalid; `errors` names the fields",
    ),
    ("428", "PreconditionRequired", "The update needs If-Match"),
    (
        "429",
        "TooManyRequests",
        "A rate limit's quota for the minute is spent (`RateLimit` says which, with `r=0`), or sign-ins are throttled; try again after Retry-After",
    ),
    (
        "500",
        "InternalError",
        "A bug on our side; the request id is in X-Request-Id",
    ),
    (
        "503",
        "ServiceUnavailable",
        "The database is out of reach (a restart or failover): `database_unavailable`; or, for an export, the instance is running as many as it may: `exports_busy`. Try again after Retry-After",
    ),
];

/// Operations that answer without the database, and so never with 503.
const WITHOUT_DATABASE: [&str; 3] = ["healthz", "metrics", "jwks"];

impl Modify for SecurityAndProblems {
    fn modify(&self, openapi: &mut OpenApiDoc) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            BEARER,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some("An access token from POST /v1/auth/token"))
                    .build(),
            ),
        );
        for (status, name, description) in PROBLEMS {
            let mut response = ResponseBuilder::new().description(description).content(
                PROBLEM_CONTENT_TYPE,
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("Problem")))
                    .build(),
            );
            if status == "429" {
                for (name, header) in rate_limit_headers() {
                    response = response.header(name, header);
                }
            }
            if matches!(status, "429" | "503") {
                response = response.header(
                    "Retry-After",
                    HeaderBuilder::new()
                        .schema(
                            ObjectBuilder::new()
                                .schema_type(Type::Integer)
                                .minimum(Some(0)),
                        )
                        .description(Some("Seconds to wait before trying again"))
                        .build(),
                );
            }
            components
                .responses
                .insert(name.to_owned(), RefOr::T(response.build()));
        }
    }
}

/// A field validated by one of the domain's rules says so with a `format` naming the rule, and
/// gets here the pattern of what that rule accepts instead (the format would mean nothing to a
/// client). Text is `bounded_text` (`line`) or `long_text` (`lines`), either required or,
/// `…-or-blank`, optional with blank meaning absent: trimmed, not empty, and with no control
/// characters, except line breaks and tabs inside `lines`. The contact fields of
/// `directory::contact`, `directory::organisation` and `directory::service` are optional, blank
/// meaning absent: `phone`, `web-address`, `uk-postcode`, `charity-number`, `company-number`.
pub const PATTERN_FORMATS: [&str; 9] = [
    "line",
    "lines",
    "line-or-blank",
    "lines-or-blank",
    "phone",
    "web-address",
    "uk-postcode",
    "charity-number",
    "company-number",
];

/// The pattern of one of [`PATTERN_FORMATS`].
pub fn field_pattern(format: &str) -> Option<String> {
    const CONTROLS: &str = "\u{0}-\u{1f}\u{7f}-\u{9f}";
    const CONTROLS_BUT_BREAKS: &str = "\u{0}-\u{8}\u{b}\u{c}\u{e}-\u{1f}\u{7f}-\u{9f}";
    // Text that starts and ends with neither a blank nor a control character, and holds no
    // control character but those `inside` allows.
    let text = |inside: &str| format!("[^\\s{CONTROLS}]([^{inside}]*[^\\s{CONTROLS}])?");
    let host = format!(
        "[^\\s/?#.{CONTROLS}][^\\s/?#{CONTROLS}]*\\.[^\\s/?#{CONTROLS}]*[^\\s/?#.{CONTROLS}]"
    );
    let (value, blank) = match format {
        "line" => (text(CONTROLS), false),
        "lines" => (text(CONTROLS_BUT_BREAKS), false),
        "line-or-blank" => (text(CONTROLS), true),
        "lines-or-blank" => (text(CONTROLS_BUT_BREAKS), true),
        // 7 to 15 digits, with spaces, `+`, brackets and hyphens between them.
        "phone" => ("[ +()-]*([0-9][ +()-]*){7,15}".to_owned(), true),
        // http or https, a host with a dot inside it, no blanks or control characters.
        "web-address" => (format!("https?://{host}([/?#][^\\s{CONTROLS}]*)?"), true),
        // A9, A99, A9A, AA9, AA99 or AA9A, then 9AA, in either case, spaced anyhow.
        "uk-postcode" => (
            "[A-Za-z]\\s*([A-Za-z]\\s*)?[0-9]\\s*([0-9A-Za-z]\\s*)?[0-9]\\s*[A-Za-z]\\s*[A-Za-z]"
                .to_owned(),
            true,
        ),
        // England and Wales (6 to 8 digits), Scotland (SC, 6 digits), Northern Ireland
        // (NI or NIC, 5 or 6 digits), spaced anyhow, in either case.
        "charity-number" => (
            "(\\s*[0-9]){6,8}|[Ss]\\s*[Cc](\\s*[0-9]){6}|[Nn]\\s*[Ii](\\s*[Cc])?(\\s*[0-9]){5,6}"
                .to_owned(),
            true,
        ),
        // Eight characters: digits, or two letters then six digits.
        "company-number" => ("[0-9A-Za-z]{2}[0-9]{6}".to_owned(), true),
        _ => return None,
    };
    Some(if blank {
        format!("^\\s*({value})?\\s*$")
    } else {
        format!("^\\s*{value}\\s*$")
    })
}

/// Replaces the rule formats of every component schema by their patterns.
pub fn describe_rule_formats(openapi: &mut OpenApiDoc) {
    if let Some(components) = openapi.components.as_mut() {
        for schema in components.schemas.values_mut() {
            describe_rule_format(schema);
        }
    }
}

fn describe_rule_format(schema: &mut RefOr<Schema>) {
    let RefOr::T(schema) = schema else {
        return;
    };
    match schema {
        Schema::Object(object) => {
            let pattern = match &object.format {
                Some(SchemaFormat::Custom(format)) => field_pattern(format),
                _ => None,
            };
            if let Some(pattern) = pattern {
                object.format = None;
                object.pattern = Some(pattern);
            }
            for property in object.properties.values_mut() {
                describe_rule_format(property);
            }
        }
        Schema::Array(array) => {
            if let ArrayItems::RefOrSchema(items) = &mut array.items {
                describe_rule_format(items);
            }
        }
        Schema::OneOf(one_of) => one_of.items.iter_mut().for_each(describe_rule_format),
        Schema::AllOf(all_of) => all_of.items.iter_mut().for_each(describe_rule_format),
        Schema::AnyOf(any_of) => any_of.items.iter_mut().for_each(describe_rule_format),
        _ => {}
    }
}

/// The IETF rate-limit fields (draft-ietf-httpapi-ratelimit-headers) every answer of a
/// rate-limited route carries while a limit is in force.
fn rate_limit_headers() -> [(&'static str, utoipa::openapi::header::Header); 2] {
    let text = |description: &str| {
        HeaderBuilder::new()
            .schema(ObjectBuilder::new().schema_type(Type::String))
            .description(Some(description))
            .build()
    };
    [
        (
            "RateLimit-Policy",
            text("The limits in force, as `\"name\";q=quota;w=seconds`: `subject` (per token), `address` (per client address) on /v1, `public` (per client address and federation) on /oruk"),
        ),
        (
            "RateLimit",
            text("Where the caller stands in each: `\"name\";r=remaining;t=seconds until the window ends`"),
        ),
    ]
}

/// Routes counted by the rate limits: the API and the public Open Referral UK view.
fn rate_limited(path: &str) -> bool {
    path.starts_with("/v1/") || path.starts_with("/oruk/")
}

/// Adds the problem responses an operation can give, judged from its shape, to every operation;
/// and to every operation of a rate-limited route, the rate-limit fields on its answers.
pub fn add_problem_responses(openapi: &mut OpenApiDoc) {
    for (path, item) in openapi.paths.paths.iter_mut() {
        let limited = rate_limited(path);
        let operations = [
            (HttpMethod::Get, item.get.as_mut()),
            (HttpMethod::Post, item.post.as_mut()),
            (HttpMethod::Put, item.put.as_mut()),
            (HttpMethod::Patch, item.patch.as_mut()),
            (HttpMethod::Delete, item.delete.as_mut()),
        ];
        for (method, operation) in operations {
            if let Some(operation) = operation {
                describe_problems(operation);
                let mut statuses = statuses_for(&method, operation);
                if limited {
                    statuses.push("429");
                    announce_rate_limits(operation);
                }
                for status in statuses {
                    let (_, name, _) = PROBLEMS
                        .iter()
                        .find(|(s, _, _)| *s == status)
                        .expect("known status");
                    operation
                        .responses
                        .responses
                        .entry(status.to_owned())
                        .or_insert_with(|| {
                            RefOr::Ref(Ref::new(format!("#/components/responses/{name}")))
                        });
                }
            }
        }
    }
}

fn announce_rate_limits(operation: &mut Operation) {
    for (status, response) in operation.responses.responses.iter_mut() {
        let RefOr::T(response) = response else {
            continue;
        };
        if status.starts_with('2') || status.starts_with('3') {
            for (name, header) in rate_limit_headers() {
                response.headers.entry(name.to_owned()).or_insert(header);
            }
        }
    }
}

/// An error response an operation describes in its own words is still a problem+json body.
fn describe_problems(operation: &mut Operation) {
    for (status, response) in operation.responses.responses.iter_mut() {
        let RefOr::T(response) = response else {
            continue;
        };
        if (status.starts_with('4') || status.starts_with('5')) && response.content.is_empty() {
            response.content.insert(
                PROBLEM_CONTENT_TYPE.to_owned(),
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("Problem")))
                    .build(),
            );
        }
    }
}

fn statuses_for(method: &HttpMethod, operation: &Operation) -> Vec<&'static str> {
    let mut statuses = vec!["500"];
    if !operation
        .operation_id
        .as_deref()
        .is_some_and(|id| WITHOUT_DATABASE.contains(&id))
    {
        statuses.push("503");
    }
    let parameters = operation.parameters.as_deref().unwrap_or_default();
    if !parameters.is_empty() || operation.request_body.is_some() {
        statuses.push("400");
    }
    if operation.security.as_ref().is_some_and(|s| !s.is_empty()) {
        statuses.extend(["401", "403"]);
    }
    let has_path_parameter = parameters
        .iter()
        .any(|p| matches!(p.parameter_in, utoipa::openapi::path::ParameterIn::Path));
    if has_path_parameter {
        statuses.push("404");
    }
    if operation.request_body.is_some() {
        statuses.extend(["413", "415", "422"]);
    }
    // Any write can meet a duplicate (a unique name or external id) or a state that refuses it.
    if matches!(
        method,
        HttpMethod::Post | HttpMethod::Put | HttpMethod::Patch
    ) && operation.request_body.is_some()
        && operation.security.is_some()
    {
        statuses.push("409");
    }
    let takes_if_match = parameters.iter().any(|p| {
        matches!(p.parameter_in, utoipa::openapi::path::ParameterIn::Header) && p.name == IF_MATCH
    });
    if takes_if_match {
        statuses.extend(["412", "428"]);
    }
    statuses
}
