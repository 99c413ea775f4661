-- The federation's shared directory: provider organisations and the services they run.
-- Need categories are a fixed vocabulary (waymark_domain::directory::NeedCategory) stored by code.

-- Great-circle distance by the haversine formula, as GeoPoint::distance_km computes it.
CREATE FUNCTION waymark_distance_km(lat1 float8, lng1 float8, lat2 float8, lng2 float8) RETURNS float8
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$
        SELECT 2 * 6371.0088 * asin(least(1, sqrt(
            power(sin(radians(lat2 - lat1) / 2), 2)
            + cos(radians(lat1)) * cos(radians(lat2)) * power(sin(radians(lng2 - lng1) / 2), 2))))
    $$;

CREATE TABLE organisations (
    federation_id    uuid NOT NULL REFERENCES federations (id),
    id               uuid NOT NULL,
    external_id      text,
    name             text NOT NULL,
    charity_number   text,
    company_number   text,
    website          text,
    email            text,
    phone            text,
    contact_name     text,
    payee_reference  text,
    active           boolean NOT NULL DEFAULT true,
    version          integer NOT NULL DEFAULT 1,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (federation_id, id),
    CONSTRAINT organisations_federation_id_external_id_key UNIQUE (federation_id, external_id)
);
CREATE INDEX organisations_federation_name_idx ON organisations (federation_id, name, id);

ALTER TABLE organisations ENABLE ROW LEVEL SECURITY;
ALTER TABLE organisations FORCE ROW LEVEL SECURITY;
CREATE POLICY organisations_tenant ON organisations TO waymark_app
    USING (federation_id = waymark_current_federation())
    WITH CHECK (federation_id = waymark_current_federation());

CREATE TABLE services (
    federation_id        uuid NOT NULL REFERENCES federations (id),
    id                   uuid NOT NULL,
    organisation_id      uuid NOT NULL,
    external_id          text,
    name                 text NOT NULL,
    description          text NOT NULL,
    need_categories      text[] NOT NULL,
    eligibility          text,
    delivery_modes       text[] NOT NULL,
    address              text,
    postcode             text,
    latitude             float8,
    longitude            float8,
    opening_times        text,
    capacity             integer,
    accepting_referrals  boolean NOT NULL,
    cost_to_patient      text NOT NULL,
    contact_email        text,
    contact_phone        text,
    website              text,
    active               boolean NOT NULL DEFAULT true,
    version              integer NOT NULL DEFAULT 1,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    search               tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('english', name), 'A') || setweight(to_tsvector('english', description), 'B')
    ) STORED,
    PRIMARY KEY (federation_id, id),
    CONSTRAINT services_organisation_fkey FOREIGN KEY (federation_id, organisation_id)
        REFERENCES organisations (federation_id, id),
    CONSTRAINT services_federation_id_external_id_key UNIQUE (federation_id, external_id),
    CONSTRAINT services_location_pair CHECK ((latitude IS NULL) = (longitude IS NULL)),
    CONSTRAINT services_need_categories_present CHECK (cardinality(need_categories) > 0),
    CONSTRAINT services_delivery_modes_known CHECK (
        cardinality(delivery_modes) > 0 AND delivery_modes <@ ARRAY['in_person', 'phone', 'online']::text[]),
    CONSTRAINT services_capacity_not_negative CHECK (capacity IS NULL OR capacity >= 0)
);
CREATE INDEX services_search_idx ON services USING gin (search);
CREATE INDEX services_need_categories_idx ON services USING gin (need_categories);
CREATE INDEX services_federation_name_idx ON services (federation_id, name, id);
CREATE INDEX services_federation_organisation_idx ON services (federation_id, organisation_id);
CREATE INDEX services_location_idx ON services (federation_id, latitude, longitude) WHERE latitude IS NOT NULL;

-- Services are public directory data (the Open Referral UK read API publishes them without a
-- token), but they are still one federation's: the read API resolves the federation first and
-- reads inside it. PostgreSQL applies a row-level security condition before any condition that
-- is not leakproof, and the full-text and array operators (@@, &&) are not, so a search cannot
-- start from the text or category indexes: it starts from the federation's rows (the leading
-- federation_id of its indexes) and filters them. Answers are kept in the directory cache, so
-- that cost is paid once per directory version and query.
ALTER TABLE services ENABLE ROW LEVEL SECURITY;
ALTER TABLE services FORCE ROW LEVEL SECURITY;
CREATE POLICY services_tenant ON services TO waymark_app
    USING (federation_id = waymark_current_federation())
    WITH CHECK (federation_id = waymark_current_federation());

GRANT SELECT, INSERT, UPDATE ON organisations, services TO waymark_app;

-- A provider user belongs to an organisation of their own federation's directory.
ALTER TABLE users ADD CONSTRAINT users_organisation_fkey FOREIGN KEY (federation_id, organisation_id)
    REFERENCES organisations (federation_id, id);
