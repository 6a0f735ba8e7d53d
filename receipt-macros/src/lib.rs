//! The #[receipt] attribute: turns a function into a recorded stage of a run ledger.
