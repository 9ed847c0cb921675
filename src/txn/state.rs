//! The money-safe transaction state machine (DESIGN.md), as a pure function.
//!
//! ```text
//! Created -> SlotHeld -> PaymentPending -> Paid -> HisPosting -> HisPosted -> Printed -> Done
//!               |              |                        |
//!               v              v                        v
//!           Released     PaymentFailed -> Released   Reversing -> Reversed (slot released)
//!                                                        |
//!                                                        v
//!                                                   NeedsStaff (voucher printed)
//! ```
//!
//! A cancellation (money goes back, nothing is collected) uses the same
//! states in another order, never passing through a payment state:
//!
//! ```text
//! Created -> SlotHeld -> HisPosting -> Refunding -> HisPosted -> Printed -> Done
//!    |          |            |             |
//!    v          v            v             v
//! Released   Released     Released     NeedsStaff (voucher printed)
//! ```
//!
//! `SlotHeld` is "checked and waiting for the patient to confirm" (the
//! appointment is cancellable, the refund and its kiosk order are known);
//! `HisPosting` cancels at HIS (key `…-cancel`); `Refunding` returns the fee
//! to the original kiosk order (refund number `{original out_trade_no}X`);
//! `HisPosted` then means "cancelled and nothing more is owed": the slip.
//!
//! A state names the side effect that comes next ([`next_effect`]); the
//! runner writes the state to the journal *before* doing that effect, and the
//! effect's outcome comes back as an [`Event`]. Recovery after a crash simply
//! redoes the effect of the journalled state with the same idempotency keys.

use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TxnKind {
    /// Same-day registration: hold, pay, register.
    Registration,
    /// A future slot: hold, pay, book.
    Booking,
    /// Check in a booked appointment, paying the fee owed.
    CheckIn,
    /// Settle outpatient bills (the self-pay part of a pre-settlement).
    Settlement,
    /// Cancel a booked appointment and refund the fee the kiosk collected for it.
    Cancellation,
}

impl TxnKind {
    pub const ALL: [TxnKind; 5] = [
        TxnKind::Registration,
        TxnKind::Booking,
        TxnKind::CheckIn,
        TxnKind::Settlement,
        TxnKind::Cancellation,
    ];

    /// Kinds that take a slot before paying.
    pub fn holds_a_slot(self) -> bool {
        matches!(self, TxnKind::Registration | TxnKind::Booking)
    }
    pub fn as_str(self) -> &'static str {
        match self {
            TxnKind::Registration => "registration",
            TxnKind::Booking => "booking",
            TxnKind::CheckIn => "check_in",
            TxnKind::Settlement => "settlement",
            TxnKind::Cancellation => "cancellation",
        }
    }
    pub fn parse(s: &str) -> Option<TxnKind> {
        TxnKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
    /// Kinds that give money back instead of collecting it: never paid.
    pub fn refunds(self) -> bool {
        self == TxnKind::Cancellation
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TxnState {
    Created,
    SlotHeld,
    PaymentPending,
    Paid,
    HisPosting,
    HisPosted,
    Printed,
    Done,
    PaymentFailed,
    Released,
    Reversing,
    Reversed,
    NeedsStaff,
    /// A cancellation: HIS cancelled the appointment; the fee is being
    /// returned to the original kiosk order.
    Refunding,
}

impl TxnState {
    pub const ALL: [TxnState; 14] = [
        TxnState::Created,
        TxnState::SlotHeld,
        TxnState::PaymentPending,
        TxnState::Paid,
        TxnState::HisPosting,
        TxnState::HisPosted,
        TxnState::Printed,
        TxnState::Done,
        TxnState::PaymentFailed,
        TxnState::Released,
        TxnState::Reversing,
        TxnState::Reversed,
        TxnState::NeedsStaff,
        TxnState::Refunding,
    ];

    /// Nothing more will happen without a person.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            TxnState::Done | TxnState::Released | TxnState::Reversed | TxnState::NeedsStaff
        )
    }

    /// The patient's money may be with the channel and not yet posted or returned.
    pub fn money_at_risk(self) -> bool {
        matches!(
            self,
            TxnState::Paid | TxnState::HisPosting | TxnState::Reversing | TxnState::Refunding
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            TxnState::Created => "created",
            TxnState::SlotHeld => "slot_held",
            TxnState::PaymentPending => "payment_pending",
            TxnState::Paid => "paid",
            TxnState::HisPosting => "his_posting",
            TxnState::HisPosted => "his_posted",
            TxnState::Printed => "printed",
            TxnState::Done => "done",
            TxnState::PaymentFailed => "payment_failed",
            TxnState::Released => "released",
            TxnState::Reversing => "reversing",
            TxnState::Reversed => "reversed",
            TxnState::NeedsStaff => "needs_staff",
            TxnState::Refunding => "refunding",
        }
    }

    pub fn parse(s: &str) -> Option<TxnState> {
        TxnState::ALL.into_iter().find(|st| st.as_str() == s)
    }
}

impl fmt::Display for TxnState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The side effect a state asks for next. Each is idempotent under the
/// transaction's keys, so redoing it after a crash is safe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Get what is to be paid from HIS: a hold on the slot (key `…-hold`),
    /// the appointment's fee, or a pre-settlement (key `…-presettle`).
    Prepare,
    /// Collect the payment, or find out what became of it (query by out_trade_no).
    CollectPayment,
    /// Post to HIS: register, book, check in or settle (key `…-post`), or
    /// cancel an appointment (key `…-cancel`).
    PostToHis,
    /// Print the slip.
    PrintSlip,
    /// Print the reminder slip (where to go next, R7).
    PrintReminder,
    /// Close the unpaid order and release the hold, if any.
    CloseAndRelease,
    /// Reverse (refund) the payment, then release the hold.
    ReversePayment,
    /// Print the voucher for the staffed window.
    PrintVoucher,
    /// A cancellation: refund the original kiosk order (refund number
    /// `{original out_trade_no}X`, one per order, so never twice).
    RefundOriginal,
}

/// What happened when an effect ran, or what the patient did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// HIS holds the slot (or the kind needs none and the amount is known).
    Held,
    /// HIS refused the hold (slot full, patient not allowed): nothing taken.
    HoldRefused,
    /// The patient is shown the QR or scanned a code: payment under way.
    PaymentStarted,
    /// The channel confirms the money is collected.
    PaymentConfirmed,
    /// Not paid and never will be (closed, revoked, declined, patient left).
    PaymentFailed,
    /// Stopping an unfinished payment found it collected and returned it:
    /// nothing kept, as for a failed payment.
    PaymentReversed,
    /// The patient cancelled before paying.
    Cancelled,
    /// Posting to HIS is about to be attempted (for a cancellation: the
    /// patient confirmed it).
    PostStarted,
    /// HIS has the posting.
    Posted,
    /// HIS refused for good (not a timeout: a timeout keeps the state and is retried).
    PostRefused,
    /// The slip is printed.
    SlipPrinted,
    /// The printer failed: the transaction is complete anyway, the slip can be reprinted.
    SlipFailed,
    /// The unpaid order is closed and the hold released.
    ReleasedOk,
    /// The channel returned the money (and the hold is released); for a
    /// cancellation: the refund of the original order is confirmed, or there
    /// was nothing to refund.
    ReverseOk,
    /// The channel refused to reverse (or refund) for good, or not in time.
    ReverseRefused,
    /// The voucher was printed, or printing it was attempted: staff take over.
    VoucherHandled,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("event {event:?} is not allowed in state {state} of a {kind:?}")]
pub struct TransitionError {
    pub kind: TxnKind,
    pub state: TxnState,
    pub event: Event,
}

/// The effect the journalled `state` asks for, if any.
pub fn next_effect(_kind: TxnKind, state: TxnState) -> Option<Effect> {
    use TxnState::*;
    match state {
        Created => Some(Effect::Prepare),
        SlotHeld => None, // waits for the patient to choose a channel, or to confirm a cancellation
        PaymentPending => Some(Effect::CollectPayment),
        Paid | HisPosting => Some(Effect::PostToHis),
        HisPosted => Some(Effect::PrintSlip),
        Printed => Some(Effect::PrintReminder),
        PaymentFailed => Some(Effect::CloseAndRelease),
        Reversing => Some(Effect::ReversePayment),
        Refunding => Some(Effect::RefundOriginal),
        NeedsStaff => None, // the voucher is printed once on entering; reprints are a technician's action
        Done | Released | Reversed => None,
    }
}

/// One pure transition.
pub fn step(kind: TxnKind, state: TxnState, event: Event) -> Result<TxnState, TransitionError> {
    use Event as E;
    use TxnState::*;
    let cancellation = kind == TxnKind::Cancellation;
    let next = match (state, event) {
        (Created, E::Held) => SlotHeld,
        (Created, E::HoldRefused) => Released,
        (Created, E::Cancelled) => Released,
        // A cancellation collects nothing: no payment state, ever.
        (Created | SlotHeld, E::PaymentStarted) if kind.refunds() => {
            return Err(TransitionError { kind, state, event })
        }
        (Created | SlotHeld, E::PaymentStarted) if !kind.holds_a_slot() || state == SlotHeld => {
            PaymentPending
        }
        // Cancellation: confirmed by the patient; nothing held, nothing paid
        // if they back out; HIS refusing leaves everything as it was.
        (SlotHeld, E::PostStarted) if cancellation => HisPosting,
        (SlotHeld, E::Cancelled) if cancellation => Released,
        (HisPosting, E::Posted) if cancellation => Refunding,
        (HisPosting, E::PostRefused) if cancellation => Released,
        (Refunding, E::ReverseOk) if cancellation => HisPosted,
        (Refunding, E::ReverseRefused) if cancellation => NeedsStaff,
        (SlotHeld, E::Cancelled) => PaymentFailed,
        (PaymentPending, E::PaymentConfirmed) => Paid,
        (PaymentPending, E::PaymentFailed | E::Cancelled | E::PaymentReversed) => PaymentFailed,
        (PaymentFailed, E::ReleasedOk) => Released,
        (Paid, E::PostStarted) => HisPosting,
        (Paid | HisPosting, E::Posted) => HisPosted,
        (Paid | HisPosting, E::PostRefused) => Reversing,
        (HisPosted, E::SlipPrinted) => Printed,
        (HisPosted, E::SlipFailed) => Done,
        (Printed, E::SlipPrinted | E::SlipFailed) => Done,
        (Reversing, E::ReverseOk) => Reversed,
        (Reversing, E::ReverseRefused) => NeedsStaff,
        (NeedsStaff, E::VoucherHandled) => NeedsStaff,
        _ => return Err(TransitionError { kind, state, event }),
    };
    Ok(next)
}

#[cfg(test)]
mod tests {
    use super::*;
    use Event as E;
    use TxnState::*;

    fn run(kind: TxnKind, events: &[Event]) -> Result<TxnState, TransitionError> {
        events.iter().try_fold(Created, |s, e| step(kind, s, *e))
    }

    #[test]
    fn the_happy_paths() {
        let reg = [
            E::Held,
            E::PaymentStarted,
            E::PaymentConfirmed,
            E::PostStarted,
            E::Posted,
            E::SlipPrinted,
            E::SlipPrinted,
        ];
        assert_eq!(run(TxnKind::Registration, &reg), Ok(Done));
        assert_eq!(run(TxnKind::Booking, &reg), Ok(Done));
        let pay = [
            E::PaymentStarted,
            E::PaymentConfirmed,
            E::PostStarted,
            E::Posted,
            E::SlipPrinted,
            E::SlipPrinted,
        ];
        assert_eq!(run(TxnKind::Settlement, &pay), Ok(Done));
        assert_eq!(run(TxnKind::CheckIn, &pay), Ok(Done));
    }

    #[test]
    fn nothing_is_paid_without_a_hold_for_slot_kinds() {
        assert!(step(TxnKind::Registration, Created, E::PaymentStarted).is_err());
        assert_eq!(
            step(TxnKind::Settlement, Created, E::PaymentStarted),
            Ok(PaymentPending)
        );
    }

    #[test]
    fn failures_end_in_a_terminal_state_with_money_safe() {
        // Slot full: nothing taken.
        assert_eq!(run(TxnKind::Registration, &[E::HoldRefused]), Ok(Released));
        // Payment declined: order closed, hold released.
        assert_eq!(
            run(
                TxnKind::Booking,
                &[E::Held, E::PaymentStarted, E::PaymentFailed, E::ReleasedOk]
            ),
            Ok(Released)
        );
        // HIS refuses the posting: the payment is reversed.
        let refused = [
            E::Held,
            E::PaymentStarted,
            E::PaymentConfirmed,
            E::PostStarted,
            E::PostRefused,
            E::ReverseOk,
        ];
        assert_eq!(run(TxnKind::Registration, &refused), Ok(Reversed));
        // And if the reversal fails too: staff, with a voucher.
        let stuck = [
            E::PaymentStarted,
            E::PaymentConfirmed,
            E::PostStarted,
            E::PostRefused,
            E::ReverseRefused,
            E::VoucherHandled,
        ];
        assert_eq!(run(TxnKind::Settlement, &stuck), Ok(NeedsStaff));
        // A printer failure never undoes a posted payment.
        let no_paper = [
            E::PaymentStarted,
            E::PaymentConfirmed,
            E::PostStarted,
            E::Posted,
            E::SlipFailed,
        ];
        assert_eq!(run(TxnKind::CheckIn, &no_paper), Ok(Done));
    }

    #[test]
    fn paid_money_never_goes_back_to_an_unpaid_state() {
        for kind in TxnKind::ALL {
            for state in [
                Paid, HisPosting, HisPosted, Printed, Done, Reversing, Refunding,
            ] {
                for event in [
                    E::Cancelled,
                    E::PaymentFailed,
                    E::PaymentReversed,
                    E::HoldRefused,
                    E::ReleasedOk,
                ] {
                    assert!(
                        step(kind, state, event).is_err(),
                        "{kind:?} {state} {event:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn every_non_terminal_state_that_holds_money_has_an_effect() {
        for kind in TxnKind::ALL {
            for s in TxnState::ALL {
                if s.money_at_risk() {
                    assert!(
                        next_effect(kind, s).is_some(),
                        "{kind:?} {s} would be stuck with the money"
                    );
                }
                if s.is_terminal() {
                    assert_eq!(next_effect(kind, s), None);
                }
            }
        }
    }

    #[test]
    fn names_round_trip() {
        for s in TxnState::ALL {
            assert_eq!(TxnState::parse(s.as_str()), Some(s));
        }
        for k in TxnKind::ALL {
            assert_eq!(TxnKind::parse(k.as_str()), Some(k));
        }
    }

    #[test]
    fn a_cancellation_cancels_at_his_then_refunds_then_prints() {
        let c = TxnKind::Cancellation;
        let paid = [
            E::Held,
            E::PostStarted,
            E::Posted,
            E::ReverseOk,
            E::SlipPrinted,
            E::SlipPrinted,
        ];
        assert_eq!(run(c, &paid), Ok(Done));
        assert_eq!(run(c, &paid[..3]), Ok(Refunding));
        assert_eq!(next_effect(c, Refunding), Some(Effect::RefundOriginal));
        assert_eq!(next_effect(c, HisPosting), Some(Effect::PostToHis));
        // The printer never undoes it.
        assert_eq!(run(c, &paid[..4]), Ok(HisPosted));
        assert_eq!(
            run(
                c,
                &[
                    E::Held,
                    E::PostStarted,
                    E::Posted,
                    E::ReverseOk,
                    E::SlipFailed
                ]
            ),
            Ok(Done)
        );
        // The patient backs out, or HIS refuses: nothing changed anywhere.
        assert_eq!(run(c, &[E::Held, E::Cancelled]), Ok(Released));
        assert_eq!(run(c, &[E::HoldRefused]), Ok(Released));
        assert_eq!(
            run(c, &[E::Held, E::PostStarted, E::PostRefused]),
            Ok(Released)
        );
        // Cancelled at HIS but the channel will not refund: staff, with a voucher.
        assert_eq!(
            run(
                c,
                &[
                    E::Held,
                    E::PostStarted,
                    E::Posted,
                    E::ReverseRefused,
                    E::VoucherHandled
                ]
            ),
            Ok(NeedsStaff)
        );
        // Once HIS cancelled, there is no way back to "not cancelled".
        for e in [E::Cancelled, E::PostRefused, E::HoldRefused, E::ReleasedOk] {
            assert!(step(c, Refunding, e).is_err(), "{e:?}");
        }
    }

    #[test]
    fn a_cancellation_never_collects_and_nothing_else_posts_unpaid() {
        let c = TxnKind::Cancellation;
        assert!(step(c, Created, E::PaymentStarted).is_err());
        assert!(step(c, SlotHeld, E::PaymentStarted).is_err());
        assert!(
            step(c, Created, E::PostStarted).is_err(),
            "not before it is checked"
        );
        for kind in TxnKind::ALL.into_iter().filter(|k| !k.refunds()) {
            assert!(step(kind, SlotHeld, E::PostStarted).is_err(), "{kind:?}");
            assert_eq!(step(kind, HisPosting, E::Posted), Ok(HisPosted));
            assert_eq!(step(kind, HisPosting, E::PostRefused), Ok(Reversing));
            assert!(step(kind, Refunding, E::ReverseOk).is_err(), "{kind:?}");
        }
    }
}
