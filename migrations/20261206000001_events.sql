-- The change feed: an outbox row written by a trigger in the same transaction as every change to
-- the resources integrations follow, then given its place in the feed after it commits.
--
-- Sequence numbers handed out while a transaction runs become visible in commit order, not in
-- number order, so a reader that asks for "after the last number I saw" skips a transaction
-- that took a lower number and committed late. Events are therefore written without a
-- position. A sequencer (one at a time per federation, holding its row of `event_sequences`)
-- gives the committed ones the next positions and commits; the next sequencer starts from
-- there. Each sequencer commits after the one before, so any snapshot that sees a position
-- sees every lower one: `position > cursor` never skips and never repeats. A long transaction
-- delays only its own events, which take positions when it commits; it holds nothing back.
-- (A cursor of transaction ids served below the snapshot's xmin would hold the whole feed back
-- behind the oldest open transaction, and on Citus each node counts transaction ids of its own,
-- which a shard moved to another node would not keep.)

CREATE TABLE events (
    federation_id    uuid NOT NULL REFERENCES federations (id),
    id               uuid NOT NULL,
    -- When the event was written (the clock, not the transaction's start), so the sequencer
    -- takes a transaction's events in the order it wrote them.
    written_at       timestamptz NOT NULL,
    -- Null until sequenced; from 1, without gaps, per federation.
    position         bigint,
    -- When it was sequenced: rises with the position, so retention can cut the feed by time.
    sequenced_at     timestamptz,
    type             text NOT NULL,
    resource_type    text NOT NULL,
    resource_id      uuid NOT NULL,
    -- The practice whose record it is, when it is one.
    practice_id      uuid,
    -- The provider it concerns, who may read it.
    organisation_id  uuid,
    occurred_at      timestamptz NOT NULL DEFAULT now(),
    data             jsonb NOT NULL,
    PRIMARY KEY (federation_id, id),
    CONSTRAINT events_sequenced_together CHECK ((position IS NULL) = (sequenced_at IS NULL)),
    CONSTRAINT events_type_names_resource CHECK (type LIKE resource_type || '.%')
);
CREATE UNIQUE INDEX events_position ON events (federation_id, position);
CREATE INDEX events_waiting ON events (federation_id, written_at, id) WHERE position IS NULL;
-- Retention finds what is past it (a minute's worth, pruned every minute) without reading the
-- rest.
CREATE INDEX events_sequenced ON events (federation_id, sequenced_at) WHERE position IS NOT NULL;

CREATE TABLE event_sequences (
    federation_id    uuid PRIMARY KEY REFERENCES federations (id),
    last_position    bigint NOT NULL DEFAULT 0,
    -- Events up to this position have been pruned: a cursor before it has missed some.
    pruned_through   bigint NOT NULL DEFAULT 0
);

-- True in transactions opened by the sequencer or the pruner, which handle every event of
-- their federation.
CREATE FUNCTION waymark_events_maintenance() RETURNS boolean
    LANGUAGE sql STABLE
    AS $$ SELECT coalesce(current_setting('waymark.events_maintenance', true) = 'on', false) $$;

ALTER TABLE events ENABLE ROW LEVEL SECURITY;
ALTER TABLE events FORCE ROW LEVEL SECURITY;
-- Any writer in the federation writes its changes' events.
CREATE POLICY events_write ON events FOR INSERT TO waymark_app
    WITH CHECK (federation_id = waymark_current_federation() AND position IS NULL);
-- Readers: the whole federation for its administrators; otherwise a practice's own records,
-- a provider's own, and what belongs to no practice (the directory, payment runs). Which types
-- each reader gets is narrowed further by the service.
CREATE POLICY events_read_federation ON events FOR SELECT TO waymark_app
    USING (federation_id = waymark_current_federation() AND waymark_federation_wide());
CREATE POLICY events_read_maintenance ON events FOR SELECT TO waymark_app
    USING (federation_id = waymark_current_federation() AND waymark_events_maintenance());
CREATE POLICY events_read_shared ON events FOR SELECT TO waymark_app
    USING (federation_id = waymark_current_federation() AND practice_id IS NULL);
CREATE POLICY events_read_practice ON events FOR SELECT TO waymark_app
    USING (federation_id = waymark_current_federation() AND practice_id = waymark_current_practice());
CREATE POLICY events_read_provider ON events FOR SELECT TO waymark_app
    USING (federation_id = waymark_current_federation()
           AND organisation_id = waymark_current_organisation());
CREATE POLICY events_sequence ON events FOR UPDATE TO waymark_app
    USING (federation_id = waymark_current_federation() AND waymark_events_maintenance())
    WITH CHECK (federation_id = waymark_current_federation() AND waymark_events_maintenance());
CREATE POLICY events_prune ON events FOR DELETE TO waymark_app
    USING (federation_id = waymark_current_federation() AND waymark_events_maintenance());
GRANT SELECT, INSERT, DELETE ON events TO waymark_app;
GRANT UPDATE (position, sequenced_at) ON events TO waymark_app;

ALTER TABLE event_sequences ENABLE ROW LEVEL SECURITY;
ALTER TABLE event_sequences FORCE ROW LEVEL SECURITY;
CREATE POLICY event_sequences_read ON event_sequences FOR SELECT TO waymark_app
    USING (federation_id = waymark_current_federation());
CREATE POLICY event_sequences_maintain ON event_sequences FOR ALL TO waymark_app
    USING (federation_id = waymark_current_federation() AND waymark_events_maintenance())
    WITH CHECK (federation_id = waymark_current_federation() AND waymark_events_maintenance());
GRANT SELECT, INSERT, UPDATE ON event_sequences TO waymark_app;

-- One event of a change; `data` holds only what every reader of the event may see.
CREATE FUNCTION waymark_event(federation uuid, type text, resource_type text, resource uuid,
                              practice uuid, organisation uuid, data jsonb) RETURNS void
    LANGUAGE plpgsql
    AS $$
    BEGIN
        INSERT INTO events (federation_id, id, written_at, type, resource_type, resource_id,
                            practice_id, organisation_id, data)
        VALUES (federation, gen_random_uuid(), clock_timestamp(), type, resource_type, resource,
                practice, organisation, data);
    END
    $$;

-- `created` for a new row, `updated` for a changed one (an update that changes nothing is no
-- event).
CREATE FUNCTION waymark_event_verb(op text) RETURNS text
    LANGUAGE sql IMMUTABLE
    AS $$ SELECT CASE WHEN op = 'INSERT' THEN 'created' ELSE 'updated' END $$;

CREATE FUNCTION waymark_events_referral() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
    BEGIN
        IF TG_OP = 'UPDATE' AND OLD IS NOT DISTINCT FROM NEW THEN
            RETURN NULL;
        END IF;
        PERFORM waymark_event(NEW.federation_id, 'referral.' || waymark_event_verb(TG_OP),
            'referral', NEW.id, NEW.practice_id, NULL,
            jsonb_build_object('state', NEW.state, 'version', NEW.version));
        RETURN NULL;
    END
    $$;
CREATE TRIGGER referrals_events AFTER INSERT OR UPDATE ON referrals
    FOR EACH ROW EXECUTE FUNCTION waymark_events_referral();

-- A signposting (kind 'signpost') is never the provider's to read, so it names no provider.
CREATE FUNCTION waymark_events_onward_referral() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
    BEGIN
        IF TG_OP = 'UPDATE' AND OLD IS NOT DISTINCT FROM NEW THEN
            RETURN NULL;
        END IF;
        PERFORM waymark_event(NEW.federation_id, 'onward_referral.' || waymark_event_verb(TG_OP),
            'onward_referral', NEW.id, NEW.practice_id,
            CASE WHEN NEW.kind = 'referral' THEN NEW.organisation_id END,
            jsonb_build_object('kind', NEW.kind, 'state', NEW.state,
                               'service_id', NEW.service_id, 'version', NEW.version));
        RETURN NULL;
    END
    $$;
CREATE TRIGGER onward_referrals_events AFTER INSERT OR UPDATE ON onward_referrals
    FOR EACH ROW EXECUTE FUNCTION waymark_events_onward_referral();

CREATE FUNCTION waymark_events_activity() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
    BEGIN
        PERFORM waymark_event(NEW.federation_id, 'activity.recorded', 'activity', NEW.id,
            NEW.practice_id, NEW.organisation_id,
            jsonb_build_object('onward_referral_id', NEW.onward_referral_id,
                               'service_id', NEW.service_id,
                               'activity_type', NEW.activity_type));
        RETURN NULL;
    END
    $$;
CREATE TRIGGER activities_events AFTER INSERT ON activities
    FOR EACH ROW EXECUTE FUNCTION waymark_events_activity();

CREATE FUNCTION waymark_events_charge() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
    BEGIN
        IF TG_OP = 'UPDATE' AND OLD IS NOT DISTINCT FROM NEW THEN
            RETURN NULL;
        END IF;
        PERFORM waymark_event(NEW.federation_id, 'charge.' || waymark_event_verb(TG_OP),
            'charge', NEW.id, NEW.practice_id, NEW.organisation_id,
            jsonb_build_object('status', NEW.status, 'amount_pence', NEW.amount_pence,
                               'version', NEW.version));
        RETURN NULL;
    END
    $$;
CREATE TRIGGER charges_events AFTER INSERT OR UPDATE ON charges
    FOR EACH ROW EXECUTE FUNCTION waymark_events_charge();

CREATE FUNCTION waymark_events_payment_run() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
    BEGIN
        PERFORM waymark_event(NEW.federation_id, 'payment_run.created', 'payment_run', NEW.id,
            NULL, NULL,
            jsonb_build_object('total_pence', NEW.total_pence,
                               'charge_count', NEW.charge_count,
                               'provider_count', NEW.provider_count));
        RETURN NULL;
    END
    $$;
CREATE TRIGGER payment_runs_events AFTER INSERT ON payment_runs
    FOR EACH ROW EXECUTE FUNCTION waymark_events_payment_run();

CREATE FUNCTION waymark_events_remittance() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
    BEGIN
        PERFORM waymark_event(NEW.federation_id, 'remittance.created', 'remittance', NEW.id,
            NULL, NEW.organisation_id,
            jsonb_build_object('payment_run_id', NEW.payment_run_id,
                               'amount_pence', NEW.amount_pence,
                               'charge_count', NEW.charge_count));
        RETURN NULL;
    END
    $$;
CREATE TRIGGER remittances_events AFTER INSERT ON remittances
    FOR EACH ROW EXECUTE FUNCTION waymark_events_remittance();

-- The directory is public within the federation: an organisation's or a service's event names
-- no provider, so that every provider may follow the whole directory.
CREATE FUNCTION waymark_events_directory() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
    BEGIN
        IF TG_OP = 'UPDATE' AND OLD IS NOT DISTINCT FROM NEW THEN
            RETURN NULL;
        END IF;
        PERFORM waymark_event(NEW.federation_id, TG_ARGV[0] || '.' || waymark_event_verb(TG_OP),
            TG_ARGV[0], NEW.id, NULL, NULL, jsonb_build_object('version', NEW.version));
        RETURN NULL;
    END
    $$;
CREATE TRIGGER organisations_events AFTER INSERT OR UPDATE ON organisations
    FOR EACH ROW EXECUTE FUNCTION waymark_events_directory('organisation');
CREATE TRIGGER services_events AFTER INSERT OR UPDATE ON services
    FOR EACH ROW EXECUTE FUNCTION waymark_events_directory('service');
