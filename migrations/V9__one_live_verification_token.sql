-- At most one live (unused) email verification token per user: resending replaces the old one.
-- The resend locks the user row, so concurrent resends take turns; this index holds the rule
-- for any other writer too.
--
-- Safe on a populated database: duplicates left by concurrent resends before this change are
-- removed first, keeping each user's newest unused token (the one the last email carried).
DELETE FROM email_verification_tokens AS older
 USING email_verification_tokens AS newer
 WHERE older.user_id = newer.user_id
   AND older.used_at IS NULL
   AND newer.used_at IS NULL
   AND (newer.created_at, newer.token_hash) > (older.created_at, older.token_hash);

CREATE UNIQUE INDEX email_verification_tokens_one_live_per_user
    ON email_verification_tokens (user_id)
    WHERE used_at IS NULL;
