//! CORS for the browser-facing API routes (`/api/...`), exactly per `ALLOWED_ORIGINS`.
//!
//! Origins are compared byte for byte with the list (which is lower-cased at start, as browsers
//! serialise origins). `*` is refused: the API is called with credentials, and a wildcard
//! together with `Access-Control-Allow-Credentials` is exactly what must never be sent.
//! A preflight from an origin that is not listed (or with no `Origin`) gets a bare 204: no
//! `Access-Control-Allow-*` header, so the browser stops there.
//! `/forward-auth` and `/health*` are not browser endpoints and get no CORS headers.

use std::future::Future;

use bytes::Bytes;
use http::{header, HeaderMap, HeaderValue, StatusCode};
use http_body_util::Full;

use crate::envelope::Response;

/// Requests under this prefix are the browser API.
const API_PREFIX: &str = "/api/";
const ALLOW_HEADERS: &str = "authorization, content-type, x-request-id";
const EXPOSE_HEADERS: &str = "x-request-id";
const MAX_AGE_SECONDS: &str = "600";

/// The validated `ALLOWED_ORIGINS` list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowedOrigins {
    origins: Vec<String>,
}

impl AllowedOrigins {
    /// A comma-separated list (blanks dropped); the error says what is wrong with an entry,
    /// never echoing it.
    pub fn parse(list: &str) -> Result<Self, &'static str> {
        let mut origins = Vec::new();
        for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let origin = parse_origin(entry)?;
            if !origins.contains(&origin) {
                origins.push(origin);
            }
        }
        Ok(AllowedOrigins { origins })
    }

    pub fn as_slice(&self) -> &[String] {
        &self.origins
    }

    pub fn is_empty(&self) -> bool {
        self.origins.is_empty()
    }

    /// Whether CORS applies to `path`, and the request's `Origin` when it is allowed.
    pub fn decide(&self, path: &str, headers: &HeaderMap) -> Cors {
        if !path.starts_with(API_PREFIX) {
            return Cors::NotApplicable;
        }
        Cors::Api(self.allowed_origin(headers))
    }

    /// The request's single `Origin` header when it is on the list.
    fn allowed_origin(&self, headers: &HeaderMap) -> Option<HeaderValue> {
        let mut values = headers.get_all(header::ORIGIN).iter();
        let origin = values.next()?;
        if values.next().is_some() {
            return None;
        }
        let text = origin.to_str().ok()?;
        self.origins
            .iter()
            .any(|allowed| allowed == text)
            .then(|| origin.clone())
    }

    /// The answer to `OPTIONS` on an API route that accepts `method`: 204, with the preflight
    /// headers only for an allowed origin. [`Cors::apply`] adds the rest on the way out.
    pub fn preflight(&self, headers: &HeaderMap, method: &'static str) -> Response {
        let mut response = http::Response::new(Full::new(Bytes::new()));
        *response.status_mut() = StatusCode::NO_CONTENT;
        if self.allowed_origin(headers).is_some() {
            let value = HeaderValue::from_static;
            for (name, value) in [
                (header::ACCESS_CONTROL_ALLOW_METHODS, value(method)),
                (header::ACCESS_CONTROL_ALLOW_HEADERS, value(ALLOW_HEADERS)),
                (header::ACCESS_CONTROL_MAX_AGE, value(MAX_AGE_SECONDS)),
            ] {
                response.headers_mut().insert(name, value);
            }
        }
        response
    }
}

/// What CORS means for one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cors {
    /// Not a browser route: no CORS header at all.
    NotApplicable,
    /// A browser route, with the request's origin when it is allowed.
    Api(Option<HeaderValue>),
}

impl Cors {
    /// Adds the CORS response headers: `Vary: Origin` on every API response (the answer depends
    /// on it), and the allow headers for an allowed origin only.
    pub fn apply(&self, response: &mut Response) {
        let Cors::Api(origin) = self else {
            return;
        };
        let headers = response.headers_mut();
        headers.append(header::VARY, HeaderValue::from_static("Origin"));
        if let Some(origin) = origin {
            let value = HeaderValue::from_static;
            for (name, value) in [
                (header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone()),
                (header::ACCESS_CONTROL_ALLOW_CREDENTIALS, value("true")),
                (header::ACCESS_CONTROL_EXPOSE_HEADERS, value(EXPOSE_HEADERS)),
            ] {
                headers.insert(name, value);
            }
        }
    }
}

/// Awaits `response` and applies `cors` to it: the one place a service adds CORS headers.
pub async fn around(cors: Cors, response: impl Future<Output = Response>) -> Response {
    let mut response = response.await;
    cors.apply(&mut response);
    response
}

/// `scheme://host[:port]`, lower-cased; the error says what is wrong (never echoing the value).
fn parse_origin(entry: &str) -> Result<String, &'static str> {
    const BAD_HOST: &str = "has an entry that does not have a valid host";
    if entry == "*" {
        return Err(
            "has an entry that is `*`, which is refused because requests carry credentials",
        );
    }
    let lower = entry.to_ascii_lowercase();
    let (scheme, rest) = lower
        .split_once("://")
        .ok_or("has an entry that is not of the form scheme://host[:port]")?;
    if scheme != "http" && scheme != "https" {
        return Err("has an entry that does not start with http:// or https://");
    }
    if rest.contains(['/', '?', '#']) {
        return Err("has an entry that has a path, query or fragment (an origin is scheme://host[:port] only)");
    }
    if rest.contains('@') {
        return Err(
            "has an entry that has user information (an origin is scheme://host[:port] only)",
        );
    }
    // The host ends at the first `:`, or after the `]` of a bracketed IPv6 address.
    let host_end = match rest.starts_with('[') {
        true => rest.find(']').ok_or(BAD_HOST)? + 1,
        false => rest.find(':').unwrap_or(rest.len()),
    };
    let (host, after) = rest.split_at(host_end);
    let host_ok = match host.strip_prefix('[') {
        Some(inner) => {
            (inner.strip_suffix(']')).is_some_and(|ip| ip.parse::<std::net::Ipv6Addr>().is_ok())
        }
        None => {
            let label_ok = |label: &str| {
                !label.is_empty()
                    && label
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            };
            !host.starts_with('-') && host.split('.').all(label_ok)
        }
    };
    let port_ok = match after.strip_prefix(':') {
        Some(port) => {
            port.bytes().all(|b| b.is_ascii_digit()) && port.parse::<u16>().is_ok_and(|p| p > 0)
        }
        None if after.is_empty() => true,
        None => return Err(BAD_HOST),
    };
    match (host_ok, port_ok) {
        (false, _) => Err(BAD_HOST),
        (true, false) => Err("has an entry that does not have a valid port"),
        (true, true) => Ok(lower),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origins(value: &str) -> Result<AllowedOrigins, &'static str> {
        AllowedOrigins::parse(value)
    }

    fn request_from(origin: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        if let Ok(value) = HeaderValue::from_str(origin) {
            headers.insert(header::ORIGIN, value);
        }
        headers
    }

    #[test]
    fn valid_origins_are_kept_lower_cased_and_deduplicated() -> Result<(), &'static str> {
        let list = origins(
            "https://App.Example.com, http://localhost:3000,https://app.example.com,http://[::1]:8080, http://10.0.0.1",
        )?;
        assert_eq!(
            list.as_slice(),
            [
                "https://app.example.com",
                "http://localhost:3000",
                "http://[::1]:8080",
                "http://10.0.0.1"
            ]
        );
        assert!(origins("")?.is_empty());
        Ok(())
    }

    #[test]
    fn bad_entries_are_refused_without_echoing_them() {
        for bad in [
            "*",
            "app.example.com",
            "ftp://app.example.com",
            "https://app.example.com/",
            "https://app.example.com/path",
            "https://app.example.com?x=1",
            "https://user@app.example.com",
            "https://",
            "https://:443",
            "https://app.example.com:",
            "https://app.example.com:0",
            "https://app.example.com:99999",
            "https://app..example.com",
            "https://app_example.com",
            "https://[::1",
            "https://ok.example.com, null",
        ] {
            let message = origins(bad).err().unwrap_or_default();
            assert!(message.starts_with("has an entry that"), "{bad}: {message}");
            assert!(!message.contains("example.com"), "{message}");
        }
    }

    #[test]
    fn only_listed_origins_on_api_paths_are_allowed() -> Result<(), &'static str> {
        let list = origins("https://app.example.com")?;
        let allowed = request_from("https://app.example.com");
        let mut twice = allowed.clone();
        twice.append(
            header::ORIGIN,
            HeaderValue::from_static("https://app.example.com"),
        );
        let origin = HeaderValue::from_static("https://app.example.com");
        for (path, headers, expected) in [
            ("/api/v1/auth/login", &allowed, Cors::Api(Some(origin))),
            (
                "/api/v1/auth/login",
                &request_from("https://evil.example.com"),
                Cors::Api(None),
            ),
            (
                "/api/v1/auth/login",
                &request_from("https://APP.example.com"),
                Cors::Api(None),
            ),
            ("/api/v1/auth/login", &HeaderMap::new(), Cors::Api(None)),
            ("/api/v1/auth/login", &twice, Cors::Api(None)),
            ("/health", &allowed, Cors::NotApplicable),
            ("/forward-auth", &allowed, Cors::NotApplicable),
        ] {
            assert_eq!(list.decide(path, headers), expected, "{path} {headers:?}");
        }
        Ok(())
    }

    #[test]
    fn preflight_headers_only_for_an_allowed_origin() -> Result<(), &'static str> {
        let list = origins("https://app.example.com")?;
        let response = list.preflight(&request_from("https://app.example.com"), "POST");
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
        assert_eq!(
            response.headers()[header::ACCESS_CONTROL_ALLOW_METHODS],
            "POST"
        );
        assert_eq!(response.headers()[header::ACCESS_CONTROL_MAX_AGE], "600");
        let response = list.preflight(&request_from("https://other.example.com"), "POST");
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
        assert!(response.headers().is_empty());
        Ok(())
    }
}
