//! Password policy and argon2id hashing.

use crate::IdentityError;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};

pub const MIN_PASSWORD_CHARS: usize = 10;
/// Hashing cost grows with the input: a longer "password" is a denial of service, not a secret.
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// Passwords people pick first; refused whatever their length. Compared lower-cased.
const COMMON_PASSWORDS: &[&str] = &[
    "1234567890",
    "12345678910",
    "0123456789",
    "1111111111",
    "0000000000",
    "1q2w3e4r5t",
    "qwertyuiop",
    "1qaz2wsx3edc",
    "qwerty12345",
    "qwerty123456",
    "password12",
    "password123",
    "password1234",
    "passw0rd123",
    "iloveyou12",
    "iloveyou123",
    "letmein123",
    "welcome123",
    "football123",
    "baseball123",
    "sunshine123",
    "princess123",
    "dragon1234",
    "monkey1234",
    "abc1234567",
    "abcdefghij",
    "aaaaaaaaaa",
    "changeme123",
    "administrator",
    "trustno1234",
    "superman123",
    "starwars123",
    "1234qwerasdf",
    "zaq12wsxcde",
    "asdfghjkl1",
    "correcthorsebatterystaple",
];

/// Why a password is refused, for the client to fix.
pub fn check_policy(password: &str) -> Result<(), IdentityError> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(IdentityError::WeakPassword(format!("must be at least {MIN_PASSWORD_CHARS} characters")));
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(IdentityError::WeakPassword(format!("must be at most {MAX_PASSWORD_BYTES} bytes")));
    }
    if password.contains('\0') {
        return Err(IdentityError::WeakPassword("must not contain NUL characters".into()));
    }
    let lowered = password.to_lowercase();
    if COMMON_PASSWORDS.contains(&lowered.as_str()) {
        return Err(IdentityError::WeakPassword("is too common; choose another".into()));
    }
    Ok(())
}

/// argon2id (v19) with OWASP's recommended cost: 19 MiB, 2 passes, 1 lane.
#[derive(Debug, Clone)]
pub struct Hasher {
    argon2: Argon2<'static>,
    /// Verified when the email is unknown, so an unknown email costs what a wrong password does.
    dummy_hash: String,
}

impl Hasher {
    pub fn new() -> Result<Self, IdentityError> {
        let params = Params::new(19 * 1024, 2, 1, None).map_err(IdentityError::internal)?;
        let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        let dummy_hash = argon2.hash_password(b"not a password anyone has").map_err(IdentityError::internal)?;
        Ok(Self { argon2, dummy_hash: dummy_hash.to_string() })
    }

    /// The PHC string (`$argon2id$v=19$m=19456,t=2,p=1$salt$hash`) of `password`, salted at random.
    pub fn hash(&self, password: &str) -> Result<String, IdentityError> {
        Ok(self.argon2.hash_password(password.as_bytes()).map_err(IdentityError::internal)?.to_string())
    }

    /// Whether `password` matches `stored`; `None` verifies against the dummy and answers false.
    pub fn verify(&self, password: &str, stored: Option<&str>) -> bool {
        let matches = |hash: &str| {
            PasswordHash::new(hash).is_ok_and(|hash| self.argon2.verify_password(password.as_bytes(), &hash).is_ok())
        };
        match stored {
            Some(hash) => matches(hash),
            None => {
                let _ = matches(&self.dummy_hash);
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_common_and_nul_passwords_are_refused() {
        assert!(check_policy("short").is_err());
        assert!(check_policy("Password123").is_err());
        assert!(check_policy("1234567890").is_err());
        assert!(check_policy("a long one\0with nul").is_err());
        assert!(check_policy(&"x".repeat(MAX_PASSWORD_BYTES + 1)).is_err());
        assert!(check_policy("orange-kettle-sings").is_ok());
        // Ten characters, not ten bytes.
        assert!(check_policy("ééééééééé").is_err());
        assert!(check_policy("éééééééééé").is_ok());
    }

    #[test]
    fn a_hash_is_argon2id_salted_and_verifies_only_its_password() {
        let hasher = Hasher::new().unwrap();
        let first = hasher.hash("orange-kettle-sings").unwrap();
        let second = hasher.hash("orange-kettle-sings").unwrap();
        assert!(first.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{first}");
        assert_ne!(first, second, "each hash has its own salt");
        assert!(hasher.verify("orange-kettle-sings", Some(&first)));
        assert!(!hasher.verify("orange-kettle-sang", Some(&first)));
        assert!(!hasher.verify("orange-kettle-sings", Some("not a phc string")));
        assert!(!hasher.verify("not a password anyone has", None), "the dummy never logs anyone in");
    }
}
