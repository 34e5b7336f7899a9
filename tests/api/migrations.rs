//! Upgrading a populated database: rows written under an older schema keep and read correctly
//! once the issuer has migrated it to the latest.

use chrono::Utc;
use common::jwt::{AccessClaims, RefreshClaims, TokenType};
use issuer::auth::password::{HashCost, Hasher};
use serde_json::Value;
use uuid::Uuid;

use crate::harness::database::{connect, create_database};
use crate::harness::{codec, spawn_issuer_with, unique_email, PASSWORD};

/// The last migration before the account lifecycle (V8).
const BEFORE_LIFECYCLE: i32 = 7;

#[tokio::test]
async fn users_and_sessions_written_before_the_lifecycle_migration_keep_and_read_correctly() {
    // A database as an issuer of V7 left it, named as the harness names its own, so it is
    // dropped with the issuer below (or swept if the test is killed).
    let name = create_database().await;
    let mut client = connect(&name).await;
    issuer::db::migrate_to(&mut client, BEFORE_LIFECYCLE)
        .await
        .unwrap();
    let has_disabled_at: bool = client
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM information_schema.columns \
             WHERE table_name = 'users' AND column_name = 'disabled_at')",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(
        !has_disabled_at,
        "the database must start on the old schema"
    );

    let hasher = Hasher::new(
        HashCost {
            memory_kib: 19456,
            iterations: 2,
            parallelism: 1,
        },
        1,
        0,
    )
    .unwrap();
    let hash = hasher.hash(PASSWORD.to_owned()).await.unwrap();
    let email = unique_email();
    let user_id = Uuid::new_v4();
    let (live, live_jti, revoked) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    client
        .execute(
            "INSERT INTO users (id, email, password_hash, is_email_verified, email_verified_at, \
             created_at, updated_at) \
             VALUES ($1, $2, $3, true, now() - interval '1 day', now() - interval '2 days', now())",
            &[&user_id, &email, &hash],
        )
        .await
        .unwrap();
    client
        .execute(
            "INSERT INTO sessions (id, user_id, refresh_jti, refresh_issued_at, created_at, \
             expires_at, access_expires_at, revoked_at, revoked_reason) VALUES \
             ($1, $3, $2, now() - interval '1 hour', now() - interval '1 hour', \
              now() + interval '6 days', now() + interval '23 hours', NULL, NULL), \
             ($4, $3, gen_random_uuid(), now() - interval '2 hours', now() - interval '2 hours', \
              now() + interval '6 days', now() + interval '22 hours', now(), 'logout')",
            &[&live, &live_jti, &user_id, &revoked],
        )
        .await
        .unwrap();
    drop(client);

    // The issuer migrates it to the latest at start.
    let app = spawn_issuer_with(|env| {
        let url = env.get("DATABASE_URL").cloned().unwrap_or_default();
        let (server, _) = url.rsplit_once('/').unwrap();
        env.insert("DATABASE_URL".into(), format!("{server}/{name}"));
    })
    .await;

    let pooled = app.state.pool.get().await.unwrap();
    let user = issuer::db::users::find_by_email(&pooled, &email)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(user.id, user_id);
    assert!(user.is_email_verified && user.email_verified_at.is_some());
    assert_eq!(user.disabled_at, None, "an old account reads as enabled");
    let row = app
        .db
        .query_one(
            "SELECT last_refreshed_at IS NULL AND ip_address IS NULL AND user_agent IS NULL, \
             revoked_reason FROM sessions WHERE id = $1",
            &[&revoked],
        )
        .await
        .unwrap();
    assert!(row.get::<_, bool>(0));
    assert_eq!(row.get::<_, Option<String>>(1).as_deref(), Some("logout"));

    // The old live session is listed (unknown client), the revoked one is not.
    let now = Utc::now().timestamp();
    let access = codec()
        .sign_access(&AccessClaims {
            iss: "auth-service".into(),
            sub: user_id,
            email: email.clone(),
            email_verified: true,
            typ: TokenType::Access,
            sid: live,
            jti: Uuid::new_v4(),
            iat: now,
            exp: now + 3600,
        })
        .unwrap();
    let list = app.get("/api/v1/auth/sessions", Some(&access)).await;
    list.assert_success(200);
    let sessions = list.data()["sessions"].as_array().unwrap().clone();
    assert_eq!(sessions.len(), 1, "{sessions:?}");
    assert_eq!(sessions[0]["session_id"], live.to_string());
    assert_eq!(sessions[0]["current"], true);
    for key in ["ip_address", "user_agent", "last_refreshed_at"] {
        assert_eq!(sessions[0][key], Value::Null, "{key}");
    }

    // Its refresh token still works, and the refresh is recorded.
    let refresh = codec()
        .sign_refresh(&RefreshClaims {
            iss: "auth-service".into(),
            sub: user_id,
            typ: TokenType::Refresh,
            sid: live,
            jti: live_jti,
            iat: now - 3600,
            exp: now + 6 * 24 * 3600,
        })
        .unwrap();
    app.refresh(&refresh).await.assert_success(200);
    let refreshed: bool = app
        .db
        .query_one(
            "SELECT last_refreshed_at IS NOT NULL FROM sessions WHERE id = $1",
            &[&live],
        )
        .await
        .unwrap()
        .get(0);
    assert!(refreshed);
    // And the old password hash still logs in.
    app.login(&email, PASSWORD).await.assert_success(200);
}
