//! An in-memory ledger built only from this module's rules (the charge state machine, the
//! book's posting rule, clawbacks, the payment plan and its netting), driven by random sequences of operations to show that
//! the rules keep the ledger's invariants whatever happens. Persistence posts through the same
//! `Book` and `plan`, so what is shown here is what the service does.

use super::account::AccountKind;
use super::book::{Book, Totals};
use super::charge::{price, ChargeStatus};
use super::clawback;
use super::money::Pence;
use super::payment::{plan, DueCharge, OwedClawback};
use super::transfer::{Entry, Transfer, TransferKind};
use proptest::prelude::*;
use std::collections::{BTreeMap, HashMap};
use uuid::Uuid;

const PROVIDERS: usize = 3;

#[derive(Clone, Debug)]
enum Op {
    Record {
        provider: usize,
        unit: i64,
        quantity: u32,
        day: u32,
    },
    Approve(Vec<usize>),
    Reject(usize),
    Reverse(usize),
    TopUp(i64),
    Run {
        cut_off: u32,
    },
    /// Claws back a charge, in full or in part.
    ClawBack {
        charge: usize,
        part: Option<i64>,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0usize..PROVIDERS, 1i64..5_000, 1u32..4, 0u32..30).prop_map(
            |(provider, unit, quantity, day)| Op::Record {
                provider,
                unit,
                quantity,
                day
            }
        ),
        proptest::collection::vec(0usize..40, 1..4).prop_map(Op::Approve),
        (0usize..40).prop_map(Op::Reject),
        (0usize..40).prop_map(Op::Reverse),
        (1i64..20_000).prop_map(Op::TopUp),
        (0u32..30).prop_map(|cut_off| Op::Run { cut_off }),
        (0usize..40, proptest::option::of(-100i64..6_000))
            .prop_map(|(charge, part)| Op::ClawBack { charge, part }),
    ]
}

struct Charge {
    id: Uuid,
    provider: usize,
    amount: Pence,
    day: u32,
    status: ChargeStatus,
    times_approved: u32,
    times_paid: u32,
    clawed_back: Pence,
}

struct Clawback {
    id: Uuid,
    provider: usize,
    amount: Pence,
    recovered: Pence,
}

struct Ledger {
    book: Book,
    transfers: Vec<Transfer>,
    commissioner: Uuid,
    fund: Uuid,
    paid_out: Uuid,
    payables: Vec<Uuid>,
    recoverables: Vec<Uuid>,
    charges: Vec<Charge>,
    clawbacks: Vec<Clawback>,
    overdraft: bool,
}

impl Ledger {
    fn new(overdraft: bool) -> Self {
        let mut book = Book::new(overdraft);
        let (commissioner, fund, paid_out) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        book.open(commissioner, AccountKind::Commissioner, Totals::default());
        book.open(fund, AccountKind::Fund, Totals::default());
        book.open(paid_out, AccountKind::PaidOut, Totals::default());
        let payables: Vec<Uuid> = (0..PROVIDERS).map(|_| Uuid::now_v7()).collect();
        for payable in &payables {
            book.open(*payable, AccountKind::Payable, Totals::default());
        }
        let recoverables: Vec<Uuid> = (0..PROVIDERS).map(|_| Uuid::now_v7()).collect();
        for recoverable in &recoverables {
            book.open(*recoverable, AccountKind::Recoverable, Totals::default());
        }
        Ledger {
            book,
            transfers: Vec::new(),
            commissioner,
            fund,
            paid_out,
            payables,
            recoverables,
            charges: Vec::new(),
            clawbacks: Vec::new(),
            overdraft,
        }
    }

    fn balance(&self, account: Uuid) -> Pence {
        self.book.balance(account).expect("open")
    }

    /// Posts a transfer if the book accepts it; a refusal changes nothing.
    fn post(&mut self, transfer: Transfer) -> bool {
        let before: Vec<Pence> = self.all_accounts().map(|a| self.balance(a)).collect();
        match self.book.post(&transfer) {
            Ok(()) => {
                self.transfers.push(transfer);
                true
            }
            Err(_) => {
                let after: Vec<Pence> = self.all_accounts().map(|a| self.balance(a)).collect();
                assert_eq!(before, after, "a refused transfer moves nothing");
                false
            }
        }
    }

    fn all_accounts(&self) -> impl Iterator<Item = Uuid> + '_ {
        [self.commissioner, self.fund, self.paid_out]
            .into_iter()
            .chain(self.payables.iter().copied())
            .chain(self.recoverables.iter().copied())
    }

    fn apply(&mut self, op: Op) {
        match op {
            Op::Record {
                provider,
                unit,
                quantity,
                day,
            } => self.charges.push(Charge {
                id: Uuid::now_v7(),
                provider,
                amount: price(Pence(unit), quantity).unwrap(),
                day,
                status: ChargeStatus::Pending,
                times_approved: 0,
                times_paid: 0,
                clawed_back: Pence::ZERO,
            }),
            Op::Approve(mut batch) => {
                // As the service decides a batch: all of it or none, one transfer.
                batch.sort();
                batch.dedup();
                if batch.iter().any(|&i| {
                    i >= self.charges.len()
                        || self.charges[i]
                            .status
                            .transition(ChargeStatus::Approved)
                            .is_err()
                }) {
                    return;
                }
                let mut owed: BTreeMap<usize, Pence> = BTreeMap::new();
                for &i in &batch {
                    let share = owed.entry(self.charges[i].provider).or_default();
                    *share = share.checked_add(self.charges[i].amount).unwrap();
                }
                let total = owed
                    .values()
                    .fold(Pence::ZERO, |s, a| s.checked_add(*a).unwrap());
                let mut entries = vec![Entry::debit(self.fund, total)];
                entries.extend(
                    owed.iter()
                        .map(|(p, amount)| Entry::credit(self.payables[*p], *amount)),
                );
                if self.post(Transfer::new(TransferKind::ChargeApproval, entries).unwrap()) {
                    for i in batch {
                        self.charges[i].status = ChargeStatus::Approved;
                        self.charges[i].times_approved += 1;
                    }
                }
            }
            Op::Reject(i) | Op::Reverse(i) if i >= self.charges.len() => {}
            Op::Reject(i) => {
                if let Ok(to) = self.charges[i].status.transition(ChargeStatus::Rejected) {
                    self.charges[i].status = to;
                }
            }
            Op::Reverse(i) => {
                let (amount, provider) = (self.charges[i].amount, self.charges[i].provider);
                if let Ok(to) = self.charges[i].status.transition(ChargeStatus::Reversed) {
                    let reversal = Transfer::simple(
                        TransferKind::ChargeReversal,
                        self.payables[provider],
                        self.fund,
                        amount,
                    )
                    .unwrap();
                    assert!(self.post(reversal), "an approved, unpaid charge is owed");
                    self.charges[i].status = to;
                }
            }
            Op::TopUp(amount) => {
                let top_up = Transfer::simple(
                    TransferKind::TopUp,
                    self.commissioner,
                    self.fund,
                    Pence(amount),
                )
                .unwrap();
                assert!(self.post(top_up));
            }
            Op::Run { cut_off } => {
                let due: Vec<DueCharge> = self
                    .charges
                    .iter()
                    .filter(|c| c.status == ChargeStatus::Approved && c.day <= cut_off)
                    .map(|c| DueCharge {
                        charge: c.id,
                        organisation: self.payables[c.provider],
                        amount: c.amount,
                    })
                    .collect();
                let owed: Vec<OwedClawback> = self
                    .clawbacks
                    .iter()
                    .filter(|c| c.recovered < c.amount)
                    .map(|c| OwedClawback {
                        clawback: c.id,
                        organisation: self.payables[c.provider],
                        owed: Pence(c.amount.0 - c.recovered.0),
                    })
                    .collect();
                let plan = plan(due, owed).unwrap();
                for remittance in plan.remittances {
                    // The model's payables stand in for their organisations.
                    let provider = self
                        .payables
                        .iter()
                        .position(|p| *p == remittance.organisation)
                        .unwrap();
                    assert!(
                        remittance.amount.0 >= 0,
                        "a run never pays less than nothing"
                    );
                    let mut entries = vec![Entry::debit(remittance.organisation, remittance.gross)];
                    if remittance.amount.0 > 0 {
                        entries.push(Entry::credit(self.paid_out, remittance.amount));
                    }
                    let recovered = remittance.recovered_total();
                    if recovered.0 > 0 {
                        entries.push(Entry::credit(self.recoverables[provider], recovered));
                    }
                    let payment = Transfer::new(TransferKind::Payment, entries).unwrap();
                    assert!(self.post(payment), "a payable covers its approved charges");
                    for (id, amount) in remittance.recovered {
                        let clawback = self.clawbacks.iter_mut().find(|c| c.id == id).unwrap();
                        assert_eq!(clawback.provider, provider, "netted off its own provider");
                        clawback.recovered = clawback.recovered.checked_add(amount).unwrap();
                    }
                    for id in remittance.charges {
                        let charge = self.charges.iter_mut().find(|c| c.id == id).unwrap();
                        assert!(charge.day <= cut_off, "only what was due is paid");
                        charge.status = charge
                            .status
                            .transition(ChargeStatus::Paid)
                            .expect("a due charge is approved");
                        charge.times_paid += 1;
                    }
                }
            }
            Op::ClawBack { charge, .. } if charge >= self.charges.len() => {}
            Op::ClawBack { charge, part } => {
                let c = &self.charges[charge];
                if c.status != ChargeStatus::Paid {
                    return;
                }
                let Ok(amount) = clawback::amount(c.amount, c.clawed_back, part.map(Pence)) else {
                    return;
                };
                let provider = c.provider;
                let transfer = Transfer::simple(
                    TransferKind::Clawback,
                    self.recoverables[provider],
                    self.fund,
                    amount,
                )
                .unwrap();
                assert!(self.post(transfer), "a provider may always owe a clawback");
                self.charges[charge].clawed_back = self.charges[charge]
                    .clawed_back
                    .checked_add(amount)
                    .unwrap();
                self.clawbacks.push(Clawback {
                    id: Uuid::now_v7(),
                    provider,
                    amount,
                    recovered: Pence::ZERO,
                });
            }
        }
    }

    fn check(&self) {
        assert_eq!(
            self.book.sum_of_balances(),
            Pence::ZERO,
            "balances sum to zero"
        );
        let mut recomputed: HashMap<Uuid, i64> = HashMap::new();
        for transfer in &self.transfers {
            let net: i64 = transfer.entries().iter().map(|e| e.signed().0).sum();
            assert_eq!(net, 0, "every transfer balances");
            for entry in transfer.entries() {
                *recomputed.entry(entry.account).or_default() += entry.signed().0;
            }
        }
        for account in self.all_accounts() {
            assert_eq!(
                recomputed.get(&account).copied().unwrap_or(0),
                self.balance(account).0,
                "a balance is the sum of its entries"
            );
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
        let recovered: i64 = self.clawbacks.iter().map(|c| c.recovered.0).sum();
        assert_eq!(
            self.balance(self.paid_out).0,
            paid - recovered,
            "paid out is the paid charges less what was recovered"
        );
        for (provider, recoverable) in self.recoverables.iter().enumerate() {
            let owed: i64 = self
                .clawbacks
                .iter()
                .filter(|c| c.provider == provider)
                .map(|c| c.amount.0 - c.recovered.0)
                .sum();
            assert!(owed >= 0, "nothing more recovered than clawed back");
            assert_eq!(
                self.balance(*recoverable).0,
                -owed,
                "a recoverable account is what its provider still owes"
            );
        }
        for charge in &self.charges {
            assert!(
                charge.clawed_back <= charge.amount,
                "no more clawed back than was charged"
            );
            assert!(
                charge.clawed_back == Pence::ZERO || charge.status == ChargeStatus::Paid,
                "only paid charges are clawed back"
            );
        }
        for charge in &self.charges {
            assert!(charge.times_paid <= 1, "nothing is paid twice");
            assert!(charge.times_approved <= 1, "nothing is approved twice");
            assert_eq!(
                charge.times_paid == 1,
                charge.status == ChargeStatus::Paid,
                "paid exactly when settled by a run"
            );
        }
    }
}

proptest! {
    #[test]
    fn random_operations_keep_every_invariant(
        overdraft in any::<bool>(),
        ops in proptest::collection::vec(op(), 1..150),
    ) {
        let mut ledger = Ledger::new(overdraft);
        for op in ops {
            ledger.apply(op);
            ledger.check();
        }
    }
}
