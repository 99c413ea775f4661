//! Wellbeing measures taken at the start of a referral and again at follow-up, scored item by
//! item so that every total can be traced back to the answers that made it.
//!
//! **SWEMWBS**, the Short Warwick-Edinburgh Mental Wellbeing Scale: seven statements, each
//! answered from 1 (none of the time) to 5 (all of the time). The raw sum (7–35) is not an
//! interval scale, so it is converted to a metric score with the Rasch conversion table published
//! with the scale:
//!
//! > Stewart-Brown S, Tennant A, Tennant R, Platt S, Parkinson J, Weich S. "Internal construct
//! > validity of the Warwick-Edinburgh Mental Well-being Scale (WEMWBS): a Rasch analysis using
//! > data from the Scottish Health Education Population Survey." *Health and Quality of Life
//! > Outcomes* 2009;7:15. doi:10.1186/1477-7525-7-15
//!
//! Metric scores are kept as whole hundredths so that storage and comparison never meet floating
//! point; [`SwemwbsScore::metric_score`] gives the familiar decimal for display.
//!
//! **ONS4**, the Office for National Statistics' four personal wellbeing questions, each answered
//! from 0 (not at all) to 10 (completely). Three are better high; anxiety is better low.

use crate::validation::ValidationErrors;
use std::fmt;
use std::str::FromStr;

/// SWEMWBS always has seven items; a partial questionnaire cannot be scored.
pub const SWEMWBS_ITEMS: usize = 7;
pub const SWEMWBS_ITEM_MIN: i64 = 1;
pub const SWEMWBS_ITEM_MAX: i64 = 5;
pub const SWEMWBS_RAW_MIN: u8 = 7;
pub const SWEMWBS_RAW_MAX: u8 = 35;

/// The Rasch conversion table (Stewart-Brown et al. 2009), raw 7..=35 → metric, in hundredths.
const METRIC_HUNDREDTHS: [u16; 29] = [
    700, 951, 1125, 1240, 1333, 1408, 1475, 1532, 1584, 1636, 1688, 1743, 1798, 1859, 1925, 1998,
    2073, 2154, 2235, 2321, 2411, 2503, 2602, 2703, 2813, 2931, 3070, 3255, 3500,
];

/// Scoring of the Short Warwick-Edinburgh Mental Wellbeing Scale.
pub struct Swemwbs;

/// A scored SWEMWBS questionnaire: its answers and the scores derived from them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SwemwbsScore {
    /// The answers in questionnaire order, each 1–5.
    pub items: [u8; SWEMWBS_ITEMS],
    /// The sum of the answers, 7–35.
    pub raw: u8,
    /// The Rasch metric score in hundredths (951 is 9.51), 700–3500.
    pub metric_hundredths: u16,
}

impl Swemwbs {
    /// Scores the seven answers, reporting every answer outside 1–5 as `swemwbs[i]` and a wrong
    /// number of answers as `swemwbs`.
    pub fn score(items: &[i64]) -> Result<SwemwbsScore, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        if items.len() != SWEMWBS_ITEMS {
            errors.add(
                "swemwbs",
                "wrong_count",
                format!(
                    "SWEMWBS has seven items; {} answer(s) were given",
                    items.len()
                ),
            );
        }
        for (index, &item) in items.iter().enumerate() {
            if !(SWEMWBS_ITEM_MIN..=SWEMWBS_ITEM_MAX).contains(&item) {
                errors.add(
                    format!("swemwbs[{index}]"),
                    "out_of_range",
                    "each SWEMWBS answer is from 1 (none of the time) to 5 (all of the time)",
                );
            }
        }
        errors.finish(|| {
            let mut answers = [0u8; SWEMWBS_ITEMS];
            for (answer, &item) in answers.iter_mut().zip(items) {
                *answer = u8::try_from(item).expect("checked to be 1-5");
            }
            let raw = answers.iter().sum();
            SwemwbsScore {
                items: answers,
                raw,
                metric_hundredths: Self::metric_hundredths(raw).expect("seven answers of 1-5"),
            }
        })
    }

    /// The metric score, in hundredths, for a raw score; `None` outside 7–35.
    pub fn metric_hundredths(raw: u8) -> Option<u16> {
        raw.checked_sub(SWEMWBS_RAW_MIN)
            .and_then(|offset| METRIC_HUNDREDTHS.get(usize::from(offset)))
            .copied()
    }
}

impl SwemwbsScore {
    /// The metric score as the decimal people expect to read (e.g. 23.21); for display only.
    pub fn metric_score(&self) -> f64 {
        f64::from(self.metric_hundredths) / 100.0
    }
}

pub const ONS4_MIN: i64 = 0;
pub const ONS4_MAX: i64 = 10;

/// The ONS personal wellbeing questions ("ONS4").
pub struct Ons4;

/// Answers to the four ONS personal wellbeing questions, each 0 (not at all) to 10 (completely).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Ons4Score {
    /// "Overall, how satisfied are you with your life nowadays?" Higher is better.
    pub life_satisfaction: u8,
    /// "Overall, to what extent do you feel the things you do in your life are worthwhile?"
    /// Higher is better.
    pub worthwhile: u8,
    /// "Overall, how happy did you feel yesterday?" Higher is better.
    pub happiness: u8,
    /// "Overall, how anxious did you feel yesterday?" **Lower is better**: an improvement shows
    /// as a fall, so never add it to the other three or compare it the same way.
    pub anxiety: u8,
}

impl Ons4 {
    /// Checks each answer is 0–10, reporting every one that is not as `ons4.<question>`.
    pub fn parse(
        life_satisfaction: i64,
        worthwhile: i64,
        happiness: i64,
        anxiety: i64,
    ) -> Result<Ons4Score, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let mut answer = |field: &str, value: i64| match u8::try_from(value) {
            Ok(answer) if (ONS4_MIN..=ONS4_MAX).contains(&value) => answer,
            _ => {
                errors.add(
                    format!("ons4.{field}"),
                    "out_of_range",
                    "each ONS4 answer is from 0 (not at all) to 10 (completely)",
                );
                0
            }
        };
        let score = Ons4Score {
            life_satisfaction: answer("life_satisfaction", life_satisfaction),
            worthwhile: answer("worthwhile", worthwhile),
            happiness: answer("happiness", happiness),
            anxiety: answer("anxiety", anxiety),
        };
        errors.finish(|| score)
    }
}

/// When a measure was taken: the change between the two is what a referral achieved.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Timepoint {
    /// At or near the first contact, before any support.
    Baseline,
    /// After the support, to compare with the baseline.
    FollowUp,
}

impl Timepoint {
    pub const ALL: [Timepoint; 2] = [Timepoint::Baseline, Timepoint::FollowUp];

    pub const fn code(self) -> &'static str {
        match self {
            Timepoint::Baseline => "baseline",
            Timepoint::FollowUp => "follow_up",
        }
    }
}

impl fmt::Display for Timepoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown timepoint `{0}`; use baseline or follow_up")]
pub struct UnknownTimepoint(pub String);

impl FromStr for Timepoint {
    type Err = UnknownTimepoint;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|t| t.code() == s)
            .ok_or_else(|| UnknownTimepoint(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn fields(errors: &ValidationErrors) -> Vec<(&str, &str)> {
        errors
            .0
            .iter()
            .map(|e| (e.field.as_str(), e.code))
            .collect()
    }

    #[test]
    fn the_table_covers_every_raw_score_and_rises_strictly() {
        assert_eq!(
            METRIC_HUNDREDTHS.len(),
            usize::from(SWEMWBS_RAW_MAX - SWEMWBS_RAW_MIN) + 1
        );
        assert!(METRIC_HUNDREDTHS.windows(2).all(|pair| pair[0] < pair[1]));
        assert_eq!(Swemwbs::metric_hundredths(7), Some(700));
        assert_eq!(Swemwbs::metric_hundredths(35), Some(3500));
        assert_eq!(Swemwbs::metric_hundredths(6), None);
        assert_eq!(Swemwbs::metric_hundredths(36), None);
    }

    #[test]
    fn spot_values_match_the_published_table() {
        for (raw, metric) in [
            (8, 951),
            (14, 1532),
            (21, 1925),
            (26, 2321),
            (28, 2503),
            (33, 3070),
            (34, 3255),
        ] {
            assert_eq!(Swemwbs::metric_hundredths(raw), Some(metric), "raw {raw}");
        }
    }

    #[test]
    fn endpoints_score_as_published() {
        let lowest = Swemwbs::score(&[1; 7]).unwrap();
        assert_eq!((lowest.raw, lowest.metric_hundredths), (7, 700));
        assert_eq!(lowest.metric_score(), 7.0);
        let highest = Swemwbs::score(&[5; 7]).unwrap();
        assert_eq!((highest.raw, highest.metric_hundredths), (35, 3500));
        assert_eq!(highest.metric_score(), 35.0);
        let middling = Swemwbs::score(&[3, 4, 3, 4, 3, 4, 5]).unwrap();
        assert_eq!(middling.items, [3, 4, 3, 4, 3, 4, 5]);
        assert_eq!(middling.raw, 26);
        assert_eq!(middling.metric_score(), 23.21);
    }

    #[test]
    fn every_bad_answer_is_named_by_its_index() {
        let errors = Swemwbs::score(&[0, 3, 6, 3, 3, -1, 3]).unwrap_err();
        assert_eq!(
            fields(&errors),
            [
                ("swemwbs[0]", "out_of_range"),
                ("swemwbs[2]", "out_of_range"),
                ("swemwbs[5]", "out_of_range")
            ]
        );
    }

    #[test]
    fn a_wrong_number_of_answers_is_refused_with_any_bad_answers() {
        let errors = Swemwbs::score(&[3; 6]).unwrap_err();
        assert_eq!(fields(&errors), [("swemwbs", "wrong_count")]);
        assert!(errors.0[0].message.starts_with("SWEMWBS has seven items"));
        assert_eq!(
            fields(&Swemwbs::score(&[]).unwrap_err()),
            [("swemwbs", "wrong_count")]
        );
        let errors = Swemwbs::score(&[3, 3, 3, 3, 3, 3, 3, 9]).unwrap_err();
        assert_eq!(
            fields(&errors),
            [("swemwbs", "wrong_count"), ("swemwbs[7]", "out_of_range")]
        );
    }

    #[test]
    fn ons4_answers_are_kept_and_bad_ones_named() {
        let score = Ons4::parse(7, 8, 6, 2).unwrap();
        assert_eq!(
            score,
            Ons4Score {
                life_satisfaction: 7,
                worthwhile: 8,
                happiness: 6,
                anxiety: 2
            }
        );
        assert!(Ons4::parse(0, 0, 10, 10).is_ok());
        let errors = Ons4::parse(11, 5, -1, 300).unwrap_err();
        assert_eq!(
            fields(&errors),
            [
                ("ons4.life_satisfaction", "out_of_range"),
                ("ons4.happiness", "out_of_range"),
                ("ons4.anxiety", "out_of_range")
            ]
        );
    }

    #[test]
    fn timepoints_round_trip() {
        for timepoint in Timepoint::ALL {
            assert_eq!(timepoint.code().parse::<Timepoint>().unwrap(), timepoint);
        }
        assert_eq!(Timepoint::FollowUp.to_string(), "follow_up");
        assert!("midpoint".parse::<Timepoint>().is_err());
    }

    proptest! {
        #[test]
        fn any_seven_valid_answers_score_from_the_table(items in proptest::array::uniform7(1i64..=5)) {
            let score = Swemwbs::score(&items).unwrap();
            let sum: i64 = items.iter().sum();
            prop_assert_eq!(i64::from(score.raw), sum);
            prop_assert_eq!(score.metric_hundredths, METRIC_HUNDREDTHS[usize::from(score.raw) - 7]);
            prop_assert!(score.items.iter().zip(items).all(|(&kept, given)| i64::from(kept) == given));
        }

        #[test]
        fn exactly_the_out_of_range_answers_are_named(items in proptest::array::uniform7(-3i64..=8)) {
            let bad: Vec<String> = items
                .iter()
                .enumerate()
                .filter(|(_, item)| !(1..=5).contains(*item))
                .map(|(i, _)| format!("swemwbs[{i}]"))
                .collect();
            match Swemwbs::score(&items) {
                Ok(_) => prop_assert!(bad.is_empty()),
                Err(errors) => {
                    let named: Vec<String> = errors.0.into_iter().map(|e| e.field).collect();
                    prop_assert_eq!(named, bad);
                }
            }
        }

        #[test]
        fn ons4_accepts_exactly_zero_to_ten(a in -2i64..=12, b in -2i64..=12, c in -2i64..=12, d in -2i64..=12) {
            let valid = [a, b, c, d].iter().all(|v| (0..=10).contains(v));
            prop_assert_eq!(Ons4::parse(a, b, c, d).is_ok(), valid);
        }
    }
}
