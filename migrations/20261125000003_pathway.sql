-- The referral pathway: each practice's patients, referrals, volunteers, clinics, assessments,
-- wellbeing measures, onward referrals, activities, case notes, safeguarding concerns, GP
-- appointment counts, and the audit of every access to them.
--
-- Every table here is partitioned by practice inside its federation: (federation_id, practice_id)
-- lead its primary key and every key between these tables, so rows stay with their federation's
-- shard when distributed and a practice's rows can be split out without a rewrite.

-- The provider organisation a transaction acts for (provider users only).
CREATE FUNCTION waymark_current_organisation() RETURNS uuid
    LANGUAGE sql STABLE
    AS $$ SELECT nullif(current_setting('waymark.organisation_id', true), '')::uuid $$;

-- True in transactions opened for a federation administrator, who reads every practice of the
-- federation. Other federation-level principals (commissioners, service accounts, providers)
-- see no practice's rows through this.
CREATE FUNCTION waymark_federation_wide() RETURNS boolean
    LANGUAGE sql STABLE
    AS $$ SELECT coalesce(current_setting('waymark.federation_wide', true) = 'on', false) $$;

-- A practice's rows are visible to that practice's staff and to federation administrators.
CREATE FUNCTION waymark_practice_visible(federation uuid, practice uuid) RETURNS boolean
    LANGUAGE sql STABLE
    AS $$
        SELECT federation = waymark_current_federation()
           AND (practice = waymark_current_practice() OR waymark_federation_wide())
    $$;

-- Rows that must never change once written.
CREATE FUNCTION waymark_refuse_change() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
    BEGIN
        RAISE EXCEPTION '% is append-only: % is not allowed', TG_TABLE_NAME, TG_OP
            USING ERRCODE = 'insufficient_privilege';
    END
    $$;

CREATE TABLE patients (
    federation_id                 uuid NOT NULL,
    practice_id                   uuid NOT NULL,
    id                            uuid NOT NULL,
    nhs_number                    text NOT NULL,
    given_name                    text NOT NULL,
    family_name                   text NOT NULL,
    date_of_birth                 date NOT NULL,
    email                         text,
    phone                         text,
    address                       text,
    postcode                      text,
    share_name_with_providers     boolean NOT NULL DEFAULT false,
    share_contact_with_providers  boolean NOT NULL DEFAULT false,
    -- The organisations this patient has been referred on to (never signposted), which may
    -- read the patient's row: kept here because Citus allows no subquery in a policy.
    referred_to_organisations     uuid[] NOT NULL DEFAULT '{}',
    registered_by                 uuid NOT NULL,
    version                       integer NOT NULL DEFAULT 1,
    created_at                    timestamptz NOT NULL DEFAULT now(),
    updated_at                    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (federation_id, practice_id, id),
    CONSTRAINT patients_practice_id_nhs_number_key UNIQUE (federation_id, practice_id, nhs_number),
    CONSTRAINT patients_practice_fkey FOREIGN KEY (federation_id, practice_id)
        REFERENCES practices (federation_id, id),
    CONSTRAINT patients_nhs_number_digits CHECK (nhs_number ~ '^[0-9]{10}$')
);
CREATE INDEX patients_practice_family_name_idx ON patients (practice_id, family_name, id);

CREATE TABLE referrals (
    federation_id      uuid NOT NULL,
    practice_id        uuid NOT NULL,
    id                 uuid NOT NULL,
    patient_id         uuid NOT NULL,
    referred_by        uuid NOT NULL,
    need_categories    text[] NOT NULL,
    note               text,
    urgency            text NOT NULL CHECK (urgency IN ('routine', 'soon', 'urgent')),
    state              text NOT NULL DEFAULT 'received' CHECK (state IN (
        'received', 'booked', 'seen', 'active', 'closed', 'declined', 'did_not_attend', 'withdrawn')),
    snomed_concept_id  text NOT NULL,
    outcome            text CHECK (outcome IN (
        'needs_met', 'partly_met', 'not_met', 'disengaged', 'moved_away', 'other')),
    outcome_note       text,
    closed_at          timestamptz,
    version            integer NOT NULL DEFAULT 1,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (federation_id, practice_id, id),
    CONSTRAINT referrals_patient_fkey FOREIGN KEY (federation_id, practice_id, patient_id)
        REFERENCES patients (federation_id, practice_id, id),
    CONSTRAINT referrals_practice_fkey FOREIGN KEY (federation_id, practice_id)
        REFERENCES practices (federation_id, id),
    CONSTRAINT referrals_need_categories_present CHECK (cardinality(need_categories) > 0),
    CONSTRAINT referrals_closed_with_outcome CHECK ((state = 'closed') = (outcome IS NOT NULL)),
    -- Lets rows about a referral name its patient and be held to the referral's own.
    CONSTRAINT referrals_patient_key UNIQUE (federation_id, practice_id, id, patient_id)
);
CREATE INDEX referrals_patient_idx ON referrals (practice_id, patient_id, id);
CREATE INDEX referrals_state_idx ON referrals (practice_id, state, id);

-- Each move of a referral's state, for the record and for the commissioner's funnel.
CREATE TABLE referral_state_changes (
    federation_id  uuid NOT NULL,
    practice_id    uuid NOT NULL,
    id             uuid NOT NULL,
    referral_id    uuid NOT NULL,
    from_state     text,
    to_state       text NOT NULL,
    reason         text,
    changed_by     uuid NOT NULL,
    changed_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (federation_id, practice_id, id),
    CONSTRAINT referral_state_changes_referral_fkey FOREIGN KEY (federation_id, practice_id, referral_id)
        REFERENCES referrals (federation_id, practice_id, id)
);
CREATE INDEX referral_state_changes_referral_idx ON referral_state_changes (practice_id, referral_id, id);

-- Volunteers of the practice's Patient Participation Group; a volunteer may also have a user
-- account (role volunteer) to record assessments.
CREATE TABLE volunteers (
    federation_id        uuid NOT NULL,
    practice_id          uuid NOT NULL,
    id                   uuid NOT NULL,
    user_id              uuid,
    display_name         text NOT NULL,
    email                text,
    phone                text,
    background_check_on  date,
    active               boolean NOT NULL DEFAULT true,
    version              integer NOT NULL DEFAULT 1,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (federation_id, practice_id, id),
    CONSTRAINT volunteers_practice_id_user_id_key UNIQUE (federation_id, practice_id, user_id),
    CONSTRAINT volunteers_user_id_fkey FOREIGN KEY (federation_id, user_id)
        REFERENCES users (federation_id, id),
    CONSTRAINT volunteers_practice_fkey FOREIGN KEY (federation_id, practice_id)
        REFERENCES practices (federation_id, id)
);

CREATE TABLE volunteer_training (
    federation_id  uuid NOT NULL,
    practice_id    uuid NOT NULL,
    id             uuid NOT NULL,
    volunteer_id   uuid NOT NULL,
    course         text NOT NULL,
    completed_on   date NOT NULL,
    expires_on     date,
    recorded_by    uuid NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (federation_id, practice_id, id),
    CONSTRAINT volunteer_training_volunteer_fkey FOREIGN KEY (federation_id, practice_id, volunteer_id)
        REFERENCES volunteers (federation_id, practice_id, id),
    CONSTRAINT volunteer_training_dates CHECK (expires_on IS NULL OR expires_on > completed_on)
);
CREATE INDEX volunteer_training_volunteer_idx ON volunteer_training (practice_id, volunteer_id);

CREATE TABLE clinic_sessions (
    federation_id  uuid NOT NULL,
    practice_id    uuid NOT NULL,
    id             uuid NOT NULL,
    starts_at      timestamptz NOT NULL,
    ends_at        timestamptz NOT NULL,
    location       text NOT NULL,
    slot_minutes   integer NOT NULL,
    created_by     uuid NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (federation_id, practice_id, id),
    CONSTRAINT clinic_sessions_practice_fkey FOREIGN KEY (federation_id, practice_id)
        REFERENCES practices (federation_id, id),
    CONSTRAINT clinic_sessions_times CHECK (ends_at > starts_at)
);
CREATE INDEX clinic_sessions_starts_at_idx ON clinic_sessions (practice_id, starts_at, id);

CREATE TABLE clinic_session_volunteers (
    federation_id  uuid NOT NULL,
    practice_id    uuid NOT NULL,
    session_id     uuid NOT NULL,
    volunteer_id   uuid NOT NULL,
    assigned_by    uuid NOT NULL,
    assigned_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (federation_id, practice_id, session_id, volunteer_id),
    CONSTRAINT clinic_session_volunteers_session_fkey FOREIGN KEY (federation_id, practice_id, session_id)
        REFERENCES clinic_sessions (federation_id, practice_id, id),
    CONSTRAINT clinic_session_volunteers_volunteer_fkey FOREIGN KEY (federation_id, practice_id, volunteer_id)
        REFERENCES volunteers (federation_id, practice_id, id)
);
CREATE INDEX clinic_session_volunteers_volunteer_idx
    ON clinic_session_volunteers (practice_id, volunteer_id);

-- A slot holds at most one referral, and a referral at most one slot: the unique constraint and
-- the conditional update that books a slot are what stop double booking under concurrency.
CREATE TABLE clinic_slots (
    federation_id           uuid NOT NULL,
    practice_id             uuid NOT NULL,
    id                      uuid NOT NULL,
    session_id              uuid NOT NULL,
    starts_at               timestamptz NOT NULL,
    ends_at                 timestamptz NOT NULL,
    referral_id             uuid,
    booked_by               uuid,
    booked_at               timestamptz,
    attendance              text CHECK (attendance IN ('attended', 'did_not_attend')),
    attendance_recorded_at  timestamptz,
    PRIMARY KEY (federation_id, practice_id, id),
    CONSTRAINT clinic_slots_practice_id_referral_id_key UNIQUE (federation_id, practice_id, referral_id),
    CONSTRAINT clinic_slots_session_fkey FOREIGN KEY (federation_id, practice_id, session_id)
        REFERENCES clinic_sessions (federation_id, practice_id, id),
    CONSTRAINT clinic_slots_referral_fkey FOREIGN KEY (federation_id, practice_id, referral_id)
        REFERENCES referrals (federation_id, practice_id, id),
    CONSTRAINT clinic_slots_attendance_needs_booking CHECK (attendance IS NULL OR referral_id IS NOT NULL)
);
CREATE INDEX clinic_slots_session_idx ON clinic_slots (practice_id, session_id, starts_at);

-- The assessment at the clinic: what the patient needs and what matters to them.
CREATE TABLE assessments (
    federation_id    uuid NOT NULL,
    practice_id      uuid NOT NULL,
    id               uuid NOT NULL,
    referral_id      uuid NOT NULL,
    need_categories  text[] NOT NULL,
    what_matters     text NOT NULL,
    assessed_by      uuid NOT NULL,
    assessed_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (federation_id, practice_id, id),
    CONSTRAINT assessments_practice_id_referral_id_key UNIQUE (federation_id, practice_id, referral_id),
    CONSTRAINT assessments_referral_fkey FOREIGN KEY (federation_id, practice_id, referral_id)
        REFERENCES referrals (federation_id, practice_id, id)
);

-- SWEMWBS (raw and metric, in hundredths) and ONS4, at baseline and at follow-up.
CREATE TABLE wellbeing_measures (
    federation_id              uuid NOT NULL,
    practice_id                uuid NOT NULL,
    id                         uuid NOT NULL,
    referral_id                uuid NOT NULL,
    timepoint                  text NOT NULL CHECK (timepoint IN ('baseline', 'follow_up')),
    swemwbs_items              smallint[],
    swemwbs_raw                smallint CHECK (swemwbs_raw BETWEEN 7 AND 35),
    swemwbs_metric_hundredths  smallint CHECK (swemwbs_metric_hundredths BETWEEN 700 AND 3500),
    ons4_life_satisfaction     smallint CHECK (ons4_life_satisfaction BETWEEN 0 AND 10),
    ons4_worthwhile            smallint CHECK (ons4_worthwhile BETWEEN 0 AND 10),
    ons4_happiness             smallint CHECK (ons4_happiness BETWEEN 0 AND 10),
    ons4_anxiety               smallint CHECK (ons4_anxiety BETWEEN 0 AND 10),
    recorded_by                uuid NOT NULL,
    recorded_at                timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (federation_id, practice_id, id),
    CONSTRAINT wellbeing_measures_one_per_timepoint UNIQUE (federation_id, practice_id, referral_id, timepoint),
    CONSTRAINT wellbeing_measures_referral_fkey FOREIGN KEY (federation_id, practice_id, referral_id)
        REFERENCES referrals (federation_id, practice_id, id),
    CONSTRAINT wellbeing_measures_swemwbs_whole CHECK (
        num_nulls(swemwbs_items, swemwbs_raw, swemwbs_metric_hundredths) IN (0, 3)
        AND (swemwbs_items IS NULL OR cardinality(swemwbs_items) = 7)),
    CONSTRAINT wellbeing_measures_ons4_whole CHECK (
        num_nulls(ons4_life_satisfaction, ons4_worthwhile, ons4_happiness, ons4_anxiety) IN (0, 4)),
    CONSTRAINT wellbeing_measures_something_measured CHECK (
        swemwbs_raw IS NOT NULL OR ons4_life_satisfaction IS NOT NULL)
);

-- Onward referrals (sent to the provider to accept or decline) and signposting (the patient was
-- told about the service; nothing is sent). The organisation is copied from the service when the
-- onward referral is made, so a provider's view needs no join through the directory.
CREATE TABLE onward_referrals (
    federation_id    uuid NOT NULL,
    practice_id      uuid NOT NULL,
    id               uuid NOT NULL,
    referral_id      uuid NOT NULL,
    patient_id       uuid NOT NULL,
    service_id       uuid NOT NULL,
    organisation_id  uuid NOT NULL,
    kind             text NOT NULL CHECK (kind IN ('referral', 'signposting')),
    state            text NOT NULL CHECK (state IN ('pending', 'accepted', 'declined', 'completed', 'withdrawn')),
    note             text,
    decline_reason   text,
    created_by       uuid NOT NULL,
    responded_by     uuid,
    responded_at     timestamptz,
    version          integer NOT NULL DEFAULT 1,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (federation_id, practice_id, id),
    CONSTRAINT onward_referrals_referral_fkey FOREIGN KEY (federation_id, practice_id, referral_id, patient_id)
        REFERENCES referrals (federation_id, practice_id, id, patient_id),
    CONSTRAINT onward_referrals_patient_fkey FOREIGN KEY (federation_id, practice_id, patient_id)
        REFERENCES patients (federation_id, practice_id, id),
    CONSTRAINT onward_referrals_organisation_fkey FOREIGN KEY (federation_id, organisation_id)
        REFERENCES organisations (federation_id, id),
    CONSTRAINT onward_referrals_service_fkey FOREIGN KEY (federation_id, service_id)
        REFERENCES services (federation_id, id),
    CONSTRAINT onward_referrals_declined_with_reason CHECK ((state = 'declined') = (decline_reason IS NOT NULL)),
    -- Lets an activity be held to the organisation and service the referral was made to.
    CONSTRAINT onward_referrals_provider_key UNIQUE (federation_id, practice_id, id, organisation_id, service_id),
    -- Lets a provider's safeguarding concern be held to an onward referral made to it.
    CONSTRAINT onward_referrals_subject_key UNIQUE (federation_id, practice_id, id, referral_id, patient_id, organisation_id)
);
CREATE INDEX onward_referrals_referral_idx ON onward_referrals (practice_id, referral_id, id);
CREATE INDEX onward_referrals_organisation_idx ON onward_referrals (federation_id, organisation_id, id);
CREATE INDEX onward_referrals_patient_idx ON onward_referrals (practice_id, patient_id);

-- What a provider delivered under an accepted onward referral: the input of the payment ledger.
CREATE TABLE activities (
    federation_id       uuid NOT NULL,
    practice_id         uuid NOT NULL,
    id                  uuid NOT NULL,
    onward_referral_id  uuid NOT NULL,
    organisation_id     uuid NOT NULL,
    service_id          uuid NOT NULL,
    activity_type       text NOT NULL CHECK (activity_type ~ '^[a-z][a-z0-9_]{0,49}$'),
    delivered_on        date NOT NULL,
    quantity            integer NOT NULL CHECK (quantity BETWEEN 1 AND 100),
    note                text,
    recorded_by         uuid NOT NULL,
    recorded_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (federation_id, practice_id, id),
    CONSTRAINT activities_onward_referral_fkey
        FOREIGN KEY (federation_id, practice_id, onward_referral_id, organisation_id, service_id)
        REFERENCES onward_referrals (federation_id, practice_id, id, organisation_id, service_id),
    CONSTRAINT activities_organisation_fkey FOREIGN KEY (federation_id, organisation_id)
        REFERENCES organisations (federation_id, id),
    CONSTRAINT activities_service_fkey FOREIGN KEY (federation_id, service_id)
        REFERENCES services (federation_id, id)
);
CREATE INDEX activities_onward_referral_idx ON activities (practice_id, onward_referral_id, id);
CREATE INDEX activities_organisation_idx ON activities (federation_id, organisation_id, id);

-- Case notes are for the practice's clinical and volunteer roles only; they are never edited
-- (a correction is a further note).
CREATE TABLE case_notes (
    federation_id  uuid NOT NULL,
    practice_id    uuid NOT NULL,
    id             uuid NOT NULL,
    referral_id    uuid NOT NULL,
    author_id      uuid NOT NULL,
    author_role    text NOT NULL,
    body           text NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (federation_id, practice_id, id),
    CONSTRAINT case_notes_referral_fkey FOREIGN KEY (federation_id, practice_id, referral_id)
        REFERENCES referrals (federation_id, practice_id, id)
);
CREATE INDEX case_notes_referral_idx ON case_notes (practice_id, referral_id, id);

CREATE TABLE safeguarding_concerns (
    federation_id              uuid NOT NULL,
    practice_id                uuid NOT NULL,
    id                         uuid NOT NULL,
    referral_id                uuid NOT NULL,
    patient_id                 uuid NOT NULL,
    raised_by                  uuid NOT NULL,
    raised_by_role             text NOT NULL,
    raised_by_organisation_id  uuid,
    -- The onward referral a provider raised the concern under (none when the practice did).
    onward_referral_id         uuid,
    summary                    text NOT NULL,
    details                    text NOT NULL,
    status                     text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'resolved')),
    resolution                 text,
    resolved_by                uuid,
    resolved_at                timestamptz,
    version                    integer NOT NULL DEFAULT 1,
    raised_at                  timestamptz NOT NULL DEFAULT now(),
    updated_at                 timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (federation_id, practice_id, id),
    CONSTRAINT safeguarding_concerns_referral_fkey FOREIGN KEY (federation_id, practice_id, referral_id, patient_id)
        REFERENCES referrals (federation_id, practice_id, id, patient_id),
    CONSTRAINT safeguarding_concerns_patient_fkey FOREIGN KEY (federation_id, practice_id, patient_id)
        REFERENCES patients (federation_id, practice_id, id),
    CONSTRAINT safeguarding_concerns_onward_referral_fkey
        FOREIGN KEY (federation_id, practice_id, onward_referral_id, referral_id, patient_id, raised_by_organisation_id)
        REFERENCES onward_referrals (federation_id, practice_id, id, referral_id, patient_id, organisation_id),
    CONSTRAINT safeguarding_concerns_resolved_with_note CHECK ((status = 'resolved') = (resolution IS NOT NULL))
);
CREATE INDEX safeguarding_concerns_open_idx ON safeguarding_concerns (practice_id, id) WHERE status = 'open';
CREATE INDEX safeguarding_concerns_referral_idx ON safeguarding_concerns (practice_id, referral_id, id);

-- GP appointments in a window before and after the referral, entered or imported per patient.
CREATE TABLE gp_appointment_counts (
    federation_id  uuid NOT NULL,
    practice_id    uuid NOT NULL,
    id             uuid NOT NULL,
    referral_id    uuid NOT NULL,
    appointment_window  text NOT NULL CHECK (appointment_window IN ('before', 'after')),
    period_start   date NOT NULL,
    period_end     date NOT NULL,
    appointments   integer NOT NULL CHECK (appointments BETWEEN 0 AND 1000),
    source         text NOT NULL CHECK (source IN ('entered', 'imported')),
    recorded_by    uuid NOT NULL,
    recorded_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (federation_id, practice_id, id),
    CONSTRAINT gp_appointment_counts_one_per_window UNIQUE (federation_id, practice_id, referral_id, appointment_window),
    CONSTRAINT gp_appointment_counts_referral_fkey FOREIGN KEY (federation_id, practice_id, referral_id)
        REFERENCES referrals (federation_id, practice_id, id),
    CONSTRAINT gp_appointment_counts_period CHECK (period_end >= period_start)
);

-- Who read or wrote which patient's data, when and in which role. The service's role may add
-- and read rows but never change or remove them, and the triggers refuse it even to the owner.
CREATE TABLE audit_events (
    federation_id  uuid NOT NULL,
    practice_id    uuid NOT NULL,
    id             uuid NOT NULL,
    occurred_at    timestamptz NOT NULL DEFAULT now(),
    actor_id       uuid NOT NULL,
    actor_kind     text NOT NULL CHECK (actor_kind IN ('user', 'service_account')),
    actor_roles    text[] NOT NULL,
    actor_organisation_id uuid,
    action         text NOT NULL CHECK (action IN ('read', 'create', 'update')),
    resource_type  text NOT NULL,
    resource_id    uuid NOT NULL,
    patient_id     uuid NOT NULL,
    request_id     text,
    PRIMARY KEY (federation_id, practice_id, id),
    CONSTRAINT audit_events_practice_fkey FOREIGN KEY (federation_id, practice_id)
        REFERENCES practices (federation_id, id)
);
CREATE INDEX audit_events_patient_idx ON audit_events (practice_id, patient_id, id);
CREATE INDEX audit_events_actor_idx ON audit_events (practice_id, actor_id, id);
CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION waymark_refuse_change();
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION waymark_refuse_change();

-- The first answer to each Idempotency-Key, per principal: a retry finds the resource it made.
-- Only the resource's id is kept, never its content, so no patient data lives here.
CREATE TABLE idempotency_keys (
    federation_id  uuid NOT NULL REFERENCES federations (id),
    principal_id   uuid NOT NULL,
    key            text NOT NULL,
    operation      text NOT NULL,
    request_hash   text NOT NULL,
    practice_id    uuid,
    resource_id    uuid NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (federation_id, principal_id, key)
);

-- Row-level security: practice staff see their practice, federation administrators the whole
-- federation; providers see only what concerns their own organisation.
DO $$
DECLARE
    partitioned text;
BEGIN
    FOREACH partitioned IN ARRAY ARRAY['patients', 'referrals', 'referral_state_changes',
        'volunteers', 'volunteer_training', 'clinic_sessions', 'clinic_session_volunteers',
        'clinic_slots', 'assessments', 'wellbeing_measures', 'onward_referrals', 'activities',
        'safeguarding_concerns', 'gp_appointment_counts']
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', partitioned);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', partitioned);
        EXECUTE format('CREATE POLICY %I ON %I TO waymark_app '
            'USING (waymark_practice_visible(federation_id, practice_id)) '
            'WITH CHECK (waymark_practice_visible(federation_id, practice_id))',
            partitioned || '_practice', partitioned);
    END LOOP;
END
$$;

GRANT SELECT, INSERT, UPDATE ON patients, referrals, volunteers, clinic_slots, onward_referrals,
    safeguarding_concerns, gp_appointment_counts TO waymark_app;
GRANT SELECT, INSERT ON referral_state_changes, volunteer_training, clinic_sessions,
    assessments, wellbeing_measures, activities, case_notes TO waymark_app;
GRANT SELECT, INSERT, DELETE ON clinic_session_volunteers TO waymark_app;

-- A provider sees the onward referrals made to its organisation (never signposting, which is
-- not sent), the patients of those referrals, and the activities and concerns it recorded. It
-- answers those referrals (an update) but never makes one, and it adds activities and concerns
-- but never changes them. What an onward referral is about cannot change once it is made (the
-- trigger below), so a provider cannot point one of its own at another patient.
CREATE POLICY onward_referrals_provider_read ON onward_referrals FOR SELECT TO waymark_app
    USING (federation_id = waymark_current_federation()
           AND organisation_id = waymark_current_organisation() AND kind = 'referral');
CREATE POLICY onward_referrals_provider_answer ON onward_referrals FOR UPDATE TO waymark_app
    USING (federation_id = waymark_current_federation()
           AND organisation_id = waymark_current_organisation() AND kind = 'referral')
    WITH CHECK (federation_id = waymark_current_federation()
           AND organisation_id = waymark_current_organisation() AND kind = 'referral');

CREATE FUNCTION onward_referrals_keep_subject() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
    BEGIN
        IF (NEW.federation_id, NEW.practice_id, NEW.id, NEW.referral_id, NEW.patient_id,
            NEW.service_id, NEW.organisation_id, NEW.kind, NEW.created_by, NEW.created_at)
           IS DISTINCT FROM
           (OLD.federation_id, OLD.practice_id, OLD.id, OLD.referral_id, OLD.patient_id,
            OLD.service_id, OLD.organisation_id, OLD.kind, OLD.created_by, OLD.created_at) THEN
            RAISE EXCEPTION 'an onward referral keeps its referral, patient, service and kind'
                USING ERRCODE = 'insufficient_privilege';
        END IF;
        RETURN NEW;
    END
    $$;
CREATE TRIGGER onward_referrals_keep_subject BEFORE UPDATE ON onward_referrals
    FOR EACH ROW EXECUTE FUNCTION onward_referrals_keep_subject();
CREATE POLICY patients_provider ON patients FOR SELECT TO waymark_app
    USING (federation_id = waymark_current_federation()
           AND waymark_current_organisation() = ANY (referred_to_organisations));
CREATE POLICY activities_provider_read ON activities FOR SELECT TO waymark_app
    USING (federation_id = waymark_current_federation()
           AND organisation_id = waymark_current_organisation());
CREATE POLICY activities_provider_record ON activities FOR INSERT TO waymark_app
    WITH CHECK (federation_id = waymark_current_federation()
           AND organisation_id = waymark_current_organisation());
CREATE POLICY safeguarding_concerns_provider_read ON safeguarding_concerns FOR SELECT TO waymark_app
    USING (federation_id = waymark_current_federation()
           AND raised_by_organisation_id = waymark_current_organisation());
-- A provider raises a concern only under an onward referral made to it, about that referral's
-- patient: the foreign key holds the concern to one (a key is checked whatever the policies).
CREATE POLICY safeguarding_concerns_provider_raise ON safeguarding_concerns FOR INSERT TO waymark_app
    WITH CHECK (federation_id = waymark_current_federation()
           AND raised_by_organisation_id = waymark_current_organisation()
           AND onward_referral_id IS NOT NULL
           AND status = 'open');

-- Case notes: the practice's own staff only, not even federation administrators.
ALTER TABLE case_notes ENABLE ROW LEVEL SECURITY;
ALTER TABLE case_notes FORCE ROW LEVEL SECURITY;
CREATE POLICY case_notes_practice ON case_notes TO waymark_app
    USING (federation_id = waymark_current_federation() AND practice_id = waymark_current_practice())
    WITH CHECK (federation_id = waymark_current_federation() AND practice_id = waymark_current_practice());

-- Any principal of the federation records its own access; reading the log is the practice's.
ALTER TABLE audit_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit_events FORCE ROW LEVEL SECURITY;
CREATE POLICY audit_events_append ON audit_events FOR INSERT TO waymark_app
    WITH CHECK (federation_id = waymark_current_federation());
CREATE POLICY audit_events_read ON audit_events FOR SELECT TO waymark_app
    USING (waymark_practice_visible(federation_id, practice_id));
GRANT SELECT, INSERT ON audit_events TO waymark_app;

ALTER TABLE idempotency_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE idempotency_keys FORCE ROW LEVEL SECURITY;
CREATE POLICY idempotency_keys_tenant ON idempotency_keys TO waymark_app
    USING (federation_id = waymark_current_federation())
    WITH CHECK (federation_id = waymark_current_federation());
GRANT SELECT, INSERT ON idempotency_keys TO waymark_app;
