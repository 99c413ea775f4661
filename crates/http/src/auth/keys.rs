//! Ed25519 signing keys: the active key signs, it and any retired keys verify, all are
//! published as a JWK set. Key ids are RFC 7638 thumbprints, so a key's id follows from the key.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey};
use ed25519_dalek::{SigningKey, VerifyingKey};
use jsonwebtoken::{DecodingKey, EncodingKey};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use utoipa::ToSchema;

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("not an Ed25519 private key in PKCS#8 PEM: {0}")]
    Private(String),
    #[error("not an Ed25519 key in PEM (private PKCS#8 or public SPKI): {0}")]
    Verification(String),
}

/// One published public key (RFC 8037 OKP form).
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Jwk {
    pub kty: &'static str,
    pub crv: &'static str,
    pub x: String,
    pub kid: String,
    #[serde(rename = "use")]
    pub key_use: &'static str,
    pub alg: &'static str,
}

/// The JWK set served at `/.well-known/jwks.json`.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Jwks {
    pub keys: Vec<Jwk>,
}

pub struct SigningKeys {
    active_kid: String,
    encoding: EncodingKey,
    decoding: HashMap<String, DecodingKey>,
    jwks: Jwks,
}

impl SigningKeys {
    /// The active private key, plus other keys (private or public PEM) still accepted for
    /// verification while tokens they signed expire.
    pub fn from_pem(active_private_pem: &str, retired_pems: &[String]) -> Result<Self, KeyError> {
        let signing = SigningKey::from_pkcs8_pem(active_private_pem)
            .map_err(|e| KeyError::Private(e.to_string()))?;
        let encoding = EncodingKey::from_ed_pem(active_private_pem.as_bytes())
            .map_err(|e| KeyError::Private(e.to_string()))?;
        let mut verifying = vec![signing.verifying_key()];
        for pem in retired_pems {
            let key = match SigningKey::from_pkcs8_pem(pem) {
                Ok(private) => private.verifying_key(),
                Err(_) => VerifyingKey::from_public_key_pem(pem)
                    .map_err(|e| KeyError::Verification(e.to_string()))?,
            };
            verifying.push(key);
        }
        let mut decoding = HashMap::new();
        let mut keys = Vec::new();
        for key in verifying {
            let x = URL_SAFE_NO_PAD.encode(key.as_bytes());
            let kid = thumbprint(&x);
            let decoding_key = DecodingKey::from_ed_components(&x)
                .map_err(|e| KeyError::Verification(e.to_string()))?;
            if decoding.insert(kid.clone(), decoding_key).is_none() {
                keys.push(Jwk {
                    kty: "OKP",
                    crv: "Ed25519",
                    x,
                    kid,
                    key_use: "sig",
                    alg: "EdDSA",
                });
            }
        }
        Ok(Self {
            active_kid: keys[0].kid.clone(),
            encoding,
            decoding,
            jwks: Jwks { keys },
        })
    }

    /// A new private key in PKCS#8 PEM, for `waymark keygen`.
    pub fn generate_pem() -> String {
        let key = SigningKey::generate(&mut rand::rngs::OsRng);
        key.to_pkcs8_pem(LineEnding::LF)
            .expect("an Ed25519 key always encodes")
            .to_string()
    }

    pub fn active_kid(&self) -> &str {
        &self.active_kid
    }

    pub fn encoding_key(&self) -> &EncodingKey {
        &self.encoding
    }

    pub fn decoding_key(&self, kid: &str) -> Option<&DecodingKey> {
        self.decoding.get(kid)
    }

    pub fn jwks(&self) -> &Jwks {
        &self.jwks
    }
}

/// RFC 7638 JWK thumbprint of an Ed25519 public key.
fn thumbprint(x: &str) -> String {
    let canonical = format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#);
    URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retired_keys_verify_and_are_published_after_the_active_one() {
        let active = SigningKeys::generate_pem();
        let retired = SigningKeys::generate_pem();
        let keys = SigningKeys::from_pem(&active, &[retired.clone(), active.clone()]).unwrap();
        assert_eq!(keys.jwks().keys.len(), 2);
        assert_eq!(keys.jwks().keys[0].kid, keys.active_kid());
        assert!(keys.decoding_key(&keys.jwks().keys[1].kid).is_some());
        assert!(SigningKeys::from_pem("garbage", &[]).is_err());
        assert!(SigningKeys::from_pem(&active, &["garbage".into()]).is_err());
    }

    #[test]
    fn thumbprint_matches_rfc_8037_example() {
        // RFC 8037, appendix A.3.
        assert_eq!(
            thumbprint("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"),
            "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
        );
    }
}
