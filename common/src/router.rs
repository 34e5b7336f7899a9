//! The route table every service declares, and the one way a request is matched against it:
//! the path, then the method. An unknown path is 404 NOT_FOUND; a known path with another
//! method is 405 METHOD_NOT_ALLOWED with `Allow`; `OPTIONS` on a browser route is a CORS
//! preflight. The table is also what the metrics' route labels and the OpenAPI check read.

use std::sync::OnceLock;

use http::{header, Method, Request};

use crate::cors::AllowedOrigins;
use crate::envelope::Response;
use crate::error::{ApiError, ErrorCode};
use crate::metrics::UNKNOWN_ROUTE;

/// One row of a route table: a path template, the method it answers, and the service's own
/// name for it (what its dispatch matches on).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route<H> {
    /// The path as the OpenAPI document writes it; a `{name}` segment matches any one
    /// non-empty segment.
    pub path: &'static str,
    /// The one method the route answers, as `Allow` writes it; `None` answers any method.
    pub method: Option<&'static str>,
    pub handler: H,
}

impl<H> Route<H> {
    /// A route that answers only `method`.
    pub const fn new(method: &'static str, path: &'static str, handler: H) -> Self {
        Route {
            path,
            method: Some(method),
            handler,
        }
    }

    /// A route that answers every method the same way.
    pub const fn any(path: &'static str, handler: H) -> Self {
        Route {
            path,
            method: None,
            handler,
        }
    }
}

/// The row of the table a path matched, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Found(Option<usize>);

/// What a request resolved to.
#[derive(Debug)]
pub enum Resolved<H> {
    /// The route the service answers with this handler.
    Route(H),
    /// The answer to a CORS preflight on a browser route.
    Preflight(Response),
}

/// A service's route table, held in a `static`.
#[derive(Debug)]
pub struct Router<H: 'static> {
    routes: &'static [Route<H>],
    one_host: bool,
    /// Each row's `Allow` value: every method of its path, in table order. Joined on first use.
    allow: OnceLock<Vec<String>>,
}

impl<H: Copy + 'static> Router<H> {
    /// A table that refuses a request without exactly one `Host`
    /// ([`crate::http::require_one_host`]) before it looks the path up. Routes that answer any
    /// method are left to check it themselves.
    pub const fn new(routes: &'static [Route<H>]) -> Self {
        Router {
            routes,
            one_host: true,
            allow: OnceLock::new(),
        }
    }

    /// A table that takes requests whatever their `Host` headers.
    pub const fn any_host(routes: &'static [Route<H>]) -> Self {
        Router {
            routes,
            one_host: false,
            allow: OnceLock::new(),
        }
    }

    /// Every row, in table order.
    pub fn routes(&self) -> &'static [Route<H>] {
        self.routes
    }

    /// The row `path` matches, found once per request and used for both its metrics label
    /// ([`Router::name`]) and its answer ([`Router::resolve`]).
    pub fn find(&self, path: &str) -> Found {
        Found(
            self.routes
                .iter()
                .position(|route| matches(route.path, path)),
        )
    }

    /// The route template of `found`, for metrics labels and logs; `unknown` when none.
    pub fn name(&self, found: Found) -> &'static str {
        found
            .0
            .map_or(UNKNOWN_ROUTE, |index| self.routes[index].path)
    }

    /// The route template `path` matches; `unknown` when none.
    pub fn route_name(&self, path: &str) -> &'static str {
        self.name(self.find(path))
    }

    /// (method, path) of each route, for the latency series created at start; a route that
    /// answers any method is listed under GET, the method proxies use.
    pub fn metric_routes(&self) -> Vec<(&'static str, &'static str)> {
        self.routes
            .iter()
            .map(|route| (route.method.unwrap_or("GET"), route.path))
            .collect()
    }

    /// Matches `req`, whose path matched `found` ([`Router::find`]): a route answering any
    /// method takes it as it is; otherwise the `Host` check (when the table asks for it), 404,
    /// then `OPTIONS` as a preflight when `browser` holds the origins of a browser route, then
    /// the method or 405 with `Allow`.
    pub fn resolve<B>(
        &'static self,
        Found(found): Found,
        req: &Request<B>,
        browser: Option<&AllowedOrigins>,
    ) -> Result<Resolved<H>, ApiError> {
        if let Some(route) = found.map(|index| &self.routes[index]) {
            if route.method.is_none() {
                return Ok(Resolved::Route(route.handler));
            }
        }
        if self.one_host {
            crate::http::require_one_host(req)?;
        }
        let index = found.ok_or_else(|| ApiError::new(ErrorCode::NotFound, "No such route."))?;
        let path = self.routes[index].path;
        let allow = self.allow(index);
        if let Some(origins) = browser.filter(|_| req.method() == Method::OPTIONS) {
            return Ok(Resolved::Preflight(origins.preflight(req.headers(), allow)));
        }
        self.routes
            .iter()
            .find(|route| route.path == path && route.method == Some(req.method().as_str()))
            .map(|route| Resolved::Route(route.handler))
            .ok_or_else(|| {
                ApiError::new(
                    ErrorCode::MethodNotAllowed,
                    "This route does not accept that method.",
                )
                .with_header(header::ALLOW, allow)
            })
    }

    /// Every method the path of row `index` answers, as `Allow` lists them.
    fn allow(&'static self, index: usize) -> &'static str {
        let allow = self.allow.get_or_init(|| {
            self.routes
                .iter()
                .map(|route| {
                    self.routes
                        .iter()
                        .filter(|other| other.path == route.path)
                        .filter_map(|other| other.method)
                        .collect::<Vec<_>>()
                        .join(", ")
                })
                .collect()
        });
        allow.get(index).map_or("", String::as_str)
    }
}

/// Whether `path` matches `template` segment by segment, a `{name}` segment standing for any
/// one non-empty segment.
fn matches(template: &str, path: &str) -> bool {
    if !template.contains('{') {
        return template == path;
    }
    let mut segments = path.split('/');
    for expected in template.split('/') {
        let Some(segment) = segments.next() else {
            return false;
        };
        let fits = if expected.starts_with('{') {
            !segment.is_empty()
        } else {
            segment == expected
        };
        if !fits {
            return false;
        }
    }
    segments.next().is_none()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Page {
        Hook,
        Items,
        Item,
        DeleteItem,
        Health,
    }

    static ROUTES: Router<Page> = Router::new(&[
        Route::any("/hook", Page::Hook),
        Route::new("GET", "/api/items", Page::Items),
        Route::new("GET", "/api/items/{id}", Page::Item),
        Route::new("GET", "/health", Page::Health),
        Route::new("DELETE", "/api/items/{id}", Page::DeleteItem),
    ]);

    fn request(method: &str, path: &str, hosts: usize) -> Request<()> {
        let mut builder = Request::builder().method(method).uri(path);
        for _ in 0..hosts {
            builder = builder.header(header::HOST, "example.com");
        }
        builder.body(()).unwrap()
    }

    /// The handler `method path` resolves to, or the error code and headers.
    fn resolve(method: &str, path: &str) -> Result<Page, (ErrorCode, String)> {
        resolve_in(&ROUTES, &request(method, path, 1))
    }

    fn resolve_in(
        router: &'static Router<Page>,
        req: &Request<()>,
    ) -> Result<Page, (ErrorCode, String)> {
        match router.resolve(router.find(req.uri().path()), req, None) {
            Ok(Resolved::Route(page)) => Ok(page),
            Ok(Resolved::Preflight(_)) => panic!("a preflight"),
            Err(err) => Err((err.code, format!("{:?}", err.headers))),
        }
    }

    #[test]
    fn a_path_template_matches_any_one_non_empty_segment() {
        for id in ["3f1c2a4e-0000-4000-8000-000000000000", "x", "%2F"] {
            let path = format!("/api/items/{id}");
            assert_eq!(ROUTES.route_name(&path), "/api/items/{id}");
        }
        for path in [
            "/api/items/",
            "/api/items/a/b",
            "/api/item/x",
            "/health/",
            "",
        ] {
            assert_eq!(ROUTES.route_name(path), UNKNOWN_ROUTE, "{path}");
        }
    }

    #[test]
    fn the_method_picks_the_row_and_allow_lists_the_path_s_methods_in_table_order() {
        assert_eq!(resolve("GET", "/api/items/1"), Ok(Page::Item));
        assert_eq!(resolve("DELETE", "/api/items/1"), Ok(Page::DeleteItem));
        assert_eq!(resolve("GET", "/api/items"), Ok(Page::Items));
        assert_eq!(resolve("GET", "/health"), Ok(Page::Health));
        let allow = |value: &str| format!("{:?}", [(header::ALLOW, value)]);
        assert_eq!(
            resolve("POST", "/api/items/1"),
            Err((ErrorCode::MethodNotAllowed, allow("GET, DELETE")))
        );
        assert_eq!(
            resolve("HEAD", "/api/items"),
            Err((ErrorCode::MethodNotAllowed, allow("GET")))
        );
    }

    #[test]
    fn host_is_checked_before_the_path_and_not_for_a_route_of_any_method() {
        let two_hosts = resolve_in(&ROUTES, &request("GET", "/nowhere", 2));
        assert!(matches!(two_hosts, Err((ErrorCode::ValidationError, _))));
        assert_eq!(
            resolve("GET", "/nowhere"),
            Err((ErrorCode::NotFound, "[]".into()))
        );
        for method in ["GET", "PATCH", "OPTIONS"] {
            let req = request(method, "/hook", 2);
            assert_eq!(resolve_in(&ROUTES, &req), Ok(Page::Hook));
        }
        static ANY_HOST: Router<Page> =
            Router::any_host(&[Route::new("GET", "/health", Page::Health)]);
        let req = request("GET", "/health", 2);
        assert_eq!(resolve_in(&ANY_HOST, &req), Ok(Page::Health));
    }

    #[test]
    fn options_is_a_preflight_only_on_a_browser_route() {
        let origins = AllowedOrigins::default();
        let req = request("OPTIONS", "/api/items/1", 1);
        let preflight = ROUTES.resolve(ROUTES.find(req.uri().path()), &req, Some(&origins));
        assert!(matches!(preflight, Ok(Resolved::Preflight(_))));
        let req = request("OPTIONS", "/health", 1);
        assert!(matches!(
            resolve_in(&ROUTES, &req),
            Err((ErrorCode::MethodNotAllowed, _))
        ));
        let req = request("OPTIONS", "/nowhere", 1);
        let missing = ROUTES.resolve(ROUTES.find(req.uri().path()), &req, Some(&origins));
        assert!(matches!(
            missing,
            Err(ApiError {
                code: ErrorCode::NotFound,
                ..
            })
        ));
    }

    #[test]
    fn a_route_of_any_method_is_listed_under_get_for_the_metrics() {
        assert_eq!(ROUTES.metric_routes()[0], ("GET", "/hook"));
        assert_eq!(ROUTES.metric_routes()[4], ("DELETE", "/api/items/{id}"));
    }
}
