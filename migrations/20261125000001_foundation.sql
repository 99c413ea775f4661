-- Foundation: the runtime role, tenant settings, federations, practices, users, service accounts
-- and the credentials they sign in with.
--
-- Two kinds of table. Platform tables (federations, platform administrators, the credentials and
-- failed sign-ins read before any tenant is known) belong to no federation; on Citus they are
-- reference tables, copied to every node. Every other table is a tenant table: federation_id
-- leads its primary key, its unique constraints and its foreign keys to other tenant tables, so
-- on Citus it is distributed by federation and a federation's rows, and every join between them,
-- stay on one shard. The schema rules test (tests/api/schema_rules.rs) reads the catalog and
-- holds every migration to this.

-- The service runs its queries with waymark_app's rights: it owns no table and does not bypass
-- row-level security. The service logs in as a role of its own that is a member of waymark_app
-- and of nothing else (`waymark migrate` makes it: crates/persistence/src/login_role.rs).
DO $$
BEGIN
    CREATE ROLE waymark_app NOLOGIN NOBYPASSRLS;
EXCEPTION
    -- Roles are cluster-wide: another database (or a concurrent migration) may have made it.
    WHEN duplicate_object OR unique_violation THEN NULL;
END
$$;

-- The tenant of the current transaction, set with set_config(..., true) at BEGIN and gone at its
-- end. Unset reads as NULL, which matches no row.
CREATE FUNCTION waymark_current_federation() RETURNS uuid
    LANGUAGE sql STABLE
    AS $$ SELECT nullif(current_setting('waymark.federation_id', true), '')::uuid $$;

CREATE FUNCTION waymark_current_practice() RETURNS uuid
    LANGUAGE sql STABLE
    AS $$ SELECT nullif(current_setting('waymark.practice_id', true), '')::uuid $$;

-- True only in transactions opened for a platform administrator.
CREATE FUNCTION waymark_platform_scope() RETURNS boolean
    LANGUAGE sql STABLE
    AS $$ SELECT coalesce(current_setting('waymark.platform', true) = 'on', false) $$;

CREATE TABLE federations (
    id          uuid PRIMARY KEY,
    slug        text NOT NULL CONSTRAINT federations_slug_key UNIQUE,
    name        text NOT NULL,
    version     integer NOT NULL DEFAULT 1,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

ALTER TABLE federations ENABLE ROW LEVEL SECURITY;
ALTER TABLE federations FORCE ROW LEVEL SECURITY;
CREATE POLICY federations_read ON federations FOR SELECT TO waymark_app
    USING (waymark_platform_scope() OR id = waymark_current_federation());
CREATE POLICY federations_create ON federations FOR INSERT TO waymark_app
    WITH CHECK (waymark_platform_scope());
CREATE POLICY federations_update ON federations FOR UPDATE TO waymark_app
    USING (waymark_platform_scope()) WITH CHECK (waymark_platform_scope());

-- Practices are shared reference data of their federation; (federation_id, id) is the target of
-- every practice-partitioned table's foreign key.
CREATE TABLE practices (
    federation_id  uuid NOT NULL REFERENCES federations (id),
    id             uuid NOT NULL,
    ods_code       text NOT NULL,
    name           text NOT NULL,
    active         boolean NOT NULL DEFAULT true,
    version        integer NOT NULL DEFAULT 1,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (federation_id, id),
    CONSTRAINT practices_federation_id_ods_code_key UNIQUE (federation_id, ods_code)
);

ALTER TABLE practices ENABLE ROW LEVEL SECURITY;
ALTER TABLE practices FORCE ROW LEVEL SECURITY;
CREATE POLICY practices_tenant ON practices TO waymark_app
    USING (federation_id = waymark_current_federation())
    WITH CHECK (federation_id = waymark_current_federation());

-- Platform administrators belong to no federation.
CREATE TABLE platform_users (
    id            uuid PRIMARY KEY,
    email         text NOT NULL CONSTRAINT platform_users_email_key UNIQUE,
    display_name  text NOT NULL,
    active        boolean NOT NULL DEFAULT true,
    version       integer NOT NULL DEFAULT 1,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);

ALTER TABLE platform_users ENABLE ROW LEVEL SECURITY;
ALTER TABLE platform_users FORCE ROW LEVEL SECURITY;
CREATE POLICY platform_users_platform ON platform_users TO waymark_app
    USING (waymark_platform_scope()) WITH CHECK (waymark_platform_scope());

-- Users of a federation: for practice roles, of one practice; a provider user, of one
-- organisation of the federation's directory. An email is one login across the platform, which
-- the credentials' key holds to; here it is unique within the federation.
CREATE TABLE users (
    federation_id    uuid NOT NULL REFERENCES federations (id),
    id               uuid NOT NULL,
    practice_id      uuid,
    organisation_id  uuid,
    email            text NOT NULL,
    display_name     text NOT NULL,
    roles            text[] NOT NULL,
    active           boolean NOT NULL DEFAULT true,
    version          integer NOT NULL DEFAULT 1,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (federation_id, id),
    CONSTRAINT users_email_key UNIQUE (federation_id, email),
    CONSTRAINT users_practice_fkey FOREIGN KEY (federation_id, practice_id)
        REFERENCES practices (federation_id, id),
    CONSTRAINT users_roles_known CHECK (
        cardinality(roles) > 0 AND roles <@ ARRAY['federation_admin', 'commissioner',
            'practice_admin', 'clinician', 'volunteer', 'provider']::text[])
);

CREATE INDEX users_federation_practice_idx ON users (federation_id, practice_id, id);

ALTER TABLE users ENABLE ROW LEVEL SECURITY;
ALTER TABLE users FORCE ROW LEVEL SECURITY;
CREATE POLICY users_tenant ON users TO waymark_app
    USING (federation_id = waymark_current_federation())
    WITH CHECK (federation_id = waymark_current_federation());

CREATE TABLE service_accounts (
    federation_id  uuid NOT NULL REFERENCES federations (id),
    id             uuid NOT NULL,
    name           text NOT NULL,
    scopes         text[] NOT NULL,
    active         boolean NOT NULL DEFAULT true,
    version        integer NOT NULL DEFAULT 1,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (federation_id, id),
    CONSTRAINT service_accounts_federation_id_name_key UNIQUE (federation_id, name),
    CONSTRAINT service_accounts_scopes_known CHECK (
        scopes <@ ARRAY['directory:write', 'stats:read', 'events:read']::text[])
);

ALTER TABLE service_accounts ENABLE ROW LEVEL SECURITY;
ALTER TABLE service_accounts FORCE ROW LEVEL SECURITY;
CREATE POLICY service_accounts_tenant ON service_accounts TO waymark_app
    USING (federation_id = waymark_current_federation())
    WITH CHECK (federation_id = waymark_current_federation());

-- What a principal signs in with: a platform table, read before any tenant is known (that is
-- what signing in finds out), so it carries no tenant data beyond the federation to scope the
-- next query to. A reference table cannot hold a foreign key to a distributed one, so the
-- principal is named, not referenced: the user or service account and its credential are
-- written in one transaction, and neither is ever deleted.
CREATE TABLE credentials (
    login               text PRIMARY KEY,
    principal_kind      text NOT NULL CHECK (principal_kind IN ('platform_user', 'user', 'service_account')),
    principal_id        uuid NOT NULL,
    federation_id       uuid REFERENCES federations (id),
    secret_hash         text NOT NULL,
    updated_at          timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT credentials_principal_key UNIQUE (principal_id),
    CONSTRAINT credentials_federation_by_kind CHECK (
        (principal_kind = 'platform_user') = (federation_id IS NULL))
);

-- Failed sign-ins, counted per login and per client address to throttle guessing.
CREATE TABLE login_failures (
    id         uuid PRIMARY KEY,
    login      text NOT NULL,
    address    text NOT NULL,
    failed_at  timestamptz NOT NULL
);
CREATE INDEX login_failures_login_idx ON login_failures (login, failed_at);
CREATE INDEX login_failures_address_idx ON login_failures (address, failed_at);
CREATE INDEX login_failures_failed_at_idx ON login_failures (failed_at);

GRANT SELECT, INSERT, UPDATE ON federations, platform_users, practices, users, service_accounts
    TO waymark_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON credentials TO waymark_app;
GRANT SELECT, INSERT, DELETE ON login_failures TO waymark_app;
-- Readiness compares the applied migrations with those the binary carries.
GRANT SELECT ON _sqlx_migrations TO waymark_app;
