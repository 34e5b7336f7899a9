-- Failed logins per normalised email, for the account lockout shared by every issuer replica.
-- Emails without an account are counted too, so a lockout does not tell whether one exists;
-- rows without a recent failure or a live lock are pruned.
CREATE TABLE login_failures (
    email          text        PRIMARY KEY,
    -- Consecutive failures since the last success, lock, or forgotten row.
    failures       integer     NOT NULL,
    last_failed_at timestamptz NOT NULL,
    -- Logins for this email are refused until then.
    locked_until   timestamptz
);

CREATE INDEX login_failures_last_failed_at_idx ON login_failures (last_failed_at);
