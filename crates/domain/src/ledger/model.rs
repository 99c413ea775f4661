//! An in-memory ledger built only from this module's rules, driven by random sequences of
//! operations to show that the rules keep the ledger's invariants whatever happens.

use super::account::{debit, AccountKind};
use super::charge::{price, ChargeStatus};
use super::money::Pence;
use super::transfer::{Transfer, TransferKind};
use proptest::prelude::*;
use std::collections::HashMap;
use uuid::Uuid;

#[derive(Clone, Debug)]
enum Op {
    Record {
        provider: usize,
        unit: i64,
        quantity: u32,
    },
    Approve(usize),
    Reject(usize),
    Reverse(usize),
    TopUp(i64),
    Run,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0usize..3, 1i64..5_000, 1u32..4).prop_map(|(provider, unit, quantity)| Op::Record {
            provider,
            unit,
            quantity
        }),
        (0usize..40).prop_map(Op::Approve),
        (0usize..40).prop_map(Op::Reject),
        (0usize..40).prop_map(Op::Reverse),
        (1i64..20_000).prop_map(Op::TopUp),
        Just(Op::Run),
    ]
}

struct Charge {
    provider: usize,
    amount: Pence,
    status: ChargeStatus,
    times_paid: u32,
}

struct Ledger {
    kinds: HashMap<Uuid, AccountKind>,
    balances: HashMap<Uuid, Pence>,
    transfers: Vec<Transfer>,
    commissioner: Uuid,
    fund: Uuid,
    paid_out: Uuid,
    payables: Vec<Uuid>,
    charges: Vec<Charge>,
    overdraft: bool,
}

impl Ledger {
    fn new(overdraft: bool) -> Self {
        let mut ledger = Ledger {
            kinds: HashMap::new(),
            balances: HashMap::new(),
            transfers: Vec::new(),
            commissioner: Uuid::now_v7(),
            fund: Uuid::now_v7(),
            paid_out: Uuid::now_v7(),
            payables: (0..3).map(|_| Uuid::now_v7()).collect(),
            charges: Vec::new(),
            overdraft,
        };
        ledger
            .kinds
            .insert(ledger.commissioner, AccountKind::Commissioner);
        ledger.kinds.insert(ledger.fund, AccountKind::Fund);
        ledger.kinds.insert(ledger.paid_out, AccountKind::PaidOut);
        for payable in ledger.payables.clone() {
            ledger.kinds.insert(payable, AccountKind::Payable);
        }
        ledger
    }

    fn balance(&self, account: Uuid) -> Pence {
        self.balances.get(&account).copied().unwrap_or_default()
    }

    /// Posts a simple transfer if the debited account may take it.
    fn post(&mut self, kind: TransferKind, from: Uuid, to: Uuid, amount: Pence) -> bool {
        let Ok(transfer) = Transfer::simple(kind, from, to, amount) else {
            return false;
        };
        if debit(
            self.kinds[&from],
            self.balance(from),
            amount,
            self.overdraft,
        )
        .is_err()
        {
            return false;
        }
        for entry in transfer.entries() {
            let balance = self.balance(entry.account);
            self.balances
                .insert(entry.account, balance.checked_add(entry.signed()).unwrap());
        }
        self.transfers.push(transfer);
        true
    }

    fn apply(&mut self, op: Op) {
        match op {
            Op::Record {
                provider,
                unit,
                quantity,
            } => self.charges.push(Charge {
                provider,
                amount: price(Pence(unit), quantity).unwrap(),
                status: ChargeStatus::Pending,
                times_paid: 0,
            }),
            Op::Approve(i) | Op::Reject(i) | Op::Reverse(i) if i >= self.charges.len() => {}
            Op::Approve(i) => {
                let (amount, provider) = (self.charges[i].amount, self.charges[i].provider);
                if let Ok(to) = self.charges[i].status.transition(ChargeStatus::Approved) {
                    if self.post(
                        TransferKind::ChargeApproval,
                        self.fund,
                        self.payables[provider],
                        amount,
                    ) {
                        self.charges[i].status = to;
                    }
                }
            }
            Op::Reject(i) => {
                if let Ok(to) = self.charges[i].status.transition(ChargeStatus::Rejected) {
                    self.charges[i].status = to;
                }
            }
            Op::Reverse(i) => {
                let (amount, provider) = (self.charges[i].amount, self.charges[i].provider);
                if let Ok(to) = self.charges[i].status.transition(ChargeStatus::Reversed) {
                    if self.post(
                        TransferKind::ChargeReversal,
                        self.payables[provider],
                        self.fund,
                        amount,
                    ) {
                        self.charges[i].status = to;
                    }
                }
            }
            Op::TopUp(amount) => {
                self.post(
                    TransferKind::TopUp,
                    self.commissioner,
                    self.fund,
                    Pence(amount),
                );
            }
            Op::Run => {
                for provider in 0..self.payables.len() {
                    let due: Vec<usize> = (0..self.charges.len())
                        .filter(|&i| {
                            self.charges[i].provider == provider
                                && self.charges[i].status == ChargeStatus::Approved
                        })
                        .collect();
                    let total = due.iter().fold(Pence::ZERO, |sum, &i| {
                        sum.checked_add(self.charges[i].amount).unwrap()
                    });
                    if total == Pence::ZERO {
                        continue;
                    }
                    assert!(self.post(
                        TransferKind::Payment,
                        self.payables[provider],
                        self.paid_out,
                        total
                    ));
                    for i in due {
                        self.charges[i].status = ChargeStatus::Paid;
                        self.charges[i].times_paid += 1;
                    }
                }
            }
        }
    }

    fn check(&self) {
        let sum = self.balances.values().map(|b| b.0).sum::<i64>();
        assert_eq!(sum, 0, "balances sum to zero");
        let mut recomputed: HashMap<Uuid, i64> = HashMap::new();
        for transfer in &self.transfers {
            let net: i64 = transfer.entries().iter().map(|e| e.signed().0).sum();
            assert_eq!(net, 0, "every transfer balances");
            for entry in transfer.entries() {
                *recomputed.entry(entry.account).or_default() += entry.signed().0;
            }
        }
        for (account, balance) in &self.balances {
            assert_eq!(recomputed.get(account).copied().unwrap_or(0), balance.0);
        }
        if !self.overdraft {
            assert!(
                self.balance(self.fund).0 >= 0,
                "the fund never goes below zero"
            );
        }
        for (provider, payable) in self.payables.iter().enumerate() {
            let owed: i64 = self
                .charges
                .iter()
                .filter(|c| c.provider == provider && c.status == ChargeStatus::Approved)
                .map(|c| c.amount.0)
                .sum();
            assert_eq!(
                self.balance(*payable).0,
                owed,
                "a payable is its approved, unpaid charges"
            );
        }
        let paid: i64 = self
            .charges
            .iter()
            .filter(|c| c.status == ChargeStatus::Paid)
            .map(|c| c.amount.0)
            .sum();
        assert_eq!(
            self.balance(self.paid_out).0,
            paid,
            "paid out is the paid charges"
        );
        assert!(
            self.charges.iter().all(|c| c.times_paid <= 1),
            "nothing is paid twice"
        );
    }
}

proptest! {
    #[test]
    fn random_operations_keep_every_invariant(
        overdraft in any::<bool>(),
        ops in proptest::collection::vec(op(), 1..120),
    ) {
        let mut ledger = Ledger::new(overdraft);
        for op in ops {
            ledger.apply(op);
            ledger.check();
        }
    }
}
