//! Access tokens as Cashflow issues them: HS256 JWTs whose `sub` is the user id.

use serde::Serialize;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use uuid::Uuid;

/// The `iss` and `aud` every Cashflow token carries.
pub const ISSUER: &str = "cashflow";
pub const AUDIENCE: &str = "cashflow";

#[derive(Debug, Serialize)]
struct IssuedClaims<'a> {
    sub: String,
    exp: u64,
    iat: u64,
    iss: &'a str,
    aud: &'a str,
}

/// Signs an access token for `user_id` valid for `ttl` with the server's `jwt_secret`: what
/// Login and Refresh hand out, and what tools and tests mint.
pub fn issue_token(secret: &str, user_id: Uuid, ttl: Duration) -> String {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
    let claims = IssuedClaims {
        sub: user_id.to_string(),
        exp: now.saturating_add(ttl.as_secs()),
        iat: now,
        iss: ISSUER,
        aud: AUDIENCE,
    };
    let header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    // HS256 with a secret key cannot fail: the key family matches the algorithm and these
    // claims always serialise.
    #[allow(clippy::expect_used)]
    jsonwebtoken::encode(&header, &claims, &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()))
        .expect("HS256 signing with a secret key cannot fail")
}
