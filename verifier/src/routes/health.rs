//! GET /health, /health/live and /health/ready. Bare JSON, no envelope.

use common::envelope::{self, Response};
use http::StatusCode;
use serde_json::json;

use crate::state::AppState;

/// The verifier depends on nothing but its keys, loaded at start: it is healthy when it runs.
/// NATS only brings revocations, so its state is reported but does not make it unhealthy.
pub fn health(state: &AppState) -> Response {
    envelope::bare_json(
        StatusCode::OK,
        &json!({
            "status": "healthy",
            "service": state.config.common.shared.service.service_name,
            "version": state.config.common.shared.version,
            "keys": "loaded",
            "nats": crate::revocations::nats_state(&state.nats),
            "revoked_sessions": state.revocations.len(),
            "revocation_replay_complete": state.revocations.replay_complete(),
            "timestamp": envelope::timestamp(),
        }),
    )
}

pub fn live(state: &AppState) -> Response {
    envelope::liveness(
        &state.config.common.shared.service.service_name,
        &state.config.common.shared.version,
    )
}

/// 200 once the verifier can do its whole job (keys loaded, revocation replay complete), else
/// 503 with the reason. Once ready it stays ready: NATS dropping later only shows in `nats`.
pub fn ready(state: &AppState) -> Response {
    envelope::readiness(
        &state.config.common.shared.service.service_name,
        &state.config.common.shared.version,
        state.not_ready(),
        json!({
            "keys": "loaded",
            "nats": match state.nats_health.refusal() {
                Some(_) => "refused",
                None => crate::revocations::nats_state(&state.nats),
            },
            "revocation_replay": state.revocations.replay().as_str(),
        }),
    )
}
