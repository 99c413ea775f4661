//! The need-category taxonomy: the common reasons for social prescribing. Codes are stable and
//! used in requests; each category also has a fixed UUID, its id as an Open Referral UK taxonomy
//! term, so other directories can rely on it.

use std::fmt;
use std::str::FromStr;
use uuid::Uuid;

#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum NeedCategory {
    LonelinessIsolation,
    MentalWellbeing,
    PhysicalActivity,
    DebtBenefits,
    Housing,
    EmploymentSkills,
    CarersSupport,
    Bereavement,
    Food,
    HealthyLifestyle,
    ArtsCreativity,
    Volunteering,
}

/// The taxonomy's own id, as an Open Referral UK taxonomy.
pub const TAXONOMY_ID: Uuid = Uuid::from_u128(0x019ab1c0_7a00_7000_8000_000000000000);
pub const TAXONOMY_NAME: &str = "Waymark social prescribing needs";

impl NeedCategory {
    pub const ALL: [NeedCategory; 12] = [
        NeedCategory::LonelinessIsolation,
        NeedCategory::MentalWellbeing,
        NeedCategory::PhysicalActivity,
        NeedCategory::DebtBenefits,
        NeedCategory::Housing,
        NeedCategory::EmploymentSkills,
        NeedCategory::CarersSupport,
        NeedCategory::Bereavement,
        NeedCategory::Food,
        NeedCategory::HealthyLifestyle,
        NeedCategory::ArtsCreativity,
        NeedCategory::Volunteering,
    ];

    pub const fn code(self) -> &'static str {
        match self {
            NeedCategory::LonelinessIsolation => "loneliness_isolation",
            NeedCategory::MentalWellbeing => "mental_wellbeing",
            NeedCategory::PhysicalActivity => "physical_activity",
            NeedCategory::DebtBenefits => "debt_benefits",
            NeedCategory::Housing => "housing",
            NeedCategory::EmploymentSkills => "employment_skills",
            NeedCategory::CarersSupport => "carers_support",
            NeedCategory::Bereavement => "bereavement",
            NeedCategory::Food => "food",
            NeedCategory::HealthyLifestyle => "healthy_lifestyle",
            NeedCategory::ArtsCreativity => "arts_creativity",
            NeedCategory::Volunteering => "volunteering",
        }
    }

    pub const fn name(self) -> &'static str {
        match self {
            NeedCategory::LonelinessIsolation => "Loneliness and isolation",
            NeedCategory::MentalWellbeing => "Mental wellbeing",
            NeedCategory::PhysicalActivity => "Physical activity",
            NeedCategory::DebtBenefits => "Debt, money and benefits",
            NeedCategory::Housing => "Housing",
            NeedCategory::EmploymentSkills => "Employment and skills",
            NeedCategory::CarersSupport => "Carers' support",
            NeedCategory::Bereavement => "Bereavement",
            NeedCategory::Food => "Food",
            NeedCategory::HealthyLifestyle => "Healthy lifestyle",
            NeedCategory::ArtsCreativity => "Arts and creativity",
            NeedCategory::Volunteering => "Volunteering and community involvement",
        }
    }

    pub const fn description(self) -> &'static str {
        match self {
            NeedCategory::LonelinessIsolation => {
                "Befriending, social groups and help to reconnect with people"
            }
            NeedCategory::MentalWellbeing => {
                "Low mood, anxiety and stress: talking support, peer groups, self-help"
            }
            NeedCategory::PhysicalActivity => "Walking groups, gentle exercise, sport and movement",
            NeedCategory::DebtBenefits => "Debt advice, benefit checks and help with bills",
            NeedCategory::Housing => "Housing advice, tenancy support, repairs and warmth",
            NeedCategory::EmploymentSkills => "Job search, training, digital and everyday skills",
            NeedCategory::CarersSupport => "Support, breaks and advice for unpaid carers",
            NeedCategory::Bereavement => "Support after the death of someone close",
            NeedCategory::Food => "Food banks, community meals and cooking on a budget",
            NeedCategory::HealthyLifestyle => "Weight, smoking, alcohol and healthy eating",
            NeedCategory::ArtsCreativity => "Arts, crafts, music and creative groups",
            NeedCategory::Volunteering => {
                "Opportunities to volunteer and take part in the community"
            }
        }
    }

    /// The category's fixed id as an Open Referral UK taxonomy term.
    pub const fn term_id(self) -> Uuid {
        Uuid::from_u128(0x019ab1c0_7a00_7000_8000_000000000000 + 1 + self as u128)
    }

    pub fn from_term_id(id: Uuid) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.term_id() == id)
    }
}

impl fmt::Display for NeedCategory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown need category `{0}`")]
pub struct UnknownNeedCategory(pub String);

impl FromStr for NeedCategory {
    type Err = UnknownNeedCategory;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|c| c.code() == s)
            .ok_or_else(|| UnknownNeedCategory(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn codes_and_term_ids_are_unique_and_round_trip() {
        let codes: HashSet<_> = NeedCategory::ALL.iter().map(|c| c.code()).collect();
        let ids: HashSet<_> = NeedCategory::ALL.iter().map(|c| c.term_id()).collect();
        assert_eq!(codes.len(), NeedCategory::ALL.len());
        assert_eq!(ids.len(), NeedCategory::ALL.len());
        assert!(!ids.contains(&TAXONOMY_ID));
        for category in NeedCategory::ALL {
            assert_eq!(category.code().parse::<NeedCategory>().unwrap(), category);
            assert_eq!(
                NeedCategory::from_term_id(category.term_id()),
                Some(category)
            );
        }
        assert!("knitting".parse::<NeedCategory>().is_err());
    }
}
