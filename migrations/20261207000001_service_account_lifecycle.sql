-- Service accounts for integrations: a wider list of scopes, secrets rotated with a grace period
-- in which the old and the new are both accepted, and revocation, which ends the account for good
-- and stops the tokens it holds at once.

ALTER TABLE service_accounts DROP CONSTRAINT service_accounts_scopes_known;
ALTER TABLE service_accounts ADD CONSTRAINT service_accounts_scopes_known CHECK (
    scopes <@ ARRAY['directory:read', 'directory:write', 'referrals:read', 'events:read',
                    'stats:read', 'ledger:read', 'webhooks:write']::text[]);
-- Reading the directory needs a scope of its own now; the accounts made before keep the reading
-- they had.
UPDATE service_accounts
SET scopes = ARRAY(SELECT DISTINCT s FROM unnest(scopes || 'directory:read'::text) AS s ORDER BY s)
WHERE NOT 'directory:read' = ANY (scopes);

-- A revoked account is inactive for good.
ALTER TABLE service_accounts ADD COLUMN revoked_at timestamptz;
ALTER TABLE service_accounts ADD COLUMN secret_rotated_at timestamptz;
ALTER TABLE service_accounts ADD CONSTRAINT service_accounts_revoked_inactive
    CHECK (revoked_at IS NULL OR NOT active);

-- During a rotation's grace period the previous secret still signs in. Tokens issued before
-- `tokens_not_before` are refused on every request (the service looks the credential up for each
-- request a service account makes), so deactivating or revoking an account stops the tokens it
-- already holds at once.
ALTER TABLE credentials ADD COLUMN previous_secret_hash text;
ALTER TABLE credentials ADD COLUMN previous_secret_expires_at timestamptz;
ALTER TABLE credentials ADD COLUMN tokens_not_before timestamptz;
ALTER TABLE credentials ADD CONSTRAINT credentials_previous_secret_expires
    CHECK ((previous_secret_hash IS NULL) = (previous_secret_expires_at IS NULL));

-- Readers granted by scope: a `ledger:read` account reads the whole ledger, a `referrals:read`
-- account every practice's referrals and their history. Both read only.
CREATE FUNCTION waymark_ledger_reader() RETURNS boolean
    LANGUAGE sql STABLE
    AS $$ SELECT coalesce(current_setting('waymark.ledger_reader', true) = 'on', false) $$;
CREATE FUNCTION waymark_referrals_reader() RETURNS boolean
    LANGUAGE sql STABLE
    AS $$ SELECT coalesce(current_setting('waymark.referrals_reader', true) = 'on', false) $$;

DO $$
DECLARE
    ledger_table text;
BEGIN
    FOREACH ledger_table IN ARRAY ARRAY['tariffs', 'ledger_accounts', 'ledger_transfers',
        'ledger_entries', 'payment_runs', 'remittances', 'charges', 'clawbacks',
        'clawback_recoveries']
    LOOP
        EXECUTE format('CREATE POLICY %I ON %I FOR SELECT TO waymark_app '
            'USING (federation_id = waymark_current_federation() AND waymark_ledger_reader())',
            ledger_table || '_reader', ledger_table);
    END LOOP;
END
$$;

CREATE POLICY referrals_reader ON referrals FOR SELECT TO waymark_app
    USING (federation_id = waymark_current_federation() AND waymark_referrals_reader());
CREATE POLICY referral_state_changes_reader ON referral_state_changes FOR SELECT TO waymark_app
    USING (federation_id = waymark_current_federation() AND waymark_referrals_reader());
