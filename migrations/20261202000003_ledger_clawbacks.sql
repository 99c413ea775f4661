-- Clawbacks: a charge found wrong after it was paid is corrected by a new transfer, never by
-- editing. Raising one moves the amount from the provider's recoverable account (what it owes
-- back, a balance that is never above zero) to the fund; the provider's next payment runs net
-- what it owes off what they pay it, oldest clawback first, never paying less than nothing.

ALTER TABLE ledger_accounts DROP CONSTRAINT ledger_accounts_kind_check;
ALTER TABLE ledger_accounts ADD CONSTRAINT ledger_accounts_kind_check
    CHECK (kind IN ('commissioner', 'fund', 'payable', 'paid_out', 'recoverable'));
ALTER TABLE ledger_accounts DROP CONSTRAINT ledger_accounts_payable_has_organisation;
ALTER TABLE ledger_accounts ADD CONSTRAINT ledger_accounts_provider_has_organisation
    CHECK ((kind IN ('payable', 'recoverable')) = (organisation_id IS NOT NULL));
-- A provider is never owed less than nothing, paid out never falls below zero, and no more is
-- recovered from a provider than it owes.
ALTER TABLE ledger_accounts DROP CONSTRAINT ledger_accounts_not_negative;
ALTER TABLE ledger_accounts ADD CONSTRAINT ledger_accounts_not_negative
    CHECK (kind IN ('commissioner', 'fund', 'recoverable') OR credits_pence >= debits_pence);
ALTER TABLE ledger_accounts ADD CONSTRAINT ledger_accounts_recoverable_not_positive
    CHECK (kind <> 'recoverable' OR credits_pence <= debits_pence);

ALTER TABLE ledger_transfers DROP CONSTRAINT ledger_transfers_kind_check;
ALTER TABLE ledger_transfers ADD CONSTRAINT ledger_transfers_kind_check
    CHECK (kind IN ('top_up', 'charge_approval', 'charge_reversal', 'payment', 'clawback'));

-- A remittance pays its charges' gross less what it recovers for clawbacks, which may be all of
-- it: the amount paid can be zero, never less.
ALTER TABLE remittances ADD COLUMN gross_pence bigint;
ALTER TABLE remittances ADD COLUMN recovered_pence bigint NOT NULL DEFAULT 0;
UPDATE remittances SET gross_pence = amount_pence;
ALTER TABLE remittances ALTER COLUMN gross_pence SET NOT NULL;
ALTER TABLE remittances ALTER COLUMN recovered_pence DROP DEFAULT;
ALTER TABLE remittances DROP CONSTRAINT remittances_amount_pence_check;
ALTER TABLE remittances ADD CONSTRAINT remittances_amounts CHECK (
    gross_pence > 0 AND recovered_pence >= 0 AND amount_pence >= 0
    AND amount_pence = gross_pence - recovered_pence);
ALTER TABLE payment_runs ADD COLUMN recovered_pence bigint NOT NULL DEFAULT 0
    CHECK (recovered_pence >= 0);
ALTER TABLE payment_runs ALTER COLUMN recovered_pence DROP DEFAULT;

CREATE TABLE clawbacks (
    federation_id    uuid NOT NULL REFERENCES federations (id),
    id               uuid NOT NULL,
    charge_id        uuid NOT NULL,
    -- The charge's provider, copied for the provider's row-level security.
    organisation_id  uuid NOT NULL,
    amount_pence     bigint NOT NULL CHECK (amount_pence > 0),
    reason           text NOT NULL CHECK (length(btrim(reason)) > 0),
    -- Checked at commit, like the charges' transfers: the row and its posting are written in
    -- one transaction.
    transfer_id      uuid NOT NULL,
    created_by       uuid NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (federation_id, id),
    CONSTRAINT clawbacks_charge_fkey FOREIGN KEY (federation_id, charge_id)
        REFERENCES charges (federation_id, id),
    CONSTRAINT clawbacks_transfer_fkey FOREIGN KEY (federation_id, transfer_id)
        REFERENCES ledger_transfers (federation_id, id) DEFERRABLE INITIALLY DEFERRED,
    CONSTRAINT clawbacks_organisation_fkey FOREIGN KEY (federation_id, organisation_id)
        REFERENCES organisations (federation_id, id)
);
CREATE INDEX clawbacks_charge_idx ON clawbacks (federation_id, charge_id);
CREATE INDEX clawbacks_organisation_idx ON clawbacks (federation_id, organisation_id, id);

-- What one remittance recovered of one clawback.
CREATE TABLE clawback_recoveries (
    federation_id    uuid NOT NULL REFERENCES federations (id),
    remittance_id    uuid NOT NULL,
    clawback_id      uuid NOT NULL,
    organisation_id  uuid NOT NULL,
    amount_pence     bigint NOT NULL CHECK (amount_pence > 0),
    created_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (federation_id, remittance_id, clawback_id),
    CONSTRAINT clawback_recoveries_remittance_fkey FOREIGN KEY (federation_id, remittance_id)
        REFERENCES remittances (federation_id, id) DEFERRABLE INITIALLY DEFERRED,
    CONSTRAINT clawback_recoveries_clawback_fkey FOREIGN KEY (federation_id, clawback_id)
        REFERENCES clawbacks (federation_id, id),
    CONSTRAINT clawback_recoveries_organisation_fkey FOREIGN KEY (federation_id, organisation_id)
        REFERENCES organisations (federation_id, id)
);
CREATE INDEX clawback_recoveries_clawback_idx ON clawback_recoveries (federation_id, clawback_id);

-- No clawback, nor anything recovered of it, is ever changed or removed: corrections are new
-- transfers.
DO $$
DECLARE
    append_only text;
BEGIN
    FOREACH append_only IN ARRAY ARRAY['clawbacks', 'clawback_recoveries']
    LOOP
        EXECUTE format('CREATE TRIGGER %I BEFORE UPDATE OR DELETE ON %I '
            'FOR EACH ROW EXECUTE FUNCTION waymark_refuse_change()', append_only || '_append_only', append_only);
        EXECUTE format('CREATE TRIGGER %I BEFORE TRUNCATE ON %I '
            'FOR EACH STATEMENT EXECUTE FUNCTION waymark_refuse_change()', append_only || '_no_truncate', append_only);
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', append_only);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', append_only);
        EXECUTE format('CREATE POLICY %I ON %I TO waymark_app '
            'USING (federation_id = waymark_current_federation() AND waymark_federation_wide()) '
            'WITH CHECK (federation_id = waymark_current_federation() AND waymark_federation_wide())',
            append_only || '_administration', append_only);
        EXECUTE format('CREATE POLICY %I ON %I FOR SELECT TO waymark_app '
            'USING (federation_id = waymark_current_federation() '
            'AND organisation_id = waymark_current_organisation())',
            append_only || '_provider', append_only);
        EXECUTE format('GRANT SELECT, INSERT ON %I TO waymark_app', append_only);
    END LOOP;
END
$$;
