//! Use cases. Each opens its own transaction, writes the outbox row with the change it
//! describes, and never touches a request or a response.

pub mod account;
pub mod email;
pub mod login;
pub mod password;
pub mod password_change;
pub mod password_reset;
pub mod refresh;
pub mod register;
pub mod revocation;
pub mod session_tokens;
pub mod sessions;
pub mod verify_email;
pub mod whoami;

pub use email::Email;
