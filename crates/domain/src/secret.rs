//! Authenticated encryption of tenant secrets (passwords, OAuth client secrets) at rest.
//!
//! A sealed secret is `v1:` followed by base64 of `nonce (24 bytes) || ciphertext || tag`,
//! encrypted with XChaCha20-Poly1305 under a 32-byte key the operator provides. The 192-bit nonce
//! is random per seal, which is safe at any realistic number of seals (a 96-bit random nonce
//! would not be). The version prefix lets a later format or key rotation coexist with old rows.
//! The version tag is also the associated data, so a ciphertext cannot be replayed under another
//! version's rules.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chacha20poly1305::aead::{Aead, Generate, KeyInit, Payload};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};

const VERSION: &str = "v1";
const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;
/// Bytes of a key.
pub const KEY_LEN: usize = 32;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    #[error("secret key is invalid: {0}")]
    BadKey(String),
    #[error("sealed secret is malformed: {0}")]
    Malformed(String),
    #[error("sealed secret has unknown format version {0:?}")]
    UnknownVersion(String),
    /// Wrong key, or the sealed text was altered. The two cannot be told apart, by design.
    #[error("sealed secret cannot be opened: wrong key or altered ciphertext")]
    Decrypt,
    #[error("sealed secret does not hold UTF-8 text")]
    NotUtf8,
    #[error("the operating system's random number generator failed: {0}")]
    Random(String),
}

/// The key tenant secrets are sealed with. Never printed: `Debug` shows `SecretKey(***)`.
#[derive(Clone)]
pub struct SecretKey([u8; KEY_LEN]);

impl SecretKey {
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> Self {
        Self(bytes)
    }

    /// From standard base64 (with or without padding) of exactly 32 bytes; surrounding
    /// whitespace is ignored because keys often come from files and environment variables.
    pub fn from_base64(text: &str) -> Result<Self, SecretError> {
        let text = text.trim();
        let bytes = STANDARD
            .decode(text)
            .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(text))
            .map_err(|_| SecretError::BadKey("not valid base64".into()))?;
        let bytes: [u8; KEY_LEN] = bytes.try_into().map_err(|b: Vec<u8>| {
            SecretError::BadKey(format!(
                "{} bytes after base64 decoding, expected {KEY_LEN}",
                b.len()
            ))
        })?;
        Ok(Self(bytes))
    }

    /// A fresh random key from the operating system's generator.
    pub fn generate() -> Result<Self, SecretError> {
        let key = Key::try_generate().map_err(|e| SecretError::Random(e.to_string()))?;
        let mut bytes = [0u8; KEY_LEN];
        bytes.copy_from_slice(&key);
        Ok(Self(bytes))
    }

    /// Standard base64 with padding: what [`SecretKey::from_base64`] reads back.
    pub fn to_base64(&self) -> String {
        STANDARD.encode(self.0)
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new(&Key::from(self.0))
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey(***)")
    }
}

/// Encrypt `plaintext` under `key` with a fresh random nonce: sealing the same text twice gives
/// different strings.
pub fn seal(key: &SecretKey, plaintext: &str) -> Result<String, SecretError> {
    let nonce = XNonce::try_generate().map_err(|e| SecretError::Random(e.to_string()))?;
    let ciphertext = key
        .cipher()
        .encrypt(
            &nonce,
            Payload {
                msg: plaintext.as_bytes(),
                aad: VERSION.as_bytes(),
            },
        )
        // Encryption fails only for messages beyond the cipher's length limit (256 GiB).
        .map_err(|_| SecretError::Malformed("plaintext too long to encrypt".into()))?;
    let mut raw = Vec::with_capacity(NONCE_LEN + ciphertext.len());
    raw.extend_from_slice(&nonce);
    raw.extend_from_slice(&ciphertext);
    Ok(format!("{VERSION}:{}", STANDARD.encode(raw)))
}

/// Decrypt a string made by [`seal`] with the same key.
pub fn open(key: &SecretKey, sealed: &str) -> Result<String, SecretError> {
    let (version, body) = sealed
        .trim()
        .split_once(':')
        .ok_or_else(|| SecretError::Malformed("no version prefix".into()))?;
    if version != VERSION {
        return Err(SecretError::UnknownVersion(version.to_string()));
    }
    let raw = STANDARD
        .decode(body)
        .map_err(|_| SecretError::Malformed("not valid base64".into()))?;
    if raw.len() < NONCE_LEN + TAG_LEN {
        return Err(SecretError::Malformed(format!(
            "{} bytes, shorter than nonce and tag",
            raw.len()
        )));
    }
    let (nonce, ciphertext) = raw.split_at(NONCE_LEN);
    let nonce = XNonce::try_from(nonce)
        .map_err(|_| SecretError::Malformed("nonce has the wrong length".into()))?;
    let plaintext = key
        .cipher()
        .decrypt(
            &nonce,
            Payload {
                msg: ciphertext,
                aad: VERSION.as_bytes(),
            },
        )
        .map_err(|_| SecretError::Decrypt)?;
    String::from_utf8(plaintext).map_err(|_| SecretError::NotUtf8)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> SecretKey {
        SecretKey::generate().unwrap()
    }

    #[test]
    fn round_trip() {
        let k = key();
        for text in [
            "",
            "hunter2",
            "pässwörd 🔑 with spaces",
            &"x".repeat(10_000),
        ] {
            let sealed = seal(&k, text).unwrap();
            assert!(sealed.starts_with("v1:"), "{sealed}");
            assert!(!sealed.contains(text) || text.is_empty());
            assert_eq!(open(&k, &sealed).unwrap(), text);
        }
    }

    #[test]
    fn the_key_round_trips_through_base64() {
        let k = key();
        let again = SecretKey::from_base64(&format!(" {}\n", k.to_base64())).unwrap();
        let sealed = seal(&k, "s").unwrap();
        assert_eq!(open(&again, &sealed).unwrap(), "s");
        assert!(matches!(
            SecretKey::from_base64("c2hvcnQ="),
            Err(SecretError::BadKey(_))
        ));
        assert!(matches!(
            SecretKey::from_base64("not base64!"),
            Err(SecretError::BadKey(_))
        ));
    }

    #[test]
    fn a_wrong_key_fails() {
        let sealed = seal(&key(), "secret").unwrap();
        assert_eq!(open(&key(), &sealed), Err(SecretError::Decrypt));
    }

    #[test]
    fn tampering_fails() {
        let k = key();
        let sealed = seal(&k, "secret value").unwrap();
        let raw = STANDARD.decode(&sealed[3..]).unwrap();
        // Flip one bit in every position in turn: nonce, ciphertext and tag are all covered.
        for i in 0..raw.len() {
            let mut altered = raw.clone();
            altered[i] ^= 0x01;
            let text = format!("v1:{}", STANDARD.encode(&altered));
            assert_eq!(open(&k, &text), Err(SecretError::Decrypt), "byte {i}");
        }
        let truncated = format!("v1:{}", STANDARD.encode(&raw[..raw.len() - 1]));
        assert_eq!(open(&k, &truncated), Err(SecretError::Decrypt));
        assert!(matches!(
            open(&k, "v1:AAAA"),
            Err(SecretError::Malformed(_))
        ));
        assert!(matches!(
            open(&k, &sealed.replacen("v1:", "v2:", 1)),
            Err(SecretError::UnknownVersion(v)) if v == "v2"
        ));
        assert!(matches!(open(&k, "plain"), Err(SecretError::Malformed(_))));
    }

    #[test]
    fn nonces_differ() {
        let k = key();
        let a = seal(&k, "same").unwrap();
        let b = seal(&k, "same").unwrap();
        assert_ne!(a, b);
        let na = &STANDARD.decode(&a[3..]).unwrap()[..NONCE_LEN];
        let nb = &STANDARD.decode(&b[3..]).unwrap()[..NONCE_LEN];
        assert_ne!(na, nb);
    }

    #[test]
    fn debug_never_shows_the_key() {
        let k = SecretKey::from_bytes([7u8; KEY_LEN]);
        let shown = format!("{k:?}");
        assert_eq!(shown, "SecretKey(***)");
        assert!(!shown.contains(&k.to_base64()));
    }
}
