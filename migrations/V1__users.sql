-- Accounts. Emails are stored trimmed and lower-cased by the issuer, so a plain unique index
-- makes the comparison case-insensitive.
CREATE TABLE users (
    id                uuid        PRIMARY KEY,
    email             text        NOT NULL,
    password_hash     text        NOT NULL,
    is_email_verified boolean     NOT NULL DEFAULT false,
    email_verified_at timestamptz,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now()
);

CREATE UNIQUE INDEX users_email_key ON users (email);
CREATE INDEX users_created_at_idx ON users (created_at);
