//! cargo receipt: build with a verifiable receipt, and verify receipts.
