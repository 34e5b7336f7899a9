-- One row per login. Both tokens carry the session id (`sid`); refresh and logout act on it.
CREATE TABLE sessions (
    id                   uuid        PRIMARY KEY,
    user_id              uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- The refresh token that is live now: its jti and iat; its exp is expires_at.
    refresh_jti          uuid        NOT NULL,
    refresh_issued_at    timestamptz NOT NULL,
    -- The refresh token it replaced under rotation, and when, for reuse detection and grace.
    previous_refresh_jti uuid,
    rotated_at           timestamptz,
    created_at           timestamptz NOT NULL,
    expires_at           timestamptz NOT NULL,
    -- The latest expiry of an access token issued for this session (session.revoked carries it).
    access_expires_at    timestamptz NOT NULL,
    revoked_at           timestamptz,
    revoked_reason       text
);

CREATE INDEX sessions_user_id_idx ON sessions (user_id);
