//! The receipt protocol: manifest v1.2, tracked-set Merkle root and proofs, receipts, the chain head and verification.
