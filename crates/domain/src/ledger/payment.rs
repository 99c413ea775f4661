//! Payment runs: which remittances settle a set of approved charges. Every charge is paid to its
//! own provider, exactly once, and each provider's remittance is the exact sum of its charges.

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

/// What one provider is paid, and for which charges (by id).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemittancePlan {
    pub organisation: Uuid,
    pub amount: Pence,
    pub charges: Vec<Uuid>,
}

/// A whole run: one remittance per provider owed anything, by organisation id.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PaymentPlan {
    pub remittances: Vec<RemittancePlan>,
    pub total: Pence,
    pub charge_count: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error("charge {0} is due twice")]
    DueTwice(Uuid),
    #[error("charge {0} has no positive amount")]
    NotPositive(Uuid),
    #[error("the run's total overflows")]
    Overflow,
}

/// Groups the due charges into one remittance per provider.
pub fn plan(due: impl IntoIterator<Item = DueCharge>) -> Result<PaymentPlan, PlanError> {
    let mut seen = BTreeSet::new();
    let mut by_provider: BTreeMap<Uuid, (Pence, Vec<Uuid>)> = BTreeMap::new();
    let mut total = Pence::ZERO;
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
        total = total
            .checked_add(charge.amount)
            .ok_or(PlanError::Overflow)?;
    }
    Ok(PaymentPlan {
        charge_count: seen.len(),
        total,
        remittances: by_provider
            .into_iter()
            .map(|(organisation, (amount, mut charges))| {
                charges.sort();
                RemittancePlan {
                    organisation,
                    amount,
                    charges,
                }
            })
            .collect(),
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
        assert_eq!(plan([due, due]), Err(PlanError::DueTwice(c)));
        assert_eq!(
            plan([DueCharge {
                amount: Pence(0),
                ..due
            }]),
            Err(PlanError::NotPositive(c))
        );
        assert_eq!(plan([]), Ok(PaymentPlan::default()));
    }

    proptest! {
        #[test]
        fn every_charge_is_paid_once_to_its_own_provider_and_nothing_else_is_paid(
            charges in proptest::collection::vec((0usize..5, 1i64..1_000_000), 0..200)
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
            let plan = plan(due.clone()).unwrap();
            prop_assert_eq!(plan.charge_count, due.len());
            prop_assert_eq!(plan.total.0, due.iter().map(|d| d.amount.0).sum::<i64>());
            let mut paid = BTreeSet::new();
            for remittance in &plan.remittances {
                let mut sum = 0;
                for charge in &remittance.charges {
                    prop_assert!(paid.insert(*charge), "paid twice");
                    let d = due.iter().find(|d| d.charge == *charge).unwrap();
                    prop_assert_eq!(d.organisation, remittance.organisation);
                    sum += d.amount.0;
                }
                prop_assert_eq!(remittance.amount.0, sum);
            }
            prop_assert_eq!(paid.len(), due.len());
            let organisations: BTreeSet<Uuid> = plan.remittances.iter().map(|r| r.organisation).collect();
            prop_assert_eq!(organisations.len(), plan.remittances.len(), "one remittance per provider");
        }
    }
}
