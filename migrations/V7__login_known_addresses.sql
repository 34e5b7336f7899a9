-- Client addresses each account has logged in from, for the lockout and per-account limit
-- exemption: a login from one of them is not refused by either, so nobody can keep a user out
-- of an address the user has already logged in from. Keyed like the other brute-force state:
-- the normalised email (the lockout's key), and the address as the rate limiter counts it
-- (IPv4 address, or the IPv6 /64 with its host bits zeroed). Only successful logins write a
-- row, so emails without an account never have one. Rows older than LOGIN_KNOWN_ADDRESS_DAYS
-- are pruned.
CREATE TABLE login_known_addresses (
    email         text        NOT NULL,
    address       inet        NOT NULL,
    last_login_at timestamptz NOT NULL,
    PRIMARY KEY (email, address)
);

CREATE INDEX login_known_addresses_last_login_at_idx ON login_known_addresses (last_login_at);
