//! The federation's money, as the service would have moved it: each month's charges are
//! approved on the fifth of the next month (one transfer per provider) and paid by a payment run
//! on the fifteenth (one remittance per provider); the commissioner tops the fund up at the start
//! of each quarter by a little more than that quarter's approvals, so the fund never goes below
//! zero.

use super::rng::Rng;
use super::tables::Tables;
use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc};
use std::collections::BTreeMap;
use uuid::Uuid;

/// What became of one charge by the end of the story.
pub struct Decision {
    pub status: &'static str,
    pub approval_transfer: Option<Uuid>,
    pub remittance: Option<Uuid>,
    pub decided_at: Option<DateTime<Utc>>,
    pub reason: Option<&'static str>,
    pub version: i64,
    pub updated_at: DateTime<Utc>,
}

struct TransferRow {
    id: Uuid,
    kind: &'static str,
    amount: i64,
    organisation: Option<usize>,
    description: String,
    at: DateTime<Utc>,
}

struct EntryRow {
    transfer: Uuid,
    account: Uuid,
    organisation: Option<usize>,
    side: &'static str,
    amount: i64,
    at: DateTime<Utc>,
}

fn transfer_row(
    id: Uuid,
    kind: &'static str,
    amount: i64,
    organisation: Option<usize>,
    description: String,
    at: DateTime<Utc>,
) -> TransferRow {
    TransferRow {
        id,
        kind,
        amount,
        organisation,
        description,
        at,
    }
}

fn entry_row(
    transfer: Uuid,
    account: Uuid,
    organisation: Option<usize>,
    side: &'static str,
    amount: i64,
    at: DateTime<Utc>,
) -> EntryRow {
    EntryRow {
        transfer,
        account,
        organisation,
        side,
        amount,
        at,
    }
}

struct Approval {
    transfer: Uuid,
    total: i64,
}

struct Remittance {
    id: Uuid,
    transfer: Uuid,
    gross: i64,
    charges: i64,
}

pub struct Ledger {
    seed: u64,
    federation: Uuid,
    admin: Uuid,
    /// The first day of the story's first month.
    first_month: NaiveDate,
    end: DateTime<Utc>,
    approvals: BTreeMap<(u32, usize), Approval>,
    remittances: BTreeMap<u32, BTreeMap<usize, Remittance>>,
}

fn at(day: NaiveDate, hour: u32) -> DateTime<Utc> {
    Utc.from_utc_datetime(&day.and_hms_opt(hour, 0, 0).expect("a valid hour"))
}

fn add_months(day: NaiveDate, months: u32) -> NaiveDate {
    let index = day.year() * 12 + day.month0() as i32 + months as i32;
    NaiveDate::from_ymd_opt(index.div_euclid(12), index.rem_euclid(12) as u32 + 1, 1)
        .expect("the first of a month")
}

impl Ledger {
    pub fn new(
        seed: u64,
        federation: Uuid,
        admin: Uuid,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Self {
        let start = start.date_naive();
        Self {
            seed,
            federation,
            admin,
            first_month: NaiveDate::from_ymd_opt(start.year(), start.month(), 1).expect("day 1"),
            end,
            approvals: BTreeMap::new(),
            remittances: BTreeMap::new(),
        }
    }

    fn month_of(&self, day: NaiveDate) -> u32 {
        let months = (day.year() - self.first_month.year()) * 12 + day.month0() as i32
            - self.first_month.month0() as i32;
        months.max(0) as u32
    }

    fn approved_at(&self, month: u32) -> DateTime<Utc> {
        at(
            add_months(self.first_month, month + 1) + Duration::days(4),
            10,
        )
    }

    fn paid_at(&self, month: u32) -> DateTime<Utc> {
        at(
            add_months(self.first_month, month + 1) + Duration::days(14),
            10,
        )
    }

    fn cut_off(&self, month: u32) -> NaiveDate {
        add_months(self.first_month, month + 1) - Duration::days(1)
    }

    fn id(&self, part: &str, index: u64, at: DateTime<Utc>) -> Uuid {
        Rng::stream(self.seed, part, index).id_at(at)
    }

    /// Decides a charge for an activity of `organisation` delivered on `delivered_on` and
    /// recorded at `recorded_at`, and counts it in the month's approval and payment.
    pub fn charge(
        &mut self,
        rng: &mut Rng,
        organisation: usize,
        amount: i64,
        delivered_on: NaiveDate,
        recorded_at: DateTime<Utc>,
    ) -> Decision {
        let month = self.month_of(delivered_on);
        let approved_at = self.approved_at(month);
        let pending = Decision {
            status: "pending",
            approval_transfer: None,
            remittance: None,
            decided_at: None,
            reason: None,
            version: 1,
            updated_at: recorded_at,
        };
        if approved_at > self.end {
            return pending;
        }
        if rng.chance(0.02) {
            return Decision {
                status: "rejected",
                decided_at: Some(approved_at),
                reason: Some("claimed twice for the same session"),
                version: 2,
                updated_at: approved_at,
                ..pending
            };
        }
        let key = month as u64 * 100_000 + organisation as u64;
        let transfer = self.id("approval", key, approved_at);
        let approval = self
            .approvals
            .entry((month, organisation))
            .or_insert(Approval { transfer, total: 0 });
        approval.total += amount;
        let approved = Decision {
            status: "approved",
            approval_transfer: Some(approval.transfer),
            decided_at: Some(approved_at),
            version: 2,
            updated_at: approved_at,
            ..pending
        };
        let paid_at = self.paid_at(month);
        if paid_at > self.end {
            return approved;
        }
        let (id, transfer) = (
            self.id("remittance", key, paid_at),
            self.id("payment", key, paid_at),
        );
        let remittance = self
            .remittances
            .entry(month)
            .or_default()
            .entry(organisation)
            .or_insert(Remittance {
                id,
                transfer,
                gross: 0,
                charges: 0,
            });
        remittance.gross += amount;
        remittance.charges += 1;
        Decision {
            status: "paid",
            remittance: Some(remittance.id),
            version: 3,
            updated_at: paid_at,
            ..approved
        }
    }

    /// Writes the accounts, the top-ups, approvals and payments with their entries, and the
    /// payment runs with their remittances; answers the fund's closing balance.
    pub fn write(self, organisations: &[Uuid], tables: &mut Tables) -> i64 {
        let federation = self.federation;
        let opened = at(self.first_month, 9);
        let mut accounts: BTreeMap<&'static str, (Uuid, i64, i64)> = BTreeMap::new();
        for (index, kind) in ["commissioner", "fund", "paid_out"].into_iter().enumerate() {
            accounts.insert(kind, (self.id("account", index as u64, opened), 0, 0));
        }
        let mut payables: BTreeMap<usize, (Uuid, i64, i64)> = BTreeMap::new();
        let mut transfers: Vec<TransferRow> = Vec::new();
        let mut entries: Vec<EntryRow> = Vec::new();

        // Each quarter's approvals, topped up at the quarter's start with a tenth more, in
        // whole thousands of pounds.
        let mut quarters: BTreeMap<u32, i64> = BTreeMap::new();
        for (&(month, _), approval) in &self.approvals {
            let quarter = self.month_of(self.approved_at(month).date_naive()) / 3;
            *quarters.entry(quarter).or_default() += approval.total;
        }
        for (&quarter, &total) in &quarters {
            let amount = (total * 11 / 10 + 99_999) / 100_000 * 100_000;
            let when = at(add_months(self.first_month, quarter * 3), 9);
            let transfer = self.id("top_up", u64::from(quarter), when);
            transfers.push(transfer_row(
                transfer,
                "top_up",
                amount,
                None,
                format!("commissioner funding, quarter {}", quarter + 1),
                when,
            ));
            let (commissioner, fund) = (accounts["commissioner"].0, accounts["fund"].0);
            entries.push(entry_row(
                transfer,
                commissioner,
                None,
                "debit",
                amount,
                when,
            ));
            entries.push(entry_row(transfer, fund, None, "credit", amount, when));
        }

        let fund = accounts["fund"].0;
        let paid_out = accounts["paid_out"].0;
        for (&(month, organisation), approval) in &self.approvals {
            let when = self.approved_at(month);
            let payable = payables
                .entry(organisation)
                .or_insert((self.id("payable", organisation as u64, when), 0, 0))
                .0;
            transfers.push(transfer_row(
                approval.transfer,
                "charge_approval",
                approval.total,
                Some(organisation),
                "charge approval".into(),
                when,
            ));
            entries.push(entry_row(
                approval.transfer,
                fund,
                None,
                "debit",
                approval.total,
                when,
            ));
            entries.push(entry_row(
                approval.transfer,
                payable,
                Some(organisation),
                "credit",
                approval.total,
                when,
            ));
        }
        for (&month, remittances) in &self.remittances {
            let when = self.paid_at(month);
            let run = self.id("payment_run", u64::from(month), when);
            let total: i64 = remittances.values().map(|r| r.gross).sum();
            let charges: i64 = remittances.values().map(|r| r.charges).sum();
            tables
                .payment_runs
                .row()
                .uuid(federation)
                .uuid(run)
                .date(self.cut_off(month))
                .int(total)
                .int(0)
                .int(charges)
                .int(remittances.len() as i64)
                .uuid(self.admin)
                .time(when);
            for (&organisation, remittance) in remittances {
                let payable = payables[&organisation].0;
                transfers.push(transfer_row(
                    remittance.transfer,
                    "payment",
                    remittance.gross,
                    Some(organisation),
                    "payment run".into(),
                    when,
                ));
                entries.push(entry_row(
                    remittance.transfer,
                    payable,
                    Some(organisation),
                    "debit",
                    remittance.gross,
                    when,
                ));
                entries.push(entry_row(
                    remittance.transfer,
                    paid_out,
                    None,
                    "credit",
                    remittance.gross,
                    when,
                ));
            }
        }

        // The fund is topped up before it is drawn on: never below zero at any moment.
        let mut fund_movements: Vec<(DateTime<Utc>, i64)> = entries
            .iter()
            .filter(|e| e.account == fund)
            .map(|e| {
                (
                    e.at,
                    if e.side == "credit" {
                        e.amount
                    } else {
                        -e.amount
                    },
                )
            })
            .collect();
        fund_movements.sort();
        let mut balance = 0;
        for (_, movement) in fund_movements {
            balance += movement;
            assert!(balance >= 0, "the generated fund went below zero");
        }

        // The running totals are the entries' sums, as posting keeps them.
        for &EntryRow {
            account,
            organisation,
            side,
            amount,
            ..
        } in &entries
        {
            let totals = match organisation {
                Some(organisation) => payables.get_mut(&organisation).expect("opened"),
                None => accounts
                    .values_mut()
                    .find(|(id, _, _)| *id == account)
                    .expect("opened"),
            };
            if side == "debit" {
                totals.1 += amount;
            } else {
                totals.2 += amount;
            }
        }
        for (kind, (id, debits, credits)) in &accounts {
            tables
                .ledger_accounts
                .row()
                .uuid(federation)
                .uuid(*id)
                .text(kind)
                .null()
                .int(*debits)
                .int(*credits)
                .time(opened);
        }
        for (organisation, (id, debits, credits)) in &payables {
            tables
                .ledger_accounts
                .row()
                .uuid(federation)
                .uuid(*id)
                .text("payable")
                .uuid(organisations[*organisation])
                .int(*debits)
                .int(*credits)
                .time(opened);
        }
        transfers.sort_by_key(|t| (t.at, t.id));
        for TransferRow {
            id,
            kind,
            amount,
            organisation,
            description,
            at: when,
        } in &transfers
        {
            tables
                .ledger_transfers
                .row()
                .uuid(federation)
                .uuid(*id)
                .text(kind)
                .int(*amount)
                .opt_uuid(organisation.map(|o| organisations[o]))
                .text(description)
                .uuid(self.admin)
                .time(*when);
        }
        for EntryRow {
            transfer,
            account,
            organisation,
            side,
            amount,
            at: when,
        } in &entries
        {
            tables
                .ledger_entries
                .row()
                .uuid(federation)
                .uuid(*transfer)
                .uuid(*account)
                .opt_uuid(organisation.map(|o| organisations[o]))
                .text(side)
                .int(*amount)
                .time(*when);
        }
        for (&month, remittances) in &self.remittances {
            let when = self.paid_at(month);
            let run = self.id("payment_run", u64::from(month), when);
            for (&organisation, remittance) in remittances {
                tables
                    .remittances
                    .row()
                    .uuid(federation)
                    .uuid(remittance.id)
                    .uuid(run)
                    .uuid(organisations[organisation])
                    .uuid(remittance.transfer)
                    .int(remittance.gross)
                    .int(remittance.gross)
                    .int(0)
                    .int(remittance.charges)
                    .time(when);
            }
        }
        let (_, debits, credits) = accounts["fund"];
        credits - debits
    }
}
