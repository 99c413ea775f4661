//! Building a federation's statistics afresh from its pathway, ledger and clinics, for a bulk
//! load that deferred them (`waymark seed-synthetic`): one set-wise pass instead of a trigger per
//! row. Runs in the load's own transaction, as the schema owner.

use crate::bulk::{self, CopyRows, Row};
use crate::error::StoreError;
use futures_util::TryStreamExt;
use sqlx::PgConnection;
use waymark_domain::stats::rollup::{CellKey, Contribution, Rollups};
use waymark_domain::stats::{PairSums, ReferralMeasures};
use waymark_domain::FederationId;

/// Tells the statistics triggers to leave this transaction's rows to [`rebuild`]. Only a role
/// that row-level security does not restrict is listened to (`waymark_stats_deferred()`).
pub async fn defer(conn: &mut PgConnection) -> Result<(), StoreError> {
    // A SET LOCAL statement, which Citus passes on to the workers the triggers run on (a
    // set_config() call it does not).
    sqlx::query("SET LOCAL waymark.stats_deferred = 'on'")
        .execute(conn)
        .await?;
    Ok(())
}

/// Rebuilds `federation`'s facts and rollups from its rows: the facts, and the spend and
/// clinic rollups, in the database; the referral rollups summed here from the facts'
/// contributions and copied in, in their key's order (see `waymark_domain::stats::rollup`).
/// The caller must be allowed to COPY into the statistics tables (the bulk loader bypasses
/// row-level security).
pub async fn rebuild(conn: &mut PgConnection, federation: FederationId) -> Result<(), StoreError> {
    // The facts are built from a few large joins: room to hash them in memory.
    sqlx::query("SET LOCAL work_mem = '512MB'")
        .execute(&mut *conn)
        .await?;
    // Each fact is made from the referral it refers to, in the same statement, so a superuser
    // (whom `session_replication_role` needs) spares the key's check of every row.
    let unchecked = bulk::may_check_keys_afterwards(conn).await?;
    if unchecked {
        sqlx::query("SET LOCAL session_replication_role = replica")
            .execute(&mut *conn)
            .await?;
    }
    sqlx::query!(
        "SELECT waymark_stats_rebuild_facts($1)",
        federation.as_uuid()
    )
    .execute(&mut *conn)
    .await?;
    if unchecked {
        sqlx::query("SET LOCAL session_replication_role = origin")
            .execute(&mut *conn)
            .await?;
    }
    let rollups = sum_contributions(conn, federation).await?;
    copy_cells(
        conn,
        federation,
        "stats_referral_rollups",
        &MEASURE_COLUMNS,
        rollups.referral_cells(),
        measure_fields,
    )
    .await?;
    copy_cells(
        conn,
        federation,
        "stats_contact_day_rollups",
        &["contact_days", "contacts"],
        rollups
            .contact_day_cells()
            .into_iter()
            .map(|(cell, days, contacts)| (cell, (days, contacts))),
        |row, (days, contacts)| row.int(days.into()).int(contacts),
    )
    .await?;
    drop(rollups);
    sqlx::query!(
        "SELECT waymark_stats_rebuild_spend_and_clinic_rollups($1)",
        federation.as_uuid()
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query("SET LOCAL work_mem TO DEFAULT")
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Each fact's contribution, as the database defines it, summed into its cells.
async fn sum_contributions(
    conn: &mut PgConnection,
    federation: FederationId,
) -> Result<Rollups, StoreError> {
    let mut rollups = Rollups::new();
    let mut rows = sqlx::query!(
        r#"SELECT c.practice_id AS "practice_id!", c.referred_on AS "referred_on!",
                  c.need_categories AS "need_categories!", c.age_band AS "age_band!",
                  c.sex AS "sex!", c.contact_days,
                  c.referrals AS "referrals!", c.booked AS "booked!", c.seen AS "seen!",
                  c.onward_referred AS "onward_referred!", c.engaged AS "engaged!",
                  c.closed AS "closed!", c.declined AS "declined!",
                  c.did_not_attend AS "did_not_attend!", c.withdrawn AS "withdrawn!",
                  c.contacts AS "contacts!", c.contact_days_total AS "contact_days_total!",
                  c.swemwbs_pairs AS "swemwbs_pairs!", c.swemwbs_change AS "swemwbs_change!",
                  c.swemwbs_improved AS "swemwbs_improved!",
                  c.life_satisfaction_pairs AS "life_satisfaction_pairs!",
                  c.life_satisfaction_change AS "life_satisfaction_change!",
                  c.life_satisfaction_improved AS "life_satisfaction_improved!",
                  c.worthwhile_pairs AS "worthwhile_pairs!",
                  c.worthwhile_change AS "worthwhile_change!",
                  c.worthwhile_improved AS "worthwhile_improved!",
                  c.happiness_pairs AS "happiness_pairs!",
                  c.happiness_change AS "happiness_change!",
                  c.happiness_improved AS "happiness_improved!",
                  c.anxiety_pairs AS "anxiety_pairs!", c.anxiety_change AS "anxiety_change!",
                  c.anxiety_improved AS "anxiety_improved!", c.gp_pairs AS "gp_pairs!",
                  c.gp_before AS "gp_before!", c.gp_after AS "gp_after!"
           FROM stats_referrals f,
                LATERAL waymark_stats_contribution(ROW(f.*)::stats_fact, 1, f.referral_id) c
           WHERE f.federation_id = $1"#,
        federation.as_uuid()
    )
    .fetch(&mut *conn);
    while let Some(r) = rows.try_next().await? {
        rollups.add(&Contribution {
            practice_id: r.practice_id,
            referred_on: r.referred_on,
            need_categories: r.need_categories,
            age_band: r.age_band,
            sex: r.sex,
            contact_days: r.contact_days,
            measures: ReferralMeasures {
                referrals: r.referrals.into(),
                booked: r.booked.into(),
                seen: r.seen.into(),
                onward_referred: r.onward_referred.into(),
                engaged: r.engaged.into(),
                closed: r.closed.into(),
                declined: r.declined.into(),
                did_not_attend: r.did_not_attend.into(),
                withdrawn: r.withdrawn.into(),
                contacts: r.contacts.into(),
                contact_days_total: r.contact_days_total,
                swemwbs: PairSums {
                    pairs: r.swemwbs_pairs.into(),
                    change: r.swemwbs_change,
                    improved: r.swemwbs_improved.into(),
                },
                life_satisfaction: PairSums {
                    pairs: r.life_satisfaction_pairs.into(),
                    change: r.life_satisfaction_change,
                    improved: r.life_satisfaction_improved.into(),
                },
                worthwhile: PairSums {
                    pairs: r.worthwhile_pairs.into(),
                    change: r.worthwhile_change,
                    improved: r.worthwhile_improved.into(),
                },
                happiness: PairSums {
                    pairs: r.happiness_pairs.into(),
                    change: r.happiness_change,
                    improved: r.happiness_improved.into(),
                },
                anxiety: PairSums {
                    pairs: r.anxiety_pairs.into(),
                    change: r.anxiety_change,
                    improved: r.anxiety_improved.into(),
                },
                gp_pairs: r.gp_pairs.into(),
                gp_before: r.gp_before,
                gp_after: r.gp_after,
            },
        });
    }
    Ok(rollups)
}

/// A COPY's rows are sent a few megabytes at a time.
const SEND_EVERY_BYTES: usize = 8 << 20;

const KEY_COLUMNS: [&str; 7] = [
    "federation_id",
    "bucket_kind",
    "need_category",
    "age_band",
    "sex",
    "practice_id",
    "bucket_start",
];

const MEASURE_COLUMNS: [&str; 29] = [
    "referrals",
    "booked",
    "seen",
    "onward_referred",
    "engaged",
    "closed",
    "declined",
    "did_not_attend",
    "withdrawn",
    "contacts",
    "contact_days_total",
    "swemwbs_pairs",
    "swemwbs_change",
    "swemwbs_improved",
    "life_satisfaction_pairs",
    "life_satisfaction_change",
    "life_satisfaction_improved",
    "worthwhile_pairs",
    "worthwhile_change",
    "worthwhile_improved",
    "happiness_pairs",
    "happiness_change",
    "happiness_improved",
    "anxiety_pairs",
    "anxiety_change",
    "anxiety_improved",
    "gp_pairs",
    "gp_before",
    "gp_after",
];

/// A cell's key, in [`KEY_COLUMNS`]' order.
fn key_fields<'a>(row: Row<'a>, federation: FederationId, cell: &CellKey<'_>) -> Row<'a> {
    row.uuid(federation.as_uuid())
        .text(cell.bucket_kind.code())
        .text(cell.need_category)
        .text(cell.age_band)
        .text(cell.sex)
        .uuid(cell.practice_id)
        .date(cell.bucket_start)
}

/// A cell's measures, in [`MEASURE_COLUMNS`]' order.
fn measure_fields<'a>(mut row: Row<'a>, m: &ReferralMeasures) -> Row<'a> {
    for value in [
        m.referrals,
        m.booked,
        m.seen,
        m.onward_referred,
        m.engaged,
        m.closed,
        m.declined,
        m.did_not_attend,
        m.withdrawn,
        m.contacts,
        m.contact_days_total,
        m.swemwbs.pairs,
        m.swemwbs.change,
        m.swemwbs.improved,
        m.life_satisfaction.pairs,
        m.life_satisfaction.change,
        m.life_satisfaction.improved,
        m.worthwhile.pairs,
        m.worthwhile.change,
        m.worthwhile.improved,
        m.happiness.pairs,
        m.happiness.change,
        m.happiness.improved,
        m.anxiety.pairs,
        m.anxiety.change,
        m.anxiety.improved,
        m.gp_pairs,
        m.gp_before,
        m.gp_after,
    ] {
        row = row.int(value);
    }
    row
}

/// Copies `cells` into `table`, each row the cell's key ([`KEY_COLUMNS`]) followed by what
/// `write` writes for `columns`.
async fn copy_cells<T>(
    conn: &mut PgConnection,
    federation: FederationId,
    table: &str,
    columns: &[&str],
    cells: impl IntoIterator<Item = (CellKey<'_>, T)>,
    write: impl for<'r> Fn(Row<'r>, T) -> Row<'r>,
) -> Result<(), StoreError> {
    let columns: Vec<&str> = KEY_COLUMNS.iter().chain(columns).copied().collect();
    let mut rows = CopyRows::new(conn, table, &columns).await?;
    for (cell, value) in cells {
        drop(write(key_fields(rows.row(), federation, &cell), value));
        if rows.pending_bytes() > SEND_EVERY_BYTES {
            rows.send(conn).await?;
        }
    }
    rows.send(conn).await?;
    Ok(())
}

/// The tables a rebuild writes, for ANALYZE after a load.
pub const TABLES: [&str; 6] = [
    "stats_referrals",
    "stats_referral_rollups",
    "stats_contact_day_rollups",
    "stats_spend_rollups",
    "stats_clinic_rollups",
    "stats_referral_deltas",
];
