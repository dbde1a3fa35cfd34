//! Cashflow's accounts: users with argon2id password hashes and rotating refresh-token families.
//!
//! - [`Identity::register`] creates a user; [`Identity::login`] checks a password and starts a
//!   refresh-token family; [`Identity::refresh`] spends a token for the next one of its family;
//!   [`Identity::logout`] revokes the family.
//! - A refresh token is 256 random bits the client holds; only its SHA-256 is stored.
//! - A spent token presented again means it was copied: the whole family is revoked
//!   ([`IdentityError::RefreshTokenReused`]) so neither the thief nor the owner can go on.
//! - Each family has a row that refresh and logout lock before they read or change any of its
//!   tokens, so a rotation and a revocation of one family never interleave (ADR 0014).
//!
//! Access tokens (JWTs) are the API's business: this crate answers who the user is.
#![forbid(unsafe_code)]

mod password;
mod schema;
mod token;

pub use password::{Hasher, MAX_PASSWORD_BYTES, MIN_PASSWORD_CHARS, check_policy};
pub use schema::{MIGRATIONS_TABLE, migrate};
pub use token::{AUDIENCE, ISSUER, issue_token};

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use sqlx::{PgPool, Row};
use std::sync::Arc;
use std::time::Duration;
use thiserror::Error;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use uuid::Uuid;

/// How long a refresh token may be spent.
pub const REFRESH_TOKEN_TTL: Duration = Duration::from_secs(30 * 24 * 3600);
pub const MAX_EMAIL_BYTES: usize = 254;
pub const MAX_DISPLAY_NAME_CHARS: usize = 100;

#[derive(Debug, Error)]
pub enum IdentityError {
    /// `field` is not acceptable; the message says why.
    #[error("{field}: {message}")]
    Invalid { field: &'static str, message: String },
    #[error("password {0}")]
    WeakPassword(String),
    #[error("an account with this email already exists")]
    EmailTaken,
    /// Unknown email or wrong password: deliberately the same error.
    #[error("wrong email or password")]
    InvalidCredentials,
    /// Unknown, expired, revoked or malformed refresh token.
    #[error("invalid refresh token")]
    InvalidRefreshToken,
    /// A spent token came back: its family is now revoked.
    #[error("refresh token reused; its family is revoked")]
    RefreshTokenReused { user_id: Uuid, family_id: Uuid },
    /// Every password-hashing permit is taken: refused at once rather than queued, so a flood
    /// of logins cannot hold memory (19 MiB each) or threads. Retry shortly.
    #[error("password hashing is at capacity")]
    Busy,
    #[error("identity store unavailable: {0}")]
    Unavailable(String),
    #[error("identity internal error: {0}")]
    Internal(String),
}

impl IdentityError {
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        Self::Internal(cause.to_string())
    }
}

impl From<sqlx::Error> for IdentityError {
    fn from(error: sqlx::Error) -> Self {
        match error {
            sqlx::Error::Database(db) if db.is_unique_violation() => Self::EmailTaken,
            sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Tls(_) => {
                Self::Unavailable(error.to_string())
            }
            other => Self::Internal(other.to_string()),
        }
    }
}

/// A signed-in user and the refresh token the client keeps.
#[derive(Clone, PartialEq, Eq)]
pub struct Session {
    pub user_id: Uuid,
    pub family_id: Uuid,
    pub refresh_token: String,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The refresh token is a credential: it stays out of logs.
        f.debug_struct("Session").field("user_id", &self.user_id).field("family_id", &self.family_id).finish()
    }
}

/// Trimmed, lower-cased, and shaped like `local@domain.tld`.
pub fn normalise_email(raw: &str) -> Result<String, IdentityError> {
    let invalid = |message: &str| IdentityError::Invalid { field: "email", message: message.into() };
    let email = raw.trim().to_lowercase();
    if email.is_empty() || email.len() > MAX_EMAIL_BYTES {
        return Err(invalid("must be an email address of at most 254 bytes"));
    }
    if email.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(invalid("must not contain spaces or control characters"));
    }
    match email.split_once('@') {
        Some((local, domain))
            if !local.is_empty()
                && !domain.contains('@')
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.') =>
        {
            Ok(email)
        }
        _ => Err(invalid("must be an email address like name@example.com")),
    }
}

fn normalise_display_name(raw: &str) -> Result<String, IdentityError> {
    let name = raw.trim();
    let count = name.chars().count();
    if count == 0 || count > MAX_DISPLAY_NAME_CHARS || name.chars().any(char::is_control) {
        return Err(IdentityError::Invalid {
            field: "display_name",
            message: format!("must be 1 to {MAX_DISPLAY_NAME_CHARS} characters without control characters"),
        });
    }
    Ok(name.to_owned())
}

/// 256 random bits, hex: what the client holds.
fn new_refresh_token() -> Result<String, IdentityError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(IdentityError::internal)?;
    Ok(hex::encode(bytes))
}

/// What the table stores. A token that is not 64 hex digits can't be ours and hashes to nothing found.
fn token_hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// Users and refresh tokens in PostgreSQL.
#[derive(Clone)]
pub struct Identity {
    pool: PgPool,
    hasher: Arc<Hasher>,
    /// Permits to run argon2, one per hash in flight.
    hashing: Arc<Semaphore>,
    refresh_ttl: Duration,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity")
            .field("refresh_ttl", &self.refresh_ttl)
            .field("hashing_permits_free", &self.hashing.available_permits())
            .finish_non_exhaustive()
    }
}

impl Identity {
    /// A store hashing at most one password per core at once.
    pub fn new(pool: PgPool) -> Result<Self, IdentityError> {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        Ok(Self {
            pool,
            hasher: Arc::new(Hasher::new()?),
            hashing: Arc::new(Semaphore::new(cores)),
            refresh_ttl: REFRESH_TOKEN_TTL,
        })
    }

    /// The same store hashing at most `permits` passwords at once (at least one); a Login or
    /// Register that finds them all taken fails with [`IdentityError::Busy`].
    pub fn with_hash_concurrency(mut self, permits: usize) -> Self {
        self.hashing = Arc::new(Semaphore::new(permits.max(1)));
        self
    }

    /// The same store with another refresh-token lifetime (tests of expiry).
    pub fn with_refresh_ttl(mut self, ttl: Duration) -> Self {
        self.refresh_ttl = ttl;
        self
    }

    /// A hashing permit, or [`IdentityError::Busy`] at once. Taken before any other work, so
    /// a refused call costs nothing.
    fn permit(&self) -> Result<OwnedSemaphorePermit, IdentityError> {
        self.hashing.clone().try_acquire_owned().map_err(|_| IdentityError::Busy)
    }

    /// Runs argon2 off the async threads: it takes tens of milliseconds of CPU by design. The
    /// permit goes with the work, so a caller that gives up does not free it early.
    async fn blocking<T: Send + 'static>(
        &self,
        permit: OwnedSemaphorePermit,
        work: impl FnOnce(&Hasher) -> T + Send + 'static,
    ) -> Result<T, IdentityError> {
        let hasher = self.hasher.clone();
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            work(&hasher)
        })
        .await
        .map_err(IdentityError::internal)
    }

    /// Creates a user and answers its id. A taken email fails with [`IdentityError::EmailTaken`]
    /// after the same work as a new one (the password is hashed, the insert tried), so a caller
    /// that hides the difference hides it in time too.
    #[tracing::instrument(name = "identity.register", skip_all, err(level = "debug"))]
    pub async fn register(&self, email: &str, password: &str, display_name: &str) -> Result<Uuid, IdentityError> {
        let email = normalise_email(email)?;
        let display_name = normalise_display_name(display_name)?;
        check_policy(password)?;
        let permit = self.permit()?;
        let password = password.to_owned();
        let hash = self.blocking(permit, move |hasher| hasher.hash(&password)).await??;
        let user_id = Uuid::now_v7();
        sqlx::query("INSERT INTO identity_users (user_id, email, display_name, password_hash) VALUES ($1, $2, $3, $4)")
            .bind(user_id)
            .bind(&email)
            .bind(&display_name)
            .bind(&hash)
            .execute(&self.pool)
            .await?;
        Ok(user_id)
    }

    /// Checks the password and starts a refresh-token family. An unknown email and a wrong
    /// password both answer [`IdentityError::InvalidCredentials`] after one argon2 verification;
    /// a string that is no email is refused before any.
    #[tracing::instrument(name = "identity.login", skip_all, err(level = "debug"))]
    pub async fn login(&self, email: &str, password: &str) -> Result<Session, IdentityError> {
        let email = normalise_email(email)?;
        let permit = self.permit()?;
        let row = sqlx::query("SELECT user_id, password_hash FROM identity_users WHERE email = $1")
            .bind(&email)
            .fetch_optional(&self.pool)
            .await?;
        let (user_id, stored) = match row {
            Some(row) => (Some(row.try_get::<Uuid, _>("user_id")?), Some(row.try_get::<String, _>("password_hash")?)),
            None => (None, None),
        };
        let password = password.to_owned();
        let matches = self.blocking(permit, move |hasher| hasher.verify(&password, stored.as_deref())).await?;
        match user_id {
            Some(user_id) if matches => {
                let family_id = Uuid::now_v7();
                let mut tx = self.pool.begin().await?;
                sqlx::query("INSERT INTO identity_refresh_families (family_id, user_id) VALUES ($1, $2)")
                    .bind(family_id)
                    .bind(user_id)
                    .execute(&mut *tx)
                    .await?;
                let refresh_token = self.insert_token(&mut tx, user_id, family_id).await?;
                tx.commit().await?;
                Ok(Session { user_id, family_id, refresh_token })
            }
            _ => Err(IdentityError::InvalidCredentials),
        }
    }

    /// Spends `refresh_token` for the next token of its family.
    #[tracing::instrument(name = "identity.refresh", skip_all, err(level = "debug"))]
    pub async fn refresh(&self, refresh_token: &str) -> Result<Session, IdentityError> {
        let hash = token_hash(refresh_token);
        let mut tx = self.pool.begin().await?;
        let (user_id, family_id) = token_family(&mut tx, &hash).await?;
        if lock_family(&mut tx, family_id, user_id).await?.is_some() {
            return Err(IdentityError::InvalidRefreshToken);
        }
        // Read under the family's lock: no other refresh or revocation of the family can change
        // the token until we commit, and every one before us has committed.
        let row =
            sqlx::query("SELECT expires_at, spent_at, revoked_at FROM identity_refresh_tokens WHERE token_hash = $1")
                .bind(&hash)
                .fetch_one(&mut *tx)
                .await?;
        let expires_at: DateTime<Utc> = row.try_get("expires_at")?;
        let spent_at: Option<DateTime<Utc>> = row.try_get("spent_at")?;
        let revoked_at: Option<DateTime<Utc>> = row.try_get("revoked_at")?;
        if revoked_at.is_some() || expires_at <= Utc::now() {
            return Err(IdentityError::InvalidRefreshToken);
        }
        if spent_at.is_some() {
            revoke_family(&mut tx, family_id).await?;
            tx.commit().await?;
            return Err(IdentityError::RefreshTokenReused { user_id, family_id });
        }
        sqlx::query("UPDATE identity_refresh_tokens SET spent_at = now() WHERE token_hash = $1")
            .bind(&hash)
            .execute(&mut *tx)
            .await?;
        let refresh_token = self.insert_token(&mut tx, user_id, family_id).await?;
        tx.commit().await?;
        Ok(Session { user_id, family_id, refresh_token })
    }

    /// Revokes the family of `refresh_token`; answers its user. An unknown token is an error so
    /// a client learns its logout did nothing; a revoked one is fine (logging out twice).
    #[tracing::instrument(name = "identity.logout", skip_all, err(level = "debug"))]
    pub async fn logout(&self, refresh_token: &str) -> Result<Uuid, IdentityError> {
        let mut tx = self.pool.begin().await?;
        let (user_id, family_id) = token_family(&mut tx, &token_hash(refresh_token)).await?;
        lock_family(&mut tx, family_id, user_id).await?;
        revoke_family(&mut tx, family_id).await?;
        tx.commit().await?;
        Ok(user_id)
    }

    async fn insert_token(
        &self,
        tx: &mut sqlx::PgConnection,
        user_id: Uuid,
        family_id: Uuid,
    ) -> Result<String, IdentityError> {
        let token = new_refresh_token()?;
        let ttl = chrono::Duration::from_std(self.refresh_ttl).map_err(IdentityError::internal)?;
        sqlx::query(
            "INSERT INTO identity_refresh_tokens (token_hash, family_id, user_id, expires_at)
             VALUES ($1, $2, $3, $4)",
        )
        .bind(token_hash(&token))
        .bind(family_id)
        .bind(user_id)
        .bind(Utc::now() + ttl)
        .execute(tx)
        .await?;
        Ok(token)
    }
}

/// The user and family of a token (both fixed when it is issued), or
/// [`IdentityError::InvalidRefreshToken`] for a token never issued.
async fn token_family(tx: &mut sqlx::PgConnection, hash: &[u8]) -> Result<(Uuid, Uuid), IdentityError> {
    let row = sqlx::query("SELECT user_id, family_id FROM identity_refresh_tokens WHERE token_hash = $1")
        .bind(hash)
        .fetch_optional(tx)
        .await?
        .ok_or(IdentityError::InvalidRefreshToken)?;
    Ok((row.try_get("user_id")?, row.try_get("family_id")?))
}

/// Locks the family's row until the transaction ends and answers when the family was revoked,
/// if it was. Whoever rotates or revokes a family's tokens holds this lock, so those changes
/// serialise. A family whose row is missing (its login ran on a release before the table) gets
/// one here, revoked if any of its tokens was.
async fn lock_family(
    tx: &mut sqlx::PgConnection,
    family_id: Uuid,
    user_id: Uuid,
) -> Result<Option<DateTime<Utc>>, IdentityError> {
    let lock = || {
        sqlx::query_scalar::<_, Option<DateTime<Utc>>>(
            "SELECT revoked_at FROM identity_refresh_families WHERE family_id = $1 FOR UPDATE",
        )
        .bind(family_id)
    };
    if let Some(revoked_at) = lock().fetch_optional(&mut *tx).await? {
        return Ok(revoked_at);
    }
    sqlx::query(
        "INSERT INTO identity_refresh_families (family_id, user_id, created_at, revoked_at)
         SELECT $1, $2, COALESCE(min(issued_at), now()), min(revoked_at)
         FROM identity_refresh_tokens WHERE family_id = $1
         ON CONFLICT (family_id) DO NOTHING",
    )
    .bind(family_id)
    .bind(user_id)
    .execute(&mut *tx)
    .await?;
    Ok(lock().fetch_one(&mut *tx).await?)
}

/// Revokes the family and every token of it. The caller holds the family's lock
/// ([`lock_family`]), so no token of the family is being issued meanwhile.
async fn revoke_family(tx: &mut sqlx::PgConnection, family_id: Uuid) -> Result<(), IdentityError> {
    sqlx::query("UPDATE identity_refresh_families SET revoked_at = now() WHERE family_id = $1 AND revoked_at IS NULL")
        .bind(family_id)
        .execute(&mut *tx)
        .await?;
    sqlx::query("UPDATE identity_refresh_tokens SET revoked_at = now() WHERE family_id = $1 AND revoked_at IS NULL")
        .bind(family_id)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests;
