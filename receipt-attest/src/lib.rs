//! tmp
mod b64;
pub mod checkpoint;
pub mod dsse;
pub mod fsread;
pub mod keys;
pub mod note;
