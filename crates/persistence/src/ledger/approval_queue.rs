//! Group commit for approvals: requests that arrive while a group is being decided wait, and
//! are decided together as the next group, in one transaction ([`super::approvals`]).
//!
//! Each federation (tenant scope) has one worker per service instance. A request arriving when
//! its worker is idle is decided at once, alone, so a quiet ledger answers as fast as before;
//! under load the groups grow by themselves and the fund is locked, and the WAL flushed, once
//! per group rather than once per approval. Instances each group their own requests; their
//! groups take turns on the fund's row like any two transactions.

use super::approvals::{approve_group, ApprovalOutcome, ApprovalRequest, GroupResult, Render};
use crate::error::StoreError;
use crate::tenant::{self, TenantScope};
use sqlx::PgPool;
use std::collections::HashMap;
use std::sync::Mutex;
use tokio::sync::{mpsc, oneshot};
use waymark_domain::FederationId;

/// The most requests one group decides; more wait for the next.
const GROUP_MAX_REQUESTS: usize = 256;
/// The most charges one group decides (a bulk request may carry a thousand).
const GROUP_MAX_CHARGES: usize = 4000;
/// How often a group is tried again after a concurrent request took one of its keys.
const KEY_RACE_ATTEMPTS: usize = 3;

type Reply = oneshot::Sender<Result<ApprovalOutcome, StoreError>>;

struct Job {
    request: ApprovalRequest,
    reply: Reply,
}

/// The approval workers of one service instance, one per tenant scope that has approved.
pub struct ApprovalQueue {
    pool: PgPool,
    render: Render,
    workers: Mutex<HashMap<TenantScope, mpsc::UnboundedSender<Job>>>,
}

impl ApprovalQueue {
    /// Approvals are decided on `pool`'s connections; `render` makes the response kept for each
    /// approved request's key.
    pub fn new(pool: PgPool, render: Render) -> Self {
        Self {
            pool,
            render,
            workers: Mutex::new(HashMap::new()),
        }
    }

    /// Decides `request` in `federation`, in a transaction scoped to `scope` (the federation's
    /// administration) together with whatever other approvals are waiting, and answers when
    /// that transaction has committed.
    pub async fn approve(
        &self,
        scope: TenantScope,
        federation: FederationId,
        request: ApprovalRequest,
    ) -> Result<ApprovalOutcome, StoreError> {
        let (reply, answer) = oneshot::channel();
        let mut job = Job { request, reply };
        // A worker whose runtime has stopped (its thread ended) is replaced.
        for _ in 0..2 {
            let sender = self.worker(scope, federation);
            match sender.send(job) {
                Ok(()) => {
                    return answer.await.unwrap_or_else(|_| {
                        Err(StoreError::Unavailable(sqlx::Error::WorkerCrashed))
                    })
                }
                Err(mpsc::error::SendError(returned)) => {
                    job = returned;
                    self.lock().remove(&scope);
                }
            }
        }
        Err(StoreError::Unavailable(sqlx::Error::WorkerCrashed))
    }

    fn worker(&self, scope: TenantScope, federation: FederationId) -> mpsc::UnboundedSender<Job> {
        let mut workers = self.lock();
        if let Some(sender) = workers.get(&scope).filter(|s| !s.is_closed()) {
            return sender.clone();
        }
        let (sender, jobs) = mpsc::unbounded_channel();
        tokio::spawn(work(
            self.pool.clone(),
            self.render,
            scope,
            federation,
            jobs,
        ));
        workers.insert(scope, sender.clone());
        sender
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<TenantScope, mpsc::UnboundedSender<Job>>> {
        self.workers
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Takes whatever is waiting (at least one request), decides it as one group, answers each
/// request, and goes round again.
async fn work(
    pool: PgPool,
    render: Render,
    scope: TenantScope,
    federation: FederationId,
    mut jobs: mpsc::UnboundedReceiver<Job>,
) {
    let mut carried: Option<Job> = None;
    loop {
        let first = match carried.take() {
            Some(job) => job,
            None => match jobs.recv().await {
                Some(job) => job,
                None => return,
            },
        };
        let mut charges = first.request.charges.len();
        let mut group = vec![first];
        while group.len() < GROUP_MAX_REQUESTS {
            match jobs.try_recv() {
                Ok(job) if charges + job.request.charges.len() > GROUP_MAX_CHARGES => {
                    carried = Some(job);
                    break;
                }
                Ok(job) => {
                    charges += job.request.charges.len();
                    group.push(job);
                }
                Err(_) => break,
            }
        }
        // A requester that gave up (its client went away) is still decided: its key may be
        // retried, and the retry must find what was done.
        let requests: Vec<ApprovalRequest> = group.iter().map(|j| j.request.clone()).collect();
        match decide(&pool, scope, federation, &requests, render).await {
            Ok(outcomes) => {
                for (job, outcome) in group.into_iter().zip(outcomes) {
                    let _ = job.reply.send(Ok(outcome));
                }
            }
            Err(error) => {
                let unavailable = matches!(error, StoreError::Unavailable(_));
                tracing::warn!(%error, requests = group.len(), "an approval group failed");
                for job in group {
                    let message = format!("the approval group failed: {error}");
                    let _ = job.reply.send(Err(if unavailable {
                        StoreError::Unavailable(sqlx::Error::Protocol(message))
                    } else {
                        StoreError::Database(sqlx::Error::Protocol(message))
                    }));
                }
            }
        }
    }
}

async fn decide(
    pool: &PgPool,
    scope: TenantScope,
    federation: FederationId,
    requests: &[ApprovalRequest],
    render: Render,
) -> Result<Vec<ApprovalOutcome>, StoreError> {
    for _ in 0..KEY_RACE_ATTEMPTS {
        let mut tx = tenant::begin(pool, scope).await?;
        match approve_group(&mut tx, federation, requests, render).await? {
            GroupResult::Decided(outcomes) => {
                tenant::commit(tx).await?;
                return Ok(outcomes);
            }
            GroupResult::KeyTakenMeanwhile => drop(tx),
        }
    }
    Err(StoreError::Database(sqlx::Error::Protocol(
        "idempotency keys kept being taken by concurrent requests".into(),
    )))
}
