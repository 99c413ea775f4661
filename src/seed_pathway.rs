//! The demo pathway at Rosebery Medical Centre: a cleared volunteer, next week's clinic, and
//! fictitious patients whose referrals stand at each step of the pathway, so that every role's
//! token has something to look at. Seeded once: skipped when the practice has patients.

use chrono::{Datelike, Duration, NaiveDate, TimeZone, Utc};
use uuid::Uuid;
use waymark_domain::directory::NeedCategory;
use waymark_domain::pathway::assessment::{AssessmentInput, NewAssessment};
use waymark_domain::pathway::clinic::NewClinicSession;
use waymark_domain::pathway::demographics::Sex;
use waymark_domain::pathway::onward::{NewActivity, OnwardKind, OnwardReferralState};
use waymark_domain::pathway::patient::{Consent, NewPatient, PatientInput};
use waymark_domain::pathway::referral::{NewReferral, ReferralInput, Urgency};
use waymark_domain::pathway::volunteer::{NewTrainingRecord, NewVolunteer};
use waymark_domain::pathway::wellbeing::{Ons4, Swemwbs, Timepoint};
use waymark_domain::pathway::{NhsNumber, ReferralState};
use waymark_domain::{FederationId, PracticeId};
use waymark_persistence::directory::services;
use waymark_persistence::pathway::referrals::StateChange;
use waymark_persistence::pathway::{assessments, clinics, onward, patients, referrals, volunteers};
use waymark_persistence::Tx;

/// The people who act in the demo pathway.
pub struct Staff {
    pub clinician: Uuid,
    pub volunteer: Uuid,
    pub provider: Uuid,
}

/// Valid NHS numbers in the 999 range, which the NHS keeps for testing.
fn test_nhs_numbers(count: usize) -> Vec<NhsNumber> {
    (1u32..)
        .filter_map(|n| {
            (0..10).find_map(|check| NhsNumber::parse(&format!("999{n:06}{check}")).ok())
        })
        .take(count)
        .collect()
}

fn invalid(e: impl std::fmt::Debug) -> anyhow::Error {
    anyhow::anyhow!("demo data is invalid: {e:?}")
}

/// What the demo pathway made.
pub struct SeededPathway {
    pub referrals: usize,
    /// The activity the demo provider delivered, for the ledger to charge.
    pub activity: Option<onward::ActivityRecord>,
}

/// Seeds the demo pathway unless the practice already has patients.
pub async fn seed(
    tx: &mut Tx,
    federation: FederationId,
    practice: PracticeId,
    staff: &Staff,
) -> anyhow::Result<SeededPathway> {
    if !patients::list(tx, federation, practice, None, None, 1)
        .await?
        .is_empty()
    {
        return Ok(SeededPathway {
            referrals: 0,
            activity: None,
        });
    }
    let today = Utc::now().date_naive();

    let volunteer = volunteers::create(
        tx,
        federation,
        practice,
        Uuid::now_v7(),
        Some(staff.volunteer),
        &NewVolunteer::parse(
            "Vic Volunteer",
            Some("volunteer@rosebery.example"),
            None,
            Some(today - Duration::days(200)),
        )
        .map_err(invalid)?,
    )
    .await?;
    volunteers::add_training(
        tx,
        federation,
        practice,
        Uuid::now_v7(),
        volunteer.id,
        staff.clinician,
        &NewTrainingRecord::parse(
            "Social prescribing scenario training",
            today - Duration::days(150),
            Some(today + Duration::days(580)),
        )
        .map_err(invalid)?,
    )
    .await?;

    // Next Tuesday morning, 09:00 to 12:00 UTC, in six 30-minute slots.
    let days_to_tuesday = (7 + 1 - i64::from(today.weekday().num_days_from_monday())) % 7 + 7;
    let tuesday = today + Duration::days(days_to_tuesday);
    let starts = Utc.from_utc_datetime(&tuesday.and_hms_opt(9, 0, 0).expect("09:00"));
    let session = NewClinicSession::parse(
        starts,
        starts + Duration::hours(3),
        "Rosebery Medical Centre, room 4",
        None,
    )
    .map_err(invalid)?;
    let session = clinics::create_session(
        tx,
        federation,
        practice,
        Uuid::now_v7(),
        staff.clinician,
        &session,
    )
    .await?;
    clinics::assign(
        tx,
        federation,
        practice,
        session.id,
        &[volunteer.id],
        staff.clinician,
    )
    .await?;
    let slots = clinics::slots(tx, federation, practice, session.id).await?;

    let walks = services::find_by_external_id(tx, federation, "demo-svc-01")
        .await?
        .ok_or_else(|| anyhow::anyhow!("the demo directory has no health walks"))?;

    let people = [
        (
            "Margaret",
            "Ellis",
            (1948, 3, 14),
            Urgency::Routine,
            vec![NeedCategory::LonelinessIsolation, NeedCategory::Bereavement],
        ),
        (
            "Daniel",
            "Okafor",
            (1979, 8, 2),
            Urgency::Soon,
            vec![NeedCategory::DebtBenefits, NeedCategory::MentalWellbeing],
        ),
        (
            "Susan",
            "Patel",
            (1961, 11, 30),
            Urgency::Routine,
            vec![
                NeedCategory::PhysicalActivity,
                NeedCategory::LonelinessIsolation,
            ],
        ),
        (
            "Graham",
            "Hughes",
            (1955, 6, 9),
            Urgency::Routine,
            vec![NeedCategory::PhysicalActivity],
        ),
        (
            "Aisha",
            "Rahman",
            (1992, 1, 21),
            Urgency::Urgent,
            vec![NeedCategory::Housing],
        ),
    ];
    let numbers = test_nhs_numbers(people.len());
    let mut made = Vec::new();
    for ((given, family, (y, m, d), urgency, needs), nhs_number) in people.into_iter().zip(numbers)
    {
        let patient = NewPatient::parse(
            PatientInput {
                nhs_number: nhs_number.as_str().to_owned(),
                given_name: given.into(),
                family_name: family.into(),
                date_of_birth: NaiveDate::from_ymd_opt(y, m, d).expect("a date"),
                phone: Some("01509 000000".into()),
                postcode: Some("LE11 1AA".into()),
                sex: Some(if matches!(given, "Aisha" | "Margaret" | "Joan") {
                    Sex::Female
                } else {
                    Sex::Male
                }),
                ethnic_category: Some(if given == "Aisha" { "K" } else { "A" }.into()),
                imd_decile: Some(4),
                consent: Consent {
                    share_name_with_providers: true,
                    share_contact_with_providers: given != "Daniel",
                    share_beyond_practice: given != "Daniel",
                },
                ..Default::default()
            },
            today,
        )
        .map_err(invalid)?;
        let patient = patients::create(
            tx,
            federation,
            practice,
            Uuid::now_v7(),
            staff.clinician,
            &patient,
        )
        .await?;
        let referral = NewReferral::parse(ReferralInput {
            need_categories: needs,
            note: Some(format!(
                "{given} would benefit from a social prescribing conversation."
            )),
            urgency,
        })
        .map_err(invalid)?;
        let referral = referrals::create(
            tx,
            federation,
            practice,
            Uuid::now_v7(),
            patient.id,
            staff.clinician,
            &referral,
        )
        .await?;
        made.push(referral);
    }

    let by = staff.volunteer;
    let mv = |from, to| StateChange {
        from,
        to,
        reason: None,
        closure: None,
        by,
    };
    // Margaret stays received. Daniel is booked into the first slot.
    clinics::book(tx, federation, practice, slots[0].id, made[1].id, by).await?;
    referrals::change_state(
        tx,
        federation,
        practice,
        made[1].id,
        &mv(ReferralState::Received, ReferralState::Booked),
    )
    .await?;
    // Susan and Graham were seen at an earlier clinic and assessed; Graham went on to walks.
    for referral in [&made[2], &made[3]] {
        referrals::change_state(
            tx,
            federation,
            practice,
            referral.id,
            &mv(ReferralState::Received, ReferralState::Booked),
        )
        .await?;
        referrals::change_state(
            tx,
            federation,
            practice,
            referral.id,
            &mv(ReferralState::Booked, ReferralState::Seen),
        )
        .await?;
        let assessment = NewAssessment::parse(AssessmentInput {
            need_categories: referral.need_categories.clone(),
            what_matters: "Wants to get fitter and see people more often".into(),
            concerns: vec!["Has lost touch with friends since retiring".into()],
            goals: vec!["Walk with a group every week".into()],
            other_support: Some("Information about the local library's social events".into()),
        })
        .map_err(invalid)?;
        assessments::create_assessment(tx, federation, practice, referral.id, &assessment, by)
            .await?;
        let swemwbs = Swemwbs::score(&[3, 2, 3, 3, 2, 3, 3]).map_err(invalid)?;
        let ons4 = Ons4::parse(5, 6, 5, 6).map_err(invalid)?;
        assessments::record_measure(
            tx,
            federation,
            practice,
            referral.id,
            Timepoint::Baseline,
            Some(&swemwbs),
            Some(&ons4),
            by,
        )
        .await?;
    }
    let walking = onward::create(
        tx,
        federation,
        practice,
        &onward::NewOnward {
            referral: made[3].id,
            patient: made[3].patient_id,
            service: walks.id,
            organisation: walks.organisation_id,
            kind: OnwardKind::Referral,
            state: OnwardReferralState::Pending,
            note: Some("Would like a gentle start; walks with a stick"),
            by,
        },
    )
    .await?;
    referrals::change_state(
        tx,
        federation,
        practice,
        made[3].id,
        &mv(ReferralState::Seen, ReferralState::Active),
    )
    .await?;
    onward::change_state(
        tx,
        federation,
        practice,
        walking.id,
        OnwardReferralState::Pending,
        OnwardReferralState::Accepted,
        None,
        staff.provider,
    )
    .await?;
    let activity = NewActivity::parse(
        "session_attended",
        today - Duration::days(1),
        None,
        None,
        today,
    )
    .map_err(invalid)?;
    let delivered = onward::record_activity(
        tx,
        federation,
        practice,
        Uuid::now_v7(),
        &walking,
        &activity,
        staff.provider,
    )
    .await?;
    // Aisha declined.
    referrals::change_state(
        tx,
        federation,
        practice,
        made[4].id,
        &StateChange {
            reason: Some("Already supported by the housing team"),
            ..mv(ReferralState::Received, ReferralState::Declined)
        },
    )
    .await?;
    Ok(SeededPathway {
        referrals: made.len(),
        activity: Some(delivered),
    })
}
