//! CORS for the browser-facing API routes (`/api/...`), exactly per `ALLOWED_ORIGINS`.
//!
//! Origins are compared byte for byte with the list (which is lower-cased at start, as browsers
//! serialise origins). `*` is refused: the API is called with credentials, and a wildcard
//! together with `Access-Control-Allow-Credentials` is exactly what must never be sent.
//! A preflight from an origin that is not listed (or with no `Origin`) gets a bare 204: no
//! `Access-Control-Allow-*` header, so the browser stops there.
//! `/forward-auth` and `/health*` are not browser endpoints and get no CORS headers.

use std::future::Future;
use std::net::Ipv6Addr;

use bytes::Bytes;
use http::{header, HeaderMap, HeaderValue, StatusCode};
use http_body_util::Full;

use crate::envelope::Response;

/// Requests under this prefix are the browser API.
const API_PREFIX: &str = "/api/";
const ALLOW_HEADERS: &str = "authorization, content-type, x-request-id";

/// The validated `ALLOWED_ORIGINS` list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowedOrigins {
    origins: Vec<String>,
}

impl AllowedOrigins {
    /// A comma-separated list (blanks dropped); an error says what is wrong, never the entry.
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
        let (Some(origin), None) = (values.next(), values.next()) else {
            return None;
        };
        let listed = self.origins.iter().any(|o| o == origin);
        listed.then(|| origin.clone())
    }

    /// The answer to `OPTIONS` on an API route that accepts `method`: 204, with the preflight
    /// headers only for an allowed origin. [`Cors::apply`] adds the rest on the way out.
    pub fn preflight(&self, headers: &HeaderMap, method: &'static str) -> Response {
        let mut response = http::Response::new(Full::new(Bytes::new()));
        *response.status_mut() = StatusCode::NO_CONTENT;
        if self.allowed_origin(headers).is_some() {
            let value = HeaderValue::from_static;
            response.headers_mut().extend([
                (header::ACCESS_CONTROL_ALLOW_METHODS, value(method)),
                (header::ACCESS_CONTROL_ALLOW_HEADERS, value(ALLOW_HEADERS)),
                (header::ACCESS_CONTROL_MAX_AGE, value("600")),
            ]);
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
        if let Cors::Api(origin) = self {
            let headers = response.headers_mut();
            let value = HeaderValue::from_static;
            headers.append(header::VARY, value("Origin"));
            if let Some(origin) = origin {
                headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
                headers.insert(header::ACCESS_CONTROL_ALLOW_CREDENTIALS, value("true"));
                headers.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, value("x-request-id"));
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
    if entry == "*" {
        return Err(
            "has an entry that is `*`, which is refused because requests carry credentials",
        );
    }
    let lower = entry.to_ascii_lowercase();
    let rest = lower
        .strip_prefix("http://")
        .or_else(|| lower.strip_prefix("https://"))
        .ok_or("has an entry that does not start with http:// or https://")?;
    if rest.contains(['/', '?', '#', '@']) {
        return Err("has an entry that has a path, query, fragment or user information (an origin is scheme://host[:port] only)");
    }
    // The port follows the last `:`, unless that `:` is inside a bracketed IPv6 address.
    let (host, port) = match rest.rsplit_once(':') {
        Some((host, port)) if !port.contains(']') => (host, Some(port)),
        _ => (rest, None),
    };
    let label_ok =
        |l: &str| !l.is_empty() && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    let host_ok = match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        Some(ip) => ip.parse::<Ipv6Addr>().is_ok(),
        None => !host.starts_with('-') && host.split('.').all(label_ok),
    };
    let port_ok = port.is_none_or(|p| {
        p.bytes().all(|b| b.is_ascii_digit()) && p.parse::<u16>().is_ok_and(|p| p > 0)
    });
    match (host_ok, port_ok) {
        (true, true) => Ok(lower),
        (true, false) => Err("has an entry that does not have a valid port"),
        (false, _) => Err("has an entry that does not have a valid host"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request_from(origins: &[&'static str]) -> HeaderMap {
        let origin = |o: &&'static str| (header::ORIGIN, HeaderValue::from_static(o));
        origins.iter().map(origin).collect()
    }

    #[test]
    fn valid_origins_are_kept_lower_cased_and_deduplicated() -> Result<(), &'static str> {
        let list = AllowedOrigins::parse(
            "https://App.Example.com, http://localhost:3000,https://app.example.com,http://[::1]:8080, http://10.0.0.1",
        )?;
        let kept =
            "https://app.example.com http://localhost:3000 http://[::1]:8080 http://10.0.0.1";
        assert_eq!(list.as_slice().join(" "), kept);
        assert!(AllowedOrigins::parse("")?.is_empty());
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
            let message = AllowedOrigins::parse(bad).err().unwrap_or_default();
            assert!(message.starts_with("has an entry that"), "{bad}: {message}");
            assert!(!message.contains("example.com"), "{message}");
        }
    }

    #[test]
    fn only_listed_origins_on_api_paths_are_allowed() -> Result<(), &'static str> {
        let app = "https://app.example.com";
        let list = AllowedOrigins::parse(app)?;
        let api = "/api/v1/auth/login";
        let origin = HeaderValue::from_static(app);
        for (path, origins, expected) in [
            (api, &[app][..], Cors::Api(Some(origin))),
            (api, &["https://evil.example.com"], Cors::Api(None)),
            (api, &["https://APP.example.com"], Cors::Api(None)),
            (api, &[], Cors::Api(None)),
            (api, &[app, app], Cors::Api(None)),
            ("/health", &[app], Cors::NotApplicable),
            ("/forward-auth", &[app], Cors::NotApplicable),
        ] {
            let decided = list.decide(path, &request_from(origins));
            assert_eq!(decided, expected, "{path} {origins:?}");
        }
        Ok(())
    }

    #[test]
    fn preflight_headers_only_for_an_allowed_origin() -> Result<(), &'static str> {
        let list = AllowedOrigins::parse("https://app.example.com")?;
        let allowed = list.preflight(&request_from(&["https://app.example.com"]), "POST");
        let other = list.preflight(&request_from(&["https://other.example.com"]), "POST");
        assert_eq!(allowed.status(), StatusCode::NO_CONTENT);
        assert_eq!(other.status(), StatusCode::NO_CONTENT);
        let headers = allowed.headers();
        assert_eq!(headers[header::ACCESS_CONTROL_ALLOW_METHODS], "POST");
        assert_eq!(headers[header::ACCESS_CONTROL_MAX_AGE], "600");
        assert!(other.headers().is_empty());
        Ok(())
    }
}
