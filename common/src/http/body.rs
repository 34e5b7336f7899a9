//! Reading a request body into one buffer, within the per-request limit and the process's
//! budget of body bytes in flight.
//!
//! Each data frame is copied into a single `Vec` as it arrives and then dropped, so a body of
//! a thousand one-byte chunks holds a thousand bytes, not a thousand of hyper's read buffers.
//! The buffer grows by doubling, never past `MAX_BODY_BYTES` nor a declared `Content-Length`,
//! and every byte of its capacity is reserved from the [`BodyBudget`] before it is allocated.

use std::ops::Deref;

use http::{header, HeaderMap, Request};
use http_body_util::BodyExt;
use hyper::body::Incoming;

use super::BodyLimits;
use crate::body_budget::{Exhausted, Reservation};
use crate::error::{ApiError, ErrorCode};

/// The smallest capacity a buffer starts with: the contract's bodies fit in it.
const FIRST_CAPACITY: usize = 1024;

/// A request body read whole; its bytes stay reserved from the budget until it is dropped.
#[derive(Debug)]
pub struct Body {
    bytes: Vec<u8>,
    _reservation: Reservation,
}

impl Deref for Body {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.bytes
    }
}

/// Reads the whole body within `limits`: more than `max_bytes` is 413 PAYLOAD_TOO_LARGE; a
/// body that has not fully arrived after `timeout` is 400 VALIDATION_ERROR (the contract has no
/// timeout code; the request is refused as not received) and the connection is closed; a body
/// that would take the process past its budget of body bytes in flight is 503
/// SERVICE_UNAVAILABLE with `Retry-After`, and the connection is closed.
pub async fn read_body(
    req: Request<Incoming>,
    limits: impl Into<BodyLimits>,
) -> Result<Body, ApiError> {
    let BodyLimits {
        max_bytes,
        timeout,
        budget,
    } = limits.into();
    let declared = declared_length(req.headers());
    if declared.is_some_and(|len| len > max_bytes as u64) {
        return Err(payload_too_large(max_bytes));
    }
    let ceiling = declared.map_or(max_bytes, |len| (len as usize).min(max_bytes));
    let buffer = Buffer {
        bytes: Vec::new(),
        reservation: budget.reservation(),
        max_bytes,
        ceiling,
    };
    match tokio::time::timeout(timeout, buffer.fill(req.into_body())).await {
        Ok(Ok(buffer)) => Ok(Body {
            bytes: buffer.bytes,
            _reservation: buffer.reservation,
        }),
        Ok(Err(ReadError::TooLarge)) => Err(payload_too_large(max_bytes)),
        // The rest of the body is not read: the connection cannot carry another request.
        Ok(Err(ReadError::Budget(exhausted))) => {
            Err(ApiError::unavailable(exhausted).with_header(header::CONNECTION, "close"))
        }
        Ok(Err(ReadError::Incoming(err))) => {
            Err(ApiError::validation("body", "the body could not be read").with_source(err))
        }
        Err(_) => Err(
            ApiError::validation("body", "the body did not arrive in time")
                .with_header(header::CONNECTION, "close"),
        ),
    }
}

enum ReadError {
    TooLarge,
    Budget(Exhausted),
    Incoming(hyper::Error),
}

struct Buffer {
    bytes: Vec<u8>,
    reservation: Reservation,
    max_bytes: usize,
    /// The most the buffer may hold: `max_bytes`, or less when a length was declared.
    ceiling: usize,
}

impl Buffer {
    async fn fill(mut self, mut incoming: Incoming) -> Result<Self, ReadError> {
        while let Some(frame) = incoming.frame().await {
            let frame = frame.map_err(ReadError::Incoming)?;
            if let Some(data) = frame.data_ref() {
                self.push(data)?;
            }
        }
        Ok(self)
    }

    /// Copies `data` in, growing the buffer (and its reservation) first when it is full.
    fn push(&mut self, data: &[u8]) -> Result<(), ReadError> {
        let needed = self
            .bytes
            .len()
            .checked_add(data.len())
            .filter(|needed| *needed <= self.max_bytes)
            .ok_or(ReadError::TooLarge)?;
        let capacity = self.bytes.capacity();
        if needed > capacity {
            let target = capacity
                .saturating_mul(2)
                .max(FIRST_CAPACITY)
                .min(self.ceiling)
                .max(needed);
            self.reservation
                .grow(target - capacity)
                .map_err(ReadError::Budget)?;
            self.bytes.reserve_exact(target - self.bytes.len());
        }
        self.bytes.extend_from_slice(data);
        Ok(())
    }
}

fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

fn payload_too_large(limit: usize) -> ApiError {
    ApiError::new(
        ErrorCode::PayloadTooLarge,
        format!("The request body is larger than {limit} bytes."),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::body_budget::BodyBudget;

    fn buffer(budget: &BodyBudget, max_bytes: usize, ceiling: usize) -> Buffer {
        Buffer {
            bytes: Vec::new(),
            reservation: budget.reservation(),
            max_bytes,
            ceiling,
        }
    }

    #[test]
    fn one_byte_frames_cost_a_buffer_that_doubles_up_to_the_limit() {
        let budget = BodyBudget::new(1 << 20);
        let mut body = buffer(&budget, 65_536, 65_536);
        for _ in 0..60_000 {
            assert!(body.push(b"x").is_ok());
        }
        assert_eq!(body.bytes.len(), 60_000);
        assert_eq!(body.bytes.capacity(), 65_536);
        assert_eq!(budget.in_use(), 65_536);
        drop(body);
        assert_eq!(budget.in_use(), 0);
    }

    #[test]
    fn a_declared_length_caps_the_buffer_and_the_limit_is_exact() {
        let budget = BodyBudget::new(1 << 20);
        let mut body = buffer(&budget, 65_536, 1500);
        assert!(body.push(&[b'x'; 1000]).is_ok());
        assert!(body.push(&[b'x'; 500]).is_ok());
        assert_eq!(body.bytes.capacity(), 1500);
        assert_eq!(budget.in_use(), 1500);

        let mut body = buffer(&budget, 100, 100);
        assert!(body.push(&[b'x'; 100]).is_ok());
        assert!(matches!(body.push(b"x"), Err(ReadError::TooLarge)));
    }

    #[test]
    fn past_the_budget_the_buffer_does_not_grow() {
        let budget = BodyBudget::new(4096);
        let mut holder = budget.reservation();
        assert!(holder.grow(3000).is_ok());
        let mut body = buffer(&budget, 65_536, 65_536);
        assert!(body.push(&[b'x'; 1000]).is_ok());
        assert!(matches!(
            body.push(&[b'x'; 100]),
            Err(ReadError::Budget(Exhausted { limit: 4096 }))
        ));
        assert_eq!(body.bytes.capacity(), 1024);
        drop(holder);
        assert!(body.push(&[b'x'; 100]).is_ok());
    }
}
