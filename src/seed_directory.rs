//! The North Charnwood demo directory: fictitious organisations and services across the need
//! categories, around Loughborough, Quorn, Barrow upon Soar, Sileby, Mountsorrel and Shepshed.
//! Upserted by external id, so seeding twice changes nothing.

use anyhow::Context;
use uuid::Uuid;
use waymark_domain::directory::organisation::{OrganisationDetails, OrganisationInput};
use waymark_domain::directory::service::{ServiceDetails, ServiceInput};
use waymark_domain::directory::{DeliveryMode, NeedCategory};
use waymark_domain::{FederationId, OrganisationId, ServiceId};
use waymark_persistence::directory::{organisations, services};
use waymark_persistence::Tx;

use DeliveryMode::{InPerson, Online, Phone};
use NeedCategory::*;

struct DemoOrganisation {
    key: &'static str,
    name: &'static str,
    charity_number: &'static str,
    website: &'static str,
    phone: &'static str,
}

const ORGANISATIONS: [DemoOrganisation; 10] = [
    DemoOrganisation {
        key: "walks",
        name: "Charnwood Community Walks",
        charity_number: "1180001",
        website: "https://walks.charnwood.example",
        phone: "01509 100001",
    },
    DemoOrganisation {
        key: "befriending",
        name: "Loughborough Befriending Network",
        charity_number: "1180002",
        website: "https://befriending.charnwood.example",
        phone: "01509 100002",
    },
    DemoOrganisation {
        key: "money",
        name: "Soar Valley Money Advice",
        charity_number: "1180003",
        website: "https://money.charnwood.example",
        phone: "01509 100003",
    },
    DemoOrganisation {
        key: "carers",
        name: "Charnwood Carers Centre",
        charity_number: "1180004",
        website: "https://carers.charnwood.example",
        phone: "01509 100004",
    },
    DemoOrganisation {
        key: "kitchen",
        name: "Rosebery Community Kitchen",
        charity_number: "1180005",
        website: "https://kitchen.charnwood.example",
        phone: "01509 100005",
    },
    DemoOrganisation {
        key: "wellbeing",
        name: "Open Door Wellbeing",
        charity_number: "1180006",
        website: "https://opendoor.charnwood.example",
        phone: "01509 100006",
    },
    DemoOrganisation {
        key: "arts",
        name: "Quorn Arts Collective",
        charity_number: "1180007",
        website: "https://arts.charnwood.example",
        phone: "01509 100007",
    },
    DemoOrganisation {
        key: "housing",
        name: "Charnwood Housing Advice",
        charity_number: "1180008",
        website: "https://housing.charnwood.example",
        phone: "01509 100008",
    },
    DemoOrganisation {
        key: "skills",
        name: "Loughborough Skills Hub",
        charity_number: "1180009",
        website: "https://skills.charnwood.example",
        phone: "01509 100009",
    },
    DemoOrganisation {
        key: "bereavement",
        name: "Charnwood Bereavement Support",
        charity_number: "1180010",
        website: "https://bereavement.charnwood.example",
        phone: "01509 100010",
    },
];

/// (organisation key, name, description, needs, delivery, postcode, latitude, longitude, cost, accepting)
type DemoService = (
    &'static str,
    &'static str,
    &'static str,
    &'static [NeedCategory],
    &'static [DeliveryMode],
    &'static str,
    f64,
    f64,
    &'static str,
    bool,
);

const SERVICES: [DemoService; 36] = [
    ("walks", "Health walks in Queens Park", "Friendly, gentle group walks of about an hour, led by trained walk leaders. Tea afterwards in the park cafe.", &[PhysicalActivity, LonelinessIsolation], &[InPerson], "LE11 2TQ", 52.7696, -1.2052, "Free", true),
    ("walks", "Nordic walking for beginners", "Six-week course learning Nordic walking with poles provided, on the Outwoods trails.", &[PhysicalActivity, HealthyLifestyle], &[InPerson], "LE11 3QY", 52.7532, -1.2351, "£2 a session", true),
    ("walks", "Mountsorrel riverside strolls", "Short, flat walks along the River Soar for people building up their fitness after illness.", &[PhysicalActivity], &[InPerson], "LE12 7BB", 52.7236, -1.1403, "Free", true),
    ("walks", "Shepshed chair exercise", "Seated exercise to music for people with limited mobility, followed by a social cuppa.", &[PhysicalActivity, LonelinessIsolation], &[InPerson], "LE12 9AB", 52.7712, -1.2941, "£1 a session", false),
    ("befriending", "Telephone befriending", "A weekly friendly phone call from a trained volunteer for people who feel lonely or cut off.", &[LonelinessIsolation], &[Phone], "LE11 1AA", 52.7721, -1.2062, "Free", true),
    ("befriending", "Home visiting befriending", "A volunteer visits at home every week for a chat, a walk or help getting out to local groups.", &[LonelinessIsolation, Volunteering], &[InPerson], "LE11 1AB", 52.7731, -1.2071, "Free", true),
    ("befriending", "Lunch club at the Methodist hall", "A hot two-course lunch and company every Tuesday and Thursday, with transport for those who need it.", &[LonelinessIsolation, Food], &[InPerson], "LE12 8AA", 52.7552, -1.1519, "£4.50 a meal", true),
    ("befriending", "Men's shed", "Woodwork, repairs and conversation in a friendly workshop for men (and anyone else) who like to make and mend.", &[LonelinessIsolation, ArtsCreativity], &[InPerson], "LE12 7AA", 52.7301, -1.1098, "Free", true),
    ("money", "Debt advice appointments", "Confidential, free advice on debts, priority bills, and dealing with creditors and bailiffs.", &[DebtBenefits], &[InPerson, Phone], "LE11 3AA", 52.7710, -1.2030, "Free", true),
    ("money", "Benefits check and form filling", "Find out which benefits you may be entitled to and get help completing PIP and Universal Credit forms.", &[DebtBenefits], &[InPerson, Phone, Online], "LE11 3AB", 52.7715, -1.2035, "Free", true),
    ("money", "Warm home grants advice", "Help to apply for energy grants, cheaper tariffs and emergency fuel vouchers.", &[DebtBenefits, Housing], &[Phone], "LE11 3AC", 52.7718, -1.2040, "Free", true),
    ("money", "Budgeting course", "Four friendly sessions on budgeting, saving and avoiding loan sharks.", &[DebtBenefits, EmploymentSkills], &[InPerson, Online], "LE12 7AB", 52.7305, -1.1102, "Free", true),
    ("carers", "Carers' drop-in", "A relaxed drop-in for unpaid carers to meet others, get information and take a breather.", &[CarersSupport, LonelinessIsolation], &[InPerson], "LE11 5AA", 52.7690, -1.2150, "Free", true),
    ("carers", "Carers' assessment support", "Help to request and prepare for a carer's assessment and find respite options.", &[CarersSupport], &[Phone, InPerson], "LE11 5AB", 52.7695, -1.2155, "Free", true),
    ("carers", "Young carers' club", "After-school activities and trips for young carers aged 8 to 17.", &[CarersSupport], &[InPerson], "LE11 5AD", 52.7700, -1.2160, "Free", false),
    ("carers", "Dementia carers' online group", "A fortnightly video group for people caring for someone living with dementia.", &[CarersSupport, MentalWellbeing], &[Online], "LE11 5AE", 52.7705, -1.2165, "Free", true),
    ("kitchen", "Community larder", "Low-cost groceries for local residents: a weekly shop for a small membership fee.", &[Food, DebtBenefits], &[InPerson], "LE11 4AA", 52.7760, -1.1980, "£3.50 a week", true),
    ("kitchen", "Cook and eat on a budget", "Learn to cook simple, healthy meals for less, then share what you made.", &[Food, HealthyLifestyle], &[InPerson], "LE11 4AB", 52.7765, -1.1985, "Free", true),
    ("kitchen", "Emergency food parcels", "Food parcels for people in crisis, with a referral from a professional.", &[Food], &[InPerson], "LE11 4AD", 52.7770, -1.1990, "Free", true),
    ("wellbeing", "Anxiety peer support group", "A weekly peer support group for people living with anxiety, run by people with lived experience.", &[MentalWellbeing], &[InPerson, Online], "LE11 2AA", 52.7680, -1.2010, "Free", true),
    ("wellbeing", "Talking space", "One-to-one listening sessions with trained volunteers for people feeling low or stressed.", &[MentalWellbeing, LonelinessIsolation], &[InPerson, Phone], "LE11 2AB", 52.7685, -1.2015, "Free", true),
    ("wellbeing", "Mindfulness for wellbeing", "An eight-week mindfulness course to help manage stress and low mood.", &[MentalWellbeing, HealthyLifestyle], &[Online], "LE11 2AD", 52.7688, -1.2018, "£5 a session", true),
    ("wellbeing", "Green gardening group", "Therapeutic gardening at the community allotment: grow food, get outdoors and meet people.", &[MentalWellbeing, PhysicalActivity, LonelinessIsolation], &[InPerson], "LE12 8AB", 52.7558, -1.1525, "Free", true),
    ("arts", "Arts on prescription", "A ten-week creative course in painting, printmaking and collage to support wellbeing.", &[ArtsCreativity, MentalWellbeing], &[InPerson], "LE12 8BA", 52.7452, -1.1712, "Free", true),
    ("arts", "Community choir", "A friendly, no-audition choir singing pop and folk songs every Wednesday evening.", &[ArtsCreativity, LonelinessIsolation], &[InPerson], "LE12 8BB", 52.7456, -1.1716, "£2 a session", true),
    ("arts", "Knit and natter", "Bring your knitting or learn from scratch, with tea, cake and good company.", &[ArtsCreativity, LonelinessIsolation], &[InPerson], "LE12 8BD", 52.7460, -1.1720, "Free", true),
    ("arts", "Creative writing circle", "Share stories and poems in a supportive group, in person or by video.", &[ArtsCreativity, MentalWellbeing], &[InPerson, Online], "LE12 8BE", 52.7464, -1.1724, "Free", true),
    ("housing", "Housing options advice", "Advice for people facing eviction, homelessness or disrepair, and help dealing with landlords.", &[Housing], &[InPerson, Phone], "LE11 1HA", 52.7725, -1.2090, "Free", true),
    ("housing", "Tenancy sustainment support", "Practical support to keep a tenancy going: bills, letters, repairs and neighbours.", &[Housing, DebtBenefits], &[InPerson], "LE11 1HB", 52.7728, -1.2093, "Free", true),
    ("housing", "Handyperson service", "Small repairs and safety adaptations at home for older and disabled people.", &[Housing], &[InPerson], "LE11 1HD", 52.7731, -1.2096, "Cost of materials", false),
    ("skills", "Digital skills drop-in", "Get help with smartphones, tablets, email and getting online safely.", &[EmploymentSkills, LonelinessIsolation], &[InPerson], "LE11 3SA", 52.7705, -1.2000, "Free", true),
    ("skills", "Job club", "Support with CVs, applications and interview practice, with a weekly jobs board.", &[EmploymentSkills], &[InPerson, Online], "LE11 3SB", 52.7708, -1.2003, "Free", true),
    ("skills", "Volunteering taster days", "Try out volunteering roles with local charities to build confidence and skills.", &[Volunteering, EmploymentSkills], &[InPerson], "LE11 3SD", 52.7711, -1.2006, "Free", true),
    ("bereavement", "Bereavement support group", "A monthly group for people who have lost someone close, facilitated by trained volunteers.", &[Bereavement, MentalWellbeing], &[InPerson], "LE11 2BA", 52.7650, -1.2100, "Free", true),
    ("bereavement", "One-to-one bereavement support", "Up to six one-to-one sessions with a trained bereavement volunteer, by phone or in person.", &[Bereavement], &[InPerson, Phone], "LE11 2BB", 52.7655, -1.2105, "Free", true),
    ("bereavement", "Walk and talk after loss", "A gentle walking group for bereaved people, combining fresh air with peer support.", &[Bereavement, PhysicalActivity, LonelinessIsolation], &[InPerson], "LE12 7BA", 52.7240, -1.1408, "Free", true),
];

/// Creates what is missing of the demo directory; answers the number of services in it.
pub async fn seed(
    tx: &mut Tx,
    federation: FederationId,
    provider_organisation: Uuid,
) -> anyhow::Result<usize> {
    let mut organisation_ids = std::collections::HashMap::new();
    for (i, o) in ORGANISATIONS.iter().enumerate() {
        let external_id = format!("demo-org-{}", o.key);
        let id = match organisations::find_by_external_id(tx, federation, &external_id).await? {
            Some(found) => found.id,
            None => {
                let details = OrganisationDetails::parse(OrganisationInput {
                    external_id: Some(external_id.clone()),
                    name: o.name.into(),
                    charity_number: Some(o.charity_number.into()),
                    website: Some(o.website.into()),
                    email: Some(format!("hello@{}.charnwood.example", o.key)),
                    phone: Some(o.phone.into()),
                    contact_name: Some("Referrals coordinator".into()),
                    payee_reference: Some(format!("NCF-PAY-{:04}", i + 1)),
                    active: true,
                    ..Default::default()
                })
                .map_err(|e| anyhow::anyhow!("{e:?}"))?;
                // The demo provider user belongs to the first organisation.
                let id = if i == 0 {
                    OrganisationId::from(provider_organisation)
                } else {
                    OrganisationId::new()
                };
                organisations::create(tx, federation, id, &details)
                    .await
                    .with_context(|| external_id.clone())?
                    .id
            }
        };
        organisation_ids.insert(o.key, id);
    }
    for (i, (key, name, description, needs, modes, postcode, lat, lng, cost, accepting)) in
        SERVICES.iter().enumerate()
    {
        let external_id = format!("demo-svc-{:02}", i + 1);
        if services::find_by_external_id(tx, federation, &external_id)
            .await?
            .is_some()
        {
            continue;
        }
        let organisation = organisation_ids
            .get(key)
            .copied()
            .context("demo organisation")?;
        let details = ServiceDetails::parse(ServiceInput {
            organisation_id: Some(OrganisationId::from(organisation)),
            external_id: Some(external_id.clone()),
            name: (*name).into(),
            description: (*description).into(),
            need_categories: needs.to_vec(),
            delivery_modes: modes.to_vec(),
            address: Some(format!("{name}, Charnwood")),
            postcode: Some((*postcode).into()),
            latitude: Some(*lat),
            longitude: Some(*lng),
            opening_times: Some("See the organisation's website for session times".into()),
            capacity: Some(12 + (i as i32 % 5) * 4),
            accepting_referrals: *accepting,
            cost_to_patient: Some((*cost).into()),
            active: true,
            ..Default::default()
        })
        .map_err(|e| anyhow::anyhow!("{external_id}: {e:?}"))?;
        services::create(tx, federation, ServiceId::new(), &details)
            .await
            .with_context(|| external_id.clone())?;
    }
    Ok(SERVICES.len())
}
