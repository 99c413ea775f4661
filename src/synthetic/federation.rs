//! The federation's own rows: the federation, its practices and staff, the directory of provider
//! organisations and services with their tariffs, and its ledger settings.

use super::rng::Rng;
use super::tables::Tables;
use super::Plan;
use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;
use waymark_domain::directory::NeedCategory;

pub struct Federation {
    pub id: Uuid,
    pub admin: Uuid,
    pub practices: Vec<Practice>,
    pub organisations: Vec<Organisation>,
    pub services: Vec<Service>,
}

pub struct Practice {
    pub index: usize,
    pub id: Uuid,
    pub name: String,
    pub admin: Uuid,
    pub clinicians: [Uuid; 2],
    /// The users of the practice's volunteers, who book clinics and record assessments.
    pub volunteer_users: [Uuid; 3],
}

pub struct Organisation {
    pub id: Uuid,
    /// The provider user who answers referrals and records activities.
    pub provider: Uuid,
}

pub struct Service {
    pub id: Uuid,
    pub organisation: usize,
    pub needs: Vec<NeedCategory>,
    pub accepting_referrals: bool,
    pub tariffs: Vec<Tariff>,
}

pub struct Tariff {
    pub id: Uuid,
    pub activity_type: &'static str,
    pub unit_pence: i64,
}

const PRACTICE_NAMES: [&str; 8] = [
    "Riverside",
    "Market Street",
    "Castle View",
    "Woodgate",
    "Parkside",
    "Hillcrest",
    "Forest Road",
    "Canal Side",
];

const SERVICE_KINDS: [(&str, &str, NeedCategory); 12] = [
    (
        "Friendship circle",
        "Weekly group for people who feel alone, with tea and a chat.",
        NeedCategory::LonelinessIsolation,
    ),
    (
        "Wellbeing cafe",
        "Drop-in peer support for low mood and anxiety.",
        NeedCategory::MentalWellbeing,
    ),
    (
        "Health walks",
        "Guided walks of one to three miles for all abilities.",
        NeedCategory::PhysicalActivity,
    ),
    (
        "Money advice",
        "Help with debts, benefits and budgeting.",
        NeedCategory::DebtBenefits,
    ),
    (
        "Housing support",
        "Advice on tenancies, repairs and homelessness.",
        NeedCategory::Housing,
    ),
    (
        "Work clubs",
        "Help with CVs, applications and confidence.",
        NeedCategory::EmploymentSkills,
    ),
    (
        "Carers' hub",
        "Breaks, advice and company for unpaid carers.",
        NeedCategory::CarersSupport,
    ),
    (
        "Bereavement support",
        "Groups and one-to-one support after a loss.",
        NeedCategory::Bereavement,
    ),
    (
        "Community kitchen",
        "Cooking together on a budget.",
        NeedCategory::Food,
    ),
    (
        "Weight and wellbeing",
        "Friendly help to eat well and move more.",
        NeedCategory::HealthyLifestyle,
    ),
    (
        "Arts on prescription",
        "Art and craft sessions for wellbeing.",
        NeedCategory::ArtsCreativity,
    ),
    (
        "Volunteer matching",
        "Find a volunteering role that suits you.",
        NeedCategory::Volunteering,
    ),
];

const TOWNS: [(&str, &str, f64, f64); 4] = [
    ("Loughborough", "LE11 1AA", 52.7721, -1.2062),
    ("Shepshed", "LE12 9AB", 52.7706, -1.2935),
    ("Quorn", "LE12 8BD", 52.7459, -1.1719),
    ("Barrow upon Soar", "LE12 8LQ", 52.7540, -1.1487),
];

/// Writes the federation's own rows and answers what its practices' stories draw on.
pub fn generate(plan: &Plan, tables: &mut Tables) -> Federation {
    let mut rng = Rng::stream(plan.seed, &plan.slug, 0);
    let set_up = plan.start - Duration::days(60);
    let id = rng.id_at(set_up);
    tables
        .federations
        .row()
        .uuid(id)
        .text(&plan.slug)
        .text(&format!("Synthetic federation {}", plan.slug))
        .time(set_up)
        .time(set_up);
    tables.ledger_settings.row().uuid(id).time(set_up);

    let user = |tables: &mut Tables,
                rng: &mut Rng,
                at: DateTime<Utc>,
                role: &str,
                practice: Option<Uuid>,
                organisation: Option<Uuid>,
                email: String,
                name: String| {
        let user = rng.id_at(at);
        tables
            .users
            .row()
            .uuid(id)
            .uuid(user)
            .opt_uuid(practice)
            .opt_uuid(organisation)
            .text(&email)
            .text(&name)
            .texts(&[role])
            .time(at)
            .time(at);
        user
    };
    let domain = format!("{}.example.org", plan.slug);
    let admin = user(
        tables,
        &mut rng,
        set_up,
        "federation_admin",
        None,
        None,
        format!("admin@{domain}"),
        "Federation administrator".into(),
    );
    user(
        tables,
        &mut rng,
        set_up,
        "commissioner",
        None,
        None,
        format!("commissioner@{domain}"),
        "ICB commissioner".into(),
    );

    let mut practices = Vec::with_capacity(plan.practices);
    for index in 0..plan.practices {
        let practice_id = rng.id_at(set_up);
        let name = format!(
            "{} Surgery {}",
            PRACTICE_NAMES[index % PRACTICE_NAMES.len()],
            index + 1
        );
        tables
            .practices
            .row()
            .uuid(id)
            .uuid(practice_id)
            .text(&format!("Y{:05}", 10_000 + index))
            .text(&name)
            .time(set_up)
            .time(set_up);
        let n = index + 1;
        let mut staff = |role: &str, who: &str, k: usize| {
            user(
                tables,
                &mut rng,
                set_up,
                role,
                Some(practice_id),
                None,
                format!("{who}{k}.p{n}@{domain}"),
                format!("{} {k} of practice {n}", capitalised(who)),
            )
        };
        let admin = staff("practice_admin", "manager", 1);
        let clinicians = [staff("clinician", "gp", 1), staff("clinician", "gp", 2)];
        let volunteer_users = [
            staff("volunteer", "volunteer", 1),
            staff("volunteer", "volunteer", 2),
            staff("volunteer", "volunteer", 3),
        ];
        practices.push(Practice {
            index,
            id: practice_id,
            name,
            admin,
            clinicians,
            volunteer_users,
        });
    }

    // About two provider organisations per practice, each with one to three services.
    let organisation_count = (plan.practices * 2).clamp(6, 300);
    let mut organisations = Vec::with_capacity(organisation_count);
    let mut services = Vec::new();
    for index in 0..organisation_count {
        let organisation = rng.id_at(set_up);
        let (town, postcode, latitude, longitude) = *rng.pick(&TOWNS);
        let name = format!("{town} Community Trust {}", index + 1);
        tables
            .organisations
            .row()
            .uuid(id)
            .uuid(organisation)
            .text(&name)
            .text(&format!("{}", 1_100_000 + index))
            .text(&format!("hello@org{}.{domain}", index + 1))
            .text(&format!("0116 496 {:04}", index % 10_000))
            .text("Volunteer coordinator")
            .text(&format!("PAY-{:05}", index + 1))
            .time(set_up)
            .time(set_up);
        let provider = user(
            tables,
            &mut rng,
            set_up,
            "provider",
            None,
            Some(organisation),
            format!("referrals@org{}.{domain}", index + 1),
            format!("Referrals team, {name}"),
        );
        organisations.push(Organisation {
            id: organisation,
            provider,
        });
        for _ in 0..rng.between(1, 3) {
            let (kind, description, need) = *rng.pick(&SERVICE_KINDS);
            let mut needs = vec![need];
            let other = *rng.pick(&NeedCategory::ALL);
            if other != need && rng.chance(0.3) {
                needs.push(other);
            }
            let service = rng.id_at(set_up);
            let accepting_referrals = rng.chance(0.9);
            let codes: Vec<&str> = needs.iter().map(|n| n.code()).collect();
            let modes: &[&str] = if rng.chance(0.3) {
                &["in_person", "online"]
            } else {
                &["in_person"]
            };
            tables
                .services
                .row()
                .uuid(id)
                .uuid(service)
                .uuid(organisation)
                .text(&format!("{kind} ({town})"))
                .text(description)
                .texts(&codes)
                .texts(modes)
                .text(&format!("Community Centre, {town}"))
                .text(postcode)
                .float(to_four_places(latitude, rng.between(-200, 200)))
                .float(to_four_places(longitude, rng.between(-200, 200)))
                .bool(accepting_referrals)
                .text("free")
                .text(&format!("hello@org{}.{domain}", index + 1))
                .time(set_up)
                .time(set_up);
            let mut tariffs = vec![("session_attended", rng.between(10, 30) * 100)];
            if rng.chance(0.4) {
                tariffs.push(("one_to_one", rng.between(25, 45) * 100));
            }
            let tariffs = tariffs
                .into_iter()
                .map(|(activity_type, unit_pence)| {
                    let tariff = rng.id_at(set_up);
                    tables
                        .tariffs
                        .row()
                        .uuid(id)
                        .uuid(tariff)
                        .uuid(service)
                        .uuid(organisation)
                        .text(activity_type)
                        .int(unit_pence)
                        .date(set_up.date_naive())
                        .uuid(admin)
                        .time(set_up);
                    Tariff {
                        id: tariff,
                        activity_type,
                        unit_pence,
                    }
                })
                .collect();
            services.push(Service {
                id: service,
                organisation: index,
                needs,
                accepting_referrals,
                tariffs,
            });
        }
    }
    Federation {
        id,
        admin,
        practices,
        organisations,
        services,
    }
}

fn capitalised(word: &str) -> String {
    let mut chars = word.chars();
    chars
        .next()
        .map(|first| first.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

/// A coordinate moved by `offset` ten-thousandths of a degree, to four decimal places (about
/// 10 m), as a directory entry gives it.
fn to_four_places(degrees: f64, offset: i64) -> f64 {
    ((degrees * 10_000.0).round() + offset as f64) / 10_000.0
}
