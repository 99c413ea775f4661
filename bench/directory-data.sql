-- Benchmark data: 100 organisations and 10,000 services in the north-charnwood federation,
-- spread over about 40 x 40 km around Loughborough. Deterministic (no random()), idempotent.
-- Run as the schema owner after `waymark seed-demo`.
WITH words AS (
    SELECT ARRAY['walking', 'gardening', 'choir', 'cooking', 'debt', 'benefits', 'housing', 'befriending',
                 'art', 'craft', 'exercise', 'yoga', 'swimming', 'bereavement', 'carers', 'computer', 'job',
                 'volunteering', 'lunch', 'coffee', 'knitting', 'reading', 'dance', 'cycling', 'football',
                 'allotment', 'mindfulness', 'counselling', 'music', 'drama'] AS w,
           ARRAY['club', 'group', 'course', 'drop-in', 'support', 'advice', 'circle', 'workshop', 'session', 'hub'] AS kind,
           ARRAY['loneliness_isolation', 'mental_wellbeing', 'physical_activity', 'debt_benefits', 'housing',
                 'employment_skills', 'carers_support', 'bereavement', 'food', 'healthy_lifestyle',
                 'arts_creativity', 'volunteering'] AS needs,
           ARRAY['in_person', 'phone', 'online'] AS modes
), federation AS (
    SELECT id FROM federations WHERE slug = 'north-charnwood'
), new_organisations AS (
    INSERT INTO organisations (id, federation_id, external_id, name, active)
    SELECT gen_random_uuid(), federation.id, 'bench-org-' || g, 'Benchmark Organisation ' || g, true
    FROM federation, generate_series(1, 100) g
    ON CONFLICT (federation_id, external_id) DO NOTHING
    RETURNING id
)
SELECT count(*) AS organisations_added FROM new_organisations;

WITH words AS (
    SELECT ARRAY['walking', 'gardening', 'choir', 'cooking', 'debt', 'benefits', 'housing', 'befriending',
                 'art', 'craft', 'exercise', 'yoga', 'swimming', 'bereavement', 'carers', 'computer', 'job',
                 'volunteering', 'lunch', 'coffee', 'knitting', 'reading', 'dance', 'cycling', 'football',
                 'allotment', 'mindfulness', 'counselling', 'music', 'drama'] AS w,
           ARRAY['club', 'group', 'course', 'drop-in', 'support', 'advice', 'circle', 'workshop', 'session', 'hub'] AS kind,
           ARRAY['loneliness_isolation', 'mental_wellbeing', 'physical_activity', 'debt_benefits', 'housing',
                 'employment_skills', 'carers_support', 'bereavement', 'food', 'healthy_lifestyle',
                 'arts_creativity', 'volunteering'] AS needs,
           ARRAY['in_person', 'phone', 'online'] AS modes
), organisations_by_number AS (
    SELECT o.id, o.federation_id, replace(o.external_id, 'bench-org-', '')::int AS n
    FROM organisations o JOIN federations f ON f.id = o.federation_id
    WHERE f.slug = 'north-charnwood' AND o.external_id LIKE 'bench-org-%'
), new_services AS (
    INSERT INTO services (id, federation_id, organisation_id, external_id, name, description, need_categories,
                          delivery_modes, postcode, latitude, longitude, accepting_referrals, cost_to_patient, capacity)
    SELECT gen_random_uuid(), o.federation_id, o.id, 'bench-svc-' || g,
           initcap(w[1 + g % 30]) || ' ' || kind[1 + (g / 30) % 10] || ' ' || g,
           'A friendly ' || w[1 + g % 30] || ' ' || kind[1 + (g / 30) % 10] || ' with ' || w[1 + (g * 7) % 30]
               || ' and ' || w[1 + (g * 13) % 30] || ' for local people, run by trained volunteers.',
           ARRAY[needs[1 + g % 12], needs[1 + (g * 5 + 3) % 12]],
           ARRAY[modes[1 + g % 3]],
           'LE11 1AA',
           52.77 + ((g * 37) % 1000 - 500) / 2800.0,
           -1.20 + ((g * 53) % 1000 - 500) / 1700.0,
           g % 5 <> 0, 'Free', 10 + g % 20
    FROM words, generate_series(1, 10000) g
    JOIN organisations_by_number o ON o.n = 1 + g % 100
    ON CONFLICT (federation_id, external_id) DO NOTHING
    RETURNING id
)
SELECT count(*) AS services_added FROM new_services;
ANALYZE organisations;
ANALYZE services;
