-- A rebuild in three parts, so a bulk load can sum the referral rollups itself (in Rust,
-- `waymark_domain::stats::rollup`, many times faster than a GROUP BY over each referral's
-- fifty-odd cells) between the facts and the spend and clinic rollups; `waymark_stats_rebuild`
-- is the three in order, with the database's own fold in the middle, as before.

-- On Citus the functions are changed over one connection per node.
SET LOCAL citus.multi_shard_modify_mode = 'sequential';

-- Deletes the federation's statistics and builds its facts again from its pathway.
CREATE FUNCTION waymark_stats_rebuild_facts(federation uuid) RETURNS void
    LANGUAGE plpgsql
    AS $$
    BEGIN
        -- The facts first: unless the caller deferred the triggers, deleting them appends
        -- their contributions' negations to the deltas, which go next.
        DELETE FROM stats_referrals WHERE federation_id = federation;
        DELETE FROM stats_referral_deltas WHERE federation_id = federation;
        DELETE FROM stats_referral_rollups WHERE federation_id = federation;
        DELETE FROM stats_contact_day_rollups WHERE federation_id = federation;
        DELETE FROM stats_spend_deltas WHERE federation_id = federation;
        DELETE FROM stats_spend_rollups WHERE federation_id = federation;
        DELETE FROM stats_clinic_deltas WHERE federation_id = federation;
        DELETE FROM stats_clinic_rollups WHERE federation_id = federation;

        INSERT INTO stats_referrals
        SELECT r.federation_id, r.practice_id, r.id, (r.created_at AT TIME ZONE 'UTC')::date,
               r.need_categories,
               waymark_age_band(p.date_of_birth, (r.created_at AT TIME ZONE 'UTC')::date),
               coalesce(m.booked, false), coalesce(m.seen, false), coalesce(o.onward, false),
               coalesce(o.engaged, false), coalesce(m.closed, false), coalesce(m.declined, false),
               coalesce(m.did_not_attend, false), coalesce(m.withdrawn, false),
               (m.seen_at AT TIME ZONE 'UTC')::date - (r.created_at AT TIME ZONE 'UTC')::date,
               b.swemwbs_metric_hundredths, f.swemwbs_metric_hundredths,
               b.ons4_life_satisfaction, f.ons4_life_satisfaction,
               b.ons4_worthwhile, f.ons4_worthwhile,
               b.ons4_happiness, f.ons4_happiness,
               b.ons4_anxiety, f.ons4_anxiety,
               gb.appointments, ga.appointments, coalesce(p.sex, 'not_known')
        FROM referrals r
        JOIN patients p ON p.federation_id = r.federation_id AND p.practice_id = r.practice_id
                       AND p.id = r.patient_id
        LEFT JOIN (
            SELECT s.federation_id, s.practice_id, s.referral_id,
                   bool_or(s.to_state = 'booked') AS booked, bool_or(s.to_state = 'seen') AS seen,
                   bool_or(s.to_state = 'closed') AS closed,
                   bool_or(s.to_state = 'declined') AS declined,
                   bool_or(s.to_state = 'did_not_attend') AS did_not_attend,
                   bool_or(s.to_state = 'withdrawn') AS withdrawn,
                   min(s.changed_at) FILTER (WHERE s.to_state = 'seen') AS seen_at
            FROM referral_state_changes s WHERE s.federation_id = federation
            GROUP BY 1, 2, 3
        ) m ON m.federation_id = r.federation_id AND m.practice_id = r.practice_id AND m.referral_id = r.id
        LEFT JOIN (
            -- Engaged: a provider accepted one (and may have completed it, or it may have been
            -- withdrawn since: an answered one without a decline reason was accepted).
            SELECT o.federation_id, o.practice_id, o.referral_id, true AS onward,
                   bool_or(o.state IN ('accepted', 'completed')
                           OR (o.state = 'withdrawn' AND o.responded_at IS NOT NULL
                               AND o.decline_reason IS NULL)) AS engaged
            FROM onward_referrals o WHERE o.federation_id = federation AND o.kind = 'referral'
            GROUP BY 1, 2, 3
        ) o ON o.federation_id = r.federation_id AND o.practice_id = r.practice_id AND o.referral_id = r.id
        LEFT JOIN wellbeing_measures b ON b.federation_id = r.federation_id
            AND b.practice_id = r.practice_id AND b.referral_id = r.id AND b.timepoint = 'baseline'
        LEFT JOIN wellbeing_measures f ON f.federation_id = r.federation_id
            AND f.practice_id = r.practice_id AND f.referral_id = r.id AND f.timepoint = 'follow_up'
        LEFT JOIN gp_appointment_counts gb ON gb.federation_id = r.federation_id
            AND gb.practice_id = r.practice_id AND gb.referral_id = r.id AND gb.appointment_window = 'before'
        LEFT JOIN gp_appointment_counts ga ON ga.federation_id = r.federation_id
            AND ga.practice_id = r.practice_id AND ga.referral_id = r.id AND ga.appointment_window = 'after'
        WHERE r.federation_id = federation;
    END
    $$;

-- Builds the federation's spend and clinic rollups, once the rebuild has deleted them.
CREATE FUNCTION waymark_stats_rebuild_spend_and_clinic_rollups(federation uuid) RETURNS void
    LANGUAGE plpgsql
    AS $$
    BEGIN
        INSERT INTO stats_spend_rollups
        SELECT c.federation_id, k.kind,
               CASE WHEN k.kind = 'week' THEN date_trunc('week', (c.delivered_on)::timestamp)::date
                   ELSE date_trunc('month', (c.delivered_on)::timestamp)::date END,
               p.practice, c.organisation_id, c.service_id,
               count(*) FILTER (WHERE c.status IN ('approved', 'paid')),
               coalesce(sum(c.amount_pence) FILTER (WHERE c.status IN ('approved', 'paid')), 0)
                   - coalesce(sum(cb.amount_pence), 0)
        FROM charges c
        LEFT JOIN (SELECT x.federation_id, x.charge_id, sum(x.amount_pence) AS amount_pence
                   FROM clawbacks x WHERE x.federation_id = federation GROUP BY 1, 2) cb
            ON cb.federation_id = c.federation_id AND cb.charge_id = c.id
        CROSS JOIN (VALUES ('week'), ('month')) k (kind)
        CROSS JOIN LATERAL (VALUES (c.practice_id), ('00000000-0000-0000-0000-000000000000'::uuid)) p (practice)
        WHERE c.federation_id = federation
          AND (c.status IN ('approved', 'paid') OR cb.charge_id IS NOT NULL)
        GROUP BY 1, 2, 3, 4, 5, 6
        ORDER BY 1, 2, 4, 3, 5, 6;

        INSERT INTO stats_clinic_rollups
        SELECT s.federation_id, k.kind,
               CASE WHEN k.kind = 'week' THEN date_trunc('week', (s.starts_at AT TIME ZONE 'UTC')::timestamp)::date
                   ELSE date_trunc('month', (s.starts_at AT TIME ZONE 'UTC')::timestamp)::date END,
               s.practice_id, count(*),
               coalesce(sum(v.volunteers * (extract(epoch FROM s.ends_at - s.starts_at) / 60)::bigint), 0)
        FROM clinic_sessions s
        LEFT JOIN (SELECT x.federation_id, x.practice_id, x.session_id, count(*) AS volunteers
                   FROM clinic_session_volunteers x WHERE x.federation_id = federation
                   GROUP BY 1, 2, 3) v
            ON v.federation_id = s.federation_id AND v.practice_id = s.practice_id AND v.session_id = s.id
        CROSS JOIN (VALUES ('week'), ('month')) k (kind)
        WHERE s.federation_id = federation
        GROUP BY 1, 2, 3, 4
        ORDER BY 1, 2, 4, 3;
    END
    $$;

CREATE OR REPLACE FUNCTION waymark_stats_rebuild(federation uuid) RETURNS void
    LANGUAGE plpgsql
    AS $$
    BEGIN
        PERFORM waymark_stats_rebuild_facts(federation);
        -- The federation has no rollups now, so nothing is merged: a plain insert, which does not
        -- need the rollups' keys (a bulk load builds them afterwards).
        PERFORM waymark_stats_fold_referrals(federation,
            '(SELECT c.* FROM stats_referrals f, LATERAL waymark_stats_contribution(ROW(f.*)::stats_fact, 1, f.referral_id) c WHERE f.federation_id = $1)',
            false);
        PERFORM waymark_stats_rebuild_spend_and_clinic_rollups(federation);
    END
    $$;
