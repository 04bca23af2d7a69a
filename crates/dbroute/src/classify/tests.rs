use super::*;

use Dialect::{MySql, Postgres, Sqlite};

fn check(cases: &[(&str, Reason)], dialect: Dialect) {
    for (sql, expected) in cases {
        let got = classify(sql, dialect);
        assert_eq!(got.reason(), *expected, "{dialect:?}: {sql}");
        assert_eq!(
            got.is_read(),
            *expected == Reason::Read,
            "{dialect:?}: {sql}"
        );
    }
}

#[test]
fn plain_reads_go_to_replicas() {
    let cases = [
        ("SELECT 1", Reason::Read),
        ("select * from users where id = $1", Reason::Read),
        ("  (SELECT a FROM t) UNION (SELECT b FROM u)", Reason::Read),
        (
            "WITH RECURSIVE r AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT * FROM r",
            Reason::Read,
        ),
        ("VALUES (1), (2)", Reason::Read),
        ("TABLE users", Reason::Read),
        ("SHOW search_path", Reason::Read),
        ("EXPLAIN SELECT * FROM t", Reason::Read),
        // A plan without ANALYZE runs nothing: a standby answers it.
        ("EXPLAIN DELETE FROM t WHERE id = 1", Reason::Read),
        // Planned only: nothing in it runs (a hot standby plans each of these).
        ("EXPLAIN CREATE TABLE t AS SELECT 1", Reason::Read),
        (
            "EXPLAIN (COSTS off) CREATE MATERIALIZED VIEW m AS SELECT 1",
            Reason::Read,
        ),
        ("EXPLAIN SELECT * FROM t FOR UPDATE", Reason::Read),
        ("EXPLAIN SELECT nextval('s')", Reason::Read),
        ("EXPLAIN SELECT 1 INTO t", Reason::Read),
        (
            "EXPLAIN (VERBOSE) WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d",
            Reason::Read,
        ),
        (
            "EXPLAIN VERBOSE INSERT INTO t SELECT nextval('s')",
            Reason::Read,
        ),
        (
            "EXPLAIN (FORMAT JSON, COSTS off) UPDATE t SET a = 1",
            Reason::Read,
        ),
        (
            "explain merge into t using s on t.id = s.id when matched then delete",
            Reason::Read,
        ),
        ("EXPLAIN DELETE FROM t; SELECT 1", Reason::Read),
        // Copied out to the client: a read.
        ("COPY t TO STDOUT", Reason::Read),
        (
            "copy t (a, b) to stdout with (format csv, header)",
            Reason::Read,
        ),
        ("COPY (SELECT * FROM t WHERE a > 1) TO STDOUT", Reason::Read),
        (
            "COPY (SELECT a FROM t) TO STDOUT (FORMAT binary)",
            Reason::Read,
        ),
        (
            "EXPLAIN (ANALYZE, FORMAT JSON) SELECT * FROM t",
            Reason::Read,
        ),
        ("SELECT replace(name, 'a', 'b') FROM t", Reason::Read),
        ("SELECT substring(x FROM 1 FOR 2) FROM t", Reason::Read),
        ("SELECT 1; SELECT 2;", Reason::Read),
        ("SELECT 'it''s; DELETE FROM t'", Reason::Read),
        (
            "SELECT \"delete\", \"update\" FROM \"insert\"",
            Reason::Read,
        ),
        ("SELECT $$ DELETE FROM t $$", Reason::Read),
        ("SELECT E'\\'; DELETE FROM t; --'", Reason::Read),
        ("/* leading */ -- comment\n SELECT 1", Reason::Read),
    ];
    check(&cases, Postgres);
}

#[test]
fn writes_and_their_disguises_go_to_the_primary() {
    let cases = [
        ("INSERT INTO t VALUES (1) RETURNING id", Reason::Write),
        ("update t set a = 1", Reason::Write),
        ("DELETE FROM t", Reason::Write),
        (
            "MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN DELETE",
            Reason::Write,
        ),
        ("COPY t FROM STDIN", Reason::Write),
        ("TRUNCATE t", Reason::Write),
        ("CREATE TABLE t (id int)", Reason::Ddl),
        ("VACUUM t", Reason::Ddl),
        ("ANALYZE t", Reason::Ddl),
        ("BEGIN", Reason::Transaction),
        ("SET search_path = app", Reason::SessionCommand),
        ("LISTEN jobs", Reason::SessionCommand),
        ("DECLARE c CURSOR FOR SELECT 1", Reason::SessionCommand),
        ("LOCK TABLE t", Reason::SessionCommand),
        ("CALL proc()", Reason::SessionCommand),
        ("SELECT * FROM t FOR UPDATE", Reason::LockingRead),
        ("SELECT * FROM t FOR NO KEY UPDATE", Reason::LockingRead),
        ("SELECT * FROM t FOR SHARE SKIP LOCKED", Reason::LockingRead),
        ("SELECT * FROM t FOR KEY SHARE", Reason::LockingRead),
        (
            "SELECT * FROM (SELECT * FROM t FOR UPDATE OF t NOWAIT) s",
            Reason::LockingRead,
        ),
        (
            "WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d",
            Reason::DataModifyingCte,
        ),
        (
            "WITH s AS (SELECT 1) INSERT INTO t SELECT * FROM s",
            Reason::Write,
        ),
        ("SELECT * INTO new_table FROM t", Reason::SelectInto),
        ("SELECT nextval('s')", Reason::WriteFunction),
        ("SELECT pg_catalog.NEXTVAL('s')", Reason::WriteFunction),
        ("SELECT \"nextval\"('s')", Reason::WriteFunction),
        ("SELECT pg_advisory_xact_lock(1)", Reason::WriteFunction),
        ("SELECT lo_create(0)", Reason::WriteFunction),
        ("EXPLAIN ANALYZE DELETE FROM t", Reason::Write),
        (
            "EXPLAIN ANALYSE VERBOSE INSERT INTO t VALUES (1)",
            Reason::Write,
        ),
        ("EXPLAIN (ANALYZE) UPDATE t SET a = 1", Reason::Write),
        (
            "EXPLAIN (FORMAT JSON, ANALYZE on) DELETE FROM t",
            Reason::Write,
        ),
        // Any mention of ANALYZE counts as running the statement: the safe side.
        ("EXPLAIN (ANALYZE false) DELETE FROM t", Reason::Write),
        (
            "EXPLAIN (COSTS off, ANALYZE) MERGE INTO t USING s ON true WHEN MATCHED THEN DELETE",
            Reason::Write,
        ),
        // Only the plan of these writes: but what they are not is planned.
        ("EXPLAIN TRUNCATE t", Reason::Write),
        // Run, not planned: what runs decides.
        ("EXPLAIN ANALYZE SELECT nextval('s')", Reason::WriteFunction),
        (
            "EXPLAIN (ANALYZE) SELECT * FROM t FOR UPDATE",
            Reason::LockingRead,
        ),
        ("EXPLAIN ANALYZE CREATE TABLE t AS SELECT 1", Reason::Ddl),
        ("EXPLAIN EXECUTE prepared_insert(1)", Reason::SessionCommand),
        (
            "EXPLAIN DELETE FROM t; DELETE FROM t",
            Reason::MultiStatement,
        ),
        ("COPY t TO '/tmp/t.csv'", Reason::Write),
        ("COPY t TO PROGRAM 'gzip > /tmp/t.gz'", Reason::Write),
        ("COPY t (a, b) FROM STDIN WITH (FORMAT csv)", Reason::Write),
        ("COPY (SELECT * FROM t) TO '/tmp/t.csv'", Reason::Write),
        (
            "COPY (DELETE FROM t RETURNING *) TO STDOUT",
            Reason::DataModifyingCte,
        ),
        (
            "COPY (SELECT nextval('s')) TO STDOUT",
            Reason::WriteFunction,
        ),
        (
            "COPY (SELECT * FROM t FOR UPDATE) TO STDOUT",
            Reason::LockingRead,
        ),
        ("COPY t TO STDOUT; DELETE FROM t", Reason::MultiStatement),
        ("SELECT 1; DELETE FROM t", Reason::MultiStatement),
        ("SELECT 'a\\'; DELETE FROM t; --'", Reason::MultiStatement),
        // Unterminated under one reading of backslashes: PostgreSQL parses the whole text
        // before running any of it, so under that setting nothing runs; the other decides.
        ("SELECT 'abcd\\' AS f", Reason::Read),
        ("SELECT U&' \\' UESCAPE '!' AS tricky", Reason::Read),
        ("SELECT 'a\\'; DELETE FROM t; SELECT '", Reason::Read),
        ("SELECT 'x\\' \\'", Reason::Unparseable),
        ("SELECT 'unterminated", Reason::Unparseable),
        ("SELECT /* unterminated", Reason::Unparseable),
        ("", Reason::Empty),
        ("  -- nothing\n ;; ", Reason::Empty),
        ("FROBNICATE t", Reason::Unrecognized),
        ("\"SELECT\" 1", Reason::Unrecognized),
    ];
    check(&cases, Postgres);
}

#[test]
fn mysql_rules() {
    let cases = [
        ("SELECT `delete` FROM `update`", Reason::Read),
        ("SELECT insert('abc', 1, 1, 'x')", Reason::Read),
        ("SELECT 1 # DELETE FROM t\n", Reason::Read),
        ("DESCRIBE users", Reason::Read),
        ("EXPLAIN DELETE FROM t WHERE id = 1", Reason::Read),
        ("EXPLAIN ANALYZE SELECT * FROM t", Reason::Read),
        ("EXPLAIN ANALYZE UPDATE t SET a = 1", Reason::Write),
        ("SELECT * FROM t LOCK IN SHARE MODE", Reason::LockingRead),
        ("SELECT 1 /*!40001 FOR UPDATE */", Reason::LockingRead),
        ("SELECT a INTO @x FROM t", Reason::SelectInto),
        ("SELECT * FROM t INTO OUTFILE '/tmp/x'", Reason::SelectInto),
        ("SELECT GET_LOCK('x', 1)", Reason::WriteFunction),
        ("SELECT LAST_INSERT_ID()", Reason::WriteFunction),
        ("SELECT NEXT VALUE FOR s", Reason::WriteFunction),
        ("REPLACE INTO t VALUES (1)", Reason::Write),
        ("SELECT 1--1; DELETE FROM t", Reason::MultiStatement),
        // With NO_BACKSLASH_ESCAPES the literal ends at the second quote: the primary wins.
        ("SELECT 'a\\'; DELETE FROM t; #'", Reason::MultiStatement),
        // MySQL runs a multi-statement text one statement at a time: an unterminated reading
        // does not stop the statements before it.
        ("SELECT 'abcd\\' AS f", Reason::Unparseable),
    ];
    check(&cases, MySql);
}

#[test]
fn sqlite_rules() {
    let cases = [
        ("SELECT [delete] FROM `t`", Reason::Read),
        ("EXPLAIN QUERY PLAN SELECT * FROM t", Reason::Read),
        ("EXPLAIN QUERY PLAN DELETE FROM t", Reason::Read),
        ("EXPLAIN INSERT INTO t VALUES (1)", Reason::Read),
        ("SELECT last_insert_rowid()", Reason::WriteFunction),
        ("PRAGMA journal_mode = WAL", Reason::SessionCommand),
        ("INSERT OR REPLACE INTO t VALUES (1)", Reason::Write),
    ];
    check(&cases, Sqlite);
}

#[test]
fn arbitrary_input_never_panics() {
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let alphabet = b"SELECT INSERT FOR UPDATE ;()'\"`$[]#-/*!\\ \nE$a$x";
    for len in 0..400 {
        let text: String = (0..len)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                alphabet[(seed % alphabet.len() as u64) as usize] as char
            })
            .collect();
        for dialect in [Postgres, MySql, Sqlite] {
            let got = classify(&text, dialect);
            // Whatever the verdict, it is one of the two routes and consistent with the reason.
            assert_eq!(got.is_read(), got.route() == Route::Replica);
        }
    }
}

#[test]
fn hints_force_the_primary_but_never_a_replica() {
    let cases = [
        ("/* dbroute:primary */ SELECT 1", Reason::Hint),
        ("  -- dbroute:primary\nSELECT 1", Reason::Hint),
        ("/* dbroute:replica */ SELECT 1", Reason::Read),
        ("/* dbroute:replica */ DELETE FROM t", Reason::Write),
        ("SELECT 1 /* dbroute:primary */", Reason::Read),
    ];
    check(&cases, Postgres);
}

#[test]
fn relations_a_standby_cannot_read_go_to_the_primary() {
    let classifier = Classifier::new(Postgres).with_cache(64);
    let cases = [
        "SELECT * FROM job_queue",
        "SELECT count(*) FROM public.job_queue WHERE id > 1",
        "select * from JOB_QUEUE",
        "SELECT * FROM \"job_queue\"",
        "SELECT * FROM users u JOIN pending_jobs p ON p.user_id = u.id",
        "TABLE job_queue",
        "WITH q AS (SELECT * FROM job_queue) SELECT * FROM q",
        "COPY job_queue TO STDOUT",
        // Planning opens the relation too.
        "EXPLAIN SELECT * FROM job_queue",
        "EXPLAIN INSERT INTO job_queue VALUES (1)",
        "EXPLAIN UPDATE users SET n = 1 FROM pending_jobs",
    ];
    let reads = [
        "SELECT * FROM jobs",
        "SELECT 'job_queue' AS name",
        "SELECT * FROM job_queue_archive",
        "EXPLAIN INSERT INTO jobs VALUES (1)",
    ];
    for sql in cases.iter().chain(&reads) {
        assert!(
            classifier.classify(sql).is_read(),
            "nothing learnt yet: {sql}"
        );
    }
    classifier.set_primary_only_relations(["job_queue", "Pending_Jobs"]);
    assert_eq!(classifier.primary_only_relation_count(), 2);
    for sql in cases {
        assert_eq!(
            classifier.classify(sql).reason(),
            Reason::PrimaryOnlyRelation,
            "{sql}"
        );
    }
    for sql in reads {
        assert!(classifier.classify(sql).is_read(), "{sql}");
    }
    // Stronger reasons are kept; learning functions keeps the relations.
    let locking = classifier.classify("SELECT * FROM job_queue FOR UPDATE");
    assert!(!locking.is_read());
    classifier.set_volatile_functions(["touch"]);
    assert!(!classifier.classify("SELECT * FROM job_queue").is_read());
    classifier.set_primary_only_relations(Vec::<String>::new());
    assert!(classifier.classify("SELECT * FROM job_queue").is_read());
    assert!(!classifier.classify("SELECT touch()").is_read());
}

#[test]
fn functions_that_read_relations_by_name_follow_the_catalog() {
    let classifier = Classifier::new(Postgres);
    let calls = [
        "SELECT database_to_xml(true, true, '')",
        "SELECT query_to_xml('SELECT * FROM job_queue', true, true, '')",
        "SELECT pg_catalog.TABLE_TO_XMLSCHEMA('s.\"JOB_queue\"', true, true, '')",
        "SELECT table_to_xml('Job_Queue'::regclass, true, true, '')",
        "SELECT * FROM ts_stat('SELECT tsv FROM job_queue')",
        "SELECT * FROM ts_stat($$SELECT nextval('s')$$)",
        // Not literals: what they name is unknown.
        "SELECT query_to_xml(q, true, true, '') FROM saved",
        "SELECT table_to_xml(16384::regclass, true, true, '')",
        // Relations set by hand come without their schemas: any schema may hold them.
        "SELECT schema_to_xml('public', true, true, '')",
        "SELECT cursor_to_xml('c', 1, true, true, '')",
    ];
    for sql in calls {
        assert!(
            classifier.classify(sql).is_read(),
            "no unlogged relation known: {sql}"
        );
    }
    classifier.set_primary_only_relations(["job_queue"]);
    for sql in calls {
        assert_eq!(
            classifier.classify(sql).reason(),
            Reason::PrimaryOnlyRelation,
            "{sql}"
        );
    }
    assert!(classifier.classify("SELECT xmlelement(name a)").is_read());
    // Literal arguments naming only what a standby reads.
    let reads = [
        "SELECT table_to_xml('public.t', true, true, '')",
        "SELECT query_to_xml('SELECT * FROM t', true, true, '')",
        "SELECT * FROM ts_stat('SELECT tsv FROM docs', 'ab')",
    ];
    for sql in reads {
        assert!(classifier.classify(sql).is_read(), "{sql}");
    }
}

#[test]
fn procedural_blocks_are_read_word_by_word() {
    use super::functions::function_set;
    let user = function_set(["bump"]);
    let relations = function_set(["scratch"]);
    let known = rules::Known {
        functions: &[&user],
        relations: Some(&relations),
        ..rules::Known::default()
    };
    let reads = [
        "DECLARE n int; BEGIN SELECT count(*) INTO n FROM t; RETURN n; END",
        "BEGIN RAISE NOTICE 'insert into % set', 1; RETURN QUERY SELECT * FROM t; END",
        "DECLARE r record; BEGIN FOR r IN SELECT * FROM t LOOP PERFORM lower(r.x); END LOOP; \
         RETURN 1; END",
        "BEGIN RETURN 1; EXCEPTION WHEN others THEN RETURN 0; END",
        // EXPLAIN's options are no statements; what it explains is read like the rest.
        "DECLARE l text; BEGIN FOR l IN EXPLAIN (ANALYZE, COSTS OFF) SELECT * FROM t LOOP \
         RETURN NEXT l; END LOOP; END",
        "BEGIN RETURN QUERY EXPLAIN ANALYZE VERBOSE SELECT 1; END",
        // Reads of what the arguments name, judged by them.
        "BEGIN RETURN query_to_xml('SELECT 1', true, true, ''); END",
        "BEGIN RETURN table_to_xml('other', true, true, ''); END",
    ];
    for block in reads {
        assert!(rules::block_reads_only(block, &known), "{block}");
    }
    let writes = [
        "BEGIN INSERT INTO t VALUES (1); RETURN 1; END",
        "BEGIN EXECUTE 'SELECT 1'; RETURN 1; END",
        "BEGIN PERFORM nextval('s'); RETURN 1; END",
        "BEGIN PERFORM bump(); RETURN 1; END",
        "BEGIN PERFORM * FROM t FOR UPDATE; RETURN 1; END",
        "BEGIN PERFORM * FROM t FOR KEY SHARE; RETURN 1; END",
        "BEGIN SET search_path = x; RETURN 1; END",
        "BEGIN RETURN (SELECT count(*) FROM scratch); END",
        "BEGIN RETURN query_to_xml('SELECT * FROM scratch', true, true, ''); END",
        "BEGIN RETURN table_to_xml('s.Scratch', true, true, ''); END",
        "BEGIN RETURN query_to_xml(q, true, true, ''); END",
        "BEGIN RETURN schema_to_xml('public', true, true, ''); END",
        "BEGIN RETURN QUERY EXPLAIN ANALYZE DELETE FROM t RETURNING 1; END",
        "BEGIN ANALYZE t; END",
        "BEGIN RETURN 'unterminated; END",
        "BEGIN COMMIT; END",
    ];
    for block in writes {
        assert!(!rules::block_reads_only(block, &known), "{block}");
    }
}

/// A classifier that knows `run(q)`, a PL/pgSQL function running `EXPLAIN ANALYZE ` || q.
fn with_templated_run() -> Classifier {
    let inputs = dynamic_tests::inputs(&["q"]);
    let block = "BEGIN RETURN QUERY EXECUTE 'EXPLAIN ANALYZE ' || q; END";
    let rules::Block::Dynamic(statements) =
        rules::analyze_block(block, &rules::Known::default(), Some(&inputs))
    else {
        panic!("{block} is a template");
    };
    let mut learnt = Learnt {
        functions: function_set(["run"]),
        ..Learnt::default()
    };
    let run = DynamicFunction {
        inputs: 1,
        statements,
    };
    learnt.templates.insert("run".into(), run);
    let classifier = Classifier::new(Postgres);
    classifier.learn(learnt);
    classifier
}

fn sql_pieces() -> impl proptest::strategy::Strategy<Value = String> {
    use proptest::prelude::*;
    let piece = prop_oneof![
        Just("SELECT ".to_owned()),
        Just("DELETE FROM t ".to_owned()),
        Just("run(".to_owned()),
        Just("nextval(".to_owned()),
        Just("'".to_owned()),
        Just("''".to_owned()),
        Just("$$".to_owned()),
        Just("\\".to_owned()),
        Just("--".to_owned()),
        Just("/*".to_owned()),
        Just("*/".to_owned()),
        Just("(".to_owned()),
        Just(")".to_owned()),
        Just(";".to_owned()),
        Just("\n".to_owned()),
        "[a-z_ 0-9,.*=]{0,8}",
        any::<String>(),
    ];
    proptest::collection::vec(piece, 0..16).prop_map(|pieces| pieces.concat())
}

proptest::proptest! {
    /// Whatever text a call of a templated function passes: judging it never panics; the
    /// call is a read only when the statement the function would run is one; and a write
    /// appended to the text always sends the call to the primary.
    #[test]
    fn a_templated_call_is_no_safer_than_the_statement_it_makes(text in sql_pieces()) {
        let classifier = with_templated_run();
        let call = |text: &str| format!("SELECT * FROM run('{}')", text.replace('\'', "''"));
        if classifier.classify(&call(&text)).is_read() {
            let made = classifier.classify(&format!("EXPLAIN ANALYZE {text}"));
            proptest::prop_assert!(made.is_read(), "{text:?}");
        }
        let hidden = call(&format!("{text}\n; DELETE FROM t"));
        proptest::prop_assert!(!classifier.classify(&hidden).is_read(), "{hidden:?}");
    }
}

#[test]
fn templated_calls_with_read_arguments_are_reads() {
    let classifier = with_templated_run();
    assert!(
        classifier
            .classify("SELECT * FROM run('SELECT 1')")
            .is_read()
    );
    let write = classifier.classify("SELECT * FROM run('DELETE FROM t')");
    assert_eq!(write.reason(), Reason::WriteFunction);
}
