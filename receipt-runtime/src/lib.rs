//! Runtime receipts: a tracing Layer that writes a hash-chained run ledger and a verifiable run receipt.
