//! The auditor's view of the log (DESIGN.md §6): an order's full history through correlation
//! and causation links, its state as of any moment replayed from its events, NDJSON export,
//! hash-chain verification, and signed checkpoints of every stream's head that make a
//! truncated tail or a dropped stream detectable.

pub mod checkpoint;
pub mod export;
pub mod history;
pub mod merkle;
pub mod replay;
pub mod verify;
