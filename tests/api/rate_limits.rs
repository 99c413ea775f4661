//! Rate limits per token subject and per client address, shared by every instance through the
//! database, announced with the IETF `RateLimit-Policy` and `RateLimit` fields, refused with
//! `429` problem+json and `Retry-After`.

use crate::helpers::{assert_problem, spawn_app, spawn_app_with, TestApp};
use reqwest::Response;
use sqlx::Connection;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use uuid::Uuid;
use waymark_domain::Role;

/// Waits, when the current one-minute window is nearly over, for the next one to begin, so a
/// test counting requests in a window finds them all in one.
pub async fn early_in_a_window() {
    let into_window = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        % 60;
    if into_window > 45 {
        tokio::time::sleep(Duration::from_secs(61 - into_window)).await;
    }
}

async fn me(app: &TestApp, token: Option<&str>, forwarded_for: Option<&str>) -> Response {
    let mut request = app.get("/v1/me");
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(address) = forwarded_for {
        request = request.header("X-Forwarded-For", address);
    }
    request.send().await.unwrap()
}

fn field(response: &Response, name: &str) -> String {
    response.headers()[name].to_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_subject_has_one_budget_across_instances_announced_in_every_answer() {
    let settings = [("WAYMARK_RATE_LIMIT_PER_SUBJECT_PER_MINUTE", "5")];
    let first = spawn_app_with(&settings).await;
    let second = first.another_instance_with(&settings).await;
    let federation = first.create_federation("subject-limit").await;
    let clinician = first.as_role(
        Role::Clinician,
        federation.id,
        Some(federation.practices[0]),
    );
    early_in_a_window().await;
    for (served, app) in [&first, &second, &first, &second, &first]
        .into_iter()
        .enumerate()
    {
        let answer = me(app, Some(&clinician), None).await;
        assert_eq!(answer.status(), 200);
        assert_eq!(field(&answer, "ratelimit-policy"), "\"subject\";q=5;w=60");
        let limit = field(&answer, "ratelimit");
        let (remaining, reset) = limit
            .strip_prefix("\"subject\";r=")
            .and_then(|rest| rest.split_once(";t="))
            .unwrap_or_else(|| panic!("{limit}"));
        assert_eq!(remaining, (4 - served).to_string(), "{limit}");
        assert!((1..=60).contains(&reset.parse::<u64>().unwrap()), "{limit}");
    }
    // Five were served, by two instances: the sixth is refused by whichever gets it.
    for app in [&second, &first] {
        let refused = me(app, Some(&clinician), None).await;
        let retry_after: u64 = field(&refused, "retry-after").parse().unwrap();
        assert!((1..=60).contains(&retry_after), "{retry_after}");
        assert!(
            field(&refused, "ratelimit").starts_with("\"subject\";r=0;t="),
            "{}",
            field(&refused, "ratelimit")
        );
        let problem = assert_problem(refused, 429, "too_many_requests").await;
        assert!(
            problem["detail"].as_str().unwrap().contains("\"subject\""),
            "{problem}"
        );
    }
    // Another subject has a budget of its own.
    let colleague = first.as_role(
        Role::Clinician,
        federation.id,
        Some(federation.practices[0]),
    );
    assert_eq!(me(&second, Some(&colleague), None).await.status(), 200);
}

#[tokio::test]
async fn each_client_address_has_a_budget_signed_in_or_not() {
    let settings = [
        ("WAYMARK_RATE_LIMIT_PER_ADDRESS_PER_MINUTE", "3"),
        ("WAYMARK_TRUSTED_PROXIES", "127.0.0.1"),
    ];
    let app = spawn_app_with(&settings).await;
    early_in_a_window().await;
    // Requests without a token are counted by their address too (and refused for it).
    for remaining in [2, 1, 0] {
        let answer = me(&app, None, Some("203.0.113.7")).await;
        assert_eq!(
            field(&answer, "ratelimit"),
            format!(
                "\"address\";r={remaining};t={}",
                field(&answer, "ratelimit").rsplit_once(";t=").unwrap().1
            )
        );
        assert_problem(answer, 401, "unauthorized").await;
    }
    let refused = me(&app, None, Some("203.0.113.7")).await;
    assert_problem(refused, 429, "too_many_requests").await;
    // A signed-in caller at that address is refused as well; another address is not.
    let token = app.platform_admin();
    assert_problem(
        me(&app, Some(&token), Some("203.0.113.7")).await,
        429,
        "too_many_requests",
    )
    .await;
    assert_eq!(
        me(&app, Some(&token), Some("203.0.113.8")).await.status(),
        200
    );
}

#[tokio::test]
async fn instances_leasing_many_at_once_never_admit_more_than_the_quota() {
    // A quota of 200 is leased four requests at a time.
    let settings = [("WAYMARK_RATE_LIMIT_PER_SUBJECT_PER_MINUTE", "200")];
    let first = spawn_app_with(&settings).await;
    let second = first.another_instance_with(&settings).await;
    let token = first.platform_admin();
    early_in_a_window().await;
    let mut requests = Vec::new();
    for i in 0..260 {
        let app = if i % 2 == 0 { &first } else { &second };
        requests.push(me(app, Some(&token), None));
    }
    let answers = futures_util::future::join_all(requests).await;
    let admitted = answers.iter().filter(|a| a.status() == 200).count();
    let refused = answers.iter().filter(|a| a.status() == 429).count();
    assert_eq!(admitted + refused, 260);
    // Never more than the quota; less only by what an instance leased and has not yet used.
    assert!(admitted <= 200, "{admitted}");
    assert!(admitted >= 200 - 2 * 4, "{admitted}");
    // What was asked of the shared count is on record for both instances to see.
    let mut conn = sqlx::PgConnection::connect(&first.database_url)
        .await
        .unwrap();
    let asked: i64 = sqlx::query_scalar("SELECT asked FROM rate_limit_windows WHERE key = $1")
        .bind(format!("subject:{}", subject_of(&first, &token)))
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert!(asked >= 200, "{asked}");
}

fn subject_of(app: &TestApp, token: &str) -> Uuid {
    app.tokens.verify(token).unwrap().subject
}

#[tokio::test]
async fn with_the_limits_off_nothing_is_counted_or_announced() {
    let app = spawn_app().await;
    let answer = me(&app, Some(&app.platform_admin()), None).await;
    assert_eq!(answer.status(), 200);
    assert!(answer.headers().get("ratelimit").is_none());
    assert!(answer.headers().get("ratelimit-policy").is_none());
}
