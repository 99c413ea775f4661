//! `waymark token`: mint an access token for local use, resolving the federation and practice by
//! slug or ODS code (or id) in the database.

use anyhow::{bail, Context};
use clap::Args;
use uuid::Uuid;
use waymark_domain::role::RoleLevel;
use waymark_domain::{FederationId, OrganisationId, PracticeId, Principal, PrincipalKind, Role};
use waymark_http::Settings;
use waymark_persistence::{federations, practices, TenantScope};

#[derive(Args)]
pub struct TokenArgs {
    /// The role the token carries, e.g. clinician.
    #[arg(long)]
    role: Role,
    /// The federation's slug or id (not for platform_admin).
    #[arg(long)]
    federation: Option<String>,
    /// The practice's ODS code or id (practice roles).
    #[arg(long)]
    practice: Option<String>,
    /// The provider organisation's id (provider role).
    #[arg(long)]
    organisation: Option<Uuid>,
    /// The subject (user id) to put in the token; a new id when absent.
    #[arg(long)]
    subject: Option<Uuid>,
}

pub async fn mint(settings: &Settings, args: TokenArgs) -> anyhow::Result<String> {
    let tokens = settings.token_service().map_err(anyhow::Error::msg)?;
    let level = args.role.level();
    match level {
        RoleLevel::Platform if args.federation.is_some() => {
            bail!("platform_admin belongs to no federation; drop --federation")
        }
        RoleLevel::Practice if args.practice.is_none() => bail!("{} needs --practice", args.role),
        RoleLevel::Organisation if args.organisation.is_none() => {
            bail!("provider needs --organisation")
        }
        RoleLevel::Federation | RoleLevel::Practice | RoleLevel::Organisation
            if args.federation.is_none() =>
        {
            bail!("{} needs --federation", args.role)
        }
        _ => {}
    }
    if level != RoleLevel::Practice && args.practice.is_some() {
        bail!("only practice roles take --practice");
    }
    if level != RoleLevel::Organisation && args.organisation.is_some() {
        bail!("only the provider role takes --organisation");
    }
    let (federation_id, practice_id) = match &args.federation {
        None => (None, None),
        Some(federation) => {
            let db = waymark_persistence::connect(&settings.database_url, 1).await?;
            let mut tx = waymark_persistence::begin(&db.pool, TenantScope::platform()).await?;
            let record = match federation.parse::<Uuid>() {
                Ok(id) => federations::find(&mut tx, FederationId::from(id)).await,
                Err(_) => federations::find_by_slug(&mut tx, federation).await,
            }
            .with_context(|| format!("federation {federation:?}"))?;
            waymark_persistence::commit(tx).await?;
            let federation_id = FederationId::from(record.id);
            let practice_id = match &args.practice {
                None => None,
                Some(practice) => {
                    let mut tx = waymark_persistence::begin(
                        &db.pool,
                        TenantScope::federation(federation_id),
                    )
                    .await?;
                    let record = match practice.parse::<Uuid>() {
                        Ok(id) => {
                            practices::find(&mut tx, federation_id, PracticeId::from(id)).await
                        }
                        Err(_) => {
                            practices::find_by_ods_code(
                                &mut tx,
                                federation_id,
                                &practice.to_ascii_uppercase(),
                            )
                            .await
                        }
                    }
                    .with_context(|| format!("practice {practice:?} in {federation}"))?;
                    waymark_persistence::commit(tx).await?;
                    Some(PracticeId::from(record.id))
                }
            };
            (Some(federation_id), practice_id)
        }
    };
    let principal = Principal {
        kind: PrincipalKind::User,
        subject: args.subject.unwrap_or_else(Uuid::now_v7),
        federation_id,
        practice_id,
        organisation_id: args.organisation.map(OrganisationId::from),
        roles: vec![args.role],
        scopes: vec![],
    };
    Ok(tokens.issue(&principal)?.access_token)
}
