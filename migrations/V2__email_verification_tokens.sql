-- Verification tokens are stored only as the SHA-256 of the token sent to the user.
CREATE TABLE email_verification_tokens (
    token_hash bytea       PRIMARY KEY,
    user_id    uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    used_at    timestamptz
);

CREATE INDEX email_verification_tokens_user_id_idx ON email_verification_tokens (user_id);
