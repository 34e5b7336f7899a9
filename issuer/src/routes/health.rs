//! GET /health (checks Postgres), /health/live (the process only) and /health/ready (Postgres
//! and its migrations). Bare JSON, no envelope.

use common::envelope::{self, Response};
use http::StatusCode;
use serde_json::json;

use crate::db;
use crate::state::AppState;

/// 503 only when Postgres is unreachable: with NATS down the API still works and events wait
/// in the outbox, so NATS and the backlog are reported but do not make the issuer unhealthy.
pub async fn health(state: &AppState) -> Response {
    let database = db::ping(&state.pool).await;
    let backlog = match &database {
        Ok(()) => db::deadline(&state.pool, async {
            db::outbox::backlog(&*db::client(&state.pool).await?).await
        })
        .await
        .ok(),
        Err(_) => None,
    };
    if let Err(err) = &database {
        tracing::warn!(error = %common::error::error_chain(err), "health check: database unreachable");
    }
    let (status, healthy, database) = match database {
        Ok(()) => (StatusCode::OK, "healthy", "connected"),
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "unhealthy", "disconnected"),
    };
    envelope::bare_json(
        status,
        &json!({
            "status": healthy,
            "service": state.config.common.shared.service.service_name,
            "version": state.config.common.shared.version,
            "database": database,
            "nats": if state.relay.nats_connected() { "connected" } else { "disconnected" },
            "outbox_backlog": backlog,
            "timestamp": envelope::timestamp(),
        }),
    )
}

/// 200 only when the issuer can do its whole job: Postgres answers, every migration this
/// build carries is applied, and NATS has not refused the issuer's credentials. Else 503 with
/// the reason. A NATS that is down does not count: events wait in the outbox until it is back;
/// a refusal does, as no event would ever leave.
pub async fn ready(state: &AppState) -> Response {
    let (database, migrations, reason) = match db::migrations_applied(&state.pool).await {
        Ok(true) => ("connected", "applied", None),
        Ok(false) => (
            "connected",
            "pending",
            Some("the database migrations are not applied"),
        ),
        Err(db::DbError::Unavailable(err)) => {
            tracing::warn!(error = %common::error::error_chain(err.as_ref()), "readiness check: database unreachable");
            (
                "disconnected",
                "unknown",
                Some("the database is unreachable"),
            )
        }
        Err(err) => {
            tracing::warn!(error = %common::error::error_chain(&err), "readiness check: the migrations cannot be read");
            (
                "connected",
                "unknown",
                Some("the database migrations cannot be checked"),
            )
        }
    };
    let refusal = state.nats_health.refusal();
    let nats = match refusal {
        Some(_) => "refused",
        None if state.relay.nats_connected() => "connected",
        None => "disconnected",
    };
    envelope::readiness(
        &state.config.common.shared.service.service_name,
        &state.config.common.shared.version,
        reason.or(refusal.map(common::nats::Refusal::reason)),
        json!({"database": database, "migrations": migrations, "nats": nats}),
    )
}

pub fn live(state: &AppState) -> Response {
    envelope::liveness(
        &state.config.common.shared.service.service_name,
        &state.config.common.shared.version,
    )
}
