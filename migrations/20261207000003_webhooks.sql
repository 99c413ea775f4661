-- Webhooks: endpoints a federation registers to be sent its events, the deliveries owed to each
-- (one per endpoint and event, made from the change feed after the event took its position),
-- and every attempt at one. All of it lives here, so deliveries survive a restart of the
-- service and any instance may make them; an instance takes a delivery's row FOR UPDATE SKIP
-- LOCKED for the length of its attempt, so no two instances make the same attempt.

CREATE TABLE webhook_endpoints (
    federation_id               uuid NOT NULL REFERENCES federations (id),
    id                          uuid NOT NULL,
    url                         text NOT NULL,
    description                 text,
    -- The event types it receives, all of them receivable by whoever registered it.
    event_types                 text[] NOT NULL CHECK (cardinality(event_types) > 0),
    -- `whsec_` and base64: the HMAC key every delivery is signed with. Kept as it is (a
    -- signature needs the key itself), shown to a client only when made.
    secret                      text NOT NULL,
    -- The secret before the last rotation, which also signs deliveries until it expires.
    previous_secret             text,
    previous_secret_expires_at  timestamptz,
    enabled                     boolean NOT NULL DEFAULT true,
    -- Why it is disabled: its receiver answered 410 Gone, or an administrator turned it off.
    disabled_reason             text CHECK (disabled_reason IN ('gone', 'administrator')),
    disabled_at                 timestamptz,
    -- The feed position through which its deliveries have been made: it receives what was
    -- sequenced after it was registered.
    enqueued_through            bigint NOT NULL,
    created_by                  uuid NOT NULL,
    version                     integer NOT NULL DEFAULT 1,
    created_at                  timestamptz NOT NULL DEFAULT now(),
    updated_at                  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (federation_id, id),
    CONSTRAINT webhook_endpoints_disabled_for_a_reason
        CHECK (enabled = (disabled_reason IS NULL) AND enabled = (disabled_at IS NULL)),
    CONSTRAINT webhook_endpoints_previous_secret_expires
        CHECK ((previous_secret IS NULL) = (previous_secret_expires_at IS NULL))
);

CREATE TABLE webhook_deliveries (
    federation_id    uuid NOT NULL,
    endpoint_id      uuid NOT NULL,
    -- The event's id is the delivery's `webhook-id`, the same on every attempt.
    event_id         uuid NOT NULL,
    event_position   bigint NOT NULL,
    event_type       text NOT NULL,
    -- The body every attempt sends, byte for byte.
    payload          text NOT NULL,
    state            text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz,
    created_at       timestamptz NOT NULL,
    finished_at      timestamptz,
    PRIMARY KEY (federation_id, endpoint_id, event_id),
    CONSTRAINT webhook_deliveries_endpoint_fkey FOREIGN KEY (federation_id, endpoint_id)
        REFERENCES webhook_endpoints (federation_id, id) ON DELETE CASCADE,
    CONSTRAINT webhook_deliveries_pending_until_finished
        CHECK ((state = 'pending') = (next_attempt_at IS NOT NULL)
               AND (state = 'pending') = (finished_at IS NULL))
);
-- What is due, oldest first; and what finished long ago, to forget.
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (federation_id, next_attempt_at)
    WHERE state = 'pending';
CREATE INDEX webhook_deliveries_finished ON webhook_deliveries (federation_id, finished_at)
    WHERE state <> 'pending';

CREATE TABLE webhook_attempts (
    federation_id    uuid NOT NULL,
    endpoint_id      uuid NOT NULL,
    -- UUID v7: attempts list newest first by it.
    id               uuid NOT NULL,
    event_id         uuid NOT NULL,
    attempt          integer NOT NULL CHECK (attempt > 0),
    attempted_at     timestamptz NOT NULL,
    duration_ms      integer NOT NULL CHECK (duration_ms >= 0),
    -- The receiver's status, when it answered.
    response_status  integer,
    -- Why it failed, when it did (never the receiver's body).
    error            text,
    outcome          text NOT NULL CHECK (outcome IN ('delivered', 'failed', 'gone')),
    -- When the delivery is tried next; none when this attempt ended it.
    next_attempt_at  timestamptz,
    PRIMARY KEY (federation_id, endpoint_id, id),
    CONSTRAINT webhook_attempts_once UNIQUE (federation_id, endpoint_id, event_id, attempt),
    CONSTRAINT webhook_attempts_delivery_fkey FOREIGN KEY (federation_id, endpoint_id, event_id)
        REFERENCES webhook_deliveries (federation_id, endpoint_id, event_id) ON DELETE CASCADE
);

-- Endpoints are the business of federation administrators, integrations granted
-- `webhooks:write` and the service's own dispatcher (the last two set waymark.webhooks); their
-- secrets are nobody else's to read.
CREATE FUNCTION waymark_webhooks_manager() RETURNS boolean
    LANGUAGE sql STABLE
    AS $$ SELECT coalesce(current_setting('waymark.webhooks', true) = 'on', false) $$;

DO $$
DECLARE
    webhook_table text;
BEGIN
    FOREACH webhook_table IN ARRAY ARRAY['webhook_endpoints', 'webhook_deliveries', 'webhook_attempts']
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', webhook_table);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', webhook_table);
        EXECUTE format('CREATE POLICY %I ON %I TO waymark_app '
            'USING (federation_id = waymark_current_federation() AND waymark_federation_wide()) '
            'WITH CHECK (federation_id = waymark_current_federation() AND waymark_federation_wide())',
            webhook_table || '_administration', webhook_table);
        EXECUTE format('CREATE POLICY %I ON %I TO waymark_app '
            'USING (federation_id = waymark_current_federation() AND waymark_webhooks_manager()) '
            'WITH CHECK (federation_id = waymark_current_federation() AND waymark_webhooks_manager())',
            webhook_table || '_manager', webhook_table);
    END LOOP;
END
$$;

GRANT SELECT, INSERT, UPDATE, DELETE ON webhook_endpoints, webhook_deliveries TO waymark_app;
GRANT SELECT, INSERT, DELETE ON webhook_attempts TO waymark_app;
