//! The routes, one module per resource. Handlers parse, authorise, call persistence and map.

pub mod dashboard;
pub mod directory;
pub mod events;
pub mod fallback;
pub mod federations;
pub mod health;
pub mod ledger;
pub mod me;
pub mod oruk;
pub mod pathway;
pub mod practices;
pub mod service_accounts;
pub mod stats;
pub mod token;
pub mod users;
pub mod webhooks;

use utoipa_actix_web::scope;
use utoipa_actix_web::service_config::ServiceConfig;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(
        scope("/oruk/{federation}")
            .wrap(actix_web::middleware::from_fn(
                crate::public_rate_limit::limit_public_requests,
            ))
            .wrap(any_origin())
            .service(oruk::routes::oruk_root)
            .service(oruk::routes::oruk_services)
            .service(oruk::routes::oruk_service)
            .service(oruk::routes::oruk_service_at_locations)
            .service(oruk::routes::oruk_service_at_location)
            .service(oruk::routes::oruk_taxonomies)
            .service(oruk::routes::oruk_taxonomy)
            .service(oruk::routes::oruk_taxonomy_terms)
            .service(oruk::routes::oruk_taxonomy_term),
    );
    cfg.service(dashboard::dashboard_page)
        .service(dashboard::dashboard_script)
        .service(dashboard::dashboard_charts)
        .service(dashboard::dashboard_style);
    cfg.service(health::healthz)
        .service(health::readyz)
        .service(health::metrics)
        .service(token::jwks)
        .service(
            scope("/v1")
                .wrap(actix_web::middleware::from_fn(
                    crate::rate_limit::limit_api_requests,
                ))
                .service(token::issue_token)
                .service(me::me)
                .service(federations::create_federation)
                .service(federations::list_federations)
                .service(federations::get_federation)
                .service(federations::create_federation_admin)
                .service(practices::create_practice)
                .service(practices::list_practices)
                .service(practices::get_practice)
                .service(practices::update_practice)
                .service(users::create_user)
                .service(users::list_users)
                .service(users::get_user)
                .service(users::update_user)
                .service(service_accounts::create_service_account)
                .service(service_accounts::list_service_accounts)
                .service(service_accounts::get_service_account)
                .service(service_accounts::update_service_account)
                .service(service_accounts::rotate_service_account_secret)
                .service(service_accounts::revoke_service_account)
                .service(directory::need_categories::list_need_categories)
                .service(directory::import::import_directory)
                .service(directory::organisations::create_organisation)
                .service(directory::organisations::list_organisations)
                .service(directory::organisations::get_organisation)
                .service(directory::organisations::update_organisation)
                .service(directory::services::create_service)
                .service(directory::services::search_services)
                .service(directory::services::get_service)
                .service(directory::services::update_service)
                .service(pathway::patients::create_patient)
                .service(pathway::patients::list_patients)
                .service(pathway::patients::get_patient)
                .service(pathway::patients::update_patient)
                .service(pathway::referrals::create_referral)
                .service(pathway::referral_export::export_referrals)
                .service(pathway::referrals::list_referrals)
                .service(pathway::referrals::get_referral)
                .service(pathway::referrals::referral_history)
                .service(pathway::gp_message::gp_message)
                .service(pathway::gp_message::referral_fhir)
                .service(pathway::gp_coding::coding_queue)
                .service(pathway::gp_coding::acknowledge_codes)
                .service(pathway::referrals::transition_referral)
                .service(pathway::volunteers::create_volunteer)
                .service(pathway::volunteers::list_volunteers)
                .service(pathway::volunteers::get_volunteer)
                .service(pathway::volunteers::update_volunteer)
                .service(pathway::volunteers::add_training)
                .service(pathway::clinics::create_session)
                .service(pathway::clinics::list_sessions)
                .service(pathway::clinics::get_session)
                .service(pathway::clinics::assign_volunteer)
                .service(pathway::clinics::unassign_volunteer)
                .service(pathway::clinics::book_slot)
                .service(pathway::clinics::record_attendance)
                .service(pathway::assessments::create_assessment)
                .service(pathway::assessments::get_assessment)
                .service(pathway::assessments::record_measure)
                .service(pathway::assessments::list_measures)
                .service(pathway::onward::create_onward_referral)
                .service(pathway::onward::list_onward_referrals)
                .service(pathway::onward::withdraw_onward_referral)
                .service(pathway::provider::provider_list)
                .service(pathway::provider::provider_get)
                .service(pathway::provider::provider_transition)
                .service(pathway::provider::record_activity)
                .service(pathway::provider::list_activities)
                .service(pathway::provider::raise_concern)
                .service(pathway::case_notes::create_case_note)
                .service(pathway::case_notes::list_case_notes)
                .service(pathway::safeguarding::raise_concern)
                .service(pathway::safeguarding::list_concerns)
                .service(pathway::safeguarding::get_concern)
                .service(pathway::safeguarding::resolve_concern)
                .service(pathway::gp_appointments::put_count)
                .service(pathway::gp_appointments::list_counts)
                .service(pathway::gp_appointments::import_counts)
                .service(pathway::audit_events::list_audit_events)
                .service(webhooks::create_webhook)
                .service(webhooks::list_webhooks)
                .service(webhooks::get_webhook)
                .service(webhooks::update_webhook)
                .service(webhooks::delete_webhook)
                .service(webhooks::rotate_webhook_secret)
                .service(webhooks::list_webhook_attempts)
                .service(events::export_events)
                .service(events::list_events)
                .service(stats::referrals::referral_stats)
                .service(stats::referrals::funnel_stats)
                .service(stats::outcomes::wellbeing_stats)
                .service(stats::outcomes::gp_appointment_stats)
                .service(stats::spend::spend_stats)
                .service(stats::clinics::volunteer_hours_stats)
                .service(stats::settings::get_stats_settings)
                .service(stats::settings::replace_stats_settings)
                .service(ledger::funding::get_settings)
                .service(ledger::funding::update_settings)
                .service(ledger::funding::list_accounts)
                .service(ledger::funding::top_up)
                .service(ledger::exports::export_transfers)
                .service(ledger::funding::list_transfers)
                .service(ledger::funding::reconciliation)
                .service(ledger::tariffs::create_tariff)
                .service(ledger::tariffs::list_tariffs)
                .service(ledger::tariffs::get_tariff)
                .service(ledger::tariffs::end_tariff)
                .service(ledger::charges::decide_charges)
                .service(ledger::charges::decide_charge)
                .service(ledger::charges::reverse_charge)
                .service(ledger::clawbacks::claw_back_charge)
                .service(ledger::clawbacks::list_clawbacks)
                .service(ledger::clawbacks::get_clawback)
                .service(ledger::charges::list_charges)
                .service(ledger::charges::get_charge)
                .service(ledger::payment_runs::create_payment_run)
                .service(ledger::payment_runs::list_payment_runs)
                .service(ledger::payment_runs::get_payment_run)
                .service(ledger::payment_runs::list_remittances)
                .service(ledger::payment_runs::get_remittance)
                .service(ledger::statements::get_statement),
        );
}

/// Public routes may be called from any web page.
fn any_origin() -> actix_cors::Cors {
    actix_cors::Cors::default()
        .allow_any_origin()
        .send_wildcard()
        .allowed_methods([actix_web::http::Method::GET])
        .max_age(3600)
}

/// The `Location` of a resource under `/v1`.
pub(crate) fn location(collection: &str, id: uuid::Uuid) -> String {
    format!("/v1/{collection}/{id}")
}
