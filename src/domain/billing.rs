//! Payments as HIS sees them, bills and their items, the insurance split,
//! settlements with where to go next (R7), and the price list (R9).

use super::{Instant, Location, Money, MoneyError};
use serde::{Deserialize, Serialize};

#[derive(schemars::JsonSchema, Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PayChannel {
    Wechat,
    Alipay,
    Unionpay,
    /// A local wallet (甬易, health-card wallet).
    Wallet,
    /// Nothing collected by a channel (fully covered by insurance, or free).
    None,
}

/// A payment the kiosk collected, passed to HIS when posting.
#[derive(schemars::JsonSchema, Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PaymentRef {
    pub channel: PayChannel,
    /// The kiosk's order number toward the channel (out_trade_no).
    pub trade_no: String,
    pub amount_fen: Money,
    pub paid_at: Instant,
}

#[derive(schemars::JsonSchema, Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemCategory {
    Drug,
    Lab,
    Exam,
    Treatment,
    Material,
    Registration,
}

/// National insurance catalogue class: 甲 (a), 乙 (b), 丙 (c, self-pay).
#[derive(schemars::JsonSchema, Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InsuranceClass {
    A,
    B,
    C,
}

#[derive(schemars::JsonSchema, Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BillItem {
    pub item_id: String,
    pub code: String,
    pub name_zh: String,
    pub name_en: String,
    pub category: ItemCategory,
    pub spec: String,
    pub unit: String,
    pub quantity: u32,
    pub unit_price_fen: Money,
    pub amount_fen: Money,
    pub insurance_class: InsuranceClass,
    /// Where the item is carried out or collected (pharmacy window, exam room).
    pub location: Option<Location>,
}

#[derive(schemars::JsonSchema, Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BillStatus {
    Unpaid,
    Paid,
}

#[derive(schemars::JsonSchema, Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bill {
    pub bill_id: String,
    pub patient_id: String,
    pub status: BillStatus,
    pub created_at: Instant,
    pub department_name_zh: String,
    pub department_name_en: String,
    pub doctor_name: String,
    pub total_fen: Money,
    pub items: Vec<BillItem>,
}

impl Bill {
    /// The items add up to the total (HIS data is checked, not trusted).
    pub fn is_consistent(&self) -> bool {
        self.items
            .iter()
            .all(|i| i.unit_price_fen.checked_mul(i64::from(i.quantity)) == Ok(i.amount_fen))
            && Money::sum(self.items.iter().map(|i| i.amount_fen)) == Ok(self.total_fen)
    }
}

/// The split HIS computes at pre-settle (预结算):
/// total = fund + personal account + self pay + hospital share.
#[derive(schemars::JsonSchema, Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PreSettlement {
    pub presettle_id: String,
    pub patient_id: String,
    pub bill_ids: Vec<String>,
    pub total_fen: Money,
    /// 统筹基金支付
    pub fund_pay_fen: Money,
    /// 个人账户支付
    pub personal_account_fen: Money,
    /// 现金自付: what the patient pays through a payment channel.
    pub self_pay_fen: Money,
    pub hospital_share_fen: Money,
    pub expires_at: Instant,
}

impl PreSettlement {
    /// The parts add up to the total and none is negative.
    pub fn check_split(&self) -> Result<bool, MoneyError> {
        let parts = [
            self.fund_pay_fen,
            self.personal_account_fen,
            self.self_pay_fen,
            self.hospital_share_fen,
        ];
        Ok(parts.iter().all(|p| !p.is_negative()) && Money::sum(parts)? == self.total_fen)
    }

    /// What insurance covers (fund + personal account + hospital share).
    pub fn covered(&self) -> Result<Money, MoneyError> {
        self.total_fen.checked_sub(self.self_pay_fen)
    }
}

/// A sentence in both languages.
#[derive(schemars::JsonSchema, Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Text {
    pub zh: String,
    pub en: String,
}

/// Where to go after paying (R7): collect drugs, an exam, a sample.
#[derive(schemars::JsonSchema, Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NextStep {
    pub what: Text,
    pub location: Location,
    /// When, if the step has a time (exam appointments), as HIS wrote it.
    pub time: Option<String>,
    pub precautions: Vec<Text>,
}

#[derive(schemars::JsonSchema, Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settlement {
    pub settlement_id: String,
    pub presettle_id: String,
    pub patient_id: String,
    pub bill_ids: Vec<String>,
    pub total_fen: Money,
    pub fund_pay_fen: Money,
    pub personal_account_fen: Money,
    pub self_pay_fen: Money,
    pub hospital_share_fen: Money,
    pub payment: PaymentRef,
    pub settled_at: Instant,
    pub next_steps: Vec<NextStep>,
}

#[derive(schemars::JsonSchema, Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriceItem {
    pub code: String,
    pub name_zh: String,
    pub name_en: String,
    /// 拼音首字母 of `name_zh`, upper case, for search (R9).
    pub pinyin_initials: String,
    pub category: ItemCategory,
    pub spec: String,
    pub unit: String,
    pub price_fen: Money,
    pub insurance_class: InsuranceClass,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t() -> Instant {
        chrono::DateTime::parse_from_rfc3339("2026-11-23T09:00:00+08:00").unwrap()
    }

    fn item(q: u32, unit: i64, amount: i64) -> BillItem {
        BillItem {
            item_id: "I".into(),
            code: "X".into(),
            name_zh: "阿莫西林胶囊".into(),
            name_en: "Amoxicillin capsules".into(),
            category: ItemCategory::Drug,
            spec: "0.25g*24".into(),
            unit: "盒".into(),
            quantity: q,
            unit_price_fen: Money::from_fen(unit),
            amount_fen: Money::from_fen(amount),
            insurance_class: InsuranceClass::A,
            location: None,
        }
    }

    #[test]
    fn bill_totals_are_checked() {
        let mut bill = Bill {
            bill_id: "B".into(),
            patient_id: "P".into(),
            status: BillStatus::Unpaid,
            created_at: t(),
            department_name_zh: "内科".into(),
            department_name_en: "Internal Medicine".into(),
            doctor_name: "王医生".into(),
            total_fen: Money::from_fen(3700),
            items: vec![item(2, 1250, 2500), item(1, 1200, 1200)],
        };
        assert!(bill.is_consistent());
        bill.total_fen = Money::from_fen(3701);
        assert!(!bill.is_consistent());
        bill.total_fen = Money::from_fen(3700);
        bill.items[0].amount_fen = Money::from_fen(2400);
        assert!(!bill.is_consistent());
    }

    #[test]
    fn presettle_split_must_add_up() {
        let mut p = PreSettlement {
            presettle_id: "S".into(),
            patient_id: "P".into(),
            bill_ids: vec!["B".into()],
            total_fen: Money::from_fen(10000),
            fund_pay_fen: Money::from_fen(6000),
            personal_account_fen: Money::from_fen(1000),
            self_pay_fen: Money::from_fen(3000),
            hospital_share_fen: Money::ZERO,
            expires_at: t(),
        };
        assert_eq!(p.check_split(), Ok(true));
        assert_eq!(p.covered(), Ok(Money::from_fen(7000)));
        p.self_pay_fen = Money::from_fen(2999);
        assert_eq!(p.check_split(), Ok(false));
        p.self_pay_fen = Money::from_fen(4000);
        p.personal_account_fen = Money::from_fen(-1000);
        assert_eq!(p.check_split(), Ok(false));
    }
}
