-- Account lifecycle: accounts an operator disabled, what a session list shows, and password
-- reset tokens. Nullable columns without defaults: instant on a populated database, and rows
-- written before this migration read as "not disabled", "never refreshed", "unknown client".
ALTER TABLE users ADD COLUMN disabled_at timestamptz;

ALTER TABLE sessions ADD COLUMN last_refreshed_at timestamptz;
ALTER TABLE sessions ADD COLUMN ip_address inet;
ALTER TABLE sessions ADD COLUMN user_agent text;

-- Logout-all, password change and the session list read a user's live sessions.
CREATE INDEX sessions_user_live_idx ON sessions (user_id) WHERE revoked_at IS NULL;

-- Reset tokens are stored only as the SHA-256 of the token sent to the user; a new request
-- replaces the unused one, so a user has at most one live token.
CREATE TABLE password_reset_tokens (
    token_hash bytea       PRIMARY KEY,
    user_id    uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    used_at    timestamptz
);

CREATE INDEX password_reset_tokens_user_id_idx ON password_reset_tokens (user_id);
