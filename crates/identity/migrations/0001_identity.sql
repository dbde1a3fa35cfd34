-- Accounts and refresh tokens. Passwords are argon2id PHC strings; refresh tokens are kept
-- only as the SHA-256 of the random token the client holds.
CREATE TABLE identity_users (
    user_id       UUID        PRIMARY KEY,
    email         TEXT        NOT NULL UNIQUE,
    display_name  TEXT        NOT NULL,
    password_hash TEXT        NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- One row per refresh token ever issued. A login starts a family; each refresh spends one
-- token of it and adds the next. Presenting a spent token revokes every token of the family.
CREATE TABLE identity_refresh_tokens (
    token_hash BYTEA       PRIMARY KEY,
    family_id  UUID        NOT NULL,
    user_id    UUID        NOT NULL REFERENCES identity_users (user_id),
    issued_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at TIMESTAMPTZ NOT NULL,
    spent_at   TIMESTAMPTZ,
    revoked_at TIMESTAMPTZ
);

CREATE INDEX identity_refresh_tokens_family ON identity_refresh_tokens (family_id);
