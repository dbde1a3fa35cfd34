//! The security log: structured events an operator can alert on, under the tracing target
//! `cashflow::security`, each with an `event` name, the user when known, the peer address and a
//! reason; Login and Register events also carry the `client` address the limits counted (the
//! peer, or the client a trusted proxy forwarded for). Passwords, tokens and secrets never appear: these functions take only ids, addresses
//! and `&'static str` reasons, so a request's text cannot reach a log line through them.

use cashflow_domain::UserId;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;
use uuid::Uuid;

pub const TARGET: &str = "cashflow::security";

fn peer_text(peer: Option<SocketAddr>) -> String {
    peer.map_or_else(|| "unknown".to_owned(), |peer| peer.to_string())
}

pub fn registered(user: Uuid, peer: Option<SocketAddr>, client: IpAddr) {
    tracing::info!(target: TARGET, event = "register", user = %user, peer = %peer_text(peer), %client, "account created");
}

/// The client was answered as if registered when the email is taken; the log says the truth.
pub fn register_refused(peer: Option<SocketAddr>, client: IpAddr, reason: &'static str) {
    tracing::info!(
        target: TARGET,
        event = "register_refused",
        peer = %peer_text(peer),
        %client,
        reason,
        "registration refused"
    );
}

pub fn login_succeeded(user: Uuid, peer: Option<SocketAddr>, client: IpAddr) {
    tracing::info!(target: TARGET, event = "login_succeeded", user = %user, peer = %peer_text(peer), %client, "login");
}

/// `reason` says why without saying which of email or password was wrong to the client; the
/// log may, since only operators read it.
pub fn login_failed(peer: Option<SocketAddr>, client: IpAddr, reason: &'static str) {
    tracing::warn!(target: TARGET, event = "login_failed", peer = %peer_text(peer), %client, reason, "login failed");
}

pub fn refreshed(user: Uuid, peer: Option<SocketAddr>) {
    tracing::info!(target: TARGET, event = "refreshed", user = %user, peer = %peer_text(peer), "refresh token spent");
}

pub fn refresh_refused(peer: Option<SocketAddr>, reason: &'static str) {
    tracing::warn!(target: TARGET, event = "refresh_refused", peer = %peer_text(peer), reason, "refresh refused");
}

/// A spent refresh token came back: one copy is in someone else's hands.
pub fn refresh_token_reused(user: Uuid, family: Uuid, peer: Option<SocketAddr>) {
    tracing::warn!(
        target: TARGET,
        event = "refresh_token_reused",
        user = %user,
        family = %family,
        peer = %peer_text(peer),
        reason = "a spent refresh token was presented again; its family is revoked",
        "refresh token reuse"
    );
}

pub fn logged_out(user: Uuid, peer: Option<SocketAddr>) {
    tracing::info!(target: TARGET, event = "logout", user = %user, peer = %peer_text(peer), "refresh family revoked");
}

pub fn rate_limited(scope: &str, user: Option<UserId>, peer: Option<SocketAddr>, retry_after: Duration) {
    let user = user.map(|user| user.to_string()).unwrap_or_default();
    tracing::warn!(
        target: TARGET,
        event = "rate_limited",
        scope,
        user,
        peer = %peer_text(peer),
        retry_after_ms = u64::try_from(retry_after.as_millis()).unwrap_or(u64::MAX),
        reason = "rate limit exceeded",
        "request refused as RESOURCE_EXHAUSTED"
    );
}

/// A Login or Register refused by a limit of its own (`scope`: `login_address`,
/// `login_account`, `register_address`, `password_hashing`).
pub fn auth_rate_limited(scope: &str, peer: Option<SocketAddr>, client: IpAddr, retry_after: Duration) {
    tracing::warn!(
        target: TARGET,
        event = "rate_limited",
        scope,
        peer = %peer_text(peer),
        %client,
        retry_after_ms = u64::try_from(retry_after.as_millis()).unwrap_or(u64::MAX),
        reason = if scope == "password_hashing" { "every password-hashing permit taken" } else { "rate limit exceeded" },
        "request refused as RESOURCE_EXHAUSTED"
    );
}

/// An access token was missing or did not prove anything. The error names the check that
/// failed (expired, bad signature, unknown kid…), never the token.
pub fn token_refused(peer: Option<SocketAddr>, error: &crate::auth::AuthError) {
    tracing::warn!(
        target: TARGET,
        event = "authorization_refused",
        peer = %peer_text(peer),
        reason = %error,
        "request refused as UNAUTHENTICATED"
    );
}
