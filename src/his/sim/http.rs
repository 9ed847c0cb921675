//! The HTTP face of the simulator: routing by the operation table, the
//! protocol's header checks, fault injection, and the `/sim` control
//! endpoints. Every non-2xx answer is the error envelope.

use super::clock::MAX_ADVANCE_SECS;
use super::error::{ApiError, Reply, JSON};
use super::faults::{Fault, FaultKind, FaultTable};
use super::service::{self, percent_decode, Call, Shared};
use crate::domain::Instant;
use crate::his::ops::Operation;
use crate::his::wire::{header as h, ErrorCode};
use crate::his::IdempotencyKey;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::Response;
use axum::Router;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;

/// Request bodies larger than this are refused.
const MAX_BODY: usize = 1 << 20;
/// How long `timeout` and `lost_response` faults keep a request open.
const HANG: Duration = Duration::from_secs(3600);

pub struct App {
    pub shared: Arc<Shared>,
    pub token: String,
    pub faults: Mutex<FaultTable>,
    pub shutdown: watch::Receiver<bool>,
}

impl App {
    fn faults(&self) -> std::sync::MutexGuard<'_, FaultTable> {
        self.faults.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sleep, or stop early when the simulator shuts down (false).
    async fn sleep(&self, d: Duration) -> bool {
        let mut rx = self.shutdown.clone();
        tokio::select! {
            _ = tokio::time::sleep(d) => true,
            _ = rx.wait_for(|stop| *stop) => false,
        }
    }

    /// Keep the request open without answering (until shutdown).
    async fn hang(&self) -> Response {
        self.sleep(HANG).await;
        error(ApiError::new(
            ErrorCode::Unavailable,
            "网关正在关闭",
            "the gateway is shutting down",
        ))
    }
}

pub fn router(app: Arc<App>) -> Router {
    Router::new().fallback(handle).with_state(app)
}

async fn handle(State(app): State<Arc<App>>, req: Request) -> Response {
    let request_id = req.headers().get(h::REQUEST_ID).cloned();
    let mut resp = route(&app, req).await;
    if let Some(id) = request_id {
        resp.headers_mut().insert(h::REQUEST_ID, id);
    }
    resp
}

fn reply(r: Reply) -> Response {
    let mut resp = Response::new(Body::from(r.body));
    *resp.status_mut() =
        StatusCode::from_u16(r.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(r.content_type),
    );
    resp
}

fn error(e: ApiError) -> Response {
    reply(Reply::error(&e))
}

fn json_reply<T: Serialize>(status: u16, v: &T) -> Response {
    reply(Reply::json(status, v))
}

/// The parameters of `path` if it fits the template (`{name}` segments).
fn match_template<'a>(template: &str, path: &'a str) -> Option<Vec<&'a str>> {
    let mut t = template.split('/');
    let mut p = path.split('/');
    let mut params = Vec::new();
    loop {
        match (t.next(), p.next()) {
            (None, None) => return Some(params),
            (Some(ts), Some(ps)) if ts.starts_with('{') => {
                if ps.is_empty() {
                    return None;
                }
                params.push(ps);
            }
            (Some(ts), Some(ps)) if ts == ps => {}
            _ => return None,
        }
    }
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

fn bearer_ok(app: &App, headers: &HeaderMap) -> Result<(), ApiError> {
    let token = header_str(headers, header::AUTHORIZATION.as_str()).and_then(|v| {
        let (scheme, t) = v.split_once(' ')?;
        scheme.eq_ignore_ascii_case("bearer").then(|| t.trim())
    });
    if token == Some(app.token.as_str()) {
        Ok(())
    } else {
        Err(ApiError::new(
            ErrorCode::Unauthorized,
            "未授权：缺少或错误的访问令牌",
            "missing or wrong bearer token",
        ))
    }
}

/// Token first, then the hospital and kiosk headers; the kiosk id.
fn check_headers(app: &App, headers: &HeaderMap) -> Result<String, ApiError> {
    bearer_ok(app, headers)?;
    let hospital = header_str(headers, h::HOSPITAL_ID);
    let kiosk = header_str(headers, h::KIOSK_ID);
    let (Some(hospital), Some(kiosk)) = (hospital, kiosk) else {
        return Err(ApiError::bad_request(
            "the X-Hospital-Id and X-Kiosk-Id headers are required",
        ));
    };
    if kiosk.len() > 64 {
        return Err(ApiError::bad_request("X-Kiosk-Id is at most 64 characters"));
    }
    if hospital != app.shared.settings.hospital_id {
        return Err(ApiError::new(
            ErrorCode::Forbidden,
            "本网关不服务该医院",
            format!("this gateway does not serve hospital {hospital:?}"),
        ));
    }
    Ok(kiosk.to_string())
}

async fn route(app: &Arc<App>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_string();
    if path == "/sim/faults" || path == "/sim/clock" {
        return sim_endpoint(app, &parts.method, &parts.headers, body, &path).await;
    }
    let mut allowed = Vec::new();
    let mut found = None;
    for op in Operation::ALL {
        let (method, template) = op.route();
        if let Some(params) = match_template(template, &path) {
            if parts.method.as_str() == method {
                found = Some((op, params));
                break;
            }
            allowed.push(method);
        }
    }
    let Some((op, raw_params)) = found else {
        if allowed.is_empty() {
            return error(ApiError::new(
                ErrorCode::NotFound,
                "请求的接口不存在",
                format!("no such route: {} {path}", parts.method),
            ));
        }
        let mut resp = error(
            ApiError::new(
                ErrorCode::BadRequest,
                "请求方法不被允许",
                format!("{} is not allowed on {path}", parts.method),
            )
            .with_status(405),
        );
        if let Ok(v) = HeaderValue::from_str(&allowed.join(", ")) {
            resp.headers_mut().insert(header::ALLOW, v);
        }
        return resp;
    };
    let Some(params) = raw_params
        .iter()
        .map(|p| percent_decode(p, false))
        .collect::<Option<Vec<String>>>()
    else {
        return error(ApiError::bad_request("a path parameter is not valid UTF-8"));
    };
    let kiosk = match check_headers(app, &parts.headers) {
        Ok(k) => k,
        Err(e) => return error(e),
    };
    let key = if op.is_write() {
        let raw = parts
            .headers
            .get(h::IDEMPOTENCY_KEY)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        match IdempotencyKey::new(raw) {
            Ok(k) => Some(k.as_str().to_string()),
            Err(e) => return error(ApiError::bad_request(format!("Idempotency-Key: {e}"))),
        }
    } else {
        None
    };
    let body = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(b) => b.to_vec(),
        Err(e) => return error(ApiError::bad_request(format!("cannot read the body: {e}"))),
    };

    let fault = app.faults().take(op.id());
    let mut lose_answer = false;
    if let Some(f) = fault {
        tracing::info!(op = op.id(), kind = ?f.kind, "injecting fault");
        match f.kind {
            FaultKind::Latency => {
                if !app.sleep(Duration::from_millis(f.delay_ms)).await {
                    return app.hang().await;
                }
            }
            FaultKind::Timeout => return app.hang().await,
            FaultKind::Error => {
                let status = f.status.unwrap_or(503);
                let code = if status == 503 {
                    ErrorCode::Unavailable
                } else {
                    ErrorCode::Internal
                };
                return error(
                    ApiError::new(code, "医院系统暂时不可用（模拟故障）", "injected fault")
                        .with_status(status),
                );
            }
            FaultKind::Malformed => {
                return reply(Reply {
                    status: 200,
                    content_type: JSON,
                    body: b"{\"oops\":".to_vec(),
                })
            }
            FaultKind::LostResponse => lose_answer = true,
            FaultKind::Reject => {
                let code = f.code.unwrap_or(ErrorCode::InvalidState);
                return error(ApiError::new(
                    code,
                    "医院系统拒绝办理（模拟）",
                    "refused by an injected fault",
                ));
            }
        }
    }

    let call = Call {
        op,
        method: parts.method.to_string(),
        path,
        params,
        query: parts.uri.query().map(str::to_string),
        body,
        kiosk,
        key,
    };
    let shared = app.shared.clone();
    let (answer, replayed) =
        match tokio::task::spawn_blocking(move || service::execute(&shared, &call)).await {
            Ok(a) => a,
            Err(e) => (Reply::error(&ApiError::internal(e)), false),
        };
    tracing::debug!(
        op = op.id(),
        status = answer.status,
        replayed,
        "HIS call served"
    );
    if lose_answer {
        return app.hang().await;
    }
    let mut resp = reply(answer);
    if replayed {
        resp.headers_mut()
            .insert("Idempotent-Replayed", HeaderValue::from_static("true"));
    }
    resp
}

// ------------------------------------------------------------------ /sim

#[derive(Debug, Serialize)]
struct FaultList {
    faults: Vec<Fault>,
}

#[derive(Debug, Serialize)]
struct ClockView {
    now: Instant,
    today: NaiveDate,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Advance {
    advance_secs: i64,
}

fn clock_view(app: &App) -> ClockView {
    let now = app.shared.clock.now();
    ClockView {
        now,
        today: now.date_naive(),
    }
}

async fn sim_endpoint(
    app: &App,
    method: &Method,
    headers: &HeaderMap,
    body: Body,
    path: &str,
) -> Response {
    if let Err(e) = bearer_ok(app, headers) {
        return error(e);
    }
    let body = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(b) => b,
        Err(e) => return error(ApiError::bad_request(format!("cannot read the body: {e}"))),
    };
    match (path, method.as_str()) {
        ("/sim/faults", "GET") => json_reply(
            200,
            &FaultList {
                faults: app.faults().list(),
            },
        ),
        ("/sim/faults", "POST") => {
            let fault: Fault = match serde_json::from_slice(&body) {
                Ok(f) => f,
                Err(e) => return error(ApiError::bad_request(format!("fault: {e}"))),
            };
            if let Err(e) = fault.validate() {
                return error(ApiError::bad_request(e));
            }
            tracing::info!(?fault, "fault added");
            let mut t = app.faults();
            t.add(fault);
            json_reply(201, &FaultList { faults: t.list() })
        }
        ("/sim/faults", "DELETE") => {
            app.faults().clear();
            tracing::info!("faults cleared");
            json_reply(200, &FaultList { faults: Vec::new() })
        }
        ("/sim/clock", "GET") => json_reply(200, &clock_view(app)),
        ("/sim/clock", "POST") => {
            let a: Advance = match serde_json::from_slice(&body) {
                Ok(a) => a,
                Err(e) => return error(ApiError::bad_request(format!("clock: {e}"))),
            };
            if a.advance_secs.abs() > MAX_ADVANCE_SECS {
                return error(ApiError::bad_request(format!(
                    "advance_secs is at most {MAX_ADVANCE_SECS} either way"
                )));
            }
            app.shared.clock.advance(a.advance_secs);
            let view = clock_view(app);
            tracing::info!(advance_secs = a.advance_secs, now = %view.now, "clock moved");
            json_reply(200, &view)
        }
        _ => error(
            ApiError::new(
                ErrorCode::BadRequest,
                "请求方法不被允许",
                format!("{method} is not allowed on {path}"),
            )
            .with_status(405),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_match_whole_paths() {
        assert_eq!(match_template("/v1/ping", "/v1/ping"), Some(vec![]));
        assert_eq!(match_template("/v1/ping", "/v1/ping/"), None);
        assert_eq!(
            match_template("/v1/holds/{hold_id}/release", "/v1/holds/HD1/release"),
            Some(vec!["HD1"])
        );
        assert_eq!(match_template("/v1/holds/{hold_id}", "/v1/holds/"), None);
        assert_eq!(match_template("/v1/holds/{hold_id}", "/v1/holds/a/b"), None);
    }
}
