//! `POST /v1/directory/import`: upsert a whole directory file (CSV, or Open Referral UK 3.0 JSON)
//! by external id, in one transaction. The same file twice changes nothing; a file with any bad
//! row imports nothing and says which rows and fields are wrong.

use super::require_writer;
use crate::auth::Caller;
use crate::json_body::{declared_length, media_type, read_limited, BodyLimit};
use crate::problem::ApiError;
use crate::state::AppState;
use actix_web::{post, web, HttpRequest, HttpResponse};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use waymark_domain::directory::import::{ImportRow, ImportRowError, ValidatedImport};
use waymark_domain::directory::organisation::OrganisationInput;
use waymark_domain::directory::schedule::{
    DayOfWeek, OpeningPeriod, OpeningPeriodInput, TimeOfDay, WeeklySchedule,
};
use waymark_domain::directory::service::ServiceInput;
use waymark_domain::directory::{DeliveryMode, NeedCategory};
use waymark_persistence::directory::import::{self, ImportReport, UpsertCounts};
use waymark_persistence::{commit, TenantScope};

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ImportQuery {
    /// Check the file and report what would change, without changing anything.
    pub dry_run: Option<bool>,
}

#[derive(Serialize, ToSchema)]
pub struct UpsertCountsBody {
    pub created: u32,
    pub updated: u32,
    pub unchanged: u32,
}

impl From<UpsertCounts> for UpsertCountsBody {
    fn from(c: UpsertCounts) -> Self {
        Self {
            created: c.created,
            updated: c.updated,
            unchanged: c.unchanged,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct DirectoryImportResult {
    pub dry_run: bool,
    pub organisations: UpsertCountsBody,
    pub services: UpsertCountsBody,
}

/// The CSV columns, in the order a template would have them.
pub const CSV_COLUMNS: [&str; 30] = [
    "organisation_external_id",
    "organisation_name",
    "organisation_charity_number",
    "organisation_company_number",
    "organisation_website",
    "organisation_email",
    "organisation_phone",
    "organisation_contact_name",
    "organisation_payee_reference",
    "external_id",
    "name",
    "description",
    "need_categories",
    "eligibility",
    "minimum_age",
    "maximum_age",
    "delivery_modes",
    "address",
    "postcode",
    "latitude",
    "longitude",
    "opening_times",
    "schedule",
    "capacity",
    "accepting_referrals",
    "cost_to_patient",
    "contact_email",
    "contact_phone",
    "website",
    "active",
];
const CSV_REQUIRED: [&str; 7] = [
    "organisation_external_id",
    "organisation_name",
    "external_id",
    "name",
    "description",
    "need_categories",
    "delivery_modes",
];

/// Imports services and their organisations, creating or updating them by external id.
///
/// Send `text/csv` with a header row of the columns below (lists separated by `;`, booleans as
/// `true`/`false`), or `application/json` holding an Open Referral UK 3.0 service, an array of
/// them, or a page whose `contents` holds them. Columns: organisation_external_id,
/// organisation_name, organisation_charity_number, organisation_company_number,
/// organisation_website, organisation_email, organisation_phone, organisation_contact_name,
/// organisation_payee_reference, external_id, name, description, need_categories, eligibility,
/// minimum_age, maximum_age, delivery_modes, address, postcode, latitude, longitude,
/// opening_times, schedule, capacity, accepting_referrals, cost_to_patient, contact_email,
/// contact_phone, website, active.
///
/// `minimum_age` and `maximum_age` are whole years (0 to 130). `schedule` holds the weekly
/// opening hours, UK local time: periods separated by `;`, each the days (a day, a list or a
/// range: `mon`, `mon,wed`, `mon-fri`; days may also be written in full or as `MO` to `SU`),
/// a space and the hours `HH:MM-HH:MM`, e.g. `mon-fri 09:00-12:00; sat 10:00-12:30`.
///
/// From Open Referral UK JSON, a service's `minimum_age` and `maximum_age` are read, and each
/// of its `schedules` in force today (by `valid_from` and `valid_to`) that repeats weekly
/// (`freq` WEEKLY or absent, `interval` 1 or absent) on plain `byday` days from `opens_at` to
/// `closes_at` becomes opening hours. Times may carry the UK's offsets (`Z`, `+00:00`,
/// `+01:00`), which are read as local time. Every schedule's `description` is kept in
/// opening_times; a schedule in force that is neither weekly nor described (monthly, every
/// other week, `2MO`) cannot be kept and rejects its row.
#[utoipa::path(
    tag = "directory",
    security(("bearer" = [])),
    params(ImportQuery),
    request_body(content(
        (String = "text/csv"),
        (Object = "application/json"),
    )),
    responses(
        (status = 200, description = "Imported (or, with dry_run, checked)", body = DirectoryImportResult),
        (status = 422, description = "Rows with problems; `errors[]` gives row, field and problem, and nothing was imported", body = crate::problem::Problem, content_type = "application/problem+json"),
    )
)]
#[post("/directory/import")]
pub async fn import_directory(
    req: HttpRequest,
    mut payload: web::Payload,
    state: web::Data<AppState>,
    caller: Caller,
    limit: web::Data<BodyLimit>,
    query: web::Query<ImportQuery>,
) -> Result<HttpResponse, ApiError> {
    let federation = require_writer(&caller)?;
    let media = media_type(&req);
    let body = read_limited(&mut payload, declared_length(&req), limit.0).await?;
    let (rows, mut errors) = match media.as_str() {
        "text/csv" => rows_from_csv(&body)?,
        "application/json" => rows_from_oruk(&body, chrono::Utc::now().date_naive())?,
        _ => {
            return Err(ApiError::UnsupportedMediaType(
                "send the file as text/csv or application/json".into(),
            ))
        }
    };
    if rows.is_empty() && !errors.is_empty() {
        return Err(ApiError::ImportRejected(errors));
    }
    let validated = match ValidatedImport::validate(rows) {
        Ok(validated) if errors.is_empty() => validated,
        Ok(_) => return Err(ApiError::ImportRejected(errors)),
        Err(more) => {
            errors.extend(more);
            errors.sort_by_key(|e| e.row);
            return Err(ApiError::ImportRejected(errors));
        }
    };
    let dry_run = query.dry_run.unwrap_or(false);
    let mut tx = state.begin(TenantScope::of(&caller)).await?;
    let ImportReport {
        organisations,
        services,
    } = import::apply(&mut tx, federation, &validated).await?;
    if dry_run {
        tx.rollback().await.map_err(ApiError::internal)?;
    } else {
        commit(tx).await?;
    }
    Ok(HttpResponse::Ok().json(DirectoryImportResult {
        dry_run,
        organisations: organisations.into(),
        services: services.into(),
    }))
}

fn row_error(
    row: usize,
    field: &str,
    code: &'static str,
    message: impl Into<String>,
) -> ImportRowError {
    ImportRowError {
        row,
        field: field.to_owned(),
        code,
        message: message.into(),
    }
}

/// Rows from CSV, and the fields that could not even be read (numbers, booleans, codes).
fn rows_from_csv(body: &[u8]) -> Result<(Vec<ImportRow>, Vec<ImportRowError>), ApiError> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(body);
    let headers = reader
        .headers()
        .map_err(|e| {
            ApiError::bad_request(
                "malformed_csv",
                format!("the header row cannot be read: {e}"),
            )
        })?
        .clone();
    if let Some(unknown) = headers.iter().find(|h| !CSV_COLUMNS.contains(h)) {
        return Err(ApiError::bad_request(
            "malformed_csv",
            format!(
                "unknown column {unknown:?}; columns are {}",
                CSV_COLUMNS.join(", ")
            ),
        ));
    }
    if let Some(missing) = CSV_REQUIRED
        .iter()
        .find(|c| !headers.iter().any(|h| h == **c))
    {
        return Err(ApiError::bad_request(
            "malformed_csv",
            format!("the required column {missing:?} is missing"),
        ));
    }
    let mut rows = Vec::new();
    let mut errors = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| {
            ApiError::bad_request("malformed_csv", format!("the file cannot be read: {e}"))
        })?;
        let row = record.position().map_or(0, |p| p.line() as usize);
        let text = |column: &str| {
            headers
                .iter()
                .position(|h| h == column)
                .and_then(|i| record.get(i))
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        };
        let before = errors.len();
        let list = |column: &str| -> Vec<String> {
            text(column)
                .map(|v| {
                    v.split(';')
                        .map(|s| s.trim().to_owned())
                        .filter(|s| !s.is_empty())
                        .collect()
                })
                .unwrap_or_default()
        };
        let mut need_categories = Vec::new();
        for code in list("need_categories") {
            match code.parse::<NeedCategory>() {
                Ok(category) => need_categories.push(category),
                Err(e) => errors.push(row_error(row, "need_categories", "unknown", e.to_string())),
            }
        }
        let mut delivery_modes = Vec::new();
        for code in list("delivery_modes") {
            match code.parse::<DeliveryMode>() {
                Ok(mode) => delivery_modes.push(mode),
                Err(e) => errors.push(row_error(row, "delivery_modes", "unknown", e.to_string())),
            }
        }
        let mut number = |column: &str| -> Option<f64> {
            let raw = text(column)?;
            match raw.parse::<f64>() {
                Ok(n) if n.is_finite() => Some(n),
                _ => {
                    errors.push(row_error(
                        row,
                        column,
                        "invalid_format",
                        format!("{raw:?} is not a number"),
                    ));
                    None
                }
            }
        };
        let latitude = number("latitude");
        let longitude = number("longitude");
        let capacity = number("capacity");
        let minimum_age = number("minimum_age");
        let maximum_age = number("maximum_age");
        let schedules = match WeeklySchedule::parse_text(&text("schedule").unwrap_or_default()) {
            Ok(schedule) => schedule.to_inputs(),
            Err(e) => {
                errors.push(row_error(row, "schedule", e.code, e.message));
                Vec::new()
            }
        };
        let mut flag = |column: &str, default: bool| -> bool {
            match text(column).map(|v| v.to_ascii_lowercase()).as_deref() {
                None => default,
                Some("true" | "yes" | "y" | "1") => true,
                Some("false" | "no" | "n" | "0") => false,
                Some(other) => {
                    errors.push(row_error(
                        row,
                        column,
                        "invalid_format",
                        format!("{other:?} is not true or false"),
                    ));
                    default
                }
            }
        };
        let accepting_referrals = flag("accepting_referrals", true);
        let active = flag("active", true);
        if capacity.is_some_and(|c| c.fract() != 0.0 || c > f64::from(i32::MAX)) {
            errors.push(row_error(
                row,
                "capacity",
                "invalid_format",
                "capacity must be a whole number",
            ));
        }
        if errors.len() > before {
            continue;
        }
        rows.push(ImportRow {
            row,
            organisation: OrganisationInput {
                external_id: text("organisation_external_id"),
                name: text("organisation_name").unwrap_or_default(),
                charity_number: text("organisation_charity_number"),
                company_number: text("organisation_company_number"),
                website: text("organisation_website"),
                email: text("organisation_email"),
                phone: text("organisation_phone"),
                contact_name: text("organisation_contact_name"),
                payee_reference: text("organisation_payee_reference"),
                active: true,
            },
            service: ServiceInput {
                organisation_id: None,
                external_id: text("external_id"),
                name: text("name").unwrap_or_default(),
                description: text("description").unwrap_or_default(),
                need_categories,
                eligibility: text("eligibility"),
                minimum_age,
                maximum_age,
                delivery_modes,
                address: text("address"),
                postcode: text("postcode"),
                latitude,
                longitude,
                opening_times: text("opening_times"),
                schedules,
                capacity: capacity.map(|c| c as i32),
                accepting_referrals,
                cost_to_patient: text("cost_to_patient"),
                contact_email: text("contact_email"),
                contact_phone: text("contact_phone"),
                website: text("website"),
                active,
            },
        });
    }
    Ok((rows, errors))
}

/// Rows from Open Referral UK 3.0 JSON: a service, an array of services, or a page of them.
/// Schedules are read as they stand on `today`.
fn rows_from_oruk(
    body: &[u8],
    today: NaiveDate,
) -> Result<(Vec<ImportRow>, Vec<ImportRowError>), ApiError> {
    let document: Value = serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request(
            "malformed_json",
            format!("the request body is not valid JSON: {e}"),
        )
    })?;
    let services = match &document {
        Value::Array(items) => items.clone(),
        Value::Object(page) if page.contains_key("contents") => {
            page["contents"].as_array().cloned().unwrap_or_default()
        }
        Value::Object(_) => vec![document.clone()],
        _ => {
            return Err(ApiError::bad_request(
                "malformed_json",
                "send a service, an array of services or a page of them",
            ))
        }
    };
    let mut rows = Vec::new();
    let mut errors = Vec::new();
    for (index, service) in services.iter().enumerate() {
        let row = index + 1;
        match oruk_row(row, service, today) {
            Ok(import_row) => rows.push(import_row),
            Err(problems) => errors.extend(problems),
        }
    }
    Ok((rows, errors))
}

fn oruk_row(
    row: usize,
    service: &Value,
    today: NaiveDate,
) -> Result<ImportRow, Vec<ImportRowError>> {
    let text = |value: &Value| {
        value
            .as_str()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let id_text = |value: &Value| text(value).or_else(|| value.as_i64().map(|n| n.to_string()));
    if !service.is_object() {
        return Err(vec![row_error(
            row,
            "service",
            "invalid_type",
            "each service must be a JSON object",
        )]);
    }
    let (active, accepting_referrals) = match service["status"].as_str().unwrap_or("active") {
        "active" => (true, true),
        "temporarily closed" => (true, false),
        "inactive" | "defunct" => (false, false),
        other => {
            return Err(vec![row_error(
                row,
                "status",
                "unknown",
                format!("unknown status {other:?}"),
            )])
        }
    };
    let mut problems = Vec::new();
    let mut age = |field: &str| -> Option<f64> {
        match &service[field] {
            Value::Null => None,
            Value::Number(n) => n.as_f64(),
            Value::String(s) if s.trim().is_empty() => None,
            Value::String(s) if s.trim().parse::<f64>().is_ok() => s.trim().parse().ok(),
            other => {
                problems.push(row_error(
                    row,
                    field,
                    "invalid_format",
                    format!("{other} is not a number of years"),
                ));
                None
            }
        }
    };
    let minimum_age = age("minimum_age");
    let maximum_age = age("maximum_age");
    let (schedules, opening_times) = match oruk_schedules(row, &service["schedules"], today) {
        Ok(found) => found,
        Err(more) => {
            problems.extend(more);
            (Vec::new(), None)
        }
    };
    if !problems.is_empty() {
        return Err(problems);
    }
    let organization = &service["organization"];
    let physical = service["service_at_locations"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|sal| &sal["location"])
        .find(|location| location["location_type"].as_str() != Some("virtual"));
    let has_virtual = service["service_at_locations"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|sal| sal["location"]["location_type"].as_str() == Some("virtual"));
    let mut delivery_modes = Vec::new();
    if physical.is_some() {
        delivery_modes.push(DeliveryMode::InPerson);
    }
    if has_virtual {
        delivery_modes.push(DeliveryMode::Online);
    }
    let address = physical
        .and_then(|l| l["addresses"].as_array())
        .and_then(|a| a.first());
    let need_categories = service["attributes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|attribute| {
            let term = &attribute["taxonomy_term"];
            let by_id = term["id"]
                .as_str()
                .and_then(|id| id.parse().ok())
                .and_then(NeedCategory::from_term_id);
            let by_code = term["term"].as_str().and_then(|code| code.parse().ok());
            let by_name = term["name"].as_str().and_then(|name| {
                NeedCategory::ALL
                    .into_iter()
                    .find(|c| c.name().eq_ignore_ascii_case(name))
            });
            by_id.or(by_code).or(by_name)
        })
        .collect();
    let fees = text(&service["fees"]).or_else(|| {
        service["cost_options"]
            .as_array()
            .and_then(|o| o.first())
            .and_then(|o| text(&o["amount_description"]).or_else(|| text(&o["option"])))
    });
    Ok(ImportRow {
        row,
        organisation: OrganisationInput {
            external_id: id_text(&organization["id"]),
            name: text(&organization["name"]).unwrap_or_default(),
            website: text(&organization["website"]).or_else(|| text(&organization["url"])),
            email: text(&organization["email"]),
            active: true,
            ..Default::default()
        },
        service: ServiceInput {
            organisation_id: None,
            external_id: id_text(&service["id"]),
            name: text(&service["name"]).unwrap_or_default(),
            description: text(&service["description"]).unwrap_or_default(),
            need_categories,
            eligibility: None,
            minimum_age,
            maximum_age,
            delivery_modes,
            address: address.map(|a| {
                [&a["address_1"], &a["city"]]
                    .iter()
                    .filter_map(|v| text(v))
                    .collect::<Vec<_>>()
                    .join("\n")
            }),
            postcode: address.and_then(|a| text(&a["postal_code"])),
            latitude: physical.and_then(|l| l["latitude"].as_f64()),
            longitude: physical.and_then(|l| l["longitude"].as_f64()),
            opening_times,
            schedules,
            capacity: None,
            accepting_referrals,
            cost_to_patient: fees,
            contact_email: text(&service["email"]),
            contact_phone: None,
            website: text(&service["url"]),
            active,
        },
    })
}

/// A service's Open Referral schedules as Waymark keeps them: the weekly opening periods of
/// those in force on `today`, and their descriptions as one text (see [`import_directory`]).
fn oruk_schedules(
    row: usize,
    schedules: &Value,
    today: NaiveDate,
) -> Result<(Vec<OpeningPeriodInput>, Option<String>), Vec<ImportRowError>> {
    let mut problems = Vec::new();
    let mut periods = Vec::new();
    let mut descriptions: Vec<String> = Vec::new();
    let entries = match schedules {
        Value::Null => &[][..],
        Value::Array(entries) => entries.as_slice(),
        _ => {
            return Err(vec![row_error(
                row,
                "schedules",
                "invalid_type",
                "schedules must be an array",
            )])
        }
    };
    for (k, schedule) in entries.iter().enumerate() {
        let field = |name: &str| format!("schedules[{k}].{name}");
        let text = |name: &str| {
            schedule[name]
                .as_str()
                .map(str::trim)
                .filter(|s| !s.is_empty())
        };
        let mut fail = |name: &str, code: &'static str, message: String| {
            problems.push(row_error(row, &field(name), code, message))
        };
        let mut date = |name: &str| {
            let raw = text(name)?;
            NaiveDate::parse_from_str(raw, "%Y-%m-%d")
                .map_err(|_| {
                    fail(
                        name,
                        "invalid_format",
                        format!("{raw:?} is not a date as YYYY-MM-DD"),
                    )
                })
                .ok()
        };
        let (valid_from, valid_to) = (date("valid_from"), date("valid_to"));
        if valid_from.is_some_and(|from| from > today) || valid_to.is_some_and(|to| to < today) {
            continue;
        }
        let description = text("description");
        if let Some(description) = description {
            if !descriptions.iter().any(|d| d == description) {
                descriptions.push(description.to_owned());
            }
        }
        let (byday, opens, closes) = (text("byday"), text("opens_at"), text("closes_at"));
        if byday.is_none() && opens.is_none() && closes.is_none() {
            continue;
        }
        let weekly = text("freq").is_none_or(|f| f.eq_ignore_ascii_case("WEEKLY"))
            && match &schedule["interval"] {
                Value::Null => true,
                interval => interval.as_f64() == Some(1.0) || interval.as_str() == Some("1"),
            };
        let days: Option<Vec<DayOfWeek>> = byday.and_then(|byday| {
            byday
                .split(',')
                .map(|d| d.trim().parse::<DayOfWeek>().ok())
                .collect()
        });
        let (Some(days), Some(opens), Some(closes), true) = (days, opens, closes, weekly) else {
            if description.is_none() {
                fail(
                    "",
                    "unsupported",
                    "only a schedule that repeats every week on given days from opens_at to \
                     closes_at can be kept as opening hours; give this one a description to keep \
                     it as text"
                        .into(),
                );
            }
            continue;
        };
        let mut time = |name: &str, raw: &str| {
            uk_local_time(raw)
                .map_err(|message| fail(name, "invalid_format", message))
                .ok()
        };
        let (Some(opens_at), Some(closes_at)) =
            (time("opens_at", opens), time("closes_at", closes))
        else {
            continue;
        };
        for day in days {
            match OpeningPeriod::new(day, opens_at, closes_at) {
                Ok(period) => periods.push(period),
                Err(e) => {
                    fail("closes_at", e.code, e.message);
                    break;
                }
            }
        }
    }
    // The row's field names the schedule itself, not one of its parts.
    for problem in &mut problems {
        problem.field = problem.field.trim_end_matches('.').to_owned();
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    let schedule = WeeklySchedule::from_periods(periods)
        .map_err(|e| vec![row_error(row, "schedules", e.code, e.message)])?;
    let opening_times = (!descriptions.is_empty()).then(|| descriptions.join("\n"));
    Ok((schedule.to_inputs(), opening_times))
}

/// A time of an Open Referral schedule as UK local time: `HH:MM` or `HH:MM:SS`, optionally with
/// one of the UK's two offsets from UTC, which say no more than that the time is local.
fn uk_local_time(raw: &str) -> Result<TimeOfDay, String> {
    let local = ["Z", "+00:00", "+01:00"]
        .iter()
        .find_map(|offset| raw.strip_suffix(offset))
        .unwrap_or(raw);
    if local.contains(['+', '-']) {
        return Err(format!(
            "{raw:?} names a time zone other than the UK's; give UK local times"
        ));
    }
    TimeOfDay::parse(local).map_err(|e| e.message)
}
