//! The service's database login holds `waymark_app`'s rights and nothing else, so no statement a
//! connection runs takes it past row-level security; the service refuses to start as any other
//! kind of login, and `waymark migrate` refuses to make one.

use crate::helpers::{spawn_app, TestApp};
use sqlx::{Connection, Executor, PgConnection};
use std::collections::HashMap;
use uuid::Uuid;
use waymark_http::{Application, Settings};

async fn build_with_login(app: &TestApp, database_url: &str) -> Result<Application, String> {
    let env: HashMap<&str, String> = HashMap::from([
        ("DATABASE_URL", database_url.to_owned()),
        ("WAYMARK_MIGRATION_DATABASE_URL", app.database_url.clone()),
        ("WAYMARK_ADDR", "127.0.0.1:0".to_owned()),
        (
            "WAYMARK_SIGNING_KEY_FILE",
            app.signing_key_file.display().to_string(),
        ),
    ]);
    let settings = Settings::from_lookup(|name| env.get(name).cloned()).expect("settings");
    Application::build(settings)
        .await
        .map_err(|e| e.to_string())
}

/// The service's URL of this test's database, logging in as `login`.
fn login_url(app: &TestApp, login: &str) -> String {
    let (scheme, rest) = app.service_database_url.split_once("://").unwrap();
    let host = rest.split_once('@').map_or(rest, |(_, host)| host);
    format!("{scheme}://{login}@{host}")
}

/// A role made for one test (roles are cluster-wide), dropped at the end of it.
struct ScratchRole {
    owner: PgConnection,
    name: String,
}

impl ScratchRole {
    async fn new(app: &TestApp, attributes: &str) -> Self {
        let mut owner = PgConnection::connect(&app.database_url).await.unwrap();
        let name = format!("waymark_scratch_{}", Uuid::now_v7().simple());
        owner
            .execute(format!("CREATE ROLE {name} LOGIN {attributes}").as_str())
            .await
            .unwrap();
        ScratchRole { owner, name }
    }

    fn url(&self, app: &TestApp) -> String {
        login_url(app, &self.name)
    }

    async fn drop(mut self) {
        self.owner
            .execute(format!("DROP OWNED BY {0}; DROP ROLE {0}", self.name).as_str())
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn no_statement_takes_the_service_login_past_row_level_security() {
    let app = spawn_app().await;
    let federation = app.create_federation("north").await;
    let mut conn = app.connect_as_service_role().await;
    let (superuser, bypass): (bool, bool) =
        sqlx::query_as("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user")
            .fetch_one(&mut conn)
            .await
            .unwrap();
    assert!(!superuser && !bypass);

    // There is no more privileged role behind the login to return to.
    conn.execute("RESET ROLE").await.unwrap();
    conn.execute("RESET SESSION AUTHORIZATION").await.unwrap();
    for table in ["practices", "users", "audit_events"] {
        let count: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {table}"))
            .fetch_one(&mut conn)
            .await
            .unwrap();
        assert_eq!(count, 0, "{table} is invisible without a tenant");
    }
    for escape in [
        "SET ROLE postgres",
        "SET SESSION AUTHORIZATION postgres",
        "ALTER TABLE practices NO FORCE ROW LEVEL SECURITY",
        "CREATE ROLE waymark_escape LOGIN SUPERUSER",
    ] {
        assert!(
            conn.execute(escape).await.is_err(),
            "the service login may not run {escape}"
        );
    }
    // With its tenant set it sees that tenant, as the service does.
    let mut tx = conn.begin().await.unwrap();
    tx.execute(format!("SET LOCAL waymark.federation_id = '{}'", federation.id).as_str())
        .await
        .unwrap();
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM practices")
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    assert_eq!(count, 2);
}

#[tokio::test]
async fn the_service_will_not_start_as_the_schema_owner_or_a_privileged_login() {
    let app = spawn_app().await;
    let error = build_with_login(&app, &app.database_url)
        .await
        .err()
        .expect("the owner is refused");
    assert!(error.contains("is a superuser"), "{error}");
    assert!(error.contains("only waymark_app's rights"), "{error}");

    let role = ScratchRole::new(&app, "BYPASSRLS IN ROLE waymark_app").await;
    let error = build_with_login(&app, &role.url(&app))
        .await
        .err()
        .expect("a login that bypasses row-level security is refused");
    assert!(error.contains("bypasses row-level security"), "{error}");
    role.drop().await;

    let role = ScratchRole::new(&app, "").await;
    let error = build_with_login(&app, &role.url(&app))
        .await
        .err()
        .expect("a login without waymark_app is refused");
    assert!(error.contains("is not a member of waymark_app"), "{error}");
    role.drop().await;

    // The login the migrations made is accepted, as every other test shows by running.
    assert!(build_with_login(&app, &app.service_database_url)
        .await
        .is_ok());
}

#[tokio::test]
async fn migrate_makes_the_login_and_refuses_an_unfit_one() {
    let app = spawn_app().await;
    let same = waymark_persistence::migrate(&app.database_url, &app.database_url)
        .await
        .expect_err("the owner cannot be the service's login");
    assert!(same.to_string().contains("the schema owner"), "{same}");

    let role = ScratchRole::new(&app, "CREATEDB").await;
    let unfit = waymark_persistence::migrate(&app.database_url, &role.url(&app))
        .await
        .expect_err("a login that may create databases is refused");
    assert!(
        unfit.to_string().contains("may create databases"),
        "{unfit}"
    );
    role.drop().await;

    // A login named for the first time is made, with the URL's password, holding waymark_app.
    let name = format!("waymark_scratch_{}", Uuid::now_v7().simple());
    let url = login_url(&app, &format!("{name}:s%40cret"));
    waymark_persistence::migrate(&app.database_url, &url)
        .await
        .expect("the new login is made");
    let mut owner = PgConnection::connect(&app.database_url).await.unwrap();
    let (can_login, has_password, app_rights): (bool, bool, bool) = sqlx::query_as(
        "SELECT rolcanlogin, rolpassword IS NOT NULL, pg_has_role(oid, 'waymark_app', 'USAGE') \
         FROM pg_authid WHERE rolname = $1",
    )
    .bind(&name)
    .fetch_one(&mut owner)
    .await
    .unwrap();
    assert!(can_login && has_password && app_rights);
    let service = build_with_login(&app, &url).await;
    assert!(service.is_ok(), "{:?}", service.err());
    owner
        .execute(format!("DROP ROLE {name}").as_str())
        .await
        .unwrap();
}
