//! The spawn grant: who a process may start.
//!
//! In the manifest `allow-spawn` is either a boolean or a list of component
//! names, so the grant is a three-way enum rather than a `bool`.

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
