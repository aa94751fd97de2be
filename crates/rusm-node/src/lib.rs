//! rusm-node
