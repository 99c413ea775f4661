//! The OpenAPI document is a valid contract: it passes the OpenAPI 3.1 schema and the rules
//! client generators rely on, for the document the server builds and the committed copy alike.
//! Every violation is listed, not only the first.
//!
//! `reference/openapi-3.1-schema.json` is the OpenAPI Initiative's JSON Schema for OpenAPI 3.1
//! documents (`https://spec.openapis.org/oas/3.1/schema/2022-10-07`, Apache-2.0), as distributed
//! in the schemathesis Python package (MIT).

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// Operations that answer without the database, and so never with 503 (as `openapi.rs` says).
const WITHOUT_DATABASE: [&str; 3] = ["healthz", "metrics", "jwks"];

fn served() -> Value {
    serde_json::to_value(waymark_http::document()).expect("the document serialises")
}

fn committed() -> Value {
    let file = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/openapi.json");
    serde_json::from_str(&std::fs::read_to_string(file).expect("openapi/openapi.json"))
        .expect("openapi/openapi.json is JSON")
}

/// Resolves a local reference (`#/a/b`) in `doc`.
fn resolve<'a>(doc: &'a Value, reference: &str) -> Option<&'a Value> {
    doc.pointer(reference.strip_prefix('#')?)
}

/// `value`, or what it refers to when it is a `$ref`.
fn deref<'a>(doc: &'a Value, value: &'a Value) -> &'a Value {
    match value.get("$ref").and_then(Value::as_str) {
        Some(reference) => resolve(doc, reference).unwrap_or(value),
        None => value,
    }
}

/// Every `$ref` in `value`, with where it was found.
fn references(value: &Value, at: String, found: &mut Vec<(String, String)>) {
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                // A property may be named `$ref`; only a string value is a reference.
                if key == "$ref" {
                    if let Value::String(reference) = child {
                        found.push((at.clone(), reference.clone()));
                        continue;
                    }
                }
                references(child, format!("{at}/{key}"), found);
            }
        }
        Value::Array(items) => {
            for (index, child) in items.iter().enumerate() {
                references(child, format!("{at}/{index}"), found);
            }
        }
        _ => {}
    }
}

/// The outermost schema objects under `value` (nested ones are checked with them).
fn schemas_under(at: String, value: &Value) -> Vec<(String, &Value)> {
    let mut stack = vec![(at, value)];
    let mut found = Vec::new();
    while let Some((at, value)) = stack.pop() {
        match value {
            Value::Object(map) => {
                for (key, child) in map {
                    if key == "schema" && child.is_object() {
                        found.push((format!("{at}/schema"), child));
                    } else {
                        stack.push((format!("{at}/{key}"), child));
                    }
                }
            }
            Value::Array(items) => {
                for (index, child) in items.iter().enumerate() {
                    stack.push((format!("{at}/{index}"), child));
                }
            }
            _ => {}
        }
    }
    found
}

/// Every schema object of the document, with where it is: components and the schemas of
/// parameters, bodies, responses and headers (their nested schemas are checked with them).
fn schemas(doc: &Value) -> Vec<(String, &Value)> {
    let mut found = Vec::new();
    if let Some(components) = doc["components"]["schemas"].as_object() {
        for (name, schema) in components {
            found.push((format!("#/components/schemas/{name}"), schema));
        }
    }
    found.extend(schemas_under("#/paths".into(), &doc["paths"]));
    for part in ["responses", "parameters", "requestBodies", "headers"] {
        found.extend(schemas_under(
            format!("#/components/{part}"),
            &doc["components"][part],
        ));
    }
    found
}

/// The statuses an operation must document, judged from its shape as `statuses_for` does.
fn required_statuses(operation: &Value, parameters: &[&Value]) -> BTreeSet<&'static str> {
    let mut statuses = BTreeSet::from(["500"]);
    let id = operation["operationId"].as_str().unwrap_or_default();
    if !WITHOUT_DATABASE.contains(&id) {
        statuses.insert("503");
    }
    let has_body = operation.get("requestBody").is_some();
    if !parameters.is_empty() || has_body {
        statuses.insert("400");
    }
    if operation["security"]
        .as_array()
        .is_some_and(|s| !s.is_empty())
    {
        statuses.extend(["401", "403"]);
    }
    if parameters.iter().any(|p| p["in"] == "path") {
        statuses.insert("404");
    }
    if has_body {
        statuses.extend(["413", "415", "422"]);
    }
    if parameters
        .iter()
        .any(|p| p["in"] == "header" && p["name"].as_str() == Some("If-Match"))
    {
        statuses.extend(["412", "428"]);
    }
    statuses
}

/// Every rule the document breaks.
fn violations(doc: &Value) -> Vec<String> {
    let mut violations = Vec::new();

    let version = doc["openapi"].as_str().unwrap_or_default();
    let minor = version.strip_prefix("3.1.");
    if !minor.is_some_and(|patch| !patch.is_empty() && patch.bytes().all(|b| b.is_ascii_digit())) {
        violations.push(format!("openapi is {version:?}, not 3.1.x"));
    }

    let meta: Value = serde_json::from_str(include_str!("reference/openapi-3.1-schema.json"))
        .expect("the OpenAPI 3.1 schema is JSON");
    let validator = jsonschema::validator_for(&meta).expect("the OpenAPI 3.1 schema compiles");
    for error in validator.iter_errors(doc) {
        violations.push(format!(
            "OpenAPI 3.1 schema: {error} at {}",
            error.instance_path()
        ));
    }
    let dialect = jsonschema::draft202012::meta::validator();
    for (at, schema) in schemas(doc) {
        for error in dialect.iter_errors(schema) {
            violations.push(format!("{at} is not a JSON Schema 2020-12 schema: {error}"));
        }
    }

    let mut found = Vec::new();
    references(doc, "#".into(), &mut found);
    for (at, reference) in found {
        if resolve(doc, &reference).is_none() {
            violations.push(format!("{at}: $ref {reference} resolves to nothing"));
        }
    }

    let mut operation_ids: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let paths = doc["paths"].as_object().cloned().unwrap_or_default();
    for (path, item) in &paths {
        let template: BTreeSet<&str> = path
            .split('/')
            .filter_map(|segment| segment.strip_prefix('{')?.strip_suffix('}'))
            .collect();
        let shared: Vec<&Value> = item["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|p| deref(doc, p))
            .collect();
        for method in METHODS {
            let Some(operation) = item.get(method) else {
                continue;
            };
            let name = format!("{} {path}", method.to_uppercase());

            match operation["operationId"].as_str() {
                Some(id) if !id.is_empty() => {
                    operation_ids
                        .entry(id.to_owned())
                        .or_default()
                        .push(name.clone());
                }
                _ => violations.push(format!("{name} has no operationId")),
            }

            // An operation's own parameter overrides the path item's of the same name and place.
            let own: Vec<&Value> = operation["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|p| deref(doc, p))
                .collect();
            let mut parameters = own.clone();
            for parameter in &shared {
                if !own
                    .iter()
                    .any(|p| p["name"] == parameter["name"] && p["in"] == parameter["in"])
                {
                    parameters.push(parameter);
                }
            }
            let mut seen = BTreeSet::new();
            for parameter in &parameters {
                let key = (
                    parameter["in"].as_str().unwrap_or_default(),
                    parameter["name"].as_str().unwrap_or_default(),
                );
                if !seen.insert(key) {
                    violations.push(format!(
                        "{name} declares the {} parameter {} twice",
                        key.0, key.1
                    ));
                }
            }
            let declared: BTreeSet<&str> = parameters
                .iter()
                .filter(|p| p["in"] == "path")
                .filter_map(|p| p["name"].as_str())
                .collect();
            for missing in template.difference(&declared) {
                violations.push(format!(
                    "{name}: path parameter {{{missing}}} is not declared"
                ));
            }
            for extra in declared.difference(&template) {
                violations.push(format!(
                    "{name}: path parameter {extra} is declared but not in the path"
                ));
            }
            for parameter in parameters.iter().filter(|p| p["in"] == "path") {
                if parameter["required"] != Value::Bool(true) {
                    violations.push(format!(
                        "{name}: path parameter {} is not required: true",
                        parameter["name"]
                    ));
                }
            }

            let responses = operation["responses"]
                .as_object()
                .cloned()
                .unwrap_or_default();
            for status in required_statuses(operation, &parameters) {
                if !responses.contains_key(status) {
                    violations.push(format!("{name} does not document its {status}"));
                }
            }
            if !responses
                .keys()
                .any(|s| s.starts_with('2') || s.starts_with('3'))
            {
                violations.push(format!("{name} documents no success response"));
            }
            for (status, response) in &responses {
                if !(status.starts_with('4') || status.starts_with('5')) {
                    continue;
                }
                let response = deref(doc, response);
                let content = response["content"].as_object();
                let problem = content.is_some_and(|content| {
                    !content.is_empty()
                        && content
                            .keys()
                            .all(|media| media == "application/problem+json")
                });
                if !problem {
                    violations.push(format!(
                        "{name}: its {status} is not described as application/problem+json"
                    ));
                }
            }
        }
    }
    for (id, operations) in operation_ids {
        if operations.len() > 1 {
            violations.push(format!(
                "operationId {id} is used by {}",
                operations.join(" and ")
            ));
        }
    }
    violations
}

fn assert_valid(doc: &Value, which: &str) {
    let violations = violations(doc);
    assert!(
        violations.is_empty(),
        "{which} breaks {} rule(s):\n  {}",
        violations.len(),
        violations.join("\n  ")
    );
}

#[test]
fn the_served_document_is_a_valid_openapi_3_1_contract() {
    assert_valid(&served(), "waymark_http::document()");
}

#[test]
fn the_committed_document_is_a_valid_openapi_3_1_contract() {
    assert_valid(&committed(), "openapi/openapi.json");
}

#[test]
fn the_rules_catch_what_they_are_for() {
    let mut doc = served();
    let paths = doc["paths"].as_object_mut().unwrap();
    let (path, item) = paths
        .iter_mut()
        .find(|(path, item)| path.contains('{') && item.get("get").is_some())
        .unwrap();
    let path = path.clone();
    let get = &mut item["get"];
    get["operationId"] = Value::from("healthz");
    get["parameters"] = Value::Array(vec![]);
    get["responses"].as_object_mut().unwrap().insert(
        "418".into(),
        serde_json::json!({"description": "I'm a teapot"}),
    );
    get["responses"]["200"] = serde_json::json!({"$ref": "#/components/responses/Nowhere"});
    get["responses"].as_object_mut().unwrap().remove("500");
    let found = violations(&doc);
    let expect = [
        "operationId healthz is used by".to_owned(),
        format!("GET {path}: path parameter {{"),
        "resolves to nothing".to_owned(),
        format!("GET {path}: its 418 is not described as application/problem+json"),
        format!("GET {path} does not document its 500"),
    ];
    for expected in expect {
        assert!(
            found.iter().any(|v| v.contains(&expected)),
            "no violation mentions {expected:?}: {found:#?}"
        );
    }
    doc["openapi"] = Value::from("3.0.3");
    assert!(violations(&doc).iter().any(|v| v.contains("not 3.1.x")));
}

/// The parameter `name` in `location` of `method path`.
fn parameter<'a>(
    doc: &'a Value,
    method: &str,
    path: &str,
    location: &str,
    name: &str,
) -> &'a Value {
    doc["paths"][path][method]["parameters"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| p["in"] == location && p["name"] == name)
        .unwrap_or_else(|| panic!("{method} {path} declares no {location} parameter {name}"))
}

fn accepts(schema: &Value, value: &str) -> bool {
    jsonschema::validator_for(schema)
        .expect("the parameter schema compiles")
        .is_valid(&Value::from(value))
}

fn enumeration(schema: &Value) -> Vec<&str> {
    schema["enum"]
        .as_array()
        .unwrap_or_else(|| panic!("no enum in {schema}"))
        .iter()
        .filter_map(Value::as_str)
        .collect()
}

#[test]
fn the_document_declares_what_the_server_enforces() {
    use waymark_domain::ledger::ChargeStatus;
    use waymark_domain::pathway::onward::OnwardReferralState;
    use waymark_domain::pathway::ReferralState;
    let doc = served();

    // Idempotency-Key: 1 to 255 printable ASCII characters, wherever it is taken.
    let mut keys = 0;
    for item in doc["paths"].as_object().unwrap().values() {
        for operation in item.as_object().unwrap().values() {
            for p in operation["parameters"].as_array().into_iter().flatten() {
                if p["name"] != "Idempotency-Key" {
                    continue;
                }
                keys += 1;
                let schema = &p["schema"];
                assert!(accepts(schema, "01a237ad-10f3-7618-beed-d73381d717d0"));
                assert!(accepts(schema, &"~".repeat(255)));
                for refused in ["", "a b", "caf\u{e9}", &"k".repeat(256)] {
                    assert!(!accepts(schema, refused), "{refused:?} fits {schema}");
                }
            }
        }
    }
    assert_eq!(keys, 8, "every operation that reads the key declares it");

    let end = &doc["paths"]["/v1/ledger/tariffs/{tariff_id}/end"]["post"]["responses"];
    assert!(end.get("412").is_some() && end.get("428").is_some());

    let filter =
        |path: &str, name: &str| parameter(&doc, "get", path, "query", name)["schema"].clone();
    assert_eq!(
        enumeration(&filter("/v1/ledger/charges", "status")),
        ChargeStatus::ALL.map(ChargeStatus::code)
    );
    assert_eq!(
        enumeration(&filter("/v1/practices/{practice_id}/referrals", "state")),
        ReferralState::ALL.map(ReferralState::code)
    );
    assert_eq!(
        enumeration(&filter("/v1/provider/onward-referrals", "state")),
        OnwardReferralState::ALL.map(OnwardReferralState::code)
    );
    assert_eq!(
        enumeration(&filter(
            "/v1/practices/{practice_id}/safeguarding-concerns",
            "status"
        )),
        ["open", "resolved", "all"]
    );
    assert_eq!(
        enumeration(&filter("/v1/ledger/statements/{organisation_id}", "format")),
        ["json", "csv"]
    );
    let nhs_number = filter("/v1/practices/{practice_id}/patients", "nhs_number");
    for spelling in ["9434765919", "943 476 5919", "943-476-5919"] {
        assert!(accepts(&nhs_number, spelling), "{spelling}");
    }
    for refused in ["943476591", "94347659190", "943 476 591x"] {
        assert!(!accepts(&nhs_number, refused), "{refused}");
    }
    let within_km = parameter(&doc, "get", "/v1/directory/services", "query", "within_km");
    assert!(within_km["description"]
        .as_str()
        .unwrap()
        .contains("`near`"));
    let window = parameter(
        &doc,
        "put",
        "/v1/practices/{practice_id}/referrals/{referral_id}/gp-appointment-counts/{window}",
        "path",
        "window",
    );
    assert_eq!(enumeration(&window["schema"]), ["before", "after"]);

    let schemas = &doc["components"]["schemas"];
    let max = waymark_domain::ledger::money::MAX_AMOUNT;
    assert_eq!(
        schemas["TopUpBody"]["properties"]["amount_pence"]["maximum"],
        max
    );
    assert_eq!(
        schemas["NewTariffBody"]["properties"]["unit_price_pence"]["maximum"],
        max
    );
    for list in ["need_categories", "delivery_modes"] {
        assert_eq!(
            schemas["ServiceChangesBody"]["properties"][list]["minItems"],
            1
        );
    }
    for (path, item) in doc["paths"].as_object().unwrap() {
        if let Some(update) = item.get("patch") {
            assert!(
                update["responses"].get("409").is_some(),
                "PATCH {path} and its 409"
            );
        }
    }

    let swemwbs = &doc["components"]["schemas"]["MeasureBody"]["properties"]["swemwbs"];
    let fits = |answers: Value| {
        jsonschema::validator_for(swemwbs)
            .unwrap()
            .is_valid(&answers)
    };
    assert!(fits(serde_json::json!([1, 2, 3, 4, 5, 4, 3])));
    assert!(fits(Value::Null));
    assert!(!fits(serde_json::json!([0, 2, 3, 4, 5, 4, 3])));
    assert!(!fits(serde_json::json!([1, 2, 3, 4, 5, 4, 6])));
    assert!(!fits(serde_json::json!([1, 2, 3, 4, 5, 4])));
}

/// Asserts that `value` matches the document's component schema `name`.
fn assert_matches(doc: &Value, name: &str, value: &Value) {
    let mut root = doc.clone();
    root["$ref"] = Value::from(format!("#/components/schemas/{name}"));
    let validator = jsonschema::validator_for(&root).expect("the document's schemas compile");
    let errors: Vec<String> = validator
        .iter_errors(value)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{name} does not describe {value:#}: {errors:#?}"
    );
}

#[tokio::test]
async fn answers_match_the_schemas_the_document_gives_them() {
    use crate::helpers::spawn_app;
    use crate::pathway::{refer, register_patient, transition};
    use waymark_domain::Role;
    let doc = served();
    let app = spawn_app().await;
    let fed = app.create_federation("contract-answers").await;
    let practice = fed.practices[0];
    let clinician = app.as_role(Role::Clinician, fed.id, Some(practice));
    let patient = register_patient(&app, &clinician, practice, 31).await;
    let referral = refer(&app, &clinician, practice, patient).await;
    let path = format!("/v1/practices/{practice}/referrals/{referral}");
    let read = |path: String| {
        let app = &app;
        let clinician = &clinician;
        async move {
            let response = app.get(&path).bearer_auth(clinician).send().await.unwrap();
            assert_eq!(response.status(), 200, "{path}");
            response.json::<Value>().await.unwrap()
        }
    };
    // Open, it has no outcome yet; its history starts from no state.
    let open = read(path.clone()).await;
    assert_eq!(open["outcome"], Value::Null);
    assert_matches(&doc, "Referral", &open);
    let history = read(format!("{path}/history")).await;
    assert_eq!(history[0]["from_state"], Value::Null);
    for entry in history.as_array().unwrap() {
        assert_matches(&doc, "StateChangeEntry", entry);
    }
    let declined = transition(
        &app,
        &clinician,
        practice,
        referral,
        serde_json::json!({"to": "declined", "reason": "Prefers to wait"}),
    )
    .await;
    assert_eq!(declined.status(), 200);
    assert_matches(&doc, "Referral", &declined.json().await.unwrap());
    let page = read(format!("/v1/practices/{practice}/referrals")).await;
    assert_matches(&doc, "Page_Referral", &page);

    // What a client may ask a referral to move to, and how a token is asked for.
    let to = &doc["components"]["schemas"]["TransitionBody"]["properties"]["to"];
    assert_eq!(
        enumeration(to),
        ["active", "closed", "declined", "withdrawn"]
    );
    let token = &doc["components"]["schemas"]["TokenRequest"];
    let fields = &token["allOf"][0]["properties"];
    assert_eq!(
        enumeration(&fields["grant_type"]),
        ["password", "client_credentials"]
    );
    let scope = &fields["scope"];
    for scopes in ["directory:write", " stats:read  events:read ", ""] {
        assert!(accepts(scope, scopes), "{scopes:?}");
    }
    for scopes in ["null", "directory:write,stats:read", "stats"] {
        assert!(!accepts(scope, scopes), "{scopes:?}");
    }
    // Each grant needs its own credentials.
    let mut root = doc.clone();
    root["$ref"] = Value::from("#/components/schemas/TokenRequest");
    let request = jsonschema::validator_for(&root).unwrap();
    let fits = |body: Value| request.is_valid(&body);
    assert!(fits(
        serde_json::json!({"grant_type": "password", "username": "a@b.example", "password": "p"})
    ));
    assert!(fits(
        serde_json::json!({"grant_type": "client_credentials", "client_id": "c", "client_secret": "s"})
    ));
    assert!(!fits(
        serde_json::json!({"grant_type": "password", "username": "a@b.example"})
    ));
    assert!(!fits(
        serde_json::json!({"grant_type": "client_credentials", "client_id": "c"})
    ));
    assert!(!fits(
        serde_json::json!({"grant_type": "password", "username": "a", "password": "p", "colour": "red"})
    ));
}

#[test]
fn text_patterns_accept_what_the_domain_accepts() {
    use waymark_domain::directory::contact::long_text;
    use waymark_domain::validation::bounded_text;
    use waymark_http::openapi::field_pattern;
    let samples = [
        "Health walks",
        "  padded  ",
        "x",
        "",
        "   ",
        "\t",
        "two\nlines",
        "tab\tinside",
        " \nline after a break\r\n",
        "nul\u{0}inside",
        "bell\u{7}",
        "\u{1b}escape first",
        "del\u{7f}",
        "c1 \u{85} control",
        "caf\u{e9} \u{1f6b6}",
        "\u{a0}non-breaking\u{a0}",
    ];
    for format in ["line", "lines", "line-or-blank", "lines-or-blank"] {
        let schema =
            serde_json::json!({"type": "string", "pattern": field_pattern(format).unwrap()});
        for sample in samples {
            let blank_is_absent = format.ends_with("-or-blank") && sample.trim().is_empty();
            let domain = blank_is_absent
                || if format.starts_with("lines") {
                    long_text(sample, 1000).is_ok()
                } else {
                    bounded_text(sample, 1000).is_ok()
                };
            assert_eq!(
                accepts(&schema, sample),
                domain,
                "{format} and the domain disagree on {sample:?}"
            );
        }
    }
    // Every text field of the document has had its format replaced by the pattern.
    let doc = served();
    let text = serde_json::to_string(&doc).unwrap();
    for format in waymark_http::openapi::PATTERN_FORMATS {
        assert!(
            !text.contains(&format!("\"format\":\"{format}\"")),
            "a {format} field kept its format"
        );
    }
}

/// A format, the domain's rule for it, and samples to try both on.
type Rule<'a> = (&'a str, &'a dyn Fn(&str) -> bool, &'a [&'a str]);

#[test]
fn contact_patterns_accept_what_the_domain_accepts() {
    use waymark_domain::directory::contact::{optional_phone, optional_url};
    use waymark_domain::directory::organisation::{OrganisationDetails, OrganisationInput};
    use waymark_domain::directory::service::postcode;
    use waymark_domain::ValidationErrors;
    use waymark_http::openapi::field_pattern;
    let phone = |raw: &str| {
        let mut errors = ValidationErrors::new();
        optional_phone(&mut errors, "phone", Some(raw.to_owned()));
        errors.is_empty()
    };
    let website = |raw: &str| {
        let mut errors = ValidationErrors::new();
        optional_url(&mut errors, "website", Some(raw.to_owned()));
        errors.is_empty()
    };
    let organisation = |input: OrganisationInput| OrganisationDetails::parse(input).is_ok();
    let charity = |raw: &str| {
        organisation(OrganisationInput {
            name: "Walks".into(),
            charity_number: Some(raw.into()),
            ..Default::default()
        })
    };
    let company = |raw: &str| {
        organisation(OrganisationInput {
            name: "Walks".into(),
            company_number: Some(raw.into()),
            ..Default::default()
        })
    };
    let blank_or = |check: &dyn Fn(&str) -> bool, raw: &str| raw.trim().is_empty() || check(raw);
    let rules: [Rule; 5] = [
        (
            "phone",
            &|raw| blank_or(&phone, raw),
            &[
                "01509 123456",
                "+44 (0)1509 123-456",
                " 0150 9123 ",
                "123",
                "call me",
                "",
                "1234567890123456",
                "0150\t9123456",
            ],
        ),
        (
            "web-address",
            &|raw| blank_or(&website, raw),
            &[
                "https://example.org/walks?x=1",
                "http://example.org",
                " https://a.b ",
                "example.org",
                "javascript:alert(1)",
                "https://",
                "https://localhost",
                "https://a b.org",
                "https://.org",
                "https://org./",
                "https://a.org/\u{7}",
                "",
            ],
        ),
        (
            "uk-postcode",
            &|raw| blank_or(&|p: &str| postcode(p).is_ok(), raw),
            &[
                "LE11 1AA",
                "le111aa",
                "M1 1AE",
                "ec1a 1bb",
                "W1A 0AX",
                "L E 1 1 1 A A",
                "LE11",
                "LE11 1A1",
                "1E11 1AA",
                "LE111 1AA",
                "-1 1AA",
                "",
            ],
        ),
        (
            "charity-number",
            &|raw| blank_or(&charity, raw),
            &[
                "1123456",
                "112345",
                "11234567",
                "112 3456",
                "SC012345",
                "sc 012345",
                "NIC12345",
                "NI123456",
                "ni 12345",
                "12345",
                "SC12345",
                "NIC1234567",
                "X123456",
                "",
            ],
        ),
        (
            "company-number",
            &|raw| blank_or(&company, raw),
            &[
                "01234567",
                "SC123456",
                "sc123456",
                " OC123456 ",
                "1234567",
                "SCX12345",
                "",
            ],
        ),
    ];
    for (format, domain, samples) in rules {
        let schema =
            serde_json::json!({"type": "string", "pattern": field_pattern(format).unwrap()});
        for sample in samples {
            assert_eq!(
                accepts(&schema, sample),
                domain(sample),
                "{format} and the domain disagree on {sample:?}"
            );
        }
    }
}
