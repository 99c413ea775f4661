//! Disclosure control for the statistics commissioners see: no figure may let a reader work out
//! anything about a handful of patients.
//!
//! The default is NHS Digital's method for sub-national statistics (HES and ECDS since September
//! 2018; `suppression` in NHS Digital's codonPython): a count of 0 is shown as 0, a count from 1
//! to 7 is not shown, and every other count is rounded to the nearest 5. Totals are summed from
//! the true counts and then rounded, never summed from rounded cells. A mean, median or rate over
//! 1 to 7 people is not shown, and a percentage is worked out from the rounded numerator and
//! denominator, so it can be recomputed from the figures beside it.
//!
//! The stricter policy adds secondary suppression: in a table with row and column totals, a
//! suppressed cell alone in its row or column could be worked out from the total and the cells
//! shown, so another cell of that line (the smallest non-zero one) is suppressed too, until no
//! row or column holds exactly one suppressed cell.

use serde::Serialize;
use std::fmt;

/// How a federation's statistics are protected. A policy is never looser than NHS Digital's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DisclosurePolicy {
    suppress_up_to: u64,
    round_to: u64,
    secondary: bool,
}

/// Why a figure is not shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Suppression {
    /// A count from 1 to the policy's threshold.
    SmallCount,
    /// A mean, median, rate or percentage over 1 to the policy's threshold people.
    SmallBase,
    /// Hidden so that a suppressed cell of its row or column cannot be worked out from the total.
    Secondary,
}

impl Suppression {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SmallCount => "small_count",
            Self::SmallBase => "small_base",
            Self::Secondary => "secondary",
        }
    }
}

/// A figure as it may be shown.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Cell<T> {
    Shown(T),
    Suppressed(Suppression),
}

impl<T: Copy> Cell<T> {
    pub fn value(&self) -> Option<T> {
        match self {
            Self::Shown(value) => Some(*value),
            Self::Suppressed(_) => None,
        }
    }

    pub fn suppression(&self) -> Option<Suppression> {
        match self {
            Self::Shown(_) => None,
            Self::Suppressed(why) => Some(*why),
        }
    }
}

/// A policy that would be looser than NHS Digital's.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error("counts up to at least 7 must be suppressed (and at most 1000), not {0}")]
    Threshold(u64),
    #[error("counts must be rounded to a multiple of at least 5 (and at most 1000), not {0}")]
    Rounding(u64),
}

/// Rows of counts that are not all the same length.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("row {row} has {found} cells where the first has {expected}")]
pub struct RaggedTable {
    pub row: usize,
    pub expected: usize,
    pub found: usize,
}

/// A table of counts as it may be shown: its cells, each row's total, each column's total and
/// the grand total, all from the true counts.
#[derive(Clone, Debug, PartialEq)]
pub struct CountTable {
    pub cells: Vec<Vec<Cell<u64>>>,
    pub row_totals: Vec<Cell<u64>>,
    pub column_totals: Vec<Cell<u64>>,
    pub total: Cell<u64>,
}

impl Default for DisclosurePolicy {
    fn default() -> Self {
        Self::NHS_DIGITAL
    }
}

impl DisclosurePolicy {
    /// NHS Digital's method for sub-national statistics.
    pub const NHS_DIGITAL: Self = Self {
        suppress_up_to: 7,
        round_to: 5,
        secondary: false,
    };

    /// NHS Digital's method with secondary suppression.
    pub const NHS_DIGITAL_WITH_SECONDARY: Self = Self {
        suppress_up_to: 7,
        round_to: 5,
        secondary: true,
    };

    /// A policy suppressing counts from 1 to `suppress_up_to` and rounding the others to the
    /// nearest multiple of `round_to` (halves up), with or without secondary suppression.
    pub fn new(suppress_up_to: u64, round_to: u64, secondary: bool) -> Result<Self, PolicyError> {
        if !(7..=1000).contains(&suppress_up_to) {
            return Err(PolicyError::Threshold(suppress_up_to));
        }
        if !(5..=1000).contains(&round_to) {
            return Err(PolicyError::Rounding(round_to));
        }
        Ok(Self {
            suppress_up_to,
            round_to,
            secondary,
        })
    }

    pub fn suppress_up_to(&self) -> u64 {
        self.suppress_up_to
    }

    pub fn round_to(&self) -> u64 {
        self.round_to
    }

    pub fn secondary(&self) -> bool {
        self.secondary
    }

    fn is_small(&self, count: u64) -> bool {
        (1..=self.suppress_up_to).contains(&count)
    }

    fn round(&self, count: u64) -> u64 {
        let base = self.round_to;
        // Halves up; with a base of 5 no count falls halfway.
        (count / base + u64::from(count % base * 2 >= base)) * base
    }

    /// A count as it may be shown.
    pub fn count(&self, count: u64) -> Cell<u64> {
        if self.is_small(count) {
            Cell::Suppressed(Suppression::SmallCount)
        } else {
            Cell::Shown(self.round(count))
        }
    }

    /// A total of counts: summed from the true counts, then protected as one count.
    pub fn total(&self, counts: &[u64]) -> Cell<u64> {
        self.count(counts.iter().sum())
    }

    /// A mean, median or rate over `people`: not shown over 1 to the threshold, absent over
    /// nobody.
    pub fn measure(&self, value: f64, people: u64) -> Option<Cell<f64>> {
        match people {
            0 => None,
            n if self.is_small(n) => Some(Cell::Suppressed(Suppression::SmallBase)),
            _ => Some(Cell::Shown(value)),
        }
    }

    /// `numerator` as a percentage of `denominator`, from their rounded values; absent when the
    /// denominator is 0.
    pub fn percentage(&self, numerator: u64, denominator: u64) -> Option<Cell<f64>> {
        if denominator == 0 {
            return None;
        }
        match (self.count(numerator), self.count(denominator)) {
            (_, Cell::Suppressed(_)) => Some(Cell::Suppressed(Suppression::SmallBase)),
            (Cell::Suppressed(_), _) => Some(Cell::Suppressed(Suppression::SmallCount)),
            (Cell::Shown(n), Cell::Shown(d)) => Some(Cell::Shown(100.0 * n as f64 / d as f64)),
        }
    }

    /// A table of counts (rows of equal length) with its totals, protected as a whole.
    pub fn table(&self, rows: &[Vec<u64>]) -> Result<CountTable, RaggedTable> {
        let width = rows.first().map_or(0, Vec::len);
        if let Some((row, found)) = rows
            .iter()
            .map(Vec::len)
            .enumerate()
            .find(|(_, len)| *len != width)
        {
            return Err(RaggedTable {
                row,
                expected: width,
                found,
            });
        }
        // The table with its totals as a last column and a last row, true counts.
        let height = rows.len();
        let mut grid: Vec<Vec<u64>> = rows
            .iter()
            .map(|row| {
                let mut line = row.clone();
                line.push(row.iter().sum());
                line
            })
            .collect();
        let totals: Vec<u64> = (0..=width)
            .map(|column| grid.iter().map(|line| line[column]).sum())
            .collect();
        grid.push(totals);

        let mut why: Vec<Vec<Option<Suppression>>> = grid
            .iter()
            .map(|line| {
                line.iter()
                    .map(|&count| self.is_small(count).then_some(Suppression::SmallCount))
                    .collect()
            })
            .collect();
        if self.secondary {
            suppress_complements(&grid, &mut why);
        }

        let shown = |row: usize, column: usize| match why[row][column] {
            Some(reason) => Cell::Suppressed(reason),
            None => Cell::Shown(self.round(grid[row][column])),
        };
        Ok(CountTable {
            cells: (0..height)
                .map(|row| (0..width).map(|column| shown(row, column)).collect())
                .collect(),
            row_totals: (0..height).map(|row| shown(row, width)).collect(),
            column_totals: (0..width).map(|column| shown(height, column)).collect(),
            total: shown(height, width),
        })
    }
}

/// Suppresses further cells of `grid` (whose last column and last row are the totals) until no
/// row and no column holds exactly one suppressed cell. Each line's complement is its smallest
/// non-zero cell not yet suppressed, or its total when it has none: hiding a zero would hide
/// nothing, since a line's other cells and total give it away.
fn suppress_complements(grid: &[Vec<u64>], why: &mut [Vec<Option<Suppression>>]) {
    let height = grid.len();
    let width = grid.first().map_or(0, Vec::len);
    let lines: Vec<Vec<(usize, usize)>> = (0..height)
        .map(|row| (0..width).map(|column| (row, column)).collect())
        .chain((0..width).map(|column| (0..height).map(|row| (row, column)).collect()))
        .collect();
    loop {
        let mut changed = false;
        for line in &lines {
            let suppressed = line.iter().filter(|&&(r, c)| why[r][c].is_some()).count();
            if suppressed != 1 {
                continue;
            }
            let (total, cells) = line.split_last().expect("a line has its total");
            let complement = cells
                .iter()
                .filter(|&&(r, c)| why[r][c].is_none() && grid[r][c] > 0)
                .min_by_key(|&&(r, c)| grid[r][c])
                .unwrap_or(total);
            let (r, c) = *complement;
            if why[r][c].is_none() {
                why[r][c] = Some(Suppression::Secondary);
                changed = true;
            }
        }
        if !changed {
            return;
        }
    }
}

impl fmt::Display for Suppression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const NHS: DisclosurePolicy = DisclosurePolicy::NHS_DIGITAL;
    const STRICT: DisclosurePolicy = DisclosurePolicy::NHS_DIGITAL_WITH_SECONDARY;
    const SMALL: Cell<u64> = Cell::Suppressed(Suppression::SmallCount);

    #[test]
    fn counts_follow_nhs_digitals_rule() {
        assert_eq!(NHS.count(0), Cell::Shown(0));
        for small in 1..=7 {
            assert_eq!(NHS.count(small), SMALL);
        }
        // codonPython's own examples, and the edges.
        assert_eq!(NHS.count(8), Cell::Shown(10));
        assert_eq!(NHS.count(20), Cell::Shown(20));
        assert_eq!(NHS.count(46), Cell::Shown(45));
        assert_eq!(NHS.count(12), Cell::Shown(10));
        assert_eq!(NHS.count(13), Cell::Shown(15));
        assert_eq!(NHS.count(1_000_003), Cell::Shown(1_000_005));
    }

    #[test]
    fn totals_are_rounded_from_true_counts() {
        // Rounded cells would sum to 10 + 10 + 10 = 30; the true total, 36, rounds to 35.
        assert_eq!(NHS.total(&[12, 12, 12]), Cell::Shown(35));
        // Three suppressed cells can make a total that is shown.
        assert_eq!(NHS.total(&[3, 3, 3]), Cell::Shown(10));
        assert_eq!(NHS.total(&[3, 3]), SMALL);
        assert_eq!(NHS.total(&[]), Cell::Shown(0));
    }

    #[test]
    fn measures_over_few_people_are_not_shown() {
        assert_eq!(NHS.measure(3.5, 0), None);
        assert_eq!(
            NHS.measure(3.5, 7),
            Some(Cell::Suppressed(Suppression::SmallBase))
        );
        assert_eq!(NHS.measure(3.5, 8), Some(Cell::Shown(3.5)));
    }

    #[test]
    fn percentages_come_from_the_rounded_figures() {
        // 9 of 21 is 42.9%; shown as 10 of 20, it is 50%.
        assert_eq!(NHS.percentage(9, 21), Some(Cell::Shown(50.0)));
        assert_eq!(NHS.percentage(0, 21), Some(Cell::Shown(0.0)));
        assert_eq!(
            NHS.percentage(3, 21),
            Some(Cell::Suppressed(Suppression::SmallCount))
        );
        assert_eq!(
            NHS.percentage(3, 5),
            Some(Cell::Suppressed(Suppression::SmallBase))
        );
        assert_eq!(NHS.percentage(0, 0), None);
    }

    #[test]
    fn a_policy_is_never_looser_than_nhs_digitals() {
        assert_eq!(
            DisclosurePolicy::new(5, 5, false),
            Err(PolicyError::Threshold(5))
        );
        assert_eq!(
            DisclosurePolicy::new(7, 1, false),
            Err(PolicyError::Rounding(1))
        );
        let strict = DisclosurePolicy::new(10, 10, true).unwrap();
        assert_eq!(strict.count(10), SMALL);
        // Halves round up with an even base.
        assert_eq!(strict.count(15), Cell::Shown(20));
        assert_eq!(strict.count(14), Cell::Shown(10));
        assert_eq!(DisclosurePolicy::default(), NHS);
    }

    #[test]
    fn a_ragged_table_is_refused() {
        assert_eq!(
            NHS.table(&[vec![1, 2], vec![3]]),
            Err(RaggedTable {
                row: 1,
                expected: 2,
                found: 1
            })
        );
    }

    #[test]
    fn without_secondary_suppression_a_lone_small_cell_can_be_worked_out() {
        let table = NHS.table(&[vec![3, 100, 200]]).unwrap();
        assert_eq!(
            table.cells[0],
            vec![SMALL, Cell::Shown(100), Cell::Shown(200)]
        );
        // 305 − 100 − 200 = 5: the hidden 3 is within rounding of what the total gives away.
        assert_eq!(table.row_totals[0], Cell::Shown(305));
    }

    #[test]
    fn secondary_suppression_hides_the_smallest_other_cell() {
        let table = STRICT.table(&[vec![3, 100, 200]]).unwrap();
        assert_eq!(
            table.cells[0],
            vec![
                SMALL,
                Cell::Suppressed(Suppression::Secondary),
                Cell::Shown(200)
            ]
        );
        assert_eq!(table.row_totals[0], Cell::Shown(305));
    }

    #[test]
    fn secondary_suppression_reaches_across_rows_and_columns() {
        let table = STRICT
            .table(&[vec![3, 40, 50], vec![30, 60, 70], vec![20, 80, 90]])
            .unwrap();
        // Row 0 loses 40 beside its 3, column 0 loses 20, column 1 loses 60, and so on until
        // every line with a suppressed cell has two.
        for line in lines_of(&table) {
            assert_ne!(line.iter().filter(|c| c.value().is_none()).count(), 1);
        }
        assert_eq!(table.cells[0][0], SMALL);
        assert_eq!(table.total, Cell::Shown(445));
    }

    fn lines_of(table: &CountTable) -> Vec<Vec<Cell<u64>>> {
        let mut lines = Vec::new();
        for (row, total) in table.cells.iter().zip(&table.row_totals) {
            let mut line = row.clone();
            line.push(*total);
            lines.push(line);
        }
        let mut totals = table.column_totals.clone();
        totals.push(table.total);
        lines.push(totals);
        for column in 0..table.column_totals.len() {
            let mut line: Vec<_> = table.cells.iter().map(|row| row[column]).collect();
            line.push(table.column_totals[column]);
            lines.push(line);
        }
        let mut line = table.row_totals.clone();
        line.push(table.total);
        lines.push(line);
        lines
    }

    fn counts() -> impl Strategy<Value = u64> {
        // Mostly small counts, where the rules bite.
        prop_oneof![0u64..20, 0u64..200, 0u64..100_000]
    }

    fn tables() -> impl Strategy<Value = Vec<Vec<u64>>> {
        (1usize..6, 1usize..6).prop_flat_map(|(height, width)| {
            prop::collection::vec(prop::collection::vec(counts(), width), height)
        })
    }

    fn policies() -> impl Strategy<Value = DisclosurePolicy> {
        (7u64..15, 5u64..12, any::<bool>())
            .prop_map(|(t, r, s)| DisclosurePolicy::new(t, r, s).unwrap())
    }

    proptest! {
        #[test]
        fn no_shown_count_reveals_a_small_one(policy in policies(), count in counts()) {
            match policy.count(count) {
                Cell::Shown(shown) => {
                    prop_assert!(count == 0 || count > policy.suppress_up_to());
                    prop_assert_eq!(shown % policy.round_to(), 0);
                    prop_assert!(shown.abs_diff(count) * 2 <= policy.round_to());
                }
                Cell::Suppressed(why) => {
                    prop_assert_eq!(why, Suppression::SmallCount);
                    prop_assert!((1..=policy.suppress_up_to()).contains(&count));
                }
            }
        }

        #[test]
        fn every_table_cell_and_total_is_protected_and_consistent(
            policy in policies(), rows in tables()
        ) {
            let table = policy.table(&rows).unwrap();
            let width = rows[0].len();
            let mut pairs: Vec<(Cell<u64>, u64)> = Vec::new();
            for (row, cells) in rows.iter().zip(&table.cells) {
                pairs.extend(cells.iter().copied().zip(row.iter().copied()));
            }
            for (row, total) in rows.iter().zip(&table.row_totals) {
                pairs.push((*total, row.iter().sum()));
            }
            for column in 0..width {
                pairs.push((table.column_totals[column], rows.iter().map(|row| row[column]).sum()));
            }
            pairs.push((table.total, rows.iter().flatten().sum()));
            for (cell, count) in pairs {
                match cell {
                    // A shown figure is exactly the protected true count: totals from the
                    // true counts, and never a small count.
                    Cell::Shown(_) => prop_assert_eq!(cell, policy.count(count)),
                    Cell::Suppressed(Suppression::SmallCount) => {
                        prop_assert!((1..=policy.suppress_up_to()).contains(&count))
                    }
                    Cell::Suppressed(Suppression::Secondary) => prop_assert!(policy.secondary()),
                    Cell::Suppressed(Suppression::SmallBase) => prop_assert!(false, "not a count"),
                }
            }
            if policy.secondary() {
                for line in lines_of(&table) {
                    prop_assert_ne!(line.iter().filter(|c| c.value().is_none()).count(), 1);
                }
            }
        }

        #[test]
        fn percentages_are_shown_only_over_enough_people(
            policy in policies(), numerator in counts(), extra in counts()
        ) {
            let denominator = numerator + extra;
            match policy.percentage(numerator, denominator) {
                None => prop_assert_eq!(denominator, 0),
                Some(Cell::Shown(percent)) => {
                    prop_assert!(denominator > policy.suppress_up_to());
                    prop_assert!(numerator == 0 || numerator > policy.suppress_up_to());
                    prop_assert!((0.0..=100.0).contains(&percent));
                }
                Some(Cell::Suppressed(_)) => prop_assert!(
                    policy.count(numerator).value().is_none()
                        || policy.count(denominator).value().is_none()
                ),
            }
        }
    }
}
