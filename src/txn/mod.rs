//! Money-safe transactions: the state machine (pure), its SQLite journal,
//! the runner that drives a transaction through HIS, the payment channel and
//! the printer, its recovery worker, and the three-way reconciliation.

pub mod failpoint;
pub mod journal;
pub mod reconcile;
pub mod runner;
pub mod state;

pub use journal::{Journal, JournalError, NewTxn, Txn, Update};
pub use runner::{
    CancelFlag, Intent, Mode, Outcome, PatientRef, PayMethod, Prepared, RecoveryReport, RunError,
    Runner, RunnerConfig,
};
pub use state::{next_effect, step, Effect, Event, TransitionError, TxnKind, TxnState};
