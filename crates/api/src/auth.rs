//! Bearer-token authentication: JWTs checked by an interceptor that puts the [`Caller`] into
//! the request's extensions, then applies the caller's rate limit.
//!
//! HS256 tokens are checked with the server's secret. Asymmetric tokens (EdDSA, RS256, …) of an
//! external identity provider are checked with the key their `kid` names in a JWKS file; a
//! token's algorithm must be the one its key is for, so `alg: none`, an unknown `kid`, and
//! algorithm confusion (an HS256 token "signed" with a public key) are refused. A JWKS token
//! that declares a `typ` must declare an access token's (`JWT`, `at+jwt`): the provider's keys
//! also sign ID tokens, logout tokens and the like, which are not for calling an API. `exp`,
//! `iss`, `aud` and `sub` are required; `nbf` is honoured.
//!
//! A token that verified is remembered until its `exp` (plus the same leeway), so a client's
//! next calls with it cost one map lookup instead of a signature check and two JSON decodes
//! (ADR 0032). Access tokens cannot be revoked before they expire (logout revokes the refresh
//! family), so remembering one changes no answer: only tokens that verified are kept, a kept
//! one past its `exp` is checked afresh (and refused), and the keys never change while the
//! process runs.

use crate::limits::RateLimiter;
use crate::security_log;
use cashflow_app::cache::BoundedMap;
use cashflow_domain::UserId;
use jsonwebtoken::jwk::{AlgorithmParameters, JwkSet, KeyAlgorithm};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::Arc;
use thiserror::Error;
use tonic::{Request, Status};

pub use cashflow_identity::{AUDIENCE, ISSUER};
/// Tolerated clock skew between the issuer and this server.
pub const LEEWAY_SECS: u64 = 10;
/// How many verified tokens are remembered: one per client active in the last minutes, for a
/// few thousand clients per process.
pub const VERIFIED_TOKENS: usize = 10_000;
/// Longer tokens are verified on every call rather than remembered, so the memory the cache
/// may hold stays bounded (`VERIFIED_TOKENS` × 2 KiB) whatever an identity provider puts in its
/// tokens. Ours are about 250 bytes.
pub const MAX_REMEMBERED_TOKEN_BYTES: usize = 2048;

/// The authenticated user of a request: the owner of everything it touches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caller {
    pub user_id: UserId,
}

impl Caller {
    /// The caller the auth interceptor stored in the request. Its absence means a service
    /// was mounted without the interceptor, which must not let the request through.
    pub fn of<T>(request: &Request<T>) -> Result<Self, Status> {
        request.extensions().get::<Caller>().copied().ok_or_else(unauthenticated)
    }
}

#[derive(Debug, Error)]
pub enum AuthError {
    /// The server is misconfigured: it refuses to start rather than accept any token.
    #[error("the JWT secret must not be empty")]
    EmptySecret,
    /// The request carries no usable token; answered UNAUTHENTICATED.
    #[error("missing authorization metadata")]
    Missing,
    #[error("authorization metadata is not \"Bearer <token>\"")]
    Malformed,
    #[error("invalid token: {0}")]
    Invalid(#[from] jsonwebtoken::errors::Error),
    #[error("the token's sub is not a user id")]
    BadSubject,
    /// The JWKS file cannot be used: the server refuses to start.
    #[error("JWKS: {0}")]
    Jwks(String),
    #[error("the token's algorithm {0:?} is not accepted")]
    Algorithm(Algorithm),
    #[error("the token names no key id, or one the JWKS does not have")]
    UnknownKey,
    #[error("the token's typ {0:?} is not an access token's")]
    Type(String),
}

/// Whether a JWKS token's header `typ` allows it as an access token: absent, `JWT`, or `at+jwt`
/// (RFC 9068), case-insensitively and with or without the `application/` prefix (RFC 7515 §4.1.9).
fn access_token_type(typ: Option<&str>) -> bool {
    typ.is_none_or(|typ| {
        let typ =
            typ.get(..12).filter(|prefix| prefix.eq_ignore_ascii_case("application/")).map_or(typ, |_| &typ[12..]);
        typ.eq_ignore_ascii_case("jwt") || typ.eq_ignore_ascii_case("at+jwt")
    })
}

/// The claims read after validation checked `exp`, `nbf`, `iss` and `aud` (which may be a
/// string or a list, so they are not read again here).
#[derive(Debug, Deserialize)]
struct VerifiedClaims {
    sub: String,
    exp: u64,
}

/// A token that verified: whom it proves, and until when (its `exp`, in Unix seconds).
#[derive(Debug, Clone, Copy)]
struct Verified {
    caller: Caller,
    expires_at: u64,
}

impl Verified {
    /// Whether the token is still unexpired at `now`, as `Validation` would judge it: a token
    /// is expired once `exp < now - leeway`.
    fn valid_at(&self, now: u64) -> bool {
        self.expires_at.saturating_add(LEEWAY_SECS) >= now
    }
}

/// A JWKS key: what it verifies and the one algorithm it may be used with.
struct PublicKey {
    key: DecodingKey,
    validation: Validation,
}

/// Checks tokens signed with the configured secret, or with a key of the JWKS.
pub struct JwtVerifier {
    key: DecodingKey,
    validation: Validation,
    jwks: HashMap<String, PublicKey>,
    /// Tokens that verified, by their text.
    verified: BoundedMap<Verified>,
}

fn validation(algorithm: Algorithm, issuer: &str, audience: &str) -> Validation {
    let mut validation = Validation::new(algorithm);
    validation.algorithms = vec![algorithm];
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    validation.set_issuer(&[issuer]);
    validation.set_audience(&[audience]);
    validation.validate_exp = true;
    validation.validate_nbf = true;
    validation.validate_aud = true;
    validation.leeway = LEEWAY_SECS;
    validation
}

/// The algorithm a JWKS key verifies: its `alg`, or the usual one of its key type. Symmetric
/// keys are refused: a shared secret in a file of public keys is a mistake, and would let
/// whoever reads the file sign tokens.
fn key_algorithm(jwk: &jsonwebtoken::jwk::Jwk) -> Result<Algorithm, String> {
    let declared = match jwk.common.key_algorithm {
        None => None,
        Some(KeyAlgorithm::RS256) => Some(Algorithm::RS256),
        Some(KeyAlgorithm::RS384) => Some(Algorithm::RS384),
        Some(KeyAlgorithm::RS512) => Some(Algorithm::RS512),
        Some(KeyAlgorithm::PS256) => Some(Algorithm::PS256),
        Some(KeyAlgorithm::PS384) => Some(Algorithm::PS384),
        Some(KeyAlgorithm::PS512) => Some(Algorithm::PS512),
        Some(KeyAlgorithm::ES256) => Some(Algorithm::ES256),
        Some(KeyAlgorithm::ES384) => Some(Algorithm::ES384),
        Some(KeyAlgorithm::EdDSA) => Some(Algorithm::EdDSA),
        Some(other) => return Err(format!("key algorithm {other:?} is not accepted")),
    };
    let family_default = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => Algorithm::RS256,
        AlgorithmParameters::EllipticCurve(_) => Algorithm::ES256,
        AlgorithmParameters::OctetKeyPair(_) => Algorithm::EdDSA,
        AlgorithmParameters::OctetKey(_) => return Err("symmetric (oct) keys are not accepted".into()),
        _ => return Err("unsupported key type".into()),
    };
    Ok(declared.unwrap_or(family_default))
}

impl std::fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The key stays out of logs.
        f.debug_struct("JwtVerifier").finish_non_exhaustive()
    }
}

impl JwtVerifier {
    pub fn new(secret: &str) -> Result<Self, AuthError> {
        if secret.is_empty() {
            return Err(AuthError::EmptySecret);
        }
        Ok(Self {
            key: DecodingKey::from_secret(secret.as_bytes()),
            validation: validation(Algorithm::HS256, ISSUER, AUDIENCE),
            jwks: HashMap::new(),
            verified: BoundedMap::new(VERIFIED_TOKENS),
        })
    }

    /// Also accepts tokens signed by the keys of a JWKS document (`{"keys": [...]}`), each
    /// with a `kid`, whose `iss` and `aud` are `issuer` and `audience`.
    pub fn with_jwks(mut self, jwks_json: &str, issuer: &str, audience: &str) -> Result<Self, AuthError> {
        let set: JwkSet = serde_json::from_str(jwks_json).map_err(|e| AuthError::Jwks(e.to_string()))?;
        for jwk in &set.keys {
            let kid = jwk.common.key_id.clone().ok_or_else(|| AuthError::Jwks("every key needs a kid".into()))?;
            let algorithm = key_algorithm(jwk).map_err(|e| AuthError::Jwks(format!("key {kid}: {e}")))?;
            let key = DecodingKey::from_jwk(jwk).map_err(|e| AuthError::Jwks(format!("key {kid}: {e}")))?;
            let validation = validation(algorithm, issuer, audience);
            if self.jwks.insert(kid.clone(), PublicKey { key, validation }).is_some() {
                return Err(AuthError::Jwks(format!("kid {kid} appears twice")));
            }
        }
        Ok(self)
    }

    /// The caller a token proves, or why it proves nothing.
    pub fn verify(&self, token: &str) -> Result<Caller, AuthError> {
        if let Some(known) = self.verified.get(token) {
            if known.valid_at(jsonwebtoken::get_current_timestamp()) {
                return Ok(known.caller);
            }
            // Expired since: checked afresh below, which refuses it with the reason logged.
            self.verified.remove(token);
        }
        let verified = self.check_signature_and_claims(token)?;
        if token.len() <= MAX_REMEMBERED_TOKEN_BYTES {
            self.verified.insert(token, verified);
        }
        Ok(verified.caller)
    }

    fn check_signature_and_claims(&self, token: &str) -> Result<Verified, AuthError> {
        let header = jsonwebtoken::decode_header(token)?;
        // Our own tokens are HS256 with the secret, whatever `kid` they carry; every other
        // algorithm needs a JWKS key, and then exactly the algorithm that key is for.
        let (key, validation) = if header.alg == Algorithm::HS256 {
            (&self.key, &self.validation)
        } else {
            let kid = header.kid.as_deref().ok_or(AuthError::UnknownKey)?;
            let public = self.jwks.get(kid).ok_or(AuthError::UnknownKey)?;
            if !public.validation.algorithms.contains(&header.alg) {
                return Err(AuthError::Algorithm(header.alg));
            }
            if !access_token_type(header.typ.as_deref()) {
                return Err(AuthError::Type(header.typ.unwrap_or_default()));
            }
            (&public.key, &public.validation)
        };
        let data = jsonwebtoken::decode::<VerifiedClaims>(token, key, validation)?;
        let user_id = UserId::parse("sub", &data.claims.sub).map_err(|_| AuthError::BadSubject)?;
        Ok(Verified { caller: Caller { user_id }, expires_at: data.claims.exp })
    }

    /// Reads `authorization: Bearer <token>` from request metadata.
    pub fn authenticate(&self, metadata: &tonic::metadata::MetadataMap) -> Result<Caller, AuthError> {
        let value = metadata.get("authorization").ok_or(AuthError::Missing)?;
        let value = value.to_str().map_err(|_| AuthError::Malformed)?;
        let (scheme, token) = value.trim().split_once(' ').ok_or(AuthError::Malformed)?;
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(AuthError::Malformed);
        }
        self.verify(token.trim())
    }
}

fn unauthenticated() -> Status {
    Status::unauthenticated("missing, expired or invalid access token")
}

/// The tonic interceptor in front of every authenticated service.
#[derive(Debug, Clone)]
pub struct AuthInterceptor {
    verifier: Arc<JwtVerifier>,
    /// Per-user limit of the service behind; `None` for none.
    rate_limit: Option<(&'static str, Arc<RateLimiter<UserId>>)>,
}

impl AuthInterceptor {
    pub fn new(verifier: Arc<JwtVerifier>) -> Self {
        Self { verifier, rate_limit: None }
    }

    /// Also spends one token of the caller's bucket in `limiter`; `scope` names it in logs.
    pub fn with_rate_limit(mut self, scope: &'static str, limiter: Arc<RateLimiter<UserId>>) -> Self {
        self.rate_limit = Some((scope, limiter));
        self
    }
}

impl tonic::service::Interceptor for AuthInterceptor {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        let peer = request.remote_addr();
        match self.verifier.authenticate(request.metadata()) {
            Ok(caller) => {
                if let Some((scope, limiter)) = &self.rate_limit
                    && let Err(retry_after) = limiter.check(&caller.user_id)
                {
                    security_log::rate_limited(scope, Some(caller.user_id), peer, retry_after);
                    return Err(crate::limits::exhausted(retry_after));
                }
                request.extensions_mut().insert(caller);
                Ok(request)
            }
            Err(error) => {
                // Why a token failed helps an attacker more than a client: it is only logged.
                security_log::token_refused(peer, &error);
                Err(unauthenticated())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{EncodingKey, Header};
    use serde_json::json;
    use std::time::{Duration, SystemTime, UNIX_EPOCH};
    use tonic::Code;
    use tonic::service::Interceptor;

    fn issue_token(secret: &str, user: UserId, ttl: Duration) -> String {
        cashflow_identity::issue_token(secret, user.as_uuid(), ttl)
    }

    const SECRET: &str = "test-secret-of-reasonable-length";

    fn now() -> u64 {
        SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
    }

    fn sign(claims: serde_json::Value, secret: &str, alg: Algorithm) -> String {
        jsonwebtoken::encode(&Header::new(alg), &claims, &EncodingKey::from_secret(secret.as_bytes())).unwrap()
    }

    fn claims(user: UserId) -> serde_json::Value {
        json!({ "sub": user.to_string(), "exp": now() + 600, "iat": now(), "iss": "cashflow", "aud": "cashflow" })
    }

    fn with(mut claims: serde_json::Value, key: &str, value: serde_json::Value) -> serde_json::Value {
        claims[key] = value;
        claims
    }

    fn without(mut claims: serde_json::Value, key: &str) -> serde_json::Value {
        claims.as_object_mut().unwrap().remove(key);
        claims
    }

    fn call(authorization: Option<&str>) -> Result<Caller, Status> {
        let mut interceptor = AuthInterceptor::new(Arc::new(JwtVerifier::new(SECRET).unwrap()));
        let mut request = Request::new(());
        if let Some(value) = authorization {
            request.metadata_mut().insert("authorization", value.parse().unwrap());
        }
        let request = interceptor.call(request)?;
        Caller::of(&request)
    }

    fn assert_refused(authorization: Option<&str>, case: &str) {
        let status = call(authorization).expect_err(case);
        assert_eq!(status.code(), Code::Unauthenticated, "{case}");
    }

    fn b64(value: &serde_json::Value) -> String {
        base64_url(&serde_json::to_vec(value).unwrap())
    }

    // Base64url without padding, enough to forge headers in tests.
    fn base64_url(bytes: &[u8]) -> String {
        const TABLE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let mut out = String::new();
        for chunk in bytes.chunks(3) {
            let n = chunk.iter().enumerate().fold(0u32, |acc, (i, b)| acc | (u32::from(*b) << (16 - 8 * i)));
            for i in 0..=chunk.len() {
                out.push(TABLE[((n >> (18 - 6 * i)) & 63) as usize] as char);
            }
        }
        out
    }

    #[test]
    fn a_valid_token_yields_its_caller() {
        let user = UserId::new();
        let token = issue_token(SECRET, user, Duration::from_secs(300));
        assert_eq!(call(Some(&format!("Bearer {token}"))).unwrap(), Caller { user_id: user });
        let token = sign(claims(user), SECRET, Algorithm::HS256);
        assert_eq!(call(Some(&format!("bearer {token}"))).unwrap().user_id, user);
        let listed_audience = with(claims(user), "aud", json!(["cashflow"]));
        let token = sign(listed_audience, SECRET, Algorithm::HS256);
        assert_eq!(call(Some(&format!("Bearer {token}"))).unwrap().user_id, user);
    }

    #[test]
    fn a_missing_or_malformed_header_is_refused() {
        assert_refused(None, "no header");
        assert_refused(Some(""), "empty");
        assert_refused(Some("Bearer"), "no token");
        assert_refused(Some("Bearer not.a.jwt"), "garbage token");
        assert_refused(Some("Basic dXNlcjpwYXNz"), "basic auth");
        let token = issue_token(SECRET, UserId::new(), Duration::from_secs(300));
        assert_refused(Some(&token), "token without scheme");
    }

    #[test]
    fn an_unsigned_alg_none_token_is_refused() {
        let user = UserId::new();
        let header = b64(&json!({ "alg": "none", "typ": "JWT" }));
        let payload = b64(&claims(user));
        assert_refused(Some(&format!("Bearer {header}.{payload}.")), "alg none, empty signature");
        // A real HS256 signature under a header that claims `none` must not pass either.
        let real = sign(claims(user), SECRET, Algorithm::HS256);
        let signature = real.rsplit('.').next().unwrap();
        assert_refused(Some(&format!("Bearer {header}.{payload}.{signature}")), "alg none, real signature");
    }

    #[test]
    fn another_algorithm_is_refused_even_with_the_right_secret() {
        let user = UserId::new();
        assert_refused(Some(&format!("Bearer {}", sign(claims(user), SECRET, Algorithm::HS512))), "HS512");
        assert_refused(Some(&format!("Bearer {}", sign(claims(user), SECRET, Algorithm::HS384))), "HS384");
    }

    #[test]
    fn a_token_signed_with_another_secret_is_refused() {
        let token = issue_token("some-other-secret", UserId::new(), Duration::from_secs(300));
        assert_refused(Some(&format!("Bearer {token}")), "wrong secret");
    }

    #[test]
    fn an_expired_token_is_refused() {
        let expired = with(claims(UserId::new()), "exp", json!(now() - 120));
        assert_refused(Some(&format!("Bearer {}", sign(expired, SECRET, Algorithm::HS256))), "expired");
    }

    #[test]
    fn a_verified_token_is_remembered_and_a_refused_one_is_not() {
        let verifier = JwtVerifier::new(SECRET).unwrap();
        let user = UserId::new();
        let token = issue_token(SECRET, user, Duration::from_secs(300));
        assert_eq!(verifier.verify(&token).unwrap().user_id, user);
        assert_eq!(verifier.verified.len(), 1);
        assert_eq!(verifier.verify(&token).unwrap().user_id, user, "answered from memory");
        assert_eq!(verifier.verified.len(), 1);

        let forged = sign(claims(UserId::new()), "another-secret-of-reasonable-len", Algorithm::HS256);
        assert!(verifier.verify(&forged).is_err());
        let expired = sign(with(claims(user), "exp", json!(now() - 120)), SECRET, Algorithm::HS256);
        assert!(verifier.verify(&expired).is_err());
        assert_eq!(verifier.verified.len(), 1, "a refused token is not remembered");

        let padding = "x".repeat(MAX_REMEMBERED_TOKEN_BYTES);
        let long = sign(with(claims(user), "padding", json!(padding)), SECRET, Algorithm::HS256);
        assert_eq!(verifier.verify(&long).unwrap().user_id, user);
        assert_eq!(verifier.verified.len(), 1, "a token over the size limit is verified every time");
    }

    #[test]
    fn a_remembered_token_that_expired_since_is_checked_again_and_refused() {
        let verifier = JwtVerifier::new(SECRET).unwrap();
        let user = UserId::new();
        // As if remembered while valid: expired by now, beyond the leeway.
        let expires_at = now() - LEEWAY_SECS - 5;
        let token = sign(with(claims(user), "exp", json!(expires_at)), SECRET, Algorithm::HS256);
        verifier.verified.insert(&token, Verified { caller: Caller { user_id: user }, expires_at });
        let refused = verifier.verify(&token).unwrap_err();
        assert!(
            matches!(&refused, AuthError::Invalid(e) if matches!(e.kind(), jsonwebtoken::errors::ErrorKind::ExpiredSignature)),
            "{refused:?}"
        );
        assert!(verifier.verified.is_empty(), "the expired entry is forgotten");
    }

    #[test]
    fn a_remembered_token_expires_when_validation_would_expire_it() {
        let verified = Verified { caller: Caller { user_id: UserId::new() }, expires_at: 1_000 };
        assert!(verified.valid_at(1_000 + LEEWAY_SECS), "exp + leeway is still accepted, as by Validation");
        assert!(!verified.valid_at(1_000 + LEEWAY_SECS + 1));
        assert!(verified.valid_at(0));
    }

    #[test]
    fn a_token_not_yet_valid_is_refused() {
        let early = with(claims(UserId::new()), "nbf", json!(now() + 3600));
        assert_refused(Some(&format!("Bearer {}", sign(early, SECRET, Algorithm::HS256))), "nbf in the future");
    }

    #[test]
    fn wrong_or_missing_registered_claims_are_refused() {
        let user = UserId::new();
        let cases = [
            ("wrong iss", with(claims(user), "iss", json!("someone-else"))),
            ("wrong aud", with(claims(user), "aud", json!("someone-else"))),
            ("wrong aud list", with(claims(user), "aud", json!(["someone-else"]))),
            ("no iss", without(claims(user), "iss")),
            ("no aud", without(claims(user), "aud")),
            ("no exp", without(claims(user), "exp")),
            ("no sub", without(claims(user), "sub")),
            ("sub not a uuid", with(claims(user), "sub", json!("alice@example.com"))),
        ];
        for (case, claims) in cases {
            assert_refused(Some(&format!("Bearer {}", sign(claims, SECRET, Algorithm::HS256))), case);
        }
    }

    /// A key pair of an external identity provider: its signing key and its JWKS entry.
    fn provider_key(algorithm: Algorithm, kid: &str) -> (EncodingKey, serde_json::Value, String) {
        let pair = match algorithm {
            Algorithm::EdDSA => rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap(),
            Algorithm::RS256 => rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).unwrap(),
            other => panic!("no test key for {other:?}"),
        };
        let encoding = match algorithm {
            Algorithm::EdDSA => EncodingKey::from_ed_der(&pair.serialize_der()),
            // jsonwebtoken signs RSA with PKCS#1; rcgen gives PKCS#8, whose third element holds it.
            _ => EncodingKey::from_rsa_der(der_elements(der_elements(&pair.serialize_der())[0])[2]),
        };
        let mut jwk = match algorithm {
            Algorithm::EdDSA => {
                json!({ "kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "x": base64_url(pair.public_key_raw()) })
            }
            _ => {
                // The raw public key is PKCS#1: SEQUENCE { n INTEGER, e INTEGER }.
                let raw = pair.public_key_raw();
                let parts = der_elements(der_elements(raw)[0]);
                let unsigned = |int: &[u8]| int.strip_prefix(&[0]).unwrap_or(int).to_vec();
                json!({ "kty": "RSA", "alg": "RS256", "n": base64_url(&unsigned(parts[0])), "e": base64_url(&unsigned(parts[1])) })
            }
        };
        jwk["kid"] = json!(kid);
        (encoding, jwk, pair.public_key_pem())
    }

    /// The contents of each DER element in `bytes`, enough to pick keys apart in tests.
    fn der_elements(mut bytes: &[u8]) -> Vec<&[u8]> {
        let mut out = Vec::new();
        while bytes.len() >= 2 {
            let (len, header) = match bytes[1] {
                short if short < 0x80 => (usize::from(short), 2),
                long => {
                    let count = usize::from(long & 0x7f);
                    (bytes[2..2 + count].iter().fold(0usize, |acc, b| acc << 8 | usize::from(*b)), 2 + count)
                }
            };
            out.push(&bytes[header..header + len]);
            bytes = &bytes[header + len..];
        }
        out
    }

    fn signed_with(key: &EncodingKey, algorithm: Algorithm, kid: Option<&str>, claims: &serde_json::Value) -> String {
        let mut header = Header::new(algorithm);
        header.kid = kid.map(str::to_owned);
        jsonwebtoken::encode(&header, claims, key).unwrap()
    }

    #[test]
    fn jwks_tokens_are_checked_by_their_kid_and_algorithm() {
        let (ed, ed_jwk, _) = provider_key(Algorithm::EdDSA, "ed-1");
        let (rsa, rsa_jwk, rsa_public_pem) = provider_key(Algorithm::RS256, "rsa-1");
        let jwks = json!({ "keys": [ed_jwk, rsa_jwk] }).to_string();
        let verifier = JwtVerifier::new(SECRET).unwrap().with_jwks(&jwks, ISSUER, AUDIENCE).unwrap();
        let user = UserId::new();
        let verify = |token: &str| verifier.verify(token);

        assert_eq!(verify(&signed_with(&ed, Algorithm::EdDSA, Some("ed-1"), &claims(user))).unwrap().user_id, user);
        assert_eq!(verify(&signed_with(&rsa, Algorithm::RS256, Some("rsa-1"), &claims(user))).unwrap().user_id, user);
        // Our own HS256 tokens still work beside them.
        assert_eq!(verify(&issue_token(SECRET, user, Duration::from_secs(60))).unwrap().user_id, user);

        let refused = [
            ("unknown kid", signed_with(&ed, Algorithm::EdDSA, Some("ed-2"), &claims(user))),
            ("no kid", signed_with(&ed, Algorithm::EdDSA, None, &claims(user))),
            ("kid of another key", signed_with(&ed, Algorithm::EdDSA, Some("rsa-1"), &claims(user))),
            ("RS384 under an RS256 key", signed_with(&rsa, Algorithm::RS384, Some("rsa-1"), &claims(user))),
            (
                "expired",
                signed_with(&ed, Algorithm::EdDSA, Some("ed-1"), &with(claims(user), "exp", json!(now() - 120))),
            ),
            ("wrong iss", signed_with(&ed, Algorithm::EdDSA, Some("ed-1"), &with(claims(user), "iss", json!("evil")))),
            (
                // Algorithm confusion: the RSA public key (public!) used as an HMAC secret.
                "HS256 signed with the public key",
                signed_with(
                    &EncodingKey::from_secret(rsa_public_pem.as_bytes()),
                    Algorithm::HS256,
                    Some("rsa-1"),
                    &claims(user),
                ),
            ),
        ];
        for (case, token) in refused {
            assert!(verify(&token).is_err(), "{case} was accepted");
        }
        let header = b64(&json!({ "alg": "none", "kid": "ed-1" }));
        assert!(verify(&format!("{header}.{}.", b64(&claims(user)))).is_err(), "alg none with a kid");
    }

    #[test]
    fn a_jwks_token_typed_as_anything_but_an_access_token_is_refused() {
        let (ed, ed_jwk, _) = provider_key(Algorithm::EdDSA, "ed-1");
        let jwks = json!({ "keys": [ed_jwk] }).to_string();
        let verifier = JwtVerifier::new(SECRET).unwrap().with_jwks(&jwks, ISSUER, AUDIENCE).unwrap();
        let user = UserId::new();
        let typed = |typ: Option<&str>| {
            let mut header = Header::new(Algorithm::EdDSA);
            header.kid = Some("ed-1".into());
            header.typ = typ.map(str::to_owned);
            jsonwebtoken::encode(&header, &claims(user), &ed).unwrap()
        };
        for typ in [None, Some("JWT"), Some("jwt"), Some("at+jwt"), Some("application/at+jwt"), Some("AT+JWT")] {
            assert_eq!(verifier.verify(&typed(typ)).map(|caller| caller.user_id).ok(), Some(user), "typ {typ:?}");
        }
        for typ in ["dpop+jwt", "logout+jwt", "secevent+jwt", "JOSE", "", "application/", "at+jwt "] {
            assert!(matches!(verifier.verify(&typed(Some(typ))), Err(AuthError::Type(_))), "typ {typ:?} was accepted");
        }
    }

    #[test]
    fn a_jwks_with_secrets_or_without_kids_is_refused() {
        let verifier = || JwtVerifier::new(SECRET).unwrap();
        let oct = json!({ "keys": [{ "kty": "oct", "k": "c2VjcmV0", "kid": "k" }] }).to_string();
        assert!(matches!(verifier().with_jwks(&oct, ISSUER, AUDIENCE), Err(AuthError::Jwks(_))));
        let (_, mut jwk, _) = provider_key(Algorithm::EdDSA, "x");
        jwk.as_object_mut().unwrap().remove("kid");
        let no_kid = json!({ "keys": [jwk] }).to_string();
        assert!(matches!(verifier().with_jwks(&no_kid, ISSUER, AUDIENCE), Err(AuthError::Jwks(_))));
        assert!(matches!(verifier().with_jwks("not json", ISSUER, AUDIENCE), Err(AuthError::Jwks(_))));
    }

    #[test]
    fn the_rate_limit_answers_resource_exhausted_with_retry_info() {
        let limiter = Arc::new(RateLimiter::new(crate::limits::RateLimit::new(2, 1)));
        let mut interceptor =
            AuthInterceptor::new(Arc::new(JwtVerifier::new(SECRET).unwrap())).with_rate_limit("commands", limiter);
        let user = UserId::new();
        let request = |user| {
            let mut request = Request::new(());
            let value = format!("Bearer {}", issue_token(SECRET, user, Duration::from_secs(60)));
            request.metadata_mut().insert("authorization", value.parse().unwrap());
            request
        };
        assert!(interceptor.call(request(user)).is_ok());
        assert!(interceptor.call(request(user)).is_ok());
        let status = interceptor.call(request(user)).unwrap_err();
        assert_eq!(status.code(), Code::ResourceExhausted);
        use tonic_types::StatusExt;
        assert!(status.get_details_retry_info().and_then(|info| info.retry_delay).is_some());
        assert!(interceptor.call(request(UserId::new())).is_ok(), "another user has their own bucket");
    }

    #[test]
    fn an_empty_secret_is_a_configuration_error() {
        assert!(matches!(JwtVerifier::new(""), Err(AuthError::EmptySecret)));
    }

    #[test]
    fn a_request_that_skipped_the_interceptor_has_no_caller() {
        assert_eq!(Caller::of(&Request::new(())).unwrap_err().code(), Code::Unauthenticated);
    }
}
