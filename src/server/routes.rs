//! Request targets to endpoints.

use crate::error::ApiError;
use crate::http::head::Method;
use crate::http::target::Target;

/// An endpoint and its path parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route<'a> {
    Ingress {
        pipeline: &'a str,
        table: &'a str,
    },
    Egress {
        pipeline: &'a str,
        table: &'a str,
    },
    CompletionStatus {
        pipeline: &'a str,
    },
    /// `start`, `pause`, `resume`, `stop`, `dismiss_error`.
    Lifecycle {
        pipeline: &'a str,
        action: &'a str,
    },
    /// Prometheus text: `/metrics` (every pipeline) or one pipeline's.
    Metrics {
        pipeline: Option<&'a str>,
    },
    Stats {
        pipeline: &'a str,
    },
    Pipeline {
        pipeline: &'a str,
    },
    Pipelines,
    Config,
    Healthz,
}

impl Route<'_> {
    /// Does this endpoint need credentials? Health checks do not, so load
    /// balancers can probe without a key.
    pub fn needs_auth(&self) -> bool {
        !matches!(self, Route::Healthz)
    }
}

/// The most segments a route has.
const ROUTE_SEGMENTS_MAX: usize = 5;

/// Match the target's percent-decoded path segments and the method.
/// Borrows the segments: routing allocates nothing on the success path.
pub fn route(method: Method, target: &Target) -> Result<Route<'_>, ApiError> {
    // One more than any route has, so that a longer path matches none.
    let mut parts = [""; ROUTE_SEGMENTS_MAX + 1];
    let mut n = 0;
    for s in target.segments().take(parts.len()) {
        parts[n] = s;
        n += 1;
    }
    let (route, allow) = match parts[..n] {
        ["v0", "pipelines", p, "ingress", t] => (
            Route::Ingress {
                pipeline: p,
                table: t,
            },
            "POST",
        ),
        ["v0", "pipelines", p, "egress", t] => (
            Route::Egress {
                pipeline: p,
                table: t,
            },
            "POST",
        ),
        ["v0", "pipelines", p, a @ ("start" | "pause" | "resume" | "stop" | "dismiss_error")] => (
            Route::Lifecycle {
                pipeline: p,
                action: a,
            },
            "POST",
        ),
        ["v0", "pipelines", p, "completion_status"] => {
            (Route::CompletionStatus { pipeline: p }, "GET")
        }
        ["v0", "pipelines", p, "stats"] => (Route::Stats { pipeline: p }, "GET"),
        ["v0", "pipelines", p, "metrics"] => (Route::Metrics { pipeline: Some(p) }, "GET"),
        ["metrics"] => (Route::Metrics { pipeline: None }, "GET"),
        ["v0", "pipelines", p] => (Route::Pipeline { pipeline: p }, "GET"),
        ["v0", "pipelines"] => (Route::Pipelines, "GET"),
        ["v0", "config"] => (Route::Config, "GET"),
        ["healthz"] => (Route::Healthz, "GET"),
        _ => {
            let path: Vec<&str> = target.segments().collect();
            return Err(ApiError::NotFound {
                path: format!("/{}", path.join("/")),
            });
        }
    };
    let ok = match allow {
        "POST" => method == Method::Post,
        _ => method == Method::Get,
    };
    if !ok {
        return Err(ApiError::MethodNotAllowed {
            method: format!("{method:?}").to_uppercase(),
            allow,
        });
    }
    Ok(route)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_table() {
        let cases: &[(Method, &str, Result<Route<'static>, u16>)] = &[
            (
                Method::Post,
                "/v0/pipelines/demo/ingress/T1",
                Ok(Route::Ingress {
                    pipeline: "demo",
                    table: "T1",
                }),
            ),
            (Method::Get, "/v0/pipelines/demo/ingress/T1", Err(405)),
            (
                Method::Post,
                "/v0/pipelines/demo/egress/T1",
                Ok(Route::Egress {
                    pipeline: "demo",
                    table: "T1",
                }),
            ),
            (Method::Get, "/v0/pipelines/demo/egress/T1", Err(405)),
            (
                Method::Post,
                "/v0/pipelines/demo/pause",
                Ok(Route::Lifecycle {
                    pipeline: "demo",
                    action: "pause",
                }),
            ),
            (Method::Get, "/v0/pipelines/demo/resume", Err(405)),
            (Method::Post, "/v0/pipelines/demo/explode", Err(404)),
            (Method::Post, "/v0/config", Err(405)),
            (Method::Get, "/v0/config", Ok(Route::Config)),
            (Method::Get, "/healthz", Ok(Route::Healthz)),
            (Method::Get, "/v0/pipelines", Ok(Route::Pipelines)),
            (
                Method::Get,
                "/v0/pipelines/demo/completion_status",
                Ok(Route::CompletionStatus { pipeline: "demo" }),
            ),
            (Method::Get, "/v1/x", Err(404)),
            // Longer than any route, past the segments `route` looks at.
            (Method::Post, "/v0/pipelines/demo/ingress/T1/x", Err(404)),
            (
                Method::Post,
                "/v0/pipelines/demo/ingress/T1/x/y/z",
                Err(404),
            ),
            (Method::Get, "/", Err(404)),
        ];
        for (m, p, want) in cases {
            let target = crate::http::target::parse(p.as_bytes()).unwrap();
            let got = route(*m, &target).map_err(|e| e.status());
            assert_eq!(&got, want, "{m:?} {p}");
        }
    }
}
