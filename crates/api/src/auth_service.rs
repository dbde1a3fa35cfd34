//! `cashflow.v1.AuthService`: register, login, refresh and logout. No access token is needed;
//! Login and Register are rate-limited by email and peer address instead.

use crate::limits::{RateLimiter, exhausted};
use crate::security_log;
use cashflow_identity::issue_token;
use cashflow_identity::{Identity, IdentityError, normalise_email};
use cashflow_proto::v1::auth_service_server::AuthService;
use cashflow_proto::v1::{
    LoginRequest, LogoutRequest, LogoutResponse, RefreshRequest, RegisterRequest, RegisterResponse, TokenPair,
};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tonic::{Code, Request, Response, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// Access tokens live this long unless configured otherwise.
pub const DEFAULT_ACCESS_TOKEN_TTL: Duration = Duration::from_secs(15 * 60);

/// What Login limits are keyed by: the attempted email and where the attempt comes from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum AttemptKey {
    Login { email: String, ip: IpAddr },
    Register { ip: IpAddr },
}

#[derive(Clone)]
pub struct AuthApi {
    identity: Identity,
    secret: Arc<str>,
    access_ttl: Duration,
    attempts: Arc<RateLimiter<AttemptKey>>,
}

impl std::fmt::Debug for AuthApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthApi").field("access_ttl", &self.access_ttl).finish_non_exhaustive()
    }
}

impl AuthApi {
    pub fn new(identity: Identity, secret: &str, access_ttl: Duration, attempts: Arc<RateLimiter<AttemptKey>>) -> Self {
        Self { identity, secret: secret.into(), access_ttl, attempts }
    }

    fn pair(&self, user_id: uuid::Uuid, refresh_token: String) -> TokenPair {
        TokenPair {
            access_token: issue_token(&self.secret, user_id, self.access_ttl),
            refresh_token,
            expires_in: self.access_ttl.as_secs(),
        }
    }

    fn limit(&self, key: AttemptKey, peer: Option<SocketAddr>) -> Result<(), Status> {
        self.attempts.check(&key).map_err(|retry_after| {
            let scope = match key {
                AttemptKey::Login { .. } => "login",
                AttemptKey::Register { .. } => "register",
            };
            security_log::rate_limited(scope, None, peer, retry_after);
            exhausted(retry_after)
        })
    }
}

fn ip(peer: Option<SocketAddr>) -> IpAddr {
    peer.map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |peer| peer.ip())
}

fn invalid(field: &str, message: &str) -> Status {
    Status::with_error_details(
        Code::InvalidArgument,
        format!("{field}: {message}"),
        ErrorDetails::with_bad_request_violation(field, message),
    )
}

/// Every identity error's answer. Credentials and refresh tokens fail with one message each,
/// whatever the cause, so an answer reveals nothing about which part was wrong.
fn status(error: IdentityError) -> Status {
    match error {
        IdentityError::Invalid { field, message } => invalid(field, &message),
        IdentityError::WeakPassword(message) => invalid("password", &format!("password {message}")),
        IdentityError::EmailTaken => Status::already_exists("an account with this email already exists"),
        IdentityError::InvalidCredentials => Status::unauthenticated("wrong email or password"),
        IdentityError::InvalidRefreshToken | IdentityError::RefreshTokenReused { .. } => {
            Status::unauthenticated("invalid refresh token")
        }
        IdentityError::Unavailable(cause) => {
            tracing::warn!(error = %cause, "identity store unavailable");
            Status::unavailable("the identity store is unavailable; retry later")
        }
        IdentityError::Internal(cause) => {
            tracing::error!(error = %cause, "identity internal error answered as INTERNAL");
            Status::internal("internal error")
        }
    }
}

fn reason(error: &IdentityError) -> &'static str {
    match error {
        IdentityError::Invalid { .. } => "invalid field",
        IdentityError::WeakPassword(_) => "weak password",
        IdentityError::EmailTaken => "email taken",
        IdentityError::InvalidCredentials => "wrong email or password",
        IdentityError::InvalidRefreshToken => "unknown, expired or revoked refresh token",
        IdentityError::RefreshTokenReused { .. } => "refresh token reused",
        IdentityError::Unavailable(_) => "identity store unavailable",
        IdentityError::Internal(_) => "internal error",
    }
}

#[tonic::async_trait]
impl AuthService for AuthApi {
    #[tracing::instrument(name = "auth.register", skip_all, err(level = "debug"))]
    async fn register(&self, request: Request<RegisterRequest>) -> Result<Response<RegisterResponse>, Status> {
        let peer = request.remote_addr();
        self.limit(AttemptKey::Register { ip: ip(peer) }, peer)?;
        let request = request.into_inner();
        match self.identity.register(&request.email, &request.password, &request.display_name).await {
            Ok(user_id) => {
                security_log::registered(user_id, peer);
                Ok(Response::new(RegisterResponse { user_id: user_id.to_string() }))
            }
            Err(error) => {
                security_log::register_refused(peer, reason(&error));
                Err(status(error))
            }
        }
    }

    #[tracing::instrument(name = "auth.login", skip_all, err(level = "debug"))]
    async fn login(&self, request: Request<LoginRequest>) -> Result<Response<TokenPair>, Status> {
        let peer = request.remote_addr();
        let request = request.into_inner();
        // An email that is not one still counts against its (raw) key: junk is limited too.
        let email = normalise_email(&request.email).unwrap_or_else(|_| request.email.chars().take(254).collect());
        self.limit(AttemptKey::Login { email, ip: ip(peer) }, peer)?;
        match self.identity.login(&request.email, &request.password).await {
            Ok(session) => {
                security_log::login_succeeded(session.user_id, peer);
                Ok(Response::new(self.pair(session.user_id, session.refresh_token)))
            }
            Err(error) => {
                security_log::login_failed(peer, reason(&error));
                Err(status(error))
            }
        }
    }

    #[tracing::instrument(name = "auth.refresh", skip_all, err(level = "debug"))]
    async fn refresh(&self, request: Request<RefreshRequest>) -> Result<Response<TokenPair>, Status> {
        let peer = request.remote_addr();
        match self.identity.refresh(&request.into_inner().refresh_token).await {
            Ok(session) => {
                security_log::refreshed(session.user_id, peer);
                Ok(Response::new(self.pair(session.user_id, session.refresh_token)))
            }
            Err(IdentityError::RefreshTokenReused { user_id, family_id }) => {
                security_log::refresh_token_reused(user_id, family_id, peer);
                Err(status(IdentityError::RefreshTokenReused { user_id, family_id }))
            }
            Err(error) => {
                security_log::refresh_refused(peer, reason(&error));
                Err(status(error))
            }
        }
    }

    #[tracing::instrument(name = "auth.logout", skip_all, err(level = "debug"))]
    async fn logout(&self, request: Request<LogoutRequest>) -> Result<Response<LogoutResponse>, Status> {
        let peer = request.remote_addr();
        match self.identity.logout(&request.into_inner().refresh_token).await {
            Ok(user_id) => {
                security_log::logged_out(user_id, peer);
                Ok(Response::new(LogoutResponse {}))
            }
            Err(error) => {
                security_log::refresh_refused(peer, reason(&error));
                Err(status(error))
            }
        }
    }
}
