//! The day bill (对账单) in WeChat Pay's CSV shape: a plain header row, detail
//! rows with every value prefixed by a backtick, amounts in yuan with two
//! decimals, then a summary header (`总交易单数,应结订单总金额,退款总金额,…`)
//! and its backticked values.
//!
//! A paid order is one `SUCCESS` row on the day it was paid; each refund (a
//! reverse of a paid order included) is one `REFUND` row on the day it was
//! made, under the original 商户订单号. Unpaid orders never appear.
//!
//! The parser finds columns by header name, so column order and extra
//! columns (the real bill has 27, this platform adds `支付渠道`) do not matter.

use super::wire::OrderKind;
use crate::domain::{cst, Instant, Money, PayChannel};
use crate::txn::reconcile::ChannelRow;
use chrono::{NaiveDate, NaiveDateTime, TimeZone};
use std::collections::HashMap;
use std::fmt::Write as _;

/// The detail columns, in the order the platform writes them.
pub const COLUMNS: [&str; 28] = [
    "交易时间",
    "公众账号ID",
    "商户号",
    "特约商户号",
    "设备号",
    "微信订单号",
    "商户订单号",
    "用户标识",
    "交易类型",
    "交易状态",
    "付款银行",
    "货币种类",
    "应结订单金额",
    "代金券金额",
    "微信退款单号",
    "商户退款单号",
    "退款金额",
    "充值券退款金额",
    "退款类型",
    "退款状态",
    "商品名称",
    "商户数据包",
    "手续费",
    "费率",
    "订单金额",
    "申请退款金额",
    "费率备注",
    "支付渠道",
];

pub const SUMMARY_COLUMNS: [&str; 7] = [
    "总交易单数",
    "应结订单总金额",
    "退款总金额",
    "充值券退款总金额",
    "手续费总金额",
    "订单总金额",
    "申请退款总金额",
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BillRowStatus {
    /// `SUCCESS`: money collected.
    Success,
    /// `REFUND`: money returned.
    Refund,
    /// Anything else the channel may write (e.g. `REVOKED`), kept as written.
    Other(String),
}

impl BillRowStatus {
    pub fn as_str(&self) -> &str {
        match self {
            BillRowStatus::Success => "SUCCESS",
            BillRowStatus::Refund => "REFUND",
            BillRowStatus::Other(s) => s,
        }
    }
    fn parse(s: &str) -> BillRowStatus {
        match s {
            "SUCCESS" => BillRowStatus::Success,
            "REFUND" => BillRowStatus::Refund,
            other => BillRowStatus::Other(other.to_string()),
        }
    }
}

/// One detail row of the day bill.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BillRow {
    /// 交易时间: when paid (SUCCESS) or refunded (REFUND).
    pub trade_time: Instant,
    /// 设备号: the kiosk.
    pub kiosk_id: Option<String>,
    /// 微信订单号: the channel's number.
    pub transaction_id: String,
    /// 商户订单号: the kiosk's out_trade_no.
    pub out_trade_no: String,
    /// 交易类型: `NATIVE` (QR) or `MICROPAY`.
    pub trade_type: Option<String>,
    pub status: BillRowStatus,
    /// 应结订单金额: collected by this row (0 on a refund row).
    pub amount: Money,
    /// 微信退款单号 and 商户退款单号 (refund rows).
    pub refund_id: Option<String>,
    pub out_refund_no: Option<String>,
    /// 退款金额: returned by this row.
    pub refund: Money,
    /// 退款状态.
    pub refund_status: Option<String>,
    /// 商品名称.
    pub description: Option<String>,
    /// 支付渠道 (this platform's column).
    pub channel: Option<PayChannel>,
}

impl BillRow {
    /// What three-way reconciliation needs of this row.
    pub fn to_channel_row(&self) -> ChannelRow {
        ChannelRow {
            out_trade_no: self.out_trade_no.clone(),
            amount: self.amount,
            refunded: self.refund,
            out_refund_no: self.out_refund_no.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayBill {
    pub date: NaiveDate,
    pub rows: Vec<BillRow>,
    /// From the summary block, checked against the rows.
    pub total_count: usize,
    pub settled_total: Money,
    pub refund_total: Money,
}

impl DayBill {
    pub fn channel_rows(&self) -> Vec<ChannelRow> {
        self.rows.iter().map(BillRow::to_channel_row).collect()
    }
}

pub fn trade_type(kind: OrderKind) -> &'static str {
    match kind {
        OrderKind::Qr => "NATIVE",
        OrderKind::Micropay => "MICROPAY",
    }
}

fn channel_str(c: PayChannel) -> &'static str {
    match c {
        PayChannel::Wechat => "wechat",
        PayChannel::Alipay => "alipay",
        PayChannel::Unionpay => "unionpay",
        PayChannel::Wallet => "wallet",
        PayChannel::None => "none",
    }
}

fn parse_channel(s: &str) -> Option<PayChannel> {
    [
        PayChannel::Wechat,
        PayChannel::Alipay,
        PayChannel::Unionpay,
        PayChannel::Wallet,
        PayChannel::None,
    ]
    .into_iter()
    .find(|c| channel_str(*c) == s)
}

/// Writes bills the way the platform does (used by the simulator).
#[derive(Debug, Clone)]
pub struct BillWriter {
    pub app_id: String,
    pub merchant_id: String,
}

/// A value the format cannot carry (it has no quoting) is made safe.
fn clean(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            ',' => '，',
            '`' => '\'',
            '\r' | '\n' => ' ',
            c => c,
        })
        .collect()
}

impl BillWriter {
    pub fn write(&self, rows: &[BillRow]) -> String {
        let mut out = String::new();
        out.push_str(&COLUMNS.join(","));
        out.push('\n');
        let mut settled = Money::ZERO;
        let mut refunded = Money::ZERO;
        for r in rows {
            settled = settled.checked_add(r.amount).unwrap_or(settled);
            refunded = refunded.checked_add(r.refund).unwrap_or(refunded);
            let is_refund = r.status == BillRowStatus::Refund;
            let opt = |o: &Option<String>, none: &str| o.clone().unwrap_or_else(|| none.into());
            let order_amount = if is_refund { Money::ZERO } else { r.amount };
            let values: [String; 28] = [
                r.trade_time.format("%Y-%m-%d %H:%M:%S").to_string(),
                self.app_id.clone(),
                self.merchant_id.clone(),
                "0".into(),
                opt(&r.kiosk_id, ""),
                r.transaction_id.clone(),
                r.out_trade_no.clone(),
                String::new(),
                opt(&r.trade_type, ""),
                r.status.as_str().to_string(),
                "OTHERS".into(),
                "CNY".into(),
                r.amount.yuan_string(),
                "0.00".into(),
                opt(&r.refund_id, "0"),
                opt(&r.out_refund_no, "0"),
                r.refund.yuan_string(),
                "0.00".into(),
                if is_refund {
                    "ORIGINAL".into()
                } else {
                    String::new()
                },
                opt(&r.refund_status, ""),
                opt(&r.description, ""),
                String::new(),
                "0.00000".into(),
                "0.00%".into(),
                order_amount.yuan_string(),
                r.refund.yuan_string(),
                String::new(),
                r.channel.map(channel_str).unwrap_or("").to_string(),
            ];
            let line: Vec<String> = values.iter().map(|v| format!("`{}", clean(v))).collect();
            out.push_str(&line.join(","));
            out.push('\n');
        }
        out.push_str(&SUMMARY_COLUMNS.join(","));
        out.push('\n');
        let _ = writeln!(
            out,
            "`{},`{},`{},`0.00,`0.00000,`{},`{}",
            rows.len(),
            settled.yuan_string(),
            refunded.yuan_string(),
            settled.yuan_string(),
            refunded.yuan_string()
        );
        out
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("day bill line {line}: {reason}")]
pub struct BillParseError {
    /// 1-based; 0 for the whole file.
    pub line: usize,
    pub reason: String,
}

fn err(line: usize, reason: impl Into<String>) -> BillParseError {
    BillParseError {
        line,
        reason: reason.into(),
    }
}

fn cell(s: &str) -> &str {
    let s = s.trim();
    s.strip_prefix('`').unwrap_or(s).trim()
}

fn cells(line: &str) -> Vec<&str> {
    line.split(',').map(cell).collect()
}

struct Header(HashMap<String, usize>);

impl Header {
    fn new(names: &[&str], line: usize, required: &[&str]) -> Result<Header, BillParseError> {
        let map: HashMap<String, usize> = names
            .iter()
            .enumerate()
            .map(|(i, n)| (n.trim_start_matches('\u{feff}').to_string(), i))
            .collect();
        for r in required {
            if !map.contains_key(*r) {
                return Err(err(line, format!("no {r} column")));
            }
        }
        Ok(Header(map))
    }
    fn get<'a>(&self, row: &[&'a str], name: &str) -> Option<&'a str> {
        self.0.get(name).and_then(|&i| row.get(i).copied())
    }
}

/// Parse a day bill by header name and check it against its own summary.
pub fn parse(text: &str, date: NaiveDate) -> Result<DayBill, BillParseError> {
    let text = text.trim_start_matches('\u{feff}');
    let lines: Vec<(usize, &str)> = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim_end_matches('\r')))
        .filter(|(_, l)| !l.trim().is_empty())
        .collect();
    // Some exports put a title line first: the header is the line naming 交易时间.
    let start = lines
        .iter()
        .position(|(_, l)| cells(l).contains(&"交易时间"))
        .ok_or_else(|| err(0, "no header row with 交易时间"))?;
    let (hline, htext) = lines[start];
    let hcells = cells(htext);
    let header = Header::new(
        &hcells,
        hline,
        &[
            "交易时间",
            "微信订单号",
            "商户订单号",
            "交易状态",
            "应结订单金额",
            "退款金额",
        ],
    )?;
    let mut rows = Vec::new();
    let mut summary = None;
    let mut i = start + 1;
    while i < lines.len() {
        let (n, l) = lines[i];
        let c = cells(l);
        if c.first() == Some(&"总交易单数") {
            let values = lines
                .get(i + 1)
                .ok_or_else(|| err(n, "summary header without values"))?;
            summary = Some((n, c, values.0, cells(values.1)));
            break;
        }
        if c.len() != hcells.len() {
            return Err(err(
                n,
                format!("{} values for {} columns", c.len(), hcells.len()),
            ));
        }
        rows.push(parse_row(&header, &c, n, date)?);
        i += 1;
    }
    let (sn, scells, vn, values) = summary.ok_or_else(|| err(0, "no summary (truncated bill?)"))?;
    let sh = Header::new(&scells, sn, &["总交易单数", "应结订单总金额", "退款总金额"])?;
    if values.len() != scells.len() {
        return Err(err(vn, "summary values do not match the summary header"));
    }
    let count: usize = sh
        .get(&values, "总交易单数")
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| err(vn, "bad 总交易单数"))?;
    let money = |name: &str| {
        sh.get(&values, name)
            .and_then(|v| Money::parse_yuan(v).ok())
            .ok_or_else(|| err(vn, format!("bad {name}")))
    };
    let settled_total = money("应结订单总金额")?;
    let refund_total = money("退款总金额")?;
    let sum = |f: fn(&BillRow) -> Money| {
        Money::sum(rows.iter().map(f)).map_err(|_| err(vn, "amounts overflow"))
    };
    if count != rows.len() {
        return Err(err(
            vn,
            format!("summary says {count} rows, found {}", rows.len()),
        ));
    }
    if sum(|r| r.amount)? != settled_total || sum(|r| r.refund)? != refund_total {
        return Err(err(vn, "the rows do not add up to the summary"));
    }
    Ok(DayBill {
        date,
        rows,
        total_count: count,
        settled_total,
        refund_total,
    })
}

fn parse_row(h: &Header, c: &[&str], n: usize, date: NaiveDate) -> Result<BillRow, BillParseError> {
    let req = |name: &str| h.get(c, name).ok_or_else(|| err(n, format!("no {name}")));
    let opt = |name: &str| {
        h.get(c, name)
            .filter(|v| !v.is_empty() && *v != "0")
            .map(str::to_string)
    };
    let money = |name: &str| {
        let v = req(name)?;
        Money::parse_yuan(v).map_err(|_| err(n, format!("{name} is not an amount: {v:?}")))
    };
    let t = req("交易时间")?;
    // Some exports pad the date and time with two spaces.
    let t_norm = t.split_whitespace().collect::<Vec<_>>().join(" ");
    let naive = NaiveDateTime::parse_from_str(&t_norm, "%Y-%m-%d %H:%M:%S")
        .map_err(|_| err(n, format!("交易时间 {t:?} is not YYYY-MM-DD HH:MM:SS")))?;
    if naive.date() != date {
        return Err(err(
            n,
            format!("a row of {} in the bill of {date}", naive.date()),
        ));
    }
    let trade_time = cst()
        .from_local_datetime(&naive)
        .single()
        .ok_or_else(|| err(n, "bad time"))?;
    let out_trade_no = req("商户订单号")?.to_string();
    if out_trade_no.is_empty() {
        return Err(err(n, "empty 商户订单号"));
    }
    let channel = match h.get(c, "支付渠道") {
        None | Some("") => None,
        Some(v) => Some(parse_channel(v).ok_or_else(|| err(n, format!("unknown 支付渠道 {v:?}")))?),
    };
    Ok(BillRow {
        trade_time,
        kiosk_id: opt("设备号"),
        transaction_id: req("微信订单号")?.to_string(),
        out_trade_no,
        trade_type: opt("交易类型"),
        status: BillRowStatus::parse(req("交易状态")?),
        amount: money("应结订单金额")?,
        refund_id: opt("微信退款单号"),
        out_refund_no: opt("商户退款单号"),
        refund: money("退款金额")?,
        refund_status: opt("退款状态"),
        description: opt("商品名称"),
        channel,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 23).unwrap()
    }

    fn at(h: u32, m: u32) -> Instant {
        cst().with_ymd_and_hms(2026, 11, 23, h, m, 0).unwrap()
    }

    fn rows() -> Vec<BillRow> {
        let pay = BillRow {
            trade_time: at(9, 5),
            kiosk_id: Some("K01".into()),
            transaction_id: "4200000020261123000000000001".into(),
            out_trade_no: "K0120261123000001".into(),
            trade_type: Some("MICROPAY".into()),
            status: BillRowStatus::Success,
            amount: Money::from_fen(2550),
            refund_id: None,
            out_refund_no: None,
            refund: Money::ZERO,
            refund_status: None,
            description: Some("挂号费, 内科".into()),
            channel: Some(PayChannel::Wechat),
        };
        let refund = BillRow {
            trade_time: at(9, 7),
            trade_type: Some("MICROPAY".into()),
            status: BillRowStatus::Refund,
            amount: Money::ZERO,
            refund_id: Some("5000000020261123000000000001".into()),
            out_refund_no: None,
            refund: Money::from_fen(2550),
            refund_status: Some("SUCCESS".into()),
            ..pay.clone()
        };
        vec![pay, refund]
    }

    #[test]
    fn round_trips_through_the_wechat_shape() {
        let w = BillWriter {
            app_id: "wx0000000000000001".into(),
            merchant_id: "1900000001".into(),
        };
        let csv = w.write(&rows());
        let mut lines = csv.lines();
        assert!(lines
            .next()
            .unwrap()
            .starts_with("交易时间,公众账号ID,商户号,"));
        let first = lines.next().unwrap();
        assert!(
            first.starts_with("`2026-11-23 09:05:00,`wx0000000000000001,`1900000001,"),
            "{first}"
        );
        assert!(first.split(',').all(|v| v.starts_with('`')), "{first}");
        assert!(first.contains("`25.50,"));
        assert!(csv.contains("总交易单数,应结订单总金额,退款总金额,"));
        assert!(
            csv.trim_end()
                .ends_with("`2,`25.50,`25.50,`0.00,`0.00000,`25.50,`25.50"),
            "{csv}"
        );

        let bill = parse(&csv, d()).unwrap();
        let mut expected = rows();
        expected[0].description = Some("挂号费， 内科".into());
        expected[1].description = expected[0].description.clone();
        assert_eq!(bill.rows, expected);
        assert_eq!(bill.total_count, 2);
        assert_eq!(bill.settled_total, Money::from_fen(2550));
        assert_eq!(bill.refund_total, Money::from_fen(2550));
        // A reversed paid order nets to zero under its original number.
        let ch = bill.channel_rows();
        assert!(ch.iter().all(|r| r.out_trade_no == "K0120261123000001"));
        assert_eq!(Money::sum(ch.iter().map(|r| r.net())).unwrap(), Money::ZERO);
    }

    #[test]
    fn the_documented_example_is_what_the_platform_writes() {
        let doc = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/docs/payment-gateway.md"
        ))
        .unwrap();
        let w = BillWriter {
            app_id: "wx0000000000000000".into(),
            merchant_id: "1900000109".into(),
        };
        let pay = BillRow {
            trade_time: cst().with_ymd_and_hms(2026, 11, 23, 9, 13, 20).unwrap(),
            kiosk_id: Some("K01".into()),
            transaction_id: "4200002026112300000000000001".into(),
            out_trade_no: "K0120261123000017".into(),
            trade_type: Some("MICROPAY".into()),
            status: BillRowStatus::Success,
            amount: Money::from_fen(2550),
            refund_id: None,
            out_refund_no: None,
            refund: Money::ZERO,
            refund_status: None,
            description: Some("挂号费 内科".into()),
            channel: Some(PayChannel::Wechat),
        };
        let reverse = BillRow {
            trade_time: cst().with_ymd_and_hms(2026, 11, 23, 9, 15, 2).unwrap(),
            status: BillRowStatus::Refund,
            amount: Money::ZERO,
            refund_id: Some("5000002026112300000000000002".into()),
            refund: Money::from_fen(2550),
            refund_status: Some("SUCCESS".into()),
            ..pay.clone()
        };
        let csv = w.write(&[pay, reverse]);
        assert!(
            doc.contains(&csv),
            "docs/payment-gateway.md should show:\n{csv}"
        );
    }

    #[test]
    fn parses_by_header_name_whatever_the_order() {
        // A real-world shaped bill: title line, other columns in another order,
        // no 支付渠道, CRLF, a BOM, double-spaced times.
        let csv = "\u{feff}微信支付交易账单明细\r\n\
            交易时间,公众账号ID,商户号,子商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,总金额,企业红包金额,退款申请时间,退款成功时间,微信退款单号,商户退款单号,退款金额,企业红包退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率,应结订单金额\r\n\
            `2026-11-23  10:45:37,`wx1,`1488511392,`0,`,`4200000113,`PAY1,`o1,`NATIVE,`SUCCESS,`CFT,`CNY,`0.02,`0.00,`,`,`0,`0,`0.00,`0.00,`,`,`扫码,`,`0.00000,`0.60%,`0.02\r\n\
            `2026-11-23 10:54:45,`wx1,`1488511392,`0,`,`4200000113,`PAY1,`o1,`NATIVE,`REFUND,`CFT,`CNY,`0.00,`0.00,`2026-11-23 10:54:40,`2026-11-23 10:54:45,`5000050664,`R1,`0.02,`0.00,`ORIGINAL,`SUCCESS,`扫码,`,`0.00000,`0.60%,`0.00\r\n\
            总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额\r\n\
            `2,`0.02,`0.02,`0.00,`0.00000,`0.02,`0.02\r\n";
        let bill = parse(csv, d()).unwrap();
        assert_eq!(bill.rows.len(), 2);
        assert_eq!(bill.rows[0].amount, Money::from_fen(2));
        assert_eq!(
            bill.rows[0].trade_time,
            cst().with_ymd_and_hms(2026, 11, 23, 10, 45, 37).unwrap()
        );
        assert_eq!(bill.rows[0].refund_id, None, "`0 is no refund number");
        assert_eq!(bill.rows[1].status, BillRowStatus::Refund);
        assert_eq!(bill.rows[1].out_refund_no.as_deref(), Some("R1"));
        assert_eq!(bill.rows[1].refund, Money::from_fen(2));
        assert_eq!(bill.rows[1].channel, None);
    }

    #[test]
    fn refuses_what_does_not_add_up() {
        let w = BillWriter {
            app_id: "wx".into(),
            merchant_id: "1".into(),
        };
        let csv = w.write(&rows());
        // Summary disagrees with the rows.
        let bad = csv.replace("`2,`25.50,`25.50", "`2,`25.51,`25.50");
        assert!(parse(&bad, d()).unwrap_err().reason.contains("add up"));
        // Truncated: no summary.
        let cut: String = csv.lines().take(2).map(|l| format!("{l}\n")).collect();
        assert!(parse(&cut, d()).unwrap_err().reason.contains("summary"));
        // A required column is missing.
        let nocol = csv.replacen("商户订单号", "商户单号", 1);
        assert!(parse(&nocol, d())
            .unwrap_err()
            .reason
            .contains("商户订单号"));
        // Amounts in fen or with a third decimal are not yuan.
        let fen = csv.replacen("`25.50,", "`25.505,", 1);
        assert!(parse(&fen, d()).is_err());
        // Rows of another day.
        assert!(parse(&csv, d().succ_opt().unwrap())
            .unwrap_err()
            .reason
            .contains("bill of"));
        // An empty day is a header and a zero summary.
        let empty = parse(&w.write(&[]), d()).unwrap();
        assert!(empty.rows.is_empty());
        assert_eq!(empty.settled_total, Money::ZERO);
    }
}
