//! Who may use which pathway route, written out as a table of role by route and checked against
//! real data; a clinician guessing another practice's ids under their own practice's path; what
//! a provider sees of a patient under each combination of consent; and signposting, which is
//! never sent to the provider.

use crate::helpers::{assert_problem, spawn_app, TestApp};
use crate::journey::{
    cleared_volunteer, get, json_of, post, provider_service, seen_referral, Practice,
};
use crate::pathway::{nhs_number, refer};
use chrono::{Duration, DurationRound, Utc};
use reqwest::{Method, Response};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use uuid::Uuid;
use waymark_domain::{Role, ServiceScope};

/// The class of answer a caller should get from a route.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expect {
    /// Anything but 401, 403 and 404 (and no 5xx): the caller got past authorisation, even if
    /// the minimal body then fails validation (422) or the state machine (409), or the ETag
    /// is stale (412).
    Allowed,
    /// 403 problem+json with code `forbidden`.
    Forbidden,
    /// 404 problem+json with code `not_found`, exactly as if nothing were there.
    NotFound,
}

const A: Expect = Expect::Allowed;
const F: Expect = Expect::Forbidden;
const N: Expect = Expect::NotFound;

/// The callers, in the order of the table's columns.
const CALLERS: [&str; 8] = [
    "clinician",
    "volunteer",
    "practice_admin",
    "federation_admin",
    "commissioner",
    "provider",
    "service_account",
    "other_practice_clinician",
];

/// One route of the table: the OpenAPI path template, a minimal well-formed body, and what
/// each caller (in `CALLERS` order) should get.
struct Row {
    method: Method,
    template: &'static str,
    body: Option<Value>,
    expect: [Expect; 8],
}

fn row(method: Method, template: &'static str, body: Option<Value>, expect: [Expect; 8]) -> Row {
    Row {
        method,
        template,
        body,
        expect,
    }
}

/// A federation's two practices, the first with its staff's tokens.
async fn two_practices(app: &TestApp, slug: &str) -> (Practice, Practice) {
    let fed = app.create_federation(slug).await;
    let staff = |id: Uuid| Practice {
        federation: fed.id,
        id,
        clinician: app.as_role(Role::Clinician, fed.id, Some(id)),
        volunteer: app.as_role(Role::Volunteer, fed.id, Some(id)),
        admin: app.as_role(Role::PracticeAdmin, fed.id, Some(id)),
    };
    (staff(fed.practices[0]), staff(fed.practices[1]))
}

/// A clinic session `days` ahead, `hours` long, run by `volunteer`: its id and its slots' ids.
async fn clinic_session(
    app: &TestApp,
    p: &Practice,
    volunteer: Uuid,
    days: i64,
    hours: i64,
) -> (Uuid, Vec<Uuid>) {
    let starts = (Utc::now() + Duration::days(days))
        .duration_trunc(Duration::hours(1))
        .unwrap();
    let session = json_of(
        post(
            app,
            &p.admin,
            &format!("/v1/practices/{}/clinic-sessions", p.id),
            json!({"starts_at": starts, "ends_at": starts + Duration::hours(hours), "location": "Room 3", "volunteer_ids": [volunteer]}),
        )
        .await,
        201,
    )
    .await;
    let slots = session["slots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().parse().unwrap())
        .collect();
    (session["id"].as_str().unwrap().parse().unwrap(), slots)
}

fn uuid_of(body: &Value) -> Uuid {
    body["id"].as_str().unwrap().parse().unwrap()
}

/// Sends a request as `token`, with `If-Match: "1"` on PATCH and a fresh `Idempotency-Key`
/// on POST (the routes that do not take one ignore it).
async fn send(
    app: &TestApp,
    token: &str,
    method: Method,
    path: &str,
    body: Option<&Value>,
) -> Response {
    let mut request = app.request(method.clone(), path).bearer_auth(token);
    if method == Method::PATCH {
        request = request.header("If-Match", "\"1\"");
    }
    if method == Method::POST {
        request = request.header("Idempotency-Key", Uuid::now_v7().to_string());
    }
    if let Some(body) = body {
        request = request.json(body);
    }
    request.send().await.unwrap()
}

/// The status and problem `code` (if any) of a response, and whether it was problem+json.
async fn outcome(response: Response) -> (u16, Option<String>, bool) {
    let status = response.status().as_u16();
    let problem = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t == "application/problem+json");
    let body: Value = response.json().await.unwrap_or(Value::Null);
    let code = body["code"].as_str().map(str::to_owned);
    (status, code, problem)
}

/// Checks one cell; answers a description of the mismatch, if any.
fn judge(expect: Expect, status: u16, code: Option<&str>, problem: bool) -> Option<String> {
    let ok = match expect {
        Expect::Allowed => !matches!(status, 401 | 403 | 404) && status < 500,
        Expect::Forbidden => status == 403 && problem && code == Some("forbidden"),
        Expect::NotFound => status == 404 && problem && code == Some("not_found"),
    };
    (!ok).then(|| {
        format!(
            "expected {expect:?}, got {status} {}{}",
            code.unwrap_or("(no problem code)"),
            if problem || status < 400 {
                ""
            } else {
                " (not problem+json)"
            }
        )
    })
}

/// The pathway routes of the checked-in OpenAPI document, as `METHOD path`.
fn documented_pathway_routes() -> BTreeSet<String> {
    let document: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/openapi.json"))
            .unwrap(),
    )
    .unwrap();
    let mut routes = BTreeSet::new();
    for (path, item) in document["paths"].as_object().unwrap() {
        if !(path.starts_with("/v1/practices/{practice_id}/")
            || path.starts_with("/v1/provider/onward-referrals"))
        {
            continue;
        }
        for method in ["get", "post", "put", "patch", "delete"] {
            if item.get(method).is_some() {
                routes.insert(format!("{} {path}", method.to_uppercase()));
            }
        }
    }
    routes
}

#[tokio::test]
async fn every_pathway_route_answers_each_role_as_the_roles_table_says() {
    let app = spawn_app().await;
    let (p, other) = two_practices(&app, "matrix").await;
    let (service, provider, _) = provider_service(&app, p.federation, true).await;

    // Real data, so that every path names something that exists.
    let (patient, referral) = seen_referral(&app, &p, 1).await;
    let base = format!("/v1/practices/{}/referrals/{referral}", p.id);
    json_of(
        post(
            &app,
            &p.volunteer,
            &format!("{base}/assessment"),
            json!({"need_categories": ["physical_activity"], "what_matters": "Getting out more"}),
        )
        .await,
        201,
    )
    .await;
    let onward = uuid_of(
        &json_of(
            post(
                &app,
                &p.volunteer,
                &format!("{base}/onward-referrals"),
                json!({"service_id": service}),
            )
            .await,
            201,
        )
        .await,
    );
    // A second one for the practice's withdrawal route, so that the provider's routes keep a
    // live onward referral.
    let withdrawable = uuid_of(
        &json_of(
            post(
                &app,
                &p.volunteer,
                &format!("{base}/onward-referrals"),
                json!({"service_id": service}),
            )
            .await,
            201,
        )
        .await,
    );
    json_of(
        post(
            &app,
            &p.clinician,
            &format!("{base}/case-notes"),
            json!({"body": "First meeting went well"}),
        )
        .await,
        201,
    )
    .await;
    let concern = uuid_of(
        &json_of(
            post(
                &app,
                &p.volunteer,
                &format!("{base}/safeguarding-concerns"),
                json!({"summary": "Unsteady on their feet", "details": "Nearly fell on the stairs."}),
            )
            .await,
            201,
        )
        .await,
    );
    let volunteer = cleared_volunteer(&app, &p, "Matrix volunteer").await;
    let (session, slots) = clinic_session(&app, &p, volunteer, 14, 1).await;
    let slot = slots[0];

    let tokens: [String; 8] = [
        p.clinician.clone(),
        p.volunteer.clone(),
        p.admin.clone(),
        app.as_role(Role::FederationAdmin, p.federation, None),
        app.as_role(Role::Commissioner, p.federation, None),
        provider.clone(),
        // Every scope but the two that open a door of a practice: referrals:read (checked in
        // `pathway::a_referrals_read_account_reads_referrals_and_nothing_else_of_a_practice`)
        // and gp_coding:write (in `gp_record::…coding_queue…`).
        app.as_service_account(
            p.federation,
            &ServiceScope::ALL
                .into_iter()
                .filter(|s| !matches!(s, ServiceScope::ReferralsRead | ServiceScope::GpCodingWrite))
                .collect::<Vec<_>>(),
        )
        .await,
        other.clinician.clone(),
    ];

    let today = Utc::now().date_naive();
    let later = (Utc::now() + Duration::days(21))
        .duration_trunc(Duration::hours(1))
        .unwrap();
    use Method as M;
    // Columns: clinician, volunteer, practice_admin, federation_admin, commissioner, provider,
    // service_account, other_practice_clinician.
    //
    // Commissioners ("never a patient-level row"), providers (who reach patients only through
    // their onward referrals), service accounts and another practice's staff get 404 for all
    // of a practice's partition (README, "The pathway"). On the provider's own routes everyone
    // but a provider user gets 403: a role that may never use a route is refused whatever the
    // id (ARCHITECTURE.md).
    //
    // Where a cell follows access.rs rather than a literal reading of DESIGN.md's roles table,
    // a comment says why the code's rule stands.
    let table = vec![
        // Audit: practice admins only. DESIGN.md says federation admins "read everything in
        // the federation", but the README gives the audit log to practice admins and access.rs
        // keeps it from federation admins: the log of who read which patient belongs to the
        // practice, so the narrower rule stands.
        row(M::GET, "/v1/practices/{practice_id}/audit-events", None, [F, F, A, F, N, N, N, N]),
        // Clinics: read by the practice's staff, scheduled by practice admins, and kept by
        // federation admins for every practice.
        row(M::GET, "/v1/practices/{practice_id}/clinic-sessions", None, [A, A, A, A, N, N, N, N]),
        row(
            M::POST,
            "/v1/practices/{practice_id}/clinic-sessions",
            Some(json!({"starts_at": later, "ends_at": later + Duration::hours(1), "location": "Room 4", "volunteer_ids": [volunteer]})),
            [F, F, A, A, N, N, N, N],
        ),
        row(M::GET, "/v1/practices/{practice_id}/clinic-sessions/{session_id}", None, [A, A, A, A, N, N, N, N]),
        row(
            M::POST,
            "/v1/practices/{practice_id}/clinic-sessions/{session_id}/volunteers",
            Some(json!({"volunteer_id": volunteer})),
            [F, F, A, A, N, N, N, N],
        ),
        row(
            M::DELETE,
            "/v1/practices/{practice_id}/clinic-sessions/{session_id}/volunteers/{volunteer_id}",
            None,
            [F, F, A, A, N, N, N, N],
        ),
        // Attendance: volunteers run the clinic. access.rs also lets practice admins record
        // it (the front desk sees who came), which is practice staff doing practice work; a
        // federation admin keeps clinics but does not record what happened to a patient.
        row(
            M::POST,
            "/v1/practices/{practice_id}/clinic-slots/{slot_id}/attendance",
            Some(json!({"attendance": "attended"})),
            [F, A, A, F, N, N, N, N],
        ),
        // Bookings: volunteers, and (access.rs) the clinician following their referral and the
        // practice admin; not the federation admin, as booking moves a patient's referral.
        row(
            M::POST,
            "/v1/practices/{practice_id}/clinic-slots/{slot_id}/booking",
            Some(json!({"referral_id": referral})),
            [A, A, A, F, N, N, N, N],
        ),
        // GP appointment counts: entered or imported by clinicians and practice admins.
        row(
            M::POST,
            "/v1/practices/{practice_id}/gp-appointment-counts/import",
            Some(json!({"counts": [{"referral_id": referral, "window": "before", "period_start": today - Duration::days(90), "period_end": today, "appointments": 4}]})),
            [A, F, A, F, N, N, N, N],
        ),
        // Patients: registered and updated by clinicians and practice admins; read by the
        // practice's staff and by federation admins.
        row(M::GET, "/v1/practices/{practice_id}/patients", None, [A, A, A, A, N, N, N, N]),
        row(
            M::POST,
            "/v1/practices/{practice_id}/patients",
            Some(json!({"nhs_number": nhs_number(900), "given_name": "Matrix", "family_name": "Patient", "date_of_birth": "1960-01-01"})),
            [A, F, A, F, N, N, N, N],
        ),
        row(M::GET, "/v1/practices/{practice_id}/patients/{patient_id}", None, [A, A, A, A, N, N, N, N]),
        row(
            M::PATCH,
            "/v1/practices/{practice_id}/patients/{patient_id}",
            Some(json!({"given_name": "Ada"})),
            [A, F, A, F, N, N, N, N],
        ),
        // Referrals: made by clinicians only.
        row(
            M::POST,
            "/v1/practices/{practice_id}/patients/{patient_id}/referrals",
            Some(json!({"need_categories": ["housing"]})),
            [A, F, F, F, N, N, N, N],
        ),
        row(M::GET, "/v1/practices/{practice_id}/referrals", None, [A, A, A, A, N, N, N, N]),
        row(M::GET, "/v1/practices/{practice_id}/referrals/export", None, [A, A, A, A, N, N, N, N]),
        row(M::GET, "/v1/practices/{practice_id}/referrals/{referral_id}", None, [A, A, A, A, N, N, N, N]),
        // Assessments and wellbeing: done by volunteers and clinicians, read with the referral.
        row(M::GET, "/v1/practices/{practice_id}/referrals/{referral_id}/assessment", None, [A, A, A, A, N, N, N, N]),
        row(
            M::POST,
            "/v1/practices/{practice_id}/referrals/{referral_id}/assessment",
            Some(json!({"need_categories": ["housing"], "what_matters": "A warm home"})),
            [A, A, F, F, N, N, N, N],
        ),
        // Case notes: DESIGN.md says "practice roles only", the README "clinicians and
        // volunteers only"; access.rs follows the README and keeps them from practice admins
        // too (least privilege: an administrator's job needs no clinical notes). Never a
        // federation admin.
        row(M::GET, "/v1/practices/{practice_id}/referrals/{referral_id}/case-notes", None, [A, A, F, F, N, N, N, N]),
        row(
            M::POST,
            "/v1/practices/{practice_id}/referrals/{referral_id}/case-notes",
            Some(json!({"body": "Matrix note"})),
            [A, A, F, F, N, N, N, N],
        ),
        row(M::GET, "/v1/practices/{practice_id}/referrals/{referral_id}/gp-appointment-counts", None, [A, A, A, A, N, N, N, N]),
        row(
            M::PUT,
            "/v1/practices/{practice_id}/referrals/{referral_id}/gp-appointment-counts/{window}",
            Some(json!({"period_start": today - Duration::days(90), "period_end": today, "appointments": 3})),
            [A, F, A, F, N, N, N, N],
        ),
        row(M::GET, "/v1/practices/{practice_id}/referrals/{referral_id}/history", None, [A, A, A, A, N, N, N, N]),
        // The coding queue: filed in the GP record by the practice's clinicians and
        // administrators.
        row(M::GET, "/v1/practices/{practice_id}/gp-coding-queue", None, [A, F, A, F, N, N, N, N]),
        row(
            M::POST,
            "/v1/practices/{practice_id}/gp-coding-queue/acknowledgements",
            Some(json!({"ids": [Uuid::now_v7()]})),
            [A, F, A, F, N, N, N, N],
        ),
        // The message back to the GP and the FHIR export: read with the referral's details.
        row(M::GET, "/v1/practices/{practice_id}/referrals/{referral_id}/gp-message", None, [A, A, A, A, N, N, N, N]),
        row(M::GET, "/v1/practices/{practice_id}/referrals/{referral_id}/fhir", None, [A, A, A, A, N, N, N, N]),
        // Onward referrals: made (and withdrawn) by volunteers and clinicians.
        row(M::GET, "/v1/practices/{practice_id}/referrals/{referral_id}/onward-referrals", None, [A, A, A, A, N, N, N, N]),
        row(
            M::POST,
            "/v1/practices/{practice_id}/referrals/{referral_id}/onward-referrals",
            Some(json!({"service_id": service, "note": "From the matrix"})),
            [A, A, F, F, N, N, N, N],
        ),
        row(
            M::POST,
            "/v1/practices/{practice_id}/referrals/{referral_id}/onward-referrals/{onward_referral_id}/withdrawal",
            None,
            [A, A, F, F, N, N, N, N],
        ),
        // Safeguarding concerns: DESIGN.md names volunteers (and providers) as raising them;
        // access.rs lets any of the practice's staff raise one, which is how safeguarding
        // works (it is everyone's duty). Not a federation admin's clinical work.
        row(
            M::POST,
            "/v1/practices/{practice_id}/referrals/{referral_id}/safeguarding-concerns",
            Some(json!({"summary": "Matrix concern", "details": "Raised by the matrix."})),
            [A, A, A, F, N, N, N, N],
        ),
        // Transitions (decline, withdraw, close): the practice's staff follow the referral
        // (access.rs: clinicians, volunteers who close it after the clinic, practice admins);
        // a federation admin does no clinical work. A seen referral cannot move to `booked`
        // (409 after authorisation), so the body changes nothing.
        row(
            M::POST,
            "/v1/practices/{practice_id}/referrals/{referral_id}/transitions",
            Some(json!({"to": "booked"})),
            [A, A, A, F, N, N, N, N],
        ),
        row(M::GET, "/v1/practices/{practice_id}/referrals/{referral_id}/wellbeing-measures", None, [A, A, A, A, N, N, N, N]),
        row(
            M::POST,
            "/v1/practices/{practice_id}/referrals/{referral_id}/wellbeing-measures",
            Some(json!({"timepoint": "follow_up", "swemwbs": [3, 3, 3, 3, 3, 3, 3]})),
            [A, A, F, F, N, N, N, N],
        ),
        // Open concerns are tracked by clinicians and practice admins (README). Federation
        // admins "read everything" in DESIGN.md, but access.rs keeps safeguarding with the
        // practice that acts on it, as the README says.
        row(M::GET, "/v1/practices/{practice_id}/safeguarding-concerns", None, [A, F, A, F, N, N, N, N]),
        row(M::GET, "/v1/practices/{practice_id}/safeguarding-concerns/{concern_id}", None, [A, F, A, F, N, N, N, N]),
        row(
            M::POST,
            "/v1/practices/{practice_id}/safeguarding-concerns/{concern_id}/resolution",
            Some(json!({"note": "Resolved by the matrix"})),
            [A, F, A, F, N, N, N, N],
        ),
        // Volunteers: read by the practice's staff, kept by practice and federation admins.
        row(M::GET, "/v1/practices/{practice_id}/volunteers", None, [A, A, A, A, N, N, N, N]),
        row(
            M::POST,
            "/v1/practices/{practice_id}/volunteers",
            Some(json!({"display_name": "Another volunteer"})),
            [F, F, A, A, N, N, N, N],
        ),
        row(M::GET, "/v1/practices/{practice_id}/volunteers/{volunteer_id}", None, [A, A, A, A, N, N, N, N]),
        row(
            M::PATCH,
            "/v1/practices/{practice_id}/volunteers/{volunteer_id}",
            Some(json!({"display_name": "Renamed volunteer"})),
            [F, F, A, A, N, N, N, N],
        ),
        row(
            M::POST,
            "/v1/practices/{practice_id}/volunteers/{volunteer_id}/training",
            Some(json!({"course": "Safeguarding adults", "completed_on": today - Duration::days(10)})),
            [F, F, A, A, N, N, N, N],
        ),
        // The provider's routes: provider users only.
        row(M::GET, "/v1/provider/onward-referrals", None, [F, F, F, F, F, A, F, F]),
        row(M::GET, "/v1/provider/onward-referrals/{onward_referral_id}", None, [F, F, F, F, F, A, F, F]),
        row(
            M::POST,
            "/v1/provider/onward-referrals/{onward_referral_id}/transitions",
            Some(json!({"to": "accepted"})),
            [F, F, F, F, F, A, F, F],
        ),
        row(M::GET, "/v1/provider/onward-referrals/{onward_referral_id}/activities", None, [F, F, F, F, F, A, F, F]),
        row(
            M::POST,
            "/v1/provider/onward-referrals/{onward_referral_id}/activities",
            Some(json!({"activity_type": "session_attended", "delivered_on": today})),
            [F, F, F, F, F, A, F, F],
        ),
        row(
            M::POST,
            "/v1/provider/onward-referrals/{onward_referral_id}/safeguarding-concerns",
            Some(json!({"summary": "Provider concern", "details": "Raised by the provider."})),
            [F, F, F, F, F, A, F, F],
        ),
    ];

    // The table covers every pathway route of the document, and nothing else.
    let tabled: BTreeSet<String> = table
        .iter()
        .map(|r| format!("{} {}", r.method, r.template))
        .collect();
    assert_eq!(tabled.len(), table.len(), "a route is in the table twice");
    assert_eq!(
        tabled,
        documented_pathway_routes(),
        "the table must hold exactly the pathway routes of openapi/openapi.json"
    );

    let mut failures = Vec::new();
    for r in &table {
        let onward_id = if r.template.ends_with("/withdrawal") {
            withdrawable
        } else {
            onward
        };
        let path = r
            .template
            .replace("{practice_id}", &p.id.to_string())
            .replace("{patient_id}", &patient.to_string())
            .replace("{referral_id}", &referral.to_string())
            .replace("{onward_referral_id}", &onward_id.to_string())
            .replace("{concern_id}", &concern.to_string())
            .replace("{volunteer_id}", &volunteer.to_string())
            .replace("{session_id}", &session.to_string())
            .replace("{slot_id}", &slot.to_string())
            .replace("{window}", "before");
        assert!(!path.contains('{'), "unfilled path {path}");
        for (caller, (token, expect)) in CALLERS.iter().zip(tokens.iter().zip(r.expect)) {
            if r.method == Method::DELETE {
                // Put the volunteer back on the session, so that each caller's removal names
                // an assignment that exists (409 when it is still there).
                let again = post(
                    &app,
                    &p.admin,
                    &format!(
                        "/v1/practices/{}/clinic-sessions/{session}/volunteers",
                        p.id
                    ),
                    json!({"volunteer_id": volunteer}),
                )
                .await;
                assert!(
                    [201, 409].contains(&again.status().as_u16()),
                    "re-assigning the volunteer: {}",
                    again.status()
                );
            }
            let response = send(&app, token, r.method.clone(), &path, r.body.as_ref()).await;
            let (status, code, problem) = outcome(response).await;
            if let Some(why) = judge(expect, status, code.as_deref(), problem) {
                failures.push(format!("{caller} {} {}: {why}", r.method, r.template));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} cell(s) of the role-by-route table disagree:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// The ids a guess names: a patient, a referral, an onward referral and a safeguarding concern.
#[derive(Clone, Copy)]
struct Ids {
    patient: Uuid,
    referral: Uuid,
    onward: Uuid,
    concern: Uuid,
}

impl Ids {
    fn fill(&self, template: &str) -> String {
        template
            .replace("{patient}", &self.patient.to_string())
            .replace("{referral}", &self.referral.to_string())
            .replace("{onward}", &self.onward.to_string())
            .replace("{concern}", &self.concern.to_string())
    }
}

/// A seen referral with an assessment, an onward referral, a case note and an open concern.
async fn worked_referral(app: &TestApp, p: &Practice, seed: u32, service: Uuid) -> Ids {
    let (patient, referral) = seen_referral(app, p, seed).await;
    let base = format!("/v1/practices/{}/referrals/{referral}", p.id);
    json_of(
        post(
            app,
            &p.volunteer,
            &format!("{base}/assessment"),
            json!({"need_categories": ["physical_activity"], "what_matters": "Walking again", "baseline": {"swemwbs": [3, 3, 3, 3, 3, 3, 3]}}),
        )
        .await,
        201,
    )
    .await;
    let onward = uuid_of(
        &json_of(
            post(
                app,
                &p.volunteer,
                &format!("{base}/onward-referrals"),
                json!({"service_id": service}),
            )
            .await,
            201,
        )
        .await,
    );
    json_of(
        post(
            app,
            &p.clinician,
            &format!("{base}/case-notes"),
            json!({"body": "Private to the practice"}),
        )
        .await,
        201,
    )
    .await;
    let concern = uuid_of(
        &json_of(
            post(
                app,
                &p.volunteer,
                &format!("{base}/safeguarding-concerns"),
                json!({"summary": "Worried", "details": "Seemed withdrawn."}),
            )
            .await,
            201,
        )
        .await,
    );
    Ids {
        patient,
        referral,
        onward,
        concern,
    }
}

#[tokio::test]
async fn a_clinician_guessing_another_practices_ids_finds_nothing_as_with_random_ids() {
    let app = spawn_app().await;
    let (a, b) = two_practices(&app, "matrix-guess").await;
    let (service, _, _) = provider_service(&app, a.federation, true).await;
    let own = worked_referral(&app, &a, 1, service).await;
    let theirs = worked_referral(&app, &b, 2, service).await;
    let random = Ids {
        patient: Uuid::now_v7(),
        referral: Uuid::now_v7(),
        onward: Uuid::now_v7(),
        concern: Uuid::now_v7(),
    };

    // Under A's own path, with B's ids; A's own ids answer (the control) and random ids are
    // the yardstick. The transition comes last: it would withdraw the referral it reaches.
    let under_a = format!("/v1/practices/{}", a.id);
    let probes: Vec<(Method, &str, Option<Value>)> = vec![
        (Method::GET, "/patients/{patient}", None),
        (
            Method::PATCH,
            "/patients/{patient}",
            Some(json!({"given_name": "Guessed"})),
        ),
        (
            Method::POST,
            "/patients/{patient}/referrals",
            Some(json!({"need_categories": ["housing"]})),
        ),
        (Method::GET, "/referrals/{referral}", None),
        (Method::GET, "/referrals/{referral}/history", None),
        (
            Method::POST,
            "/referrals/{referral}/case-notes",
            Some(json!({"body": "Guessed note"})),
        ),
        (Method::GET, "/referrals/{referral}/case-notes", None),
        (
            Method::POST,
            "/referrals/{referral}/safeguarding-concerns",
            Some(json!({"summary": "Guessed", "details": "Guessed concern."})),
        ),
        (
            Method::POST,
            "/referrals/{referral}/onward-referrals",
            Some(json!({"service_id": service})),
        ),
        (Method::GET, "/referrals/{referral}/onward-referrals", None),
        (
            Method::POST,
            "/referrals/{referral}/onward-referrals/{onward}/withdrawal",
            None,
        ),
        (
            Method::POST,
            "/referrals/{referral}/assessment",
            Some(json!({"need_categories": ["housing"], "what_matters": "Guessed"})),
        ),
        (Method::GET, "/referrals/{referral}/assessment", None),
        (
            Method::POST,
            "/referrals/{referral}/wellbeing-measures",
            Some(json!({"timepoint": "follow_up", "swemwbs": [4, 4, 4, 4, 4, 4, 4]})),
        ),
        (Method::GET, "/safeguarding-concerns/{concern}", None),
        (
            Method::POST,
            "/safeguarding-concerns/{concern}/resolution",
            Some(json!({"note": "Guessed"})),
        ),
        (
            Method::POST,
            "/referrals/{referral}/transitions",
            Some(json!({"to": "withdrawn", "reason": "Guessed"})),
        ),
    ];
    for (method, template, body) in &probes {
        let label = format!("{method} {{A}}{template}");
        let guessed = send(
            &app,
            &a.clinician,
            method.clone(),
            &format!("{under_a}{}", theirs.fill(template)),
            body.as_ref(),
        )
        .await;
        let guessed = outcome(guessed).await;
        let unknown = send(
            &app,
            &a.clinician,
            method.clone(),
            &format!("{under_a}{}", random.fill(template)),
            body.as_ref(),
        )
        .await;
        let unknown = outcome(unknown).await;
        assert_eq!(
            (unknown.0, unknown.1.as_deref(), unknown.2),
            (404, Some("not_found"), true),
            "{label} with random ids"
        );
        assert_eq!(
            guessed, unknown,
            "{label} with practice B's ids must answer exactly as random ids"
        );
        let control = send(
            &app,
            &a.clinician,
            method.clone(),
            &format!("{under_a}{}", own.fill(template)),
            body.as_ref(),
        )
        .await;
        let status = control.status().as_u16();
        assert!(
            !matches!(status, 401 | 403 | 404) && status < 500,
            "{label} with practice A's own ids answered {status}"
        );
    }

    // B's own path is not A's clinician's either: 404, as for a practice that does not exist.
    let routes: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, "/patients".into(), None),
        (Method::GET, format!("/patients/{}", theirs.patient), None),
        (
            Method::POST,
            format!("/patients/{}/referrals", theirs.patient),
            Some(json!({"need_categories": ["housing"]})),
        ),
        (Method::GET, "/referrals".into(), None),
        (Method::GET, format!("/referrals/{}", theirs.referral), None),
        (
            Method::POST,
            format!("/referrals/{}/case-notes", theirs.referral),
            Some(json!({"body": "Guessed note"})),
        ),
        (
            Method::GET,
            format!("/referrals/{}/case-notes", theirs.referral),
            None,
        ),
        (
            Method::POST,
            format!("/referrals/{}/transitions", theirs.referral),
            Some(json!({"to": "withdrawn", "reason": "Guessed"})),
        ),
        (Method::GET, "/safeguarding-concerns".into(), None),
        (Method::GET, "/volunteers".into(), None),
        (Method::GET, "/clinic-sessions".into(), None),
        (Method::GET, "/audit-events".into(), None),
    ];
    for (method, rest, body) in &routes {
        for practice in [b.id, Uuid::now_v7()] {
            let response = send(
                &app,
                &a.clinician,
                method.clone(),
                &format!("/v1/practices/{practice}{rest}"),
                body.as_ref(),
            )
            .await;
            assert_problem(response, 404, "not_found").await;
        }
    }

    // And nothing of B's changed.
    let b_base = format!("/v1/practices/{}/referrals/{}", b.id, theirs.referral);
    let referral = json_of(get(&app, &b.clinician, &b_base).await, 200).await;
    assert_eq!(referral["state"], "active");
    let notes = json_of(
        get(&app, &b.clinician, &format!("{b_base}/case-notes")).await,
        200,
    )
    .await;
    assert_eq!(notes["items"].as_array().unwrap().len(), 1);
    let patient = json_of(
        get(
            &app,
            &b.clinician,
            &format!("/v1/practices/{}/patients/{}", b.id, theirs.patient),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(patient["given_name"], "Ada");
    let concern = json_of(
        get(
            &app,
            &b.clinician,
            &format!(
                "/v1/practices/{}/safeguarding-concerns/{}",
                b.id, theirs.concern
            ),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(concern["status"], "open");
    let onward = json_of(
        get(&app, &b.clinician, &format!("{b_base}/onward-referrals")).await,
        200,
    )
    .await;
    let onward = onward.as_array().unwrap();
    assert_eq!(onward.len(), 1);
    assert_eq!(onward[0]["state"], "pending");
}

#[tokio::test]
async fn a_provider_sees_only_what_each_patient_consented_to_share() {
    let app = spawn_app().await;
    let (p, _) = two_practices(&app, "matrix-consent").await;
    let (service, provider, _) = provider_service(&app, p.federation, true).await;
    let volunteer = cleared_volunteer(&app, &p, "Consent volunteer").await;
    // Four 30-minute slots: one per patient.
    let (_, slots) = clinic_session(&app, &p, volunteer, 7, 2).await;
    assert_eq!(slots.len(), 4);

    let flags = [(false, false), (true, false), (false, true), (true, true)];
    let mut patients = Vec::new();
    let mut referrals = Vec::new();
    for (i, (name, contact)) in flags.into_iter().enumerate() {
        let patient = json_of(
            post(
                &app,
                &p.clinician,
                &format!("/v1/practices/{}/patients", p.id),
                json!({
                    "nhs_number": nhs_number(500 + i as u32), "given_name": format!("Given{i}"),
                    "family_name": format!("Family{i}"), "date_of_birth": format!("1951-0{}-1{i}", i + 1),
                    "phone": format!("01509 22233{i}"), "email": format!("patient{i}@example.org"),
                    "address": format!("{i} Mill Lane, Loughborough"), "postcode": "LE11 1AA",
                    "consent": {"share_name_with_providers": name, "share_contact_with_providers": contact},
                }),
            )
            .await,
            201,
        )
        .await;
        let id = uuid_of(&patient);
        let referral = refer(&app, &p.clinician, p.id, id).await;
        json_of(
            post(
                &app,
                &p.volunteer,
                &format!("/v1/practices/{}/clinic-slots/{}/booking", p.id, slots[i]),
                json!({"referral_id": referral}),
            )
            .await,
            200,
        )
        .await;
        patients.push(patient);
        referrals.push(referral);
    }
    // The last slot began five minutes ago, so all four have.
    app.let_the_slot_begin(slots[3]).await;
    let mut onwards = Vec::new();
    for (slot, referral) in slots.iter().zip(&referrals) {
        json_of(
            post(
                &app,
                &p.volunteer,
                &format!("/v1/practices/{}/clinic-slots/{slot}/attendance", p.id),
                json!({"attendance": "attended"}),
            )
            .await,
            200,
        )
        .await;
        onwards.push(uuid_of(
            &json_of(
                post(
                    &app,
                    &p.volunteer,
                    &format!(
                        "/v1/practices/{}/referrals/{referral}/onward-referrals",
                        p.id
                    ),
                    json!({"service_id": service}),
                )
                .await,
                201,
            )
            .await,
        ));
    }

    // What the provider must see of one patient, and must never see.
    let check = |seen: &Value, patient: &Value, name: bool, contact: bool, whose: &str| {
        let shown = &seen["patient"];
        let or_null = |shared: bool, field: &str| {
            if shared {
                patient[field].clone()
            } else {
                Value::Null
            }
        };
        for (field, shared) in [
            ("given_name", name),
            ("family_name", name),
            ("phone", contact),
            ("email", contact),
        ] {
            assert_eq!(
                shown[field],
                or_null(shared, field),
                "{whose}: {field} with consent name={name} contact={contact}"
            );
            if shared {
                assert!(shown[field].is_string(), "{whose}: {field} is shown");
            }
        }
        let text = seen.to_string();
        for field in ["nhs_number", "date_of_birth", "address", "postcode"] {
            assert!(
                seen.get(field).is_none() && shown.get(field).is_none(),
                "{whose}: the provider's view has no {field}"
            );
            let value = patient[field].as_str().unwrap();
            assert!(
                !text.contains(value),
                "{whose}: the provider's view shows the patient's {field}: {text}"
            );
        }
        if !name {
            for field in ["given_name", "family_name"] {
                let value = patient[field].as_str().unwrap();
                assert!(!text.contains(value), "{whose}: {field} leaks: {text}");
            }
        }
        if !contact {
            for field in ["phone", "email"] {
                let value = patient[field].as_str().unwrap();
                assert!(!text.contains(value), "{whose}: {field} leaks: {text}");
            }
        }
    };

    let inbox = json_of(
        get(&app, &provider, "/v1/provider/onward-referrals").await,
        200,
    )
    .await;
    let items = inbox["items"].as_array().unwrap();
    assert_eq!(items.len(), 4);
    for (i, (name, contact)) in flags.into_iter().enumerate() {
        let listed = items
            .iter()
            .find(|item| item["id"] == json!(onwards[i]))
            .unwrap_or_else(|| panic!("onward referral {i} is in the provider's list"));
        check(
            listed,
            &patients[i],
            name,
            contact,
            &format!("list, patient {i}"),
        );
        let one = json_of(
            get(
                &app,
                &provider,
                &format!("/v1/provider/onward-referrals/{}", onwards[i]),
            )
            .await,
            200,
        )
        .await;
        check(
            &one,
            &patients[i],
            name,
            contact,
            &format!("one, patient {i}"),
        );
    }

    // Consent changes name only the flag that changes: the name stays shared.
    let path = format!("/v1/practices/{}/patients/{}", p.id, uuid_of(&patients[1]));
    let read = app
        .get(&path)
        .bearer_auth(&p.clinician)
        .send()
        .await
        .unwrap();
    assert_eq!(read.status(), 200);
    let etag = read.headers()["etag"].to_str().unwrap().to_owned();
    let updated = json_of(
        app.patch(&path)
            .bearer_auth(&p.clinician)
            .header("If-Match", &etag)
            .json(&json!({"consent": {"share_contact_with_providers": true}}))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(
        updated["consent"],
        json!({"share_name_with_providers": true, "share_contact_with_providers": true,
               "share_beyond_practice": false})
    );
    let reread = json_of(get(&app, &p.clinician, &path).await, 200).await;
    assert_eq!(reread["consent"], updated["consent"]);
    let one = json_of(
        get(
            &app,
            &provider,
            &format!("/v1/provider/onward-referrals/{}", onwards[1]),
        )
        .await,
        200,
    )
    .await;
    check(
        &one,
        &reread,
        true,
        true,
        "patient 1 after the consent change",
    );
}

#[tokio::test]
async fn signposting_is_never_sent_even_to_the_providers_own_service() {
    let app = spawn_app().await;
    let (p, _) = two_practices(&app, "matrix-signpost").await;
    let (service, provider, _) = provider_service(&app, p.federation, true).await;
    let (_, referral) = seen_referral(&app, &p, 1).await;
    let path = format!(
        "/v1/practices/{}/referrals/{referral}/onward-referrals",
        p.id
    );
    let signposted = json_of(
        post(
            &app,
            &p.volunteer,
            &path,
            json!({"service_id": service, "kind": "signposting"}),
        )
        .await,
        201,
    )
    .await;
    assert_eq!(signposted["state"], "completed");
    let signposted = uuid_of(&signposted);
    // A real onward referral to the same service, which the provider does get.
    let sent = uuid_of(
        &json_of(
            post(&app, &p.volunteer, &path, json!({"service_id": service})).await,
            201,
        )
        .await,
    );

    for query in ["", "?state=completed", "?state=pending"] {
        let inbox = json_of(
            get(
                &app,
                &provider,
                &format!("/v1/provider/onward-referrals{query}"),
            )
            .await,
            200,
        )
        .await;
        let ids: Vec<&Value> = inbox["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|item| &item["id"])
            .collect();
        assert!(
            !ids.contains(&&json!(signposted)),
            "signposting is in the provider's list{query}"
        );
        if query != "?state=completed" {
            assert_eq!(ids, [&json!(sent)], "the provider's list{query}");
        }
    }
    assert_problem(
        get(
            &app,
            &provider,
            &format!("/v1/provider/onward-referrals/{signposted}"),
        )
        .await,
        404,
        "not_found",
    )
    .await;
    assert_problem(
        post(
            &app,
            &provider,
            &format!("/v1/provider/onward-referrals/{signposted}/transitions"),
            json!({"to": "accepted"}),
        )
        .await,
        404,
        "not_found",
    )
    .await;
    // The practice keeps both.
    let listed = json_of(get(&app, &p.clinician, &path).await, 200).await;
    assert_eq!(listed.as_array().unwrap().len(), 2);
}
