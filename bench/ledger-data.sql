-- Benchmark data for the payment ledger, in the north-charnwood federation's Rosebery practice:
-- 1,000 provider organisations with one service and one `session_attended` tariff each, 10,000
-- patients each with one active referral and one accepted onward referral (ten per provider),
-- and 100,000 activities (ten per onward referral) with their pending charges. Deterministic (no
-- random()); run as the schema owner after `waymark seed-demo`, on a fresh database, since the
-- benchmark approves and pays the charges it makes.
\set ON_ERROR_STOP on
BEGIN;

CREATE TEMPORARY TABLE bench_context ON COMMIT DROP AS
SELECT f.id AS federation_id, p.id AS practice_id,
       (SELECT id FROM users WHERE email = 'federation-admin@north-charnwood.example') AS admin_id
FROM federations f JOIN practices p ON p.federation_id = f.id
WHERE f.slug = 'north-charnwood' AND p.ods_code = 'C82010';

INSERT INTO organisations (id, federation_id, external_id, name, active)
SELECT gen_random_uuid(), c.federation_id, 'bench-ledger-org-' || g, 'Ledger Benchmark Provider ' || g, true
FROM bench_context c, generate_series(1, 1000) g;

INSERT INTO services (id, federation_id, organisation_id, external_id, name, description, need_categories,
                      delivery_modes, accepting_referrals, cost_to_patient)
SELECT gen_random_uuid(), o.federation_id, o.id, replace(o.external_id, 'org', 'svc'),
       'Benchmark group ' || replace(o.external_id, 'bench-ledger-org-', ''),
       'A weekly group run by a benchmark provider.', ARRAY['loneliness_isolation'], ARRAY['in_person'],
       true, 'Free'
FROM organisations o JOIN bench_context c ON c.federation_id = o.federation_id
WHERE o.external_id LIKE 'bench-ledger-org-%';

-- Unit prices from 500p to 975p, so totals are not a multiple of one price.
INSERT INTO tariffs (federation_id, id, service_id, organisation_id, activity_type, unit_pence,
                     effective_from, created_by)
SELECT s.federation_id, gen_random_uuid(), s.id, s.organisation_id, 'session_attended',
       500 + (replace(s.external_id, 'bench-ledger-svc-', '')::int % 20) * 25, DATE '2026-01-01', c.admin_id
FROM services s JOIN bench_context c ON c.federation_id = s.federation_id
WHERE s.external_id LIKE 'bench-ledger-svc-%';

-- NHS numbers that pass the Modulus 11 check, apart from the demo patients' 999 range.
CREATE TEMPORARY TABLE bench_patients ON COMMIT DROP AS
WITH candidates AS (
    SELECT g, (450000000 + g)::text AS stem FROM generate_series(1, 12000) g
), checked AS (
    SELECT g, stem,
           11 - (SELECT sum(substr(stem, i, 1)::int * (11 - i)) FROM generate_series(1, 9) i) % 11 AS check_digit
    FROM candidates
)
SELECT row_number() OVER (ORDER BY g) AS n, stem || (check_digit % 11)::text AS nhs_number
FROM checked WHERE check_digit <> 10
ORDER BY g LIMIT 10000;

INSERT INTO patients (federation_id, practice_id, id, nhs_number, given_name, family_name, date_of_birth,
                      share_name_with_providers, registered_by)
SELECT c.federation_id, c.practice_id, gen_random_uuid(), b.nhs_number, 'Bench', 'Patient ' || b.n,
       DATE '1950-01-01' + (b.n % 15000)::int, b.n % 2 = 0, c.admin_id
FROM bench_patients b, bench_context c;

INSERT INTO referrals (federation_id, practice_id, id, patient_id, referred_by, need_categories, urgency,
                       state, snomed_concept_id)
SELECT p.federation_id, p.practice_id, gen_random_uuid(), p.id, c.admin_id, ARRAY['loneliness_isolation'],
       'routine', 'active', '871731000000106'
FROM patients p JOIN bench_context c ON c.practice_id = p.practice_id
WHERE p.given_name = 'Bench';

-- Patient n goes to provider 1 + n % 1000: ten onward referrals per provider.
INSERT INTO onward_referrals (federation_id, practice_id, id, referral_id, patient_id, service_id,
                              organisation_id, kind, state, created_by, responded_at)
SELECT r.federation_id, r.practice_id, gen_random_uuid(), r.id, r.patient_id, s.id, s.organisation_id,
       'referral', 'accepted', c.admin_id, now()
FROM referrals r
JOIN bench_context c ON c.practice_id = r.practice_id
JOIN patients p ON p.practice_id = r.practice_id AND p.id = r.patient_id
JOIN services s ON s.federation_id = r.federation_id
     AND s.external_id = 'bench-ledger-svc-' || (1 + replace(p.family_name, 'Patient ', '')::int % 1000)
WHERE p.given_name = 'Bench';

-- Ten sessions a week apart under every onward referral, each charged by its service's tariff.
CREATE TEMPORARY TABLE bench_activities ON COMMIT DROP AS
SELECT o.federation_id, o.practice_id, gen_random_uuid() AS id, o.id AS onward_referral_id,
       o.organisation_id, o.service_id, DATE '2026-06-01' + 7 * k AS delivered_on
FROM onward_referrals o JOIN bench_context c ON c.practice_id = o.practice_id
JOIN services s ON s.id = o.service_id AND s.external_id LIKE 'bench-ledger-svc-%',
     generate_series(0, 9) k;

INSERT INTO activities (federation_id, practice_id, id, onward_referral_id, organisation_id, service_id,
                        activity_type, delivered_on, quantity, recorded_by)
SELECT a.federation_id, a.practice_id, a.id, a.onward_referral_id, a.organisation_id, a.service_id,
       'session_attended', a.delivered_on, 1, c.admin_id
FROM bench_activities a, bench_context c;

INSERT INTO charges (federation_id, id, practice_id, activity_id, organisation_id, service_id, tariff_id,
                     activity_type, delivered_on, quantity, unit_pence, amount_pence)
SELECT a.federation_id, gen_random_uuid(), a.practice_id, a.id, a.organisation_id, a.service_id, t.id,
       'session_attended', a.delivered_on, 1, t.unit_pence, t.unit_pence
FROM bench_activities a JOIN tariffs t ON t.service_id = a.service_id AND t.activity_type = 'session_attended';

COMMIT;
-- Vacuumed now so that autovacuum does not compete with the benchmark for the cores.
VACUUM ANALYZE;
SELECT (SELECT count(*) FROM organisations WHERE external_id LIKE 'bench-ledger-org-%') AS providers,
       (SELECT count(*) FROM charges WHERE status = 'pending') AS pending_charges,
       (SELECT sum(amount_pence) FROM charges WHERE status = 'pending') AS pending_pence;
