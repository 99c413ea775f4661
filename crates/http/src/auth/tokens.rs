//! Access tokens: EdDSA-signed JWTs with a `kid`, issuer, audience and a short life.

use super::keys::SigningKeys;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, Header, Validation};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;
use uuid::Uuid;
use waymark_domain::{
    FederationId, OrganisationId, PracticeId, Principal, PrincipalKind, Role, ServiceScope,
};

/// Tokens never live longer than this, whatever the configuration says.
pub const MAX_TOKEN_TTL: Duration = Duration::from_secs(15 * 60);
/// Clock skew tolerated between this service and whoever checks `exp` and `nbf`.
const LEEWAY_SECS: u64 = 5;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SubjectKind {
    User,
    ServiceAccount,
}

/// The claims of a Waymark access token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub aud: String,
    pub sub: Uuid,
    pub exp: u64,
    pub nbf: u64,
    pub iat: u64,
    pub jti: Uuid,
    pub kind: SubjectKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub federation_id: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub practice_id: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organisation_id: Option<Uuid>,
    #[serde(default)]
    pub roles: Vec<Role>,
    /// Space-separated OAuth scopes (service accounts only).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub scope: String,
}

/// Why a token was refused; each becomes a 401 with this text as its detail.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the token is not a well-formed JWT")]
    Malformed,
    #[error("the token's algorithm is not accepted; tokens are signed with EdDSA")]
    Algorithm,
    #[error("the token names no signing key (kid)")]
    MissingKeyId,
    #[error("the token was signed by an unknown key")]
    UnknownKey,
    #[error("the token's signature does not verify")]
    Signature,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet")]
    NotYetValid,
    #[error("the token was issued by someone else")]
    Issuer,
    #[error("the token is meant for another audience")]
    Audience,
    #[error("the token's claims are missing or malformed")]
    Claims,
}

pub struct TokenService {
    keys: SigningKeys,
    issuer: String,
    audience: String,
    ttl: Duration,
    validation: Validation,
    verified: VerifiedTokens,
}

/// Tokens already verified, with what they said, until they expire. A token is immutable and its
/// signature, issuer and audience checks cannot change their answer while this process runs with
/// the same keys, so a client sending the same token again is answered from here; only its
/// expiry is checked anew. Bounded: when full, expired entries go first, then everything.
#[derive(Default)]
struct VerifiedTokens {
    entries: Mutex<HashMap<Box<str>, (VerifiedToken, u64)>>,
}

/// What a verified token says: who, and when it was issued (a service account's tokens issued
/// before it was deactivated or revoked are refused).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedToken {
    pub principal: Principal,
    /// `iat`, seconds since the Unix epoch.
    pub issued_at: u64,
}

const MAX_VERIFIED_TOKENS: usize = 50_000;

impl VerifiedTokens {
    /// `Some(result)` when the token was verified before.
    fn lookup(&self, token: &str, now: u64) -> Option<Result<VerifiedToken, TokenError>> {
        let mut entries = self
            .entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let (verified, exp) = entries.get(token)?;
        if now > exp + LEEWAY_SECS {
            entries.remove(token);
            return Some(Err(TokenError::Expired));
        }
        Some(Ok(verified.clone()))
    }

    fn remember(&self, token: &str, verified: &VerifiedToken, exp: u64, now: u64) {
        let mut entries = self
            .entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if entries.len() >= MAX_VERIFIED_TOKENS {
            entries.retain(|_, (_, exp)| now <= *exp + LEEWAY_SECS);
            if entries.len() >= MAX_VERIFIED_TOKENS {
                entries.clear();
            }
        }
        entries.insert(token.into(), (verified.clone(), exp));
    }
}

/// A freshly minted token and how long it lives.
pub struct IssuedToken {
    pub access_token: String,
    pub expires_in: u64,
}

impl TokenService {
    pub fn new(keys: SigningKeys, issuer: String, audience: String, ttl: Duration) -> Self {
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_issuer(&[issuer.as_str()]);
        validation.set_audience(&[audience.as_str()]);
        validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
        validation.validate_nbf = true;
        validation.leeway = LEEWAY_SECS;
        Self {
            keys,
            issuer,
            audience,
            ttl: ttl.min(MAX_TOKEN_TTL),
            validation,
            verified: VerifiedTokens::default(),
        }
    }

    pub fn jwks(&self) -> &super::keys::Jwks {
        self.keys.jwks()
    }

    pub fn issue(&self, principal: &Principal) -> Result<IssuedToken, jsonwebtoken::errors::Error> {
        let now = jsonwebtoken::get_current_timestamp();
        let claims = Claims {
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            sub: principal.subject,
            exp: now + self.ttl.as_secs(),
            nbf: now,
            iat: now,
            jti: Uuid::now_v7(),
            kind: match principal.kind {
                PrincipalKind::User => SubjectKind::User,
                PrincipalKind::ServiceAccount => SubjectKind::ServiceAccount,
            },
            federation_id: principal.federation_id.map(|f| f.as_uuid()),
            practice_id: principal.practice_id.map(|p| p.as_uuid()),
            organisation_id: principal.organisation_id.map(|o| o.as_uuid()),
            roles: principal.roles.clone(),
            scope: ServiceScope::join(&principal.scopes),
        };
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.keys.active_kid().to_owned());
        let access_token = jsonwebtoken::encode(&header, &claims, self.keys.encoding_key())?;
        Ok(IssuedToken {
            access_token,
            expires_in: self.ttl.as_secs(),
        })
    }

    pub fn verify(&self, token: &str) -> Result<Principal, TokenError> {
        self.verify_issued(token).map(|verified| verified.principal)
    }

    /// Verifies `token` and says when it was issued.
    pub fn verify_issued(&self, token: &str) -> Result<VerifiedToken, TokenError> {
        self.verify_at(token, jsonwebtoken::get_current_timestamp())
    }

    fn verify_at(&self, token: &str, now: u64) -> Result<VerifiedToken, TokenError> {
        if let Some(known) = self.verified.lookup(token, now) {
            return known;
        }
        let (verified, exp) = self.verify_signed(token)?;
        self.verified.remember(token, &verified, exp, now);
        Ok(verified)
    }

    /// Every check of a token not seen before: algorithm, key, signature, claims, times.
    fn verify_signed(&self, token: &str) -> Result<(VerifiedToken, u64), TokenError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| refused_header(token))?;
        if header.alg != Algorithm::EdDSA {
            return Err(TokenError::Algorithm);
        }
        let kid = header.kid.ok_or(TokenError::MissingKeyId)?;
        let key = self.keys.decoding_key(&kid).ok_or(TokenError::UnknownKey)?;
        let data =
            jsonwebtoken::decode::<Claims>(token, key, &self.validation).map_err(|e| {
                match e.kind() {
                    ErrorKind::ExpiredSignature => TokenError::Expired,
                    ErrorKind::ImmatureSignature => TokenError::NotYetValid,
                    ErrorKind::InvalidIssuer => TokenError::Issuer,
                    ErrorKind::InvalidAudience => TokenError::Audience,
                    ErrorKind::InvalidSignature => TokenError::Signature,
                    ErrorKind::InvalidAlgorithm => TokenError::Algorithm,
                    ErrorKind::Json(_) | ErrorKind::MissingRequiredClaim(_) => TokenError::Claims,
                    _ => TokenError::Malformed,
                }
            })?;
        let exp = data.claims.exp;
        let issued_at = data.claims.iat;
        let principal = principal_from(data.claims)?;
        Ok((
            VerifiedToken {
                principal,
                issued_at,
            },
            exp,
        ))
    }
}

/// Why a header did not parse: a readable header naming an algorithm we do not know (such as
/// `none`) is an algorithm refusal; anything else is malformed.
fn refused_header(token: &str) -> TokenError {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    let names_an_algorithm = token
        .split('.')
        .next()
        .and_then(|segment| URL_SAFE_NO_PAD.decode(segment).ok())
        .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok())
        .is_some_and(|header| header.get("alg").is_some_and(|alg| alg.is_string()));
    if names_an_algorithm {
        TokenError::Algorithm
    } else {
        TokenError::Malformed
    }
}

fn principal_from(claims: Claims) -> Result<Principal, TokenError> {
    let scopes = ServiceScope::parse_list(&claims.scope).map_err(|_| TokenError::Claims)?;
    let kind = match claims.kind {
        SubjectKind::User => PrincipalKind::User,
        SubjectKind::ServiceAccount => PrincipalKind::ServiceAccount,
    };
    // Tenancy must agree with the roles, so a token cannot claim, say, a practice role
    // without a practice.
    let consistent = match kind {
        PrincipalKind::ServiceAccount => claims.federation_id.is_some() && claims.roles.is_empty(),
        PrincipalKind::User => {
            !claims.roles.is_empty()
                && scopes.is_empty()
                && claims.roles.iter().all(|role| match role.level() {
                    waymark_domain::role::RoleLevel::Platform => claims.federation_id.is_none(),
                    waymark_domain::role::RoleLevel::Federation => claims.federation_id.is_some(),
                    waymark_domain::role::RoleLevel::Practice => {
                        claims.federation_id.is_some() && claims.practice_id.is_some()
                    }
                    waymark_domain::role::RoleLevel::Organisation => {
                        claims.federation_id.is_some() && claims.organisation_id.is_some()
                    }
                })
        }
    };
    if !consistent {
        return Err(TokenError::Claims);
    }
    Ok(Principal {
        kind,
        subject: claims.sub,
        federation_id: claims.federation_id.map(FederationId::from),
        practice_id: claims.practice_id.map(PracticeId::from),
        organisation_id: claims.organisation_id.map(OrganisationId::from),
        roles: claims.roles,
        scopes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(ttl: Duration) -> TokenService {
        let keys = SigningKeys::from_pem(&SigningKeys::generate_pem(), &[]).unwrap();
        TokenService::new(keys, "waymark".into(), "waymark-api".into(), ttl)
    }

    fn clinician() -> Principal {
        Principal {
            kind: PrincipalKind::User,
            subject: Uuid::now_v7(),
            federation_id: Some(FederationId::new()),
            practice_id: Some(PracticeId::new()),
            organisation_id: None,
            roles: vec![Role::Clinician],
            scopes: vec![],
        }
    }

    #[test]
    fn issued_tokens_verify_to_the_same_principal() {
        let tokens = service(Duration::from_secs(600));
        let principal = clinician();
        let issued = tokens.issue(&principal).unwrap();
        assert_eq!(issued.expires_in, 600);
        assert_eq!(tokens.verify(&issued.access_token).unwrap(), principal);
    }

    #[test]
    fn lifetimes_are_capped_at_fifteen_minutes() {
        assert_eq!(
            service(Duration::from_secs(86_400))
                .issue(&clinician())
                .unwrap()
                .expires_in,
            900
        );
    }

    #[test]
    fn another_services_key_is_unknown() {
        let token = service(Duration::from_secs(60))
            .issue(&clinician())
            .unwrap()
            .access_token;
        assert_eq!(
            service(Duration::from_secs(60)).verify(&token),
            Err(TokenError::UnknownKey)
        );
        assert_eq!(
            service(Duration::from_secs(60)).verify("abc"),
            Err(TokenError::Malformed)
        );
    }

    #[test]
    fn a_remembered_token_still_expires() {
        let tokens = service(Duration::from_secs(60));
        let issued = tokens.issue(&clinician()).unwrap().access_token;
        let now = jsonwebtoken::get_current_timestamp();
        assert!(tokens.verify_at(&issued, now).is_ok());
        assert!(
            tokens.verify_at(&issued, now + 30).is_ok(),
            "answered from memory"
        );
        assert_eq!(
            tokens.verify_at(&issued, now + 60 + LEEWAY_SECS + 1),
            Err(TokenError::Expired)
        );
    }

    #[test]
    fn refused_tokens_are_not_remembered() {
        let tokens = service(Duration::from_secs(60));
        let first = tokens.issue(&clinician()).unwrap().access_token;
        let second = tokens.issue(&clinician()).unwrap().access_token;
        // The claims of one token with the signature of another.
        let (claims, _) = first.rsplit_once('.').unwrap();
        let (_, signature) = second.rsplit_once('.').unwrap();
        let forged = format!("{claims}.{signature}");
        assert_eq!(tokens.verify(&forged), Err(TokenError::Signature));
        assert_eq!(tokens.verify(&forged), Err(TokenError::Signature));
    }

    #[test]
    fn roles_must_agree_with_tenancy() {
        let tokens = service(Duration::from_secs(60));
        let mut principal = clinician();
        principal.practice_id = None;
        let token = tokens.issue(&principal).unwrap().access_token;
        assert_eq!(tokens.verify(&token), Err(TokenError::Claims));
    }
}
