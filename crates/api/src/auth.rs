//! Bearer-token authentication: HS256 JWTs checked by an interceptor that puts the
//! [`Caller`] into the request's extensions.
//!
//! Only HS256 is accepted, whatever the token's header says, so `alg: none` and algorithm
//! confusion are refused. `exp`, `iss`, `aud` and `sub` are required; `nbf` is honoured.

use cashflow_domain::UserId;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use thiserror::Error;
use tonic::{Request, Status};

/// The `iss` and `aud` every Cashflow token carries.
pub const ISSUER: &str = "cashflow";
pub const AUDIENCE: &str = "cashflow";
/// Tolerated clock skew between the issuer and this server.
pub const LEEWAY_SECS: u64 = 10;

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
}

/// The claims read after validation checked `exp`, `nbf`, `iss` and `aud` (which may be a
/// string or a list, so they are not read again here).
#[derive(Debug, Deserialize)]
struct VerifiedClaims {
    sub: String,
}

#[derive(Debug, Serialize)]
struct IssuedClaims<'a> {
    sub: String,
    exp: u64,
    iat: u64,
    iss: &'a str,
    aud: &'a str,
}

/// Checks tokens signed with the configured secret.
pub struct JwtVerifier {
    key: DecodingKey,
    validation: Validation,
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
        let mut validation = Validation::new(Algorithm::HS256);
        validation.algorithms = vec![Algorithm::HS256];
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.validate_aud = true;
        validation.leeway = LEEWAY_SECS;
        Ok(Self { key: DecodingKey::from_secret(secret.as_bytes()), validation })
    }

    /// The caller a token proves, or why it proves nothing.
    pub fn verify(&self, token: &str) -> Result<Caller, AuthError> {
        let data = jsonwebtoken::decode::<VerifiedClaims>(token, &self.key, &self.validation)?;
        let user_id = UserId::parse("sub", &data.claims.sub).map_err(|_| AuthError::BadSubject)?;
        Ok(Caller { user_id })
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
}

impl AuthInterceptor {
    pub fn new(verifier: Arc<JwtVerifier>) -> Self {
        Self { verifier }
    }
}

impl tonic::service::Interceptor for AuthInterceptor {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        match self.verifier.authenticate(request.metadata()) {
            Ok(caller) => {
                request.extensions_mut().insert(caller);
                Ok(request)
            }
            Err(error) => {
                // Why a token failed helps an attacker more than a client: it is only logged.
                tracing::debug!(%error, "request refused as UNAUTHENTICATED");
                Err(unauthenticated())
            }
        }
    }
}

/// Signs a token for `user_id` valid for `ttl`, as the identity service would. For tests
/// and tools; the secret is the server's `jwt_secret`.
pub fn issue_token(secret: &str, user_id: UserId, ttl: Duration) -> String {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
    let claims = IssuedClaims {
        sub: user_id.to_string(),
        exp: now.saturating_add(ttl.as_secs()),
        iat: now,
        iss: ISSUER,
        aud: AUDIENCE,
    };
    // HS256 with a secret key cannot fail: the key family matches the algorithm and these
    // claims always serialise.
    #[allow(clippy::expect_used)]
    jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &EncodingKey::from_secret(secret.as_bytes()))
        .expect("HS256 signing with a secret key cannot fail")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use tonic::Code;
    use tonic::service::Interceptor;

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

    #[test]
    fn an_empty_secret_is_a_configuration_error() {
        assert!(matches!(JwtVerifier::new(""), Err(AuthError::EmptySecret)));
    }

    #[test]
    fn a_request_that_skipped_the_interceptor_has_no_caller() {
        assert_eq!(Caller::of(&Request::new(())).unwrap_err().code(), Code::Unauthenticated);
    }
}
