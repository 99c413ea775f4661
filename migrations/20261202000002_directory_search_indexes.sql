-- Searching near a point looks services up by a bounding box in two dimensions (then checks the
-- exact distance), which a GiST index over the location answers directly; the btree it replaces
-- could range over latitude only.
DROP INDEX services_location_idx;
CREATE INDEX services_location_idx ON services USING gist (point(longitude, latitude))
    WHERE latitude IS NOT NULL;

-- Browsing one need category in name order reads that category's active services in order, a
-- page at a time, from an index of their own: with one index for all services, PostgreSQL
-- walks the names and skips every service of another category. The search names the category
-- as a literal (a code of the fixed vocabulary, waymark_domain::directory::NeedCategory) so
-- that these partial indexes match.
DO $$
DECLARE
    category text;
BEGIN
    FOREACH category IN ARRAY ARRAY['loneliness_isolation', 'mental_wellbeing', 'physical_activity',
        'debt_benefits', 'housing', 'employment_skills', 'carers_support', 'bereavement', 'food',
        'healthy_lifestyle', 'arts_creativity', 'volunteering']
    LOOP
        EXECUTE format(
            'CREATE INDEX %I ON services (federation_id, name, id) WHERE active AND need_categories @> ARRAY[%L]::text[]',
            'services_category_' || category || '_idx', category);
    END LOOP;
END
$$;
