//! The operations of the payment platform protocol: one table shared by the
//! client (timeouts, retry policy), the simulator (routing, fault injection)
//! and the docs. The `id` is the OpenAPI `operationId`.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Operation {
    Ping,
    CreateQrOrder,
    Micropay,
    QueryOrder,
    CloseOrder,
    ReverseOrder,
    CreateRefund,
    QueryRefund,
    DownloadBill,
}

impl Operation {
    pub const ALL: [Operation; 9] = [
        Operation::Ping,
        Operation::CreateQrOrder,
        Operation::Micropay,
        Operation::QueryOrder,
        Operation::CloseOrder,
        Operation::ReverseOrder,
        Operation::CreateRefund,
        Operation::QueryRefund,
        Operation::DownloadBill,
    ];

    /// (method, path template) under the base URL.
    pub fn route(self) -> (&'static str, &'static str) {
        use Operation::*;
        match self {
            Ping => ("GET", "/v1/ping"),
            CreateQrOrder => ("POST", "/v1/orders/qr"),
            Micropay => ("POST", "/v1/orders/micropay"),
            QueryOrder => ("GET", "/v1/orders/{out_trade_no}"),
            CloseOrder => ("POST", "/v1/orders/{out_trade_no}/close"),
            ReverseOrder => ("POST", "/v1/orders/{out_trade_no}/reverse"),
            CreateRefund => ("POST", "/v1/refunds"),
            QueryRefund => ("GET", "/v1/refunds/{out_refund_no}"),
            DownloadBill => ("GET", "/v1/bills/{date}"),
        }
    }

    /// Writes can move money; their outcome can be unknown after a timeout.
    /// Every write is idempotent by its order or refund number.
    pub fn is_write(self) -> bool {
        self.route().0 == "POST"
    }

    pub fn id(self) -> &'static str {
        use Operation::*;
        match self {
            Ping => "ping",
            CreateQrOrder => "createQrOrder",
            Micropay => "micropay",
            QueryOrder => "queryOrder",
            CloseOrder => "closeOrder",
            ReverseOrder => "reverseOrder",
            CreateRefund => "createRefund",
            QueryRefund => "queryRefund",
            DownloadBill => "downloadBill",
        }
    }

    pub fn from_id(id: &str) -> Option<Operation> {
        Operation::ALL.into_iter().find(|op| op.id() == id)
    }

    /// Find the operation for a request path (already split from its query).
    /// Returns the operation and its path parameters, percent-decoded, or
    /// `Err(true)` when the path exists under another method, `Err(false)`
    /// when it does not exist at all.
    pub fn match_path(method: &str, path: &str) -> Result<(Operation, Vec<String>), bool> {
        let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let mut other_method = false;
        for op in Operation::ALL {
            let (m, template) = op.route();
            let tsegs: Vec<&str> = template.trim_start_matches('/').split('/').collect();
            if tsegs.len() != segs.len() {
                continue;
            }
            let mut params = Vec::new();
            let mut ok = true;
            for (t, s) in tsegs.iter().zip(&segs) {
                if t.starts_with('{') {
                    match percent_decode(s) {
                        Some(v) if !v.is_empty() => params.push(v),
                        _ => {
                            ok = false;
                            break;
                        }
                    }
                } else if t != s {
                    ok = false;
                    break;
                }
            }
            if !ok {
                continue;
            }
            if m == method {
                return Ok((op, params));
            }
            other_method = true;
        }
        Err(other_method)
    }
}

fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let h = b.get(i + 1..i + 3)?;
            let h = std::str::from_utf8(h).ok()?;
            out.push(u8::from_str_radix(h, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_serde_agrees() {
        for op in Operation::ALL {
            assert_eq!(Operation::from_id(op.id()), Some(op));
            assert_eq!(
                serde_json::to_string(&op).unwrap(),
                format!("\"{}\"", op.id())
            );
        }
    }

    #[test]
    fn paths_match_their_operation() {
        assert_eq!(
            Operation::match_path("POST", "/v1/orders/qr"),
            Ok((Operation::CreateQrOrder, vec![]))
        );
        // An order may be called "qr": reading it is a GET, creating one a POST.
        assert_eq!(
            Operation::match_path("GET", "/v1/orders/qr"),
            Ok((Operation::QueryOrder, vec!["qr".into()]))
        );
        assert_eq!(
            Operation::match_path("POST", "/v1/orders/K01-1/reverse"),
            Ok((Operation::ReverseOrder, vec!["K01-1".into()]))
        );
        assert_eq!(
            Operation::match_path("GET", "/v1/bills/2026-11-23"),
            Ok((Operation::DownloadBill, vec!["2026-11-23".into()]))
        );
        assert_eq!(
            Operation::match_path("GET", "/v1/refunds/a%20b"),
            Ok((Operation::QueryRefund, vec!["a b".into()]))
        );
        assert_eq!(Operation::match_path("DELETE", "/v1/ping"), Err(true));
        assert_eq!(Operation::match_path("GET", "/v1/nothing/here"), Err(false));
        assert_eq!(Operation::match_path("GET", "/v1/orders/"), Err(false));
    }

    #[test]
    fn the_openapi_file_names_every_operation_and_error_code() {
        let yaml = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/docs/payment-gateway.openapi.yaml"
        ))
        .unwrap();
        for op in Operation::ALL {
            let (method, path) = op.route();
            assert!(yaml.contains(&format!("\n  {path}:\n")), "no path {path}");
            assert!(
                yaml.contains(&format!(
                    "{}:\n      operationId: {}\n",
                    method.to_lowercase(),
                    op.id()
                )),
                "no {method} {path} with operationId {}",
                op.id()
            );
        }
        assert_eq!(yaml.matches("operationId:").count(), Operation::ALL.len());
        for c in crate::pay::wire::ErrorCode::ALL {
            assert!(
                yaml.contains(&format!("        - {}\n", c.as_str())),
                "no {c:?}"
            );
        }
    }

    #[test]
    fn writes_are_the_posts() {
        assert!(Operation::Micropay.is_write());
        assert!(Operation::ReverseOrder.is_write());
        assert!(!Operation::QueryOrder.is_write());
        assert!(!Operation::DownloadBill.is_write());
    }
}
