//! The life of one order at the channel, as a pure function: the rules the
//! simulator follows, testable with plain values.
//!
//! ```text
//! QR:        not_paid --pay--> paid --refund(all) / reverse--> refunded
//!               |  close / expire (2 h) / reverse
//!               v
//!             closed
//! micropay:  user_paying --pay--> paid --refund(all) / reverse--> refunded
//!               |  decline          |
//!               v                   +-- (paid at once: starts here)
//!             failed   user_paying --expire (45 s) / reverse--> revoked
//! ```

use super::wire::{ErrorCode, OrderKind, OrderStatus, ReverseAction};
use crate::domain::{Money, PayChannel};

/// WeChat: call reverse no sooner than 15 s after the charge; earlier calls
/// answer `recall`.
pub const REVERSE_MIN_AGE_SECS: i64 = 15;

/// WeChat: orders older than 7 days can no longer be reversed (refund them).
pub const REVERSE_MAX_AGE_SECS: i64 = 7 * 86_400;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrderFacts {
    pub kind: OrderKind,
    pub channel: PayChannel,
    pub status: OrderStatus,
    pub amount: Money,
    pub refunded: Money,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderEvent {
    /// The payer paid: the QR was scanned and confirmed, or the micropay confirmed.
    Pay,
    /// The payer cancelled on their phone, or the channel declined.
    Decline,
    /// The deadline passed: QR after 2 h, unconfirmed micropay after 45 s.
    Expire,
    /// The kiosk closes an unpaid QR order.
    Close,
    /// The kiosk reverses the order, `age_secs` after creating it.
    Reverse { age_secs: i64 },
    /// The kiosk refunds this much of a paid order.
    Refund(Money),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Next {
    pub status: OrderStatus,
    pub refunded: Money,
    /// What a reverse did.
    pub reverse: Option<ReverseAction>,
    /// This event collected the money (send the `order.paid` notification).
    pub newly_paid: bool,
    /// This event returned this much money.
    pub returned: Money,
}

impl Next {
    fn same(f: &OrderFacts) -> Next {
        Next {
            status: f.status,
            refunded: f.refunded,
            reverse: None,
            newly_paid: false,
            returned: Money::ZERO,
        }
    }
    fn to(f: &OrderFacts, status: OrderStatus) -> Next {
        Next {
            status,
            ..Next::same(f)
        }
    }
}

impl OrderEvent {
    /// For messages: `refund of ¥30.01`, `close`.
    pub fn describe(self) -> String {
        match self {
            OrderEvent::Pay => "payment".into(),
            OrderEvent::Decline => "decline".into(),
            OrderEvent::Expire => "expiry".into(),
            OrderEvent::Close => "close".into(),
            OrderEvent::Reverse { .. } => "reverse".into(),
            OrderEvent::Refund(m) => format!("refund of {m}"),
        }
    }
}

/// Apply one event. A refusal is the protocol's error code for it.
pub fn step(f: &OrderFacts, ev: OrderEvent) -> Result<Next, ErrorCode> {
    use OrderStatus as S;
    let unpaid_dead = match f.kind {
        OrderKind::Qr => S::Closed,
        OrderKind::Micropay => S::Revoked,
    };
    match ev {
        OrderEvent::Pay => match f.status {
            S::NotPaid | S::UserPaying => Ok(Next {
                newly_paid: true,
                ..Next::to(f, S::Paid)
            }),
            S::Paid | S::Refunded => Err(ErrorCode::OrderPaid),
            S::Closed | S::Revoked | S::Failed => Err(ErrorCode::OrderClosed),
        },
        OrderEvent::Decline => match f.status {
            S::UserPaying => Ok(Next::to(f, S::Failed)),
            _ => Err(ErrorCode::InvalidState),
        },
        OrderEvent::Expire => match f.status {
            S::NotPaid | S::UserPaying => Ok(Next::to(f, unpaid_dead)),
            _ => Err(ErrorCode::InvalidState),
        },
        OrderEvent::Close => {
            if f.kind != OrderKind::Qr {
                // A scanned-code payment is undone with reverse, never close.
                return Err(ErrorCode::InvalidState);
            }
            match f.status {
                S::NotPaid => Ok(Next::to(f, S::Closed)),
                S::Closed => Ok(Next::same(f)),
                S::Paid | S::Refunded => Err(ErrorCode::OrderPaid),
                S::UserPaying | S::Revoked | S::Failed => Err(ErrorCode::InvalidState),
            }
        }
        OrderEvent::Reverse { age_secs } => {
            if age_secs > REVERSE_MAX_AGE_SECS {
                return Err(ErrorCode::InvalidState);
            }
            if f.kind == OrderKind::Micropay
                && f.channel == PayChannel::Wechat
                && age_secs < REVERSE_MIN_AGE_SECS
            {
                return Ok(Next {
                    reverse: Some(ReverseAction::Recall),
                    ..Next::same(f)
                });
            }
            match f.status {
                S::NotPaid | S::UserPaying => Ok(Next {
                    reverse: Some(ReverseAction::Closed),
                    ..Next::to(f, unpaid_dead)
                }),
                S::Closed | S::Revoked | S::Failed => Ok(Next {
                    reverse: Some(ReverseAction::Closed),
                    ..Next::same(f)
                }),
                S::Paid => {
                    let rest = f
                        .amount
                        .checked_sub(f.refunded)
                        .map_err(|_| ErrorCode::InvalidState)?;
                    Ok(Next {
                        status: S::Refunded,
                        refunded: f.amount,
                        reverse: Some(ReverseAction::Refunded),
                        newly_paid: false,
                        returned: rest,
                    })
                }
                S::Refunded => Ok(Next {
                    reverse: Some(ReverseAction::Refunded),
                    ..Next::same(f)
                }),
            }
        }
        OrderEvent::Refund(x) => {
            if x <= Money::ZERO {
                return Err(ErrorCode::BadRequest);
            }
            match f.status {
                S::Paid => {
                    let total = f
                        .refunded
                        .checked_add(x)
                        .map_err(|_| ErrorCode::RefundExceedsAmount)?;
                    if total > f.amount {
                        return Err(ErrorCode::RefundExceedsAmount);
                    }
                    Ok(Next {
                        status: if total == f.amount {
                            S::Refunded
                        } else {
                            S::Paid
                        },
                        refunded: total,
                        reverse: None,
                        newly_paid: false,
                        returned: x,
                    })
                }
                S::Refunded => Err(ErrorCode::RefundExceedsAmount),
                S::NotPaid | S::UserPaying | S::Closed | S::Revoked | S::Failed => {
                    Err(ErrorCode::OrderNotPaid)
                }
            }
        }
    }
}

/// How a waiting micropay settles by itself (the payer's phone).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settle {
    pub at_ms: i64,
    /// [`OrderEvent::Pay`] or [`OrderEvent::Decline`].
    pub event: OrderEvent,
}

/// The event time brings to a waiting order at `now_ms`, if any: the
/// payer's confirmation (or refusal) if it comes before the deadline,
/// otherwise expiry at the deadline.
pub fn due_event(
    status: OrderStatus,
    expires_at_ms: i64,
    settle: Option<Settle>,
    now_ms: i64,
) -> Option<OrderEvent> {
    if !status.is_pending() {
        return None;
    }
    if let Some(s) = settle {
        if status == OrderStatus::UserPaying && s.at_ms < expires_at_ms && s.at_ms <= now_ms {
            return Some(s.event);
        }
    }
    (now_ms >= expires_at_ms).then_some(OrderEvent::Expire)
}

#[cfg(test)]
mod tests {
    use super::*;
    use OrderStatus as S;

    fn facts(kind: OrderKind, status: S) -> OrderFacts {
        OrderFacts {
            kind,
            channel: PayChannel::Alipay,
            status,
            amount: Money::from_fen(1000),
            refunded: Money::ZERO,
        }
    }

    #[test]
    fn qr_orders_are_paid_closed_or_expire() {
        let f = facts(OrderKind::Qr, S::NotPaid);
        let paid = step(&f, OrderEvent::Pay).unwrap();
        assert_eq!(paid.status, S::Paid);
        assert!(paid.newly_paid);
        assert_eq!(step(&f, OrderEvent::Close).unwrap().status, S::Closed);
        assert_eq!(step(&f, OrderEvent::Expire).unwrap().status, S::Closed);
        // Closing twice is fine; closing a paid order is not; paying a closed one is not.
        let closed = facts(OrderKind::Qr, S::Closed);
        assert_eq!(step(&closed, OrderEvent::Close).unwrap().status, S::Closed);
        assert_eq!(step(&closed, OrderEvent::Pay), Err(ErrorCode::OrderClosed));
        let p = facts(OrderKind::Qr, S::Paid);
        assert_eq!(step(&p, OrderEvent::Close), Err(ErrorCode::OrderPaid));
        assert_eq!(step(&p, OrderEvent::Pay), Err(ErrorCode::OrderPaid));
        assert_eq!(step(&p, OrderEvent::Expire), Err(ErrorCode::InvalidState));
    }

    #[test]
    fn micropays_settle_decline_or_are_revoked() {
        let f = facts(OrderKind::Micropay, S::UserPaying);
        assert_eq!(step(&f, OrderEvent::Pay).unwrap().status, S::Paid);
        assert_eq!(step(&f, OrderEvent::Decline).unwrap().status, S::Failed);
        assert_eq!(step(&f, OrderEvent::Expire).unwrap().status, S::Revoked);
        assert_eq!(step(&f, OrderEvent::Close), Err(ErrorCode::InvalidState));
        let revoked = facts(OrderKind::Micropay, S::Revoked);
        assert_eq!(step(&revoked, OrderEvent::Pay), Err(ErrorCode::OrderClosed));
    }

    #[test]
    fn reverse_closes_the_unpaid_and_refunds_the_paid() {
        let old = OrderEvent::Reverse { age_secs: 60 };
        let r = step(&facts(OrderKind::Micropay, S::UserPaying), old).unwrap();
        assert_eq!(
            (r.status, r.reverse),
            (S::Revoked, Some(ReverseAction::Closed))
        );
        let r = step(&facts(OrderKind::Qr, S::NotPaid), old).unwrap();
        assert_eq!(
            (r.status, r.reverse),
            (S::Closed, Some(ReverseAction::Closed))
        );
        let mut paid = facts(OrderKind::Micropay, S::Paid);
        paid.refunded = Money::from_fen(300);
        let r = step(&paid, old).unwrap();
        assert_eq!(
            (r.status, r.reverse, r.refunded, r.returned),
            (
                S::Refunded,
                Some(ReverseAction::Refunded),
                Money::from_fen(1000),
                Money::from_fen(700)
            )
        );
        // Reversing again answers the same and returns nothing more.
        let again = step(&facts(OrderKind::Micropay, S::Refunded), old).unwrap();
        assert_eq!(again.reverse, Some(ReverseAction::Refunded));
        assert_eq!(again.returned, Money::ZERO);
        let failed = step(&facts(OrderKind::Micropay, S::Failed), old).unwrap();
        assert_eq!(
            (failed.status, failed.reverse),
            (S::Failed, Some(ReverseAction::Closed))
        );
    }

    #[test]
    fn a_young_wechat_micropay_answers_recall() {
        let mut f = facts(OrderKind::Micropay, S::Paid);
        f.channel = PayChannel::Wechat;
        let r = step(&f, OrderEvent::Reverse { age_secs: 14 }).unwrap();
        assert_eq!(
            (r.status, r.reverse),
            (S::Paid, Some(ReverseAction::Recall))
        );
        let r = step(&f, OrderEvent::Reverse { age_secs: 15 }).unwrap();
        assert_eq!(r.reverse, Some(ReverseAction::Refunded));
        assert_eq!(
            step(
                &f,
                OrderEvent::Reverse {
                    age_secs: REVERSE_MAX_AGE_SECS + 1
                }
            ),
            Err(ErrorCode::InvalidState),
            "too old: refund it instead"
        );
        // Other channels and QR orders have no such rule.
        f.kind = OrderKind::Qr;
        let r = step(&f, OrderEvent::Reverse { age_secs: 1 }).unwrap();
        assert_eq!(r.reverse, Some(ReverseAction::Refunded));
    }

    #[test]
    fn refunds_never_exceed_what_was_paid() {
        let f = facts(OrderKind::Qr, S::Paid);
        let r = step(&f, OrderEvent::Refund(Money::from_fen(400))).unwrap();
        assert_eq!((r.status, r.refunded), (S::Paid, Money::from_fen(400)));
        let f2 = OrderFacts {
            refunded: r.refunded,
            ..f
        };
        assert_eq!(
            step(&f2, OrderEvent::Refund(Money::from_fen(601))),
            Err(ErrorCode::RefundExceedsAmount)
        );
        let r = step(&f2, OrderEvent::Refund(Money::from_fen(600))).unwrap();
        assert_eq!((r.status, r.refunded), (S::Refunded, Money::from_fen(1000)));
        assert_eq!(
            step(&f, OrderEvent::Refund(Money::ZERO)),
            Err(ErrorCode::BadRequest)
        );
        assert_eq!(
            step(
                &facts(OrderKind::Qr, S::NotPaid),
                OrderEvent::Refund(Money::from_fen(1))
            ),
            Err(ErrorCode::OrderNotPaid)
        );
        assert_eq!(
            step(
                &facts(OrderKind::Qr, S::Refunded),
                OrderEvent::Refund(Money::from_fen(1))
            ),
            Err(ErrorCode::RefundExceedsAmount)
        );
    }

    #[test]
    fn time_settles_or_expires_waiting_orders() {
        let pay_at_5s = Some(Settle {
            at_ms: 5_000,
            event: OrderEvent::Pay,
        });
        assert_eq!(due_event(S::UserPaying, 45_000, pay_at_5s, 4_999), None);
        assert_eq!(
            due_event(S::UserPaying, 45_000, pay_at_5s, 5_000),
            Some(OrderEvent::Pay)
        );
        assert_eq!(due_event(S::UserPaying, 45_000, None, 44_999), None);
        assert_eq!(
            due_event(S::UserPaying, 45_000, None, 45_000),
            Some(OrderEvent::Expire)
        );
        // A confirmation scheduled after the deadline never comes.
        let late = Some(Settle {
            at_ms: 50_000,
            event: OrderEvent::Pay,
        });
        assert_eq!(
            due_event(S::UserPaying, 45_000, late, 60_000),
            Some(OrderEvent::Expire)
        );
        assert_eq!(
            due_event(S::NotPaid, 7_200_000, None, 7_200_000),
            Some(OrderEvent::Expire)
        );
        assert_eq!(due_event(S::Paid, 0, None, 1), None);
    }
}
