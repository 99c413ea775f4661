//! Authentication: signing keys, access tokens, password hashing and the `Caller` extractor.

pub mod caller;
pub mod keys;
pub mod password;
pub mod sign_in;
pub mod tokens;

pub use caller::Caller;
pub use keys::SigningKeys;
pub use tokens::TokenService;
