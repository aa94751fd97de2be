//! Integration tests of rusm-cluster: real QUIC endpoints on 127.0.0.1,
//! real certificates, several nodes in one test process.

mod bounds;
mod dist;
mod frames;
mod membership;
