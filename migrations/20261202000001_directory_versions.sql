-- The version of each federation's directory: one more for every transaction that changes its
-- organisations or services, bumped by trigger in that same transaction. A reader that sees
-- version v sees exactly the directory that version v names, so search answers kept under
-- (federation, version, query) are exact for as long as the version stands, in every instance
-- of the service, with no expiry by time.

CREATE TABLE directory_versions (
    federation_id  uuid PRIMARY KEY REFERENCES federations (id),
    version        bigint NOT NULL
);

ALTER TABLE directory_versions ENABLE ROW LEVEL SECURITY;
ALTER TABLE directory_versions FORCE ROW LEVEL SECURITY;
CREATE POLICY directory_versions_tenant ON directory_versions TO waymark_app
    USING (federation_id = waymark_current_federation())
    WITH CHECK (federation_id = waymark_current_federation());
GRANT SELECT, INSERT, UPDATE ON directory_versions TO waymark_app;

-- Bumps the version once per transaction and federation, however many rows the transaction
-- writes (an import writes thousands): the transaction-local setting remembers that it did.
-- Concurrent writers of one federation's directory take turns on its version row, so every
-- committed change gets a version of its own.
CREATE FUNCTION waymark_bump_directory_version() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
DECLARE
    federation uuid := CASE WHEN TG_OP = 'DELETE' THEN OLD.federation_id ELSE NEW.federation_id END;
BEGIN
    IF current_setting('waymark.directory_version_bumped', true) IS DISTINCT FROM federation::text THEN
        INSERT INTO directory_versions AS v (federation_id, version) VALUES (federation, 1)
        ON CONFLICT (federation_id) DO UPDATE SET version = v.version + 1;
        PERFORM set_config('waymark.directory_version_bumped', federation::text, true);
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER organisations_bump_directory_version
    AFTER INSERT OR UPDATE OR DELETE ON organisations
    FOR EACH ROW EXECUTE FUNCTION waymark_bump_directory_version();
CREATE TRIGGER services_bump_directory_version
    AFTER INSERT OR UPDATE OR DELETE ON services
    FOR EACH ROW EXECUTE FUNCTION waymark_bump_directory_version();

-- Directories that exist already start at version 1.
INSERT INTO directory_versions (federation_id, version)
SELECT DISTINCT federation_id, 1 FROM organisations
ON CONFLICT DO NOTHING;
