//! The reference design's documentation examples, with SeaORM entities and `Repository`, on
//! real PostgreSQL streaming replication started for this test binary. Where a read ran is
//! said by the server itself: entity `seen` maps a view whose `served_by` column is
//! `inet_server_port()` of the server that answered; `written_by` of the table is the port of
//! the server that inserted the row.

use dbroute::{
    PgRouter, ReplicaConfig, RoutingConfig, RoutingConfigBuilder, SqliteRouter, primary_context,
    replica_context, use_bind_group,
};
use dbroute_sea_orm::{
    Filter, PgSeaRouter, Repository, RepositoryError, SeaRouter, SqliteSeaRouter,
};
mod common;

use common::{cluster, is_replica, primary_port, replay, replica_port, serial};
use sea_orm::entity::prelude::*;
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::NotSet, ConnectionTrait, Order, QuerySelect, Set};

// SeaORM's derives make public items.
#[allow(unreachable_pub)]
mod user {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "repo_users")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        pub name: String,
        pub written_by: i32,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// The users as a server sees them: `served_by` is that server's port.
#[allow(unreachable_pub)]
mod seen {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "repo_users_seen")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        pub name: String,
        pub served_by: i32,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// The primary and both replicas as the read group, plus `analytics` (replica 2 alone) and
/// `reporting` (replica 1 alone), changed by `change`.
async fn connect(change: impl FnOnce(RoutingConfigBuilder) -> RoutingConfigBuilder) -> PgSeaRouter {
    let cluster = cluster();
    let [first, second] = [&cluster.replicas()[0], &cluster.replicas()[1]];
    let builder = RoutingConfig::builder()
        .group(
            "default",
            [ReplicaConfig::new(cluster.primary().url()).name("primary")],
        )
        .group(
            "read",
            [
                ReplicaConfig::new(first.url()).name(first.name()),
                ReplicaConfig::new(second.url()).name(second.name()),
            ],
        )
        .group(
            "analytics",
            [ReplicaConfig::new(second.url()).name("analytics-1")],
        )
        .group(
            "reporting",
            [ReplicaConfig::new(first.url()).name("reporting-1")],
        );
    let config = change(builder).build().unwrap();
    let db = SeaRouter::new(PgRouter::connect(&config).await.unwrap());
    db.execute_unprepared(
        "CREATE TABLE IF NOT EXISTS repo_users (id serial PRIMARY KEY, name text NOT NULL, \
           written_by int NOT NULL DEFAULT inet_server_port()); \
         CREATE OR REPLACE VIEW repo_users_seen AS \
           SELECT id, name, inet_server_port() AS served_by FROM repo_users; \
         TRUNCATE repo_users",
    )
    .await
    .unwrap();
    replay().await;
    db
}

fn named(name: &str) -> user::ActiveModel {
    user::ActiveModel {
        id: NotSet,
        name: Set(name.to_owned()),
        written_by: NotSet,
    }
}

/// Where `repo` reads: the port of the server that listed the users.
async fn served_by<C: dbroute_sea_orm::Connection>(repo: &Repository<seen::Entity, C>) -> i32 {
    let rows = repo.list(Filter::all()).await.unwrap();
    rows.first().expect("a user to read").served_by
}

/// Quick start: `repo.list()` on a replica; the write on the primary.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quick_start_lists_on_a_replica() {
    let _serial = serial().await;
    let db = connect(|b| b).await;
    let users = Repository::<user::Entity, _>::new(db.clone());
    let ada = users.add(named("Ada")).await.unwrap();
    assert_eq!(ada.written_by, primary_port());
    replay().await;
    let seen = Repository::<seen::Entity, _>::new(db.clone());
    for _ in 0..4 {
        assert!(is_replica(served_by(&seen).await));
    }
}

/// Sticky after write: in a session, a read after a write goes to the primary and sees it;
/// after commit, reads go back to replicas. (And with `sticky_after_write = false`, not.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sticky_after_write_until_commit() {
    let _serial = serial().await;
    let db = connect(|b| b).await;
    Repository::<user::Entity, _>::new(db.clone())
        .add(named("before"))
        .await
        .unwrap();
    replay().await;
    let session = db.session();
    let users = Repository::<user::Entity, _>::new(session.clone());
    let seen = Repository::<seen::Entity, _>::new(session.clone());
    let first = seen.list(Filter::all()).await.unwrap();
    assert!(
        is_replica(first[0].served_by),
        "reads before a write: a replica"
    );
    let alice = users.add(named("Alice")).await.unwrap();
    let again = seen.get(alice.id).await.unwrap();
    assert_eq!(
        again.served_by,
        primary_port(),
        "sticky: the primary, which sees it"
    );
    assert_eq!(users.get(alice.id).await.unwrap(), alice);
    session.commit().await.unwrap();
    replay().await;
    let after = seen.get(alice.id).await.unwrap();
    assert!(is_replica(after.served_by), "after commit: replicas again");
}

/// `FOR UPDATE` via SeaORM's `lock_exclusive()`: the primary.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn for_update_runs_on_the_primary() {
    let _serial = serial().await;
    let db = connect(|b| b).await;
    let ada = Repository::<user::Entity, _>::new(db.clone())
        .add(named("Ada"))
        .await
        .unwrap();
    replay().await;
    let locked: Option<i32> = user::Entity::find_by_id(ada.id)
        .select_only()
        .column_as(Expr::cust("inet_server_port()"), "port")
        .lock_exclusive()
        .into_tuple()
        .one(&db)
        .await
        .unwrap();
    assert_eq!(locked, Some(primary_port()));
}

/// Named groups: `use_bind_group` around a call, a repository's default group, a per-call
/// group; the per-call one beats the default, which beats the scope. An unknown group is an
/// error naming it, not a silent primary.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bind_groups_per_call_per_repository_and_per_scope() {
    let _serial = serial().await;
    let db = connect(|b| b).await;
    Repository::<user::Entity, _>::new(db.clone())
        .add(named("Ada"))
        .await
        .unwrap();
    replay().await;
    let (analytics, reporting) = (replica_port(1), replica_port(0));
    let seen = Repository::<seen::Entity, _>::new(db.clone());
    assert_eq!(
        use_bind_group("analytics", served_by(&seen)).await,
        analytics
    );
    assert_eq!(
        use_bind_group("reporting", served_by(&seen)).await,
        reporting
    );
    assert_eq!(served_by(&seen.bind_group("analytics")).await, analytics);
    let count = seen
        .bind_group("reporting")
        .count(Filter::all())
        .await
        .unwrap();
    assert_eq!(count, 1);
    let by_default = seen.bind_group("reporting");
    assert_eq!(served_by(&by_default).await, reporting);
    assert_eq!(
        served_by(&by_default.bind_group("analytics")).await,
        analytics,
        "per call"
    );
    let scoped = use_bind_group("analytics", served_by(&by_default)).await;
    assert_eq!(
        scoped, reporting,
        "the repository's default beats the scope"
    );
    let unknown = seen.bind_group("warehouse").list(Filter::all()).await;
    match unknown {
        Err(RepositoryError::UnknownGroup(message)) => {
            assert!(message.contains("warehouse"), "{message}")
        }
        other => panic!("an unknown group must be an error: {other:?}"),
    }
    // Writes ignore read groups: the primary.
    let written = use_bind_group("analytics", async {
        Repository::<user::Entity, _>::new(db.clone())
            .add(named("Bo"))
            .await
    })
    .await
    .unwrap();
    assert_eq!(written.written_by, primary_port());
}

/// `primary_context` forces reads to the primary; `replica_context` sends a sticky session's
/// read to a replica.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn primary_and_replica_contexts() {
    let _serial = serial().await;
    let db = connect(|b| b).await;
    let ada = Repository::<user::Entity, _>::new(db.clone())
        .add(named("Ada"))
        .await
        .unwrap();
    replay().await;
    let seen = Repository::<seen::Entity, _>::new(db.clone());
    let critical = primary_context(seen.get(ada.id)).await.unwrap();
    assert_eq!(critical.served_by, primary_port());
    let session = db.session();
    Repository::<user::Entity, _>::new(session.clone())
        .add(named("Cy"))
        .await
        .unwrap();
    let in_session = Repository::<seen::Entity, _>::new(session.clone());
    assert_eq!(served_by(&in_session).await, primary_port(), "sticky");
    let forced = replica_context(served_by(&in_session)).await;
    assert!(is_replica(forced), "replica_context even when sticky");
    session.rollback().await.unwrap();
}

/// `enabled = false`: everything on the primary.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routing_disabled_sends_everything_to_the_primary() {
    let _serial = serial().await;
    let db = connect(|b| b.enabled(false)).await;
    let ada = Repository::<user::Entity, _>::new(db.clone())
        .add(named("Ada"))
        .await
        .unwrap();
    assert_eq!(ada.written_by, primary_port());
    let seen = Repository::<seen::Entity, _>::new(db.clone());
    assert_eq!(served_by(&seen).await, primary_port());
    assert_eq!(
        served_by(&seen.bind_group("analytics")).await,
        primary_port()
    );
}

/// Every method of the repository, with its results and errors, in one unit of work (so every
/// read sees the writes before it); what is left after it commits.
async fn every_method<C>(users: Repository<user::Entity, C>, commit: impl AsyncFnOnce())
where
    C: dbroute_sea_orm::Connection,
{
    let added = users
        .add_many([named("Cy"), named("Ada"), named("Bo")])
        .await
        .unwrap();
    assert_eq!(added.len(), 3);
    let by_name = Filter::all().order_by(user::Column::Name, Order::Asc);
    let names = |rows: Vec<user::Model>| rows.into_iter().map(|u| u.name).collect::<Vec<_>>();
    assert_eq!(
        names(users.list(by_name.clone()).await.unwrap()),
        ["Ada", "Bo", "Cy"]
    );
    let (page, total) = users
        .list_and_count(by_name.clone().limit(2))
        .await
        .unwrap();
    assert_eq!(
        (names(page), total),
        (vec!["Ada".to_owned(), "Bo".to_owned()], 3)
    );
    let ada = users
        .get_one(Filter::all().filter(user::Column::Name.eq("Ada")))
        .await
        .unwrap();
    assert_eq!(users.get(ada.id).await.unwrap(), ada);
    assert!(matches!(
        users.get(-1).await,
        Err(RepositoryError::NotFound {
            entity: "repo_users",
            ..
        })
    ));
    let none = Filter::all().filter(user::Column::Name.eq("Nobody"));
    assert_eq!(users.get_one_or_none(none.clone()).await.unwrap(), None);
    assert!(matches!(
        users.get_one(none.clone()).await,
        Err(RepositoryError::NotFound { .. })
    ));
    assert!(matches!(
        users.get_one_or_none(Filter::all()).await,
        Err(RepositoryError::NotUnique { .. })
    ));
    assert!(users.exists(Filter::all()).await.unwrap());
    assert!(!users.exists(none).await.unwrap());
    assert_eq!(
        users.count(Filter::all().limit(1)).await.unwrap(),
        3,
        "counts ignore limits"
    );

    let renamed = users
        .update(user::ActiveModel {
            id: Set(ada.id),
            name: Set("Ada L.".into()),
            written_by: NotSet,
        })
        .await
        .unwrap();
    assert_eq!(renamed.name, "Ada L.");
    let changes = user::ActiveModel {
        name: Set("B".into()),
        ..Default::default()
    };
    let short = Filter::all().filter(user::Column::Name.is_in(["Bo", "Cy"]));
    assert_eq!(users.update_many(changes, short).await.unwrap(), 2);
    let upserted = users
        .upsert(user::ActiveModel {
            id: Set(ada.id),
            name: Set("Ada Lovelace".into()),
            written_by: NotSet,
        })
        .await
        .unwrap();
    assert_eq!(
        (upserted.id, upserted.name.as_str()),
        (ada.id, "Ada Lovelace")
    );
    let inserted = users
        .upsert(user::ActiveModel {
            id: Set(ada.id + 1000),
            name: Set("Dee".into()),
            written_by: NotSet,
        })
        .await
        .unwrap();
    assert_eq!(users.count(Filter::all()).await.unwrap(), 4);
    assert_eq!(users.delete(inserted.id).await.unwrap(), inserted);
    assert!(matches!(
        users.delete(inserted.id).await,
        Err(RepositoryError::NotFound { .. })
    ));
    let bs = Filter::all().filter(user::Column::Name.eq("B"));
    assert_eq!(users.delete_many(bs).await.unwrap(), 2);
    commit().await;
    let left = users.list(Filter::all()).await.unwrap();
    assert_eq!(names(left), ["Ada Lovelace"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_method_on_postgres() {
    let _serial = serial().await;
    let db = connect(|b| b).await;
    let session = db.session();
    let users = Repository::<user::Entity, _>::new(session.clone());
    every_method(users, async || session.commit().await.unwrap()).await;
    let primary = db.router().primary();
    let left: Vec<String> = sqlx::query_scalar("SELECT name FROM repo_users")
        .fetch_all(primary)
        .await
        .unwrap();
    assert_eq!(left, ["Ada Lovelace"], "committed on the primary");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_method_on_the_sqlite_default() {
    let dir = tempfile::tempdir().unwrap();
    let config = RoutingConfig::sqlite(dir.path().join("repo.db"));
    let db: SqliteSeaRouter = SqliteRouter::connect(&config).await.unwrap().into();
    db.execute_unprepared(
        "CREATE TABLE repo_users (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, \
         written_by INTEGER NOT NULL DEFAULT 0)",
    )
    .await
    .unwrap();
    let session = db.session();
    let users = Repository::<user::Entity, _>::new(session.clone());
    every_method(users, async || session.commit().await.unwrap()).await;
    // Outside the session, the reader sees the committed rows.
    let on_reader = Repository::<user::Entity, _>::new(db.clone());
    assert_eq!(on_reader.count(Filter::all()).await.unwrap(), 1);
}
