//! Password hashing with argon2id (19 MiB, 2 passes, 1 lane: the crate's defaults).
//!
//! Each hash needs 19 MiB of working memory. Allocating it per call made glibc keep the freed
//! blocks around, so the server's resident memory grew by that much with every concurrent
//! login; instead, a fixed set of buffers is reused, and a semaphore lets only that many hashes
//! run at once, which also keeps logins from starving bookings of CPU.

use std::sync::Mutex;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{Output, ParamsString, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use tokio::sync::Semaphore;

/// Verified when the login does not exist, so that a wrong login costs the same time as a
/// wrong password and timing does not reveal which logins exist.
const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$9yGTC+gURxH1Q6Zz8bWJuu7GEWVrm8CNfHxhQu8Lb1A";

const OUTPUT_LEN: usize = 32;

pub struct Passwords {
    permits: Semaphore,
    buffers: Mutex<Vec<Vec<Block>>>,
}

impl Passwords {
    /// At most `concurrency` hashes at once, each with its own reused buffer.
    pub fn new(concurrency: usize) -> Self {
        Self { permits: Semaphore::new(concurrency.max(1)), buffers: Mutex::new(Vec::new()) }
    }

    pub async fn hash(&self, password: String) -> anyhow::Result<String> {
        self.with_memory(move |memory| hash_with(password.as_bytes(), memory)).await
    }

    /// True when `password` matches `stored`; with no stored hash it still does the full work.
    pub async fn verify(&self, password: String, stored: Option<String>) -> anyhow::Result<bool> {
        let exists = stored.is_some();
        let stored = stored.unwrap_or_else(|| DUMMY_HASH.to_owned());
        let matches = self.with_memory(move |memory| verify_with(password.as_bytes(), &stored, memory)).await?;
        Ok(exists && matches)
    }

    /// Runs `f` on the blocking pool, with the caller's span and a reused buffer.
    async fn with_memory<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut [Block]) -> Result<T, argon2::password_hash::Error> + Send + 'static,
    ) -> anyhow::Result<T> {
        let _permit = self.permits.acquire().await?;
        let reused = self.buffers.lock().unwrap_or_else(std::sync::PoisonError::into_inner).pop();
        let mut memory = reused.unwrap_or_else(|| vec![Block::default(); Params::default().block_count()]);
        let span = tracing::Span::current();
        let (result, memory) = tokio::task::spawn_blocking(move || {
            let result = span.in_scope(|| f(&mut memory));
            (result, memory)
        })
        .await?;
        self.buffers.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(memory);
        result.map_err(|e| anyhow::anyhow!("argon2: {e}"))
    }
}

fn hash_with(password: &[u8], memory: &mut [Block]) -> Result<String, argon2::password_hash::Error> {
    let params = Params::default();
    let salt = SaltString::generate(&mut OsRng);
    let mut salt_bytes = [0u8; 64];
    let salt_bytes = salt.as_salt().decode_b64(&mut salt_bytes)?;
    let mut out = [0u8; OUTPUT_LEN];
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
        .hash_password_into_with_memory(password, salt_bytes, &mut out, memory)?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params)?,
        salt: Some(salt.as_salt()),
        hash: Some(Output::new(&out)?),
    };
    Ok(phc.to_string())
}

fn verify_with(password: &[u8], stored: &str, memory: &mut [Block]) -> Result<bool, argon2::password_hash::Error> {
    use argon2::password_hash::Error;
    let parsed = PasswordHash::new(stored)?;
    let params = Params::try_from(&parsed)?;
    let version = parsed.version.map(Version::try_from).transpose()?.unwrap_or_default();
    let argon = Argon2::new(Algorithm::try_from(parsed.algorithm)?, version, params.clone());
    let expected = parsed.hash.ok_or(Error::Password)?;
    let salt = parsed.salt.ok_or(Error::Password)?;
    let mut salt_bytes = [0u8; 64];
    let salt_bytes = salt.decode_b64(&mut salt_bytes)?;
    let mut out = vec![0u8; expected.len()];
    if memory.len() == params.block_count() {
        argon.hash_password_into_with_memory(password, salt_bytes, &mut out, memory)?;
    } else {
        // A hash made with other parameters: rare, so its memory is not pooled.
        argon.hash_password_into(password, salt_bytes, &mut out)?;
    }
    // `Output`'s equality is constant-time.
    Ok(Output::new(&out)? == expected)
}

#[cfg(test)]
mod tests {
    use argon2::PasswordVerifier;

    use super::*;

    #[tokio::test]
    async fn hashes_verify_and_the_dummy_never_matches() {
        let passwords = Passwords::new(2);
        let stored = passwords.hash("correct horse".into()).await.unwrap();
        assert!(stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(passwords.verify("correct horse".into(), Some(stored.clone())).await.unwrap());
        assert!(!passwords.verify("wrong".into(), Some(stored.clone())).await.unwrap());
        assert!(!passwords.verify("anything".into(), None).await.unwrap());
        // The stored form is standard PHC: the reference implementation agrees.
        let parsed = PasswordHash::new(&stored).unwrap();
        assert!(Argon2::default().verify_password(b"correct horse", &parsed).is_ok());
    }
}
