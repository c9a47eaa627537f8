//! The `SNSSubscription` kind.

mod aws;
pub mod diff;
pub mod spec;
