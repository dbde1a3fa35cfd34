-- One row per refresh-token family: the lock that Refresh and Logout take before they read or
-- change any token of the family, and the family's revocation. Rotation and revocation thus
-- serialise: a refresh either commits before a revocation (which then sees its new token) or
-- waits for it and finds the family revoked. See docs/adr/0014-refresh-families-serialise.md.
CREATE TABLE identity_refresh_families (
    family_id  UUID        PRIMARY KEY,
    user_id    UUID        NOT NULL REFERENCES identity_users (user_id),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    revoked_at TIMESTAMPTZ
);

-- The families issued before this table. A family with any revoked token was meant to be
-- revoked whole: a token that escaped an earlier, racing revocation dies here.
INSERT INTO identity_refresh_families (family_id, user_id, created_at, revoked_at)
SELECT family_id, (array_agg(user_id))[1], min(issued_at), min(revoked_at)
FROM identity_refresh_tokens
GROUP BY family_id;

-- Revoke those escaped tokens as well, so the token rows agree with their family.
UPDATE identity_refresh_tokens t
SET revoked_at = f.revoked_at
FROM identity_refresh_families f
WHERE t.family_id = f.family_id AND f.revoked_at IS NOT NULL AND t.revoked_at IS NULL;
