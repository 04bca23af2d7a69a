use super::*;
use crate::error::Error;

fn error_of(config: RoutingConfig) -> String {
    config.validate().unwrap_err().to_string()
}

fn primary(url: &str) -> RoutingConfig {
    RoutingConfig {
        primary_connection_string: Some(url.into()),
        ..Default::default()
    }
}

#[test]
fn primary_and_replicas_become_two_groups() {
    let config = RoutingConfig::builder()
        .primary("postgres://u:pw@p/db")
        .replica("postgres://u:pw@r1/db")
        .replica(
            ReplicaConfig::new("postgres://u:pw@r2/db")
                .weight(3)
                .name("big"),
        )
        .build()
        .unwrap();
    let plan = config.plan().unwrap();
    let names: Vec<Vec<&str>> = plan
        .groups
        .iter()
        .map(|g| g.engines.iter().map(|e| e.name.as_str()).collect())
        .collect();
    assert_eq!(names, [vec!["primary"], vec!["replica-1", "big"]]);
    assert_eq!(plan.groups[plan.default_group].name, "default");
    assert_eq!(plan.read_group, Some(1));
    assert!(plan.groups[0].writable && !plan.groups[1].writable);
    assert_eq!(plan.groups[1].engines[1].weight, 3);
}

#[test]
fn every_bad_config_gets_a_clear_error() {
    let cases: Vec<(RoutingConfig, &str)> = vec![
        (RoutingConfig::default(), "no primary"),
        (
            RoutingConfig {
                engines: BTreeMap::from([("default".into(), vec![])]),
                ..Default::default()
            },
            "has no engines",
        ),
        (
            RoutingConfig {
                read_replicas: vec![ReplicaConfig::new("postgres://r/db").weight(0).into()],
                ..primary("postgres://p/db")
            },
            "weight 0",
        ),
        (
            RoutingConfig {
                read_replicas: vec![ReplicaConfig::new("postgres://r/db").name("primary").into()],
                ..primary("postgres://p/db")
            },
            "two engines are named \"primary\"",
        ),
        (
            RoutingConfig {
                read_group: Some("replicas".into()),
                ..primary("postgres://p/db")
            },
            "unknown engine group \"replicas\"",
        ),
        (
            RoutingConfig {
                engines: BTreeMap::from([("main".into(), vec!["postgres://p/db".into()])]),
                ..Default::default()
            },
            "unknown engine group \"default\"",
        ),
        (
            RoutingConfig {
                engines: BTreeMap::from([
                    ("default".into(), vec!["postgres://p/db".into()]),
                    ("analytics".into(), vec![]),
                ]),
                ..Default::default()
            },
            "group \"analytics\" has no engines",
        ),
        (primary("not a url"), "has no scheme"),
        (primary("http://p/db"), "unknown scheme \"http\""),
        (
            RoutingConfig {
                read_replicas: vec!["sqlite://r.db".into()],
                ..primary("postgres://p/db")
            },
            "different databases",
        ),
        (
            RoutingConfig {
                engines: BTreeMap::from([("default".into(), vec!["postgres://p/db".into()])]),
                ..primary("postgres://p/db")
            },
            "both primary_connection_string and engines",
        ),
        (
            RoutingConfig {
                pool: PoolConfig::default().max_connections(0),
                ..primary("postgres://p/db")
            },
            "max_connections is 0",
        ),
        (
            RoutingConfig {
                read_replicas: vec!["postgres://r/db".into()],
                groups: BTreeMap::from([(
                    "read".into(),
                    GroupOptions {
                        writable: Some(true),
                        ..Default::default()
                    },
                )]),
                ..primary("postgres://p/db")
            },
            "marked writable",
        ),
        (
            RoutingConfig {
                read_replicas: vec![
                    ReplicaConfig::new("postgres://r/db").weight(9_999).into(),
                    ReplicaConfig::new("postgres://s/db").weight(2).into(),
                ],
                ..primary("postgres://p/db")
            },
            "at most 10000",
        ),
        // One primary: writes, transactions and catalog loads cannot be spread.
        (
            RoutingConfig {
                engines: BTreeMap::from([(
                    "default".into(),
                    vec!["postgres://p1/db".into(), "postgres://p2/db".into()],
                )]),
                ..Default::default()
            },
            "the default group \"default\" has 2 engines",
        ),
        (
            RoutingConfig {
                engines: BTreeMap::from([
                    ("default".into(), vec!["postgres://p/db".into()]),
                    (
                        "shard".into(),
                        vec!["postgres://s1/db".into(), "postgres://s2/db".into()],
                    ),
                ]),
                groups: BTreeMap::from([("shard".into(), GroupOptions::default().writable(true))]),
                ..Default::default()
            },
            "the writable group \"shard\" has 2 engines",
        ),
        (
            RoutingConfig {
                engines: BTreeMap::from([
                    ("default".into(), vec!["sqlite::memory:".into()]),
                    ("read".into(), vec!["sqlite::memory:".into()]),
                ]),
                ..Default::default()
            },
            "exists only inside one pool",
        ),
    ];
    // The URL is parsed as the driver will parse it (with the driver built in).
    #[cfg(feature = "postgres")]
    let cases = cases.into_iter().chain([
        (primary("postgres://u@h:99999/db"), "invalid port number"),
        (primary("postgres://u@h/db?sslmode=sometimes"), "sslmode"),
    ]);
    for (config, expected) in cases {
        let message = error_of(config);
        assert!(
            message.contains(expected),
            "{message:?} should contain {expected:?}"
        );
    }
}

#[test]
fn errors_and_debug_never_show_passwords() {
    let config = RoutingConfig {
        read_replicas: vec!["https://u:hunter2@r/db".into()],
        ..primary("postgres://u:hunter2@p/db")
    };
    assert!(!error_of(config.clone()).contains("hunter2"));
    assert!(!format!("{config:?}").contains("hunter2"));
}

#[test]
fn errors_are_typed() {
    let error = primary("postgres://u@h:99999/db").validate().unwrap_err();
    assert!(matches!(
        error,
        Error::Config(ConfigError::ConnectionString { ref engine, .. }) if engine == "primary"
    ));
    let error = RoutingConfig::default().validate().unwrap_err();
    assert!(matches!(error, Error::Config(ConfigError::NoPrimary)));
    assert!(error.is_config());
    let unknown = RoutingConfig {
        read_group: Some("replicas".into()),
        ..primary("postgres://p/db")
    };
    assert!(unknown.validate().unwrap_err().is_unknown_group());
}

#[cfg(feature = "sqlite")]
#[test]
fn sqlite_paths_of_any_form_survive_the_url() {
    let dir = std::path::Path::new("/tmp/a dir?x=1#frag/50% off");
    let config = RoutingConfig::sqlite(dir.join("app #1?.db"));
    config.validate().unwrap();
    let url = match &config.engines["default"][0] {
        EngineSpec::Config(c) => c.connection_string.expose().to_owned(),
        EngineSpec::Url(u) => u.expose().to_owned(),
    };
    let options: sqlx::sqlite::SqliteConnectOptions = url.parse().unwrap();
    assert_eq!(options.get_filename(), dir.join("app #1?.db"));
    let memory = RoutingConfig::sqlite(":memory:").plan().unwrap();
    assert_eq!(memory.groups.len(), 1);
    assert_eq!(memory.read_group, None);
}

#[test]
fn an_absent_read_group_falls_back_to_the_default_group() {
    let plan = primary("postgres://p/db").plan().unwrap();
    assert_eq!(plan.read_group, None);
}

#[cfg(feature = "toml")]
#[test]
fn toml_with_groups_and_pool_options() {
    let config = RoutingConfig::from_toml_str(
        r#"
        default_group = "writer"
        read_group = "replicas"
        routing_strategy = "round_robin"
        sticky_after_write = false
        [engines]
        writer = ["postgres://p/db"]
        replicas = ["postgres://r1/db", { connection_string = "postgres://r2/db", weight = 2 }]
        analytics = [{ connection_string = "postgres://a/db", name = "warehouse", pool = { max_connections = 2 } }]
        [pool]
        acquire_timeout = "250ms"
        [groups.analytics]
        writable = true
        "#,
    )
    .unwrap();
    let plan = config.plan().unwrap();
    let analytics = plan.groups.iter().find(|g| g.name == "analytics").unwrap();
    assert!(analytics.writable);
    assert_eq!(analytics.engines[0].name, "warehouse");
    assert_eq!(analytics.engines[0].pool.max_connections, Some(2));
    assert_eq!(
        analytics.engines[0].pool.acquire_timeout,
        Some(std::time::Duration::from_millis(250))
    );
    assert!(!plan.sticky_after_write);
    let unknown = RoutingConfig::from_toml_str("primary_url = \"postgres://p/db\"").unwrap_err();
    assert!(
        unknown
            .to_string()
            .contains("line 1, column 1: unknown field `primary_url`"),
        "{unknown}"
    );
    // One spelling rule for enum values everywhere.
    let dashed = RoutingConfig::from_toml_str(
        "primary_connection_string = \"postgres://p/db\"\nrouting_strategy = \"round-robin\"",
    )
    .unwrap();
    assert_eq!(dashed.routing_strategy, RoutingStrategy::RoundRobin);
}

#[test]
fn environment_variables() {
    let config = RoutingConfig::from_env_vars([
        ("DBROUTE_GROUP_DEFAULT_URLS", "postgres://p/db"),
        (
            "DBROUTE_GROUP_READ_URLS",
            "postgres://r1/db, postgres://r2/db",
        ),
        ("DBROUTE_GROUP_REPORTING_URLS", "postgres://rep/db"),
        ("DBROUTE_GROUP_REPORTING_WRITABLE", "true"),
        ("DBROUTE_STICKY_AFTER_WRITE", "false"),
        ("DBROUTE_MAX_CONNECTIONS", "7"),
        ("DBROUTE_ACQUIRE_TIMEOUT", "3s"),
    ])
    .unwrap();
    assert_eq!(config.engines["read"].len(), 2);
    assert_eq!(config.groups["reporting"].writable, Some(true));
    assert_eq!(config.pool.max_connections, Some(7));
    assert!(!config.sticky_after_write);
    let bad = RoutingConfig::from_env_vars([
        ("DBROUTE_PRIMARY_URL", "postgres://p/db"),
        ("DBROUTE_ENABLED", "maybe"),
    ]);
    let message = bad.unwrap_err().to_string();
    assert!(
        message.contains("DBROUTE_ENABLED: not a boolean") && !message.contains("maybe"),
        "{message}"
    );
    let orphan = RoutingConfig::from_env_vars([
        ("DBROUTE_PRIMARY_URL", "postgres://p/db"),
        ("DBROUTE_REPLICA_2_WEIGHT", "2"),
    ]);
    assert!(
        orphan
            .unwrap_err()
            .to_string()
            .contains("DBROUTE_REPLICA_2_URL: missing")
    );
}

#[test]
fn health_options_from_every_source_and_their_errors() {
    #[cfg(feature = "toml")]
    {
        let config = RoutingConfig::from_toml_str(
            r#"
            primary_connection_string = "postgres://p/db"
            [health]
            interval = "500ms"
            probe_timeout = 0.25
            recover_after = 3
            max_replica_lag = { bytes = 1048576, time = "10s" }
            fallback_to_primary = false
            "#,
        )
        .unwrap();
        assert_eq!(
            config.health.interval,
            std::time::Duration::from_millis(500)
        );
        assert_eq!(
            config.health.probe_timeout,
            std::time::Duration::from_millis(250)
        );
        assert_eq!(config.health.max_replica_lag.bytes, Some(1 << 20));
        assert!(!config.health.fallback_to_primary);
    }
    let config = RoutingConfig::from_env_vars([
        ("DBROUTE_PRIMARY_URL", "postgres://p/db"),
        ("DBROUTE_HEALTH_INTERVAL", "2s"),
        ("DBROUTE_HEALTH_MAX_LAG_BYTES", "8388608"),
        ("DBROUTE_HEALTH_REQUIRE_ALL_ENGINES", "true"),
    ])
    .unwrap();
    assert_eq!(config.health.interval, std::time::Duration::from_secs(2));
    assert_eq!(config.health.max_replica_lag.bytes, Some(8 << 20));
    assert!(config.health.require_all_engines);
    let bad = |health: HealthConfig| {
        let mut config = primary("postgres://p/db");
        config.health = health;
        error_of(config)
    };
    let zero = std::time::Duration::ZERO;
    let second = std::time::Duration::from_secs(1);
    assert!(bad(HealthConfig::default().interval(zero)).contains("health.interval is 0"));
    let mut forever = primary("postgres://p/db");
    forever.pool.acquire_timeout = Some(std::time::Duration::MAX);
    assert!(error_of(forever).contains("acquire_timeout is over 1h"));
    let mut forever = primary("postgres://p/db");
    forever.pool.max_lifetime = Some(std::time::Duration::from_secs(u64::MAX));
    assert!(error_of(forever).contains("max_lifetime is over 7 days"));
    assert!(
        bad(HealthConfig::default().interval(std::time::Duration::MAX))
            .contains("health.interval is over 1h")
    );
    assert!(
        bad(HealthConfig::default().probe_timeout(2 * second))
            .contains("health.probe_timeout is longer than interval")
    );
    assert!(bad(HealthConfig::default().recover_after(0)).contains("health.recover_after is 0"));
    assert!(
        bad(HealthConfig::default().max_replica_lag(LagBound::none().bytes(0)))
            .contains("max_replica_lag.bytes is 0")
    );
}

#[test]
fn consistency_options_from_every_source_and_their_errors() {
    use crate::config::ConsistencyConfig;
    use crate::consistency::Consistency;
    use std::time::Duration;

    let default = primary("postgres://p/db");
    assert_eq!(default.consistency.mode, Consistency::ReadYourWrites);
    assert_eq!(default.consistency.max_wait, Duration::from_millis(50));
    #[cfg(feature = "toml")]
    {
        let config = RoutingConfig::from_toml_str(
            r#"
            primary_connection_string = "postgres://p/db"
            [consistency]
            mode = "strong"
            max_wait = "20ms"
            cluster = "shop"
            "#,
        )
        .unwrap();
        assert_eq!(config.consistency.mode, Consistency::Strong);
        assert_eq!(config.consistency.max_wait, Duration::from_millis(20));
        assert_eq!(config.consistency.cluster.as_deref(), Some("shop"));
        let typo = RoutingConfig::from_toml_str(
            "primary_connection_string = \"postgres://p/db\"\n[consistency]\nmode = \"causal\"\n",
        )
        .unwrap_err()
        .to_string();
        assert!(
            typo.contains("use eventual, read_your_writes or strong"),
            "{typo}"
        );
    }
    let config = RoutingConfig::from_env_vars([
        ("DBROUTE_PRIMARY_URL", "postgres://p/db"),
        ("DBROUTE_CONSISTENCY", "Eventual"),
        ("DBROUTE_CONSISTENCY_MAX_WAIT", "5ms"),
        ("DBROUTE_CONSISTENCY_CLUSTER", "shop"),
    ])
    .unwrap();
    assert_eq!(config.consistency.mode, Consistency::Eventual);
    assert_eq!(config.consistency.max_wait, Duration::from_millis(5));
    let wrong = RoutingConfig::from_env_vars([
        ("DBROUTE_PRIMARY_URL", "postgres://p/db"),
        ("DBROUTE_CONSISTENCY", "postgres://app:hunter2@p/db"),
    ])
    .unwrap_err()
    .to_string();
    assert!(
        wrong.contains("DBROUTE_CONSISTENCY: not a consistency mode") && !wrong.contains("hunter2")
    );
    let bad = |consistency: ConsistencyConfig| {
        let mut config = primary("postgres://p/db");
        config.consistency = consistency;
        error_of(config)
    };
    assert!(
        bad(ConsistencyConfig::default().max_wait(Duration::from_secs(11)))
            .contains("consistency.max_wait is over 10s")
    );
    assert!(bad(ConsistencyConfig::default().cluster(" ")).contains("consistency.cluster must be"));
}
