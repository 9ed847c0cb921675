//! The simulator's answers: an error becomes the protocol's envelope, a
//! success a status with a JSON (or PDF) body.

use crate::his::wire::{ErrorBody, ErrorCode};
use serde::Serialize;
use std::fmt::Display;

/// A refusal with the protocol's code and a message in both languages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub code: ErrorCode,
    pub status: u16,
    pub zh: String,
    pub en: String,
}

impl ApiError {
    pub fn new(code: ErrorCode, zh: impl Into<String>, en: impl Into<String>) -> ApiError {
        ApiError {
            code,
            status: code.http_status(),
            zh: zh.into(),
            en: en.into(),
        }
    }

    pub fn with_status(mut self, status: u16) -> ApiError {
        self.status = status;
        self
    }

    pub fn bad_request(detail: impl Display) -> ApiError {
        ApiError::new(
            ErrorCode::BadRequest,
            "请求格式不正确",
            format!("bad request: {detail}"),
        )
    }

    pub fn not_found(zh: &str, en: &str) -> ApiError {
        ApiError::new(
            ErrorCode::NotFound,
            format!("{zh}不存在"),
            format!("{en} not found"),
        )
    }

    pub fn invalid_state(zh: impl Into<String>, en: impl Into<String>) -> ApiError {
        ApiError::new(ErrorCode::InvalidState, zh, en)
    }

    pub fn internal(detail: impl Display) -> ApiError {
        ApiError::new(
            ErrorCode::Internal,
            "系统内部错误，请稍后重试",
            format!("internal error: {detail}"),
        )
    }

    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            code: self.code,
            message_zh: self.zh.clone(),
            message_en: self.en.clone(),
            retryable: matches!(self.code, ErrorCode::Internal | ErrorCode::Unavailable),
        }
    }
}

impl From<rusqlite::Error> for ApiError {
    fn from(e: rusqlite::Error) -> ApiError {
        tracing::error!(error = %e, "HIS simulator store failed");
        ApiError::internal(e)
    }
}

impl From<crate::domain::MoneyError> for ApiError {
    fn from(e: crate::domain::MoneyError) -> ApiError {
        ApiError::internal(e)
    }
}

pub const JSON: &str = "application/json";
pub const PDF: &str = "application/pdf";

/// A finished answer: status, content type, body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn json<T: Serialize>(status: u16, value: &T) -> Reply {
        match serde_json::to_vec(value) {
            Ok(body) => Reply {
                status,
                content_type: JSON,
                body,
            },
            Err(e) => Reply::error(&ApiError::internal(e)),
        }
    }

    pub fn ok<T: Serialize>(value: &T) -> Reply {
        Reply::json(200, value)
    }

    pub fn created<T: Serialize>(value: &T) -> Reply {
        Reply::json(201, value)
    }

    pub fn error(e: &ApiError) -> Reply {
        Reply {
            status: e.status,
            content_type: JSON,
            body: serde_json::to_vec(&e.body()).unwrap_or_else(|_| b"{}".to_vec()),
        }
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
