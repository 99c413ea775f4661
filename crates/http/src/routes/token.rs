//! `POST /v1/auth/token` (OAuth 2.0 password and client-credentials grants) and the JWK set.

use crate::auth::keys::Jwks;
use crate::auth::{sign_in, TokenService};
use crate::json_body::{declared_length, media_type, parse_json, read_limited, BodyLimit};
use crate::problem::ApiError;
use crate::state::AppState;
use actix_web::http::header;
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use waymark_domain::ServiceScope;

/// A token request, sent as `application/x-www-form-urlencoded` (as OAuth 2.0 clients do) or JSON.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    pub grant_type: String,
    pub username: Option<String>,
    pub password: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub scope: Option<String>,
}

/// Its schema says which fields each grant needs, as `issue_token` reads them.
impl utoipa::PartialSchema for TokenRequest {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{AllOfBuilder, ObjectBuilder, OneOfBuilder, Type};
        let text = |description: &str| {
            ObjectBuilder::new()
                .schema_type(Type::String)
                .description(Some(description))
        };
        let fields = ObjectBuilder::new()
            .property("grant_type", grant_type())
            .required("grant_type")
            .property(
                "username",
                text("The user's e-mail address (password grant)"),
            )
            .property("password", text("The user's password (password grant)"))
            .property(
                "client_id",
                text("The service account's id (client-credentials grant)"),
            )
            .property(
                "client_secret",
                text("The service account's secret (client-credentials grant)"),
            )
            .property("scope", scope())
            .additional_properties(Some(
                utoipa::openapi::schema::AdditionalProperties::FreeForm(false),
            ));
        let grant = |name: &str, needs: [&str; 2]| {
            ObjectBuilder::new()
                .property(
                    "grant_type",
                    ObjectBuilder::new()
                        .schema_type(Type::String)
                        .enum_values(Some([name])),
                )
                .required(needs[0])
                .required(needs[1])
        };
        AllOfBuilder::new()
            .item(fields)
            .item(
                OneOfBuilder::new()
                    .item(grant(PASSWORD, ["username", "password"]))
                    .item(grant(CLIENT_CREDENTIALS, ["client_id", "client_secret"])),
            )
            .examples([serde_json::json!({
                "grant_type": "password",
                "username": "clinician@rosebery.example",
                "password": "correct horse battery"
            })])
            .into()
    }
}

impl ToSchema for TokenRequest {}

/// Scopes to narrow a service account's token to: their names, separated by blanks.
fn scope() -> utoipa::openapi::Object {
    let name = ServiceScope::ALL.map(ServiceScope::as_str).join("|");
    utoipa::openapi::schema::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .pattern(Some(format!(
            "^[\\t\\n\\f\\r ]*(({name})([\\t\\n\\f\\r ]+({name}))*)?[\\t\\n\\f\\r ]*$"
        )))
        .description(Some(
            "Space-separated scopes to narrow a service account's token to (client-credentials \
             grant)",
        ))
        .build()
}

const PASSWORD: &str = "password";
const CLIENT_CREDENTIALS: &str = "client_credentials";

fn grant_type() -> utoipa::openapi::Object {
    utoipa::openapi::schema::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .enum_values(Some([PASSWORD, CLIENT_CREDENTIALS]))
        .description(Some(
            "`password` for people (with `username` and `password`), `client_credentials` for \
             service accounts (with `client_id` and `client_secret`)",
        ))
        .build()
}

#[derive(Serialize, ToSchema)]
pub struct TokenResponse {
    /// The JWT to send as `Authorization: Bearer <access_token>`.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds until the token expires (at most 900).
    pub expires_in: u64,
    /// The scopes granted (service accounts).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

/// Issues an access token to a user (password grant) or a service account (client credentials).
/// Repeated failures for one account or one client address are refused for a while (429).
#[utoipa::path(
    tag = "auth",
    request_body(
        content(
            (TokenRequest = "application/x-www-form-urlencoded"),
            (TokenRequest = "application/json"),
        )
    ),
    responses(
        (status = 200, description = "A new access token", body = TokenResponse),
        (status = 401, description = "Wrong credentials or inactive account", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many failed attempts; see Retry-After", body = crate::problem::Problem, content_type = "application/problem+json"),
    )
)]
#[post("/auth/token")]
pub async fn issue_token(
    req: HttpRequest,
    mut payload: web::Payload,
    state: web::Data<AppState>,
    tokens: web::Data<TokenService>,
    limit: web::Data<BodyLimit>,
) -> Result<HttpResponse, ApiError> {
    let media = media_type(&req);
    let body = read_limited(&mut payload, declared_length(&req), limit.0).await?;
    let request: TokenRequest =
        match media.as_str() {
            "application/x-www-form-urlencoded" => {
                serde_urlencoded::from_bytes(&body).map_err(|e| {
                    ApiError::bad_request(
                        "invalid_form",
                        format!("the form body could not be read: {e}"),
                    )
                })?
            }
            "application/json" => parse_json(&body)?,
            _ => return Err(ApiError::UnsupportedMediaType(
                "send the token request as application/x-www-form-urlencoded or application/json"
                    .into(),
            )),
        };
    let address = crate::client_address::of_request(&req)
        .map(|address| address.to_string())
        .unwrap_or_else(|| "unknown".into());
    let principal = match request.grant_type.as_str() {
        PASSWORD => {
            let (Some(username), Some(password)) = (request.username, request.password) else {
                return Err(missing("the password grant needs username and password"));
            };
            sign_in::with_password(&state, &username, password, &address).await?
        }
        CLIENT_CREDENTIALS => {
            let (Some(client_id), Some(client_secret)) = (request.client_id, request.client_secret)
            else {
                return Err(missing(
                    "the client_credentials grant needs client_id and client_secret",
                ));
            };
            let requested = request
                .scope
                .as_deref()
                .map(ServiceScope::parse_list)
                .transpose()
                .map_err(|e| ApiError::bad_request("invalid_scope", e.to_string()))?;
            sign_in::with_client_credentials(
                &state,
                &client_id,
                &client_secret,
                requested,
                &address,
            )
            .await?
        }
        other => {
            return Err(ApiError::bad_request(
                "unsupported_grant_type",
                format!("grant_type must be password or client_credentials, not {other:?}"),
            ))
        }
    };
    let issued = tokens.issue(&principal).map_err(ApiError::internal)?;
    let scope = (!principal.scopes.is_empty()).then(|| ServiceScope::join(&principal.scopes));
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(TokenResponse {
            access_token: issued.access_token,
            token_type: "Bearer",
            expires_in: issued.expires_in,
            scope,
        }))
}

fn missing(detail: &str) -> ApiError {
    ApiError::bad_request("invalid_request", detail)
}

/// The public keys that verify access tokens (RFC 7517), for resource servers and gateways.
#[utoipa::path(tag = "auth", responses((status = 200, description = "The JWK set", body = Jwks)))]
#[get("/.well-known/jwks.json")]
pub async fn jwks(tokens: web::Data<TokenService>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
        .json(tokens.jwks())
}
