//! The rows of a generated federation, a buffer per table, sent in an order that puts every row
//! after the rows it refers to.

use sqlx::PgConnection;
use uuid::Uuid;
use waymark_persistence::bulk::{self, CopyBatch, CopyRows, LoadError};
use waymark_persistence::StoreError;

/// Tables loaded with every check as each row arrives: their inserts fire more than keys and
/// statistics (the directory's version, the ledger's balance checks), there are few of their
/// rows, or (the federation) they are what the others' checks are scoped by.
const CHECKED_EACH_ROW: &[&str] = &[
    "federations",
    "practices",
    "organisations",
    "services",
    "users",
    "ledger_settings",
    "tariffs",
    "ledger_accounts",
    "ledger_transfers",
    "ledger_entries",
    "payment_runs",
    "remittances",
];

macro_rules! tables {
    ($($name:ident: [$($column:literal),+ $(,)?]),+ $(,)?) => {
        pub struct Tables {
            $(pub $name: CopyRows,)+
        }

        impl Tables {
            /// Empty buffers for every table, each column's type read from the catalogue.
            pub async fn new(conn: &mut PgConnection) -> Result<Self, StoreError> {
                Ok(Self {
                    $($name: CopyRows::new(&mut *conn, stringify!($name), &[$($column),+]).await?,)+
                })
            }

            /// Each table's buffered rows, in the order the tables are declared.
            pub async fn send(&mut self, conn: &mut PgConnection) -> Result<u64, StoreError> {
                let mut sent = 0;
                $(sent += self.$name.send(conn).await?;)+
                Ok(sent)
            }

            /// Each table's buffered rows, taken to be sent elsewhere, in the order the tables
            /// are declared.
            pub fn take_batches(&mut self) -> Vec<CopyBatch> {
                [$(self.$name.take_batch()),+].into_iter().flatten().collect()
            }

            pub fn pending_bytes(&self) -> usize {
                0 $(+ self.$name.pending_bytes())+
            }

            /// Loads the tables whose inserts fire only foreign keys and statistics triggers
            /// with those off, to be checked by [`Tables::check_keys`] (and the statistics
            /// rebuilt) once everything is in.
            pub fn check_keys_afterwards(&mut self) {
                $(if !CHECKED_EACH_ROW.contains(&stringify!($name)) {
                    self.$name.check_keys_afterwards();
                })+
            }

            /// The tables loaded with their keys off.
            pub fn checked_afterwards(&self) -> Vec<&str> {
                [$(&self.$name),+]
                    .into_iter()
                    .filter(|rows| rows.keys_checked_afterwards())
                    .map(|rows| rows.table())
                    .collect()
            }

            /// Checks the keys of every table loaded with them off.
            pub async fn check_keys(
                &self,
                conn: &mut PgConnection,
                federation: Uuid,
            ) -> Result<(), LoadError> {
                bulk::check_keys(conn, &self.checked_afterwards(), federation).await
            }

            /// Rows sent, per table.
            pub fn counts(&self) -> Vec<(&'static str, u64)> {
                vec![$((stringify!($name), self.$name.sent()),)+]
            }
        }
    };
}

// Declared parents first: COPY checks each foreign key as the rows arrive (the ledger's keys to
// transfers and remittances wait for the commit).
tables! {
    federations: ["id", "slug", "name", "created_at", "updated_at"],
    practices: ["federation_id", "id", "ods_code", "name", "created_at", "updated_at"],
    organisations: ["federation_id", "id", "name", "charity_number", "email", "phone",
        "contact_name", "payee_reference", "created_at", "updated_at"],
    services: ["federation_id", "id", "organisation_id", "name", "description",
        "need_categories", "delivery_modes", "address", "postcode", "latitude", "longitude",
        "accepting_referrals", "cost_to_patient", "contact_email", "created_at", "updated_at"],
    users: ["federation_id", "id", "practice_id", "organisation_id", "email", "display_name",
        "roles", "created_at", "updated_at"],
    ledger_settings: ["federation_id", "updated_at"],
    tariffs: ["federation_id", "id", "service_id", "organisation_id", "activity_type",
        "unit_pence", "effective_from", "created_by", "created_at"],
    volunteers: ["federation_id", "practice_id", "id", "user_id", "display_name", "email",
        "background_check_on", "created_at", "updated_at"],
    volunteer_training: ["federation_id", "practice_id", "id", "volunteer_id", "course",
        "completed_on", "recorded_by", "created_at"],
    patients: ["federation_id", "practice_id", "id", "nhs_number", "given_name", "family_name",
        "date_of_birth", "email", "phone", "postcode", "share_name_with_providers",
        "share_contact_with_providers", "referred_to_organisations", "registered_by",
        "created_at", "updated_at", "sex"],
    referrals: ["federation_id", "practice_id", "id", "patient_id", "referred_by",
        "need_categories", "note", "urgency", "state", "snomed_concept_id", "outcome",
        "closed_at", "version", "created_at", "updated_at"],
    referral_state_changes: ["federation_id", "practice_id", "id", "referral_id", "from_state",
        "to_state", "reason", "changed_by", "changed_at"],
    clinic_sessions: ["federation_id", "practice_id", "id", "starts_at", "ends_at", "location",
        "slot_minutes", "created_by", "created_at"],
    clinic_session_volunteers: ["federation_id", "practice_id", "session_id", "volunteer_id",
        "assigned_by", "assigned_at"],
    clinic_slots: ["federation_id", "practice_id", "id", "session_id", "starts_at", "ends_at",
        "referral_id", "booked_by", "booked_at", "attendance", "attendance_recorded_at"],
    assessments: ["federation_id", "practice_id", "id", "referral_id", "need_categories",
        "what_matters", "assessed_by", "assessed_at"],
    wellbeing_measures: ["federation_id", "practice_id", "id", "referral_id", "timepoint",
        "swemwbs_items", "swemwbs_raw", "swemwbs_metric_hundredths", "ons4_life_satisfaction",
        "ons4_worthwhile", "ons4_happiness", "ons4_anxiety", "recorded_by", "recorded_at"],
    onward_referrals: ["federation_id", "practice_id", "id", "referral_id", "patient_id",
        "service_id", "organisation_id", "kind", "state", "decline_reason", "created_by",
        "responded_by", "responded_at", "version", "created_at", "updated_at"],
    activities: ["federation_id", "practice_id", "id", "onward_referral_id", "organisation_id",
        "service_id", "activity_type", "delivered_on", "quantity", "recorded_by", "recorded_at"],
    charges: ["federation_id", "id", "practice_id", "activity_id", "organisation_id",
        "service_id", "tariff_id", "activity_type", "delivered_on", "quantity", "unit_pence",
        "amount_pence", "status", "approval_transfer_id", "remittance_id", "decided_by",
        "decided_at", "reason", "version", "created_at", "updated_at"],
    case_notes: ["federation_id", "practice_id", "id", "referral_id", "author_id",
        "author_role", "body", "created_at"],
    gp_appointment_counts: ["federation_id", "practice_id", "id", "referral_id",
        "appointment_window", "period_start", "period_end", "appointments", "source",
        "recorded_by", "recorded_at"],
    audit_events: ["federation_id", "practice_id", "id", "occurred_at", "actor_id",
        "actor_kind", "actor_roles", "actor_organisation_id", "action", "resource_type",
        "resource_id", "patient_id"],
    ledger_accounts: ["federation_id", "id", "kind", "organisation_id", "debits_pence",
        "credits_pence", "created_at"],
    ledger_transfers: ["federation_id", "id", "kind", "amount_pence", "organisation_id",
        "description", "created_by", "created_at"],
    ledger_entries: ["federation_id", "transfer_id", "account_id", "organisation_id", "side",
        "amount_pence", "created_at"],
    payment_runs: ["federation_id", "id", "cut_off", "total_pence", "recovered_pence",
        "charge_count", "provider_count", "created_by", "created_at"],
    remittances: ["federation_id", "id", "payment_run_id", "organisation_id", "transfer_id",
        "amount_pence", "gross_pence", "recovered_pence", "charge_count", "created_at"],
}
