//! The demo ledger: commissioner funding in the fund, a tariff for every demo service's
//! `session_attended`, and the pending charge for the activity the demo pathway delivered.

use chrono::{Duration, Utc};
use uuid::Uuid;
use waymark_domain::ledger::tariff::NewTariff;
use waymark_domain::ledger::{AccountKind, Pence};
use waymark_domain::{FederationId, OrganisationId, PracticeId, ServiceId};
use waymark_persistence::directory::services;
use waymark_persistence::ledger::accounts;
use waymark_persistence::ledger::charges::{self, NewCharge};
use waymark_persistence::ledger::{funding, tariffs};
use waymark_persistence::pathway::onward::ActivityRecord;
use waymark_persistence::Tx;

/// Seeds the ledger unless it has tariffs already, charging `activity` when the demo pathway
/// has just delivered it; `admin` is the federation administrator recorded as having done it.
pub async fn seed(
    tx: &mut Tx,
    federation: FederationId,
    practice: PracticeId,
    activity: Option<&ActivityRecord>,
    admin: Uuid,
) -> anyhow::Result<()> {
    if !tariffs::list(tx, federation, None, None, None, 1)
        .await?
        .is_empty()
    {
        return Ok(());
    }
    let year_ago = Utc::now().date_naive() - Duration::days(365);
    for n in 1..=36 {
        let Some(service) =
            services::find_by_external_id(tx, federation, &format!("demo-svc-{n:02}")).await?
        else {
            continue;
        };
        let tariff = NewTariff::parse("session_attended", 1200 + 100 * (n % 5), year_ago, None)
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        tariffs::create(
            tx,
            federation,
            service.id,
            OrganisationId::from(service.organisation_id),
            &tariff,
            admin,
        )
        .await?;
    }
    accounts::account_id(tx, federation, AccountKind::PaidOut, None).await?;
    funding::top_up(
        tx,
        federation,
        Pence(2_000_000),
        "North Charnwood ICB social prescribing grant, first tranche",
        admin,
    )
    .await?;
    let Some(activity) = activity else {
        return Ok(());
    };
    let service = services::find(tx, federation, ServiceId::from(activity.service_id)).await?;
    let tariff = tariffs::in_force(
        tx,
        federation,
        service.id,
        &activity.activity_type,
        activity.delivered_on,
    )
    .await?
    .ok_or_else(|| anyhow::anyhow!("the demo activity has no tariff"))?;
    charges::create(
        tx,
        federation,
        &NewCharge {
            practice,
            activity: activity.id,
            organisation: activity.organisation_id,
            service: activity.service_id,
            tariff: tariff.id,
            activity_type: activity.activity_type.clone(),
            delivered_on: activity.delivered_on,
            quantity: u32::try_from(activity.quantity).unwrap_or(1),
            unit: Pence(tariff.unit_pence),
        },
    )
    .await?;
    Ok(())
}
