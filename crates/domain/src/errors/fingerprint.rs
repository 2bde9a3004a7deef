//! The fingerprint of a normalised template: what makes two error texts "the same problem".

use sha2::{Digest, Sha256};

/// Version of the grouping rules (normalisation + fingerprint). Groups remember the version that
/// made them; a new version never regroups stored data by itself (`integramon errors regroup`).
pub const GROUPING_VERSION: i16 = 1;

/// Group key of a message whose error text has not arrived yet (or cannot be fetched): one such
/// group per iFlow; the message moves to its real group when the text arrives.
pub const NO_TEXT_FINGERPRINT: &str = "no-error-text";

/// Title of the "no error text yet" group.
pub const NO_TEXT_TITLE: &str = "No error text yet";

/// A stable 16-hex-character digest of the template. The grouping version is hashed in, so a
/// template made by another version never collides with this one's.
pub fn fingerprint(template: &str) -> String {
    digest(&["default", template])
}

/// The fingerprint of a custom rule's fixed value (`{{ default }}` already expanded): hashed in
/// its own namespace so it can never equal a default fingerprint by accident.
pub fn rule_fingerprint(value: &str) -> String {
    digest(&["rule", value])
}

fn digest(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    h.update(GROUPING_VERSION.to_be_bytes());
    for p in parts {
        // Length-prefixed, so ("ab", "c") and ("a", "bc") differ.
        h.update((p.len() as u64).to_be_bytes());
        h.update(p.as_bytes());
    }
    let out = h.finalize();
    out[..8].iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_is_16_hex_and_stable() {
        let a = fingerprint("java.net.SocketTimeoutException: Read timed out");
        assert_eq!(a.len(), 16);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(
            a,
            fingerprint("java.net.SocketTimeoutException: Read timed out")
        );
        assert_ne!(
            a,
            fingerprint("java.net.SocketTimeoutException: Connect timed out")
        );
    }

    #[test]
    fn rule_and_default_namespaces_differ() {
        assert_ne!(fingerprint("x"), rule_fingerprint("x"));
        assert_ne!(fingerprint("x"), NO_TEXT_FINGERPRINT);
    }
}
