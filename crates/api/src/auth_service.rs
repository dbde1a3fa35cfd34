//! `cashflow.v1.AuthService`: register, login, refresh and logout. No access token is needed;
//! instead Login is limited per client address and per account, separately, Register per
//! client address, and password hashing runs behind a few permits, refused at once when they
//! are taken. Register answers a taken email as it answers a new one (ADR 0012).

use crate::client_addr::{ClientKey, TrustedProxies};
use crate::limits::{RateLimit, RateLimiter, exhausted, exhausted_because};
use crate::security_log;
use cashflow_identity::issue_token;
use cashflow_identity::{Identity, IdentityError, normalise_email};
use cashflow_proto::v1::auth_service_server::AuthService;
use cashflow_proto::v1::{
    LoginRequest, LogoutRequest, LogoutResponse, RefreshRequest, RegisterRequest, RegisterResponse, TokenPair,
};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tonic::{Code, Request, Response, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// Access tokens live this long unless configured otherwise.
pub const DEFAULT_ACCESS_TOKEN_TTL: Duration = Duration::from_secs(15 * 60);

/// What a call refused for want of a hashing permit is told to wait: a hash takes tens of
/// milliseconds, so a permit is free again well within it.
pub const HASHING_RETRY_AFTER: Duration = Duration::from_secs(1);

/// The limits in front of Login and Register, and whose `x-forwarded-for` names the client.
#[derive(Debug)]
pub struct AuthLimiters {
    /// Per client address (an IPv4 address, an IPv6 /64): Login and Register together, so one
    /// address spraying a password over many accounts is stopped.
    address: RateLimiter<ClientKey>,
    /// Per account (normalised email): Login, so many addresses at one account are stopped.
    account: RateLimiter<String>,
    proxies: TrustedProxies,
}

impl AuthLimiters {
    pub fn new(address: RateLimit, account: RateLimit) -> Self {
        Self {
            address: RateLimiter::new(address),
            account: RateLimiter::new(account),
            proxies: TrustedProxies::default(),
        }
    }

    /// Believes the `x-forwarded-for` of calls from `proxies`.
    pub fn trusting(mut self, proxies: TrustedProxies) -> Self {
        self.proxies = proxies;
        self
    }

    fn client<T>(&self, request: &Request<T>) -> IpAddr {
        let forwarded = request.metadata().get_all("x-forwarded-for").iter().filter_map(|value| value.to_str().ok());
        self.proxies.client(request.remote_addr(), forwarded)
    }
}

/// Where a call came from: the TCP peer, and the client it speaks for (the same without a proxy).
#[derive(Debug, Clone, Copy)]
struct Origin {
    peer: Option<SocketAddr>,
    client: IpAddr,
}

#[derive(Clone)]
pub struct AuthApi {
    identity: Identity,
    secret: Arc<str>,
    access_ttl: Duration,
    limits: Arc<AuthLimiters>,
}

impl std::fmt::Debug for AuthApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthApi").field("access_ttl", &self.access_ttl).finish_non_exhaustive()
    }
}

impl AuthApi {
    pub fn new(identity: Identity, secret: &str, access_ttl: Duration, limits: Arc<AuthLimiters>) -> Self {
        Self { identity, secret: secret.into(), access_ttl, limits }
    }

    fn pair(&self, user_id: uuid::Uuid, refresh_token: String) -> TokenPair {
        TokenPair {
            access_token: issue_token(&self.secret, user_id, self.access_ttl),
            refresh_token,
            expires_in: self.access_ttl.as_secs(),
        }
    }

    fn origin<T>(&self, request: &Request<T>) -> Origin {
        Origin { peer: request.remote_addr(), client: self.limits.client(request) }
    }

    fn limit_address(&self, scope: &'static str, origin: Origin) -> Result<(), Status> {
        self.limits.address.check(&ClientKey::of(origin.client)).map_err(|retry_after| {
            security_log::auth_rate_limited(scope, origin.peer, origin.client, retry_after);
            exhausted(retry_after)
        })
    }

    fn limit_account(&self, email: &str, origin: Origin) -> Result<(), Status> {
        // Keyed by the normalised email only: the bucket is the account's, known or not.
        self.limits.account.check(&email.to_owned()).map_err(|retry_after| {
            security_log::auth_rate_limited("login_account", origin.peer, origin.client, retry_after);
            exhausted(retry_after)
        })
    }
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
        // Never answered as such: Register hides it (ADR 0012). Kept for any other caller.
        IdentityError::EmailTaken => Status::already_exists("an account with this email already exists"),
        IdentityError::InvalidCredentials => Status::unauthenticated("wrong email or password"),
        IdentityError::InvalidRefreshToken | IdentityError::RefreshTokenReused { .. } => {
            Status::unauthenticated("invalid refresh token")
        }
        IdentityError::Busy => exhausted_because("password hashing is busy", HASHING_RETRY_AFTER),
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
        IdentityError::Busy => "password hashing busy",
        IdentityError::Unavailable(_) => "identity store unavailable",
        IdentityError::Internal(_) => "internal error",
    }
}

/// Logs a refused Login or Register through `log` (a full hashing pool as a rate limit) and
/// answers its status.
fn refused(error: IdentityError, origin: Origin, log: fn(Option<SocketAddr>, IpAddr, &'static str)) -> Status {
    match error {
        IdentityError::Busy => {
            security_log::auth_rate_limited("password_hashing", origin.peer, origin.client, HASHING_RETRY_AFTER);
        }
        ref other => log(origin.peer, origin.client, reason(other)),
    }
    status(error)
}

#[tonic::async_trait]
impl AuthService for AuthApi {
    /// A taken email gets what a new one gets: `OK` with a fresh user id that names no account,
    /// after the same hashing and insert attempt. The owner's account is untouched.
    #[tracing::instrument(name = "auth.register", skip_all, err(level = "debug"))]
    async fn register(&self, request: Request<RegisterRequest>) -> Result<Response<RegisterResponse>, Status> {
        let origin = self.origin(&request);
        self.limit_address("register_address", origin)?;
        let request = request.into_inner();
        match self.identity.register(&request.email, &request.password, &request.display_name).await {
            Ok(user_id) => {
                security_log::registered(user_id, origin.peer, origin.client);
                Ok(Response::new(RegisterResponse { user_id: user_id.to_string() }))
            }
            Err(IdentityError::EmailTaken) => {
                security_log::register_refused(origin.peer, origin.client, reason(&IdentityError::EmailTaken));
                Ok(Response::new(RegisterResponse { user_id: uuid::Uuid::now_v7().to_string() }))
            }
            Err(error) => Err(refused(error, origin, security_log::register_refused)),
        }
    }

    #[tracing::instrument(name = "auth.login", skip_all, err(level = "debug"))]
    async fn login(&self, request: Request<LoginRequest>) -> Result<Response<TokenPair>, Status> {
        let origin = self.origin(&request);
        self.limit_address("login_address", origin)?;
        let request = request.into_inner();
        let email =
            normalise_email(&request.email).map_err(|error| refused(error, origin, security_log::login_failed))?;
        self.limit_account(&email, origin)?;
        match self.identity.login(&email, &request.password).await {
            Ok(session) => {
                security_log::login_succeeded(session.user_id, origin.peer, origin.client);
                Ok(Response::new(self.pair(session.user_id, session.refresh_token)))
            }
            Err(error) => Err(refused(error, origin, security_log::login_failed)),
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
