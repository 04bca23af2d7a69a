//! The statement corpus shared by the differential test, the standby test and the benches.
//!
//! Base statements come from several sources, all written for this project:
//! web-application queries over a small shop schema ([`PG_SCHEMA`]), the pgbench TPC-B script,
//! TPC-H-style reports, the shapes of SQL that ORMs (SeaORM, Diesel, ActiveRecord) emit, job
//! queues, the tricky cases of the classifier issue, and MySQL and SQLite specifics. Each base
//! statement is then varied (case, comments, whitespace, parentheses, literals that look like
//! code) to give well over 1,000 texts.

#![allow(dead_code, unreachable_pub)]

use dbroute::Dialect;

/// The schema the PostgreSQL statements run against (the standby test creates it).
pub const PG_SCHEMA: &str = "
DROP SCHEMA IF EXISTS corpus CASCADE;
CREATE SCHEMA corpus;
SET search_path = corpus;
CREATE TABLE orgs (id bigserial PRIMARY KEY, name text NOT NULL);
CREATE TABLE users (id bigserial PRIMARY KEY, email text UNIQUE, name text, status text DEFAULT 'active',
    org_id bigint, created_at timestamptz DEFAULT now(), deleted_at timestamptz);
CREATE TABLE orders (id bigserial PRIMARY KEY, user_id bigint, total numeric(12,2), status text,
    placed_at timestamptz DEFAULT now());
CREATE TABLE order_items (order_id bigint, sku text, qty int, price numeric(12,2));
CREATE TABLE accounts (id bigint PRIMARY KEY, balance numeric, owner text);
CREATE TABLE events (id bigserial PRIMARY KEY, kind text, payload jsonb, at timestamptz DEFAULT now());
CREATE TABLE jobs (id bigserial PRIMARY KEY, queue text, state text, run_at timestamptz, attempts int DEFAULT 0);
CREATE TABLE pgbench_accounts (aid int PRIMARY KEY, bid int, abalance int, filler text);
CREATE TABLE pgbench_branches (bid int PRIMARY KEY, bbalance int, filler text);
CREATE TABLE pgbench_tellers (tid int PRIMARY KEY, bid int, tbalance int, filler text);
CREATE TABLE pgbench_history (tid int, bid int, aid int, delta int, mtime timestamp, filler text);
CREATE SEQUENCE order_numbers;
CREATE VIEW active_users AS SELECT * FROM users WHERE deleted_at IS NULL;
INSERT INTO orgs (name) VALUES ('acme'), ('globex');
INSERT INTO users (email, name, org_id) SELECT 'u' || g || '@x.test', 'user ' || g, 1 + g % 2 FROM generate_series(1, 50) g;
INSERT INTO orders (user_id, total, status) SELECT 1 + g % 50, g * 1.5, 'paid' FROM generate_series(1, 200) g;
INSERT INTO order_items SELECT id, 'sku-' || id, 1, total FROM orders;
INSERT INTO accounts SELECT g, 100, 'user ' || g FROM generate_series(1, 10) g;
INSERT INTO jobs (queue, state, run_at) SELECT 'default', 'ready', now() FROM generate_series(1, 20);
INSERT INTO pgbench_accounts SELECT g, 1, 0, '' FROM generate_series(1, 100) g;
INSERT INTO pgbench_branches VALUES (1, 0, '');
INSERT INTO pgbench_tellers SELECT g, 1, 0, '' FROM generate_series(1, 10) g;
";

/// PostgreSQL statements valid against [`PG_SCHEMA`] (with `search_path = corpus`).
pub const PG_BASE: &[&str] = &[
    // Web application reads.
    "SELECT id, email, name FROM users WHERE id = 1",
    "SELECT * FROM users WHERE email = 'u1@x.test' AND deleted_at IS NULL",
    "SELECT count(*) FROM users",
    "SELECT u.name, count(o.id) FROM users u LEFT JOIN orders o ON o.user_id = u.id GROUP BY u.name ORDER BY 2 DESC LIMIT 10",
    "SELECT * FROM orders WHERE user_id = 3 ORDER BY placed_at DESC LIMIT 20 OFFSET 40",
    "SELECT DISTINCT status FROM orders",
    "SELECT o.id, sum(i.qty * i.price) AS amount FROM orders o JOIN order_items i ON i.order_id = o.id GROUP BY o.id HAVING sum(i.qty) > 0",
    "SELECT EXISTS (SELECT 1 FROM users WHERE email = 'a@b.c')",
    "SELECT id FROM users WHERE id IN (SELECT user_id FROM orders WHERE total > 100)",
    "SELECT name, coalesce(status, 'none') FROM users WHERE name ILIKE '%user 1%'",
    "SELECT date_trunc('day', placed_at) AS day, sum(total) FROM orders GROUP BY 1 ORDER BY 1",
    "SELECT id, total, rank() OVER (PARTITION BY user_id ORDER BY total DESC) FROM orders",
    "SELECT payload->>'kind' FROM events WHERE payload @> '{\"a\": 1}'",
    "SELECT now(), current_user, version()",
    "SELECT * FROM active_users WHERE org_id = 2",
    "SELECT 1",
    "VALUES (1, 'one'), (2, 'two')",
    "TABLE orgs",
    "SHOW search_path",
    "SELECT replace(name, 'user', 'customer'), upper(email), length(name) FROM users",
    "SELECT substring(email FROM 1 FOR 3) FROM users",
    "SELECT random() < 0.5",
    "SELECT id FROM users ORDER BY id FETCH FIRST 5 ROWS ONLY",
    "SELECT * FROM users u WHERE NOT EXISTS (SELECT 1 FROM orders o WHERE o.user_id = u.id)",
    "SELECT org_id, array_agg(name ORDER BY name) FROM users GROUP BY org_id",
    "SELECT name FROM users UNION SELECT name FROM orgs",
    "SELECT id FROM users EXCEPT SELECT user_id FROM orders",
    "SELECT id FROM users INTERSECT SELECT user_id FROM orders",
    "WITH big AS (SELECT * FROM orders WHERE total > 100) SELECT count(*) FROM big",
    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 10) SELECT sum(i) FROM n",
    "SELECT 'DELETE FROM users' AS harmless",
    "SELECT $$INSERT INTO users$$ AS harmless",
    "SELECT \"id\", \"name\" FROM \"users\" WHERE \"status\" = 'active'",
    "SELECT currval_like.x FROM (SELECT 1 AS x) currval_like",
    "EXPLAIN SELECT * FROM users WHERE id = 1",
    "EXPLAIN (COSTS OFF) SELECT count(*) FROM orders",
    "EXPLAIN ANALYZE SELECT count(*) FROM orders",
    // pgbench (TPC-B) script.
    "SELECT abalance FROM pgbench_accounts WHERE aid = 7",
    "UPDATE pgbench_accounts SET abalance = abalance + 5 WHERE aid = 7",
    "UPDATE pgbench_tellers SET tbalance = tbalance + 5 WHERE tid = 3",
    "UPDATE pgbench_branches SET bbalance = bbalance + 5 WHERE bid = 1",
    "INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (3, 1, 7, 5, CURRENT_TIMESTAMP)",
    // TPC-H-style reports.
    "SELECT status, sum(total) AS revenue, avg(total), count(*) FROM orders WHERE placed_at > now() - interval '30 days' GROUP BY status ORDER BY revenue DESC",
    "SELECT u.org_id, sum(i.price * i.qty) FROM users u JOIN orders o ON o.user_id = u.id JOIN order_items i ON i.order_id = o.id GROUP BY u.org_id",
    "SELECT sku, sum(qty) FROM order_items GROUP BY sku HAVING sum(qty) > 1 ORDER BY 2 DESC LIMIT 100",
    // ORM shapes (SeaORM / Diesel / ActiveRecord on PostgreSQL).
    "SELECT \"users\".\"id\", \"users\".\"email\" FROM \"users\" WHERE \"users\".\"id\" = $1 LIMIT $2",
    "SELECT \"orders\".* FROM \"orders\" WHERE \"orders\".\"user_id\" = $1 ORDER BY \"orders\".\"id\" ASC",
    "SELECT COUNT(*) AS \"num_items\" FROM (SELECT \"users\".\"id\" FROM \"users\") AS \"sub_query\"",
    "INSERT INTO \"users\" (\"email\", \"name\") VALUES ($1, $2) RETURNING \"id\", \"email\", \"name\"",
    "UPDATE \"users\" SET \"name\" = $1 WHERE \"users\".\"id\" = $2 RETURNING \"id\"",
    "DELETE FROM \"users\" WHERE \"users\".\"id\" = $1",
    "INSERT INTO orders (user_id, total, status) VALUES (1, 10, 'new') ON CONFLICT DO NOTHING",
    "INSERT INTO accounts (id, balance, owner) VALUES (99, 0, 'x') ON CONFLICT (id) DO UPDATE SET balance = excluded.balance",
    // Writes and locks.
    "DELETE FROM events WHERE at < now() - interval '90 days'",
    "UPDATE jobs SET state = 'running', attempts = attempts + 1 WHERE id = 1",
    "SELECT * FROM jobs WHERE state = 'ready' ORDER BY run_at LIMIT 10 FOR UPDATE SKIP LOCKED",
    "SELECT * FROM accounts WHERE id = 1 FOR UPDATE",
    "SELECT * FROM accounts WHERE id = 1 FOR NO KEY UPDATE NOWAIT",
    "SELECT * FROM accounts WHERE id = 1 FOR SHARE",
    "SELECT * FROM accounts WHERE id = 1 FOR KEY SHARE",
    "SELECT * FROM accounts a JOIN users u ON u.id = a.id FOR UPDATE OF a",
    "SELECT * FROM (SELECT * FROM accounts FOR UPDATE) locked",
    "WITH moved AS (DELETE FROM jobs WHERE state = 'done' RETURNING *) SELECT count(*) FROM moved",
    "WITH upd AS (UPDATE accounts SET balance = balance - 1 WHERE id = 2 RETURNING id) SELECT * FROM upd",
    "WITH ins AS (INSERT INTO events (kind) VALUES ('x') RETURNING id) SELECT id FROM ins",
    "WITH a AS (SELECT 1), b AS (DELETE FROM events WHERE false RETURNING 1) SELECT * FROM a",
    "SELECT * INTO orders_copy FROM orders",
    "SELECT nextval('order_numbers')",
    "SELECT setval('order_numbers', 10)",
    "SELECT pg_advisory_lock(42)",
    "SELECT pg_try_advisory_xact_lock(42)",
    "SELECT pg_notify('channel', 'payload')",
    "SELECT set_config('app.user', '7', false)",
    "SELECT txid_current()",
    "SELECT lo_create(0)",
    "MERGE INTO accounts a USING (SELECT 1 AS id) s ON a.id = s.id WHEN MATCHED THEN UPDATE SET balance = 0",
    "TRUNCATE events",
    "COPY orders FROM STDIN",
    "COPY (SELECT * FROM orders) TO STDOUT",
    "COPY orders TO STDOUT",
    "COPY orders (id, total) TO STDOUT WITH (FORMAT csv, HEADER)",
    "COPY (DELETE FROM events WHERE id < 0 RETURNING *) TO STDOUT",
    "EXPLAIN (FORMAT JSON) UPDATE accounts SET balance = balance + 1 WHERE id = 1",
    "EXPLAIN INSERT INTO events (kind) VALUES ('x')",
    "EXPLAIN (ANALYZE) INSERT INTO events (kind) VALUES ('x')",
    "CREATE TABLE t_new (id int)",
    "ALTER TABLE users ADD COLUMN nickname text",
    "DROP TABLE IF EXISTS t_new",
    "CREATE INDEX ON orders (user_id)",
    "GRANT SELECT ON users TO PUBLIC",
    "VACUUM ANALYZE orders",
    "ANALYZE users",
    "REFRESH MATERIALIZED VIEW mv",
    "BEGIN",
    "BEGIN ISOLATION LEVEL SERIALIZABLE",
    "COMMIT",
    "ROLLBACK",
    "SAVEPOINT s1",
    "RELEASE SAVEPOINT s1",
    "SET search_path = corpus",
    "SET LOCAL statement_timeout = '5s'",
    "RESET ALL",
    "LISTEN jobs",
    "NOTIFY jobs, 'go'",
    "UNLISTEN *",
    "PREPARE q AS SELECT 1",
    "EXECUTE q",
    "DEALLOCATE q",
    "DECLARE c CURSOR FOR SELECT * FROM users",
    "FETCH 10 FROM c",
    "CLOSE c",
    "LOCK TABLE accounts IN ACCESS EXCLUSIVE MODE",
    "CALL do_thing(1)",
    "DO $$ BEGIN PERFORM 1; END $$",
    "DISCARD ALL",
    "EXPLAIN ANALYZE DELETE FROM events",
    "EXPLAIN DELETE FROM events",
    // Planned, not run (a hot standby plans them), and run (it refuses them).
    "EXPLAIN CREATE TABLE events_copy AS SELECT * FROM events",
    "EXPLAIN (COSTS OFF) CREATE MATERIALIZED VIEW order_totals AS SELECT user_id, sum(total) FROM orders GROUP BY user_id",
    "EXPLAIN SELECT * FROM jobs WHERE state = 'ready' FOR UPDATE SKIP LOCKED",
    "EXPLAIN SELECT nextval('order_numbers')",
    "EXPLAIN (VERBOSE) WITH gone AS (DELETE FROM events RETURNING id) SELECT count(*) FROM gone",
    "EXPLAIN ANALYZE SELECT nextval('order_numbers')",
    "EXPLAIN ANALYZE SELECT * FROM jobs FOR UPDATE",
    "SELECT 1; SELECT 2",
    "SELECT 1; DELETE FROM events",
    "INSERT INTO events (kind) VALUES ('a'); SELECT currval('events_id_seq')",
];

/// MySQL / MariaDB statements.
pub const MYSQL_BASE: &[&str] = &[
    "SELECT id, email FROM users WHERE id = 1",
    "SELECT `id`, `name` FROM `users` WHERE `status` = 'active' LIMIT 10",
    "SELECT COUNT(*) FROM orders WHERE total > 10",
    "SELECT * FROM users u JOIN orders o ON o.user_id = u.id WHERE u.id = ? ORDER BY o.id DESC",
    "SELECT insert('abcdef', 2, 3, 'xyz')",
    "SELECT replace(name, 'a', 'b') FROM users",
    "SELECT 'it\\'s; DELETE FROM users' AS s",
    "SELECT \"double quoted string\" AS s",
    "SELECT 1 # DELETE FROM users",
    "SELECT 1 -- DELETE FROM users",
    "SELECT NOW(), DATABASE(), VERSION()",
    "SHOW TABLES",
    "SHOW VARIABLES LIKE 'max%'",
    "DESCRIBE users",
    "EXPLAIN SELECT * FROM users",
    "SELECT * FROM users WHERE id = 1 FOR UPDATE",
    "SELECT * FROM users WHERE id = 1 LOCK IN SHARE MODE",
    "SELECT * FROM users WHERE id = 1 FOR SHARE",
    "SELECT * FROM users WHERE id = 1 FOR UPDATE SKIP LOCKED",
    "SELECT 1 /*!40001 FOR UPDATE */",
    "SELECT name INTO @name FROM users WHERE id = 1",
    "SELECT * FROM users INTO OUTFILE '/tmp/users.csv'",
    "SELECT GET_LOCK('job', 10)",
    "SELECT RELEASE_LOCK('job')",
    "SELECT LAST_INSERT_ID()",
    "SELECT FOUND_ROWS()",
    "SELECT ROW_COUNT()",
    "SELECT NEXT VALUE FOR order_seq",
    "INSERT INTO users (email, name) VALUES ('a@b.c', 'a')",
    "INSERT INTO users (email) VALUES ('a@b.c') ON DUPLICATE KEY UPDATE email = VALUES(email)",
    "REPLACE INTO users (id, email) VALUES (1, 'x')",
    "UPDATE users SET name = 'b' WHERE id = 1",
    "DELETE FROM users WHERE id = 1",
    "CREATE TABLE t (id INT PRIMARY KEY) ENGINE=InnoDB",
    "ALTER TABLE users ADD COLUMN age INT",
    "LOCK TABLES users WRITE",
    "UNLOCK TABLES",
    "START TRANSACTION",
    "SET NAMES utf8mb4",
    "USE shop",
    "CALL refresh_stats()",
    "LOAD DATA INFILE '/tmp/x.csv' INTO TABLE users",
    "SELECT 1--1; DELETE FROM users",
];

/// SQLite statements.
pub const SQLITE_BASE: &[&str] = &[
    "SELECT id, name FROM users WHERE id = ?1",
    "SELECT [id], `name`, \"email\" FROM users",
    "SELECT count(*) FROM users WHERE name LIKE 'a%'",
    "SELECT json_extract(payload, '$.kind') FROM events",
    "EXPLAIN QUERY PLAN SELECT * FROM users WHERE id = 1",
    "WITH x AS (SELECT 1) SELECT * FROM x",
    "SELECT last_insert_rowid()",
    "SELECT changes()",
    "INSERT INTO users (name) VALUES ('a')",
    "INSERT OR REPLACE INTO users (id, name) VALUES (1, 'a')",
    "INSERT INTO users (name) VALUES ('a') RETURNING id",
    "UPDATE users SET name = 'b' WHERE id = 1",
    "DELETE FROM users WHERE id = 1",
    "REPLACE INTO users (id, name) VALUES (1, 'a')",
    "CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY)",
    "PRAGMA journal_mode = WAL",
    "PRAGMA table_info(users)",
    "BEGIN IMMEDIATE",
    "ATTACH DATABASE 'other.db' AS other",
    "VACUUM",
];

/// Texts that exercise the lexer rather than any schema: never executed, only classified.
pub const TRICKY: &[(Dialect, &str)] = &[
    (Dialect::Postgres, "SELECT 'a\\'; DELETE FROM users; --'"),
    (Dialect::Postgres, "SELECT E'a\\'; DELETE FROM users; --'"),
    (
        Dialect::Postgres,
        "SELECT /* /* nested */ DELETE FROM users */ 1",
    ),
    (Dialect::Postgres, "SELECT $tag$ ; DELETE FROM users $tag$"),
    (Dialect::Postgres, "SELECT $1, $2 FROM users"),
    (Dialect::Postgres, "SELECT 'unterminated"),
    (Dialect::Postgres, "SELECT \"unterminated"),
    (Dialect::Postgres, "SELECT /* unterminated"),
    (Dialect::Postgres, "SELECT $q$ unterminated"),
    (Dialect::Postgres, "/* dbroute:primary */ SELECT 1"),
    (Dialect::Postgres, "/* dbroute:replica */ DELETE FROM users"),
    (Dialect::Postgres, "((SELECT 1))"),
    (Dialect::Postgres, "SELECT \"update\" FROM \"delete\""),
    (Dialect::Postgres, "SELECT pg_catalog.nextval('s')"),
    (Dialect::Postgres, "SELECT \"nextval\"('s')"),
    (Dialect::Postgres, ";;;"),
    (Dialect::Postgres, ""),
    (Dialect::Postgres, "   "),
    (Dialect::MySql, "SELECT 'a\\'; DELETE FROM users; #'"),
    (Dialect::MySql, "SELECT 'x\\'; DELETE FROM users; SELECT '"),
    (Dialect::MySql, "SELECT `a``b` FROM t"),
    (Dialect::MySql, "SELECT 1 /*M!100000 FOR UPDATE */"),
    (Dialect::MySql, "SELECT 1--1"),
    (Dialect::Sqlite, "SELECT [a]]b] FROM t"),
    (Dialect::Sqlite, "SELECT 'it''s' FROM t"),
];

/// The variations applied to every base statement. Each keeps the statement's meaning.
pub fn variants(sql: &str, dialect: Dialect) -> Vec<String> {
    let mut out = vec![
        sql.to_owned(),
        sql.to_lowercase_outside_literals(),
        format!("/* app=shop route=users#show */ {sql}"),
        format!("{sql} -- trailing comment"),
        format!("\n\t  {}  \n", sql.replace(' ', "\n  ")),
        format!("{sql};"),
    ];
    let harmless = match dialect {
        Dialect::MySql => "/* ; UPDATE x SET y = 1; */ ",
        _ => "/* ; UPDATE x SET y = 1; */ ",
    };
    out.push(format!("{harmless}{sql}"));
    let head = sql
        .split_whitespace()
        .next()
        .unwrap_or("")
        .to_ascii_uppercase();
    if head == "SELECT" && !sql.contains(';') && !sql.contains("INTO") {
        out.push(format!("({sql})"));
    }
    out
}

trait LowercaseOutsideLiterals {
    fn to_lowercase_outside_literals(&self) -> String;
}

impl LowercaseOutsideLiterals for str {
    /// Lower-cases keywords and names but not the contents of quotes.
    fn to_lowercase_outside_literals(&self) -> String {
        let mut out = String::with_capacity(self.len());
        let mut quote: Option<char> = None;
        for c in self.chars() {
            match quote {
                Some(q) if c == q => quote = None,
                Some(_) => {}
                None if matches!(c, '\'' | '"' | '`' | '$') => quote = Some(c),
                None => {
                    out.extend(c.to_lowercase());
                    continue;
                }
            }
            out.push(c);
        }
        out
    }
}

/// Every base statement of every dialect with its variations, plus the tricky texts.
pub fn corpus() -> Vec<(Dialect, String)> {
    let mut all = Vec::new();
    for (dialect, base) in [
        (Dialect::Postgres, PG_BASE),
        (Dialect::MySql, MYSQL_BASE),
        (Dialect::Sqlite, SQLITE_BASE),
    ] {
        for sql in base {
            all.extend(variants(sql, dialect).into_iter().map(|v| (dialect, v)));
        }
    }
    all.extend(TRICKY.iter().map(|(d, s)| (*d, (*s).to_owned())));
    all
}

/// Typical statements of up to about 100 bytes, for the speed benches.
pub fn typical() -> Vec<&'static str> {
    PG_BASE.iter().copied().filter(|s| s.len() <= 100).collect()
}
