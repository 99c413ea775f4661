//! Approving charges, many requests in one transaction.
//!
//! Every approval debits the programme fund, so approvals of one federation take turns on the
//! fund's row, and each would hold it for its commit (with `synchronous_commit = on`, the wait
//! for the WAL to reach disk). [`approve_group`] decides a whole group of approval requests in
//! one transaction instead: each request is still all or none, refused on its own (unknown or
//! undecidable charges, a fund that cannot pay it, a reused key) without touching the others,
//! and decided in the order the requests came, so the fund pays the earlier ones first. The
//! fund is locked once per group and the group commits once.

use super::accounts::{self, Posting};
use super::charges::{ChargeRecord, ChargeRow};
use super::decisions::{Decided, DecisionError};
use super::settings;
use crate::error::StoreError;
use sqlx::{PgConnection, Postgres, QueryBuilder};
use std::collections::{BTreeMap, HashMap, HashSet};
use uuid::Uuid;
use waymark_domain::ledger::{
    AccountKind, ChargeStatus, Entry, Pence, PostingRefused, Transfer, TransferKind,
};
use waymark_domain::FederationId;

/// One request to approve charges, with the `Idempotency-Key` it came with.
#[derive(Clone, Debug)]
pub struct ApprovalRequest {
    /// Who asks: the key's owner and the decision's author.
    pub principal: Uuid,
    pub key: String,
    /// The kind of request the key serves, e.g. `charge_decision`.
    pub operation: &'static str,
    /// A digest of the request, so a key reused for another request is recognised.
    pub request_hash: String,
    /// The charges, distinct, approved together or not at all.
    pub charges: Vec<Uuid>,
    pub reason: Option<String>,
}

/// What became of one request.
#[derive(Debug)]
pub enum ApprovalOutcome {
    /// Approved: the response kept for its key.
    Approved(serde_json::Value),
    /// The key's first response: this request was answered before.
    Replayed {
        status: u16,
        body: serde_json::Value,
    },
    /// The key was used before for a different request.
    KeyReused,
    /// Nothing was decided, for a reason the client can act on.
    Refused(DecisionError),
}

/// Whether a group decided, or must be run again in a new transaction.
pub enum GroupResult {
    Decided(Vec<ApprovalOutcome>),
    /// A concurrent request committed a key of this group after it was looked up; nothing was
    /// written, and a new attempt will see that request as what it is (a replay, or a reuse).
    KeyTakenMeanwhile,
}

/// How a request's decision is rendered as the response kept for its key.
pub type Render = fn(&Decided) -> serde_json::Value;

struct Accepted {
    request: usize,
    /// One transfer per provider whose charges the request approves (a transfer moves one
    /// provider's money: its row names that provider for the provider's row-level security).
    postings: Vec<(Uuid, Posting<'static>)>,
    decided: Decided,
}

/// Decides `requests` in order, in the caller's transaction (scoped to `federation`'s
/// administration), writing everything that was approved; the caller commits.
pub async fn approve_group(
    conn: &mut PgConnection,
    federation: FederationId,
    requests: &[ApprovalRequest],
    render: Render,
) -> Result<GroupResult, StoreError> {
    let mut outcomes: Vec<Option<ApprovalOutcome>> = requests.iter().map(|_| None).collect();

    // Keys answered before: their first answer, or a refusal when they named another request.
    let earlier = earlier_answers(conn, federation, requests).await?;
    for (n, request) in requests.iter().enumerate() {
        if let Some(first) = earlier.get(&(request.principal, request.key.clone())) {
            outcomes[n] = Some(first.outcome_for(request));
        }
    }

    let wanted: Vec<Uuid> = requests
        .iter()
        .zip(&outcomes)
        .filter(|(_, outcome)| outcome.is_none())
        .flat_map(|(request, _)| request.charges.iter().copied())
        .collect();
    if wanted.is_empty() {
        // Every request was answered before: nothing to lock, nothing to write.
        return Ok(GroupResult::Decided(
            outcomes
                .into_iter()
                .map(|o| o.expect("every request has an outcome"))
                .collect(),
        ));
    }
    let mut charges: HashMap<Uuid, ChargeRecord> = super::charges::lock(conn, federation, &wanted)
        .await?
        .into_iter()
        .map(|c| (c.id, c))
        .collect();

    let overdraft = settings::lock(conn, federation)
        .await?
        .fund_overdraft_allowed;
    let fund = accounts::account_id(conn, federation, AccountKind::Fund, None).await?;
    let organisations: Vec<Uuid> = {
        let mut ids: Vec<Uuid> = charges.values().map(|c| c.organisation_id).collect();
        ids.sort();
        ids.dedup();
        ids
    };
    let payables = accounts::payable_ids(conn, federation, &organisations).await?;
    let mut touched: Vec<Uuid> = payables.values().copied().collect();
    touched.push(fund);
    let mut locked = accounts::lock_book(conn, federation, &touched, overdraft).await?;

    // Decide each request in turn against the charges and the book as the earlier ones left
    // them; a refused request changes neither.
    let mut accepted: Vec<Accepted> = Vec::new();
    let mut answered_here: HashMap<(Uuid, &str), (usize, &str)> = HashMap::new();
    for (n, request) in requests.iter().enumerate() {
        if outcomes[n].is_some() {
            continue;
        }
        // The same key twice in one group: the later one is a retry of the earlier.
        if let Some(&(first, hash)) = answered_here.get(&(request.principal, request.key.as_str()))
        {
            if hash != request.request_hash {
                outcomes[n] = Some(ApprovalOutcome::KeyReused);
                continue;
            }
            if accepted.iter().any(|a| a.request == first) {
                // Its body is the earlier request's, known once that is written.
                outcomes[n] = Some(ApprovalOutcome::Replayed {
                    status: 200,
                    body: serde_json::Value::Null,
                });
                continue;
            }
        }
        match decide(request, &charges, fund, &payables) {
            Err(refused) => outcomes[n] = Some(ApprovalOutcome::Refused(refused)),
            Ok((whole, postings, decided)) => match locked.book.post(&whole) {
                Err(PostingRefused::InsufficientFunds(short)) => {
                    outcomes[n] = Some(ApprovalOutcome::Refused(DecisionError::Post(short.into())));
                }
                Err(other) => {
                    return Err(StoreError::Database(sqlx::Error::Protocol(
                        other.to_string(),
                    )))
                }
                Ok(()) => {
                    for id in &request.charges {
                        if let Some(charge) = charges.get_mut(id) {
                            charge.status = ChargeStatus::Approved;
                        }
                    }
                    answered_here.insert(
                        (request.principal, request.key.as_str()),
                        (n, request.request_hash.as_str()),
                    );
                    accepted.push(Accepted {
                        request: n,
                        postings,
                        decided,
                    });
                }
            },
        }
    }

    if !accepted.is_empty() {
        let decided = mark_approved(conn, federation, requests, &accepted, &charges).await?;
        for item in &mut accepted {
            item.decided.charges = requests[item.request]
                .charges
                .iter()
                .filter_map(|id| decided.get(id).cloned())
                .collect();
            item.decided.charges.sort_by_key(|c| c.id);
        }
        let bodies: Vec<serde_json::Value> = accepted.iter().map(|a| render(&a.decided)).collect();
        if !keep_answers(conn, federation, requests, &accepted, &bodies).await? {
            return Ok(GroupResult::KeyTakenMeanwhile);
        }
        let postings: Vec<(&Posting<'_>, Uuid)> = accepted
            .iter()
            .flat_map(|a| {
                let by = requests[a.request].principal;
                a.postings.iter().map(move |(_, posting)| (posting, by))
            })
            .collect();
        accounts::write_postings(conn, federation, &postings, &locked).await?;
        for (item, body) in accepted.iter().zip(bodies) {
            outcomes[item.request] = Some(ApprovalOutcome::Approved(body));
        }
        // Retries of an approved request in this same group answer as it did.
        for (n, request) in requests.iter().enumerate() {
            let Some(&(first, _)) = answered_here.get(&(request.principal, request.key.as_str()))
            else {
                continue;
            };
            let kept = match &outcomes[first] {
                Some(ApprovalOutcome::Approved(kept)) if first != n => kept.clone(),
                _ => continue,
            };
            if let Some(ApprovalOutcome::Replayed { body, .. }) = &mut outcomes[n] {
                *body = kept;
            }
        }
    }
    Ok(GroupResult::Decided(
        outcomes
            .into_iter()
            .map(|o| o.expect("every request has an outcome"))
            .collect(),
    ))
}

/// What approving `request`'s charges moves, if the charges allow it: the whole of it as one
/// transfer (fund → each provider's payable) for the book to accept or refuse at once, and the
/// same money as one transfer per provider, which is what is written.
#[allow(clippy::type_complexity)]
fn decide(
    request: &ApprovalRequest,
    charges: &HashMap<Uuid, ChargeRecord>,
    fund: Uuid,
    payables: &HashMap<Uuid, Uuid>,
) -> Result<(Transfer, Vec<(Uuid, Posting<'static>)>, Decided), DecisionError> {
    let mut total = Pence::ZERO;
    let mut owed: BTreeMap<Uuid, Pence> = BTreeMap::new();
    for id in &request.charges {
        let charge = charges.get(id).ok_or(DecisionError::UnknownCharge(*id))?;
        charge
            .status
            .transition(ChargeStatus::Approved)
            .map_err(|_| DecisionError::IllegalTransition {
                charge: charge.id,
                from: charge.status,
                to: ChargeStatus::Approved,
            })?;
        total = total
            .checked_add(charge.amount())
            .ok_or(DecisionError::Overflow)?;
        let share = owed.entry(charge.organisation_id).or_default();
        *share = share
            .checked_add(charge.amount())
            .ok_or(DecisionError::Overflow)?;
    }
    let invalid = |e: waymark_domain::ledger::transfer::InvalidTransfer| {
        StoreError::Database(sqlx::Error::Protocol(e.to_string()))
    };
    let mut entries = vec![Entry::debit(fund, total)];
    let mut postings = Vec::with_capacity(owed.len());
    let single = request.charges.len() == 1;
    for (organisation, amount) in owed {
        let payable = *payables.get(&organisation).ok_or(StoreError::NotFound)?;
        entries.push(Entry::credit(payable, amount));
        let transfer = Transfer::new(
            TransferKind::ChargeApproval,
            vec![Entry::debit(fund, amount), Entry::credit(payable, amount)],
        )
        .map_err(invalid)?;
        let posting = Posting {
            charge: single.then(|| request.charges[0]),
            description: Some("charge approval"),
            ..Posting::new(transfer)
        };
        postings.push((organisation, posting));
    }
    let whole = Transfer::new(TransferKind::ChargeApproval, entries).map_err(invalid)?;
    let decided = Decided {
        // One transfer when the charges are one provider's; otherwise each charge names its own.
        transfer_id: match postings.as_slice() {
            [(_, only)] => Some(only.id),
            _ => None,
        },
        amount: total,
        charges: Vec::new(),
    };
    Ok((whole, postings, decided))
}

/// A key's first use, as stored.
struct EarlierAnswer {
    operation: String,
    request_hash: String,
    response: Option<(u16, serde_json::Value)>,
}

impl EarlierAnswer {
    fn outcome_for(&self, request: &ApprovalRequest) -> ApprovalOutcome {
        match &self.response {
            Some((status, body))
                if self.operation == request.operation
                    && self.request_hash == request.request_hash =>
            {
                ApprovalOutcome::Replayed {
                    status: *status,
                    body: body.clone(),
                }
            }
            // A key without a kept response belongs to a request that is not about money.
            _ => ApprovalOutcome::KeyReused,
        }
    }
}

async fn earlier_answers(
    conn: &mut PgConnection,
    federation: FederationId,
    requests: &[ApprovalRequest],
) -> Result<HashMap<(Uuid, String), EarlierAnswer>, StoreError> {
    let principals: Vec<Uuid> = requests.iter().map(|r| r.principal).collect();
    let keys: Vec<String> = requests.iter().map(|r| r.key.clone()).collect();
    let rows = sqlx::query!(
        r#"SELECT k.principal_id, k.key, k.operation, k.request_hash, k.response_status,
                  k.response_body
           FROM idempotency_keys k
           JOIN unnest($2::uuid[], $3::text[]) AS r(principal, key)
             ON k.principal_id = r.principal AND k.key = r.key
           WHERE k.federation_id = $1"#,
        federation.as_uuid(),
        &principals,
        &keys,
    )
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            (
                (r.principal_id, r.key),
                EarlierAnswer {
                    operation: r.operation,
                    request_hash: r.request_hash,
                    response: r
                        .response_status
                        .zip(r.response_body)
                        .map(|(status, body)| (u16::try_from(status).unwrap_or(200), body)),
                },
            )
        })
        .collect())
}

/// Marks the accepted requests' charges approved, each with the transfer that paid its provider,
/// its request's reason and author; answers the charges as they now are, by id.
async fn mark_approved(
    conn: &mut PgConnection,
    federation: FederationId,
    requests: &[ApprovalRequest],
    accepted: &[Accepted],
    charges: &HashMap<Uuid, ChargeRecord>,
) -> Result<HashMap<Uuid, ChargeRecord>, StoreError> {
    let (mut ids, mut transfers, mut reasons, mut authors) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut seen = HashSet::new();
    for item in accepted {
        let request = &requests[item.request];
        for id in &request.charges {
            if seen.insert(*id) {
                let organisation = charges.get(id).map(|c| c.organisation_id);
                let transfer = item
                    .postings
                    .iter()
                    .find(|(o, _)| Some(*o) == organisation)
                    .map(|(_, posting)| posting.id)
                    .ok_or_else(|| {
                        StoreError::Database(sqlx::Error::Protocol(format!(
                            "no transfer for approved charge {id}"
                        )))
                    })?;
                ids.push(*id);
                transfers.push(transfer);
                reasons.push(request.reason.clone());
                authors.push(request.principal);
            }
        }
    }
    let rows = sqlx::query_as!(
        ChargeRow,
        r#"UPDATE charges c
           SET status = 'approved', approval_transfer_id = d.transfer,
               reason = coalesce(d.reason, c.reason), decided_by = d.author, decided_at = now(),
               version = c.version + 1, updated_at = now()
           FROM unnest($2::uuid[], $3::uuid[], $4::text[], $5::uuid[])
                AS d(id, transfer, reason, author)
           WHERE c.federation_id = $1 AND c.id = d.id AND c.status = 'pending'
           RETURNING c.id, c.practice_id, c.activity_id, c.organisation_id, c.service_id,
                     c.tariff_id, c.activity_type, c.delivered_on, c.quantity, c.unit_pence,
                     c.amount_pence, c.status, c.approval_transfer_id, c.reversal_transfer_id,
                     c.remittance_id, c.decided_by, c.decided_at, c.reason, c.created_at"#,
        federation.as_uuid(),
        &ids,
        &transfers,
        &reasons as &[Option<String>],
        &authors,
    )
    .fetch_all(conn)
    .await?;
    if rows.len() != ids.len() {
        // The charges were locked and checked pending in this transaction.
        return Err(StoreError::Database(sqlx::Error::Protocol(
            "a locked pending charge changed under its lock".into(),
        )));
    }
    rows.into_iter()
        .map(|row| ChargeRecord::try_from(row).map(|c| (c.id, c)))
        .collect()
}

/// Keeps each accepted request's response under its key. Answers false, writing nothing that
/// counts, when a concurrent request took one of the keys since [`earlier_answers`] looked.
async fn keep_answers(
    conn: &mut PgConnection,
    federation: FederationId,
    requests: &[ApprovalRequest],
    accepted: &[Accepted],
    bodies: &[serde_json::Value],
) -> Result<bool, StoreError> {
    // In key order, so that groups of two instances wait for each other in one order only.
    let mut answers: Vec<(&ApprovalRequest, Uuid, &serde_json::Value)> = accepted
        .iter()
        .zip(bodies)
        // The key names the request's first transfer; the kept body names them all.
        .map(|(item, body)| (&requests[item.request], item.postings[0].1.id, body))
        .collect();
    answers.sort_by(|a, b| (a.0.principal, &a.0.key).cmp(&(b.0.principal, &b.0.key)));
    let mut kept = 0;
    // Rows as VALUES, not unnest(): see `crate::rows`.
    for answers in answers.chunks(crate::rows::PER_STATEMENT) {
        let mut insert = QueryBuilder::<Postgres>::new(
            "INSERT INTO idempotency_keys (federation_id, principal_id, key, operation, \
             request_hash, resource_id, response_status, response_body) ",
        );
        insert.push_values(answers, |mut row, (request, resource, body)| {
            row.push_bind(federation.as_uuid())
                .push_bind(request.principal)
                .push_bind(&request.key)
                .push_bind(request.operation)
                .push_bind(&request.request_hash)
                .push_bind(*resource)
                .push_bind(200_i32)
                .push_bind(*body);
        });
        insert.push(" ON CONFLICT (federation_id, principal_id, key) DO NOTHING RETURNING 1");
        kept += insert.build().fetch_all(&mut *conn).await?.len();
    }
    Ok(kept == accepted.len())
}
