//! Payment runs: which remittances settle a set of approved charges. Every charge is paid to its
//! own provider, exactly once. What a provider owes back for clawed-back charges is netted off
//! its charges, oldest clawback first; a remittance never pays less than nothing, and what is
//! not recovered this run is left owing for the next.

use super::money::Pence;
use std::collections::{BTreeMap, BTreeSet};
use uuid::Uuid;

/// An approved charge a payment run is to settle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DueCharge {
    pub charge: Uuid,
    pub organisation: Uuid,
    pub amount: Pence,
}

/// A clawback a provider has yet to repay, and how much of it is still owed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OwedClawback {
    pub clawback: Uuid,
    pub organisation: Uuid,
    pub owed: Pence,
}

/// What one provider is paid, and for which charges (by id).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemittancePlan {
    pub organisation: Uuid,
    /// What the charges come to.
    pub gross: Pence,
    /// What is netted off for clawbacks, oldest first: `(clawback, amount)`.
    pub recovered: Vec<(Uuid, Pence)>,
    /// What is paid: the gross less what is recovered, never below zero.
    pub amount: Pence,
    pub charges: Vec<Uuid>,
}

impl RemittancePlan {
    pub fn recovered_total(&self) -> Pence {
        Pence(self.recovered.iter().map(|(_, amount)| amount.0).sum())
    }
}

/// A whole run: one remittance per provider owed anything, by organisation id.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PaymentPlan {
    pub remittances: Vec<RemittancePlan>,
    /// What the run pays out, after netting.
    pub total: Pence,
    /// What it recovers for clawbacks.
    pub recovered: Pence,
    pub charge_count: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error("charge {0} is due twice")]
    DueTwice(Uuid),
    #[error("charge {0} has no positive amount")]
    NotPositive(Uuid),
    #[error("clawback {0} is owed twice or for nothing")]
    BadClawback(Uuid),
    #[error("the run's total overflows")]
    Overflow,
}

/// Groups the due charges into one remittance per provider, netting off what each provider
/// owes for clawbacks (`owed`, in any order; the oldest, by id, is recovered first). Providers
/// with nothing due get no remittance, and their clawbacks wait for a run that pays them.
pub fn plan(
    due: impl IntoIterator<Item = DueCharge>,
    owed: impl IntoIterator<Item = OwedClawback>,
) -> Result<PaymentPlan, PlanError> {
    let mut seen = BTreeSet::new();
    let mut by_provider: BTreeMap<Uuid, (Pence, Vec<Uuid>)> = BTreeMap::new();
    for charge in due {
        if !seen.insert(charge.charge) {
            return Err(PlanError::DueTwice(charge.charge));
        }
        if charge.amount.0 <= 0 {
            return Err(PlanError::NotPositive(charge.charge));
        }
        let (amount, charges) = by_provider.entry(charge.organisation).or_default();
        *amount = amount
            .checked_add(charge.amount)
            .ok_or(PlanError::Overflow)?;
        charges.push(charge.charge);
    }
    let mut debts: BTreeMap<Uuid, Vec<OwedClawback>> = BTreeMap::new();
    let mut clawbacks = BTreeSet::new();
    for debt in owed {
        if debt.owed.0 <= 0 || !clawbacks.insert(debt.clawback) {
            return Err(PlanError::BadClawback(debt.clawback));
        }
        debts.entry(debt.organisation).or_default().push(debt);
    }
    let mut total = Pence::ZERO;
    let mut recovered_total = Pence::ZERO;
    let mut remittances = Vec::with_capacity(by_provider.len());
    for (organisation, (gross, mut charges)) in by_provider {
        charges.sort();
        let mut left = gross;
        let mut recovered = Vec::new();
        let mut provider_debts = debts.remove(&organisation).unwrap_or_default();
        provider_debts.sort_by_key(|d| d.clawback);
        for debt in provider_debts {
            if left == Pence::ZERO {
                break;
            }
            let take = debt.owed.min(left);
            left = Pence(left.0 - take.0);
            recovered.push((debt.clawback, take));
        }
        total = total.checked_add(left).ok_or(PlanError::Overflow)?;
        recovered_total = recovered_total
            .checked_add(Pence(gross.0 - left.0))
            .ok_or(PlanError::Overflow)?;
        remittances.push(RemittancePlan {
            organisation,
            gross,
            recovered,
            amount: left,
            charges,
        });
    }
    Ok(PaymentPlan {
        charge_count: seen.len(),
        total,
        recovered: recovered_total,
        remittances,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_charge_due_twice_or_for_nothing_stops_the_run() {
        let (c, o) = (Uuid::now_v7(), Uuid::now_v7());
        let due = DueCharge {
            charge: c,
            organisation: o,
            amount: Pence(100),
        };
        assert_eq!(plan([due, due], []), Err(PlanError::DueTwice(c)));
        assert_eq!(
            plan(
                [DueCharge {
                    amount: Pence(0),
                    ..due
                }],
                []
            ),
            Err(PlanError::NotPositive(c))
        );
        assert_eq!(plan([], []), Ok(PaymentPlan::default()));
        let debt = OwedClawback {
            clawback: Uuid::now_v7(),
            organisation: o,
            owed: Pence(10),
        };
        assert_eq!(
            plan([due], [debt, debt]),
            Err(PlanError::BadClawback(debt.clawback))
        );
    }

    #[test]
    fn clawbacks_are_netted_oldest_first_and_what_is_left_waits() {
        let provider = Uuid::now_v7();
        let due = |amount| DueCharge {
            charge: Uuid::now_v7(),
            organisation: provider,
            amount: Pence(amount),
        };
        let older = OwedClawback {
            clawback: Uuid::now_v7(),
            organisation: provider,
            owed: Pence(700),
        };
        let newer = OwedClawback {
            clawback: Uuid::now_v7(),
            organisation: provider,
            owed: Pence(900),
        };
        // 1,000 due against 1,600 owed: nothing is paid, 1,000 recovered, 600 left owing.
        let run = plan([due(600), due(400)], [newer, older]).unwrap();
        let remittance = &run.remittances[0];
        assert_eq!(remittance.gross, Pence(1_000));
        assert_eq!(remittance.amount, Pence::ZERO);
        assert_eq!(
            remittance.recovered,
            vec![(older.clawback, Pence(700)), (newer.clawback, Pence(300))]
        );
        assert_eq!((run.total, run.recovered), (Pence::ZERO, Pence(1_000)));
        // 2,000 due against what is left (600 of the newer): 1,400 paid.
        let newer_left = OwedClawback {
            owed: Pence(600),
            ..newer
        };
        let run = plan([due(2_000)], [newer_left]).unwrap();
        assert_eq!(run.remittances[0].amount, Pence(1_400));
        assert_eq!(
            run.remittances[0].recovered,
            vec![(newer.clawback, Pence(600))]
        );
        // A provider with nothing due gets no remittance; its debt waits.
        let other = Uuid::now_v7();
        let run = plan(
            [],
            [OwedClawback {
                organisation: other,
                ..older
            }],
        )
        .unwrap();
        assert!(run.remittances.is_empty());
    }

    proptest! {
        #[test]
        fn every_charge_is_paid_once_to_its_own_provider_and_nothing_else_is_paid(
            charges in proptest::collection::vec((0usize..5, 1i64..1_000_000), 0..200),
            debts in proptest::collection::vec((0usize..5, 1i64..2_000_000), 0..20),
        ) {
            let providers: Vec<Uuid> = (0..5).map(|_| Uuid::now_v7()).collect();
            let due: Vec<DueCharge> = charges
                .iter()
                .map(|&(p, amount)| DueCharge {
                    charge: Uuid::now_v7(),
                    organisation: providers[p],
                    amount: Pence(amount),
                })
                .collect();
            let owed: Vec<OwedClawback> = debts
                .iter()
                .map(|&(p, owed)| OwedClawback {
                    clawback: Uuid::now_v7(),
                    organisation: providers[p],
                    owed: Pence(owed),
                })
                .collect();
            let plan = plan(due.clone(), owed.clone()).unwrap();
            prop_assert_eq!(plan.charge_count, due.len());
            prop_assert_eq!(
                plan.total.0 + plan.recovered.0,
                due.iter().map(|d| d.amount.0).sum::<i64>()
            );
            let mut paid = BTreeSet::new();
            for remittance in &plan.remittances {
                let mut sum = 0;
                for charge in &remittance.charges {
                    prop_assert!(paid.insert(*charge), "paid twice");
                    let d = due.iter().find(|d| d.charge == *charge).unwrap();
                    prop_assert_eq!(d.organisation, remittance.organisation);
                    sum += d.amount.0;
                }
                prop_assert_eq!(remittance.gross.0, sum);
                prop_assert!(remittance.amount.0 >= 0, "never less than nothing");
                prop_assert_eq!(remittance.amount.0 + remittance.recovered_total().0, sum);
                let owed_here: i64 = owed
                    .iter()
                    .filter(|d| d.organisation == remittance.organisation)
                    .map(|d| d.owed.0)
                    .sum();
                prop_assert_eq!(remittance.recovered_total().0, owed_here.min(sum));
                for (clawback, amount) in &remittance.recovered {
                    let debt = owed.iter().find(|d| d.clawback == *clawback).unwrap();
                    prop_assert_eq!(debt.organisation, remittance.organisation);
                    prop_assert!(amount.0 > 0 && *amount <= debt.owed, "no more than owed");
                }
            }
            prop_assert_eq!(paid.len(), due.len());
            let organisations: BTreeSet<Uuid> = plan.remittances.iter().map(|r| r.organisation).collect();
            prop_assert_eq!(organisations.len(), plan.remittances.len(), "one remittance per provider");
        }
    }
}
