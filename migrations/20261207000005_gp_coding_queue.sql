-- The coding queue: each SNOMED CT concept a referral is to be coded with in the GP record,
-- waiting until the practice's GP-system integration acknowledges that it filed it, so that it
-- is filed once. Written with the referral's creation and its decline; the patient's NHS number
-- is kept with it, as that is what a GP system files by, and all an integration reading the
-- queue needs of the patient.

CREATE TABLE gp_coding_events (
    federation_id     uuid NOT NULL,
    practice_id       uuid NOT NULL,
    id                uuid NOT NULL,
    referral_id       uuid NOT NULL,
    patient_id        uuid NOT NULL,
    nhs_number        text NOT NULL,
    code              text NOT NULL,
    display           text NOT NULL,
    occurred_at       timestamptz NOT NULL,
    created_at        timestamptz NOT NULL DEFAULT now(),
    acknowledged_at   timestamptz,
    acknowledged_by   uuid,
    PRIMARY KEY (federation_id, practice_id, id),
    -- A referral is coded with each concept once.
    CONSTRAINT gp_coding_events_once UNIQUE (federation_id, practice_id, referral_id, code),
    CONSTRAINT gp_coding_events_referral_fkey FOREIGN KEY (federation_id, practice_id, referral_id, patient_id)
        REFERENCES referrals (federation_id, practice_id, id, patient_id),
    CONSTRAINT gp_coding_events_acknowledged_by_someone
        CHECK ((acknowledged_at IS NULL) = (acknowledged_by IS NULL))
);
-- The queue: what is waiting, oldest first.
CREATE INDEX gp_coding_events_waiting ON gp_coding_events (federation_id, practice_id, occurred_at, id)
    WHERE acknowledged_at IS NULL;

-- A GP-system integration (a service account granted gp_coding:write) reads and acknowledges
-- the queue of every practice of its federation, and nothing else of theirs.
CREATE FUNCTION waymark_gp_coding() RETURNS boolean
    LANGUAGE sql STABLE
    AS $$ SELECT coalesce(current_setting('waymark.gp_coding', true) = 'on', false) $$;

ALTER TABLE gp_coding_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE gp_coding_events FORCE ROW LEVEL SECURITY;
CREATE POLICY gp_coding_events_practice ON gp_coding_events TO waymark_app
    USING (waymark_practice_visible(federation_id, practice_id))
    WITH CHECK (waymark_practice_visible(federation_id, practice_id));
CREATE POLICY gp_coding_events_integration_read ON gp_coding_events FOR SELECT TO waymark_app
    USING (federation_id = waymark_current_federation() AND waymark_gp_coding());
CREATE POLICY gp_coding_events_integration_acknowledge ON gp_coding_events FOR UPDATE TO waymark_app
    USING (federation_id = waymark_current_federation() AND waymark_gp_coding())
    WITH CHECK (federation_id = waymark_current_federation() AND waymark_gp_coding());
GRANT SELECT, INSERT ON gp_coding_events TO waymark_app;
GRANT UPDATE (acknowledged_at, acknowledged_by) ON gp_coding_events TO waymark_app;

-- On the change feed: a practice's coded event, when queued and when acknowledged.
CREATE FUNCTION waymark_events_gp_coding_event() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
    BEGIN
        IF TG_OP = 'UPDATE' AND (OLD.acknowledged_at IS NOT NULL OR NEW.acknowledged_at IS NULL) THEN
            RETURN NULL;
        END IF;
        PERFORM waymark_event(NEW.federation_id,
            CASE WHEN TG_OP = 'INSERT' THEN 'gp_coding_event.created'
                 ELSE 'gp_coding_event.acknowledged' END,
            'gp_coding_event', NEW.id, NEW.practice_id, NULL,
            jsonb_build_object('referral_id', NEW.referral_id, 'code', NEW.code));
        RETURN NULL;
    END
    $$;
CREATE TRIGGER gp_coding_events_events AFTER INSERT OR UPDATE ON gp_coding_events
    FOR EACH ROW EXECUTE FUNCTION waymark_events_gp_coding_event();

ALTER TABLE service_accounts DROP CONSTRAINT service_accounts_scopes_known;
ALTER TABLE service_accounts ADD CONSTRAINT service_accounts_scopes_known CHECK (
    scopes <@ ARRAY['directory:read', 'directory:write', 'referrals:read', 'events:read',
                    'stats:read', 'ledger:read', 'webhooks:write', 'gp_coding:write']::text[]);
