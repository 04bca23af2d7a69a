//! The `dbroute::statement` span of every routed statement, captured by a real `tracing`
//! subscriber and checked against where the server says the statement ran: outside any unit,
//! in a session, in a transaction, streamed, failed; and the statement text, masked and cut.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use dbroute::STATEMENT_TARGET;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};

use crate::{Node, cluster, config_with, node_of, router_with, sql, table};

type Fields = BTreeMap<String, String>;

/// Collects the fields of every statement span, in order of creation.
#[derive(Clone, Default)]
struct Spans(Arc<Mutex<Vec<(u64, Fields)>>>);

struct Collect<'a>(&'a mut Fields);

impl Visit for Collect<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
}

impl<S: tracing::Subscriber> Layer<S> for Spans {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, _: Context<'_, S>) {
        if attrs.metadata().target() != STATEMENT_TARGET {
            return;
        }
        let mut fields = Fields::new();
        attrs.record(&mut Collect(&mut fields));
        self.0.lock().unwrap().push((id.into_u64(), fields));
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, _: Context<'_, S>) {
        let mut spans = self.0.lock().unwrap();
        if let Some((_, fields)) = spans.iter_mut().rev().find(|(s, _)| *s == id.into_u64()) {
            values.record(&mut Collect(fields));
        }
    }
}

impl Spans {
    /// The fields of the spans created since the last call.
    fn take(&self) -> Vec<Fields> {
        let mut spans = self.0.lock().unwrap();
        spans.drain(..).map(|(_, fields)| fields).collect()
    }
}

fn engine_name(port: i32) -> String {
    match node_of(port) {
        Node::Primary => "primary".to_owned(),
        Node::Replica(index) => cluster().replicas()[index].name().to_owned(),
    }
}

fn field<'f>(fields: &'f Fields, name: &str) -> &'f str {
    fields.get(name).map_or("", String::as_str)
}

#[tokio::test]
async fn every_statement_has_a_span_naming_where_it_ran() {
    let spans = Spans::default();
    let _subscriber =
        tracing::subscriber::set_default(tracing_subscriber::registry().with(spans.clone()));
    let router = router_with(config_with(|c| c.trace_statement_text = 48)).await;
    let t = table(&router, "observe").await;
    spans.take();

    // A plain read, a write whose literal must not show, a streamed read, a failure.
    let port: i32 = sqlx::query_scalar("SELECT inet_server_port()")
        .fetch_one(&router)
        .await
        .unwrap();
    let read = spans.take();
    assert_eq!(read.len(), 1, "{read:?}");
    let read = &read[0];
    assert_eq!(field(read, "engine"), engine_name(port), "{read:?}");
    assert_eq!(field(read, "group"), "read");
    assert_eq!(field(read, "role"), "replica");
    assert_eq!(field(read, "reason"), "read");
    assert_eq!(field(read, "attempts"), "1");
    assert_eq!(field(read, "statement"), "SELECT inet_server_port()");

    let port: i32 = sqlx::query_scalar(sql(format!(
        "INSERT INTO {t} (note) VALUES ('pa55word-literal') RETURNING inet_server_port()"
    )))
    .fetch_one(&router)
    .await
    .unwrap();
    let write = &spans.take()[0];
    assert_eq!(node_of(port), Node::Primary);
    assert_eq!(field(write, "engine"), "primary", "{write:?}");
    assert_eq!(
        (field(write, "role"), field(write, "reason")),
        ("primary", "write")
    );
    let text = field(write, "statement");
    assert!(
        text.starts_with("INSERT INTO") && text.ends_with("..."),
        "{text}"
    );
    assert!(text.len() <= 48 + 3 && !text.contains("pa55word"), "{text}");

    let ports: Vec<i32> =
        sqlx::query_scalar("SELECT inet_server_port() FROM generate_series(1, 3)")
            .fetch_all(&router)
            .await
            .unwrap();
    let streamed = &spans.take()[0];
    assert_eq!(
        field(streamed, "engine"),
        engine_name(ports[0]),
        "{streamed:?}"
    );

    assert!(sqlx::query("SELECT 1 / 0").execute(&router).await.is_err());
    let failed = &spans.take()[0];
    assert_eq!(field(failed, "error"), "database", "{failed:?}");
    assert_eq!(field(failed, "role"), "replica");

    // A session: a read on a replica, then a write and a read in its transaction.
    let session = router.session();
    let port: i32 = sqlx::query_scalar("SELECT inet_server_port()")
        .fetch_one(&session)
        .await
        .unwrap();
    sqlx::query(sql(format!("INSERT INTO {t} (note) VALUES ('s')")))
        .execute(&session)
        .await
        .unwrap();
    let stuck: i32 = sqlx::query_scalar("SELECT inet_server_port()")
        .fetch_one(&session)
        .await
        .unwrap();
    session.commit().await.unwrap();
    let in_session = spans.take();
    assert_eq!(in_session.len(), 3, "{in_session:?}");
    assert!(
        field(&in_session[0], "unit").starts_with("session #"),
        "{in_session:?}"
    );
    assert_eq!(field(&in_session[0], "engine"), engine_name(port));
    assert_eq!(node_of(stuck), Node::Primary);
    for (fields, (in_transaction, reason)) in in_session[1..]
        .iter()
        .zip([("false", "write"), ("true", "sticky_after_write")])
    {
        assert_eq!(field(fields, "unit"), field(&in_session[0], "unit"));
        assert_eq!(field(fields, "engine"), "primary", "{fields:?}");
        assert_eq!(
            field(fields, "in_transaction"),
            in_transaction,
            "{fields:?}"
        );
        assert_eq!(field(fields, "reason"), reason, "{fields:?}");
    }

    // An explicit transaction: every statement in it, on the primary.
    let mut tx = router.begin().await.unwrap();
    let port: i32 = sqlx::query_scalar("SELECT inet_server_port()")
        .fetch_one(&mut tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let in_tx = &spans.take()[0];
    assert_eq!(node_of(port), Node::Primary);
    assert!(
        field(in_tx, "unit").starts_with("transaction #"),
        "{in_tx:?}"
    );
    assert_eq!(field(in_tx, "reason"), "transaction");
    assert_eq!(field(in_tx, "engine"), "primary");
}

#[tokio::test]
async fn statement_text_is_left_out_unless_asked_for() {
    let spans = Spans::default();
    let _subscriber =
        tracing::subscriber::set_default(tracing_subscriber::registry().with(spans.clone()));
    let router = crate::router().await;
    sqlx::query("SELECT 1").execute(&router).await.unwrap();
    let taken = spans.take();
    let span = taken.last().expect("a span");
    assert_eq!(field(span, "reason"), "read");
    assert!(!span.contains_key("statement"), "{span:?}");
}
