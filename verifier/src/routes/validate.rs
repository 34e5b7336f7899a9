//! POST /api/v1/auth/validate-token: the issuer's answer, from the keys alone.

use common::envelope::{self, Response};
use common::error::ApiError;
use common::metrics::Validation;
use http::{Request, StatusCode};
use hyper::body::Incoming;

use crate::state::AppState;

pub async fn validate(state: &AppState, req: Request<Incoming>) -> Result<Response, ApiError> {
    let body =
        common::http::read_json_object(req, state.config.common.body_limits(), &["token"]).await?;
    let verdict = state.verify(body.required_str("token")?);
    state
        .metrics
        .validate_token
        .record(Validation::of(&verdict));
    let claims = verdict?;
    Ok(envelope::success(StatusCode::OK, &claims.validation_data()))
}
