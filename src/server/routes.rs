//! Request targets to endpoints.

use crate::error::ApiError;
use crate::http::head::Method;

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

/// Match percent-decoded path segments and the method.
/// Borrows the segments: routing allocates nothing on the success path.
pub fn route(method: Method, path: &[String]) -> Result<Route<'_>, ApiError> {
    let (route, allow) = match path {
        [v, ps, p, i, t] if v == "v0" && ps == "pipelines" && i == "ingress" => (
            Route::Ingress {
                pipeline: p,
                table: t,
            },
            "POST",
        ),
        [v, ps, p, e, t] if v == "v0" && ps == "pipelines" && e == "egress" => (
            Route::Egress {
                pipeline: p,
                table: t,
            },
            "POST",
        ),
        [v, ps, p, a]
            if v == "v0"
                && ps == "pipelines"
                && matches!(
                    a.as_str(),
                    "start" | "pause" | "resume" | "stop" | "dismiss_error"
                ) =>
        {
            (
                Route::Lifecycle {
                    pipeline: p,
                    action: a,
                },
                "POST",
            )
        }
        [v, ps, p, c] if v == "v0" && ps == "pipelines" && c == "completion_status" => {
            (Route::CompletionStatus { pipeline: p }, "GET")
        }
        [v, ps, p, st] if v == "v0" && ps == "pipelines" && st == "stats" => {
            (Route::Stats { pipeline: p }, "GET")
        }
        [v, ps, p, m] if v == "v0" && ps == "pipelines" && m == "metrics" => {
            (Route::Metrics { pipeline: Some(p) }, "GET")
        }
        [m] if m == "metrics" => (Route::Metrics { pipeline: None }, "GET"),
        [v, ps, p] if v == "v0" && ps == "pipelines" => (Route::Pipeline { pipeline: p }, "GET"),
        [v, ps] if v == "v0" && ps == "pipelines" => (Route::Pipelines, "GET"),
        [v, c] if v == "v0" && c == "config" => (Route::Config, "GET"),
        [h] if h == "healthz" => (Route::Healthz, "GET"),
        _ => {
            return Err(ApiError::NotFound {
                path: format!("/{}", path.join("/")),
            })
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

    fn segs(p: &str) -> Vec<String> {
        p.split('/')
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect()
    }

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
            (Method::Get, "/", Err(404)),
        ];
        for (m, p, want) in cases {
            let segs = segs(p);
            let got = route(*m, &segs).map_err(|e| e.status());
            assert_eq!(&got, want, "{m:?} {p}");
        }
    }
}
