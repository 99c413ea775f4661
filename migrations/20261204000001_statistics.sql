-- Commissioner statistics: aggregates kept exact, in the writers' own transactions, without any
-- writer waiting for another.
--
-- Each referral has one row of facts (`stats_referrals`: its cohort, need categories and age
-- band, how far along the pathway it got, its wellbeing and GP appointment pairs), kept by
-- triggers on the pathway tables. Every change to a fact row appends its effect to
-- `stats_referral_deltas`: minus the old row's contribution, plus the new one's. Appends never
-- wait for each other, and no writer touches a shared counter. A compactor folds the deltas into
-- `stats_referral_rollups` (by practice, week or month, need category and age band, with an
-- `all` member of both) and `stats_contact_day_rollups` (the days from referral to first clinic
-- contact, for medians), deleting what it folded in the same transaction. A reader sums the
-- rollups and the deltas not yet folded in one snapshot, so every answer is exact as of that
-- snapshot, whether the compactor is behind or not.
--
-- Spend (approved and paid charges, less clawbacks) and volunteer clinic time are kept the same
-- way, from the ledger and the clinics.
--
-- Rollups hold true counts, small ones included: only the statistics routes read them, and they
-- apply the federation's disclosure control before anything leaves the service.

-- The age bands of the statistics, by age in whole years on a day. `waymark_domain::stats::AgeBand`
-- is the same rule; a test compares the two.
CREATE FUNCTION waymark_age_years(date_of_birth date, on_day date) RETURNS integer
    LANGUAGE sql IMMUTABLE
    AS $$ SELECT extract(year FROM age(on_day::timestamp, date_of_birth::timestamp))::integer $$;

-- One expression with no FROM, so that it is inlined into the statements that call it.
CREATE FUNCTION waymark_age_band(date_of_birth date, on_day date) RETURNS text
    LANGUAGE sql IMMUTABLE
    AS $$
        SELECT CASE
            WHEN waymark_age_years(date_of_birth, on_day) < 18 THEN '0_17'
            WHEN waymark_age_years(date_of_birth, on_day) < 25 THEN '18_24'
            WHEN waymark_age_years(date_of_birth, on_day) < 35 THEN '25_34'
            WHEN waymark_age_years(date_of_birth, on_day) < 45 THEN '35_44'
            WHEN waymark_age_years(date_of_birth, on_day) < 55 THEN '45_54'
            WHEN waymark_age_years(date_of_birth, on_day) < 65 THEN '55_64'
            WHEN waymark_age_years(date_of_birth, on_day) < 75 THEN '65_74'
            WHEN waymark_age_years(date_of_birth, on_day) < 85 THEN '75_84'
            ELSE '85_plus'
        END
    $$;

-- A bulk load (`waymark seed-synthetic`) builds the facts and rollups itself, set-wise, once its
-- rows are in; it says so with `waymark.stats_deferred`. Only a role that row-level security
-- does not apply to may defer: the service's role cannot skip the statistics.
-- PL/pgSQL, whose first test is a plain expression: every trigger asks, so the usual answer
-- (nothing deferred) costs no query.
CREATE FUNCTION waymark_stats_deferred() RETURNS boolean
    LANGUAGE plpgsql STABLE
    AS $$
    BEGIN
        IF coalesce(current_setting('waymark.stats_deferred', true), '') <> 'on' THEN
            RETURN false;
        END IF;
        RETURN coalesce((SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = current_user), false);
    END
    $$;

CREATE TABLE stats_referrals (
    federation_id       uuid NOT NULL,
    practice_id         uuid NOT NULL,
    referral_id         uuid NOT NULL,
    referred_on         date NOT NULL,
    need_categories     text[] NOT NULL,
    age_band            text NOT NULL,
    booked              boolean NOT NULL DEFAULT false,
    seen                boolean NOT NULL DEFAULT false,
    onward_referred     boolean NOT NULL DEFAULT false,
    engaged             boolean NOT NULL DEFAULT false,
    closed              boolean NOT NULL DEFAULT false,
    declined            boolean NOT NULL DEFAULT false,
    did_not_attend      boolean NOT NULL DEFAULT false,
    withdrawn           boolean NOT NULL DEFAULT false,
    first_contact_days  integer,
    -- SWEMWBS metric scores in hundredths and the ONS4 items, at baseline and follow-up.
    swemwbs_baseline             smallint,
    swemwbs_follow_up            smallint,
    life_satisfaction_baseline   smallint,
    life_satisfaction_follow_up  smallint,
    worthwhile_baseline          smallint,
    worthwhile_follow_up         smallint,
    happiness_baseline           smallint,
    happiness_follow_up          smallint,
    anxiety_baseline             smallint,
    anxiety_follow_up            smallint,
    gp_before                    integer,
    gp_after                     integer,
    PRIMARY KEY (federation_id, practice_id, referral_id),
    CONSTRAINT stats_referrals_referral_fkey FOREIGN KEY (federation_id, practice_id, referral_id)
        REFERENCES referrals (federation_id, practice_id, id)
);

-- The measures every referral contributes, summed by the rollups. A delta row is one fact row's
-- contribution, negated when it is taken away.
CREATE TABLE stats_referral_deltas (
    federation_id        uuid NOT NULL,
    practice_id          uuid NOT NULL,
    id                   uuid NOT NULL,
    referred_on          date NOT NULL,
    need_categories      text[] NOT NULL,
    age_band             text NOT NULL,
    referrals            integer NOT NULL,
    booked               integer NOT NULL,
    seen                 integer NOT NULL,
    onward_referred      integer NOT NULL,
    engaged              integer NOT NULL,
    closed               integer NOT NULL,
    declined             integer NOT NULL,
    did_not_attend       integer NOT NULL,
    withdrawn            integer NOT NULL,
    contact_days         integer,
    contacts             integer NOT NULL,
    contact_days_total   bigint NOT NULL,
    swemwbs_pairs        integer NOT NULL,
    swemwbs_change       bigint NOT NULL,
    swemwbs_improved     integer NOT NULL,
    life_satisfaction_pairs     integer NOT NULL,
    life_satisfaction_change    bigint NOT NULL,
    life_satisfaction_improved  integer NOT NULL,
    worthwhile_pairs     integer NOT NULL,
    worthwhile_change    bigint NOT NULL,
    worthwhile_improved  integer NOT NULL,
    happiness_pairs      integer NOT NULL,
    happiness_change     bigint NOT NULL,
    happiness_improved   integer NOT NULL,
    anxiety_pairs        integer NOT NULL,
    anxiety_change       bigint NOT NULL,
    anxiety_improved     integer NOT NULL,
    gp_pairs             integer NOT NULL,
    gp_before            bigint NOT NULL,
    gp_after             bigint NOT NULL,
    PRIMARY KEY (federation_id, practice_id, id)
);

CREATE TABLE stats_referral_rollups (
    federation_id        uuid NOT NULL,
    bucket_kind          text NOT NULL CHECK (bucket_kind IN ('week', 'month')),
    need_category        text NOT NULL,
    age_band             text NOT NULL,
    bucket_start         date NOT NULL,
    practice_id          uuid NOT NULL,
    referrals            bigint NOT NULL,
    booked               bigint NOT NULL,
    seen                 bigint NOT NULL,
    onward_referred      bigint NOT NULL,
    engaged              bigint NOT NULL,
    closed               bigint NOT NULL,
    declined             bigint NOT NULL,
    did_not_attend       bigint NOT NULL,
    withdrawn            bigint NOT NULL,
    contacts             bigint NOT NULL,
    contact_days_total   bigint NOT NULL,
    swemwbs_pairs        bigint NOT NULL,
    swemwbs_change       bigint NOT NULL,
    swemwbs_improved     bigint NOT NULL,
    life_satisfaction_pairs     bigint NOT NULL,
    life_satisfaction_change    bigint NOT NULL,
    life_satisfaction_improved  bigint NOT NULL,
    worthwhile_pairs     bigint NOT NULL,
    worthwhile_change    bigint NOT NULL,
    worthwhile_improved  bigint NOT NULL,
    happiness_pairs      bigint NOT NULL,
    happiness_change     bigint NOT NULL,
    happiness_improved   bigint NOT NULL,
    anxiety_pairs        bigint NOT NULL,
    anxiety_change       bigint NOT NULL,
    anxiety_improved     bigint NOT NULL,
    gp_pairs             bigint NOT NULL,
    gp_before            bigint NOT NULL,
    gp_after             bigint NOT NULL,
    -- A question reads one contiguous range per practice (or the whole federation's nil
    -- practice): the slice for its bucket kind, category and band, in bucket order.
    PRIMARY KEY (federation_id, bucket_kind, need_category, age_band, practice_id, bucket_start)
);

CREATE TABLE stats_contact_day_rollups (
    federation_id  uuid NOT NULL,
    bucket_kind    text NOT NULL CHECK (bucket_kind IN ('week', 'month')),
    need_category  text NOT NULL,
    age_band       text NOT NULL,
    bucket_start   date NOT NULL,
    practice_id    uuid NOT NULL,
    contact_days   integer NOT NULL,
    contacts       bigint NOT NULL,
    PRIMARY KEY (federation_id, bucket_kind, need_category, age_band, practice_id, bucket_start, contact_days)
);

-- Spend: approved and paid charges (a reversed or rejected one counts for nothing), less what
-- clawbacks took back, by the day the activity was delivered. Its rollups, like the referrals',
-- hold each practice's rows and the whole federation's under the nil practice id.
CREATE TABLE stats_spend_deltas (
    federation_id    uuid NOT NULL,
    practice_id      uuid NOT NULL,
    id               uuid NOT NULL,
    organisation_id  uuid NOT NULL,
    service_id       uuid NOT NULL,
    delivered_on     date NOT NULL,
    charges          integer NOT NULL,
    amount_pence     bigint NOT NULL,
    PRIMARY KEY (federation_id, practice_id, id)
);

CREATE TABLE stats_spend_rollups (
    federation_id    uuid NOT NULL,
    bucket_kind      text NOT NULL CHECK (bucket_kind IN ('week', 'month')),
    bucket_start     date NOT NULL,
    practice_id      uuid NOT NULL,
    organisation_id  uuid NOT NULL,
    service_id       uuid NOT NULL,
    charges          bigint NOT NULL,
    amount_pence     bigint NOT NULL,
    PRIMARY KEY (federation_id, bucket_kind, practice_id, bucket_start, organisation_id, service_id)
);

-- Volunteer time at clinics: each volunteer assigned to a session gives its length.
CREATE TABLE stats_clinic_deltas (
    federation_id      uuid NOT NULL,
    practice_id        uuid NOT NULL,
    id                 uuid NOT NULL,
    session_on         date NOT NULL,
    sessions           integer NOT NULL,
    volunteer_minutes  bigint NOT NULL,
    PRIMARY KEY (federation_id, practice_id, id)
);

CREATE TABLE stats_clinic_rollups (
    federation_id      uuid NOT NULL,
    bucket_kind        text NOT NULL CHECK (bucket_kind IN ('week', 'month')),
    bucket_start       date NOT NULL,
    practice_id        uuid NOT NULL,
    sessions           bigint NOT NULL,
    volunteer_minutes  bigint NOT NULL,
    PRIMARY KEY (federation_id, bucket_kind, practice_id, bucket_start)
);

-- One row per federation whose deltas are being folded: the compactor of any instance takes it
-- with FOR UPDATE SKIP LOCKED, so two never fold the same deltas.
CREATE TABLE stats_compactions (
    federation_id  uuid PRIMARY KEY REFERENCES federations (id),
    compacted_at   timestamptz NOT NULL
);

-- How a federation's statistics are protected and valued.
CREATE TABLE stats_settings (
    federation_id           uuid PRIMARY KEY REFERENCES federations (id),
    suppress_up_to          integer NOT NULL CHECK (suppress_up_to BETWEEN 7 AND 1000),
    round_to                integer NOT NULL CHECK (round_to BETWEEN 5 AND 1000),
    secondary_suppression   boolean NOT NULL,
    gp_consultation_pence   bigint NOT NULL CHECK (gp_consultation_pence BETWEEN 0 AND 100000000),
    version                 integer NOT NULL,
    updated_by              uuid NOT NULL,
    updated_at              timestamptz NOT NULL
);

-- A fact row as the functions below take it: the columns of stats_referrals, in order. (On
-- Citus a trigger fires on a shard, whose rows have the shard's own type, and a function taking
-- a table's row type is not created on the workers; a type of its own is.)
CREATE TYPE stats_fact AS (
    federation_id uuid, practice_id uuid, referral_id uuid, referred_on date,
    need_categories text[], age_band text, booked boolean, seen boolean,
    onward_referred boolean, engaged boolean, closed boolean, declined boolean,
    did_not_attend boolean, withdrawn boolean, first_contact_days integer,
    swemwbs_baseline smallint, swemwbs_follow_up smallint,
    life_satisfaction_baseline smallint, life_satisfaction_follow_up smallint,
    worthwhile_baseline smallint, worthwhile_follow_up smallint,
    happiness_baseline smallint, happiness_follow_up smallint,
    anxiety_baseline smallint, anxiety_follow_up smallint,
    gp_before integer, gp_after integer);

-- A fact row's contribution to the rollups, negated with `sign` -1 to take it away.
CREATE FUNCTION waymark_stats_contribution(f stats_fact, sign integer, delta_id uuid)
    RETURNS TABLE (
        federation_id uuid, practice_id uuid, id uuid, referred_on date, need_categories text[],
        age_band text, referrals integer, booked integer, seen integer, onward_referred integer,
        engaged integer, closed integer, declined integer, did_not_attend integer,
        withdrawn integer, contact_days integer, contacts integer, contact_days_total bigint,
        swemwbs_pairs integer, swemwbs_change bigint, swemwbs_improved integer,
        life_satisfaction_pairs integer, life_satisfaction_change bigint,
        life_satisfaction_improved integer, worthwhile_pairs integer, worthwhile_change bigint,
        worthwhile_improved integer, happiness_pairs integer, happiness_change bigint,
        happiness_improved integer, anxiety_pairs integer, anxiety_change bigint,
        anxiety_improved integer, gp_pairs integer, gp_before bigint, gp_after bigint)
    LANGUAGE sql IMMUTABLE
    AS $$
        SELECT f.federation_id, f.practice_id, delta_id, f.referred_on, f.need_categories,
            f.age_band, sign,
            sign * f.booked::integer, sign * f.seen::integer, sign * f.onward_referred::integer,
            sign * f.engaged::integer, sign * f.closed::integer, sign * f.declined::integer,
            sign * f.did_not_attend::integer, sign * f.withdrawn::integer,
            f.first_contact_days,
            sign * (f.first_contact_days IS NOT NULL)::integer,
            sign * coalesce(f.first_contact_days, 0)::bigint,
            sign * (f.swemwbs_follow_up - f.swemwbs_baseline IS NOT NULL)::integer,
            sign * coalesce(f.swemwbs_follow_up - f.swemwbs_baseline, 0)::bigint,
            sign * coalesce(f.swemwbs_follow_up - f.swemwbs_baseline >= 300, false)::integer,
            sign * (f.life_satisfaction_follow_up - f.life_satisfaction_baseline IS NOT NULL)::integer,
            sign * coalesce(f.life_satisfaction_follow_up - f.life_satisfaction_baseline, 0)::bigint,
            sign * coalesce(f.life_satisfaction_follow_up - f.life_satisfaction_baseline >= 1, false)::integer,
            sign * (f.worthwhile_follow_up - f.worthwhile_baseline IS NOT NULL)::integer,
            sign * coalesce(f.worthwhile_follow_up - f.worthwhile_baseline, 0)::bigint,
            sign * coalesce(f.worthwhile_follow_up - f.worthwhile_baseline >= 1, false)::integer,
            sign * (f.happiness_follow_up - f.happiness_baseline IS NOT NULL)::integer,
            sign * coalesce(f.happiness_follow_up - f.happiness_baseline, 0)::bigint,
            sign * coalesce(f.happiness_follow_up - f.happiness_baseline >= 1, false)::integer,
            -- Less anxiety is better: an improvement is a fall.
            sign * (f.anxiety_follow_up - f.anxiety_baseline IS NOT NULL)::integer,
            sign * coalesce(f.anxiety_follow_up - f.anxiety_baseline, 0)::bigint,
            sign * coalesce(f.anxiety_baseline - f.anxiety_follow_up >= 1, false)::integer,
            sign * (f.gp_after - f.gp_before IS NOT NULL)::integer,
            sign * CASE WHEN f.gp_after IS NOT NULL THEN coalesce(f.gp_before, 0) ELSE 0 END::bigint,
            sign * CASE WHEN f.gp_before IS NOT NULL THEN coalesce(f.gp_after, 0) ELSE 0 END::bigint
    $$;

-- PL/pgSQL, since Citus plans no statement of an SQL function that uses its parameters; and the
-- id is made first, so that the contribution, whose arguments are then only parameters, is
-- inlined into the INSERT's plan, which PL/pgSQL keeps from one call to the next.
CREATE FUNCTION waymark_stats_emit(f stats_fact, sign integer) RETURNS void
    LANGUAGE plpgsql
    AS $$
    DECLARE
        delta_id uuid := gen_random_uuid();
    BEGIN
        INSERT INTO stats_referral_deltas
        SELECT * FROM waymark_stats_contribution(f, sign, delta_id);
    END
    $$;

CREATE FUNCTION waymark_stats_referral_changed() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
    BEGIN
        IF waymark_stats_deferred() THEN
            RETURN NULL;
        END IF;
        IF TG_OP = 'UPDATE' AND OLD IS NOT DISTINCT FROM NEW THEN
            RETURN NULL;
        END IF;
        IF TG_OP IN ('UPDATE', 'DELETE') THEN
            PERFORM waymark_stats_emit(ROW(OLD.*)::stats_fact, -1);
        END IF;
        IF TG_OP IN ('INSERT', 'UPDATE') THEN
            PERFORM waymark_stats_emit(ROW(NEW.*)::stats_fact, 1);
        END IF;
        RETURN NULL;
    END
    $$;
-- A fact row's first contribution is written with it (waymark_stats_referral_made).
CREATE TRIGGER stats_referrals_emit AFTER UPDATE OR DELETE ON stats_referrals
    FOR EACH ROW EXECUTE FUNCTION waymark_stats_referral_changed();

-- A new referral: its fact row, in its cohort (the day it was made) and its patient's age band
-- that day.
CREATE FUNCTION waymark_stats_referral_made() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
    DECLARE
        band text;
    BEGIN
        IF waymark_stats_deferred() THEN
            RETURN NULL;
        END IF;
        INSERT INTO stats_referrals (federation_id, practice_id, referral_id, referred_on,
                                     need_categories, age_band)
        SELECT NEW.federation_id, NEW.practice_id, NEW.id, (NEW.created_at AT TIME ZONE 'UTC')::date,
               NEW.need_categories,
               waymark_age_band(p.date_of_birth, (NEW.created_at AT TIME ZONE 'UTC')::date)
        FROM patients p
        WHERE p.federation_id = NEW.federation_id AND p.practice_id = NEW.practice_id
          AND p.id = NEW.patient_id
        RETURNING age_band INTO band;
        -- A new referral contributes itself and nothing more: it has reached no stage yet.
        INSERT INTO stats_referral_deltas VALUES (
            NEW.federation_id, NEW.practice_id, gen_random_uuid(),
            (NEW.created_at AT TIME ZONE 'UTC')::date, NEW.need_categories, band,
            1, 0, 0, 0, 0, 0, 0, 0, 0, NULL, 0, 0,
            0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
        RETURN NULL;
    END
    $$;
CREATE TRIGGER referrals_stats AFTER INSERT ON referrals
    FOR EACH ROW EXECUTE FUNCTION waymark_stats_referral_made();

-- How far along the pathway a referral got, from each recorded move. States only move forward,
-- so each stage is reached once; the days to first contact count from the referral's day to the
-- day it was first seen.
CREATE FUNCTION waymark_stats_referral_moved() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
    BEGIN
        IF waymark_stats_deferred() OR NEW.to_state = 'received' THEN
            RETURN NULL;
        END IF;
        UPDATE stats_referrals f SET
            booked = f.booked OR NEW.to_state = 'booked',
            seen = f.seen OR NEW.to_state = 'seen',
            closed = f.closed OR NEW.to_state = 'closed',
            declined = f.declined OR NEW.to_state = 'declined',
            did_not_attend = f.did_not_attend OR NEW.to_state = 'did_not_attend',
            withdrawn = f.withdrawn OR NEW.to_state = 'withdrawn',
            first_contact_days = CASE
                WHEN NEW.to_state = 'seen' AND f.first_contact_days IS NULL
                THEN (NEW.changed_at AT TIME ZONE 'UTC')::date - f.referred_on
                ELSE f.first_contact_days END
        WHERE f.federation_id = NEW.federation_id AND f.practice_id = NEW.practice_id
          AND f.referral_id = NEW.referral_id;
        RETURN NULL;
    END
    $$;
CREATE TRIGGER referral_state_changes_stats AFTER INSERT ON referral_state_changes
    FOR EACH ROW EXECUTE FUNCTION waymark_stats_referral_moved();

-- Onward referred: at least one onward referral sent to a provider (signposting sends nothing).
CREATE FUNCTION waymark_stats_referred_onward() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
    BEGIN
        IF waymark_stats_deferred() OR NEW.kind <> 'referral' THEN
            RETURN NULL;
        END IF;
        UPDATE stats_referrals f SET onward_referred = true
        WHERE f.federation_id = NEW.federation_id AND f.practice_id = NEW.practice_id
          AND f.referral_id = NEW.referral_id AND NOT f.onward_referred;
        RETURN NULL;
    END
    $$;
CREATE TRIGGER onward_referrals_stats AFTER INSERT ON onward_referrals
    FOR EACH ROW EXECUTE FUNCTION waymark_stats_referred_onward();

-- Engaged: a provider accepted an onward referral. The provider's transaction cannot see the
-- referral's facts (they are the practice's), so the function runs as `waymark_stats_writer`,
-- a role with no login whose only rights are to mark a fact of the transaction's own federation
-- engaged and append the delta that follows.
DO $$
BEGIN
    CREATE ROLE waymark_stats_writer NOLOGIN NOBYPASSRLS;
EXCEPTION
    WHEN duplicate_object OR unique_violation THEN NULL;
END
$$;
DO $$
BEGIN
    -- Making the role own the function needs membership of it.
    IF NOT pg_has_role(current_user, 'waymark_stats_writer', 'MEMBER') THEN
        EXECUTE format('GRANT waymark_stats_writer TO %I', current_user);
    END IF;
END
$$;

CREATE FUNCTION waymark_stats_engaged() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
    BEGIN
        IF waymark_stats_deferred() THEN
            RETURN NULL;
        END IF;
        UPDATE stats_referrals f SET engaged = true
        WHERE f.federation_id = NEW.federation_id AND f.practice_id = NEW.practice_id
          AND f.referral_id = NEW.referral_id AND NOT f.engaged;
        RETURN NULL;
    END
    $$;
ALTER FUNCTION waymark_stats_engaged() OWNER TO waymark_stats_writer;
CREATE TRIGGER onward_referrals_engaged_stats AFTER UPDATE OF state ON onward_referrals
    FOR EACH ROW WHEN (NEW.kind = 'referral' AND NEW.state IN ('accepted', 'completed')
                       AND OLD.state IS DISTINCT FROM NEW.state)
    EXECUTE FUNCTION waymark_stats_engaged();

CREATE FUNCTION waymark_stats_wellbeing_measured() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
    DECLARE
        baseline boolean := NEW.timepoint = 'baseline';
    BEGIN
        IF waymark_stats_deferred() THEN
            RETURN NULL;
        END IF;
        UPDATE stats_referrals f SET
            swemwbs_baseline = CASE WHEN baseline THEN NEW.swemwbs_metric_hundredths ELSE f.swemwbs_baseline END,
            swemwbs_follow_up = CASE WHEN baseline THEN f.swemwbs_follow_up ELSE NEW.swemwbs_metric_hundredths END,
            life_satisfaction_baseline = CASE WHEN baseline THEN NEW.ons4_life_satisfaction ELSE f.life_satisfaction_baseline END,
            life_satisfaction_follow_up = CASE WHEN baseline THEN f.life_satisfaction_follow_up ELSE NEW.ons4_life_satisfaction END,
            worthwhile_baseline = CASE WHEN baseline THEN NEW.ons4_worthwhile ELSE f.worthwhile_baseline END,
            worthwhile_follow_up = CASE WHEN baseline THEN f.worthwhile_follow_up ELSE NEW.ons4_worthwhile END,
            happiness_baseline = CASE WHEN baseline THEN NEW.ons4_happiness ELSE f.happiness_baseline END,
            happiness_follow_up = CASE WHEN baseline THEN f.happiness_follow_up ELSE NEW.ons4_happiness END,
            anxiety_baseline = CASE WHEN baseline THEN NEW.ons4_anxiety ELSE f.anxiety_baseline END,
            anxiety_follow_up = CASE WHEN baseline THEN f.anxiety_follow_up ELSE NEW.ons4_anxiety END
        WHERE f.federation_id = NEW.federation_id AND f.practice_id = NEW.practice_id
          AND f.referral_id = NEW.referral_id;
        RETURN NULL;
    END
    $$;
CREATE TRIGGER wellbeing_measures_stats AFTER INSERT OR UPDATE ON wellbeing_measures
    FOR EACH ROW EXECUTE FUNCTION waymark_stats_wellbeing_measured();

CREATE FUNCTION waymark_stats_gp_counted() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
    BEGIN
        IF waymark_stats_deferred() THEN
            RETURN NULL;
        END IF;
        UPDATE stats_referrals f SET
            gp_before = CASE WHEN NEW.appointment_window = 'before' THEN NEW.appointments ELSE f.gp_before END,
            gp_after = CASE WHEN NEW.appointment_window = 'after' THEN NEW.appointments ELSE f.gp_after END
        WHERE f.federation_id = NEW.federation_id AND f.practice_id = NEW.practice_id
          AND f.referral_id = NEW.referral_id;
        RETURN NULL;
    END
    $$;
CREATE TRIGGER gp_appointment_counts_stats AFTER INSERT OR UPDATE ON gp_appointment_counts
    FOR EACH ROW EXECUTE FUNCTION waymark_stats_gp_counted();

-- A charge counts while it is approved or paid.
CREATE FUNCTION waymark_stats_charge_changed() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
    DECLARE
        was integer := CASE WHEN TG_OP = 'UPDATE' AND OLD.status IN ('approved', 'paid') THEN 1 ELSE 0 END;
        now_counts integer := CASE WHEN NEW.status IN ('approved', 'paid') THEN 1 ELSE 0 END;
    BEGIN
        IF waymark_stats_deferred() OR was = now_counts THEN
            RETURN NULL;
        END IF;
        INSERT INTO stats_spend_deltas VALUES (
            NEW.federation_id, NEW.practice_id, gen_random_uuid(), NEW.organisation_id,
            NEW.service_id, NEW.delivered_on, now_counts - was,
            (now_counts - was) * NEW.amount_pence);
        RETURN NULL;
    END
    $$;
CREATE TRIGGER charges_stats AFTER INSERT OR UPDATE OF status ON charges
    FOR EACH ROW EXECUTE FUNCTION waymark_stats_charge_changed();

CREATE FUNCTION waymark_stats_clawed_back() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
    BEGIN
        IF waymark_stats_deferred() THEN
            RETURN NULL;
        END IF;
        INSERT INTO stats_spend_deltas
        SELECT c.federation_id, c.practice_id, gen_random_uuid(), c.organisation_id, c.service_id,
               c.delivered_on, 0, -NEW.amount_pence
        FROM charges c
        WHERE c.federation_id = NEW.federation_id AND c.id = NEW.charge_id;
        RETURN NULL;
    END
    $$;
CREATE TRIGGER clawbacks_stats AFTER INSERT ON clawbacks
    FOR EACH ROW EXECUTE FUNCTION waymark_stats_clawed_back();

CREATE FUNCTION waymark_stats_session_held() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
    BEGIN
        IF waymark_stats_deferred() THEN
            RETURN NULL;
        END IF;
        INSERT INTO stats_clinic_deltas VALUES (
            NEW.federation_id, NEW.practice_id, gen_random_uuid(),
            (NEW.starts_at AT TIME ZONE 'UTC')::date, 1, 0);
        RETURN NULL;
    END
    $$;
CREATE TRIGGER clinic_sessions_stats AFTER INSERT ON clinic_sessions
    FOR EACH ROW EXECUTE FUNCTION waymark_stats_session_held();

CREATE FUNCTION waymark_stats_volunteer_assigned() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
    DECLARE
        assignment clinic_session_volunteers := CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
        sign integer := CASE WHEN TG_OP = 'DELETE' THEN -1 ELSE 1 END;
    BEGIN
        IF waymark_stats_deferred() THEN
            RETURN NULL;
        END IF;
        INSERT INTO stats_clinic_deltas
        SELECT s.federation_id, s.practice_id, gen_random_uuid(),
               (s.starts_at AT TIME ZONE 'UTC')::date, 0,
               sign * (extract(epoch FROM s.ends_at - s.starts_at) / 60)::bigint
        FROM clinic_sessions s
        WHERE s.federation_id = assignment.federation_id AND s.practice_id = assignment.practice_id
          AND s.id = assignment.session_id;
        RETURN NULL;
    END
    $$;
CREATE TRIGGER clinic_session_volunteers_stats AFTER INSERT OR DELETE ON clinic_session_volunteers
    FOR EACH ROW EXECUTE FUNCTION waymark_stats_volunteer_assigned();

-- Facts are patient-level: the practice's own transactions (whose writes keep them) and
-- federation administrators only. Deltas and rollups are read by the statistics routes of the
-- federation, appended to by any of its writers and folded by its compactor.
ALTER TABLE stats_referrals ENABLE ROW LEVEL SECURITY;
ALTER TABLE stats_referrals FORCE ROW LEVEL SECURITY;
CREATE POLICY stats_referrals_practice ON stats_referrals TO waymark_app
    USING (waymark_practice_visible(federation_id, practice_id))
    WITH CHECK (waymark_practice_visible(federation_id, practice_id));
GRANT SELECT, INSERT, UPDATE ON stats_referrals TO waymark_app;
CREATE POLICY stats_referrals_engagement ON stats_referrals FOR SELECT TO waymark_stats_writer
    USING (federation_id = waymark_current_federation());
CREATE POLICY stats_referrals_engaged ON stats_referrals FOR UPDATE TO waymark_stats_writer
    USING (federation_id = waymark_current_federation())
    WITH CHECK (federation_id = waymark_current_federation());
GRANT SELECT, UPDATE (engaged) ON stats_referrals TO waymark_stats_writer;
CREATE POLICY stats_referral_deltas_engaged ON stats_referral_deltas FOR INSERT TO waymark_stats_writer
    WITH CHECK (federation_id = waymark_current_federation());
GRANT INSERT ON stats_referral_deltas TO waymark_stats_writer;

DO $$
DECLARE
    aggregate text;
BEGIN
    FOREACH aggregate IN ARRAY ARRAY['stats_referral_deltas', 'stats_referral_rollups',
        'stats_contact_day_rollups', 'stats_spend_deltas', 'stats_spend_rollups',
        'stats_clinic_deltas', 'stats_clinic_rollups', 'stats_compactions', 'stats_settings']
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', aggregate);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', aggregate);
        EXECUTE format('CREATE POLICY %I ON %I TO waymark_app '
            'USING (federation_id = waymark_current_federation()) '
            'WITH CHECK (federation_id = waymark_current_federation())',
            aggregate || '_tenant', aggregate);
    END LOOP;
END
$$;
GRANT SELECT, INSERT, DELETE ON stats_referral_deltas, stats_spend_deltas, stats_clinic_deltas
    TO waymark_app;
GRANT SELECT, INSERT, UPDATE ON stats_referral_rollups, stats_contact_day_rollups,
    stats_spend_rollups, stats_clinic_rollups, stats_compactions, stats_settings TO waymark_app;

-- Folds contributions into the rollups. `source` is a relation of stats_referral_deltas' shape:
-- the deltas themselves (the compactor), or every fact row's contribution (a rebuild). Each
-- contribution counts in its week and its month, in each of its need categories and in `all`,
-- in its age band and in `all`, and under its practice and under the nil id, which stands for
-- every practice of the federation: a question about the whole federation reads those rows
-- alone rather than adding up every practice's.
CREATE FUNCTION waymark_stats_fold_referrals(federation uuid, source text) RETURNS void
    LANGUAGE plpgsql
    AS $$
    BEGIN
        EXECUTE format($sql$
            INSERT INTO stats_referral_rollups AS r
            SELECT d.federation_id, k.kind, c.category, a.band,
                   CASE WHEN k.kind = 'week' THEN date_trunc('week', (d.referred_on)::timestamp)::date
                   ELSE date_trunc('month', (d.referred_on)::timestamp)::date END,
                   p.practice,
                   sum(d.referrals), sum(d.booked), sum(d.seen), sum(d.onward_referred),
                   sum(d.engaged), sum(d.closed), sum(d.declined), sum(d.did_not_attend),
                   sum(d.withdrawn), sum(d.contacts), sum(d.contact_days_total),
                   sum(d.swemwbs_pairs), sum(d.swemwbs_change), sum(d.swemwbs_improved),
                   sum(d.life_satisfaction_pairs), sum(d.life_satisfaction_change),
                   sum(d.life_satisfaction_improved),
                   sum(d.worthwhile_pairs), sum(d.worthwhile_change), sum(d.worthwhile_improved),
                   sum(d.happiness_pairs), sum(d.happiness_change), sum(d.happiness_improved),
                   sum(d.anxiety_pairs), sum(d.anxiety_change), sum(d.anxiety_improved),
                   sum(d.gp_pairs), sum(d.gp_before), sum(d.gp_after)
            FROM %s d
            CROSS JOIN (VALUES ('week'), ('month')) k (kind)
            CROSS JOIN LATERAL unnest(d.need_categories || '{all}'::text[]) c (category)
            CROSS JOIN LATERAL (VALUES (d.age_band), ('all')) a (band)
            CROSS JOIN LATERAL (VALUES (d.practice_id), ('00000000-0000-0000-0000-000000000000'::uuid)) p (practice)
            WHERE d.federation_id = $1
            GROUP BY 1, 2, 3, 4, 5, 6
            ON CONFLICT (federation_id, bucket_kind, need_category, age_band, practice_id, bucket_start)
            DO UPDATE SET
                referrals = r.referrals + EXCLUDED.referrals,
                booked = r.booked + EXCLUDED.booked,
                seen = r.seen + EXCLUDED.seen,
                onward_referred = r.onward_referred + EXCLUDED.onward_referred,
                engaged = r.engaged + EXCLUDED.engaged,
                closed = r.closed + EXCLUDED.closed,
                declined = r.declined + EXCLUDED.declined,
                did_not_attend = r.did_not_attend + EXCLUDED.did_not_attend,
                withdrawn = r.withdrawn + EXCLUDED.withdrawn,
                contacts = r.contacts + EXCLUDED.contacts,
                contact_days_total = r.contact_days_total + EXCLUDED.contact_days_total,
                swemwbs_pairs = r.swemwbs_pairs + EXCLUDED.swemwbs_pairs,
                swemwbs_change = r.swemwbs_change + EXCLUDED.swemwbs_change,
                swemwbs_improved = r.swemwbs_improved + EXCLUDED.swemwbs_improved,
                life_satisfaction_pairs = r.life_satisfaction_pairs + EXCLUDED.life_satisfaction_pairs,
                life_satisfaction_change = r.life_satisfaction_change + EXCLUDED.life_satisfaction_change,
                life_satisfaction_improved = r.life_satisfaction_improved + EXCLUDED.life_satisfaction_improved,
                worthwhile_pairs = r.worthwhile_pairs + EXCLUDED.worthwhile_pairs,
                worthwhile_change = r.worthwhile_change + EXCLUDED.worthwhile_change,
                worthwhile_improved = r.worthwhile_improved + EXCLUDED.worthwhile_improved,
                happiness_pairs = r.happiness_pairs + EXCLUDED.happiness_pairs,
                happiness_change = r.happiness_change + EXCLUDED.happiness_change,
                happiness_improved = r.happiness_improved + EXCLUDED.happiness_improved,
                anxiety_pairs = r.anxiety_pairs + EXCLUDED.anxiety_pairs,
                anxiety_change = r.anxiety_change + EXCLUDED.anxiety_change,
                anxiety_improved = r.anxiety_improved + EXCLUDED.anxiety_improved,
                gp_pairs = r.gp_pairs + EXCLUDED.gp_pairs,
                gp_before = r.gp_before + EXCLUDED.gp_before,
                gp_after = r.gp_after + EXCLUDED.gp_after
            $sql$, source) USING federation;
        EXECUTE format($sql$
            INSERT INTO stats_contact_day_rollups AS r
            SELECT d.federation_id, k.kind, c.category, a.band,
                   CASE WHEN k.kind = 'week' THEN date_trunc('week', (d.referred_on)::timestamp)::date
                   ELSE date_trunc('month', (d.referred_on)::timestamp)::date END,
                   p.practice, d.contact_days, sum(d.contacts)
            FROM %s d
            CROSS JOIN (VALUES ('week'), ('month')) k (kind)
            CROSS JOIN LATERAL unnest(d.need_categories || '{all}'::text[]) c (category)
            CROSS JOIN LATERAL (VALUES (d.age_band), ('all')) a (band)
            CROSS JOIN LATERAL (VALUES (d.practice_id), ('00000000-0000-0000-0000-000000000000'::uuid)) p (practice)
            WHERE d.federation_id = $1 AND d.contact_days IS NOT NULL
            GROUP BY 1, 2, 3, 4, 5, 6, 7
            ON CONFLICT (federation_id, bucket_kind, need_category, age_band, practice_id, bucket_start, contact_days)
            DO UPDATE SET contacts = r.contacts + EXCLUDED.contacts
            $sql$, source) USING federation;
    END
    $$;

-- Folds a federation's pending deltas into its rollups and deletes them. It must run in a
-- repeatable-read transaction, so the deltas it deletes are exactly those it folded: one
-- committed while it runs is in neither and waits for the next fold.
CREATE FUNCTION waymark_stats_fold(federation uuid) RETURNS void
    LANGUAGE plpgsql
    AS $$
    BEGIN
        IF current_setting('transaction_isolation') <> 'repeatable read' THEN
            RAISE EXCEPTION 'waymark_stats_fold needs a repeatable read transaction';
        END IF;
        PERFORM waymark_stats_fold_referrals(federation, 'stats_referral_deltas');
        DELETE FROM stats_referral_deltas WHERE federation_id = federation;

        INSERT INTO stats_spend_rollups AS r
        SELECT d.federation_id, k.kind,
               CASE WHEN k.kind = 'week' THEN date_trunc('week', (d.delivered_on)::timestamp)::date
                   ELSE date_trunc('month', (d.delivered_on)::timestamp)::date END,
               p.practice, d.organisation_id, d.service_id, sum(d.charges), sum(d.amount_pence)
        FROM stats_spend_deltas d CROSS JOIN (VALUES ('week'), ('month')) k (kind)
        CROSS JOIN LATERAL (VALUES (d.practice_id), ('00000000-0000-0000-0000-000000000000'::uuid)) p (practice)
        WHERE d.federation_id = federation
        GROUP BY 1, 2, 3, 4, 5, 6
        ON CONFLICT (federation_id, bucket_kind, practice_id, bucket_start, organisation_id, service_id)
        DO UPDATE SET charges = r.charges + EXCLUDED.charges,
                      amount_pence = r.amount_pence + EXCLUDED.amount_pence;
        DELETE FROM stats_spend_deltas WHERE federation_id = federation;

        INSERT INTO stats_clinic_rollups AS r
        SELECT d.federation_id, k.kind,
               CASE WHEN k.kind = 'week' THEN date_trunc('week', (d.session_on)::timestamp)::date
                   ELSE date_trunc('month', (d.session_on)::timestamp)::date END,
               d.practice_id, sum(d.sessions), sum(d.volunteer_minutes)
        FROM stats_clinic_deltas d CROSS JOIN (VALUES ('week'), ('month')) k (kind)
        WHERE d.federation_id = federation
        GROUP BY 1, 2, 3, 4
        ON CONFLICT (federation_id, bucket_kind, practice_id, bucket_start)
        DO UPDATE SET sessions = r.sessions + EXCLUDED.sessions,
                      volunteer_minutes = r.volunteer_minutes + EXCLUDED.volunteer_minutes;
        DELETE FROM stats_clinic_deltas WHERE federation_id = federation;
    END
    $$;

-- Builds a federation's facts and rollups afresh from its pathway, ledger and clinics: after a
-- bulk load that deferred them. It reads every row of the federation, so it runs as a role that
-- row-level security does not restrict.
CREATE FUNCTION waymark_stats_rebuild(federation uuid) RETURNS void
    LANGUAGE plpgsql
    AS $$
    BEGIN
        DELETE FROM stats_referral_deltas WHERE federation_id = federation;
        DELETE FROM stats_referral_rollups WHERE federation_id = federation;
        DELETE FROM stats_contact_day_rollups WHERE federation_id = federation;
        DELETE FROM stats_referrals WHERE federation_id = federation;
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
               gb.appointments, ga.appointments
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

        PERFORM waymark_stats_fold_referrals(federation,
            '(SELECT c.* FROM stats_referrals f, LATERAL waymark_stats_contribution(ROW(f.*)::stats_fact, 1, f.referral_id) c WHERE f.federation_id = $1)');

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
        GROUP BY 1, 2, 3, 4, 5, 6;

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
        GROUP BY 1, 2, 3, 4;
    END
    $$;

-- Federations that already have data get their statistics now.
DO $$
DECLARE
    federation uuid;
BEGIN
    FOR federation IN SELECT id FROM federations LOOP
        PERFORM waymark_stats_rebuild(federation);
    END LOOP;
END
$$;
