//! Three-way reconciliation (对账): the kiosk journal, the payment channel's
//! day bill and the HIS ledger must tell the same story for every
//! transaction of a day. Pure: the caller fetches the three sides.
//!
//! A cancellation is matched on its own: its refund is the channel's
//! `REFUND` row numbered `{original out_trade_no}X` (under the original
//! order's out_trade_no, possibly a booking of an earlier day), and its HIS
//! side is the negative `cancel` ledger entry under its own key base. That
//! refund row is taken out of the original order's net, so the booking it
//! refunds still reconciles as collected, and the day's journal total is
//! what was collected minus what cancellations returned.

use super::journal::{cancellation_refund_no, Txn};
use super::state::{TxnKind, TxnState};
use crate::domain::Money;
use crate::his::wire::LedgerEntry;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

/// One row of the channel's day bill, reduced to what reconciliation needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelRow {
    /// The kiosk's order number (商户订单号).
    pub out_trade_no: String,
    /// Collected (应结订单金额).
    pub amount: Money,
    /// Returned (退款金额).
    pub refunded: Money,
    /// The kiosk's refund number (商户退款单号), on refund rows.
    pub out_refund_no: Option<String>,
}

impl ChannelRow {
    pub fn net(&self) -> Money {
        self.amount
            .checked_sub(self.refunded)
            .unwrap_or(self.amount)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum MismatchKind {
    /// The channel has money the journal does not know about.
    ChannelOnly,
    /// HIS posted something the journal does not know about.
    HisOnly,
    /// The journal says paid and posted but the channel has no payment.
    MissingAtChannel,
    /// The journal says posted but HIS has no posting.
    MissingAtHis,
    /// Amounts differ between the sides.
    Amount,
    /// The sides disagree on the outcome (e.g. posted at HIS but reversed at the channel).
    Status,
    /// The transaction is not finished (recovery has not run to the end).
    Unfinished,
    /// Flagged for staff with a voucher: explained, but listed for follow-up.
    NeedsStaff,
}

impl MismatchKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MismatchKind::ChannelOnly => "channel_only",
            MismatchKind::HisOnly => "his_only",
            MismatchKind::MissingAtChannel => "missing_at_channel",
            MismatchKind::MissingAtHis => "missing_at_his",
            MismatchKind::Amount => "amount",
            MismatchKind::Status => "status",
            MismatchKind::Unfinished => "unfinished",
            MismatchKind::NeedsStaff => "needs_staff",
        }
    }

    /// Needs no one's attention beyond the voucher process.
    pub fn is_explained(self) -> bool {
        self == MismatchKind::NeedsStaff
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    pub kind: MismatchKind,
    pub out_trade_no: String,
    pub journal_state: Option<TxnState>,
    pub journal: Option<Money>,
    pub channel: Option<Money>,
    pub his: Option<Money>,
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Summary {
    pub transactions: usize,
    pub completed: usize,
    pub journal_total: Money,
    pub channel_net: Money,
    pub his_total: Money,
    pub mismatches: Vec<Mismatch>,
}

impl Summary {
    pub fn unexplained(&self) -> usize {
        self.mismatches
            .iter()
            .filter(|m| !m.kind.is_explained())
            .count()
    }

    /// CSV of every mismatch (UTF-8, header first).
    pub fn mismatches_csv(&self) -> String {
        let mut s = String::from(
            "kind,out_trade_no,journal_state,journal_fen,channel_fen,his_fen,detail\n",
        );
        let opt = |m: Option<Money>| m.map(|m| m.fen().to_string()).unwrap_or_default();
        for m in &self.mismatches {
            let _ = writeln!(
                s,
                "{},{},{},{},{},{},\"{}\"",
                m.kind.as_str(),
                m.out_trade_no,
                m.journal_state.map(|s| s.as_str()).unwrap_or(""),
                opt(m.journal),
                opt(m.channel),
                opt(m.his),
                m.detail.replace('"', "\"\"")
            );
        }
        s
    }
}

/// Compare the three ledgers of one day.
pub fn reconcile(journal: &[Txn], channel: &[ChannelRow], his: &[LedgerEntry]) -> Summary {
    // Refund numbers the journal's cancellations own, and what the channel
    // returned under each.
    let mut cancel_refunds: BTreeMap<String, Money> = journal
        .iter()
        .filter(|t| t.kind == TxnKind::Cancellation)
        .filter_map(Txn::cancellation_refund_no)
        .map(|no| (no, Money::ZERO))
        .collect();
    let mut by_trade: BTreeMap<&str, Money> = BTreeMap::new();
    for r in channel {
        if let Some(v) = r
            .out_refund_no
            .as_deref()
            .and_then(|no| cancel_refunds.get_mut(no))
        {
            *v = v.checked_add(r.refunded).unwrap_or(*v);
            continue;
        }
        let e = by_trade
            .entry(r.out_trade_no.as_str())
            .or_insert(Money::ZERO);
        *e = e.checked_add(r.net()).unwrap_or(*e);
    }
    // HIS entries belong to a transaction through the key base (`K01-20261123-000017-…`).
    let mut his_by_base: BTreeMap<String, Money> = BTreeMap::new();
    for e in his {
        let base = key_base_of(&e.idempotency_key);
        let v = his_by_base.entry(base).or_insert(Money::ZERO);
        *v = v.checked_add(e.amount_fen).unwrap_or(*v);
    }
    let mut seen_trades = BTreeSet::new();
    let mut seen_bases = BTreeSet::new();
    let mut sum = Summary {
        transactions: journal.len(),
        ..Summary::default()
    };
    for t in journal {
        let otn = t.out_trade_no();
        let base = t.key_base();
        seen_trades.insert(otn.clone());
        seen_bases.insert(base.clone());
        let ch = by_trade.get(otn.as_str()).copied();
        let hs = his_by_base.get(&base).copied();
        let mk = |kind, detail: &str| Mismatch {
            kind,
            out_trade_no: otn.clone(),
            journal_state: Some(t.state),
            journal: Some(t.amount),
            channel: ch,
            his: hs,
            detail: detail.to_string(),
        };
        let ch_net = ch.unwrap_or(Money::ZERO);
        let his_net = hs.unwrap_or(Money::ZERO);
        if t.kind == TxnKind::Cancellation {
            let refunded = t
                .refund_of
                .as_deref()
                .map(cancellation_refund_no)
                .and_then(|no| cancel_refunds.get(&no).copied())
                .unwrap_or(Money::ZERO);
            let mk = |kind, detail: &str| Mismatch {
                kind,
                out_trade_no: t.refund_of.clone().unwrap_or_else(|| otn.clone()),
                journal_state: Some(t.state),
                journal: Some(t.amount),
                channel: Some(refunded),
                his: hs,
                detail: format!("cancellation {base}: {detail}"),
            };
            reconcile_cancellation(t, refunded, hs, &mut sum, mk);
            continue;
        }
        match t.state {
            TxnState::Done | TxnState::Printed | TxnState::HisPosted => {
                sum.completed += 1;
                sum.journal_total = sum
                    .journal_total
                    .checked_add(t.amount)
                    .unwrap_or(sum.journal_total);
                let needs_money = t.amount > Money::ZERO;
                if needs_money && ch.is_none() {
                    sum.mismatches.push(mk(
                        MismatchKind::MissingAtChannel,
                        "completed but no payment in the channel bill",
                    ));
                } else if ch_net != t.amount {
                    sum.mismatches.push(mk(
                        MismatchKind::Amount,
                        "channel net differs from the journal",
                    ));
                }
                if hs.is_none() && needs_money {
                    sum.mismatches.push(mk(
                        MismatchKind::MissingAtHis,
                        "completed but no posting in the HIS ledger",
                    ));
                } else if hs.is_some() && his_net != t.amount {
                    sum.mismatches.push(mk(
                        MismatchKind::Amount,
                        "HIS ledger differs from the journal",
                    ));
                }
            }
            TxnState::Released | TxnState::Reversed => {
                if ch_net != Money::ZERO {
                    sum.mismatches.push(mk(
                        MismatchKind::Status,
                        "undone in the journal but money kept by the channel",
                    ));
                }
                if his_net != Money::ZERO {
                    sum.mismatches.push(mk(
                        MismatchKind::Status,
                        "undone in the journal but posted at HIS",
                    ));
                }
            }
            TxnState::NeedsStaff => {
                sum.mismatches.push(mk(
                    MismatchKind::NeedsStaff,
                    "voucher issued; settle at the staffed window",
                ));
            }
            _ => sum.mismatches.push(mk(
                MismatchKind::Unfinished,
                "not in a terminal state; run recovery",
            )),
        }
    }
    for r in channel {
        let a_cancellation_refund = r
            .out_refund_no
            .as_deref()
            .is_some_and(|no| cancel_refunds.contains_key(no));
        if !a_cancellation_refund
            && !seen_trades.contains(&r.out_trade_no)
            && r.net() != Money::ZERO
        {
            sum.mismatches.push(Mismatch {
                kind: MismatchKind::ChannelOnly,
                out_trade_no: r.out_trade_no.clone(),
                journal_state: None,
                journal: None,
                channel: Some(r.net()),
                his: None,
                detail: "payment unknown to the journal".into(),
            });
        }
    }
    for e in his {
        let base = key_base_of(&e.idempotency_key);
        if !seen_bases.contains(&base) {
            sum.mismatches.push(Mismatch {
                kind: MismatchKind::HisOnly,
                out_trade_no: e.trade_no.clone().unwrap_or_default(),
                journal_state: None,
                journal: None,
                channel: None,
                his: Some(e.amount_fen),
                detail: format!("HIS posting {} unknown to the journal", e.idempotency_key),
            });
        }
    }
    sum.channel_net = Money::sum(channel.iter().map(ChannelRow::net)).unwrap_or(Money::ZERO);
    sum.his_total = Money::sum(his.iter().map(|e| e.amount_fen)).unwrap_or(Money::ZERO);
    sum.mismatches
        .sort_by(|a, b| (a.kind, &a.out_trade_no).cmp(&(b.kind, &b.out_trade_no)));
    sum
}

/// One cancellation: the refund of its original order and HIS's negative
/// `cancel` entry must both equal the journal's amount (the refund).
fn reconcile_cancellation(
    t: &Txn,
    refunded: Money,
    his: Option<Money>,
    sum: &mut Summary,
    mk: impl Fn(MismatchKind, &str) -> Mismatch,
) {
    let his_net = his.unwrap_or(Money::ZERO);
    let owed_back = Money::from_fen(-t.amount.fen());
    match t.state {
        TxnState::Done | TxnState::Printed | TxnState::HisPosted => {
            sum.completed += 1;
            sum.journal_total = sum
                .journal_total
                .checked_sub(t.amount)
                .unwrap_or(sum.journal_total);
            if t.amount > Money::ZERO && refunded == Money::ZERO {
                sum.mismatches.push(mk(
                    MismatchKind::MissingAtChannel,
                    "cancelled but the refund is not in the channel bill",
                ));
            } else if refunded != t.amount {
                sum.mismatches.push(mk(
                    MismatchKind::Amount,
                    "channel refund differs from the journal",
                ));
            }
            if t.amount > Money::ZERO && his.is_none() {
                sum.mismatches.push(mk(
                    MismatchKind::MissingAtHis,
                    "refunded but no cancel entry in the HIS ledger",
                ));
            } else if his_net != owed_back {
                sum.mismatches.push(mk(
                    MismatchKind::Amount,
                    "HIS cancel entry differs from the journal's refund",
                ));
            }
        }
        TxnState::NeedsStaff => sum.mismatches.push(mk(
            MismatchKind::NeedsStaff,
            "cancelled at HIS, refund not done: voucher issued; refund at the staffed window",
        )),
        TxnState::Released | TxnState::Reversed => {
            if refunded != Money::ZERO {
                sum.mismatches.push(mk(
                    MismatchKind::Status,
                    "not cancelled in the journal but refunded by the channel",
                ));
            }
            if his_net != Money::ZERO {
                sum.mismatches.push(mk(
                    MismatchKind::Status,
                    "not cancelled in the journal but cancelled with a refund due at HIS",
                ));
            }
        }
        _ => sum.mismatches.push(mk(
            MismatchKind::Unfinished,
            "not in a terminal state; run recovery",
        )),
    }
}

/// `K01-20261123-000017-post` -> `K01-20261123-000017`.
fn key_base_of(key: &str) -> String {
    let parts: Vec<&str> = key.splitn(4, '-').collect();
    if parts.len() >= 3 {
        parts[..3].join("-")
    } else {
        key.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::PayChannel;
    use crate::his::wire::LedgerKind;
    use crate::txn::TxnKind;
    use chrono::NaiveDate;

    fn txn(seq: u64, state: TxnState, fen: i64) -> Txn {
        Txn {
            id: seq as i64,
            kiosk_id: "K01".into(),
            business_date: NaiveDate::from_ymd_opt(2026, 11, 23).unwrap(),
            seq,
            kind: TxnKind::Registration,
            state,
            patient_id: "P1".into(),
            id_masked: "3302**********1234".into(),
            amount: Money::from_fen(fen),
            channel: Some(PayChannel::Wechat),
            slot_id: None,
            hold_id: None,
            target_id: None,
            his_reference: None,
            channel_trade_no: None,
            paid_at: None,
            his_result: None,
            refund_of: None,
            reprint_needed: false,
            last_error: None,
            details: "{}".into(),
            created_at: String::new(),
            updated_at: String::new(),
        }
    }

    fn row(seq: u64, amount: i64, refunded: i64) -> ChannelRow {
        ChannelRow {
            out_trade_no: format!("K0120261123{seq:06}"),
            amount: Money::from_fen(amount),
            refunded: Money::from_fen(refunded),
            out_refund_no: (refunded > 0).then(|| format!("K0120261123{seq:06}R")),
        }
    }

    /// Cancellation `seq` of the booking with order `K0120261123{of:06}`, refunding `fen`.
    fn cancellation(seq: u64, state: TxnState, fen: i64, of: Option<u64>) -> Txn {
        Txn {
            kind: TxnKind::Cancellation,
            refund_of: of.map(|o| format!("K0120261123{o:06}")),
            ..txn(seq, state, fen)
        }
    }

    /// The channel's refund row of cancelling booking `of`.
    fn cancel_refund(of: u64, fen: i64) -> ChannelRow {
        ChannelRow {
            out_trade_no: format!("K0120261123{of:06}"),
            amount: Money::ZERO,
            refunded: Money::from_fen(fen),
            out_refund_no: Some(format!("K0120261123{of:06}X")),
        }
    }

    /// HIS's cancel entry of cancellation `seq` for booking `of`.
    fn cancelled(seq: u64, of: u64, fen: i64) -> LedgerEntry {
        LedgerEntry {
            idempotency_key: format!("K01-20261123-{seq:06}-cancel"),
            kind: LedgerKind::Cancel,
            amount_fen: Money::from_fen(-fen),
            trade_no: Some(format!("K0120261123{of:06}")),
            ..posted(of, 0)
        }
    }

    fn posted(seq: u64, fen: i64) -> LedgerEntry {
        LedgerEntry {
            idempotency_key: format!("K01-20261123-{seq:06}-post"),
            kind: LedgerKind::Registration,
            reference_id: format!("A{seq}"),
            patient_id: "P1".into(),
            amount_fen: Money::from_fen(fen),
            channel: PayChannel::Wechat,
            trade_no: Some(format!("K0120261123{seq:06}")),
            at: chrono::DateTime::parse_from_rfc3339("2026-11-23T09:00:00+08:00").unwrap(),
        }
    }

    #[test]
    fn a_clean_day_has_no_mismatch() {
        let j = [
            txn(1, TxnState::Done, 1500),
            txn(2, TxnState::Reversed, 3000),
            txn(3, TxnState::Released, 1000),
        ];
        let c = [row(1, 1500, 0), row(2, 3000, 3000)];
        let h = [posted(1, 1500)];
        let s = reconcile(&j, &c, &h);
        assert_eq!(s.mismatches, vec![], "{}", s.mismatches_csv());
        assert_eq!(s.completed, 1);
        assert_eq!(s.journal_total, Money::from_fen(1500));
        assert_eq!(s.channel_net, Money::from_fen(1500));
        assert_eq!(s.his_total, Money::from_fen(1500));
        assert_eq!(s.unexplained(), 0);
    }

    #[test]
    fn a_clean_day_with_cancellations_has_no_mismatch() {
        let mut booking = txn(1, TxnState::Done, 1500);
        booking.kind = TxnKind::Booking;
        let j = [
            booking,
            // Cancels booking 1, booked and paid the same day.
            cancellation(2, TxnState::Done, 1500, Some(1)),
            // Cancels booking 9 of an earlier day: only its refund is today.
            cancellation(3, TxnState::Done, 2000, Some(9)),
            // An unpaid booking: cancelled with nothing to refund.
            cancellation(4, TxnState::Done, 0, None),
            // Refused (started, paid elsewhere) or backed out of.
            cancellation(5, TxnState::Released, 1500, None),
        ];
        let c = [
            row(1, 1500, 0),
            cancel_refund(1, 1500),
            cancel_refund(9, 2000),
        ];
        let h = [
            posted(1, 1500),
            cancelled(2, 1, 1500),
            cancelled(3, 9, 2000),
        ];
        let s = reconcile(&j, &c, &h);
        assert_eq!(s.mismatches, vec![], "{}", s.mismatches_csv());
        assert_eq!(s.completed, 4);
        assert_eq!(s.journal_total, Money::from_fen(-2000));
        assert_eq!(s.channel_net, Money::from_fen(-2000));
        assert_eq!(s.his_total, Money::from_fen(-2000));
    }

    #[test]
    fn a_his_cancel_without_a_kiosk_refund_is_flagged() {
        let mut booking = txn(1, TxnState::Done, 1500);
        booking.kind = TxnKind::Booking;
        let o = |n: u64| format!("K0120261123{n:06}");
        // Cancelled at HIS (owes 15.00 back) but the channel has no refund.
        let s = reconcile(
            &[
                booking.clone(),
                cancellation(2, TxnState::Done, 1500, Some(1)),
            ],
            &[row(1, 1500, 0)],
            &[posted(1, 1500), cancelled(2, 1, 1500)],
        );
        let kinds: Vec<_> = s
            .mismatches
            .iter()
            .map(|m| (m.kind, m.out_trade_no.clone()))
            .collect();
        assert_eq!(kinds, vec![(MismatchKind::MissingAtChannel, o(1))]);
        // HIS cancelled under a key the journal does not know (cancelled
        // elsewhere, or by a lost kiosk journal): nobody refunded it.
        let s = reconcile(
            &[booking.clone()],
            &[row(1, 1500, 0)],
            &[posted(1, 1500), cancelled(7, 1, 1500)],
        );
        let kinds: Vec<_> = s.mismatches.iter().map(|m| m.kind).collect();
        assert_eq!(kinds, vec![MismatchKind::HisOnly]);
        // The journal let go of a cancellation HIS did carry out.
        let s = reconcile(
            &[
                booking.clone(),
                cancellation(2, TxnState::Released, 1500, Some(1)),
            ],
            &[row(1, 1500, 0)],
            &[posted(1, 1500), cancelled(2, 1, 1500)],
        );
        let kinds: Vec<_> = s.mismatches.iter().map(|m| m.kind).collect();
        assert_eq!(kinds, vec![MismatchKind::Status]);
        // A cancellation refund with no cancellation in the journal counts
        // against its order (the booking no longer nets its fee).
        let s = reconcile(
            &[booking.clone()],
            &[row(1, 1500, 0), cancel_refund(1, 1500)],
            &[posted(1, 1500)],
        );
        let kinds: Vec<_> = s.mismatches.iter().map(|m| m.kind).collect();
        assert_eq!(kinds, vec![MismatchKind::Amount]);
        // Refunded but HIS has no cancel entry.
        let s = reconcile(
            &[booking, cancellation(2, TxnState::Done, 1500, Some(1))],
            &[row(1, 1500, 0), cancel_refund(1, 1500)],
            &[posted(1, 1500)],
        );
        let kinds: Vec<_> = s.mismatches.iter().map(|m| m.kind).collect();
        assert_eq!(kinds, vec![MismatchKind::MissingAtHis]);
    }

    #[test]
    fn every_kind_of_disagreement_is_found() {
        let j = [
            txn(1, TxnState::Done, 1500),      // channel has a different amount
            txn(2, TxnState::Done, 2000),      // HIS lacks it
            txn(3, TxnState::Reversed, 3000),  // channel kept the money
            txn(4, TxnState::HisPosting, 500), // unfinished
            txn(5, TxnState::NeedsStaff, 800), // explained
            txn(6, TxnState::Done, 900),       // channel lacks it
        ];
        let c = [
            row(1, 1600, 0),
            row(2, 2000, 0),
            row(3, 3000, 0),
            row(5, 800, 0),
            row(9, 700, 0),
        ];
        let h = [posted(1, 1500), posted(6, 900), posted(8, 400)];
        let s = reconcile(&j, &c, &h);
        let kinds: Vec<(MismatchKind, String)> = s
            .mismatches
            .iter()
            .map(|m| (m.kind, m.out_trade_no.clone()))
            .collect();
        let o = |n: u64| format!("K0120261123{n:06}");
        assert_eq!(
            kinds,
            vec![
                (MismatchKind::ChannelOnly, o(9)),
                (MismatchKind::HisOnly, o(8)),
                (MismatchKind::MissingAtChannel, o(6)),
                (MismatchKind::MissingAtHis, o(2)),
                (MismatchKind::Amount, o(1)),
                (MismatchKind::Status, o(3)),
                (MismatchKind::Unfinished, o(4)),
                (MismatchKind::NeedsStaff, o(5)),
            ]
        );
        assert_eq!(s.unexplained(), 7);
        let csv = s.mismatches_csv();
        assert!(csv.starts_with("kind,out_trade_no,"));
        assert_eq!(csv.lines().count(), 9);
    }
}
