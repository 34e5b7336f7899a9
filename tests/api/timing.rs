//! Login must not tell, by its timing, whether an email is registered: a login for an unknown
//! (or malformed) email spends one argon2id verification, as a wrong password does. The time
//! gap itself is a figure, measured by `cargo run --release -p bench -- timing`.

use crate::harness::{spawn_issuer, unique_email, PASSWORD};

#[tokio::test]
async fn unknown_email_and_wrong_password_each_spend_one_verification() {
    let app = spawn_issuer().await;
    let email = unique_email();
    app.register(&email, PASSWORD).await.assert_success(201);
    let hashes = || app.state.hasher.completed();

    for target in [email.clone(), unique_email(), "not-an-email".to_owned()] {
        let before = hashes();
        app.login(&target, "Wrong-Horse-9")
            .await
            .assert_error(401, "INVALID_CREDENTIALS");
        assert_eq!(hashes(), before + 1, "{target}: one verification");
    }
}
