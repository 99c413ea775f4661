//! `spawn_app()`: the real application on a random port, over a fresh, migrated database of its
//! own, with typed helpers so tests read like what a client does.

use reqwest::{Client, Method, RequestBuilder, Response};
use serde_json::{json, Value};
use sqlx::{Connection, Executor, PgConnection};
use std::collections::HashMap;
use uuid::Uuid;
use waymark_domain::{
    FederationId, OrganisationId, PracticeId, Principal, PrincipalKind, Role, ServiceScope,
};
use waymark_http::auth::{SigningKeys, TokenService};
use waymark_http::{Application, Settings};

pub const PASSWORD: &str = "correct horse battery staple";

pub struct TestApp {
    pub address: String,
    pub client: Client,
    /// The schema owner's URL of this test's own database.
    pub database_url: String,
    /// The service's own login to the same database.
    pub service_database_url: String,
    pub signing_key_pem: String,
    pub signing_key_file: std::path::PathBuf,
    pub tokens: TokenService,
}

/// The schema owner's URL of the test server.
fn server_url() -> String {
    std::env::var("WAYMARK_MIGRATION_DATABASE_URL")
        .unwrap_or_else(|_| waymark_http::settings::DEFAULT_MIGRATION_DATABASE_URL.to_owned())
}

/// The service's login to the test server.
fn service_server_url() -> String {
    std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| waymark_http::settings::DEFAULT_DATABASE_URL.to_owned())
}

/// The Citus cluster the tests run on when `scripts/test` runs them with `WAYMARK_TEST_CITUS=1`:
/// the coordinator is the test server, and `template` a database migrated and distributed over
/// every node, which each test clones on each node (scripts/lib/citus.sh).
pub struct CitusCluster {
    pub template: String,
    /// The owner's URLs of the workers.
    pub workers: Vec<String>,
    /// The owner's URL of a running node that is no test database's worker, for a test to add.
    pub spare: Option<String>,
}

impl CitusCluster {
    pub fn from_env() -> Option<Self> {
        let template = std::env::var("WAYMARK_TEST_CITUS_TEMPLATE").ok()?;
        let workers = std::env::var("WAYMARK_TEST_CITUS_WORKERS")
            .expect("WAYMARK_TEST_CITUS_WORKERS lists the workers")
            .split(',')
            .map(str::to_owned)
            .collect();
        let spare = std::env::var("WAYMARK_TEST_CITUS_SPARE").ok();
        Some(CitusCluster {
            template,
            workers,
            spare,
        })
    }
}

pub async fn create_database(server: &str, database: &str, template: Option<&str>) {
    let mut admin = PgConnection::connect(&with_database(server, "postgres"))
        .await
        .expect("PostgreSQL is reachable");
    let template = template
        .map(|t| format!(r#" TEMPLATE "{t}""#))
        .unwrap_or_default();
    admin
        .execute(format!(r#"CREATE DATABASE "{database}"{template}"#).as_str())
        .await
        .expect("create test database");
    admin.close().await.ok();
}

/// The role a connection URL logs in as.
pub fn login_of(url: &str) -> &str {
    url.split_once("://")
        .and_then(|(_, rest)| rest.split_once('@'))
        .map(|(user, _)| user.split(':').next().unwrap_or(user))
        .expect("the URL names its login")
}

/// `url` with its database name replaced.
pub fn with_database(url: &str, database: &str) -> String {
    let (base, _) = url.rsplit_once('/').expect("DATABASE_URL names a database");
    let query = url
        .split_once('?')
        .map(|(_, q)| format!("?{q}"))
        .unwrap_or_default();
    format!("{base}/{database}{query}")
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(&[]).await
}

/// Spawns the app with extra environment settings, e.g. CORS origins or a small body limit.
pub async fn spawn_app_with(extra: &[(&str, &str)]) -> TestApp {
    let database = format!("waymark_test_{}", Uuid::now_v7().simple());
    let database_url = with_database(&server_url(), &database);
    let service_database_url = with_database(&service_server_url(), &database);
    match CitusCluster::from_env() {
        None => {
            create_database(&server_url(), &database, None).await;
            waymark_persistence::migrate(&database_url, &service_database_url)
                .await
                .expect("migrations apply");
        }
        Some(citus) => {
            for node in std::iter::once(server_url()).chain(citus.workers.iter().cloned()) {
                create_database(&node, &database, Some(&citus.template)).await;
                // Citus records the database itself among the objects it has distributed, by
                // OID: the clone's record names the template until it is pointed at the clone
                // (a node added later is sent what it names).
                let mut clone = PgConnection::connect(&with_database(&node, &database))
                    .await
                    .expect("connect to the clone");
                clone
                    .execute(
                        "UPDATE pg_catalog.pg_dist_object \
                         SET objid = (SELECT oid FROM pg_database WHERE datname = current_database()) \
                         WHERE classid = 'pg_database'::regclass",
                    )
                    .await
                    .expect("the clone is its own distributed database");
                clone.close().await.ok();
            }
            // Nothing is left to distribute; this sets what a clone does not inherit.
            waymark_persistence::migrate_citus(&database_url, &service_database_url)
                .await
                .expect("migrations apply");
            // Every statement the service makes must reach one shard: one that needs several
            // fails the test. The tests' own inspection, as the owner, may read across shards.
            let login = login_of(&service_database_url);
            let mut owner = PgConnection::connect(&database_url).await.expect("connect");
            owner
                .execute(
                    format!(
                        r#"ALTER ROLE "{login}" IN DATABASE "{database}" SET citus.multi_task_query_log_level = 'error'"#
                    )
                    .as_str(),
                )
                .await
                .expect("refuse multi-shard statements");
            owner.close().await.ok();
        }
    }

    let signing_key_pem = SigningKeys::generate_pem();
    let key_file = std::env::temp_dir().join(format!("{database}.pem"));
    std::fs::write(&key_file, &signing_key_pem).expect("write key");
    start_instance(
        database_url,
        service_database_url,
        signing_key_pem,
        key_file,
        extra,
    )
    .await
}

/// Starts the application on `database_url`, signing with the key in `key_file`.
async fn start_instance(
    database_url: String,
    service_database_url: String,
    signing_key_pem: String,
    key_file: std::path::PathBuf,
    extra: &[(&str, &str)],
) -> TestApp {
    let mut env: HashMap<String, String> = HashMap::from([
        ("DATABASE_URL".into(), service_database_url.clone()),
        (
            "WAYMARK_MIGRATION_DATABASE_URL".into(),
            database_url.clone(),
        ),
        ("WAYMARK_ADDR".into(), "127.0.0.1:0".into()),
        (
            "WAYMARK_SIGNING_KEY_FILE".into(),
            key_file.display().to_string(),
        ),
        ("WAYMARK_WORKERS".into(), "2".into()),
        ("WAYMARK_DB_MAX_CONNECTIONS".into(), "8".into()),
        // Tests make many requests from one address in a moment; the rate limits have tests
        // of their own, which turn them on.
        (
            "WAYMARK_RATE_LIMIT_PER_SUBJECT_PER_MINUTE".into(),
            "0".into(),
        ),
        (
            "WAYMARK_RATE_LIMIT_PER_ADDRESS_PER_MINUTE".into(),
            "0".into(),
        ),
        ("WAYMARK_PUBLIC_RATE_LIMIT_PER_MINUTE".into(), "0".into()),
    ]);
    for (name, value) in extra {
        env.insert((*name).into(), (*value).into());
    }
    let settings = Settings::from_lookup(|name| env.get(name).cloned()).expect("settings");
    let tokens = settings.token_service().expect("token service");
    let app = Application::build(settings)
        .await
        .expect("application builds");
    let address = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    TestApp {
        address,
        client: Client::new(),
        database_url,
        service_database_url,
        signing_key_pem,
        signing_key_file: key_file,
        tokens,
    }
}

/// A service account made through the API, signed in.
pub struct ServiceAccountLogin {
    pub id: Uuid,
    pub client_secret: String,
    pub token: String,
    /// A token of one of its federation's administrators, who made it.
    pub admin: String,
}

/// A federation with two practices, made through the API.
pub struct Federation {
    pub id: Uuid,
    pub practices: [Uuid; 2],
}

impl TestApp {
    /// Another instance of the service on this test's database, signing and accepting the same
    /// tokens, as a second server behind a load balancer would.
    pub async fn another_instance(&self) -> TestApp {
        self.another_instance_with(&[]).await
    }

    /// [`Self::another_instance`] with extra environment settings.
    pub async fn another_instance_with(&self, extra: &[(&str, &str)]) -> TestApp {
        start_instance(
            self.database_url.clone(),
            self.service_database_url.clone(),
            self.signing_key_pem.clone(),
            self.signing_key_file.clone(),
            extra,
        )
        .await
    }

    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.client
            .request(method, format!("{}{}", self.address, path))
    }

    pub fn get(&self, path: &str) -> RequestBuilder {
        self.request(Method::GET, path)
    }

    pub fn post(&self, path: &str) -> RequestBuilder {
        self.request(Method::POST, path)
    }

    pub fn patch(&self, path: &str) -> RequestBuilder {
        self.request(Method::PATCH, path)
    }

    pub fn token(&self, principal: &Principal) -> String {
        self.tokens.issue(principal).expect("token").access_token
    }

    pub fn platform_admin(&self) -> String {
        self.token(&Principal {
            kind: PrincipalKind::User,
            subject: Uuid::now_v7(),
            federation_id: None,
            practice_id: None,
            organisation_id: None,
            roles: vec![Role::PlatformAdmin],
            scopes: vec![],
        })
    }

    /// A token for `role` in `federation` (and `practice` for practice roles).
    pub fn as_role(&self, role: Role, federation: Uuid, practice: Option<Uuid>) -> String {
        self.token(&Principal {
            kind: PrincipalKind::User,
            subject: Uuid::now_v7(),
            federation_id: Some(FederationId::from(federation)),
            practice_id: practice.map(PracticeId::from),
            organisation_id: (role == Role::Provider).then(|| OrganisationId::from(Uuid::now_v7())),
            roles: vec![role],
            scopes: vec![],
        })
    }

    /// A token of a service account of `federation` holding `scopes`: the account is made
    /// through the API by one of the federation's administrators and signs in with its client
    /// credentials, as an integration would (a service account's token is checked against its
    /// account on every request).
    pub async fn as_service_account(&self, federation: Uuid, scopes: &[ServiceScope]) -> String {
        self.service_account(federation, scopes).await.token
    }

    /// [`Self::as_service_account`], keeping the account's id and secret.
    pub async fn service_account(
        &self,
        federation: Uuid,
        scopes: &[ServiceScope],
    ) -> ServiceAccountLogin {
        let admin = self.as_role(Role::FederationAdmin, federation, None);
        let created = self
            .post("/v1/service-accounts")
            .bearer_auth(&admin)
            .json(&serde_json::json!({
                "name": format!("integration-{}", Uuid::now_v7().simple()),
                "scopes": scopes,
            }))
            .send()
            .await
            .expect("create a service account");
        assert_eq!(created.status(), 201, "service account created");
        let created: Value = created.json().await.expect("account");
        let client_id = created["client_id"].as_str().expect("client id").to_owned();
        let client_secret = created["client_secret"]
            .as_str()
            .expect("client secret")
            .to_owned();
        let token = self.client_credentials(&client_id, &client_secret).await;
        assert_eq!(token.status(), 200, "the new account signs in");
        let token: Value = token.json().await.expect("token");
        ServiceAccountLogin {
            id: created["id"].as_str().expect("id").parse().expect("uuid"),
            client_secret,
            token: token["access_token"].as_str().expect("token").to_owned(),
            admin,
        }
    }

    /// Signs a service account in with its client id and secret.
    pub async fn client_credentials(&self, client_id: &str, client_secret: &str) -> Response {
        self.post("/v1/auth/token")
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", client_id),
                ("client_secret", client_secret),
            ])
            .send()
            .await
            .expect("token request")
    }

    pub async fn create_federation(&self, slug: &str) -> Federation {
        let platform = self.platform_admin();
        let federation = self
            .post("/v1/federations")
            .bearer_auth(&platform)
            .json(&json!({"slug": slug, "name": format!("{slug} federation")}))
            .send()
            .await
            .expect("request");
        assert_eq!(
            federation.status(),
            201,
            "{}",
            federation.text().await.unwrap_or_default()
        );
        let id = id_of(federation).await;
        let admin = self.as_role(Role::FederationAdmin, id, None);
        let mut practices = [Uuid::nil(); 2];
        for (i, practice) in practices.iter_mut().enumerate() {
            let response = self
                .post("/v1/practices")
                .bearer_auth(&admin)
                .json(&json!({"ods_code": format!("A1000{i}"), "name": format!("{slug} practice {i}")}))
                .send()
                .await
                .expect("request");
            assert_eq!(response.status(), 201);
            *practice = id_of(response).await;
        }
        Federation { id, practices }
    }

    /// Creates a user through the API as `admin_token`; answers the response.
    pub async fn create_user(&self, admin_token: &str, body: Value) -> Response {
        self.post("/v1/users")
            .bearer_auth(admin_token)
            .json(&body)
            .send()
            .await
            .expect("request")
    }

    /// Runs the `waymark` binary with this app's database and signing key; answers its stdout.
    pub fn run_cli(&self, args: &[&str]) -> String {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_waymark"))
            .args(args)
            .env("DATABASE_URL", &self.service_database_url)
            .env("WAYMARK_MIGRATION_DATABASE_URL", &self.database_url)
            .env("WAYMARK_SIGNING_KEY_FILE", &self.signing_key_file)
            .env("RUST_LOG", "warn")
            .output()
            .expect("run waymark");
        assert!(
            output.status.success(),
            "waymark {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).expect("utf-8 output")
    }

    pub async fn sign_in(&self, username: &str, password: &str) -> Response {
        self.sign_in_as_from(self.post("/v1/auth/token"), username, password)
            .await
    }

    /// Signs in as if from `address`, behind a trusted proxy (`WAYMARK_TRUSTED_PROXIES`).
    pub async fn sign_in_from(&self, address: &str, username: &str, password: &str) -> Response {
        let request = self
            .post("/v1/auth/token")
            .header("X-Forwarded-For", address);
        self.sign_in_as_from(request, username, password).await
    }

    async fn sign_in_as_from(
        &self,
        request: RequestBuilder,
        username: &str,
        password: &str,
    ) -> Response {
        request
            .form(&[
                ("grant_type", "password"),
                ("username", username),
                ("password", password),
            ])
            .send()
            .await
            .expect("request")
    }

    /// Lets time pass until the slot began five minutes ago: its whole session moves earlier,
    /// as the schema owner (the service never moves a session).
    pub async fn let_the_slot_begin(&self, slot: Uuid) {
        let mut owner = PgConnection::connect(&self.database_url)
            .await
            .expect("connect");
        let (session, practice, delta): (Uuid, Uuid, f64) = sqlx::query_as(
            "SELECT session_id, practice_id, \
                    extract(epoch FROM starts_at - now() + interval '5 minutes')::float8 \
             FROM clinic_slots WHERE id = $1",
        )
        .bind(slot)
        .fetch_one(&mut owner)
        .await
        .expect("the slot");
        for table in ["clinic_slots", "clinic_sessions"] {
            let key = if table == "clinic_slots" {
                "session_id"
            } else {
                "id"
            };
            sqlx::query(&format!(
                // In UTC wall-clock time: Citus refuses timestamptz arithmetic (STABLE, as
                // it depends on the time zone) on columns in an UPDATE.
                "UPDATE {table} \
                 SET starts_at = ((starts_at AT TIME ZONE 'UTC') - $3 * interval '1 second') AT TIME ZONE 'UTC', \
                     ends_at = ((ends_at AT TIME ZONE 'UTC') - $3 * interval '1 second') AT TIME ZONE 'UTC' \
                 WHERE practice_id = $1 AND {key} = $2"
            ))
            .bind(practice)
            .bind(session)
            .bind(delta)
            .execute(&mut owner)
            .await
            .expect("move the session");
        }
    }

    /// A connection to this test's database as the service's own login, with no tenant set.
    /// Tests probe with it what the policies let through, so its statements may ask across
    /// federations (and so, on Citus, across shards) as the service's own never do.
    pub async fn connect_as_service_role(&self) -> PgConnection {
        let mut conn = PgConnection::connect(&self.service_database_url)
            .await
            .expect("connect");
        if CitusCluster::from_env().is_some() {
            conn.execute("SET citus.multi_task_query_log_level = off")
                .await
                .expect("allow multi-shard statements");
        }
        conn
    }
}

pub async fn id_of(response: Response) -> Uuid {
    let body: Value = response.json().await.expect("json body");
    body["id"]
        .as_str()
        .and_then(|id| id.parse().ok())
        .expect("an id")
}

/// Asserts a problem+json response with `status` and `code`, and answers its body.
pub async fn assert_problem(response: Response, status: u16, code: &str) -> Value {
    assert_eq!(
        response.status().as_u16(),
        status,
        "status of {}",
        response.url()
    );
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    assert_eq!(content_type, "application/problem+json");
    let body: Value = response.json().await.expect("problem body is JSON");
    assert_eq!(body["code"], code, "problem: {body}");
    assert_eq!(body["status"], status);
    assert!(body["type"].as_str().is_some_and(|t| t.ends_with(code)));
    assert!(body["detail"].as_str().is_some_and(|d| !d.is_empty()));
    body
}
