//! OpenAPI schemas for domain enums, built from the enums themselves so the document lists
//! exactly the values the service accepts.

use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, SchemaType, Type};
use utoipa::openapi::{Array, Object};
use waymark_domain::directory::{DeliveryMode, NeedCategory};
use waymark_domain::{Role, ServiceScope};

pub fn string_enum(values: impl IntoIterator<Item = &'static str>, description: &str) -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(values))
        .description(Some(description))
        .build()
}

/// `object`, or `null`: for an optional field that is sent or answered as `null`. A field with
/// a schema of its own (`schema_with`) does not get this from its `Option` type.
pub fn or_null(mut object: Object) -> Object {
    object.schema_type = match object.schema_type {
        SchemaType::Type(ty) => SchemaType::from_iter([ty, Type::Null]),
        other => other,
    };
    if let Some(values) = object.enum_values.as_mut() {
        values.push(serde_json::Value::Null);
    }
    object
}

fn array_or_null(mut array: Array) -> Array {
    array.schema_type = SchemaType::from_iter([Type::Array, Type::Null]);
    array
}

const ROLE_DESCRIPTION: &str = "A role; see the roles table in the API description";

pub fn roles() -> Array {
    ArrayBuilder::new()
        .items(string_enum(Role::ALL.map(Role::as_str), ROLE_DESCRIPTION))
        .build()
}

/// Roles a user can be given through the API: at least one, never platform_admin.
pub fn assignable_roles() -> Array {
    let assignable = Role::ALL
        .into_iter()
        .filter(|role| *role != Role::PlatformAdmin)
        .map(Role::as_str);
    ArrayBuilder::new()
        .items(string_enum(assignable, ROLE_DESCRIPTION))
        .min_items(Some(1))
        .build()
}

fn scope() -> Object {
    string_enum(
        ServiceScope::ALL.map(ServiceScope::as_str),
        "A service-account scope",
    )
}

pub fn scopes() -> Array {
    ArrayBuilder::new().items(scope()).build()
}

/// Scopes granted to a new service account: at least one.
pub fn granted_scopes() -> Array {
    ArrayBuilder::new()
        .items(scope())
        .min_items(Some(1))
        .build()
}

fn need_category() -> Object {
    string_enum(
        NeedCategory::ALL.map(NeedCategory::code),
        "A need category code; see GET /v1/directory/need-categories",
    )
}

fn delivery_mode() -> Object {
    string_enum(
        DeliveryMode::ALL.map(DeliveryMode::code),
        "How the patient takes part",
    )
}

pub fn need_categories() -> Array {
    ArrayBuilder::new()
        .items(need_category())
        .min_items(Some(1))
        .build()
}

pub fn delivery_modes() -> Array {
    ArrayBuilder::new()
        .items(delivery_mode())
        .min_items(Some(1))
        .build()
}

/// Need categories to change, if given: at least one, as a service always has.
pub fn optional_need_categories() -> Array {
    array_or_null(need_categories())
}

/// Delivery modes to change, if given: at least one, as a service always has.
pub fn optional_delivery_modes() -> Array {
    array_or_null(delivery_modes())
}

pub fn day_of_week() -> Object {
    string_enum(
        waymark_domain::directory::schedule::DayOfWeek::ALL
            .map(waymark_domain::directory::schedule::DayOfWeek::code),
        "A day of the week (requests may also write mon to sun, or MO to SU)",
    )
}

pub fn referral_state() -> Object {
    string_enum(
        waymark_domain::pathway::ReferralState::ALL
            .map(waymark_domain::pathway::ReferralState::code),
        "A referral's state: received → booked → seen → active → closed, or one of the exits \
         declined, did_not_attend, withdrawn",
    )
}

pub fn referral_states() -> Array {
    ArrayBuilder::new().items(referral_state()).build()
}

pub fn urgency() -> Object {
    use waymark_domain::pathway::referral::Urgency;
    string_enum(
        Urgency::ALL.iter().map(|u| u.code()),
        "How soon the patient should be seen",
    )
}

pub fn outcome() -> Object {
    use waymark_domain::pathway::referral::Outcome;
    string_enum(
        Outcome::ALL.iter().map(|o| o.code()),
        "How a referral ended",
    )
}

pub fn timepoint() -> Object {
    use waymark_domain::pathway::wellbeing::Timepoint;
    string_enum(
        Timepoint::ALL.iter().map(|t| t.code()),
        "When a wellbeing measure was taken",
    )
}

pub fn onward_state() -> Object {
    use waymark_domain::pathway::onward::OnwardReferralState;
    string_enum(
        OnwardReferralState::ALL.iter().map(|s| s.code()),
        "An onward referral's state: pending → accepted → completed, or declined / withdrawn",
    )
}

pub fn onward_kind() -> Object {
    use waymark_domain::pathway::onward::OnwardKind;
    string_enum(
        OnwardKind::ALL.iter().map(|k| k.code()),
        "`referral` is sent to the provider to accept or decline; `signposting` only tells the \
         patient about the service",
    )
}

pub fn concern_status() -> Object {
    use waymark_domain::pathway::safeguarding::ConcernStatus;
    string_enum(
        ConcernStatus::ALL.iter().map(|s| s.code()),
        "A safeguarding concern's status",
    )
}

pub fn appointment_window() -> Object {
    use waymark_domain::pathway::gp_appointments::AppointmentWindow;
    string_enum(
        AppointmentWindow::ALL.iter().map(|w| w.code()),
        "The window before or after the referral",
    )
}

pub fn attendance() -> Object {
    use waymark_domain::pathway::clinic::Attendance;
    string_enum(
        Attendance::ALL.map(Attendance::code),
        "Whether the booked patient came to the clinic",
    )
}

pub fn clearance_code() -> Object {
    use waymark_domain::pathway::volunteer::NotCleared;
    string_enum(NotCleared::CODES, "Why the volunteer may not run a clinic")
}

pub fn charge_status() -> Object {
    use waymark_domain::ledger::ChargeStatus;
    string_enum(
        ChargeStatus::ALL.map(ChargeStatus::code),
        "A charge's status: pending → approved → paid, or rejected, or reversed",
    )
}

/// The `status` filter of safeguarding concerns: a status, or `all`.
pub fn concern_status_filter() -> Object {
    use waymark_domain::pathway::safeguarding::ConcernStatus;
    string_enum(
        ConcernStatus::ALL
            .iter()
            .map(|s| s.code())
            .chain([CONCERN_STATUS_ALL]),
        "`open` (the default) or `resolved`; `all` for both",
    )
}

/// The `status` filter value that asks for concerns of every status.
pub const CONCERN_STATUS_ALL: &str = "all";

/// An NHS number as the API reads it: ten digits, with any spaces or hyphens between them
/// (`943 476 5919`). The Modulus 11 check digit cannot be written as a pattern.
pub fn nhs_number() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some("^[ -]*([0-9][ -]*){10}$"))
        .examples(["943 476 5919"])
        .description(Some(
            "Ten digits with a valid Modulus 11 check digit; spaces and hyphens are ignored",
        ))
        .build()
}

/// The empty value a query filter takes for "any", as form-driven clients send it.
const ANY: &str = "";

pub fn need_category_filter() -> Object {
    string_enum(
        NeedCategory::ALL
            .map(NeedCategory::code)
            .into_iter()
            .chain([ANY]),
        "Only services meeting this need (a code from GET /v1/directory/need-categories); an \
         empty value counts as absent",
    )
}

pub fn delivery_mode_filter() -> Object {
    string_enum(
        DeliveryMode::ALL
            .map(DeliveryMode::code)
            .into_iter()
            .chain([ANY]),
        "Only services delivered this way; an empty value counts as absent",
    )
}

/// Roles to change, if given; `null` leaves them as they are.
pub fn optional_assignable_roles() -> Array {
    array_or_null(assignable_roles())
}

/// A referral's state, or `null` where there was none (the first entry of its history).
pub fn optional_referral_state() -> Object {
    or_null(referral_state())
}

/// An outcome, or `null` until the referral is closed.
pub fn optional_outcome() -> Object {
    or_null(outcome())
}

/// Phenotypic sex, or `null` when not recorded.
pub fn optional_sex() -> Object {
    use waymark_domain::pathway::demographics::Sex;
    or_null(string_enum(
        Sex::ALL.iter().map(|s| s.code()),
        "Phenotypic sex (NHS Data Dictionary)",
    ))
}

/// An NHS ethnic category code, or `null` when not recorded.
pub fn optional_ethnic_category() -> Object {
    use waymark_domain::pathway::demographics::ETHNIC_CATEGORIES;
    or_null(string_enum(
        ETHNIC_CATEGORIES.iter().map(|(code, _)| *code),
        "NHS ethnic category (the 2001 census classification)",
    ))
}

/// An attendance, or `null` until it is recorded.
pub fn optional_attendance() -> Object {
    or_null(attendance())
}

/// The states a client may ask a referral to move to: not the one it starts in, nor those
/// reached through the clinic (booking a slot, recording attendance).
pub fn requested_referral_state() -> Object {
    use waymark_domain::pathway::referral::reached_through_clinic;
    use waymark_domain::pathway::ReferralState;
    string_enum(
        ReferralState::ALL
            .into_iter()
            .filter(|state| *state != ReferralState::Received && !reached_through_clinic(*state))
            .map(ReferralState::code),
        "The state to move to: `declined` or `withdrawn` (with a reason), `active`, or `closed` \
         (with an outcome)",
    )
}

/// The seven SWEMWBS answers in questionnaire order, each 1 (none of the time) to 5 (all of
/// the time); `null` or absent when the measure has no SWEMWBS.
pub fn swemwbs_answers() -> Array {
    use waymark_domain::pathway::wellbeing::{SWEMWBS_ITEMS, SWEMWBS_ITEM_MAX, SWEMWBS_ITEM_MIN};
    let answer = ObjectBuilder::new()
        .schema_type(Type::Integer)
        .minimum(Some(SWEMWBS_ITEM_MIN))
        .maximum(Some(SWEMWBS_ITEM_MAX));
    array_or_null(
        ArrayBuilder::new()
            .items(answer)
            .min_items(Some(SWEMWBS_ITEMS))
            .max_items(Some(SWEMWBS_ITEMS))
            .description(Some(
                "The seven SWEMWBS answers in questionnaire order, each 1 (none of the time) to \
                 5 (all of the time)",
            ))
            .build(),
    )
}
