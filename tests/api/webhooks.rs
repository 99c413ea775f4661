//! Webhooks: endpoints receive the federation's events signed per the Standard Webhooks
//! specification, at least once, retried with backoff; a 410 disables an endpoint; private
//! addresses are refused; several instances never make the same attempt twice; deliveries
//! survive the instance that owed them.

use crate::helpers::{assert_problem, spawn_app_with, TestApp};
use crate::journey::{get, json_of, practice, Practice};
use crate::pathway::{refer, register_patient};
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use uuid::Uuid;
use waymark_domain::{Role, ServiceScope};

/// What a receiver was sent.
#[derive(Clone, Debug)]
struct Received {
    headers: HashMap<String, String>,
    body: String,
}

#[derive(Default)]
struct ReceiverState {
    received: Mutex<Vec<Received>>,
    /// Statuses to answer with, in turn; 200 once they run out.
    answers: Mutex<VecDeque<u16>>,
}

/// An HTTP server on 127.0.0.1 that records every request and answers as told.
struct Receiver {
    url: String,
    state: Arc<ReceiverState>,
}

impl Receiver {
    async fn start() -> Self {
        let state = Arc::new(ReceiverState::default());
        let shared = web::Data::from(state.clone());
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = HttpServer::new(move || {
            App::new()
                .app_data(shared.clone())
                .default_service(web::to(receive))
        })
        .workers(1)
        .listen(listener)
        .unwrap()
        .run();
        tokio::spawn(server);
        Self {
            url: format!("http://127.0.0.1:{port}/hooks"),
            state,
        }
    }

    fn answer_with(&self, statuses: &[u16]) {
        self.state.answers.lock().unwrap().extend(statuses);
    }

    fn received(&self) -> Vec<Received> {
        self.state.received.lock().unwrap().clone()
    }

    /// Waits until `count` requests have arrived (at most 20 s), and answers them.
    async fn wait_for(&self, count: usize) -> Vec<Received> {
        for _ in 0..400 {
            let received = self.received();
            if received.len() >= count {
                return received;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("expected {count} deliveries, got {}", self.received().len());
    }
}

async fn receive(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<ReceiverState>,
) -> HttpResponse {
    let headers = req
        .headers()
        .iter()
        .map(|(name, value)| {
            (
                name.as_str().to_owned(),
                value.to_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    state.received.lock().unwrap().push(Received {
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    });
    let status = state.answers.lock().unwrap().pop_front().unwrap_or(200);
    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap()).finish()
}

/// Checks a delivery's signature as a receiver would, with nothing of Waymark's: the
/// HMAC-SHA256 of `id.timestamp.body` under the secret's key, base64, among `v1,` signatures.
fn signed_by(delivery: &Received, secret: &str) -> bool {
    let key = STANDARD
        .decode(secret.strip_prefix("whsec_").expect("a whsec_ secret"))
        .unwrap();
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
    mac.update(
        format!(
            "{}.{}.{}",
            delivery.headers["webhook-id"], delivery.headers["webhook-timestamp"], delivery.body
        )
        .as_bytes(),
    );
    let expected = format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()));
    delivery.headers["webhook-signature"]
        .split(' ')
        .any(|signature| signature == expected)
}

/// Deliveries made quickly, to the test's own receivers on loopback.
const DELIVERING: [(&str, &str); 4] = [
    ("WAYMARK_WEBHOOKS_ALLOWED_NETWORKS", "127.0.0.0/8"),
    ("WAYMARK_WEBHOOKS_INTERVAL_MS", "100"),
    ("WAYMARK_WEBHOOKS_FIRST_RETRY_MS", "300"),
    ("WAYMARK_EVENTS_SEQUENCE_INTERVAL_MS", "100"),
];

async fn register(app: &TestApp, token: &str, body: Value) -> Value {
    json_of(
        app.post("/v1/webhooks")
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap(),
        201,
    )
    .await
}

async fn attempts(app: &TestApp, token: &str, endpoint: &str) -> Vec<Value> {
    json_of(
        get(
            app,
            token,
            &format!("/v1/webhooks/{endpoint}/attempts?limit=100"),
        )
        .await,
        200,
    )
    .await["items"]
        .as_array()
        .unwrap()
        .clone()
}

/// The endpoint's attempts once at least `count` are recorded. A receiver has a delivery
/// before the instance that made it has recorded the attempt (a batch's attempts are recorded
/// together), so listing at once can miss some.
async fn attempts_recorded(app: &TestApp, token: &str, endpoint: &str, count: usize) -> Vec<Value> {
    for _ in 0..400 {
        let listed = attempts(app, token, endpoint).await;
        if listed.len() >= count {
            return listed;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "expected {count} attempts recorded, got {}",
        attempts(app, token, endpoint).await.len()
    );
}

/// A referral of a new patient (seeds ten apart make distinct NHS numbers).
async fn new_referral(app: &TestApp, p: &Practice, seed: u32) -> Uuid {
    let patient = register_patient(app, &p.clinician, p.id, seed * 10).await;
    refer(app, &p.clinician, p.id, patient).await
}

#[tokio::test]
async fn deliveries_are_signed_as_standard_webhooks_say_and_their_attempts_listed() {
    let app = spawn_app_with(&DELIVERING).await;
    let p = practice(&app, "webhooks-signed").await;
    let admin = app.as_role(Role::FederationAdmin, p.federation, None);
    let receiver = Receiver::start().await;
    let endpoint = register(
        &app,
        &admin,
        json!({"url": receiver.url, "event_types": ["referral.created"], "description": "GP system"}),
    )
    .await;
    let secret = endpoint["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"));
    assert_eq!(endpoint["event_types"], json!(["referral.created"]));
    let id = endpoint["id"].as_str().unwrap().to_owned();
    // The secret is shown once.
    let shown = json_of(get(&app, &admin, &format!("/v1/webhooks/{id}")).await, 200).await;
    assert!(shown.get("secret").is_none());
    assert!(!shown.to_string().contains(&secret));

    let referral = new_referral(&app, &p, 1).await;
    let delivered = receiver.wait_for(1).await;
    let delivery = &delivered[0];
    assert!(signed_by(delivery, &secret), "{:?}", delivery.headers);
    assert_eq!(delivery.headers["content-type"], "application/json");
    let timestamp: i64 = delivery.headers["webhook-timestamp"].parse().unwrap();
    assert!((chrono::Utc::now().timestamp() - timestamp).abs() < 60);
    let body: Value = serde_json::from_str(&delivery.body).unwrap();
    assert_eq!(body["type"], "referral.created");
    assert_eq!(body["data"]["resource_id"], json!(referral));
    assert_eq!(body["data"]["practice_id"], json!(p.id));
    assert_eq!(
        body["data"]["id"].as_str().unwrap(),
        delivery.headers["webhook-id"]
    );
    // The same event as the feed shows it, and nothing of the patient.
    let feed = json_of(
        get(&app, &admin, "/v1/events?types=referral.created").await,
        200,
    )
    .await;
    assert_eq!(body["data"], feed["items"][0]);
    assert!(!delivery.body.contains("Ada"));
    // A signature over another body does not verify.
    let forged = Received {
        body: delivery.body.replace("referral", "refund"),
        ..delivery.clone()
    };
    assert!(!signed_by(&forged, &secret));

    // Only the types asked for: a referral's other events are not sent.
    let response = crate::pathway::transition(
        &app,
        &p.clinician,
        p.id,
        referral,
        json!({"to": "declined", "reason": "not now"}),
    )
    .await;
    assert_eq!(response.status(), 200);
    new_referral(&app, &p, 2).await;
    let delivered = receiver.wait_for(2).await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(receiver.received().len(), 2);
    assert!(delivered
        .iter()
        .all(|d| d.body.contains("\"type\":\"referral.created\"")));

    let listed = attempts_recorded(&app, &admin, &id, 2).await;
    assert_eq!(listed.len(), 2);
    for attempt in &listed {
        assert_eq!(attempt["outcome"], "delivered");
        assert_eq!(attempt["response_status"], 200);
        assert_eq!(attempt["attempt"], 1);
        assert_eq!(attempt["event_type"], "referral.created");
        assert!(attempt["next_attempt_at"].is_null());
    }
}

#[tokio::test]
async fn failures_are_retried_with_backoff_and_a_410_disables_the_endpoint() {
    let app = spawn_app_with(&DELIVERING).await;
    let p = practice(&app, "webhooks-retried").await;
    let admin = app.as_role(Role::FederationAdmin, p.federation, None);
    let receiver = Receiver::start().await;
    receiver.answer_with(&[500, 503]);
    let endpoint = register(
        &app,
        &admin,
        json!({"url": receiver.url, "event_types": ["referral.created"]}),
    )
    .await;
    let id = endpoint["id"].as_str().unwrap().to_owned();

    new_referral(&app, &p, 10).await;
    let delivered = receiver.wait_for(3).await;
    // The same message each time, signed afresh with its attempt's time.
    let ids: Vec<&String> = delivered.iter().map(|d| &d.headers["webhook-id"]).collect();
    assert!(ids.iter().all(|i| *i == ids[0]));
    assert!(delivered.iter().all(|d| d.body == delivered[0].body));
    assert!(delivered
        .iter()
        .all(|d| signed_by(d, endpoint["secret"].as_str().unwrap())));

    let listed = attempts_recorded(&app, &admin, &id, 3).await;
    let outcomes: Vec<(&str, i64, i64)> = listed
        .iter()
        .map(|a| {
            (
                a["outcome"].as_str().unwrap(),
                a["attempt"].as_i64().unwrap(),
                a["response_status"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        outcomes,
        [
            ("delivered", 3, 200),
            ("failed", 2, 503),
            ("failed", 1, 500)
        ]
    );
    // Each failure named when it would be tried again, later each time (backoff).
    let at = |a: &Value, field: &str| {
        a[field]
            .as_str()
            .unwrap()
            .parse::<chrono::DateTime<chrono::Utc>>()
            .unwrap()
    };
    let first_wait = at(&listed[2], "next_attempt_at") - at(&listed[2], "attempted_at");
    let second_wait = at(&listed[1], "next_attempt_at") - at(&listed[1], "attempted_at");
    assert!(
        first_wait >= chrono::Duration::milliseconds(240),
        "{first_wait}"
    );
    assert!(
        second_wait >= first_wait * 2,
        "{first_wait} then {second_wait}"
    );
    assert_eq!(listed[2]["error"], "answered 500");

    // 410 Gone: the endpoint is disabled, and receives nothing more.
    receiver.answer_with(&[410]);
    new_referral(&app, &p, 11).await;
    receiver.wait_for(4).await;
    let mut disabled = Value::Null;
    for _ in 0..100 {
        disabled = json_of(get(&app, &admin, &format!("/v1/webhooks/{id}")).await, 200).await;
        if disabled["enabled"] == false {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(disabled["enabled"], false);
    assert_eq!(disabled["disabled_reason"], "gone");
    assert_eq!(attempts(&app, &admin, &id).await[0]["outcome"], "gone");
    new_referral(&app, &p, 12).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(receiver.received().len(), 4);

    // Enabled again, it receives what happens from then on.
    let etag = get(&app, &admin, &format!("/v1/webhooks/{id}"))
        .await
        .headers()["etag"]
        .to_str()
        .unwrap()
        .to_owned();
    let enabled = app
        .patch(&format!("/v1/webhooks/{id}"))
        .bearer_auth(&admin)
        .header("If-Match", etag)
        .json(&json!({"enabled": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(json_of(enabled, 200).await["enabled"], true);
    let referral = new_referral(&app, &p, 13).await;
    let delivered = receiver.wait_for(5).await;
    assert!(delivered[4].body.contains(&referral.to_string()));
}

#[tokio::test]
async fn webhooks_go_only_to_the_public_internet_unless_a_network_is_allowed() {
    let settings = [
        ("WAYMARK_WEBHOOKS_INTERVAL_MS", "100"),
        ("WAYMARK_EVENTS_SEQUENCE_INTERVAL_MS", "100"),
    ];
    let app = spawn_app_with(&settings).await;
    let p = practice(&app, "webhooks-ssrf").await;
    let admin = app.as_role(Role::FederationAdmin, p.federation, None);
    for url in [
        "http://127.0.0.1:9/hooks",
        "http://localhost:9/hooks",
        "http://10.1.2.3/hooks",
        "http://[::1]/hooks",
        "http://169.254.169.254/latest/meta-data",
        "http://0.0.0.0/",
        "http://[::ffff:192.168.0.1]/",
    ] {
        let refused = app
            .post("/v1/webhooks")
            .bearer_auth(&admin)
            .json(&json!({"url": url}))
            .send()
            .await
            .unwrap();
        assert_problem(refused, 422, "webhook_url_not_allowed").await;
    }
    for url in [
        "ftp://example.org/x",
        "https://user:pw@example.org/",
        "not a url",
        "file:///etc/passwd",
    ] {
        let refused = app
            .post("/v1/webhooks")
            .bearer_auth(&admin)
            .json(&json!({"url": url}))
            .send()
            .await
            .unwrap();
        let problem = assert_problem(refused, 422, "validation_failed").await;
        assert_eq!(problem["errors"][0]["field"], "url");
    }

    // An instance that allows loopback registers one; one that does not refuses to deliver
    // there when the time comes, and says why.
    let lenient = app
        .another_instance_with(&[
            ("WAYMARK_WEBHOOKS_ALLOWED_NETWORKS", "127.0.0.0/8"),
            ("WAYMARK_WEBHOOKS_INTERVAL_MS", "0"),
        ])
        .await;
    let receiver = Receiver::start().await;
    let endpoint = register(
        &lenient,
        &admin,
        json!({"url": receiver.url, "event_types": ["referral.created"]}),
    )
    .await;
    new_referral(&app, &p, 20).await;
    let id = endpoint["id"].as_str().unwrap();
    let mut listed = Vec::new();
    for _ in 0..100 {
        listed = attempts(&app, &admin, id).await;
        if !listed.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(listed[0]["outcome"], "failed");
    assert!(listed[0]["response_status"].is_null());
    assert!(
        listed[0]["error"]
            .as_str()
            .unwrap()
            .contains("not on the public internet"),
        "{}",
        listed[0]
    );
    assert!(receiver.received().is_empty());
}

#[tokio::test]
async fn instances_share_the_work_and_never_make_the_same_attempt_twice() {
    // The instance the changes are made on delivers nothing; the deliveries it leaves owing are
    // made by two others, started afterwards (as after a restart).
    let quiet = [
        ("WAYMARK_WEBHOOKS_ALLOWED_NETWORKS", "127.0.0.0/8"),
        ("WAYMARK_WEBHOOKS_INTERVAL_MS", "0"),
        ("WAYMARK_EVENTS_SEQUENCE_INTERVAL_MS", "100"),
    ];
    let first = spawn_app_with(&quiet).await;
    let p = practice(&first, "webhooks-shared").await;
    let admin = first.as_role(Role::FederationAdmin, p.federation, None);
    let receiver = Receiver::start().await;
    let endpoint = register(
        &first,
        &admin,
        json!({"url": receiver.url, "event_types": ["referral.created"]}),
    )
    .await;
    let mut referrals = Vec::new();
    for seed in 0..20 {
        referrals.push(new_referral(&first, &p, 30 + seed).await);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(receiver.received().is_empty());

    let _second = first.another_instance_with(&DELIVERING).await;
    let _third = first.another_instance_with(&DELIVERING).await;
    receiver.wait_for(20).await;
    let listed = attempts_recorded(&first, &admin, endpoint["id"].as_str().unwrap(), 20).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    let delivered = receiver.received();
    assert_eq!(delivered.len(), 20, "each event once");
    let mut delivered_referrals: Vec<String> = delivered
        .iter()
        .map(|d| {
            let body: Value = serde_json::from_str(&d.body).unwrap();
            body["data"]["resource_id"].as_str().unwrap().to_owned()
        })
        .collect();
    delivered_referrals.sort();
    let mut expected: Vec<String> = referrals.iter().map(Uuid::to_string).collect();
    expected.sort();
    assert_eq!(delivered_referrals, expected);
    assert_eq!(listed.len(), 20);
    assert!(listed
        .iter()
        .all(|a| a["attempt"] == 1 && a["outcome"] == "delivered"));
}

#[tokio::test]
async fn a_rotated_secret_signs_beside_the_old_one_for_the_grace_period() {
    let app = spawn_app_with(&DELIVERING).await;
    let p = practice(&app, "webhooks-rotation").await;
    let admin = app.as_role(Role::FederationAdmin, p.federation, None);
    let receiver = Receiver::start().await;
    let endpoint = register(
        &app,
        &admin,
        json!({"url": receiver.url, "event_types": ["referral.created"]}),
    )
    .await;
    let id = endpoint["id"].as_str().unwrap();
    let old = endpoint["secret"].as_str().unwrap().to_owned();

    let rotated = json_of(
        app.post(&format!("/v1/webhooks/{id}/secret-rotations"))
            .bearer_auth(&admin)
            .json(&json!({"grace_period_seconds": 3600}))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    let new = rotated["secret"].as_str().unwrap().to_owned();
    assert_ne!(new, old);
    assert!(rotated["previous_secret_expires_at"].is_string());
    new_referral(&app, &p, 40).await;
    let during = receiver.wait_for(1).await[0].clone();
    assert_eq!(during.headers["webhook-signature"].split(' ').count(), 2);
    assert!(signed_by(&during, &new) && signed_by(&during, &old));

    // Without a grace period only the new secret signs.
    let rotated = json_of(
        app.post(&format!("/v1/webhooks/{id}/secret-rotations"))
            .bearer_auth(&admin)
            .json(&json!({"grace_period_seconds": 0}))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    let newest = rotated["secret"].as_str().unwrap().to_owned();
    new_referral(&app, &p, 41).await;
    let after = receiver.wait_for(2).await[1].clone();
    assert_eq!(after.headers["webhook-signature"].split(' ').count(), 1);
    assert!(signed_by(&after, &newest));
    assert!(!signed_by(&after, &new) && !signed_by(&after, &old));
}

#[tokio::test]
async fn endpoints_are_managed_by_administrators_and_integrations_within_their_reach() {
    let app = spawn_app_with(&DELIVERING).await;
    let p = practice(&app, "webhooks-managed").await;
    let other = practice(&app, "webhooks-managed-2").await;
    let admin = app.as_role(Role::FederationAdmin, p.federation, None);
    let receiver = Receiver::start().await;
    for token in [
        app.as_role(Role::Commissioner, p.federation, None),
        p.clinician.clone(),
        app.as_service_account(p.federation, &[ServiceScope::EventsRead])
            .await,
    ] {
        let refused = app
            .post("/v1/webhooks")
            .bearer_auth(&token)
            .json(&json!({"url": receiver.url}))
            .send()
            .await
            .unwrap();
        assert_problem(refused, 403, "forbidden").await;
        assert_problem(get(&app, &token, "/v1/webhooks").await, 403, "forbidden").await;
    }

    // An integration's endpoints receive what belongs to no practice, and nothing more.
    let integration = app
        .as_service_account(p.federation, &[ServiceScope::WebhooksWrite])
        .await;
    let theirs = register(&app, &integration, json!({"url": receiver.url})).await;
    let types: Vec<&str> = theirs["event_types"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    assert!(types.contains(&"payment_run.created") && types.contains(&"service.updated"));
    assert!(!types.iter().any(|t| t.starts_with("referral")));
    let refused = app
        .post("/v1/webhooks")
        .bearer_auth(&integration)
        .json(&json!({"url": receiver.url, "event_types": ["referral.created"]}))
        .send()
        .await
        .unwrap();
    let problem = assert_problem(refused, 422, "validation_failed").await;
    assert_eq!(problem["errors"][0]["code"], "not_receivable");
    let unknown = app
        .post("/v1/webhooks")
        .bearer_auth(&admin)
        .json(&json!({"url": receiver.url, "event_types": ["referral.deleted"]}))
        .send()
        .await
        .unwrap();
    assert_problem(unknown, 422, "validation_failed").await;

    // The federation's administrators see and manage it; another federation's find nothing.
    let id = theirs["id"].as_str().unwrap();
    let path = format!("/v1/webhooks/{id}");
    let foreign = app.as_role(Role::FederationAdmin, other.federation, None);
    assert_problem(get(&app, &foreign, &path).await, 404, "not_found").await;
    let listed = json_of(get(&app, &admin, "/v1/webhooks").await, 200).await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 1);
    let unconditional = app
        .patch(&path)
        .bearer_auth(&admin)
        .json(&json!({"description": "Finance"}))
        .send()
        .await
        .unwrap();
    assert_problem(unconditional, 428, "if_match_required").await;
    let etag = get(&app, &admin, &path).await.headers()["etag"]
        .to_str()
        .unwrap()
        .to_owned();
    let changed = json_of(
        app.patch(&path)
            .bearer_auth(&admin)
            .header("If-Match", &etag)
            .json(&json!({"description": "Finance", "event_types": ["referral.created"]}))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(changed["description"], "Finance");
    assert_eq!(changed["event_types"], json!(["referral.created"]));
    let stale = app
        .patch(&path)
        .bearer_auth(&admin)
        .header("If-Match", &etag)
        .json(&json!({"description": "Late"}))
        .send()
        .await
        .unwrap();
    assert_problem(stale, 412, "etag_mismatch").await;
    let removed = app
        .request(reqwest::Method::DELETE, &path)
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(removed.status(), 204);
    assert_problem(get(&app, &admin, &path).await, 404, "not_found").await;
}
