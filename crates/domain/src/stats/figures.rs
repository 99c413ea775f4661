//! Each statistic derived from the rollups' sums, every figure passed through the federation's
//! disclosure policy: counts of people suppressed or rounded, measures over too few people not
//! shown, percentages from the rounded figures.

use super::disclosure::{Cell, DisclosurePolicy};
use super::measures::{
    PairSums, ReferralMeasures, ONS4_MEANINGFUL_CHANGE, SWEMWBS_MEANINGFUL_CHANGE_HUNDREDTHS,
};

/// A sum of contributions is never below zero once every delta is in; a reader that sees a
/// negative one has found a bug, and shows nothing rather than a negative count.
fn people(sum: i64) -> u64 {
    u64::try_from(sum).unwrap_or(0)
}

/// numerator ÷ denominator to `places` decimal places, halves away from zero, worked out in
/// integers so that 2.345 is not taken for 2.3449….
fn ratio(numerator: i64, denominator: i64, places: u32) -> f64 {
    let scale = 10i128.pow(places);
    let (n, d) = (i128::from(numerator) * scale, i128::from(denominator));
    let quotient = (2 * n.abs() + d) / (2 * d);
    (quotient * n.signum()) as f64 / scale as f64
}

/// `value` as it may be shown, over `people` people: not shown over 1 to the threshold, absent
/// over nobody.
fn over<T: Copy>(policy: &DisclosurePolicy, value: T, people: u64) -> Option<Cell<T>> {
    policy.measure(0.0, people).map(|cell| match cell {
        Cell::Shown(_) => Cell::Shown(value),
        Cell::Suppressed(why) => Cell::Suppressed(why),
    })
}

/// A percentage to one decimal place, from the rounded numerator and denominator (so a reader
/// can recompute it from the counts beside it).
fn share(policy: &DisclosurePolicy, numerator: i64, denominator: i64) -> Option<Cell<f64>> {
    let (numerator, denominator) = (people(numerator), people(denominator));
    policy.percentage(numerator, denominator).map(|cell| {
        match (cell, policy.count(numerator), policy.count(denominator)) {
            (Cell::Shown(_), Cell::Shown(n), Cell::Shown(d)) => {
                Cell::Shown(ratio(100 * n as i64, d as i64, 1))
            }
            (other, _, _) => other,
        }
    })
}

/// The stages of the pathway, in order; each counts the referrals that reached it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    Referred,
    Booked,
    Seen,
    OnwardReferred,
    Engaged,
    Closed,
    Declined,
    DidNotAttend,
    Withdrawn,
}

impl Stage {
    /// The pathway in order: each stage is reached by no more referrals than the one before.
    pub const PATHWAY: [Stage; 6] = [
        Stage::Referred,
        Stage::Booked,
        Stage::Seen,
        Stage::OnwardReferred,
        Stage::Engaged,
        Stage::Closed,
    ];
    /// The ways out before the end.
    pub const EXITS: [Stage; 3] = [Stage::Declined, Stage::DidNotAttend, Stage::Withdrawn];

    pub const fn code(self) -> &'static str {
        match self {
            Stage::Referred => "referred",
            Stage::Booked => "booked",
            Stage::Seen => "seen",
            Stage::OnwardReferred => "onward_referred",
            Stage::Engaged => "engaged",
            Stage::Closed => "closed",
            Stage::Declined => "declined",
            Stage::DidNotAttend => "did_not_attend",
            Stage::Withdrawn => "withdrawn",
        }
    }

    pub fn of(self, m: &ReferralMeasures) -> i64 {
        match self {
            Stage::Referred => m.referrals,
            Stage::Booked => m.booked,
            Stage::Seen => m.seen,
            Stage::OnwardReferred => m.onward_referred,
            Stage::Engaged => m.engaged,
            Stage::Closed => m.closed,
            Stage::Declined => m.declined,
            Stage::DidNotAttend => m.did_not_attend,
            Stage::Withdrawn => m.withdrawn,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct StageFigure {
    pub stage: Stage,
    pub referrals: Cell<u64>,
    /// As a percentage of the referrals made.
    pub percent_of_referred: Option<Cell<f64>>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Funnel {
    pub stages: Vec<StageFigure>,
    pub exits: Vec<StageFigure>,
    /// Referrals seen at a clinic.
    pub first_contacts: Cell<u64>,
    pub median_days_to_first_contact: Option<Cell<f64>>,
    pub mean_days_to_first_contact: Option<Cell<f64>>,
}

/// The median of the values a histogram of (value, how many) holds, the mean of the middle two
/// when there is an even number; none when it is empty.
pub fn median(histogram: &[(i32, i64)]) -> Option<f64> {
    let mut sorted: Vec<(i32, u64)> = histogram
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|&(v, n)| (v, n as u64))
        .collect();
    sorted.sort_unstable();
    let total: u64 = sorted.iter().map(|(_, n)| n).sum();
    if total == 0 {
        return None;
    }
    // The values at 0-based ranks (total - 1) / 2 and total / 2.
    let at = |rank: u64| {
        let mut seen = 0;
        for &(value, n) in &sorted {
            seen += n;
            if rank < seen {
                return value;
            }
        }
        unreachable!("the rank is below the total")
    };
    Some((f64::from(at((total - 1) / 2)) + f64::from(at(total / 2))) / 2.0)
}

pub fn funnel(
    policy: &DisclosurePolicy,
    m: &ReferralMeasures,
    contact_days: &[(i32, i64)],
) -> Funnel {
    let figure = |stage: Stage| StageFigure {
        stage,
        referrals: policy.count(people(stage.of(m))),
        percent_of_referred: share(policy, stage.of(m), m.referrals),
    };
    let contacts = people(m.contacts);
    Funnel {
        stages: Stage::PATHWAY.into_iter().map(figure).collect(),
        exits: Stage::EXITS.into_iter().map(figure).collect(),
        first_contacts: policy.count(contacts),
        median_days_to_first_contact: median(contact_days)
            .and_then(|days| over(policy, days, contacts)),
        mean_days_to_first_contact: (contacts > 0)
            .then(|| ratio(m.contact_days_total, contacts as i64, 1))
            .and_then(|days| over(policy, days, contacts)),
    }
}

/// The wellbeing measures recorded at baseline and follow-up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WellbeingMeasure {
    /// The Short Warwick-Edinburgh Mental Wellbeing Scale, metric score (7 to 35).
    Swemwbs,
    LifeSatisfaction,
    Worthwhile,
    Happiness,
    Anxiety,
}

impl WellbeingMeasure {
    pub const ALL: [WellbeingMeasure; 5] = [
        WellbeingMeasure::Swemwbs,
        WellbeingMeasure::LifeSatisfaction,
        WellbeingMeasure::Worthwhile,
        WellbeingMeasure::Happiness,
        WellbeingMeasure::Anxiety,
    ];

    pub const fn code(self) -> &'static str {
        match self {
            WellbeingMeasure::Swemwbs => "swemwbs",
            WellbeingMeasure::LifeSatisfaction => "ons4_life_satisfaction",
            WellbeingMeasure::Worthwhile => "ons4_worthwhile",
            WellbeingMeasure::Happiness => "ons4_happiness",
            WellbeingMeasure::Anxiety => "ons4_anxiety",
        }
    }

    /// Whether a rise is an improvement (anxiety is better lower).
    pub const fn higher_is_better(self) -> bool {
        !matches!(self, WellbeingMeasure::Anxiety)
    }

    /// The least change counted as an improvement, in the measure's points.
    pub fn meaningful_change(self) -> f64 {
        match self {
            WellbeingMeasure::Swemwbs => SWEMWBS_MEANINGFUL_CHANGE_HUNDREDTHS as f64 / 100.0,
            _ => ONS4_MEANINGFUL_CHANGE as f64,
        }
    }

    /// Hundredths for SWEMWBS's metric score, whole points for ONS4.
    fn scale(self) -> i64 {
        match self {
            WellbeingMeasure::Swemwbs => 100,
            _ => 1,
        }
    }

    pub fn of(self, m: &ReferralMeasures) -> PairSums {
        match self {
            WellbeingMeasure::Swemwbs => m.swemwbs,
            WellbeingMeasure::LifeSatisfaction => m.life_satisfaction,
            WellbeingMeasure::Worthwhile => m.worthwhile,
            WellbeingMeasure::Happiness => m.happiness,
            WellbeingMeasure::Anxiety => m.anxiety,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct WellbeingFigure {
    pub measure: WellbeingMeasure,
    /// Referrals with both a baseline and a follow-up.
    pub pairs: Cell<u64>,
    /// Mean of (follow-up − baseline), in the measure's points.
    pub mean_change: Option<Cell<f64>>,
    /// Pairs that improved by at least the meaningful change.
    pub improved: Cell<u64>,
    pub percent_improved: Option<Cell<f64>>,
}

pub fn wellbeing(policy: &DisclosurePolicy, m: &ReferralMeasures) -> Vec<WellbeingFigure> {
    WellbeingMeasure::ALL
        .into_iter()
        .map(|measure| {
            let sums = measure.of(m);
            let pairs = people(sums.pairs);
            WellbeingFigure {
                measure,
                pairs: policy.count(pairs),
                mean_change: (pairs > 0)
                    .then(|| ratio(sums.change, measure.scale() * pairs as i64, 2))
                    .and_then(|change| over(policy, change, pairs)),
                improved: policy.count(people(sums.improved)),
                percent_improved: share(policy, sums.improved, sums.pairs),
            }
        })
        .collect()
}

#[derive(Clone, Debug, PartialEq)]
pub struct GpAppointmentFigures {
    /// Referrals with counts for the windows both before and after.
    pub patients: Cell<u64>,
    pub mean_before: Option<Cell<f64>>,
    pub mean_after: Option<Cell<f64>>,
    /// Mean of (after − before) per patient: below zero when appointments fell.
    pub mean_change: Option<Cell<f64>>,
    /// Appointments before less appointments after, over those patients: below zero when
    /// they rose.
    pub appointments_avoided: Option<Cell<i64>>,
}

pub fn gp_appointments(policy: &DisclosurePolicy, m: &ReferralMeasures) -> GpAppointmentFigures {
    let patients = people(m.gp_pairs);
    let mean = |total: i64| {
        (patients > 0)
            .then(|| ratio(total, patients as i64, 2))
            .and_then(|v| over(policy, v, patients))
    };
    GpAppointmentFigures {
        patients: policy.count(patients),
        mean_before: mean(m.gp_before),
        mean_after: mean(m.gp_after),
        mean_change: mean(m.gp_after - m.gp_before),
        appointments_avoided: over(policy, m.gp_before - m.gp_after, patients),
    }
}

/// Money paid for activities: shown unless it was paid for 1 to the threshold charges, which
/// a tariff would turn back into the count.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SpendFigure {
    pub charges: Cell<u64>,
    pub amount_pence: Option<Cell<i64>>,
}

pub fn spend(policy: &DisclosurePolicy, charges: i64, amount_pence: i64) -> SpendFigure {
    let charges = people(charges);
    SpendFigure {
        charges: policy.count(charges),
        amount_pence: if charges == 0 {
            // Nothing spent, or what clawbacks took back of charges counted elsewhere: no
            // charge can be read back from it.
            Some(Cell::Shown(amount_pence))
        } else {
            over(policy, amount_pence, charges)
        },
    }
}

/// Spend set against what it achieved.
#[derive(Clone, Debug, PartialEq)]
pub struct ValueFigures {
    pub spend: SpendFigure,
    /// Referrals of the period seen at a clinic: the people the programme supported.
    pub people_supported: Cell<u64>,
    pub cost_per_person_pence: Option<Cell<f64>>,
    pub appointments_avoided: Option<Cell<i64>>,
    pub gp_consultation_pence: i64,
    /// Appointments avoided at the federation's unit cost of a GP consultation.
    pub estimated_savings_pence: Option<Cell<i64>>,
}

pub fn value(
    policy: &DisclosurePolicy,
    spend_figure: SpendFigure,
    amount_pence: i64,
    m: &ReferralMeasures,
    gp_consultation_pence: i64,
) -> ValueFigures {
    let supported = people(m.seen);
    let pairs = people(m.gp_pairs);
    let avoided = m.gp_before - m.gp_after;
    ValueFigures {
        spend: spend_figure,
        people_supported: policy.count(supported),
        cost_per_person_pence: (supported > 0)
            .then(|| ratio(amount_pence, supported as i64, 0))
            .and_then(|cost| over(policy, cost, supported))
            .map(|cell| match (cell, spend_figure.amount_pence) {
                (_, Some(Cell::Suppressed(why))) => Cell::Suppressed(why),
                (cell, _) => cell,
            }),
        appointments_avoided: over(policy, avoided, pairs),
        gp_consultation_pence,
        estimated_savings_pence: over(policy, avoided.saturating_mul(gp_consultation_pence), pairs),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::disclosure::Suppression;

    const NHS: DisclosurePolicy = DisclosurePolicy::NHS_DIGITAL;

    #[test]
    fn ratios_round_halves_away_from_zero() {
        assert_eq!(ratio(2_345, 1_000, 2), 2.35);
        assert_eq!(ratio(-2_345, 1_000, 2), -2.35);
        assert_eq!(ratio(1, 3, 2), 0.33);
        assert_eq!(ratio(2, 3, 0), 1.0);
        assert_eq!(ratio(-12, 9, 2), -1.33);
    }

    #[test]
    fn medians_of_odd_and_even_counts() {
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[(4, 0)]), None);
        assert_eq!(median(&[(3, 1)]), Some(3.0));
        assert_eq!(median(&[(1, 1), (10, 1)]), Some(5.5));
        assert_eq!(median(&[(10, 2), (1, 1)]), Some(10.0));
        assert_eq!(median(&[(2, 5), (9, 5)]), Some(5.5));
        assert_eq!(median(&[(2, 5), (9, 6)]), Some(9.0));
    }

    #[test]
    fn a_funnel_hides_small_stages_and_measures_over_few_people() {
        let m = ReferralMeasures {
            referrals: 46,
            booked: 30,
            seen: 7,
            contacts: 7,
            contact_days_total: 70,
            declined: 0,
            ..Default::default()
        };
        let f = funnel(&NHS, &m, &[(10, 7)]);
        assert_eq!(f.stages[0].referrals, Cell::Shown(45));
        assert_eq!(f.stages[1].referrals, Cell::Shown(30));
        assert_eq!(f.stages[1].percent_of_referred, Some(Cell::Shown(66.7)));
        assert_eq!(
            f.stages[2].referrals,
            Cell::Suppressed(Suppression::SmallCount)
        );
        assert_eq!(
            f.stages[2].percent_of_referred,
            Some(Cell::Suppressed(Suppression::SmallCount))
        );
        assert_eq!(f.exits[0].referrals, Cell::Shown(0));
        assert_eq!(
            f.median_days_to_first_contact,
            Some(Cell::Suppressed(Suppression::SmallBase))
        );
        let f = funnel(&NHS, &ReferralMeasures::default(), &[]);
        assert_eq!(f.median_days_to_first_contact, None);
        assert_eq!(f.stages[1].percent_of_referred, None);
    }

    #[test]
    fn wellbeing_change_is_in_points_and_anxiety_improves_downwards() {
        let m = ReferralMeasures {
            swemwbs: PairSums {
                pairs: 10,
                change: 2_345,
                improved: 4,
            },
            anxiety: PairSums {
                pairs: 9,
                change: -12,
                improved: 8,
            },
            ..Default::default()
        };
        let figures = wellbeing(&NHS, &m);
        assert_eq!(figures[0].mean_change, Some(Cell::Shown(2.35)));
        assert_eq!(figures[0].pairs, Cell::Shown(10));
        assert_eq!(
            figures[0].improved,
            Cell::Suppressed(Suppression::SmallCount)
        );
        assert_eq!(figures[4].mean_change, Some(Cell::Shown(-1.33)));
        assert_eq!(figures[4].percent_improved, Some(Cell::Shown(100.0)));
        assert!(!WellbeingMeasure::Anxiety.higher_is_better());
        assert_eq!(figures[1].pairs, Cell::Shown(0));
        assert_eq!(figures[1].mean_change, None);
    }

    #[test]
    fn savings_are_appointments_avoided_at_the_unit_cost() {
        let m = ReferralMeasures {
            seen: 20,
            gp_pairs: 12,
            gp_before: 60,
            gp_after: 36,
            ..Default::default()
        };
        let gp = gp_appointments(&NHS, &m);
        assert_eq!(gp.patients, Cell::Shown(10));
        assert_eq!(gp.mean_before, Some(Cell::Shown(5.0)));
        assert_eq!(gp.mean_change, Some(Cell::Shown(-2.0)));
        assert_eq!(gp.appointments_avoided, Some(Cell::Shown(24)));
        let paid = spend(&NHS, 40, 100_000);
        let v = value(&NHS, paid, 100_000, &m, 4_800);
        assert_eq!(v.estimated_savings_pence, Some(Cell::Shown(115_200)));
        assert_eq!(v.cost_per_person_pence, Some(Cell::Shown(5_000.0)));
        assert_eq!(spend(&NHS, 0, 0).amount_pence, Some(Cell::Shown(0)));
        let few = spend(&NHS, 3, 4_500);
        assert_eq!(
            few.amount_pence,
            Some(Cell::Suppressed(Suppression::SmallBase))
        );
        let v = value(&NHS, few, 4_500, &m, 4_800);
        assert_eq!(
            v.cost_per_person_pence,
            Some(Cell::Suppressed(Suppression::SmallBase))
        );
        let m = ReferralMeasures {
            gp_pairs: 5,
            gp_before: 10,
            ..m
        };
        assert_eq!(
            gp_appointments(&NHS, &m).appointments_avoided,
            Some(Cell::Suppressed(Suppression::SmallBase))
        );
    }
}
