//! One practice's story: its volunteers, its patients and their referrals through the whole
//! pathway, each step only when the service would allow it and only if it happened before the
//! story's end, and the clinics the referrals were booked into.

use super::federation::{Federation, Practice, Service};
use super::ledger::Ledger;
use super::rng::Rng;
use super::tables::Tables;
use super::Plan;
use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc, Weekday};
use std::collections::BTreeMap;
use uuid::Uuid;
use waymark_domain::directory::NeedCategory;
use waymark_domain::pathway::nhs_number::check_digit;
use waymark_domain::pathway::referral::snomed_concept;
use waymark_domain::pathway::wellbeing::Swemwbs;
use waymark_domain::pathway::ReferralState;

const SLOTS_PER_SESSION: usize = 6;
const SLOT_MINUTES: i64 = 30;
/// Rooms a practice can run clinics in at once; a day holds two sessions per room.
const SESSIONS_PER_DAY: usize = 40;

const GIVEN_NAMES: [&str; 16] = [
    "Olivia", "Amelia", "Isla", "Ava", "Mia", "Grace", "Margaret", "Susan", "Noah", "Oliver",
    "George", "Arthur", "Harry", "David", "John", "Mohammed",
];
const FAMILY_NAMES: [&str; 16] = [
    "Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies", "Patel",
    "Robinson", "Wright", "Thompson", "Evans", "Walker", "White", "Khan",
];
const POSTCODES: [&str; 8] = [
    "LE11 1AA", "LE11 2BB", "LE11 3DD", "LE11 4EE", "LE12 9AB", "LE12 8BD", "LE12 8LQ", "LE12 7GH",
];
const REFERRAL_NOTES: [&str; 4] = [
    "Lives alone since bereavement; would like company.",
    "Low mood, struggling with bills.",
    "Wants to get more active after a fall.",
    "Carer for partner, feeling isolated.",
];
const WHAT_MATTERS: [&str; 4] = [
    "Getting out of the house and meeting people",
    "Sorting out money worries",
    "Feeling fitter and more confident",
    "Having time for myself",
];

struct Session {
    id: Uuid,
    starts_at: DateTime<Utc>,
    location: String,
    volunteer: usize,
    created_at: DateTime<Utc>,
    slot_ids: [Uuid; SLOTS_PER_SESSION],
    slots: [Option<Booking>; SLOTS_PER_SESSION],
}

#[derive(Clone, Copy)]
struct Booking {
    referral: Uuid,
    booked_by: Uuid,
    booked_at: DateTime<Utc>,
    attendance: Option<(&'static str, DateTime<Utc>)>,
}

/// A practice's story, told a patient at a time so that its rows can be sent as they grow.
pub struct PracticeStory<'a> {
    plan: &'a Plan,
    federation: &'a Federation,
    practice: &'a Practice,
    rng: Rng,
    volunteers: [Uuid; 3],
    sessions: Vec<Session>,
    sessions_by_day: BTreeMap<NaiveDate, Vec<usize>>,
    patients: u64,
    /// When the patients' first referrals are made, in order, so that rows arrive in the order
    /// the service would have written them.
    referral_times: Vec<i64>,
    next_time: usize,
    referrals_left: u64,
}

/// How a referral ended, if it has.
struct Ended {
    at: DateTime<Utc>,
}

/// One recorded move of a referral's state.
struct Move {
    from: ReferralState,
    to: ReferralState,
    reason: Option<&'static str>,
    by: Uuid,
    at: DateTime<Utc>,
}

/// A referral's state and the moves that brought it there.
struct Transitions {
    state: ReferralState,
    changes: Vec<Move>,
}

impl Transitions {
    fn to(&mut self, to: ReferralState, reason: Option<&'static str>, by: Uuid, at: DateTime<Utc>) {
        let from = self.state;
        self.state = from
            .transition(to)
            .expect("the story follows the state machine");
        self.changes.push(Move {
            from,
            to,
            reason,
            by,
            at,
        });
    }
}

impl<'a> PracticeStory<'a> {
    /// Starts the practice's story with its volunteers, who are cleared (background check and
    /// induction) before the first clinic.
    pub fn new(
        plan: &'a Plan,
        federation: &'a Federation,
        practice: &'a Practice,
        referrals: u64,
        tables: &mut Tables,
    ) -> Self {
        let mut rng = Rng::stream(plan.seed, &plan.slug, 1 + practice.index as u64);
        let joined = plan.start - Duration::days(45);
        let mut volunteers = [Uuid::nil(); 3];
        for (k, volunteer) in volunteers.iter_mut().enumerate() {
            *volunteer = rng.id_at(joined);
            tables
                .volunteers
                .row()
                .uuid(federation.id)
                .uuid(practice.id)
                .uuid(*volunteer)
                .uuid(practice.volunteer_users[k])
                .text(&format!("Volunteer {} of {}", k + 1, practice.name))
                .text(&format!(
                    "volunteer{}.p{}@example.org",
                    k + 1,
                    practice.index + 1
                ))
                .date((joined - Duration::days(15)).date_naive())
                .time(joined)
                .time(joined);
            tables
                .volunteer_training
                .row()
                .uuid(federation.id)
                .uuid(practice.id)
                .uuid(rng.id_at(joined))
                .uuid(*volunteer)
                .text("Social prescribing volunteer induction")
                .date((joined - Duration::days(7)).date_naive())
                .uuid(practice.admin)
                .time(joined);
        }
        let span = (plan.end - plan.start).num_seconds();
        let mut referral_times: Vec<i64> =
            (0..referrals).map(|_| rng.between(0, span - 1)).collect();
        referral_times.sort_unstable();
        Self {
            plan,
            federation,
            practice,
            rng,
            volunteers,
            sessions: Vec::new(),
            sessions_by_day: BTreeMap::new(),
            patients: 0,
            referral_times,
            next_time: 0,
            referrals_left: referrals,
        }
    }

    pub fn referrals_left(&self) -> u64 {
        self.referrals_left
    }

    /// Registers the next patient and tells their referrals (one, sometimes a second after the
    /// first has ended); answers how many referrals that made.
    pub fn next_patient(&mut self, tables: &mut Tables, ledger: &mut Ledger) -> u64 {
        let plan = self.plan;
        let offset = self.referral_times[self.next_time];
        self.next_time += 1;
        let referred_at = working_hours(plan.start + Duration::seconds(offset));
        let registered_at = referred_at - Duration::minutes(self.rng.between(5, 60));
        let patient = self.rng.id_at(registered_at);
        let mut organisations = Vec::new();

        let mut made = 1;
        let ended = self.referral(patient, referred_at, &mut organisations, tables, ledger);
        if let Some(ended) = ended {
            let again = ended.at + Duration::days(self.rng.between(30, 120));
            if self.referrals_left > 1 && again < plan.end && self.rng.chance(0.08) {
                made += 1;
                // A second referral takes the place of a first one: a time drawn is passed over,
                // so the rest stay spread as evenly.
                self.next_time += 1;
                let again = working_hours(again);
                self.referral(patient, again, &mut organisations, tables, ledger);
            }
        }
        self.referrals_left -= made;
        self.register(patient, registered_at, &organisations, tables);
        made
    }

    fn register(
        &mut self,
        patient: Uuid,
        at: DateTime<Utc>,
        organisations: &[Uuid],
        tables: &mut Tables,
    ) {
        self.patients += 1;
        let rng = &mut self.rng;
        let given = *rng.pick(&GIVEN_NAMES);
        let family = *rng.pick(&FAMILY_NAMES);
        let age_days = rng.between(18 * 365, 90 * 365);
        let email = rng
            .chance(0.5)
            .then(|| format!("{}.{}{}@example.com", given, family, self.patients).to_lowercase());
        let phone = rng
            .chance(0.7)
            .then(|| format!("07700 900{:03}", rng.below(1000)));
        let (registered_by, registrar_role) = if rng.chance(0.5) {
            (self.practice.admin, "practice_admin")
        } else {
            (self.practice.clinicians[0], "clinician")
        };
        let postcode = *rng.pick(&POSTCODES);
        let mut referred_to = organisations.to_vec();
        referred_to.sort();
        referred_to.dedup();
        tables
            .patients
            .row()
            .uuid(self.federation.id)
            .uuid(self.practice.id)
            .uuid(patient)
            .text(&nhs_number(self.patients))
            .text(given)
            .text(family)
            .date((self.plan.start - Duration::days(age_days)).date_naive())
            .opt_text(email.as_deref())
            .opt_text(phone.as_deref())
            .text(postcode)
            .bool(rng.chance(0.8))
            .bool(rng.chance(0.7))
            .uuids(&referred_to)
            .uuid(registered_by)
            .time(at)
            .time(at)
            .opt_text(sex(rng));
        self.audit(
            tables,
            at,
            registered_by,
            registrar_role,
            None,
            "patient",
            patient,
            patient,
        );
    }

    /// Tells one referral from `at` to its end or the story's, and answers when it ended.
    fn referral(
        &mut self,
        patient: Uuid,
        at: DateTime<Utc>,
        organisations: &mut Vec<Uuid>,
        tables: &mut Tables,
        ledger: &mut Ledger,
    ) -> Option<Ended> {
        let end = self.plan.end;
        let fed = self.federation.id;
        let practice = self.practice;
        let referral = self.rng.id_at(at);
        let clinician = *self.rng.pick(&practice.clinicians);
        let needs = self.needs();
        let mut moves = Transitions {
            state: ReferralState::Received,
            changes: Vec::new(),
        };
        let mut outcome: Option<&'static str> = None;
        self.audit(
            tables,
            at,
            clinician,
            "clinician",
            None,
            "referral",
            referral,
            patient,
        );

        // Before the clinic: most are booked, a few decline or are withdrawn.
        let decided = at + Duration::hours(self.rng.between(20, 72));
        let early = self.rng.unit();
        if decided <= end && early < 0.05 {
            let by = practice.admin;
            moves.to(
                ReferralState::Declined,
                Some("patient declined social prescribing"),
                by,
                decided,
            );
        } else if decided <= end && early < 0.08 {
            let by = practice.admin;
            moves.to(
                ReferralState::Withdrawn,
                Some("referred to another service"),
                by,
                decided,
            );
        } else if decided <= end {
            let booker = self.rng.below(3) as usize;
            let booked_by = practice.volunteer_users[booker];
            moves.to(ReferralState::Booked, None, booked_by, decided);
            let withdrawn_at = decided + Duration::days(2);
            if self.rng.chance(0.02) && withdrawn_at <= end {
                // Withdrawn while booked: the slot was freed for someone else.
                moves.to(
                    ReferralState::Withdrawn,
                    Some("moved away"),
                    practice.admin,
                    withdrawn_at,
                );
            } else {
                let earliest = (decided + Duration::days(2 + self.rng.between(0, 14))).date_naive();
                let (session, slot, starts_at) = self.book(earliest, referral, booked_by, decided);
                self.audit(
                    tables,
                    decided,
                    booked_by,
                    "volunteer",
                    None,
                    "clinic_slot",
                    self.sessions[session].slot_ids[slot],
                    patient,
                );
                let seen_at = starts_at + Duration::minutes(SLOT_MINUTES);
                let recorded_at = seen_at + Duration::minutes(10);
                if recorded_at <= end {
                    let volunteer_user = practice.volunteer_users[self.sessions[session].volunteer];
                    let attended = self.rng.chance(0.85);
                    let attendance = if attended {
                        "attended"
                    } else {
                        "did_not_attend"
                    };
                    self.sessions[session].slots[slot]
                        .as_mut()
                        .expect("just booked")
                        .attendance = Some((attendance, recorded_at));
                    if attended {
                        moves.to(ReferralState::Seen, None, volunteer_user, recorded_at);
                        self.clinic_records(
                            tables,
                            referral,
                            patient,
                            &needs,
                            at,
                            recorded_at,
                            volunteer_user,
                        );
                        self.after_clinic(
                            tables,
                            ledger,
                            referral,
                            patient,
                            &needs,
                            at,
                            recorded_at,
                            &mut moves,
                            &mut outcome,
                            organisations,
                        );
                    } else {
                        moves.to(
                            ReferralState::DidNotAttend,
                            None,
                            volunteer_user,
                            recorded_at,
                        );
                    }
                }
            }
        }

        let Transitions { state, changes } = moves;
        let version = 1 + changes.len() as i64;
        let updated_at = changes.last().map_or(at, |c| c.at);
        let closed_at = (state == ReferralState::Closed).then_some(updated_at);
        let codes: Vec<&str> = needs.iter().map(|n| n.code()).collect();
        let note = self
            .rng
            .chance(0.6)
            .then(|| *self.rng.pick(&REFERRAL_NOTES));
        let urgency = *self
            .rng
            .weighted(&[("routine", 80), ("soon", 15), ("urgent", 5)]);
        tables
            .referrals
            .row()
            .uuid(fed)
            .uuid(practice.id)
            .uuid(referral)
            .uuid(patient)
            .uuid(clinician)
            .texts(&codes)
            .opt_text(note)
            .text(urgency)
            .text(state.code())
            .text(snomed_concept(state))
            .opt_text(outcome)
            .opt_time(closed_at)
            .int(version)
            .time(at)
            .time(updated_at);
        tables
            .referral_state_changes
            .row()
            .uuid(fed)
            .uuid(practice.id)
            .uuid(self.rng.id_at(at))
            .uuid(referral)
            .null()
            .text(ReferralState::Received.code())
            .null()
            .uuid(clinician)
            .time(at);
        for Move {
            from,
            to,
            reason,
            by,
            at: when,
        } in changes
        {
            tables
                .referral_state_changes
                .row()
                .uuid(fed)
                .uuid(practice.id)
                .uuid(self.rng.id_at(when))
                .uuid(referral)
                .text(from.code())
                .text(to.code())
                .opt_text(reason)
                .uuid(by)
                .time(when);
        }
        state.is_final().then_some(Ended { at: updated_at })
    }

    fn needs(&mut self) -> Vec<NeedCategory> {
        let weighted = [
            (NeedCategory::LonelinessIsolation, 30),
            (NeedCategory::MentalWellbeing, 25),
            (NeedCategory::PhysicalActivity, 10),
            (NeedCategory::DebtBenefits, 10),
            (NeedCategory::Housing, 5),
            (NeedCategory::EmploymentSkills, 4),
            (NeedCategory::CarersSupport, 4),
            (NeedCategory::Bereavement, 4),
            (NeedCategory::Food, 2),
            (NeedCategory::HealthyLifestyle, 3),
            (NeedCategory::ArtsCreativity, 2),
            (NeedCategory::Volunteering, 1),
        ];
        let mut needs = vec![*self.rng.weighted(&weighted)];
        for _ in 0..self.rng.weighted(&[(0, 60), (1, 30), (2, 10)]).to_owned() {
            let more = *self.rng.weighted(&weighted);
            if !needs.contains(&more) {
                needs.push(more);
            }
        }
        needs
    }

    /// The first free slot on a weekday on or after `earliest`, opening a session when the day's
    /// are full.
    fn book(
        &mut self,
        earliest: NaiveDate,
        referral: Uuid,
        booked_by: Uuid,
        booked_at: DateTime<Utc>,
    ) -> (usize, usize, DateTime<Utc>) {
        let mut day = earliest;
        loop {
            if !matches!(day.weekday(), Weekday::Sat | Weekday::Sun) {
                let sessions = self.sessions_by_day.entry(day).or_default();
                let free = sessions.iter().find_map(|&s| {
                    self.sessions[s]
                        .slots
                        .iter()
                        .position(Option::is_none)
                        .map(|slot| (s, slot))
                });
                let found = match free {
                    Some(found) => Some(found),
                    None if sessions.len() < SESSIONS_PER_DAY => {
                        let k = sessions.len();
                        let hour = if k.is_multiple_of(2) { 9 } else { 13 };
                        let starts_at =
                            Utc.from_utc_datetime(&day.and_hms_opt(hour, 0, 0).expect("an hour"));
                        let index = self.sessions.len();
                        let created_at =
                            (starts_at - Duration::days(28)).min(booked_at - Duration::hours(1));
                        let mut slot_ids = [Uuid::nil(); SLOTS_PER_SESSION];
                        for slot in &mut slot_ids {
                            *slot = self.rng.id_at(created_at);
                        }
                        self.sessions.push(Session {
                            id: self.rng.id_at(created_at),
                            starts_at,
                            location: format!("Room {}, {}", k / 2 + 1, self.practice.name),
                            volunteer: self.rng.below(3) as usize,
                            created_at,
                            slot_ids,
                            slots: [None; SLOTS_PER_SESSION],
                        });
                        sessions.push(index);
                        Some((index, 0))
                    }
                    None => None,
                };
                if let Some((session, slot)) = found {
                    self.sessions[session].slots[slot] = Some(Booking {
                        referral,
                        booked_by,
                        booked_at,
                        attendance: None,
                    });
                    let starts_at = self.sessions[session].starts_at
                        + Duration::minutes(SLOT_MINUTES * slot as i64);
                    return (session, slot, starts_at);
                }
            }
            day = day.succ_opt().expect("a day after");
        }
    }

    /// What the volunteer records at the clinic: the assessment, the baseline wellbeing
    /// measures, a case note, and the GP appointments of the months before the referral.
    #[allow(clippy::too_many_arguments)]
    fn clinic_records(
        &mut self,
        tables: &mut Tables,
        referral: Uuid,
        patient: Uuid,
        needs: &[NeedCategory],
        referred_at: DateTime<Utc>,
        seen_at: DateTime<Utc>,
        volunteer: Uuid,
    ) {
        let fed = self.federation.id;
        let practice = self.practice.id;
        let assessment = self.rng.id_at(seen_at);
        let codes: Vec<&str> = needs.iter().map(|n| n.code()).collect();
        let what_matters = *self.rng.pick(&WHAT_MATTERS);
        tables
            .assessments
            .row()
            .uuid(fed)
            .uuid(practice)
            .uuid(assessment)
            .uuid(referral)
            .texts(&codes)
            .text(what_matters)
            .uuid(volunteer)
            .time(seen_at);
        self.audit(
            tables,
            seen_at,
            volunteer,
            "volunteer",
            None,
            "assessment",
            assessment,
            patient,
        );
        self.wellbeing(tables, referral, patient, "baseline", seen_at, volunteer, 0);
        let note = self.rng.id_at(seen_at);
        tables
            .case_notes
            .row()
            .uuid(fed)
            .uuid(practice)
            .uuid(note)
            .uuid(referral)
            .uuid(volunteer)
            .text("volunteer")
            .text("Met at the clinic; talked through what matters and the options nearby.")
            .time(seen_at);
        self.audit(
            tables,
            seen_at,
            volunteer,
            "volunteer",
            None,
            "case_note",
            note,
            patient,
        );

        let recorded_at = seen_at + Duration::days(1);
        if recorded_at <= self.plan.end && self.rng.chance(0.75) {
            let referred_on = referred_at.date_naive();
            let before = self.rng.poisson(6.0);
            self.gp_count(
                tables,
                referral,
                patient,
                "before",
                referred_on - Duration::days(181),
                referred_on,
                before,
                recorded_at,
            );
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn gp_count(
        &mut self,
        tables: &mut Tables,
        referral: Uuid,
        patient: Uuid,
        window: &str,
        from: NaiveDate,
        to: NaiveDate,
        appointments: u32,
        at: DateTime<Utc>,
    ) {
        let id = self.rng.id_at(at);
        let clinician = self.practice.clinicians[1];
        tables
            .gp_appointment_counts
            .row()
            .uuid(self.federation.id)
            .uuid(self.practice.id)
            .uuid(id)
            .uuid(referral)
            .text(window)
            .date(from)
            .date(to)
            .int(i64::from(appointments))
            .text("imported")
            .uuid(clinician)
            .time(at);
        self.audit(
            tables,
            at,
            clinician,
            "clinician",
            None,
            "gp_appointment_count",
            id,
            patient,
        );
    }

    /// SWEMWBS (most of the time) and ONS4 (often), `lift` points better per item on average.
    #[allow(clippy::too_many_arguments)]
    fn wellbeing(
        &mut self,
        tables: &mut Tables,
        referral: Uuid,
        patient: Uuid,
        timepoint: &str,
        at: DateTime<Utc>,
        by: Uuid,
        lift: i64,
    ) {
        let rng = &mut self.rng;
        let swemwbs = rng.chance(0.95);
        let ons4 = !swemwbs || rng.chance(0.8);
        let mut row = tables
            .wellbeing_measures
            .row()
            .uuid(self.federation.id)
            .uuid(self.practice.id);
        let id = rng.id_at(at);
        row = row.uuid(id).uuid(referral).text(timepoint);
        if swemwbs {
            let items: Vec<i64> = (0..7)
                .map(|_| (rng.between(1, 4) + if rng.chance(0.6) { lift } else { 0 }).clamp(1, 5))
                .collect();
            let score = Swemwbs::score(&items).expect("answers of 1 to 5");
            row = row
                .ints(&items)
                .int(i64::from(score.raw))
                .int(i64::from(score.metric_hundredths));
        } else {
            row = row.null().null().null();
        }
        if ons4 {
            let better =
                |rng: &mut Rng, low: i64, high: i64| (rng.between(low, high) + lift).clamp(0, 10);
            let life = better(rng, 2, 7);
            let worthwhile = better(rng, 3, 7);
            let happiness = better(rng, 2, 7);
            let anxiety = (rng.between(3, 8) - lift).clamp(0, 10);
            row = row.int(life).int(worthwhile).int(happiness).int(anxiety);
        } else {
            row = row.null().null().null().null();
        }
        drop(row.uuid(by).time(at));
        self.audit(
            tables,
            at,
            by,
            "volunteer",
            None,
            "wellbeing_measure",
            id,
            patient,
        );
    }

    /// After the clinic: onward referrals and what providers did with them, the follow-up
    /// measures, the GP appointments after, and the referral's close.
    #[allow(clippy::too_many_arguments)]
    fn after_clinic(
        &mut self,
        tables: &mut Tables,
        ledger: &mut Ledger,
        referral: Uuid,
        patient: Uuid,
        needs: &[NeedCategory],
        referred_at: DateTime<Utc>,
        seen_at: DateTime<Utc>,
        moves: &mut Transitions,
        outcome: &mut Option<&'static str>,
        organisations: &mut Vec<Uuid>,
    ) {
        let end = self.plan.end;
        let practice = self.practice;
        let volunteer = practice.volunteer_users[self.rng.below(3) as usize];
        let onward_count = *self.rng.weighted(&[(0u32, 20), (1, 56), (2, 24)]);
        let closes_at = if onward_count == 0 {
            seen_at + Duration::days(14)
        } else {
            seen_at + Duration::days(self.rng.between(98, 140))
        };
        // Whether, and when, the referral closes before the story ends.
        let closes =
            (closes_at <= end && (onward_count > 0 || self.rng.chance(0.7))).then_some(closes_at);
        let mut onward_at = seen_at + Duration::hours(self.rng.between(1, 48));
        for _ in 0..onward_count {
            if onward_at > end || onward_at >= closes_at {
                break;
            }
            if moves.state == ReferralState::Seen {
                moves.to(
                    ReferralState::Active,
                    Some("referred onward"),
                    volunteer,
                    onward_at,
                );
            }
            self.onward(
                tables,
                ledger,
                referral,
                patient,
                needs,
                onward_at,
                closes,
                volunteer,
                organisations,
            );
            onward_at += Duration::hours(self.rng.between(1, 24));
        }

        let follow_up = seen_at + Duration::days(84);
        if moves.state == ReferralState::Active
            && follow_up <= end
            && follow_up < closes_at
            && self.rng.chance(0.7)
        {
            self.wellbeing(
                tables,
                referral,
                patient,
                "follow_up",
                follow_up,
                volunteer,
                1,
            );
        }
        let referred_on = referred_at.date_naive();
        let after_recorded = Utc.from_utc_datetime(
            &(referred_on + Duration::days(184))
                .and_hms_opt(11, 0, 0)
                .expect("an hour"),
        );
        if after_recorded <= end && self.rng.chance(0.6) {
            let after = self.rng.poisson(4.5);
            self.gp_count(
                tables,
                referral,
                patient,
                "after",
                referred_on + Duration::days(1),
                referred_on + Duration::days(182),
                after,
                after_recorded,
            );
        }
        if let Some(closes_at) = closes {
            let chosen = *self.rng.weighted(&[
                ("needs_met", 45),
                ("partly_met", 30),
                ("not_met", 10),
                ("disengaged", 10),
                ("moved_away", 5),
            ]);
            *outcome = Some(chosen);
            moves.to(
                ReferralState::Closed,
                None,
                practice.clinicians[0],
                closes_at,
            );
        }
    }

    /// An onward referral at `at`, answered by the provider and delivered before the referral
    /// `closes` (which withdraws what is still open) or the story ends.
    #[allow(clippy::too_many_arguments)]
    fn onward(
        &mut self,
        tables: &mut Tables,
        ledger: &mut Ledger,
        referral: Uuid,
        patient: Uuid,
        needs: &[NeedCategory],
        at: DateTime<Utc>,
        closes: Option<DateTime<Utc>>,
        by: Uuid,
        organisations: &mut Vec<Uuid>,
    ) {
        let until = closes.unwrap_or(self.plan.end);
        let federation = self.federation;
        let service_index = self.service_for(needs);
        let service: &Service = &federation.services[service_index];
        let organisation = &federation.organisations[service.organisation];
        let kind = if service.accepting_referrals && self.rng.chance(0.75) {
            "referral"
        } else {
            "signposting"
        };
        let id = self.rng.id_at(at);
        let mut state = if kind == "referral" {
            "pending"
        } else {
            "completed"
        };
        let mut version = 1;
        let mut updated_at = at;
        let mut responded: Option<DateTime<Utc>> = None;
        let mut decline_reason = None;
        if kind == "referral" {
            organisations.push(organisation.id);
            let answered = at + Duration::hours(self.rng.between(4, 120));
            if answered <= until {
                responded = Some(answered);
                version += 1;
                updated_at = answered;
                if self.rng.chance(0.85) {
                    state = "accepted";
                    let sessions = self.rng.between(1, 6);
                    let first = answered + Duration::days(self.rng.between(3, 10));
                    let mut last = None;
                    for week in 0..sessions {
                        let delivered = first + Duration::days(7 * week);
                        let delivered_on = delivered.date_naive();
                        let recorded_at = Utc.from_utc_datetime(
                            &delivered_on.and_hms_opt(16, 0, 0).expect("an hour"),
                        );
                        if recorded_at > until {
                            break;
                        }
                        self.activity(
                            tables,
                            ledger,
                            id,
                            service_index,
                            patient,
                            delivered_on,
                            recorded_at,
                        );
                        last = Some(recorded_at);
                    }
                    if let Some(last) = last {
                        let completed = last + Duration::days(7);
                        if completed <= until && self.rng.chance(0.8) {
                            state = "completed";
                            version += 1;
                            updated_at = completed;
                        }
                    }
                } else {
                    state = "declined";
                    decline_reason = Some("no places left this term");
                }
            }
            // A referral that closes takes its open onward referrals with it.
            if matches!(state, "pending" | "accepted") && closes.is_some() {
                state = "withdrawn";
                version += 1;
                updated_at = until;
            }
        }
        tables
            .onward_referrals
            .row()
            .uuid(federation.id)
            .uuid(self.practice.id)
            .uuid(id)
            .uuid(referral)
            .uuid(patient)
            .uuid(service.id)
            .uuid(organisation.id)
            .text(kind)
            .text(state)
            .opt_text(decline_reason)
            .uuid(by)
            .opt_uuid(responded.map(|_| organisation.provider))
            .opt_time(responded)
            .int(version)
            .time(at)
            .time(updated_at);
        self.audit(
            tables,
            at,
            by,
            "volunteer",
            None,
            "onward_referral",
            id,
            patient,
        );
    }

    /// A service for the referral's needs, taking referrals, if a few draws find one; else
    /// one taking referrals; else any.
    fn service_for(&mut self, needs: &[NeedCategory]) -> usize {
        let services = &self.federation.services;
        let mut fallback = None;
        for _ in 0..8 {
            let index = self.rng.below(services.len() as u64) as usize;
            let service = &services[index];
            if service.accepting_referrals {
                if service.needs.iter().any(|n| needs.contains(n)) {
                    return index;
                }
                fallback.get_or_insert(index);
            }
        }
        fallback.unwrap_or_else(|| self.rng.below(services.len() as u64) as usize)
    }

    #[allow(clippy::too_many_arguments)]
    fn activity(
        &mut self,
        tables: &mut Tables,
        ledger: &mut Ledger,
        onward: Uuid,
        service_index: usize,
        patient: Uuid,
        delivered_on: NaiveDate,
        recorded_at: DateTime<Utc>,
    ) {
        let federation = self.federation;
        let service = &federation.services[service_index];
        let organisation = &federation.organisations[service.organisation];
        let tariff = self.rng.pick(&service.tariffs);
        let id = self.rng.id_at(recorded_at);
        tables
            .activities
            .row()
            .uuid(federation.id)
            .uuid(self.practice.id)
            .uuid(id)
            .uuid(onward)
            .uuid(organisation.id)
            .uuid(service.id)
            .text(tariff.activity_type)
            .date(delivered_on)
            .int(1)
            .uuid(organisation.provider)
            .time(recorded_at);
        self.audit(
            tables,
            recorded_at,
            organisation.provider,
            "provider",
            Some(organisation.id),
            "activity",
            id,
            patient,
        );
        let decision = ledger.charge(
            &mut self.rng,
            service.organisation,
            tariff.unit_pence,
            delivered_on,
            recorded_at,
        );
        tables
            .charges
            .row()
            .uuid(federation.id)
            .uuid(self.rng.id_at(recorded_at))
            .uuid(self.practice.id)
            .uuid(id)
            .uuid(organisation.id)
            .uuid(service.id)
            .uuid(tariff.id)
            .text(tariff.activity_type)
            .date(delivered_on)
            .int(1)
            .int(tariff.unit_pence)
            .int(tariff.unit_pence)
            .text(decision.status)
            .opt_uuid(decision.approval_transfer)
            .opt_uuid(decision.remittance)
            .opt_uuid(decision.decided_at.map(|_| federation.admin))
            .opt_time(decision.decided_at)
            .opt_text(decision.reason)
            .int(decision.version)
            .time(recorded_at)
            .time(decision.updated_at);
    }

    #[allow(clippy::too_many_arguments)]
    fn audit(
        &mut self,
        tables: &mut Tables,
        at: DateTime<Utc>,
        actor: Uuid,
        role: &str,
        organisation: Option<Uuid>,
        resource_type: &str,
        resource: Uuid,
        patient: Uuid,
    ) {
        tables
            .audit_events
            .row()
            .uuid(self.federation.id)
            .uuid(self.practice.id)
            .uuid(self.rng.id_at(at))
            .time(at)
            .uuid(actor)
            .text("user")
            .texts(&[role])
            .opt_uuid(organisation)
            .text(if resource_type == "clinic_slot" {
                "update"
            } else {
                "create"
            })
            .text(resource_type)
            .uuid(resource)
            .uuid(patient);
    }

    /// The practice's clinics, written once every referral is told: sessions with their
    /// volunteer, and every slot, booked or free.
    pub fn finish(self, tables: &mut Tables) -> u64 {
        let fed = self.federation.id;
        let practice = self.practice;
        for session in &self.sessions {
            let ends_at =
                session.starts_at + Duration::minutes(SLOT_MINUTES * SLOTS_PER_SESSION as i64);
            tables
                .clinic_sessions
                .row()
                .uuid(fed)
                .uuid(practice.id)
                .uuid(session.id)
                .time(session.starts_at)
                .time(ends_at)
                .text(&session.location)
                .int(SLOT_MINUTES)
                .uuid(practice.admin)
                .time(session.created_at);
            tables
                .clinic_session_volunteers
                .row()
                .uuid(fed)
                .uuid(practice.id)
                .uuid(session.id)
                .uuid(self.volunteers[session.volunteer])
                .uuid(practice.admin)
                .time(session.created_at);
            for (k, booking) in session.slots.iter().enumerate() {
                let starts_at = session.starts_at + Duration::minutes(SLOT_MINUTES * k as i64);
                let slot = session.slot_ids[k];
                tables
                    .clinic_slots
                    .row()
                    .uuid(fed)
                    .uuid(practice.id)
                    .uuid(slot)
                    .uuid(session.id)
                    .time(starts_at)
                    .time(starts_at + Duration::minutes(SLOT_MINUTES))
                    .opt_uuid(booking.map(|b| b.referral))
                    .opt_uuid(booking.map(|b| b.booked_by))
                    .opt_time(booking.map(|b| b.booked_at))
                    .opt_text(booking.and_then(|b| b.attendance).map(|a| a.0))
                    .opt_time(booking.and_then(|b| b.attendance).map(|a| a.1));
            }
        }
        self.patients
    }
}

/// `at` moved into the working day (08:00 to 18:00 UTC, Monday to Friday).
fn working_hours(at: DateTime<Utc>) -> DateTime<Utc> {
    let mut day = at.date_naive();
    while matches!(day.weekday(), Weekday::Sat | Weekday::Sun) {
        day = day.succ_opt().expect("a day after");
    }
    let seconds = at.timestamp().rem_euclid(10 * 3600);
    Utc.from_utc_datetime(&day.and_hms_opt(8, 0, 0).expect("an hour")) + Duration::seconds(seconds)
}

/// A patient's sex as their record has it: social prescribing sees more women than men, and
/// a few records say nothing.
fn sex(rng: &mut Rng) -> Option<&'static str> {
    let draw = rng.below(1000);
    match draw {
        0..=589 => Some("female"),
        590..=979 => Some("male"),
        980..=984 => Some("indeterminate"),
        985..=989 => Some("not_known"),
        _ => None,
    }
}

/// The `n`th NHS number of the practice's patients, from the range set aside for testing
/// (999 000 000 0 and up, never issued to anyone): the nine digits 999 000 000 + 2n, or the
/// odd number after when no check digit makes that valid (then one does), and the Modulus 11
/// check digit. A practice has room for 500,000 patients.
fn nhs_number(n: u64) -> String {
    let stem = 999_000_000 + 2 * n;
    for stem in [stem, stem + 1] {
        if let Some(digit) = check_digit(&stem.to_string()) {
            return format!("{stem}{digit}");
        }
    }
    unreachable!("a stem ending in an even digit or the one after it has a check digit")
}

#[cfg(test)]
mod tests {
    use super::*;
    use waymark_domain::pathway::NhsNumber;

    #[test]
    fn nhs_numbers_are_valid_distinct_and_in_the_test_range() {
        let numbers: Vec<String> = (0..20_000).chain([499_999]).map(nhs_number).collect();
        for number in &numbers {
            assert!(number.starts_with("999"));
            NhsNumber::parse(number).unwrap();
        }
        let mut unique = numbers.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), numbers.len());
    }

    #[test]
    fn referrals_are_made_in_working_hours() {
        let saturday = Utc.with_ymd_and_hms(2026, 5, 2, 23, 30, 0).unwrap();
        let moved = working_hours(saturday);
        assert_eq!(moved.weekday(), Weekday::Mon);
        assert!((8..18).contains(&chrono::Timelike::hour(&moved)));
    }
}
