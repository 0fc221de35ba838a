//! Who is calling: passwords (argon2id), this airline's Ed25519 signing key and its JWKS, the
//! peers' public keys, and the extractors that turn a bearer token into a passenger or a peer.

pub mod claims;
pub mod extract;
pub mod keys;
pub mod password;
pub mod tokens;

pub use extract::{Passenger, ServiceCaller, SessionHolder, Staff};
pub use keys::{KeyRing, SigningKey};
