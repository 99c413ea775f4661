//! `waymark seed-synthetic`: a whole federation made up from a seed, for statistics,
//! benchmarks and sizing. Its practices' patients go through the pathway as the service would
//! take them (the state machine, clinics staffed by cleared volunteers, consent to share,
//! providers answering onward referrals, tariffs in force, charges approved and paid from a
//! fund that is topped up first), and everything is loaded with COPY in one transaction, checked
//! by the ledger's reconciliation before it commits.

mod federation;
mod ledger;
mod practice;
mod rng;
mod tables;

use anyhow::{bail, Context};
use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use clap::Args;
use serde::Serialize;
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection, PgConnection};
use std::io::{IsTerminal, Write};
use std::str::FromStr;
use std::time::Instant;
use uuid::Uuid;
use waymark_domain::federation::Slug;
use waymark_domain::FederationId;
use waymark_http::Settings;
use waymark_persistence::bulk::{self, CopyBatch};
use waymark_persistence::ledger::accounts;
use waymark_persistence::{federations, stats, StoreError};

/// Rows are sent to the database whenever this much has been generated.
const SEND_EVERY_BYTES: usize = 16 << 20;

#[derive(Args, Debug)]
pub struct SyntheticArgs {
    /// The new federation's slug.
    #[arg(long)]
    federation: String,
    /// Practices in the federation, 1 to 500.
    #[arg(long, default_value_t = 10)]
    practices: usize,
    /// Referrals across the practices, 1 to 20,000,000 (at most 450,000 a practice).
    #[arg(long, default_value_t = 10_000)]
    referrals: u64,
    /// The same seed (with the same slug, end date and sizes) makes the same federation.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// The story ends at the start of this day (UTC); today by default.
    #[arg(long)]
    end_date: Option<NaiveDate>,
    /// Months the referrals are spread over, ending at the end date; 1 to 24.
    #[arg(long, default_value_t = 12)]
    months: u32,
}

/// What a generator run is: the sizes, the seed, and the story's time span.
#[derive(Clone)]
pub struct Plan {
    pub seed: u64,
    pub slug: String,
    pub practices: usize,
    pub referrals: u64,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

#[derive(Serialize)]
pub struct Summary {
    federation_id: Uuid,
    slug: String,
    seed: u64,
    practices: usize,
    referrals: u64,
    patients: u64,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    rows: u64,
    seconds: f64,
    rows_per_second: u64,
    fund_balance_pence: i64,
    /// Indexes set aside while the rows went in (into a database with no federation yet), and
    /// built after.
    indexes_built_afterwards: usize,
    phases: Phases,
    tables: Vec<TableCount>,
}

/// Where the time went: generating and copying the rows, building the indexes set aside for
/// them (in a new database), analysing the tables loaded, checking their foreign keys (`null`
/// when each row was checked as it arrived), building the statistics from them (and their
/// indexes), and reconciling the ledger and committing (which checks the deferred keys).
#[derive(Serialize)]
struct Phases {
    load_seconds: f64,
    index_build_seconds: f64,
    analyze_seconds: f64,
    key_check_seconds: Option<f64>,
    statistics_seconds: f64,
    check_and_commit_seconds: f64,
}

fn tenths(elapsed: std::time::Duration) -> f64 {
    (elapsed.as_secs_f64() * 10.0).round() / 10.0
}

#[derive(Serialize)]
struct TableCount {
    table: &'static str,
    rows: u64,
}

impl SyntheticArgs {
    fn plan(&self) -> anyhow::Result<Plan> {
        let slug = Slug::parse(&self.federation)
            .map_err(|e| anyhow::anyhow!("--federation {:?}: {}", self.federation, e.message))?;
        if !(1..=500).contains(&self.practices) {
            bail!("--practices must be from 1 to 500");
        }
        if !(1..=20_000_000).contains(&self.referrals) {
            bail!("--referrals must be from 1 to 20,000,000");
        }
        if self.referrals.div_ceil(self.practices as u64) > 450_000 {
            bail!("at most 450,000 referrals a practice: add practices");
        }
        if !(1..=24).contains(&self.months) {
            bail!("--months must be from 1 to 24");
        }
        let end_day = self.end_date.unwrap_or_else(|| Utc::now().date_naive());
        let end = Utc.from_utc_datetime(&end_day.and_hms_opt(0, 0, 0).expect("midnight"));
        Ok(Plan {
            seed: self.seed,
            slug: slug.as_str().to_owned(),
            practices: self.practices,
            referrals: self.referrals,
            start: end - Duration::days(i64::from(self.months) * 365 / 12),
            end,
        })
    }
}

/// Generates and loads the federation as the schema owner (WAYMARK_MIGRATION_DATABASE_URL).
pub async fn run(settings: &Settings, args: SyntheticArgs) -> anyhow::Result<Summary> {
    let plan = args.plan()?;
    let started = Instant::now();
    // Every COPY and the ANALYZE after are long by design: not worth a slow-statement warning.
    let options = PgConnectOptions::from_str(&settings.migration_database_url)
        .context("WAYMARK_MIGRATION_DATABASE_URL")?
        .disable_statement_logging();
    let mut conn = PgConnection::connect_with(&options)
        .await
        .context("connecting as the schema owner (WAYMARK_MIGRATION_DATABASE_URL)")?;
    let mut tx = bulk::begin_load(&mut conn).await?;
    stats::rebuild::defer(&mut tx).await?;
    match federations::find_by_slug(&mut tx, &plan.slug).await {
        Ok(_) => bail!(
            "a federation called {} exists already; choose another slug",
            plan.slug
        ),
        Err(StoreError::NotFound) => {}
        Err(other) => return Err(other.into()),
    }

    let mut tables = tables::Tables::new(&mut tx).await?;
    let keys_checked_afterwards = bulk::may_check_keys_afterwards(&mut tx).await?;
    // In a database with no federation yet, the big tables, and the statistics built from
    // them, are filled with their indexes set aside and built after. Only a superuser's load:
    // it checks the keys at the end, so no check needs a child's index while the rows go in.
    let (mut loaded_indexes, mut statistics_indexes) = Default::default();
    if keys_checked_afterwards {
        tables.check_keys_afterwards();
        loaded_indexes = bulk::set_indexes_aside(&mut tx, &tables.checked_afterwards()).await?;
        statistics_indexes = bulk::set_indexes_aside(&mut tx, &stats::rebuild::TABLES).await?;
    }
    let federation = federation::generate(&plan, &mut tables);
    tables.send(&mut tx).await?;
    let progress = Progress::new(plan.referrals);
    let mut rows_sent: u64 = tables.counts().iter().map(|(_, n)| n).sum();
    // The patients' rows are made on a thread of their own while the last lot is copied in:
    // the server need not wait for the generator, nor the generator for the server.
    let (lots, mut arriving) = tokio::sync::mpsc::channel(1);
    let generator = {
        let plan = plan.clone();
        std::thread::spawn(move || generate_patients(&plan, federation, tables, lots))
    };
    let mut made = 0;
    while let Some(lot) = arriving.recv().await {
        for batch in lot.batches {
            rows_sent += batch.send(&mut tx).await?;
        }
        made = lot.referrals;
        progress.show(made, rows_sent);
    }
    let Patients {
        federation,
        tables,
        patients,
        fund_balance_pence,
    } = match generator.join() {
        Ok(Some(generated)) => generated,
        Ok(None) => bail!("the generator stopped before the load took all its rows"),
        Err(_) => bail!("the generator failed; nothing was loaded"),
    };
    progress.finish(made, rows_sent);
    let loaded_at = started.elapsed();
    let indexes_built_afterwards = loaded_indexes.len() + statistics_indexes.len();
    if !loaded_indexes.is_empty() {
        progress.phase(&format!("building {} indexes", loaded_indexes.len()));
    }
    bulk::build_indexes(&mut tx, loaded_indexes).await?;
    let indexed_at = started.elapsed();

    // The planner has to know how big the tables just filled are (ANALYZE in the transaction
    // counts its own rows) before their keys are checked and the statistics built from them,
    // each in a few large joins.
    let loaded: Vec<&str> = tables
        .counts()
        .into_iter()
        .map(|(table, _)| table)
        .collect();
    let analysed = bulk::analyze_in_load(&mut tx, &loaded).await?;
    let analysed_at = started.elapsed();
    if keys_checked_afterwards {
        progress.phase("checking every row's references");
        tables.check_keys(&mut tx, federation.id).await?;
    }
    let keys_at = started.elapsed();
    let id = FederationId::from(federation.id);
    progress.phase("building the statistics");
    stats::rebuild::rebuild(&mut tx, id).await?;
    bulk::build_indexes(&mut tx, statistics_indexes).await?;
    let statistics_at = started.elapsed();
    progress.phase("reconciling the ledger and committing");
    let unbalanced = accounts::reconcile(&mut tx, id)
        .await?
        .into_iter()
        .filter(|(_, running, recomputed)| running != recomputed)
        .count();
    if unbalanced > 0 {
        bail!("{unbalanced} generated ledger accounts do not reconcile; nothing was loaded");
    }
    // The ledger's balance checks and the keys to transfers and remittances run at commit.
    tx.commit()
        .await
        .context("committing the generated federation")?;
    let committed_at = started.elapsed();
    // The statistics tables were filled after the ANALYZE above (the rest of a big database
    // has not changed), and on Citus everything loaded is analysed only now.
    // (Citus takes the tables in this order: the reference tables among those loaded first.)
    let mut unanalysed: Vec<&str> = if analysed { Vec::new() } else { loaded };
    unanalysed.extend(stats::rebuild::TABLES);
    sqlx::query(&format!("ANALYZE {}", unanalysed.join(", ")))
        .execute(&mut conn)
        .await?;
    progress.done();

    let counts = tables.counts();
    let rows = counts.iter().map(|(_, n)| n).sum();
    let seconds = started.elapsed().as_secs_f64();
    Ok(Summary {
        federation_id: federation.id,
        slug: plan.slug,
        seed: plan.seed,
        practices: plan.practices,
        referrals: made,
        patients,
        from: plan.start,
        to: plan.end,
        rows,
        seconds: tenths(std::time::Duration::from_secs_f64(seconds)),
        rows_per_second: (rows as f64 / seconds) as u64,
        phases: Phases {
            load_seconds: tenths(loaded_at),
            index_build_seconds: tenths(indexed_at - loaded_at),
            analyze_seconds: tenths(analysed_at - indexed_at),
            key_check_seconds: keys_checked_afterwards.then(|| tenths(keys_at - analysed_at)),
            statistics_seconds: tenths(statistics_at - keys_at),
            check_and_commit_seconds: tenths(committed_at - statistics_at),
        },
        fund_balance_pence,
        indexes_built_afterwards,
        tables: counts
            .into_iter()
            .map(|(table, rows)| TableCount { table, rows })
            .collect(),
    })
}

/// Rows the generator has made, to be copied in, and the referrals made so far.
struct Lot {
    batches: Vec<CopyBatch>,
    referrals: u64,
}

/// What the generator hands back once every patient's rows are made and handed over.
struct Patients {
    federation: federation::Federation,
    tables: tables::Tables,
    patients: u64,
    fund_balance_pence: i64,
}

/// Every practice's patients, then the ledger's payments for their activities, handed over in
/// lots of about [`SEND_EVERY_BYTES`]; `None` when the loader stopped taking them.
fn generate_patients(
    plan: &Plan,
    federation: federation::Federation,
    mut tables: tables::Tables,
    lots: tokio::sync::mpsc::Sender<Lot>,
) -> Option<Patients> {
    let hand_over = |tables: &mut tables::Tables, referrals: u64| {
        let batches = tables.take_batches();
        lots.blocking_send(Lot { batches, referrals }).ok()
    };
    let mut ledger = ledger::Ledger::new(
        plan.seed,
        federation.id,
        federation.admin,
        plan.start,
        plan.end,
    );
    let mut made = 0;
    let mut patients = 0;
    for (practice, share) in federation.practices.iter().zip(shares(plan)) {
        let mut story =
            practice::PracticeStory::new(plan, &federation, practice, share, &mut tables);
        while story.referrals_left() > 0 {
            made += story.next_patient(&mut tables, &mut ledger);
            if tables.pending_bytes() > SEND_EVERY_BYTES {
                hand_over(&mut tables, made)?;
            }
        }
        patients += story.finish(&mut tables);
        hand_over(&mut tables, made)?;
    }
    let organisations: Vec<Uuid> = federation.organisations.iter().map(|o| o.id).collect();
    let fund_balance_pence = ledger.write(&organisations, &mut tables);
    hand_over(&mut tables, made)?;
    Some(Patients {
        federation,
        tables,
        patients,
        fund_balance_pence,
    })
}

/// Each practice's referrals: practices differ in size (0.6 to 1.4 times the mean), and the
/// shares add up to the whole.
fn shares(plan: &Plan) -> Vec<u64> {
    let mut rng = rng::Rng::stream(plan.seed, &plan.slug, u64::MAX);
    let weights: Vec<f64> = (0..plan.practices)
        .map(|_| 0.6 + 0.8 * rng.unit())
        .collect();
    let total: f64 = weights.iter().sum();
    let mut shares: Vec<u64> = weights
        .iter()
        .map(|w| (plan.referrals as f64 * w / total) as u64)
        .collect();
    let short = plan.referrals - shares.iter().sum::<u64>();
    let practices = shares.len();
    for k in 0..short as usize {
        shares[k % practices] += 1;
    }
    shares
}

/// Progress on standard error while it is a terminal: referrals made, rows sent, the rate, and
/// the time left.
struct Progress {
    started: Instant,
    target: u64,
    terminal: bool,
}

impl Progress {
    fn new(target: u64) -> Self {
        Self {
            started: Instant::now(),
            target,
            terminal: std::io::stderr().is_terminal(),
        }
    }

    fn show(&self, made: u64, rows: u64) {
        if !self.terminal {
            return;
        }
        let elapsed = self.started.elapsed().as_secs_f64().max(0.001);
        let done = made as f64 / self.target as f64;
        let left = if done > 0.0 {
            elapsed / done - elapsed
        } else {
            0.0
        };
        eprint!(
            "\r{made:>10} of {} referrals ({:>3.0}%)  {rows:>11} rows  {:>8.0} rows/s  ETA {:>4.0} s ",
            self.target,
            done * 100.0,
            rows as f64 / elapsed,
            left
        );
        std::io::stderr().flush().ok();
    }

    fn finish(&self, made: u64, rows: u64) {
        self.show(made, rows);
        if self.terminal {
            eprintln!();
        }
    }

    /// The step after the rows are in, which shows no rate of its own.
    fn phase(&self, what: &str) {
        if self.terminal {
            eprintln!(
                "{what} ({:.0} s so far)",
                self.started.elapsed().as_secs_f64()
            );
        }
    }

    fn done(&self) {
        self.phase("done");
    }
}
