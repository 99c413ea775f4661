-- What Open Referral UK filters services by: the ages a service is for (whole years, either end
-- open) and its regular weekly opening hours (waymark_domain::directory::schedule), kept beside
-- the free-text eligibility and opening_times.

ALTER TABLE services
    ADD COLUMN minimum_age smallint,
    ADD COLUMN maximum_age smallint,
    ADD CONSTRAINT services_ages_in_range CHECK (
        minimum_age BETWEEN 0 AND 130 AND maximum_age BETWEEN 0 AND 130),
    ADD CONSTRAINT services_ages_in_order CHECK (minimum_age <= maximum_age);

-- The profile's minimum_age filter keeps services whose minimum (0 when none is named) is at
-- least the value; its maximum_age filter those that name a maximum of at most the value.
CREATE INDEX services_minimum_age_idx ON services (federation_id, (coalesce(minimum_age, 0)))
    WHERE active;
CREATE INDEX services_maximum_age_idx ON services (federation_id, maximum_age)
    WHERE active AND maximum_age IS NOT NULL;

-- One row per opening period: a day (ISO 8601, 1 Monday to 7 Sunday) from opens_at to closes_at,
-- UK local time, to the minute. The domain also keeps a service's periods from overlapping.
CREATE TABLE service_schedules (
    federation_id  uuid NOT NULL,
    service_id     uuid NOT NULL,
    day            smallint NOT NULL,
    opens_at       time NOT NULL,
    closes_at      time NOT NULL,
    PRIMARY KEY (federation_id, service_id, day, opens_at),
    CONSTRAINT service_schedules_service_fkey FOREIGN KEY (federation_id, service_id)
        REFERENCES services (federation_id, id) ON DELETE CASCADE,
    CONSTRAINT service_schedules_day_of_week CHECK (day BETWEEN 1 AND 7),
    CONSTRAINT service_schedules_to_the_minute CHECK (
        date_trunc('minute', opens_at::interval) = opens_at::interval
        AND date_trunc('minute', closes_at::interval) = closes_at::interval),
    CONSTRAINT service_schedules_closes_after_opening CHECK (closes_at > opens_at)
);
-- The time filters look for a period on a day, opening from and closing by given times.
CREATE INDEX service_schedules_day_idx ON service_schedules (federation_id, day, opens_at)
    INCLUDE (closes_at, service_id);

-- Unlike services, opening periods are filtered with leakproof comparisons only, so the tenant
-- policy can restrict reads as well as writes without keeping PostgreSQL from its indexes.
ALTER TABLE service_schedules ENABLE ROW LEVEL SECURITY;
ALTER TABLE service_schedules FORCE ROW LEVEL SECURITY;
CREATE POLICY service_schedules_tenant ON service_schedules TO waymark_app
    USING (federation_id = waymark_current_federation())
    WITH CHECK (federation_id = waymark_current_federation());
-- A service's periods are replaced whole: deleted and inserted again.
GRANT SELECT, INSERT, DELETE ON service_schedules TO waymark_app;

-- Opening hours are part of what searches and the Open Referral UK API answer, so changing them
-- changes the directory's version, exactly as changing a service does.
CREATE TRIGGER service_schedules_bump_directory_version
    AFTER INSERT OR UPDATE OR DELETE ON service_schedules
    FOR EACH ROW EXECUTE FUNCTION waymark_bump_directory_version();
