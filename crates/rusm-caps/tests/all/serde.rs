//! The serialized form: kebab-case keys, and sets written before a grant
//! existed still read, with that grant at its default-deny value.

use rusm_caps::{BUILTIN_PROFILES, Capabilities, SANDBOXED_OPEN_FILES, SANDBOXED_QUEUED_MB};

#[test]
fn builtins_round_trip() {
    for name in BUILTIN_PROFILES {
        let caps = Capabilities::builtin(name).expect("a built-in");
        let json = serde_json::to_string(&caps).expect("serializes");
        assert!(json.contains("\"max-queued-mb\""), "{json}");
        assert!(json.contains("\"max-open-files\""), "{json}");
        assert!(json.contains("\"allow-global-names\""), "{json}");
        let back: Capabilities = serde_json::from_str(&json).expect("deserializes");
        assert_eq!(back, caps);
    }
}

#[test]
fn a_set_without_the_new_limits_reads_as_default_deny() {
    // What `trusted` serialized to before the three grants existed.
    let old = r#"{
        "profile": "trusted", "preopens": [], "allow-network": true,
        "allow-listen": true, "env": [], "allow-stdio": true,
        "max-memory-mb": 1024, "allow-process-control": true,
        "allow-spawn": true, "allow-storage": true,
        "max-processes": null, "mailbox-capacity": null
    }"#;
    let caps: Capabilities = serde_json::from_str(old).expect("deserializes");
    assert!(!caps.allow_global_names);
    assert_eq!(caps.max_queued_mb, SANDBOXED_QUEUED_MB);
    assert_eq!(caps.max_open_files, SANDBOXED_OPEN_FILES);
    assert!(caps.is_within(&Capabilities::trusted()));
}
