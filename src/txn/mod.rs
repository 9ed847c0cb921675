//! Money-safe transactions: the state machine (pure) and its SQLite journal.
//! The runner, recovery worker and reconciliation build on these.

pub mod journal;
pub mod reconcile;
pub mod state;

pub use journal::{Journal, JournalError, NewTxn, Txn, Update};
pub use state::{next_effect, step, Effect, Event, TransitionError, TxnKind, TxnState};
