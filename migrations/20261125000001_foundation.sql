-- Foundation: the runtime role, tenant settings, federations, practices, users, service accounts
-- and the credentials they sign in with.

-- The service runs its queries as waymark_app: it owns no table and does not bypass row-level
-- security. The connecting user switches to it on connect (SET ROLE), so it must be a member.
DO $$
BEGIN
    CREATE ROLE waymark_app NOLOGIN NOBYPASSRLS;
EXCEPTION
    -- Roles are cluster-wide: another database (or a concurrent migration) may have made it.
    WHEN duplicate_object OR unique_violation THEN NULL;
END
$$;

DO $$
BEGIN
    IF NOT pg_has_role(current_user, 'waymark_app', 'MEMBER') THEN
        EXECUTE format('GRANT waymark_app TO %I', current_user);
    END IF;
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
    id             uuid PRIMARY KEY,
    federation_id  uuid NOT NULL REFERENCES federations (id),
    ods_code       text NOT NULL,
    name           text NOT NULL,
    active         boolean NOT NULL DEFAULT true,
    version        integer NOT NULL DEFAULT 1,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT practices_federation_id_id_key UNIQUE (federation_id, id),
    CONSTRAINT practices_federation_id_ods_code_key UNIQUE (federation_id, ods_code)
);

ALTER TABLE practices ENABLE ROW LEVEL SECURITY;
ALTER TABLE practices FORCE ROW LEVEL SECURITY;
CREATE POLICY practices_tenant ON practices TO waymark_app
    USING (federation_id = waymark_current_federation())
    WITH CHECK (federation_id = waymark_current_federation());

-- Users belong to a federation (platform administrators to none) and, for practice roles, to one
-- practice; a provider user belongs to one organisation of the federation's directory.
CREATE TABLE users (
    id               uuid PRIMARY KEY,
    federation_id    uuid REFERENCES federations (id),
    practice_id      uuid,
    organisation_id  uuid,
    email            text NOT NULL CONSTRAINT users_email_key UNIQUE,
    display_name     text NOT NULL,
    roles            text[] NOT NULL,
    active           boolean NOT NULL DEFAULT true,
    version          integer NOT NULL DEFAULT 1,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT users_practice_fkey FOREIGN KEY (federation_id, practice_id)
        REFERENCES practices (federation_id, id),
    CONSTRAINT users_roles_known CHECK (
        cardinality(roles) > 0 AND roles <@ ARRAY['platform_admin', 'federation_admin', 'commissioner',
            'practice_admin', 'clinician', 'volunteer', 'provider']::text[]),
    CONSTRAINT users_platform_admins_have_no_federation CHECK (
        (federation_id IS NULL) = (roles = ARRAY['platform_admin']::text[]))
);

CREATE INDEX users_federation_practice_idx ON users (federation_id, practice_id, id);

ALTER TABLE users ENABLE ROW LEVEL SECURITY;
ALTER TABLE users FORCE ROW LEVEL SECURITY;
CREATE POLICY users_tenant ON users TO waymark_app
    USING (federation_id = waymark_current_federation()
           OR (federation_id IS NULL AND waymark_platform_scope()))
    WITH CHECK (federation_id = waymark_current_federation()
           OR (federation_id IS NULL AND waymark_platform_scope()));

CREATE TABLE service_accounts (
    id             uuid PRIMARY KEY,
    federation_id  uuid NOT NULL REFERENCES federations (id),
    name           text NOT NULL,
    scopes         text[] NOT NULL,
    active         boolean NOT NULL DEFAULT true,
    version        integer NOT NULL DEFAULT 1,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT service_accounts_federation_id_name_key UNIQUE (federation_id, name),
    CONSTRAINT service_accounts_scopes_known CHECK (
        scopes <@ ARRAY['directory:write', 'stats:read', 'events:read']::text[])
);

ALTER TABLE service_accounts ENABLE ROW LEVEL SECURITY;
ALTER TABLE service_accounts FORCE ROW LEVEL SECURITY;
CREATE POLICY service_accounts_tenant ON service_accounts TO waymark_app
    USING (federation_id = waymark_current_federation())
    WITH CHECK (federation_id = waymark_current_federation());

-- What a principal signs in with. Read before any tenant is known (that is what signing in
-- finds out), so it carries no tenant data beyond the federation to scope the next query to.
CREATE TABLE credentials (
    login               text PRIMARY KEY,
    user_id             uuid UNIQUE REFERENCES users (id) ON DELETE CASCADE,
    service_account_id  uuid UNIQUE REFERENCES service_accounts (id) ON DELETE CASCADE,
    federation_id       uuid REFERENCES federations (id),
    secret_hash         text NOT NULL,
    updated_at          timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT credentials_one_principal CHECK (num_nonnulls(user_id, service_account_id) = 1)
);

-- Failed sign-ins, counted per login and per client address to throttle guessing.
CREATE TABLE login_failures (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    login      text NOT NULL,
    address    text NOT NULL,
    failed_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX login_failures_login_idx ON login_failures (login, failed_at);
CREATE INDEX login_failures_address_idx ON login_failures (address, failed_at);
CREATE INDEX login_failures_failed_at_idx ON login_failures (failed_at);

GRANT SELECT, INSERT, UPDATE ON federations, practices, users, service_accounts TO waymark_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON credentials TO waymark_app;
GRANT SELECT, INSERT, DELETE ON login_failures TO waymark_app;
-- Readiness compares the applied migrations with those the binary carries.
GRANT SELECT ON _sqlx_migrations TO waymark_app;
