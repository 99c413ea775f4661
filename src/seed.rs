//! `waymark seed-demo`: the North Charnwood demo federation, its practices, a user for every role
//! and a service account. Idempotent: what exists (by slug, ODS code, e-mail, name) is kept.

use anyhow::Context;
use serde::Serialize;
use uuid::Uuid;
use waymark_domain::federation::NewFederation;
use waymark_domain::practice::NewPractice;
use waymark_domain::user::Email;
use waymark_domain::{FederationId, PracticeId, Role, ServiceAccountId, ServiceScope, UserId};
use waymark_http::auth::password::{hash_client_secret, hash_password};
use waymark_http::auth::TokenService;
use waymark_http::Settings;
use waymark_persistence::users::{UserRecord, UserToCreate};
use waymark_persistence::{
    commit, federations, practices, service_accounts, users, StoreError, TenantScope,
};

/// Every demo user signs in with this password.
pub const DEMO_PASSWORD: &str = "waymark-demo-password";
const DEMO_CLIENT_SECRET: &str = "waymark-demo-client-secret";
const FEDERATION_SLUG: &str = "north-charnwood";
const FEDERATION_NAME: &str = "North Charnwood Federation";
/// The provider user's organisation: Charnwood Community Walks in the demo directory.
const DEMO_PROVIDER_ORGANISATION: Uuid = Uuid::from_u128(0x019ab1c0_0000_7000_8000_00000000c0de);

/// Fictitious practices (ODS-shaped codes, not real ones).
const PRACTICES: [(&str, &str); 4] = [
    ("C82010", "Rosebery Medical Centre"),
    ("C82024", "Quorn Village Surgery"),
    ("C82037", "Barrow upon Soar Health Centre"),
    ("C82051", "Sileby Road Practice"),
];

#[derive(Serialize)]
pub struct Seeded {
    federation: SeededFederation,
    practices: Vec<SeededPractice>,
    /// How many services the demo directory holds.
    directory_services: usize,
    /// How many demo referrals were made at the first practice (0 when they existed already).
    referrals_seeded: usize,
    users: Vec<SeededUser>,
    password: &'static str,
    service_account: SeededServiceAccount,
    /// One ready-to-use access token per role (and one for the service account).
    tokens: std::collections::BTreeMap<String, String>,
}

#[derive(Serialize)]
struct SeededFederation {
    id: Uuid,
    slug: String,
    name: String,
}

#[derive(Serialize)]
struct SeededPractice {
    id: Uuid,
    ods_code: String,
    name: String,
}

#[derive(Serialize)]
struct SeededUser {
    id: Uuid,
    email: String,
    role: Role,
}

#[derive(Serialize)]
struct SeededServiceAccount {
    client_id: Uuid,
    client_secret: &'static str,
    scopes: Vec<ServiceScope>,
}

pub async fn seed_demo(settings: &Settings) -> anyhow::Result<Seeded> {
    let tokens = settings.token_service().map_err(anyhow::Error::msg)?;
    let db = waymark_persistence::connect(&settings.database_url, 2).await?;
    let pool = &db.pool;
    let password_hash =
        hash_password(DEMO_PASSWORD).map_err(|e| anyhow::anyhow!("hashing: {e}"))?;

    let mut tx = waymark_persistence::begin(pool, TenantScope::platform()).await?;
    let federation = match federations::find_by_slug(&mut tx, FEDERATION_SLUG).await {
        Ok(found) => found,
        Err(StoreError::NotFound) => {
            let new = NewFederation::parse(FEDERATION_SLUG, FEDERATION_NAME)
                .map_err(|e| anyhow::anyhow!("{e:?}"))?;
            federations::create(&mut tx, FederationId::new(), &new).await?
        }
        Err(e) => return Err(e.into()),
    };
    commit(tx).await?;
    let federation_id = FederationId::from(federation.id);

    let mut tx = waymark_persistence::begin(pool, TenantScope::federation(federation_id)).await?;
    let mut seeded_practices = Vec::new();
    for (ods_code, name) in PRACTICES {
        let practice = match practices::find_by_ods_code(&mut tx, federation_id, ods_code).await {
            Ok(found) => found,
            Err(StoreError::NotFound) => {
                let new =
                    NewPractice::parse(ods_code, name).map_err(|e| anyhow::anyhow!("{e:?}"))?;
                practices::create(&mut tx, federation_id, PracticeId::new(), &new).await?
            }
            Err(e) => return Err(e.into()),
        };
        seeded_practices.push(SeededPractice {
            id: practice.id,
            ods_code: practice.ods_code,
            name: practice.name,
        });
    }
    let services =
        crate::seed_directory::seed(&mut tx, federation_id, DEMO_PROVIDER_ORGANISATION).await?;
    commit(tx).await?;
    let rosebery = PracticeId::from(seeded_practices[0].id);

    let people: [(&str, &str, Role); 7] = [
        (
            "platform-admin@waymark.example",
            "Pat Platform",
            Role::PlatformAdmin,
        ),
        (
            "federation-admin@north-charnwood.example",
            "Fran Federation",
            Role::FederationAdmin,
        ),
        (
            "commissioner@north-charnwood.example",
            "Cass Commissioner",
            Role::Commissioner,
        ),
        (
            "practice-admin@rosebery.example",
            "Polly Practice-Admin",
            Role::PracticeAdmin,
        ),
        (
            "clinician@rosebery.example",
            "Dr Priya Shah",
            Role::Clinician,
        ),
        (
            "volunteer@rosebery.example",
            "Vic Volunteer",
            Role::Volunteer,
        ),
        (
            "provider@charnwood-walking.example",
            "Pip Provider",
            Role::Provider,
        ),
    ];
    let mut seeded_users = Vec::new();
    let mut issued = std::collections::BTreeMap::new();
    for (email, display_name, role) in people {
        let email = Email::parse(email).map_err(|e| anyhow::anyhow!("{e:?}"))?;
        let (federation, practice, organisation) = match role.level() {
            waymark_domain::role::RoleLevel::Platform => (None, None, None),
            waymark_domain::role::RoleLevel::Federation => (Some(federation_id), None, None),
            waymark_domain::role::RoleLevel::Practice => {
                (Some(federation_id), Some(rosebery), None)
            }
            waymark_domain::role::RoleLevel::Organisation => {
                (Some(federation_id), None, Some(DEMO_PROVIDER_ORGANISATION))
            }
        };
        let scope = federation.map_or(TenantScope::platform(), TenantScope::federation);
        let mut tx = waymark_persistence::begin(pool, scope).await?;
        let user: UserRecord = match users::find_by_email(&mut tx, federation, &email).await {
            Ok(found) => found,
            Err(StoreError::NotFound) => users::create(
                &mut tx,
                UserToCreate {
                    id: UserId::new(),
                    federation,
                    email: &email,
                    display_name,
                    roles: &[role],
                    practice_id: practice,
                    organisation_id: organisation,
                    password_hash: &password_hash,
                },
            )
            .await
            .with_context(|| format!("creating {email}"))?,
            Err(e) => return Err(e.into()),
        };
        commit(tx).await?;
        issued.insert(role.as_str().to_owned(), token_for_user(&tokens, &user)?);
        seeded_users.push(SeededUser {
            id: user.id,
            email: user.email,
            role,
        });
    }

    let user_id = |role: Role| {
        seeded_users
            .iter()
            .find(|u| u.role == role)
            .map(|u| u.id)
            .expect("every role is seeded")
    };
    let staff = crate::seed_pathway::Staff {
        clinician: user_id(Role::Clinician),
        volunteer: user_id(Role::Volunteer),
        provider: user_id(Role::Provider),
    };
    let mut tx =
        waymark_persistence::begin(pool, TenantScope::practice(federation_id, rosebery)).await?;
    let pathway = crate::seed_pathway::seed(&mut tx, federation_id, rosebery, &staff).await?;
    commit(tx).await?;
    {
        let admin = seeded_users
            .iter()
            .find(|u| u.role == Role::FederationAdmin)
            .map(|u| u.id)
            .expect("the federation administrator is seeded");
        let administration = waymark_domain::Principal {
            kind: waymark_domain::PrincipalKind::User,
            subject: admin,
            federation_id: Some(federation_id),
            practice_id: None,
            organisation_id: None,
            roles: vec![Role::FederationAdmin],
            scopes: vec![],
        };
        let mut tx = waymark_persistence::begin(pool, TenantScope::of(&administration)).await?;
        crate::seed_ledger::seed(
            &mut tx,
            federation_id,
            rosebery,
            pathway.activity.as_ref(),
            admin,
        )
        .await?;
        commit(tx).await?;
    }

    let scopes = ServiceScope::ALL.to_vec();
    let mut tx = waymark_persistence::begin(pool, TenantScope::federation(federation_id)).await?;
    let existing = service_accounts::list(&mut tx, federation_id, None, 1000).await?;
    let account = match existing.into_iter().find(|a| a.name == "demo-integration") {
        Some(found) => found,
        None => {
            service_accounts::create(
                &mut tx,
                federation_id,
                ServiceAccountId::new(),
                "demo-integration",
                &scopes,
                &hash_client_secret(DEMO_CLIENT_SECRET),
            )
            .await?
        }
    };
    commit(tx).await?;
    let service_principal = account.principal(account.scopes.clone());
    issued.insert(
        "service_account".to_owned(),
        tokens.issue(&service_principal)?.access_token,
    );

    Ok(Seeded {
        federation: SeededFederation {
            id: federation.id,
            slug: federation.slug,
            name: federation.name,
        },
        practices: seeded_practices,
        directory_services: services,
        referrals_seeded: pathway.referrals,
        users: seeded_users,
        password: DEMO_PASSWORD,
        service_account: SeededServiceAccount {
            client_id: account.id,
            client_secret: DEMO_CLIENT_SECRET,
            scopes: account.scopes,
        },
        tokens: issued,
    })
}

fn token_for_user(tokens: &TokenService, user: &UserRecord) -> anyhow::Result<String> {
    Ok(tokens.issue(&user.principal())?.access_token)
}
