//! Every corpus statement the classifier sends to a replica really runs on a hot standby.

use dbroute::{Dialect, PgRouter, RoutingConfig, classify};
use sqlx::{Connection, PgConnection};

#[path = "../corpus/mod.rs"]
mod corpus;

/// `url` with `search_path = corpus` for every connection.
fn in_corpus_schema(url: String) -> String {
    format!("{url}?options=-c%20search_path%3Dcorpus")
}

/// `$1`, `$2` ... replaced by `'1'`, an untyped literal that fits any column.
fn bind_literals(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '$' && chars.peek().is_some_and(char::is_ascii_digit) {
            while chars.peek().is_some_and(char::is_ascii_digit) {
                chars.next();
            }
            out.push_str("'1'");
        } else {
            out.push(c);
        }
    }
    out
}

/// Runs a `COPY ... TO STDOUT` on `connection`, reading all it sends.
async fn copy_out(connection: &mut PgConnection, sql: &str) -> Result<(), sqlx::Error> {
    use futures_util::TryStreamExt;
    let rows = connection.copy_out_raw(sql).await?;
    rows.try_collect::<Vec<_>>().await.map(drop)
}

#[tokio::test]
async fn every_corpus_read_runs_on_a_hot_standby() {
    let cluster = crate::cluster();
    let mut setup = PgConnection::connect(&cluster.primary().url())
        .await
        .unwrap();
    sqlx::raw_sql(corpus::PG_SCHEMA)
        .execute(&mut setup)
        .await
        .expect("corpus schema");
    crate::replay().await;

    let config = cluster
        .replicas()
        .iter()
        .fold(
            RoutingConfig::builder().primary(in_corpus_schema(cluster.primary().url())),
            |builder, r| builder.replica(in_corpus_schema(r.url())),
        )
        .build()
        .unwrap();
    let router = PgRouter::connect(&config).await.unwrap();
    // `COPY ... TO STDOUT` speaks COPY's sub-protocol, which the sqlx executor does not: it is
    // run on a standby's own connection instead.
    let standby = in_corpus_schema(cluster.replicas()[0].url());
    let mut copier = PgConnection::connect(&standby).await.unwrap();
    let mut reads = 0;
    let mut failures = Vec::new();
    for base in corpus::PG_BASE {
        for text in corpus::variants(base, Dialect::Postgres) {
            if !classify(&text, Dialect::Postgres).is_read() {
                continue;
            }
            reads += 1;
            assert_eq!(router.explain(&text).unwrap().group, "read", "{text}");
            let runnable = bind_literals(&text);
            let outcome = match classify(&text, Dialect::Postgres).uses_copy_protocol() {
                true => copy_out(&mut copier, &runnable).await,
                false => sqlx::raw_sql(sqlx::AssertSqlSafe(runnable))
                    .fetch_all(&router)
                    .await
                    .map(drop),
            };
            if let Err(error) = outcome {
                failures.push(format!("{text:?}: {error}"));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "reads that failed on a hot standby:\n{}",
        failures.join("\n")
    );
    assert!(reads >= 250, "only {reads} reads in the corpus");
}
