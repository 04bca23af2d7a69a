//! Unchanged SeaORM code on a dbroute router, against real PostgreSQL streaming replication
//! (started for this test binary) and the embedded SQLite default. Where a statement ran is
//! asked of the server (`inet_server_port()`), never taken from the router.

use dbroute::{PgRouter, ReplicaConfig, RoutingConfig, SqliteRouter};
use dbroute_sea_orm::{PgSeaRouter, SeaRouter, SqliteSeaRouter};
mod common;

use common::{cluster, is_replica, primary_port, replay, serial};
use futures_util::TryStreamExt;
use sea_orm::entity::prelude::*;
use sea_orm::sea_query::Expr;
use sea_orm::{
    AccessMode, ActiveValue::NotSet, ConnectionTrait, IsolationLevel, QuerySelect, Set, SqlErr,
    Statement, TransactionError, TransactionSession, TransactionTrait,
};

// SeaORM's derives make public items.
#[allow(unreachable_pub)]
mod note {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "sea_notes")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        pub body: String,
        /// Where the row was written: the column's default is the server's port.
        pub port: i32,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Posts and their comments: `find_with_related` joins them.
#[allow(unreachable_pub)]
mod post {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "sea_posts")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        pub title: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {
        #[sea_orm(has_many = "super::comment::Entity")]
        Comment,
    }

    impl Related<super::comment::Entity> for Entity {
        fn to() -> RelationDef {
            Relation::Comment.def()
        }
    }

    impl ActiveModelBehavior for ActiveModel {}
}

#[allow(unreachable_pub)]
mod comment {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "sea_comments")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        pub post_id: i32,
        pub body: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {
        #[sea_orm(
            belongs_to = "super::post::Entity",
            from = "Column::PostId",
            to = "super::post::Column::Id"
        )]
        Post,
    }

    impl Related<super::post::Entity> for Entity {
        fn to() -> RelationDef {
            Relation::Post.def()
        }
    }

    impl ActiveModelBehavior for ActiveModel {}
}

/// `find_with_related` and pagination through `db` (tables made by `ddl`).
async fn related_and_pages<C: ConnectionTrait + TransactionTrait>(db: &C, ddl: &str) {
    db.execute_unprepared(ddl).await.unwrap();
    let post = post::ActiveModel {
        id: Set(1),
        title: Set("first".into()),
    }
    .insert(db)
    .await
    .unwrap();
    let comments = (1..=5).map(|i| comment::ActiveModel {
        id: Set(i),
        post_id: Set(post.id),
        body: Set(format!("comment {i}")),
    });
    comment::Entity::insert_many(comments)
        .exec(db)
        .await
        .unwrap();
    let joined = post::Entity::find()
        .find_with_related(comment::Entity)
        .all(db)
        .await
        .unwrap();
    assert_eq!(joined.len(), 1);
    assert_eq!(joined[0].1.len(), 5);
    let pages = comment::Entity::find().paginate(db, 2);
    assert_eq!(pages.num_items().await.unwrap(), 5);
    assert_eq!(pages.num_pages().await.unwrap(), 3);
    let last = pages.fetch_page(2).await.unwrap();
    assert_eq!(last.len(), 1);
}

async fn postgres() -> PgSeaRouter {
    let cluster = cluster();
    let config = cluster
        .replicas()
        .iter()
        .fold(
            RoutingConfig::builder().primary(cluster.primary().url()),
            |b, r| b.replica(ReplicaConfig::new(r.url()).name(r.name())),
        )
        .build()
        .unwrap();
    let db = SeaRouter::new(PgRouter::connect(&config).await.unwrap());
    db.execute_unprepared(
        "CREATE TABLE IF NOT EXISTS sea_notes (id serial PRIMARY KEY, body text NOT NULL, \
         port int NOT NULL DEFAULT inet_server_port())",
    )
    .await
    .unwrap();
    replay().await;
    db
}

fn new_note(body: &str) -> note::ActiveModel {
    note::ActiveModel {
        id: NotSet,
        body: Set(body.to_owned()),
        port: NotSet,
    }
}

/// The port of the server that runs a SeaORM select of note `id` (through `C`).
async fn port_of<C: ConnectionTrait>(db: &C, id: i32) -> Option<i32> {
    note::Entity::find_by_id(id)
        .select_only()
        .column_as(Expr::cust("inet_server_port()"), "port")
        .into_tuple::<i32>()
        .one(db)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entity_reads_on_replicas_and_writes_with_returning_on_the_primary() {
    let _serial = serial().await;
    let db = postgres().await;
    // `insert` is an INSERT ... RETURNING, sent as a query: it ran on the primary.
    let written = new_note("hello").insert(&db).await.unwrap();
    assert_eq!(written.port, primary_port());
    replay().await;

    let read_on = port_of(&db, written.id).await.unwrap();
    assert!(is_replica(read_on), "a plain find: {read_on}");
    let all = note::Entity::find().all(&db).await.unwrap();
    assert!(all.contains(&written));
    let locked = note::Entity::find_by_id(written.id)
        .select_only()
        .column_as(Expr::cust("inet_server_port()"), "port")
        .lock_exclusive()
        .into_tuple::<i32>()
        .one(&db)
        .await
        .unwrap();
    assert_eq!(locked, Some(primary_port()), "FOR UPDATE: the primary");

    let ports: Vec<i32> = note::Entity::find()
        .select_only()
        .column_as(Expr::cust("inet_server_port()"), "port")
        .into_tuple::<i32>()
        .stream(&db)
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert!(!ports.is_empty() && ports.iter().all(|p| is_replica(*p)));

    let updated = note::Entity::update_many()
        .col_expr(note::Column::Body, Expr::value("changed"))
        .filter(note::Column::Id.eq(written.id))
        .exec(&db)
        .await
        .unwrap();
    assert_eq!(updated.rows_affected, 1, "a replica would have refused it");
    let primary = db.router().primary();
    let body: String = sqlx::query_scalar("SELECT body FROM sea_notes WHERE id = $1")
        .bind(written.id)
        .fetch_one(primary)
        .await
        .unwrap();
    assert_eq!(body, "changed");
    let deleted = note::Entity::delete_by_id(written.id)
        .exec(&db)
        .await
        .unwrap();
    assert_eq!(deleted.rows_affected, 1);

    // The router's errors are SeaORM's: a duplicate key is a unique violation.
    let twice = note::ActiveModel {
        id: Set(written.id + 1_000_000),
        ..new_note("twice")
    };
    twice.clone().insert(&db).await.unwrap();
    let error = twice.insert(&db).await.unwrap_err();
    assert!(
        matches!(error.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))),
        "{error:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transactions_are_dbroute_transactions() {
    let _serial = serial().await;
    let db = postgres().await;
    // A callback's statements run in one primary transaction, committed on Ok.
    let (note, port) = db
        .transaction::<_, _, DbErr>(|txn| {
            Box::pin(async move {
                let note = new_note("in a transaction").insert(txn).await?;
                let port = port_of(txn, note.id).await;
                Ok((note, port))
            })
        })
        .await
        .unwrap();
    assert_eq!(
        port,
        Some(primary_port()),
        "it sees its own uncommitted row"
    );
    replay().await;
    assert!(port_of(&db, note.id).await.is_some(), "committed");

    // An Err rolls it back.
    let failed = db
        .transaction::<_, (), String>(|txn| {
            Box::pin(async move {
                new_note("rolled back").insert(txn).await.unwrap();
                Err("no".to_owned())
            })
        })
        .await;
    assert!(matches!(failed, Err(TransactionError::Transaction(ref e)) if e == "no"));
    let rolled_back: i64 =
        sqlx::query_scalar("SELECT count(*) FROM sea_notes WHERE body = 'rolled back'")
            .fetch_one(db.router().primary())
            .await
            .unwrap();
    assert_eq!(rolled_back, 0);

    // Nested `begin` is a savepoint: its rollback keeps the outer transaction's row.
    let outer = db.begin().await.unwrap();
    let kept = new_note("outer").insert(&outer).await.unwrap();
    let inner = outer.begin().await.unwrap();
    new_note("inner").insert(&inner).await.unwrap();
    inner.rollback().await.unwrap();
    outer.commit().await.unwrap();
    let bodies: Vec<String> = sqlx::query_scalar(
        "SELECT body FROM sea_notes WHERE id >= $1 AND body IN ('outer', 'inner')",
    )
    .bind(kept.id)
    .fetch_all(db.router().primary())
    .await
    .unwrap();
    assert_eq!(bodies, ["outer"]);

    // Read-only: where reads go (a replica), and writes inside fail.
    let snapshot = db
        .begin_with_config(None, Some(AccessMode::ReadOnly))
        .await
        .unwrap();
    let on = port_of(&snapshot, kept.id).await.unwrap();
    assert!(is_replica(on), "{on}");
    assert!(new_note("refused").insert(&snapshot).await.is_err());
    snapshot.rollback().await.unwrap();

    // An isolation level is set on the transaction; a savepoint refuses one.
    let serializable = db
        .begin_with_config(Some(IsolationLevel::Serializable), None)
        .await
        .unwrap();
    let backend = serializable.get_database_backend();
    let row = serializable
        .query_one_raw(Statement::from_string(
            backend,
            "SHOW transaction_isolation",
        ))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        row.try_get::<String>("", "transaction_isolation").unwrap(),
        "serializable"
    );
    let nested = serializable
        .begin_with_config(Some(IsolationLevel::ReadCommitted), None)
        .await;
    assert!(matches!(nested, Err(DbErr::Custom(ref m)) if m.contains("savepoint")));
    serializable.rollback().await.unwrap();
}

/// A SeaORM transaction is dbroute's: its commit is seen, so with replay paused (no replica
/// can have the row) the read that follows finds it, on the primary, after `max_wait`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_committed_transaction_is_read_back_with_replay_paused() {
    let _serial = serial().await;
    let db = postgres().await;
    let paused = cluster().pause_all_replay().unwrap();
    for round in 0..5 {
        let txn = db.begin().await.unwrap();
        let note = new_note(&format!("paused {round}"))
            .insert(&txn)
            .await
            .unwrap();
        txn.commit().await.unwrap();
        let found = note::Entity::find_by_id(note.id).one(&db).await.unwrap();
        assert_eq!(found, Some(note.clone()), "read back after commit");
        assert_eq!(port_of(&db, note.id).await, Some(primary_port()));
    }
    drop(paused);
}

/// Migrations take a concrete `DatabaseConnection`: `primary_connection()` is one, on the
/// primary's pool.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_primary_connection_for_migrations() {
    let _serial = serial().await;
    let db = postgres().await;
    let conn: sea_orm::DatabaseConnection = db.primary_connection();
    let backend = conn.get_database_backend();
    conn.execute_unprepared("CREATE TABLE IF NOT EXISTS sea_migrated (id int)")
        .await
        .unwrap();
    for _ in 0..3 {
        let row = conn
            .query_one_raw(Statement::from_string(
                backend,
                "SELECT inet_server_port() AS port",
            ))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(row.try_get::<i32>("", "port").unwrap(), primary_port());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_reads_its_own_writes() {
    let _serial = serial().await;
    let db = postgres().await;
    let session = db.session();
    let before = note::Entity::find()
        .select_only()
        .column_as(Expr::cust("inet_server_port()"), "port")
        .into_tuple::<i32>()
        .one(&session)
        .await
        .unwrap();
    if let Some(port) = before {
        assert!(is_replica(port), "before its first write: a replica");
    }
    let written = new_note("in a session").insert(&session).await.unwrap();
    assert_eq!(written.port, primary_port());
    assert_eq!(
        port_of(&session, written.id).await,
        Some(primary_port()),
        "sticky"
    );
    session.session().commit().await.unwrap();
    replay().await;
    let after = port_of(&session, written.id).await.unwrap();
    assert!(is_replica(after), "after commit: replicas again ({after})");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_code_on_the_sqlite_default() {
    let dir = tempfile::tempdir().unwrap();
    let router = SqliteRouter::connect(&RoutingConfig::sqlite(dir.path().join("sea.db")))
        .await
        .unwrap();
    let db: SqliteSeaRouter = router.into();
    db.execute_unprepared(
        "CREATE TABLE sea_notes (id INTEGER PRIMARY KEY AUTOINCREMENT, body TEXT NOT NULL, \
         port INTEGER NOT NULL DEFAULT 0)",
    )
    .await
    .unwrap();
    let written = new_note("hello").insert(&db).await.unwrap();
    assert_eq!(written.body, "hello");
    let found = note::Entity::find_by_id(written.id).one(&db).await.unwrap();
    assert_eq!(found, Some(written.clone()));
    let streamed: Vec<note::Model> = note::Entity::find()
        .stream(&db)
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(streamed, std::slice::from_ref(&written));
    let kept = db
        .transaction::<_, _, DbErr>(|txn| {
            Box::pin(async move { new_note("kept").insert(txn).await })
        })
        .await
        .unwrap();
    let gone = db
        .transaction::<_, (), DbErr>(|txn| {
            Box::pin(async move {
                new_note("gone").insert(txn).await?;
                Err(DbErr::Custom("undo".into()))
            })
        })
        .await;
    assert!(gone.is_err());
    let bodies: Vec<String> = note::Entity::find()
        .all(&db)
        .await
        .unwrap()
        .into_iter()
        .map(|n| n.body)
        .collect();
    assert_eq!(bodies, ["hello", "kept"]);
    assert_eq!(kept.body, "kept");
    // A read-only transaction is on the reader, which refuses writes.
    let reader = db
        .begin_with_config(None, Some(AccessMode::ReadOnly))
        .await
        .unwrap();
    assert_eq!(note::Entity::find().count(&reader).await.unwrap(), 2);
    assert!(new_note("refused").insert(&reader).await.is_err());
    reader.rollback().await.unwrap();
    let updated = note::Entity::update_many()
        .col_expr(note::Column::Body, Expr::value("x"))
        .exec(&db)
        .await
        .unwrap();
    assert_eq!(updated.rows_affected, 2);
    related_and_pages(
        &db,
        "CREATE TABLE sea_posts (id INTEGER PRIMARY KEY, title TEXT NOT NULL); \
         CREATE TABLE sea_comments (id INTEGER PRIMARY KEY, post_id INTEGER NOT NULL, \
           body TEXT NOT NULL)",
    )
    .await;
}

/// `find_with_related` and pagination on the cluster, in a session (so the reads after the
/// writes see them).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn related_entities_and_pages_on_postgres() {
    let _serial = serial().await;
    let db = postgres().await;
    let session = db.session();
    related_and_pages(
        &session,
        "DROP TABLE IF EXISTS sea_comments, sea_posts; \
         CREATE TABLE sea_posts (id int PRIMARY KEY, title text NOT NULL); \
         CREATE TABLE sea_comments (id int PRIMARY KEY, post_id int NOT NULL REFERENCES sea_posts, \
           body text NOT NULL)",
    )
    .await;
    session.commit().await.unwrap();
}
