//! Patients of a practice: registered by clinicians and practice administrators, read by the
//! practice's staff. Every read and write is recorded in the audit log.

use super::{actor, authorise, Partition};
use crate::auth::Caller;
use crate::concurrency::{with_etag, IfMatch, IfMatchHeader};
use crate::json_body::{apply_change, JsonBody};
use crate::pagination::{Page, PageRequest};
use crate::problem::ApiError;
use crate::state::AppState;
use actix_web::http::header;
use actix_web::{get, patch, post, web, HttpRequest, HttpResponse};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use waymark_domain::pathway::access::PracticeAction;
use waymark_domain::pathway::demographics::Sex;
use waymark_domain::pathway::patient::{Consent, NewPatient, PatientDetails, PatientInput};
use waymark_domain::pathway::NhsNumber;
use waymark_persistence::audit::{self, Access, Action};
use waymark_persistence::commit;
use waymark_persistence::pathway::patients::{self, PatientRecord};

/// What the patient agreed may be shared.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsentBody {
    /// The provider may see the patient's name.
    #[serde(default)]
    pub share_name_with_providers: bool,
    /// The provider may see the patient's telephone number and email address.
    #[serde(default)]
    pub share_contact_with_providers: bool,
    /// The details of the referral (what matters to them, concerns, goals, support, wellbeing
    /// scores, outcome notes) may leave the practice's records, in the message back to the GP
    /// and referrer and the FHIR export; without it those carry the coded events only.
    #[serde(default)]
    pub share_beyond_practice: bool,
}

impl From<ConsentBody> for Consent {
    fn from(c: ConsentBody) -> Self {
        Consent {
            share_name_with_providers: c.share_name_with_providers,
            share_contact_with_providers: c.share_contact_with_providers,
            share_beyond_practice: c.share_beyond_practice,
        }
    }
}

/// Changes to consent: a flag left out keeps its current value.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsentChangesBody {
    pub share_name_with_providers: Option<bool>,
    pub share_contact_with_providers: Option<bool>,
    pub share_beyond_practice: Option<bool>,
}

#[derive(Serialize, ToSchema)]
pub struct Patient {
    pub id: Uuid,
    pub practice_id: Uuid,
    /// Ten digits, no spaces.
    #[schema(example = "9434765919")]
    pub nhs_number: String,
    pub given_name: String,
    pub family_name: String,
    pub date_of_birth: NaiveDate,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub address: Option<String>,
    pub postcode: Option<String>,
    /// Phenotypic sex (NHS Data Dictionary), when recorded.
    #[schema(schema_with = crate::schemas::optional_sex)]
    pub sex: Option<String>,
    /// The NHS ethnic category code, when recorded.
    #[schema(schema_with = crate::schemas::optional_ethnic_category)]
    pub ethnic_category: Option<String>,
    /// The Index of Multiple Deprivation decile of where the patient lives (1 most deprived),
    /// when supplied.
    #[schema(minimum = 1, maximum = 10)]
    pub imd_decile: Option<i16>,
    pub consent: ConsentBody,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<PatientRecord> for Patient {
    fn from(r: PatientRecord) -> Self {
        Self {
            id: r.id,
            practice_id: r.practice_id,
            nhs_number: r.nhs_number,
            given_name: r.given_name,
            family_name: r.family_name,
            date_of_birth: r.date_of_birth,
            email: r.email,
            phone: r.phone,
            address: r.address,
            postcode: r.postcode,
            sex: r.sex,
            ethnic_category: r.ethnic_category,
            imd_decile: r.imd_decile,
            consent: ConsentBody {
                share_name_with_providers: r.share_name_with_providers,
                share_contact_with_providers: r.share_contact_with_providers,
                share_beyond_practice: r.share_beyond_practice,
            },
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPatientBody {
    /// Ten digits with a valid Modulus 11 check digit; spaces and hyphens are ignored. Unique
    /// within the practice.
    #[schema(schema_with = crate::schemas::nhs_number)]
    pub nhs_number: String,
    #[schema(format = "line", max_length = 100)]
    pub given_name: String,
    #[schema(format = "line", max_length = 100)]
    pub family_name: String,
    pub date_of_birth: NaiveDate,
    #[schema(format = Email)]
    pub email: Option<String>,
    #[schema(format = "phone", max_length = 30)]
    pub phone: Option<String>,
    #[schema(format = "line-or-blank", max_length = 300)]
    pub address: Option<String>,
    /// A UK postcode.
    #[schema(format = "uk-postcode")]
    pub postcode: Option<String>,
    /// Phenotypic sex (NHS Data Dictionary).
    #[schema(schema_with = crate::schemas::optional_sex)]
    pub sex: Option<Sex>,
    /// An NHS ethnic category code (`A` White British … `S` any other ethnic group, `Z` not
    /// stated, `99` not known).
    #[schema(schema_with = crate::schemas::optional_ethnic_category)]
    pub ethnic_category: Option<String>,
    /// The Index of Multiple Deprivation decile of the patient's postcode, 1 (most deprived) to
    /// 10, as the practice's system derives it.
    #[schema(minimum = 1, maximum = 10)]
    pub imd_decile: Option<i64>,
    /// Absent means no consent to share anything.
    #[serde(default)]
    pub consent: ConsentBody,
}

/// Fields to change; absent fields stay as they are, `null` clears an optional one. The NHS
/// number never changes.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatientChangesBody {
    #[schema(format = "line", max_length = 100)]
    pub given_name: Option<String>,
    #[schema(format = "line", max_length = 100)]
    pub family_name: Option<String>,
    pub date_of_birth: Option<NaiveDate>,
    #[serde(default, deserialize_with = "crate::json_body::absent_or_nullable")]
    #[schema(value_type = Option<String>, format = Email)]
    pub email: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::json_body::absent_or_nullable")]
    #[schema(format = "phone", value_type = Option<String>, max_length = 30)]
    pub phone: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::json_body::absent_or_nullable")]
    #[schema(format = "line-or-blank", value_type = Option<String>, max_length = 300)]
    pub address: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::json_body::absent_or_nullable")]
    #[schema(format = "uk-postcode", value_type = Option<String>)]
    pub postcode: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::json_body::absent_or_nullable")]
    #[schema(schema_with = crate::schemas::optional_sex)]
    pub sex: Option<Option<Sex>>,
    #[serde(default, deserialize_with = "crate::json_body::absent_or_nullable")]
    #[schema(schema_with = crate::schemas::optional_ethnic_category)]
    pub ethnic_category: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::json_body::absent_or_nullable")]
    #[schema(value_type = Option<i64>, minimum = 1, maximum = 10)]
    pub imd_decile: Option<Option<i64>>,
    pub consent: Option<ConsentChangesBody>,
}

impl From<NewPatientBody> for PatientInput {
    fn from(b: NewPatientBody) -> Self {
        PatientInput {
            nhs_number: b.nhs_number,
            given_name: b.given_name,
            family_name: b.family_name,
            date_of_birth: b.date_of_birth,
            email: b.email,
            phone: b.phone,
            address: b.address,
            postcode: b.postcode,
            sex: b.sex,
            ethnic_category: b.ethnic_category,
            imd_decile: b.imd_decile,
            consent: b.consent.into(),
        }
    }
}

impl PatientChangesBody {
    /// The patient as `current`, with these changes.
    fn apply(self, current: PatientRecord) -> PatientInput {
        let mut input = PatientInput {
            nhs_number: current.nhs_number,
            given_name: current.given_name,
            family_name: current.family_name,
            date_of_birth: current.date_of_birth,
            email: current.email,
            phone: current.phone,
            address: current.address,
            postcode: current.postcode,
            sex: current.sex.as_deref().and_then(|s| s.parse().ok()),
            ethnic_category: current.ethnic_category,
            imd_decile: current.imd_decile.map(i64::from),
            consent: Consent {
                share_name_with_providers: current.share_name_with_providers,
                share_contact_with_providers: current.share_contact_with_providers,
                share_beyond_practice: current.share_beyond_practice,
            },
        };
        apply_change(&mut input.given_name, self.given_name);
        apply_change(&mut input.family_name, self.family_name);
        apply_change(&mut input.date_of_birth, self.date_of_birth);
        apply_change(&mut input.email, self.email);
        apply_change(&mut input.phone, self.phone);
        apply_change(&mut input.address, self.address);
        apply_change(&mut input.postcode, self.postcode);
        apply_change(&mut input.sex, self.sex);
        apply_change(&mut input.ethnic_category, self.ethnic_category);
        apply_change(&mut input.imd_decile, self.imd_decile);
        if let Some(consent) = self.consent {
            apply_change(
                &mut input.consent.share_name_with_providers,
                consent.share_name_with_providers,
            );
            apply_change(
                &mut input.consent.share_contact_with_providers,
                consent.share_contact_with_providers,
            );
            apply_change(
                &mut input.consent.share_beyond_practice,
                consent.share_beyond_practice,
            );
        }
        input
    }
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PatientListQuery {
    /// Only the patient with this NHS number: ten digits (spaces and hyphens are ignored) with
    /// a valid Modulus 11 check digit.
    #[param(schema_with = crate::schemas::nhs_number)]
    pub nhs_number: Option<String>,
    /// Page size, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
    /// `next_cursor` from the previous page.
    pub cursor: Option<String>,
}

fn access(p: Partition, record: &PatientRecord) -> Access {
    Access {
        practice: p.practice,
        patient: record.id,
        resource_type: "patient",
        resource: record.id,
    }
}

fn respond(builder: actix_web::HttpResponseBuilder, record: PatientRecord) -> HttpResponse {
    with_etag(builder, record.version).json(Patient::from(record))
}

/// Registers a patient at the practice (clinicians and practice administrators).
#[utoipa::path(
    tag = "patients",
    security(("bearer" = [])),
    params(("practice_id" = Uuid, Path, description = "The practice")),
    request_body = NewPatientBody,
    responses(
        (status = 201, description = "Registered", body = Patient, headers(("Location" = String), ("ETag" = String))),
        (status = 409, description = "A patient with this NHS number is already registered here (`already_exists`)"),
    )
)]
#[post("/practices/{practice_id}/patients")]
pub async fn create_patient(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    path: web::Path<Uuid>,
    body: JsonBody<NewPatientBody>,
) -> Result<HttpResponse, ApiError> {
    let p = authorise(&caller, path.into_inner(), PracticeAction::WritePatients)?;
    let new = NewPatient::parse(body.0.into(), Utc::now().date_naive())?;
    let mut tx = super::begin(&state, &caller, p).await?;
    let record = patients::create(
        &mut tx,
        p.federation,
        p.practice,
        Uuid::now_v7(),
        caller.subject,
        &new,
    )
    .await?;
    audit::record(
        &mut tx,
        p.federation,
        &actor(&caller, &req),
        Action::Create,
        &[access(p, &record)],
    )
    .await?;
    commit(tx).await?;
    let mut created = HttpResponse::Created();
    created.insert_header((
        header::LOCATION,
        format!("/v1/practices/{}/patients/{}", p.practice, record.id),
    ));
    Ok(respond(created, record))
}

/// The practice's patients, oldest registration first; `nhs_number` finds one patient.
#[utoipa::path(
    tag = "patients",
    security(("bearer" = [])),
    params(("practice_id" = Uuid, Path, description = "The practice"), PatientListQuery),
    responses((status = 200, description = "A page of patients", body = Page<Patient>))
)]
#[get("/practices/{practice_id}/patients")]
pub async fn list_patients(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    path: web::Path<Uuid>,
    query: web::Query<PatientListQuery>,
) -> Result<HttpResponse, ApiError> {
    let p = authorise(&caller, path.into_inner(), PracticeAction::ReadPatients)?;
    let page = PageRequest::parse(query.limit, query.cursor.as_deref())?;
    let nhs_number = query
        .nhs_number
        .as_deref()
        .map(NhsNumber::parse)
        .transpose()
        .map_err(|e| {
            ApiError::bad_request(
                "invalid_query_parameter",
                format!("nhs_number: {}", e.message),
            )
        })?;
    let mut tx = super::begin(&state, &caller, p).await?;
    let rows = patients::list(
        &mut tx,
        p.federation,
        p.practice,
        nhs_number.as_ref().map(NhsNumber::as_str),
        page.after,
        page.probe(),
    )
    .await?;
    let page = page.page(rows, |r| r.id, Patient::from);
    let accesses: Vec<Access> = page
        .items
        .iter()
        .map(|patient| Access {
            practice: p.practice,
            patient: patient.id,
            resource_type: "patient",
            resource: patient.id,
        })
        .collect();
    audit::record(
        &mut tx,
        p.federation,
        &actor(&caller, &req),
        Action::Read,
        &accesses,
    )
    .await?;
    commit(tx).await?;
    Ok(HttpResponse::Ok().json(page))
}

/// One patient, with its `ETag`.
#[utoipa::path(
    tag = "patients",
    security(("bearer" = [])),
    params(
        ("practice_id" = Uuid, Path, description = "The practice"),
        ("patient_id" = Uuid, Path, description = "The patient"),
    ),
    responses((status = 200, description = "The patient", body = Patient, headers(("ETag" = String))))
)]
#[get("/practices/{practice_id}/patients/{patient_id}")]
pub async fn get_patient(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    path: web::Path<(Uuid, Uuid)>,
) -> Result<HttpResponse, ApiError> {
    let (practice, patient) = path.into_inner();
    let p = authorise(&caller, practice, PracticeAction::ReadPatients)?;
    let mut tx = super::begin(&state, &caller, p).await?;
    let record = patients::find(&mut tx, p.federation, p.practice, patient).await?;
    audit::record(
        &mut tx,
        p.federation,
        &actor(&caller, &req),
        Action::Read,
        &[access(p, &record)],
    )
    .await?;
    commit(tx).await?;
    Ok(respond(HttpResponse::Ok(), record))
}

/// Updates a patient's details or consent (clinicians and practice administrators). Needs
/// `If-Match`.
#[utoipa::path(
    tag = "patients",
    security(("bearer" = [])),
    params(
        ("practice_id" = Uuid, Path, description = "The practice"),
        ("patient_id" = Uuid, Path, description = "The patient"),
        IfMatchHeader,
    ),
    request_body = PatientChangesBody,
    responses((status = 200, description = "Updated", body = Patient, headers(("ETag" = String))))
)]
#[patch("/practices/{practice_id}/patients/{patient_id}")]
pub async fn update_patient(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    path: web::Path<(Uuid, Uuid)>,
    if_match: IfMatch,
    body: JsonBody<PatientChangesBody>,
) -> Result<HttpResponse, ApiError> {
    let (practice, patient) = path.into_inner();
    let p = authorise(&caller, practice, PracticeAction::WritePatients)?;
    let expected = if_match.version()?;
    let mut tx = super::begin(&state, &caller, p).await?;
    let current = patients::find(&mut tx, p.federation, p.practice, patient).await?;
    let details = PatientDetails::parse(body.0.apply(current), Utc::now().date_naive())?;
    let record = patients::update(
        &mut tx,
        p.federation,
        p.practice,
        patient,
        expected,
        &details,
    )
    .await?;
    audit::record(
        &mut tx,
        p.federation,
        &actor(&caller, &req),
        Action::Update,
        &[access(p, &record)],
    )
    .await?;
    commit(tx).await?;
    Ok(respond(HttpResponse::Ok(), record))
}
