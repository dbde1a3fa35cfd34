//! Integration tests against real PostgreSQL and NATS JetStream; each test has its own
//! database and subject prefix.

mod common;
mod projector;
mod relay;
mod worker;
