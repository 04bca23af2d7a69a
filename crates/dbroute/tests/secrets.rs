//! Issue 6, defect 8: no error, `Debug` or `Display` output ever contains a password, for any
//! input. Passwords are made of every character URLs treat specially; configs come through the
//! builder, TOML and environment variables, valid and broken; everything printable that comes
//! out (values, errors and their sources, routers) is searched for the password in every form
//! it could take (as written, percent-decoded, escaped by `{:?}`).

use std::error::Error as _;

use dbroute::{ReplicaConfig, RoutingConfig};
use proptest::prelude::*;

/// Characters URLs, TOML and `{:?}` treat specially, and some plain ones.
const SPECIAL: &[char] = &[
    ':', '/', '?', '#', '[', ']', '@', '!', '$', '&', '\'', '(', ')', '*', '+', ',', ';', '=', '%',
    '"', ' ', '\\', '<', '>', '{', '}', '|', '^', '`', '~', '\t', 'é', 'x', '7',
];

/// The head and tail of every password: text that appears nowhere else, so that finding
/// either in an output means some of the password leaked, however it was cut.
const HEAD: &str = "QXJ";
const TAIL: &str = "ZKV";

/// A password: special characters between the head and the tail.
fn password() -> impl Strategy<Value = String> {
    proptest::collection::vec(proptest::sample::select(SPECIAL), 1..10)
        .prop_map(|middle| format!("{HEAD}{}{TAIL}", middle.into_iter().collect::<String>()))
}

fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b.is_ascii_alphanumeric() {
            true => (b as char).to_string(),
            false => format!("%{b:02X}"),
        })
        .collect()
}

/// URLs carrying `password`, raw or percent-encoded, well-formed or not.
fn urls(password: &str) -> Vec<String> {
    let encoded = percent_encode(password);
    vec![
        format!("postgres://app:{password}@db.internal:5432/shop"),
        format!("postgres://app:{encoded}@db.internal:5432/shop"),
        format!("postgresql://app:{password}@db:99999/shop"),
        format!("postgres://app:{password}@db/shop?sslmode=bogus"),
        format!("postgres://db/shop?user=app&password={encoded}"),
        format!("postgres://db/shop?password={password}&application_name=x"),
        format!("mysql://app:{password}@db/shop"),
        format!("http://app:{password}@db/shop"),
        format!("app:{password}@db/shop"),
        format!("sqlite://app.db?password={password}"),
    ]
}

/// TOML documents with `url` in them, most of them broken.
fn toml_documents(url: &str) -> Vec<String> {
    let quoted = toml_string(url);
    vec![
        format!("primary_connection_string = {quoted}"),
        format!("primary_conection_string = {quoted}"),
        format!("primary_connection_string = \"postgres://p/db\"\nclassification_cache = {quoted}"),
        format!(
            "primary_connection_string = \"postgres://p/db\"\nread_replicas = [{{ connection_string = \"postgres://r/db\", weight = {quoted} }}]"
        ),
        format!("primary_connection_string = \"postgres://p/db\"\nrouting_strategy = {quoted}"),
        format!(
            "primary_connection_string = \"postgres://p/db\"\n[pool]\nacquire_timeout = {quoted}"
        ),
        format!(
            "primary_connection_string = {quoted}\nread_replicas = [{quoted}, {{ connection_string = {quoted}, name = \"primary\" }}]"
        ),
        format!(
            "primary_connection_string = {}",
            &quoted[..quoted.len() - 1]
        ),
        format!("[engines]\ndefault = [{quoted}, {quoted}]"),
        format!("read_replicas = [{quoted}]\n[engines]\ndefault = [{quoted}]"),
    ]
}

/// A TOML basic string holding `text`.
fn toml_string(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Environment variable sets with `url` in them.
fn environments(url: &str) -> Vec<Vec<(&'static str, String)>> {
    let primary = ("DBROUTE_PRIMARY_URL", "postgres://p/db".to_owned());
    vec![
        vec![("DBROUTE_PRIMARY_URL", url.to_owned())],
        vec![primary.clone(), ("DBROUTE_READ_REPLICAS", url.to_owned())],
        vec![primary.clone(), ("DBROUTE_REPLICA_1_URL", url.to_owned())],
        vec![primary.clone(), ("DBROUTE_ENABLED", url.to_owned())],
        vec![
            primary.clone(),
            ("DBROUTE_STICKY_AFTER_WRITE", url.to_owned()),
        ],
        vec![
            primary.clone(),
            ("DBROUTE_REPLICA_1_WEIGHT", url.to_owned()),
        ],
        vec![primary.clone(), ("DBROUTE_ACQUIRE_TIMEOUT", url.to_owned())],
        vec![
            primary.clone(),
            ("DBROUTE_ROUTING_STRATEGY", url.to_owned()),
        ],
        vec![
            primary.clone(),
            ("DBROUTE_CLASSIFICATION_CACHE", url.to_owned()),
        ],
        vec![primary.clone(), ("DBROUTE_PRIMARY_ULR", url.to_owned())],
        vec![("DBROUTE_GROUP_DEFAULT_URLS", url.to_owned())],
    ]
}

/// Everything printable about an error: `Display`, `Debug`, and each source's `Display`.
fn texts_of(error: &dbroute::Error) -> Vec<String> {
    let mut texts = vec![error.to_string(), format!("{error:?}")];
    let mut source = error.source();
    while let Some(inner) = source {
        texts.push(inner.to_string());
        source = inner.source();
    }
    texts
}

/// Everything printable about a config outcome.
fn texts_of_outcome(outcome: &Result<RoutingConfig, dbroute::Error>) -> Vec<String> {
    match outcome {
        Ok(config) => vec![format!("{config:?}")],
        Err(error) => texts_of(error),
    }
}

/// Builds routers from configs that validate (no connection is opened), with the router's
/// own `Debug` and any error.
fn router_texts(config: &RoutingConfig) -> Vec<String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let _inside = runtime.enter();
    let mut texts = Vec::new();
    // The router's `Debug`, and its health report (which names each engine's URL), as text
    // and as JSON.
    fn reports<DB: dbroute::Backend>(router: &dbroute::Router<DB>) -> Vec<String> {
        let health = router.health();
        let json = serde_json::to_string(&health).unwrap();
        vec![format!("{router:?}"), format!("{health:?}"), json]
    }
    match dbroute::PgRouter::connect_lazy(config) {
        Ok(router) => texts.extend(reports(&router)),
        Err(error) => texts.extend(texts_of(&error)),
    }
    match dbroute::SqliteRouter::connect_lazy(config) {
        Ok(router) => texts.extend(reports(&router)),
        Err(error) => texts.extend(texts_of(&error)),
    }
    texts
}

fn assert_hidden(password: &str, texts: &[String], origin: &str) -> Result<(), TestCaseError> {
    let debug = format!("{password:?}");
    let encoded = percent_encode(password);
    let forms = [
        password,
        &debug[1..debug.len() - 1],
        encoded.as_str(),
        HEAD,
        TAIL,
    ];
    for text in texts {
        for form in forms {
            prop_assert!(
                !text.contains(form),
                "{origin}: (part of) the password {password:?} shows in:\n{text}"
            );
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn builder_configs_never_show_the_password(password in password()) {
        for url in urls(&password) {
            let builder = RoutingConfig::builder()
                .primary("postgres://p/db")
                .replica(ReplicaConfig::new(url.as_str()).name("r"));
            let mut texts = vec![format!("{builder:?}")];
            let outcome = builder.build();
            texts.extend(texts_of_outcome(&outcome));
            let as_primary = RoutingConfig::builder().primary(url.as_str()).build();
            texts.extend(texts_of_outcome(&as_primary));
            if let Ok(config) = &as_primary {
                texts.extend(router_texts(config));
            }
            texts.push(format!("{:?} {}", dbroute::ConnectionString::from(url.as_str()), dbroute::ConnectionString::from(url.as_str())));
            assert_hidden(&password, &texts, &url)?;
        }
    }

    #[test]
    fn toml_configs_never_show_the_password(password in password()) {
        for url in urls(&password) {
            for document in toml_documents(&url) {
                let outcome = RoutingConfig::from_toml_str(&document);
                let mut texts = texts_of_outcome(&outcome);
                if let Ok(config) = &outcome {
                    texts.extend(router_texts(config));
                }
                assert_hidden(&password, &texts, &document)?;
            }
        }
    }

    #[test]
    fn environment_configs_never_show_the_password(password in password()) {
        for url in urls(&password) {
            for variables in environments(&url) {
                let outcome = RoutingConfig::from_env_vars(variables.iter().map(|(k, v)| (*k, v.as_str())));
                let texts = texts_of_outcome(&outcome);
                assert_hidden(&password, &texts, &format!("{variables:?}"))?;
            }
        }
    }
}
