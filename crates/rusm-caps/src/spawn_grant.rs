//! The spawn grant: who a process may start.
//!
//! In the manifest `allow-spawn` is either a boolean or a list of component
//! names, so the grant is a three-way enum rather than a `bool`, and it
//! serializes back to exactly those two TOML/JSON shapes.

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::ser::{SerializeSeq, Serializer};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Which registered components a process may spawn by name.
///
/// `allow-spawn = false` is [`SpawnGrant::None`], `true` is
/// [`SpawnGrant::Any`], and `["a", "b"]` is [`SpawnGrant::Only`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub enum SpawnGrant {
    /// `spawn` answers `denied`.
    #[default]
    None,
    /// Any registered component.
    Any,
    /// Only the components named here.
    Only(Vec<String>),
}

impl SpawnGrant {
    /// Whether a process holding this grant may spawn `component`.
    ///
    /// ```
    /// use rusm_caps::SpawnGrant;
    /// let grant = SpawnGrant::Only(vec!["worker".into()]);
    /// assert!(grant.allows("worker"));
    /// assert!(!grant.allows("admin"));
    /// assert!(SpawnGrant::Any.allows("admin"));
    /// assert!(!SpawnGrant::None.allows("worker"));
    /// ```
    pub fn allows(&self, component: &str) -> bool {
        match self {
            SpawnGrant::None => false,
            SpawnGrant::Any => true,
            SpawnGrant::Only(names) => names.iter().any(|n| n == component),
        }
    }

    /// Whether the grant lets the process spawn anything at all. An empty
    /// list counts as no grant: it allows nothing.
    pub fn is_granted(&self) -> bool {
        match self {
            SpawnGrant::None => false,
            SpawnGrant::Any => true,
            SpawnGrant::Only(names) => !names.is_empty(),
        }
    }

    /// Whether every component this grant allows is also allowed by `other`.
    pub fn is_within(&self, other: &SpawnGrant) -> bool {
        match (self, other) {
            (_, SpawnGrant::Any) => true,
            (SpawnGrant::Any, _) => false,
            (SpawnGrant::None, _) => true,
            (SpawnGrant::Only(names), other) => names.iter().all(|n| other.allows(n)),
        }
    }
}

impl Serialize for SpawnGrant {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            SpawnGrant::None => serializer.serialize_bool(false),
            SpawnGrant::Any => serializer.serialize_bool(true),
            SpawnGrant::Only(names) => {
                let mut seq = serializer.serialize_seq(Some(names.len()))?;
                for name in names {
                    seq.serialize_element(name)?;
                }
                seq.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for SpawnGrant {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct GrantVisitor;

        impl<'de> Visitor<'de> for GrantVisitor {
            type Value = SpawnGrant;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a boolean or a list of component names")
            }

            fn visit_bool<E: de::Error>(self, v: bool) -> Result<SpawnGrant, E> {
                Ok(if v { SpawnGrant::Any } else { SpawnGrant::None })
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<SpawnGrant, A::Error> {
                let mut names = Vec::new();
                while let Some(name) = seq.next_element::<String>()? {
                    names.push(name);
                }
                Ok(SpawnGrant::Only(names))
            }
        }

        deserializer.deserialize_any(GrantVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn only(names: &[&str]) -> SpawnGrant {
        SpawnGrant::Only(names.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn within_orders_none_only_any() {
        assert!(SpawnGrant::None.is_within(&SpawnGrant::None));
        assert!(SpawnGrant::None.is_within(&only(&[])));
        assert!(only(&["a"]).is_within(&SpawnGrant::Any));
        assert!(only(&["a"]).is_within(&only(&["a", "b"])));
        assert!(!only(&["a", "c"]).is_within(&only(&["a", "b"])));
        assert!(!only(&["a"]).is_within(&SpawnGrant::None));
        assert!(only(&[]).is_within(&SpawnGrant::None));
        assert!(!SpawnGrant::Any.is_within(&only(&["a"])));
        assert!(SpawnGrant::Any.is_within(&SpawnGrant::Any));
    }

    #[test]
    fn an_empty_list_grants_nothing() {
        assert!(!only(&[]).is_granted());
        assert!(!only(&[]).allows("a"));
    }
}
