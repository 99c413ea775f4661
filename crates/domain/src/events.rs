//! The change feed: which events there are, who may follow which, and the feed's cursor.
//!
//! An event says that a resource was created or changed, with its id and a few fields every
//! reader of it may see (a state, a version, an amount), never a patient's details: a reader
//! fetches the resource itself, through the route that checks its access to it.

use crate::access::Principal;
use crate::ids::{OrganisationId, PracticeId};
use crate::role::{Role, ServiceScope};

/// What an event is about; an event's type starts with its resource type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ResourceType {
    Referral,
    OnwardReferral,
    Activity,
    Charge,
    PaymentRun,
    Remittance,
    Organisation,
    Service,
    /// A SNOMED CT code queued for the GP record.
    GpCodingEvent,
}

impl ResourceType {
    pub const ALL: [ResourceType; 9] = [
        ResourceType::Referral,
        ResourceType::OnwardReferral,
        ResourceType::Activity,
        ResourceType::Charge,
        ResourceType::PaymentRun,
        ResourceType::Remittance,
        ResourceType::Organisation,
        ResourceType::Service,
        ResourceType::GpCodingEvent,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            ResourceType::Referral => "referral",
            ResourceType::OnwardReferral => "onward_referral",
            ResourceType::Activity => "activity",
            ResourceType::Charge => "charge",
            ResourceType::PaymentRun => "payment_run",
            ResourceType::Remittance => "remittance",
            ResourceType::Organisation => "organisation",
            ResourceType::Service => "service",
            ResourceType::GpCodingEvent => "gp_coding_event",
        }
    }

    /// The events written for this resource (by the database's triggers).
    pub const fn verbs(self) -> &'static [&'static str] {
        match self {
            ResourceType::Referral
            | ResourceType::OnwardReferral
            | ResourceType::Charge
            | ResourceType::Organisation
            | ResourceType::Service => &["created", "updated"],
            ResourceType::Activity => &["recorded"],
            ResourceType::PaymentRun | ResourceType::Remittance => &["created"],
            ResourceType::GpCodingEvent => &["created", "acknowledged"],
        }
    }

    const fn is_directory(self) -> bool {
        matches!(self, ResourceType::Organisation | ResourceType::Service)
    }
}

/// Every event type, `resource.verb`.
pub fn event_types() -> Vec<String> {
    ResourceType::ALL
        .iter()
        .flat_map(|r| r.verbs().iter().map(move |v| format!("{}.{v}", r.as_str())))
        .collect()
}

/// Parses a `types` parameter: event types separated by commas, each known; none means all.
pub fn parse_types(raw: Option<&str>) -> Result<Vec<String>, String> {
    let known = event_types();
    let Some(raw) = raw.map(str::trim).filter(|r| !r.is_empty()) else {
        return Ok(Vec::new());
    };
    let mut types = Vec::new();
    for name in raw.split(',').map(str::trim) {
        if !known.iter().any(|k| k == name) {
            return Err(format!(
                "{name:?} is not an event type; the types are {}",
                known.join(", ")
            ));
        }
        if !types.iter().any(|t: &String| t == name) {
            types.push(name.to_owned());
        }
    }
    Ok(types)
}

/// Whose events a caller follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Audience {
    /// A federation administrator: every event of the federation.
    Federation,
    /// Practice staff: their practice's referrals, onward referrals, activities and the codes
    /// queued for its GP record, and the directory.
    Practice(PracticeId),
    /// A provider: its own onward referrals (not signpostings), activities, charges and
    /// remittances, and the directory.
    Provider(OrganisationId),
    /// A service account with `events:read`: what belongs to no practice (the directory,
    /// payment runs and remittances).
    Integration,
}

/// Which events an audience reads: resource types it may see at all, those of them it sees
/// for the whole federation, and the practice or provider that scopes the rest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Visibility {
    pub resource_types: Vec<ResourceType>,
    pub federation_wide: Vec<ResourceType>,
    pub practice: Option<PracticeId>,
    pub organisation: Option<OrganisationId>,
}

impl Audience {
    /// The audience `principal` follows the feed as, or `None` when it may not follow it
    /// (commissioners read aggregates only; a service account needs `events:read`).
    pub fn of(principal: &Principal) -> Option<Self> {
        principal.federation_id?;
        if principal.has_role(Role::FederationAdmin) {
            return Some(Audience::Federation);
        }
        if principal.has_scope(ServiceScope::EventsRead) {
            return Some(Audience::Integration);
        }
        if principal.has_role(Role::Provider) {
            return principal.organisation_id.map(Audience::Provider);
        }
        let practice_staff = [Role::PracticeAdmin, Role::Clinician, Role::Volunteer];
        if practice_staff.iter().any(|r| principal.has_role(*r)) {
            return principal.practice_id.map(Audience::Practice);
        }
        None
    }

    pub fn visibility(self) -> Visibility {
        use ResourceType::*;
        let directory: Vec<ResourceType> = ResourceType::ALL
            .into_iter()
            .filter(|r| r.is_directory())
            .collect();
        match self {
            Audience::Federation => Visibility {
                resource_types: ResourceType::ALL.to_vec(),
                federation_wide: ResourceType::ALL.to_vec(),
                practice: None,
                organisation: None,
            },
            Audience::Practice(practice) => Visibility {
                resource_types: [
                    &[Referral, OnwardReferral, Activity, GpCodingEvent][..],
                    &directory,
                ]
                .concat(),
                federation_wide: directory,
                practice: Some(practice),
                organisation: None,
            },
            Audience::Provider(organisation) => Visibility {
                resource_types: [
                    &[OnwardReferral, Activity, Charge, Remittance][..],
                    &directory,
                ]
                .concat(),
                federation_wide: directory,
                practice: None,
                organisation: Some(organisation),
            },
            Audience::Integration => {
                let types = [&[PaymentRun, Remittance][..], &directory].concat();
                Visibility {
                    resource_types: types.clone(),
                    federation_wide: types,
                    practice: None,
                    organisation: None,
                }
            }
        }
    }
}

/// A place in a federation's feed: resume after this position (0 is the start). Positions
/// count from 1 without gaps, in the order events were sequenced after they committed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct FeedCursor(i64);

impl FeedCursor {
    pub const START: FeedCursor = FeedCursor(0);

    pub fn after(position: i64) -> Self {
        Self(position.max(0))
    }

    pub fn position(self) -> i64 {
        self.0
    }

    pub fn encode(self) -> String {
        self.0.to_string()
    }

    pub fn decode(raw: &str) -> Result<Self, String> {
        match raw.parse::<i64>() {
            Ok(n) if n >= 0 => Ok(Self(n)),
            _ => Err(format!(
                "after must be a cursor this feed gave (a whole number from 0), not {raw:?}"
            )),
        }
    }

    /// Whether this cursor names a position the feed has not reached: no cursor the feed gave
    /// can, so it was mistyped or belongs to another federation's feed, and going on from it
    /// would silently pass over the events before it.
    pub fn is_ahead_of(self, last_position: i64) -> bool {
        self.0 > last_position
    }

    /// Where a reader goes on from after a page read from this cursor: the page's last event,
    /// or, when nothing more was waiting, the feed's end (`last_position`, read before the
    /// page), so that a reader who sees few of the feed's events does not read the rest again.
    pub fn next(self, last_shown: Option<i64>, more_waiting: bool, last_position: i64) -> Self {
        match last_shown {
            Some(last) if more_waiting => Self::after(last),
            Some(last) => Self::after(last.max(last_position)),
            None => Self::after(self.0.max(last_position)),
        }
    }

    /// Whether events after this cursor have been pruned, so that following on from it would
    /// miss some. The start of the feed never expires: it is the oldest event kept.
    pub fn has_expired(self, pruned_through: i64) -> bool {
        self != Self::START && self.0 < pruned_through
    }
}

pub const DEFAULT_FEED_LIMIT: u32 = 100;
pub const MAX_FEED_LIMIT: u32 = 1000;

/// How many events a page holds: 1 to [`MAX_FEED_LIMIT`].
pub fn feed_limit(raw: Option<u32>) -> Result<u32, String> {
    match raw {
        None => Ok(DEFAULT_FEED_LIMIT),
        Some(n) if (1..=MAX_FEED_LIMIT).contains(&n) => Ok(n),
        Some(n) => Err(format!(
            "limit must be between 1 and {MAX_FEED_LIMIT}, not {n}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::PrincipalKind;
    use crate::ids::FederationId;
    use uuid::Uuid;

    fn principal(roles: Vec<Role>, scopes: Vec<ServiceScope>) -> Principal {
        Principal {
            kind: if scopes.is_empty() {
                PrincipalKind::User
            } else {
                PrincipalKind::ServiceAccount
            },
            subject: Uuid::now_v7(),
            federation_id: Some(FederationId::from(Uuid::now_v7())),
            practice_id: Some(PracticeId::from(Uuid::now_v7())),
            organisation_id: Some(OrganisationId::from(Uuid::now_v7())),
            roles,
            scopes,
        }
    }

    #[test]
    fn each_reader_follows_its_own_part_of_the_feed_and_commissioners_none() {
        let admin = principal(vec![Role::FederationAdmin], vec![]);
        assert_eq!(Audience::of(&admin), Some(Audience::Federation));
        let clinician = principal(vec![Role::Clinician], vec![]);
        assert_eq!(
            Audience::of(&clinician),
            Some(Audience::Practice(clinician.practice_id.unwrap()))
        );
        let provider = principal(vec![Role::Provider], vec![]);
        assert_eq!(
            Audience::of(&provider),
            Some(Audience::Provider(provider.organisation_id.unwrap()))
        );
        assert_eq!(
            Audience::of(&principal(vec![], vec![ServiceScope::EventsRead])),
            Some(Audience::Integration)
        );
        assert_eq!(
            Audience::of(&principal(vec![], vec![ServiceScope::StatsRead])),
            None
        );
        assert_eq!(
            Audience::of(&principal(vec![Role::Commissioner], vec![])),
            None
        );
        let mut platform = principal(vec![Role::PlatformAdmin], vec![]);
        platform.federation_id = None;
        assert_eq!(Audience::of(&platform), None);
    }

    #[test]
    fn no_reader_but_the_federation_admin_sees_another_practices_records() {
        for audience in [
            Audience::Practice(PracticeId::from(Uuid::now_v7())),
            Audience::Provider(OrganisationId::from(Uuid::now_v7())),
            Audience::Integration,
        ] {
            let seen = audience.visibility();
            for wide in &seen.federation_wide {
                assert!(
                    !matches!(
                        wide,
                        ResourceType::Referral
                            | ResourceType::OnwardReferral
                            | ResourceType::Activity
                            | ResourceType::Charge
                    ),
                    "{audience:?} sees every practice's {wide:?} events"
                );
            }
            assert!(seen
                .federation_wide
                .iter()
                .all(|w| seen.resource_types.contains(w)));
        }
        let practice = Audience::Practice(PracticeId::from(Uuid::now_v7())).visibility();
        assert!(!practice.resource_types.contains(&ResourceType::Charge));
        assert!(!practice.resource_types.contains(&ResourceType::Remittance));
    }

    #[test]
    fn types_are_checked_and_cursors_are_positions() {
        assert_eq!(parse_types(None).unwrap(), Vec::<String>::new());
        assert_eq!(
            parse_types(Some("referral.created, charge.updated,referral.created")).unwrap(),
            vec!["referral.created", "charge.updated"]
        );
        assert!(parse_types(Some("referral.deleted")).is_err());
        assert!(event_types().contains(&"activity.recorded".to_owned()));
        assert_eq!(FeedCursor::decode("42").unwrap().position(), 42);
        assert!(FeedCursor::decode("-1").is_err());
        assert!(FeedCursor::decode("abc").is_err());
        assert!(FeedCursor::decode("3").unwrap().has_expired(5));
        assert!(!FeedCursor::decode("5").unwrap().has_expired(5));
        assert!(!FeedCursor::START.has_expired(5));
        assert!(FeedCursor::after(6).is_ahead_of(5));
        assert!(!FeedCursor::after(5).is_ahead_of(5));
        assert!(!FeedCursor::START.is_ahead_of(0));
        // More waiting: on from the last shown, never beyond it.
        assert_eq!(
            FeedCursor::after(3).next(Some(9), true, 20),
            FeedCursor::after(9)
        );
        // Nothing more: on to the feed's end, past what this reader may not see.
        assert_eq!(
            FeedCursor::after(3).next(Some(9), false, 20),
            FeedCursor::after(20)
        );
        assert_eq!(
            FeedCursor::after(3).next(None, false, 20),
            FeedCursor::after(20)
        );
        // A cursor beyond the end (another feed's) stays where it is.
        assert_eq!(
            FeedCursor::after(30).next(None, false, 20),
            FeedCursor::after(30)
        );
        assert_eq!(feed_limit(None), Ok(DEFAULT_FEED_LIMIT));
        assert!(feed_limit(Some(0)).is_err());
        assert!(feed_limit(Some(MAX_FEED_LIMIT + 1)).is_err());
    }
}
