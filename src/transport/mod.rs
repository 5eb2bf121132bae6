//! Sending bytes: the HTTP client with its timeout and retry loop, and the retry policy it follows.

pub mod grpc;
pub mod http;
pub mod retry;

pub use http::{HttpRequest, HttpSender, Outcome, RetryNotice, Target};
pub use retry::RetryPolicy;
