//! The referral pathway's routes, under `/v1/practices/{practice_id}/…`: the practice in the
//! path is the partition every query is scoped to. Staff of another practice, commissioners and
//! service accounts get 404 for all of it, as if nothing were there.

pub mod assessments;
pub mod audit_events;
pub mod case_notes;
pub mod clinics;
pub mod fhir;
pub mod gp_appointments;
pub mod gp_coding;
pub mod gp_message;
pub mod onward;
pub mod patients;
pub mod provider;
pub mod referral_export;
pub mod referrals;
pub mod safeguarding;
pub mod volunteers;

use crate::auth::Caller;
use crate::problem::ApiError;
use crate::request_context::RequestId;
use crate::state::AppState;
use actix_web::{HttpMessage, HttpRequest};
use uuid::Uuid;
use waymark_domain::pathway::access::{decide, Decision, PracticeAction};
use waymark_domain::{FederationId, PracticeId};
use waymark_persistence::audit::Actor;
use waymark_persistence::{practices, TenantScope, Tx};

/// The tenant a pathway request acts in, once the caller may act there.
#[derive(Clone, Copy, Debug)]
pub struct Partition {
    pub federation: FederationId,
    pub practice: PracticeId,
}

/// Checks that `caller` may do `action` in `practice`: 404 when the practice is not theirs,
/// 403 when it is but their role may not.
pub fn authorise(
    caller: &Caller,
    practice: Uuid,
    action: PracticeAction,
) -> Result<Partition, ApiError> {
    let practice = PracticeId::from(practice);
    match decide(caller, practice, action) {
        Decision::Allowed => Ok(Partition {
            federation: caller.federation()?,
            practice,
        }),
        Decision::Forbidden => Err(ApiError::Forbidden(forbidden_because(action))),
        Decision::NotFound => Err(ApiError::NotFound),
    }
}

fn forbidden_because(action: PracticeAction) -> &'static str {
    use PracticeAction::*;
    match action {
        ReadPatients | ReadReferrals | ReadReferralDetails => {
            "your role does not read patient records"
        }
        WritePatients => "only clinicians and practice administrators register and update patients",
        CreateReferral => "only clinicians refer patients to social prescribing",
        ChangeReferralState => "your role does not change referrals",
        ReadVolunteers | ReadClinics => "your role does not read the practice's clinics",
        ManageVolunteers => "only practice and federation administrators keep volunteer records",
        ScheduleClinics => "only practice and federation administrators schedule clinics",
        BookSlots => "your role does not book clinic slots",
        RecordAttendance => "only volunteers and practice administrators record attendance",
        Assess => "only volunteers and clinicians record assessments and wellbeing measures",
        ReferOnward => "only volunteers and clinicians refer onward",
        RecordAppointmentCounts => {
            "only clinicians and practice administrators record GP appointment counts"
        }
        CaseNotes => "case notes are for the practice's clinicians and volunteers only",
        RaiseConcern => "your role does not raise safeguarding concerns here",
        ManageConcerns => {
            "only clinicians and practice administrators manage safeguarding concerns"
        }
        ReadAuditLog => "only practice administrators read the audit log",
        FileGpCodes => {
            "only the practice's clinicians and administrators, and gp_coding:write integrations, file codes in the GP record"
        }
    }
}

/// The caller as the audit log records it, with the request's id.
pub fn actor(caller: &Caller, req: &HttpRequest) -> Actor {
    let request_id = req.extensions().get::<RequestId>().map(|id| id.0.clone());
    Actor::new(caller, request_id)
}

/// Opens the request's transaction in the partition. A federation administrator names a
/// practice of their choosing, so it is checked to be one of their federation's: another
/// federation's practice answers 404 like everything else of another tenant.
pub async fn begin(state: &AppState, caller: &Caller, p: Partition) -> Result<Tx, ApiError> {
    let mut tx = state.begin(TenantScope::of(caller)).await?;
    confirm_practice(&mut tx, caller, p).await?;
    Ok(tx)
}

/// As [`begin`], read-only and planned for each query's actual filters.
pub async fn begin_search(state: &AppState, caller: &Caller, p: Partition) -> Result<Tx, ApiError> {
    let mut tx = state.begin_search(TenantScope::of(caller)).await?;
    confirm_practice(&mut tx, caller, p).await?;
    Ok(tx)
}

/// As [`begin`], read-only, every statement reading one snapshot (an export's rows are one
/// moment's, however long it takes to send them).
pub async fn begin_snapshot(
    state: &AppState,
    caller: &Caller,
    p: Partition,
) -> Result<Tx, ApiError> {
    let mut tx = state.begin_snapshot(TenantScope::of(caller)).await?;
    confirm_practice(&mut tx, caller, p).await?;
    Ok(tx)
}

async fn confirm_practice(tx: &mut Tx, caller: &Caller, p: Partition) -> Result<(), ApiError> {
    if caller.practice_id != Some(p.practice) {
        practices::find(tx, p.federation, p.practice).await?;
    }
    Ok(())
}
