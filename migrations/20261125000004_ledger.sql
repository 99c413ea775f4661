-- The federation's payment ledger: tariffs, charges for activities delivered, a double-entry
-- append-only ledger of transfers, payment runs and their remittances. Money is integer pence.

-- Per-federation ledger settings.
CREATE TABLE ledger_settings (
    federation_id           uuid PRIMARY KEY REFERENCES federations (id),
    fund_overdraft_allowed  boolean NOT NULL DEFAULT false,
    version                 integer NOT NULL DEFAULT 1,
    updated_by              uuid,
    updated_at              timestamptz NOT NULL DEFAULT now()
);

-- The price of one unit of an activity type at a service, in force from one day to another (both
-- included; open-ended when effective_to is null). Tariffs are never deleted; a price change ends
-- one tariff and starts another. The organisation is copied from the service for the provider's
-- row-level security.
CREATE TABLE tariffs (
    federation_id    uuid NOT NULL,
    id               uuid NOT NULL,
    service_id       uuid NOT NULL,
    organisation_id  uuid NOT NULL,
    activity_type    text NOT NULL CHECK (activity_type ~ '^[a-z][a-z0-9_]{0,49}$'),
    unit_pence       bigint NOT NULL CHECK (unit_pence > 0),
    effective_from   date NOT NULL,
    effective_to     date,
    created_by       uuid NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    version          integer NOT NULL DEFAULT 1,
    PRIMARY KEY (federation_id, id),
    CONSTRAINT tariffs_service_fkey FOREIGN KEY (federation_id, service_id)
        REFERENCES services (federation_id, id),
    CONSTRAINT tariffs_organisation_fkey FOREIGN KEY (federation_id, organisation_id)
        REFERENCES organisations (federation_id, id),
    CONSTRAINT tariffs_period CHECK (effective_to IS NULL OR effective_to >= effective_from)
);
CREATE INDEX tariffs_lookup_idx ON tariffs (federation_id, service_id, activity_type, effective_from);

CREATE TABLE ledger_accounts (
    federation_id    uuid NOT NULL REFERENCES federations (id),
    id               uuid NOT NULL,
    kind             text NOT NULL CHECK (kind IN ('commissioner', 'fund', 'payable', 'paid_out')),
    organisation_id  uuid,
    -- Running totals, changed only in the transaction that inserts the entries they sum.
    debits_pence     bigint NOT NULL DEFAULT 0 CHECK (debits_pence >= 0),
    credits_pence    bigint NOT NULL DEFAULT 0 CHECK (credits_pence >= 0),
    created_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (federation_id, id),
    CONSTRAINT ledger_accounts_organisation_fkey FOREIGN KEY (federation_id, organisation_id)
        REFERENCES organisations (federation_id, id),
    CONSTRAINT ledger_accounts_payable_has_organisation CHECK ((kind = 'payable') = (organisation_id IS NOT NULL)),
    CONSTRAINT ledger_accounts_one_per_kind UNIQUE NULLS NOT DISTINCT (federation_id, kind, organisation_id),
    CONSTRAINT ledger_accounts_organisation_key UNIQUE (federation_id, id, organisation_id),
    -- Providers are never owed less than nothing and nothing comes back from paid out.
    CONSTRAINT ledger_accounts_not_negative CHECK (
        kind IN ('commissioner', 'fund') OR credits_pence >= debits_pence)
);

CREATE TABLE ledger_transfers (
    federation_id         uuid NOT NULL REFERENCES federations (id),
    id                    uuid NOT NULL,
    kind                  text NOT NULL CHECK (kind IN ('top_up', 'charge_approval', 'charge_reversal', 'payment')),
    amount_pence          bigint NOT NULL CHECK (amount_pence > 0),
    charge_id             uuid,
    payment_run_id        uuid,
    -- The provider whose accounts the transfer moves money in or out of (none for a top-up),
    -- for the provider's read policy; the balance check holds every entry to it.
    organisation_id       uuid,
    description           text,
    created_by            uuid NOT NULL,
    created_at            timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (federation_id, id)
);

CREATE TABLE ledger_entries (
    federation_id    uuid NOT NULL,
    transfer_id      uuid NOT NULL,
    account_id       uuid NOT NULL,
    -- The provider whose payable account this is (none for the federation's own accounts),
    -- copied from the account so a provider's read policy is a comparison, not a lookup.
    organisation_id  uuid,
    side             text NOT NULL CHECK (side IN ('debit', 'credit')),
    amount_pence     bigint NOT NULL CHECK (amount_pence > 0),
    created_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (federation_id, transfer_id, account_id, side),
    CONSTRAINT ledger_entries_transfer_fkey FOREIGN KEY (federation_id, transfer_id)
        REFERENCES ledger_transfers (federation_id, id),
    CONSTRAINT ledger_entries_account_fkey FOREIGN KEY (federation_id, account_id)
        REFERENCES ledger_accounts (federation_id, id),
    CONSTRAINT ledger_entries_account_organisation_fkey FOREIGN KEY (federation_id, account_id, organisation_id)
        REFERENCES ledger_accounts (federation_id, id, organisation_id)
);
CREATE INDEX ledger_entries_account_idx ON ledger_entries (federation_id, account_id, created_at, transfer_id);

-- Every transfer balances, checked when its transaction commits: its debits and its credits
-- each add up to its amount.
CREATE FUNCTION ledger_check_balanced() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
    DECLARE
        transfer_amount bigint;
        transfer_organisation uuid;
        debits bigint;
        credits bigint;
    BEGIN
        SELECT amount_pence, organisation_id INTO transfer_amount, transfer_organisation
          FROM ledger_transfers
         WHERE federation_id = NEW.federation_id AND id = NEW.transfer_id;
        IF NEW.organisation_id IS NOT NULL AND NEW.organisation_id IS DISTINCT FROM transfer_organisation THEN
            RAISE EXCEPTION 'transfer % moves money of organisation % but names %',
                NEW.transfer_id, NEW.organisation_id, transfer_organisation
                USING ERRCODE = 'check_violation';
        END IF;
        SELECT coalesce(sum(amount_pence) FILTER (WHERE side = 'debit'), 0),
               coalesce(sum(amount_pence) FILTER (WHERE side = 'credit'), 0)
          INTO debits, credits
          FROM ledger_entries WHERE federation_id = NEW.federation_id AND transfer_id = NEW.transfer_id;
        IF debits <> transfer_amount OR credits <> transfer_amount THEN
            RAISE EXCEPTION 'transfer % does not balance: debits %, credits %, amount %',
                NEW.transfer_id, debits, credits, transfer_amount
                USING ERRCODE = 'check_violation';
        END IF;
        RETURN NULL;
    END
    $$;
CREATE CONSTRAINT TRIGGER ledger_entries_balanced AFTER INSERT ON ledger_entries
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ledger_check_balanced();

CREATE FUNCTION ledger_check_has_entries() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
    BEGIN
        IF NOT EXISTS (SELECT 1 FROM ledger_entries
                       WHERE federation_id = NEW.federation_id AND transfer_id = NEW.id) THEN
            RAISE EXCEPTION 'transfer % has no entries', NEW.id USING ERRCODE = 'check_violation';
        END IF;
        RETURN NULL;
    END
    $$;
CREATE CONSTRAINT TRIGGER ledger_transfers_have_entries AFTER INSERT ON ledger_transfers
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ledger_check_has_entries();

CREATE TRIGGER ledger_transfers_append_only BEFORE UPDATE OR DELETE ON ledger_transfers
    FOR EACH ROW EXECUTE FUNCTION waymark_refuse_change();
CREATE TRIGGER ledger_transfers_no_truncate BEFORE TRUNCATE ON ledger_transfers
    FOR EACH STATEMENT EXECUTE FUNCTION waymark_refuse_change();
CREATE TRIGGER ledger_entries_append_only BEFORE UPDATE OR DELETE ON ledger_entries
    FOR EACH ROW EXECUTE FUNCTION waymark_refuse_change();
CREATE TRIGGER ledger_entries_no_truncate BEFORE TRUNCATE ON ledger_entries
    FOR EACH STATEMENT EXECUTE FUNCTION waymark_refuse_change();

CREATE TABLE payment_runs (
    federation_id   uuid NOT NULL REFERENCES federations (id),
    id              uuid NOT NULL,
    cut_off         date NOT NULL,
    total_pence     bigint NOT NULL CHECK (total_pence >= 0),
    charge_count    integer NOT NULL,
    provider_count  integer NOT NULL,
    created_by      uuid NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (federation_id, id)
);

-- What one payment run paid one provider, and the transfer that paid it.
CREATE TABLE remittances (
    federation_id    uuid NOT NULL,
    id               uuid NOT NULL,
    payment_run_id   uuid NOT NULL,
    organisation_id  uuid NOT NULL,
    transfer_id      uuid NOT NULL,
    amount_pence     bigint NOT NULL CHECK (amount_pence > 0),
    charge_count     integer NOT NULL CHECK (charge_count > 0),
    created_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (federation_id, id),
    CONSTRAINT remittances_payment_run_fkey FOREIGN KEY (federation_id, payment_run_id)
        REFERENCES payment_runs (federation_id, id),
    CONSTRAINT remittances_transfer_fkey FOREIGN KEY (federation_id, transfer_id)
        REFERENCES ledger_transfers (federation_id, id),
    CONSTRAINT remittances_organisation_fkey FOREIGN KEY (federation_id, organisation_id)
        REFERENCES organisations (federation_id, id),
    CONSTRAINT remittances_one_per_provider UNIQUE (federation_id, payment_run_id, organisation_id)
);
CREATE INDEX remittances_organisation_idx ON remittances (federation_id, organisation_id, id);

-- One charge per activity, whatever the retries: the unique activity is what makes it so.
-- Charges name the activity only, never the patient.
CREATE TABLE charges (
    federation_id          uuid NOT NULL REFERENCES federations (id),
    id                     uuid NOT NULL,
    practice_id            uuid NOT NULL,
    activity_id            uuid NOT NULL,
    organisation_id        uuid NOT NULL,
    service_id             uuid NOT NULL,
    tariff_id              uuid NOT NULL,
    activity_type          text NOT NULL,
    delivered_on           date NOT NULL,
    quantity               integer NOT NULL CHECK (quantity > 0),
    unit_pence             bigint NOT NULL CHECK (unit_pence > 0),
    amount_pence           bigint NOT NULL CHECK (amount_pence > 0),
    status                 text NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'approved', 'rejected', 'reversed', 'paid')),
    -- Checked at commit: a decision marks its charges first and posts the money last, so the
    -- accounts it locks stay locked for as short a time as possible.
    approval_transfer_id   uuid,
    reversal_transfer_id   uuid,
    remittance_id          uuid,
    decided_by             uuid,
    decided_at             timestamptz,
    reason                 text,
    version                integer NOT NULL DEFAULT 1,
    created_at             timestamptz NOT NULL DEFAULT now(),
    updated_at             timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (federation_id, id),
    CONSTRAINT charges_one_per_activity UNIQUE (federation_id, activity_id),
    CONSTRAINT charges_activity_fkey FOREIGN KEY (federation_id, practice_id, activity_id)
        REFERENCES activities (federation_id, practice_id, id),
    CONSTRAINT charges_service_fkey FOREIGN KEY (federation_id, service_id)
        REFERENCES services (federation_id, id),
    CONSTRAINT charges_tariff_fkey FOREIGN KEY (federation_id, tariff_id)
        REFERENCES tariffs (federation_id, id),
    CONSTRAINT charges_approval_transfer_fkey FOREIGN KEY (federation_id, approval_transfer_id)
        REFERENCES ledger_transfers (federation_id, id) DEFERRABLE INITIALLY DEFERRED,
    CONSTRAINT charges_reversal_transfer_fkey FOREIGN KEY (federation_id, reversal_transfer_id)
        REFERENCES ledger_transfers (federation_id, id) DEFERRABLE INITIALLY DEFERRED,
    CONSTRAINT charges_remittance_fkey FOREIGN KEY (federation_id, remittance_id)
        REFERENCES remittances (federation_id, id) DEFERRABLE INITIALLY DEFERRED,
    CONSTRAINT charges_organisation_fkey FOREIGN KEY (federation_id, organisation_id)
        REFERENCES organisations (federation_id, id),
    CONSTRAINT charges_amount CHECK (amount_pence = unit_pence * quantity),
    CONSTRAINT charges_posted_when_approved CHECK (
        (status IN ('approved', 'reversed', 'paid')) = (approval_transfer_id IS NOT NULL)),
    CONSTRAINT charges_reversed_with_transfer CHECK ((status = 'reversed') = (reversal_transfer_id IS NOT NULL)),
    CONSTRAINT charges_paid_with_remittance CHECK ((status = 'paid') = (remittance_id IS NOT NULL))
);
CREATE INDEX charges_status_idx ON charges (federation_id, status, id);
CREATE INDEX charges_due_idx ON charges (federation_id, organisation_id, delivered_on) WHERE status = 'approved';
CREATE INDEX charges_organisation_idx ON charges (federation_id, organisation_id, id);
CREATE INDEX charges_remittance_idx ON charges (federation_id, remittance_id) WHERE remittance_id IS NOT NULL;
CREATE INDEX charges_approval_transfer_idx ON charges (federation_id, approval_transfer_id) WHERE approval_transfer_id IS NOT NULL;
CREATE INDEX charges_reversal_transfer_idx ON charges (federation_id, reversal_transfer_id) WHERE reversal_transfer_id IS NOT NULL;

-- A retried money-moving request answers with the first response, kept here with the key (ledger
-- responses hold no patient data).
ALTER TABLE idempotency_keys ADD COLUMN response_status smallint;
ALTER TABLE idempotency_keys ADD COLUMN response_body jsonb;
GRANT UPDATE ON idempotency_keys TO waymark_app;

-- Row-level security: the federation's administrators see the whole ledger; a provider sees its
-- own tariffs, charges, payable account, remittances and the transfers and entries that touch it.
DO $$
DECLARE
    ledger_table text;
BEGIN
    FOREACH ledger_table IN ARRAY ARRAY['ledger_settings', 'tariffs', 'ledger_accounts',
        'ledger_transfers', 'ledger_entries', 'payment_runs', 'remittances', 'charges']
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', ledger_table);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', ledger_table);
        EXECUTE format('CREATE POLICY %I ON %I TO waymark_app '
            'USING (federation_id = waymark_current_federation() AND waymark_federation_wide()) '
            'WITH CHECK (federation_id = waymark_current_federation() AND waymark_federation_wide())',
            ledger_table || '_administration', ledger_table);
    END LOOP;
END
$$;

CREATE POLICY ledger_settings_read ON ledger_settings FOR SELECT TO waymark_app
    USING (federation_id = waymark_current_federation());
CREATE POLICY tariffs_provider ON tariffs FOR SELECT TO waymark_app
    USING (federation_id = waymark_current_federation()
           AND organisation_id = waymark_current_organisation());
CREATE POLICY ledger_accounts_provider ON ledger_accounts FOR SELECT TO waymark_app
    USING (federation_id = waymark_current_federation()
           AND organisation_id = waymark_current_organisation());
CREATE POLICY ledger_entries_provider ON ledger_entries FOR SELECT TO waymark_app
    USING (federation_id = waymark_current_federation()
           AND organisation_id = waymark_current_organisation());
CREATE POLICY ledger_transfers_provider ON ledger_transfers FOR SELECT TO waymark_app
    USING (federation_id = waymark_current_federation()
           AND organisation_id = waymark_current_organisation());
CREATE POLICY remittances_provider ON remittances FOR SELECT TO waymark_app
    USING (federation_id = waymark_current_federation()
           AND organisation_id = waymark_current_organisation());
-- A provider reads its own charges, and its activity creates its pending charge in the
-- provider's own transaction; only administrators change a charge.
CREATE POLICY charges_provider_read ON charges FOR SELECT TO waymark_app
    USING (federation_id = waymark_current_federation()
           AND organisation_id = waymark_current_organisation());
CREATE POLICY charges_provider_create ON charges FOR INSERT TO waymark_app
    WITH CHECK (federation_id = waymark_current_federation()
           AND organisation_id = waymark_current_organisation() AND status = 'pending'
           AND approval_transfer_id IS NULL AND reversal_transfer_id IS NULL
           AND remittance_id IS NULL);

GRANT SELECT, INSERT, UPDATE ON ledger_settings, tariffs, charges TO waymark_app;
GRANT SELECT, INSERT, UPDATE ON ledger_accounts TO waymark_app;
GRANT SELECT, INSERT ON ledger_transfers, ledger_entries, payment_runs, remittances TO waymark_app;
