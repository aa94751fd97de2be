//! Property: what resolves is exactly what was declared, never more.
//!
//! The "declared" set is computed here field by field from the built-in base
//! and the overrides, without going through `Profiles` or the builder, so the
//! two implementations check each other.

use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;
use rusm_caps::{BUILTIN_PROFILES, Capabilities, Preopen, ProfileOverrides, Profiles, SpawnGrant};
use std::collections::BTreeMap;

fn builtin_name() -> impl Strategy<Value = &'static str> {
    prop::sample::select(BUILTIN_PROFILES.to_vec())
}

fn custom_name() -> impl Strategy<Value = String> {
    "[a-z][a-z0-9-]{0,8}".prop_filter("custom names cannot be built-ins", |n| {
        !BUILTIN_PROFILES.contains(&n.as_str())
    })
}

fn component() -> impl Strategy<Value = String> {
    prop::sample::select(vec!["a", "b", "c", "worker", "job"]).prop_map(str::to_owned)
}

fn spawn_grant() -> impl Strategy<Value = SpawnGrant> {
    prop_oneof![
        Just(SpawnGrant::None),
        Just(SpawnGrant::Any),
        vec(component(), 0..4).prop_map(SpawnGrant::Only),
    ]
}

fn preopen() -> impl Strategy<Value = Preopen> {
    (
        prop::sample::select(vec!["/srv", "/data", "./rel"]),
        prop::sample::select(vec!["/srv", "/data", "/tmp"]),
        any::<bool>(),
    )
        .prop_map(|(host, guest, read_only)| Preopen {
            host: host.into(),
            guest: guest.into(),
            read_only,
        })
}

fn env_keys() -> impl Strategy<Value = Vec<String>> {
    vec(
        prop::sample::select(vec!["HOME", "API_KEY", "TOKEN", "LANG"]).prop_map(str::to_owned),
        0..4,
    )
}

/// One grant each, every one optional: used both as a custom profile's
/// overrides and as the per-spawn builder's.
#[derive(Clone, Debug)]
struct Grants {
    preopens: Option<Vec<Preopen>>,
    allow_network: Option<bool>,
    allow_listen: Option<bool>,
    env: Option<Vec<String>>,
    allow_stdio: Option<bool>,
    max_memory_mb: Option<u64>,
    allow_process_control: Option<bool>,
    allow_spawn: Option<SpawnGrant>,
    allow_storage: Option<bool>,
    max_processes: Option<u64>,
    mailbox_capacity: Option<usize>,
    allow_global_names: Option<bool>,
    max_queued_mb: Option<u64>,
    max_open_files: Option<u64>,
}

fn grants() -> impl Strategy<Value = Grants> {
    (
        (
            option::of(vec(preopen(), 0..3)),
            option::of(any::<bool>()),
            option::of(any::<bool>()),
            option::of(env_keys()),
            option::of(any::<bool>()),
            option::of(0u64..4096),
        ),
        (
            option::of(any::<bool>()),
            option::of(spawn_grant()),
            option::of(any::<bool>()),
            option::of(1u64..20_000),
            option::of(1usize..10_000),
        ),
        (
            option::of(any::<bool>()),
            // Around both tiers' defaults (64 and 1024, 256 and 4096), so
            // that a value equal to a default is generated too.
            option::of(prop_oneof![Just(64u64), Just(1024), 1u64..2048]),
            option::of(prop_oneof![Just(256u64), Just(4096), 1u64..8192]),
        ),
    )
        .prop_map(
            |(
                (pre, net, listen, env, stdio, mem),
                (ctl, spawn, storage, procs, mbox),
                (names, queued, files),
            )| Grants {
                preopens: pre,
                allow_network: net,
                allow_listen: listen,
                env,
                allow_stdio: stdio,
                max_memory_mb: mem,
                allow_process_control: ctl,
                allow_spawn: spawn,
                allow_storage: storage,
                max_processes: procs,
                mailbox_capacity: mbox,
                allow_global_names: names,
                max_queued_mb: queued,
                max_open_files: files,
            },
        )
}

fn as_overrides(inherits: Option<String>, g: &Grants) -> ProfileOverrides {
    ProfileOverrides {
        inherits,
        preopens: g.preopens.clone(),
        allow_network: g.allow_network,
        allow_hosts: None,
        allow_listen: g.allow_listen,
        env: g.env.clone(),
        allow_stdio: g.allow_stdio,
        max_memory_mb: g.max_memory_mb,
        allow_process_control: g.allow_process_control,
        allow_spawn: g.allow_spawn.clone(),
        allow_storage: g.allow_storage,
        max_processes: g.max_processes,
        mailbox_capacity: g.mailbox_capacity,
        allow_global_names: g.allow_global_names,
        max_queued_mb: g.max_queued_mb,
        max_open_files: g.max_open_files,
    }
}

/// The built-in table of CAPABILITIES.md, written out again.
fn spec_builtin(name: &str) -> Capabilities {
    let trusted = name == "trusted";
    Capabilities {
        profile: name.to_owned(),
        preopens: vec![],
        allow_network: name != "sandboxed",
        allow_hosts: trusted.then(|| vec![rusm_caps::HostPattern::any()]),
        allow_listen: trusted,
        env: vec![],
        allow_stdio: trusted,
        max_memory_mb: if trusted { 1024 } else { 64 },
        allow_process_control: trusted,
        allow_spawn: if trusted {
            SpawnGrant::Any
        } else {
            SpawnGrant::None
        },
        allow_storage: trusted,
        max_processes: if trusted { None } else { Some(10_000) },
        mailbox_capacity: None,
        allow_global_names: trusted,
        max_queued_mb: if trusted { 1024 } else { 64 },
        max_open_files: if trusted { 4096 } else { 256 },
    }
}

/// The base with each set grant replaced: what the operator declared.
fn declared(profile: &str, base: Capabilities, g: &Grants) -> Capabilities {
    Capabilities {
        profile: profile.to_owned(),
        preopens: g.preopens.clone().unwrap_or(base.preopens),
        allow_network: g.allow_network.unwrap_or(base.allow_network),
        allow_hosts: base.allow_hosts,
        allow_listen: g.allow_listen.unwrap_or(base.allow_listen),
        env: g.env.clone().unwrap_or(base.env),
        allow_stdio: g.allow_stdio.unwrap_or(base.allow_stdio),
        max_memory_mb: g.max_memory_mb.unwrap_or(base.max_memory_mb),
        allow_process_control: g
            .allow_process_control
            .unwrap_or(base.allow_process_control),
        allow_spawn: g.allow_spawn.clone().unwrap_or(base.allow_spawn),
        allow_storage: g.allow_storage.unwrap_or(base.allow_storage),
        max_processes: g.max_processes.or(base.max_processes),
        mailbox_capacity: g.mailbox_capacity.or(base.mailbox_capacity),
        allow_global_names: g.allow_global_names.unwrap_or(base.allow_global_names),
        max_queued_mb: g.max_queued_mb.unwrap_or(base.max_queued_mb),
        max_open_files: g.max_open_files.unwrap_or(base.max_open_files),
    }
}

fn with_builder(base: Capabilities, g: &Grants) -> Capabilities {
    let mut b = Capabilities::builder(base);
    if let Some(v) = &g.preopens {
        b = b.preopens(v.clone());
    }
    if let Some(v) = g.allow_network {
        b = b.allow_network(v);
    }
    if let Some(v) = g.allow_listen {
        b = b.allow_listen(v);
    }
    if let Some(v) = &g.env {
        b = b.env(v.clone());
    }
    if let Some(v) = g.allow_stdio {
        b = b.allow_stdio(v);
    }
    if let Some(v) = g.max_memory_mb {
        b = b.max_memory_mb(v);
    }
    if let Some(v) = g.allow_process_control {
        b = b.allow_process_control(v);
    }
    if let Some(v) = &g.allow_spawn {
        b = b.allow_spawn(v.clone());
    }
    if let Some(v) = g.allow_storage {
        b = b.allow_storage(v);
    }
    if g.max_processes.is_some() {
        b = b.max_processes(g.max_processes);
    }
    if g.mailbox_capacity.is_some() {
        b = b.mailbox_capacity(g.mailbox_capacity);
    }
    if let Some(v) = g.allow_global_names {
        b = b.allow_global_names(v);
    }
    if let Some(v) = g.max_queued_mb {
        b = b.max_queued_mb(v);
    }
    if let Some(v) = g.max_open_files {
        b = b.max_open_files(v);
    }
    b.build()
}

/// Every way to take one granted thing away from `caps`. None of them may
/// still contain `caps`: `is_within` must notice each grant on its own.
fn narrowings(caps: &Capabilities) -> Vec<(&'static str, Capabilities)> {
    let mut out = Vec::new();
    let mut push = |what: &'static str, f: &dyn Fn(&mut Capabilities)| {
        let mut c = caps.clone();
        f(&mut c);
        out.push((what, c));
    };
    if !caps.preopens.is_empty() {
        // Every preopen of the first one's directory, since a duplicate (or a
        // writable twin) would still cover it.
        push("preopen", &|c| {
            let (host, guest) = (c.preopens[0].host.clone(), c.preopens[0].guest.clone());
            c.preopens.retain(|p| p.host != host || p.guest != guest);
        });
    }
    if caps.preopens.iter().any(|p| !p.read_only) {
        push("writable preopen", &|c| {
            c.preopens.iter_mut().for_each(|p| p.read_only = true)
        });
    }
    if caps.allow_network {
        push("network", &|c| c.allow_network = false);
    }
    if caps.allow_listen {
        push("listen", &|c| c.allow_listen = false);
    }
    if !caps.env.is_empty() {
        push("env", &|c| {
            let first = c.env[0].clone();
            c.env.retain(|k| *k != first);
        });
    }
    if caps.allow_stdio {
        push("stdio", &|c| c.allow_stdio = false);
    }
    if caps.max_memory_mb > 0 {
        push("memory", &|c| c.max_memory_mb -= 1);
    }
    if caps.allow_process_control {
        push("process control", &|c| c.allow_process_control = false);
    }
    if caps.allow_spawn.is_granted() {
        push("spawn", &|c| c.allow_spawn = SpawnGrant::None);
    }
    if caps.allow_storage {
        push("storage", &|c| c.allow_storage = false);
    }
    match caps.max_processes {
        None => push("process cap", &|c| c.max_processes = Some(1_000)),
        Some(n) if n > 0 => push("process cap", &|c| c.max_processes = Some(n - 1)),
        Some(_) => {}
    }
    match caps.mailbox_capacity {
        None => push("mailbox", &|c| c.mailbox_capacity = Some(1_000)),
        Some(n) if n > 0 => push("mailbox", &|c| c.mailbox_capacity = Some(n - 1)),
        Some(_) => {}
    }
    if caps.allow_global_names {
        push("global names", &|c| c.allow_global_names = false);
    }
    if caps.max_queued_mb > 0 {
        push("queued", &|c| c.max_queued_mb -= 1);
    }
    if caps.max_open_files > 0 {
        push("open files", &|c| c.max_open_files -= 1);
    }
    out
}

fn assert_exactly(got: &Capabilities, want: &Capabilities) -> Result<(), TestCaseError> {
    prop_assert_eq!(got, want);
    prop_assert!(got.is_within(want), "resolved exceeds declared");
    prop_assert!(want.is_within(got), "resolved is missing a declared grant");
    for (what, narrower) in narrowings(want) {
        prop_assert!(
            !got.is_within(&narrower),
            "`is_within` ignored the {} grant",
            what
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn builtins_are_the_spec_table(name in builtin_name()) {
        let resolved = Profiles::default().resolve(name);
        prop_assert!(!resolved.fell_back);
        assert_exactly(&resolved.caps, &spec_builtin(name))?;
    }

    #[test]
    fn custom_profiles_resolve_to_exactly_what_they_declare(
        declared_profiles in prop::collection::btree_map(
            custom_name(),
            (option::of(builtin_name()), grants()),
            1..6,
        ),
    ) {
        let mut profiles = Profiles::default();
        for (name, (base, g)) in &declared_profiles {
            profiles.insert(name.clone(), as_overrides(base.map(str::to_owned), g));
        }
        let names: Vec<&str> = profiles.names().collect();
        let want_names: Vec<&str> = declared_profiles.keys().map(String::as_str).collect();
        prop_assert_eq!(names, want_names);

        for (name, (base, g)) in &declared_profiles {
            let want = declared(name, spec_builtin(base.unwrap_or("sandboxed")), g);
            let resolved = profiles.resolve(name);
            prop_assert!(!resolved.fell_back);
            assert_exactly(&resolved.caps, &want)?;
        }
    }

    #[test]
    fn builder_overrides_apply_exactly(
        base in builtin_name(),
        profile in grants(),
        spawn in grants(),
    ) {
        let mut profiles = Profiles::default();
        profiles.insert("custom".into(), as_overrides(Some(base.to_owned()), &profile));
        let resolved = profiles.resolve("custom").caps;

        let built = with_builder(resolved, &spawn);
        let want = declared("custom", declared("custom", spec_builtin(base), &profile), &spawn);
        assert_exactly(&built, &want)?;
    }

    #[test]
    fn a_non_builtin_base_resolves_on_sandboxed(
        base in custom_name(),
        g in grants(),
    ) {
        let mut profiles = Profiles::default();
        // The base exists as a custom profile, which still is no valid base.
        profiles.insert(base.clone(), as_overrides(Some("trusted".into()), &g));
        profiles.insert("child".into(), as_overrides(Some(base), &g));
        let want = declared("child", spec_builtin("sandboxed"), &g);
        assert_exactly(&profiles.resolve("child").caps, &want)?;
    }

    #[test]
    fn unknown_names_fall_back_to_sandboxed(
        declared_names in prop::collection::btree_set(custom_name(), 0..4),
        asked in custom_name(),
    ) {
        prop_assume!(!declared_names.contains(&asked));
        let mut profiles = Profiles::default();
        for name in declared_names {
            profiles.insert(name, ProfileOverrides { allow_stdio: Some(true), ..Default::default() });
        }
        let resolved = profiles.resolve(&asked);
        prop_assert!(resolved.fell_back);
        prop_assert_eq!(resolved.caps, Capabilities::sandboxed());
    }

    #[test]
    fn builtins_cannot_be_shadowed(name in builtin_name(), g in grants()) {
        let mut profiles = Profiles::default();
        profiles.insert(name.to_owned(), as_overrides(Some("trusted".into()), &g));
        prop_assert_eq!(profiles.resolve(name).caps, spec_builtin(name));
    }

    #[test]
    fn summary_names_exactly_the_grants(
        base in builtin_name(),
        // The name picks the tier whose limits the summary leaves out.
        named in prop::sample::select(vec!["x", "network-client", "trusted"]),
        g in grants(),
    ) {
        let caps = declared(named, spec_builtin(base), &g);
        let tier = spec_builtin(if named == "trusted" { "trusted" } else { "sandboxed" });
        let summary = caps.summary();
        let words: Vec<&str> = summary.split(' ').collect();
        let has = |w: &str| words.contains(&w);
        prop_assert_eq!(
            words.iter().any(|w| *w == "net" || w.starts_with("net=")),
            caps.allow_network
        );
        if caps.allow_network {
            // `net` alone means the tier's destinations; anything else is spelt out.
            prop_assert_eq!(has("net"), caps.allow_hosts == tier.allow_hosts);
        }
        prop_assert_eq!(has("listen"), caps.allow_listen);
        prop_assert_eq!(has("control"), caps.allow_process_control);
        prop_assert_eq!(has("storage"), caps.allow_storage);
        prop_assert_eq!(has("stdio"), caps.allow_stdio);
        prop_assert_eq!(
            words.iter().any(|w| *w == "spawn" || w.starts_with("spawn=")),
            caps.allow_spawn.is_granted()
        );
        let mem = format!("mem={}M", caps.max_memory_mb);
        prop_assert!(has(&mem));
        prop_assert_eq!(has(&format!("env={}", caps.env.len())), !caps.env.is_empty());
        prop_assert_eq!(has(&format!("fs={}", caps.preopens.len())), !caps.preopens.is_empty());
        prop_assert_eq!(summary.contains("mailbox="), caps.mailbox_capacity.is_some());

        // The limits and global names: words exactly where they differ from the tier.
        prop_assert_eq!(summary.contains("procs="), caps.max_processes != tier.max_processes);
        if caps.max_processes != tier.max_processes {
            let procs = caps.max_processes.map_or("procs=node-cap".to_owned(), |n| format!("procs={n}"));
            prop_assert!(has(&procs), "{} lacks {}", summary, procs);
        }
        prop_assert_eq!(
            has(&format!("queued={}M", caps.max_queued_mb)),
            caps.max_queued_mb != tier.max_queued_mb
        );
        prop_assert_eq!(summary.contains("queued="), caps.max_queued_mb != tier.max_queued_mb);
        prop_assert_eq!(
            has(&format!("files={}", caps.max_open_files)),
            caps.max_open_files != tier.max_open_files
        );
        prop_assert_eq!(summary.contains("files="), caps.max_open_files != tier.max_open_files);
        prop_assert_eq!(
            has("global-names"),
            caps.allow_global_names && !tier.allow_global_names
        );
        prop_assert_eq!(
            has("no-global-names"),
            !caps.allow_global_names && tier.allow_global_names
        );
    }
}

#[test]
fn declared_set_is_an_upper_bound_of_each_builtin_below_it() {
    // sandboxed ⊂ network-client ⊂ trusted, strictly.
    let chain: BTreeMap<usize, Capabilities> = BUILTIN_PROFILES
        .iter()
        .enumerate()
        .map(|(i, n)| (i, spec_builtin(n)))
        .collect();
    for (i, lower) in &chain {
        for (j, upper) in &chain {
            assert_eq!(
                lower.is_within(upper),
                i <= j,
                "{} within {}",
                lower.profile,
                upper.profile
            );
        }
    }
}
