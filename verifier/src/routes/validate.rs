//! POST /api/v1/auth/validate-token: the issuer's answer, from the keys alone.

use common::api::TokenRequest;
use common::envelope::{self, Response};
use common::error::ApiError;
use common::metrics::Validation;
use http::{Request, StatusCode};
use hyper::body::Incoming;

use crate::state::AppState;

pub async fn validate(state: &AppState, req: Request<Incoming>) -> Result<Response, ApiError> {
    let body: TokenRequest =
        common::http::read_json(req, state.config.common.body_limits()).await?;
    let verdict = state.verify(&body.token);
    state
        .metrics
        .validate_token
        .record(Validation::of(&verdict));
    let claims = verdict?;
    Ok(envelope::success(StatusCode::OK, &claims.validation_data()))
}
