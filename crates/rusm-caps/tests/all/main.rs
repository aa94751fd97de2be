//! Integration tests of rusm-caps: one binary, one module per topic.

mod hosts;
mod properties;
