//! Request targets to endpoints.

use crate::error::ApiError;
use crate::http::head::Method;

/// An endpoint and its path parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    Ingress { pipeline: String, table: String },
    CompletionStatus { pipeline: String },
    Stats { pipeline: String },
    Pipeline { pipeline: String },
    Pipelines,
    Config,
    Healthz,
}

impl Route {
    /// Does this endpoint need credentials? Health checks do not, so load
    /// balancers can probe without a key.
    pub fn needs_auth(&self) -> bool {
        !matches!(self, Route::Healthz)
    }
}

/// Match percent-decoded path segments and the method.
pub fn route(method: Method, path: &[String]) -> Result<Route, ApiError> {
    let segs: Vec<&str> = path.iter().map(String::as_str).collect();
    let (route, allow) = match segs.as_slice() {
        ["v0", "pipelines", p, "ingress", t] => (
            Route::Ingress {
                pipeline: p.to_string(),
                table: t.to_string(),
            },
            "POST",
        ),
        ["v0", "pipelines", p, "completion_status"] => (
            Route::CompletionStatus {
                pipeline: p.to_string(),
            },
            "GET",
        ),
        ["v0", "pipelines", p, "stats"] => (
            Route::Stats {
                pipeline: p.to_string(),
            },
            "GET",
        ),
        ["v0", "pipelines", p] => (
            Route::Pipeline {
                pipeline: p.to_string(),
            },
            "GET",
        ),
        ["v0", "pipelines"] => (Route::Pipelines, "GET"),
        ["v0", "config"] => (Route::Config, "GET"),
        ["healthz"] => (Route::Healthz, "GET"),
        _ => {
            return Err(ApiError::NotFound {
                path: format!("/{}", segs.join("/")),
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
        let cases: &[(Method, &str, Result<Route, u16>)] = &[
            (
                Method::Post,
                "/v0/pipelines/demo/ingress/T1",
                Ok(Route::Ingress {
                    pipeline: "demo".into(),
                    table: "T1".into(),
                }),
            ),
            (Method::Get, "/v0/pipelines/demo/ingress/T1", Err(405)),
            (Method::Post, "/v0/config", Err(405)),
            (Method::Get, "/v0/config", Ok(Route::Config)),
            (Method::Get, "/healthz", Ok(Route::Healthz)),
            (Method::Get, "/v0/pipelines", Ok(Route::Pipelines)),
            (
                Method::Get,
                "/v0/pipelines/demo/completion_status",
                Ok(Route::CompletionStatus {
                    pipeline: "demo".into(),
                }),
            ),
            (Method::Get, "/v1/x", Err(404)),
            (Method::Get, "/", Err(404)),
        ];
        for (m, p, want) in cases {
            let got = route(*m, &segs(p)).map_err(|e| e.status());
            assert_eq!(&got, want, "{m:?} {p}");
        }
    }
}
