//! The notifier thread: it turns the engine's notices into delivered notifications. Every
//! notification is first written to the `alerts` table as an outbox row (`pending`), then
//! delivered with retries and marked `delivered` or `failed`; pending rows survive a restart.

pub mod script;
pub mod smtp;
