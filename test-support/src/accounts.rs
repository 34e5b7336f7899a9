//! What tests use to make accounts: one password, the register body, and the cheapest argon2
//! settings for tests that register many users.

use std::collections::HashMap;

use serde_json::{json, Value};

/// A password every policy accepts.
pub const PASSWORD: &str = "Correct-Horse-9";

/// Argon2 at its cheapest, for tests that hash many passwords and test nothing of the cost:
/// add these to a service's environment.
pub const CHEAP_ARGON2: [(&str, &str); 2] =
    [("ARGON2_MEMORY_KIB", "256"), ("ARGON2_ITERATIONS", "1")];

/// Adds [`CHEAP_ARGON2`] to an in-process service's environment.
pub fn cheap_argon2(env: &mut HashMap<String, String>) {
    env.extend(CHEAP_ARGON2.map(|(name, value)| (name.to_owned(), value.to_owned())));
}

/// The `POST /api/v1/auth/register` body for `email` with `password`, confirmed.
pub fn register_body(email: &str, password: &str) -> Value {
    json!({"email": email, "password": password, "password_confirmation": password})
}

/// An email address no other test uses.
pub fn unique_email() -> String {
    format!("user-{}@example.com", uuid::Uuid::new_v4().simple())
}
