//! The role the service logs in as. It holds `waymark_app`'s rights and nothing else: it is not a
//! superuser, cannot bypass row-level security, create roles or databases, owns nothing and is a
//! member of no other role. So no statement a connection runs (`RESET ROLE`, `SET ROLE`,
//! `SET SESSION AUTHORIZATION`) can step outside the policies: there is no more privileged role
//! to return to. Migrations run as the schema owner, a different login.

use sqlx::{PgConnection, PgPool};

#[derive(Debug, thiserror::Error)]
pub enum LoginRoleError {
    #[error("{0}")]
    Unfit(String),
    #[error("the service's database URL: {0}")]
    Url(String),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// The user name and password a connection URL logs in with.
struct Login {
    name: String,
    password: Option<String>,
}

fn login_of(url: &str) -> Result<Login, LoginRoleError> {
    let parsed = url::Url::parse(url).map_err(|e| LoginRoleError::Url(e.to_string()))?;
    let decode = |raw: &str| {
        percent_encoding::percent_decode_str(raw)
            .decode_utf8_lossy()
            .into_owned()
    };
    let name = decode(parsed.username());
    if name.is_empty() {
        return Err(LoginRoleError::Url(
            "names no user; the service must log in as a role of its own".into(),
        ));
    }
    Ok(Login {
        name,
        password: parsed.password().map(decode),
    })
}

#[derive(sqlx::FromRow)]
struct RoleFacts {
    superuser: bool,
    bypass: bool,
    createrole: bool,
    createdb: bool,
    inherit: bool,
    app: bool,
    others: Option<String>,
    owned: i64,
}

/// Why the role `name` is not fit to be the service's login, if it is not. Read on any
/// connection to the database.
async fn unfitness(conn: &mut PgConnection, name: &str) -> Result<Option<String>, sqlx::Error> {
    let row: Option<RoleFacts> = sqlx::query_as(
        "SELECT r.rolsuper AS superuser, r.rolbypassrls AS bypass, r.rolcreaterole AS createrole, \
                r.rolcreatedb AS createdb, r.rolinherit AS inherit, \
                pg_has_role(r.oid, 'waymark_app', 'USAGE') AS app, \
                (SELECT string_agg(g.rolname, ', ' ORDER BY g.rolname) \
                 FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid \
                 WHERE m.member = r.oid AND g.rolname <> 'waymark_app') AS others, \
                (SELECT count(*) FROM pg_class c WHERE c.relowner = r.oid) \
                  + (SELECT count(*) FROM pg_proc p WHERE p.proowner = r.oid) \
                  + (SELECT count(*) FROM pg_namespace n WHERE n.nspowner = r.oid) AS owned \
         FROM pg_roles r WHERE r.rolname = $1",
    )
    .bind(name)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(RoleFacts {
        superuser,
        bypass,
        createrole,
        createdb,
        inherit,
        app,
        others,
        owned,
    }) = row
    else {
        return Ok(Some(format!("role {name} does not exist")));
    };
    let mut faults = Vec::new();
    if superuser {
        faults.push("is a superuser".to_owned());
    }
    if bypass {
        faults.push("bypasses row-level security".to_owned());
    }
    if createrole {
        faults.push("may create roles".to_owned());
    }
    if createdb {
        faults.push("may create databases".to_owned());
    }
    if !inherit {
        faults.push("does not inherit the rights of its roles".to_owned());
    }
    if !app {
        faults.push("is not a member of waymark_app".to_owned());
    }
    if let Some(others) = others {
        faults.push(format!("is a member of {others}"));
    }
    if owned > 0 {
        faults.push(format!("owns {owned} objects in this database"));
    }
    Ok((!faults.is_empty()).then(|| {
        format!(
            "role {name} {}; the service must log in as a role holding only waymark_app's rights \
             (README.md, Database roles)",
            faults.join(", ")
        )
    }))
}

/// Makes sure the role `service_url` logs in as exists, holds waymark_app and is fit to be the
/// service's login; run by the schema owner on `owner` after the migrations. A role made here is
/// given the URL's password; an existing one is given it again, so changing the URL rotates it.
pub async fn provision(owner: &mut PgConnection, service_url: &str) -> Result<(), LoginRoleError> {
    let login = login_of(service_url)?;
    let owner_name: String = sqlx::query_scalar("SELECT current_user::text")
        .fetch_one(&mut *owner)
        .await?;
    if owner_name == login.name {
        return Err(LoginRoleError::Unfit(format!(
            "the service's DATABASE_URL logs in as {owner_name}, the schema owner that runs the \
             migrations; give it a login of its own (README.md, Database roles)"
        )));
    }
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)")
            .bind(&login.name)
            .fetch_one(&mut *owner)
            .await?;
    if !exists {
        let create: String = sqlx::query_scalar(
            "SELECT format('CREATE ROLE %I LOGIN INHERIT NOSUPERUSER NOCREATEDB NOCREATEROLE \
                            NOBYPASSRLS NOREPLICATION IN ROLE waymark_app PASSWORD %L', $1, $2)",
        )
        .bind(&login.name)
        .bind(&login.password)
        .fetch_one(&mut *owner)
        .await?;
        match sqlx::raw_sql(&create).execute(&mut *owner).await {
            Ok(_) => tracing::info!(role = %login.name, "created the service's login role"),
            // Roles are cluster-wide: a concurrent migration of another database made it.
            Err(sqlx::Error::Database(e))
                if matches!(e.code().as_deref(), Some("42710") | Some("23505")) => {}
            Err(e) => return Err(e.into()),
        }
    } else {
        let member: bool = sqlx::query_scalar("SELECT pg_has_role($1, 'waymark_app', 'MEMBER')")
            .bind(&login.name)
            .fetch_one(&mut *owner)
            .await?;
        if !member {
            let grant: String = sqlx::query_scalar("SELECT format('GRANT waymark_app TO %I', $1)")
                .bind(&login.name)
                .fetch_one(&mut *owner)
                .await?;
            sqlx::raw_sql(&grant).execute(&mut *owner).await?;
        }
        if login.password.is_some() {
            let alter: String =
                sqlx::query_scalar("SELECT format('ALTER ROLE %I PASSWORD %L', $1, $2)")
                    .bind(&login.name)
                    .bind(&login.password)
                    .fetch_one(&mut *owner)
                    .await?;
            sqlx::raw_sql(&alter).execute(&mut *owner).await?;
        }
    }
    match unfitness(owner, &login.name).await? {
        None => Ok(()),
        Some(why) => Err(LoginRoleError::Unfit(why)),
    }
}

/// Makes sure every worker of a Citus cluster has the service's login, a member of waymark_app
/// with the URL's password, as the coordinator has it. The coordinator connects to the workers
/// as the session's own role, and Citus gives a node it adds only the roles it created itself
/// (waymark_app, which the tables' grants name), not a login that existed before, so this runs
/// with the migrations and again after a worker is added (deploy/citus/README.md).
pub async fn provision_on_workers(
    owner: &mut PgConnection,
    service_url: &str,
) -> Result<(), LoginRoleError> {
    let login = login_of(service_url)?;
    // Built here, with the name and password quoted by format(); Citus must not pass the
    // CREATE ROLE on again from a worker that has the metadata.
    let command: String = sqlx::query_scalar(
        r#"SELECT format($command$
               DO $body$
               BEGIN
                   PERFORM set_config('citus.enable_ddl_propagation', 'off', true);
                   IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = %L) THEN
                       CREATE ROLE %I LOGIN INHERIT NOSUPERUSER NOCREATEDB NOCREATEROLE
                           NOBYPASSRLS NOREPLICATION IN ROLE waymark_app %s;
                   ELSE
                       GRANT waymark_app TO %I;
                       %s
                   END IF;
               END
               $body$$command$,
               $1, $1,
               CASE WHEN $2::text IS NULL THEN '' ELSE format('PASSWORD %L', $2) END,
               $1,
               CASE WHEN $2::text IS NULL THEN '' ELSE format('ALTER ROLE %I PASSWORD %L;', $1, $2) END)"#,
    )
    .bind(&login.name)
    .bind(&login.password)
    .fetch_one(&mut *owner)
    .await?;
    let failures: Vec<(String, i32, String)> = sqlx::query_as(
        "SELECT nodename::text, nodeport, result FROM run_command_on_workers($1) WHERE NOT success",
    )
    .bind(&command)
    .fetch_all(&mut *owner)
    .await?;
    match failures.first() {
        None => Ok(()),
        Some((host, port, why)) => Err(LoginRoleError::Unfit(format!(
            "could not give the worker {host}:{port} the service's login {}: {why}",
            login.name
        ))),
    }
}

/// Refuses to serve over a login that could step outside row-level security: the service's
/// own check of the role it connected as, at start.
pub async fn check(pool: &PgPool) -> Result<(), LoginRoleError> {
    let mut conn = pool.acquire().await?;
    let migrated: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'waymark_app')")
            .fetch_one(&mut *conn)
            .await?;
    if !migrated {
        return Err(LoginRoleError::Unfit(
            "the database is not migrated (no waymark_app role); run `waymark migrate`".into(),
        ));
    }
    let name: String = sqlx::query_scalar("SELECT current_user::text")
        .fetch_one(&mut *conn)
        .await?;
    match unfitness(conn.as_mut(), &name).await? {
        None => Ok(()),
        Some(why) => Err(LoginRoleError::Unfit(why)),
    }
}

#[cfg(test)]
mod tests {
    use super::login_of;

    #[test]
    fn reads_the_user_and_password_of_a_url() {
        let login = login_of("postgres://waymark_service:p%40ss%2Fw@db:5432/waymark").unwrap();
        assert_eq!(login.name, "waymark_service");
        assert_eq!(login.password.as_deref(), Some("p@ss/w"));
        let login = login_of("postgres://svc@127.0.0.1/waymark?sslmode=disable").unwrap();
        assert_eq!(login.password, None);
        assert!(login_of("postgres://127.0.0.1/waymark").is_err());
    }
}
