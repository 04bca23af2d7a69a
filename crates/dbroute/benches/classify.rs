//! Classification speed: dbroute's classifier (uncached and cached) against sqlparser parsing
//! the same statements, in the same run.
//!
//! `cargo bench -p dbroute --bench classify`
//!
//! Each bench classifies (or parses) every statement of the corpus's typical set (the
//! PostgreSQL statements of up to 100 bytes) once per iteration; the per-statement figure is
//! the iteration time divided by the set's size, which the bench prints.

// criterion's macros generate undocumented public functions.
#![allow(missing_docs)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use dbroute::{Classifier, Dialect, classify};
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::Parser;

#[path = "../tests/corpus/mod.rs"]
mod corpus;

fn benches(c: &mut Criterion) {
    let statements = corpus::typical();
    let bytes: usize = statements.iter().map(|s| s.len()).sum();
    println!(
        "typical set: {} statements, {:.0} bytes on average",
        statements.len(),
        bytes as f64 / statements.len() as f64
    );
    let cached = Classifier::new(Dialect::Postgres).with_cache(4096);
    for sql in &statements {
        cached.classify(sql);
    }

    let mut group = c.benchmark_group("classify_corpus");
    group.bench_function("dbroute_uncached", |b| {
        b.iter(|| {
            for sql in &statements {
                black_box(classify(black_box(sql), Dialect::Postgres));
            }
        })
    });
    group.bench_function("dbroute_cached", |b| {
        b.iter(|| {
            for sql in &statements {
                black_box(cached.classify(black_box(sql)));
            }
        })
    });
    group.bench_function("sqlparser_parse", |b| {
        b.iter(|| {
            for sql in &statements {
                let _ = black_box(Parser::parse_sql(&PostgreSqlDialect {}, black_box(sql)));
            }
        })
    });
    group.finish();

    // One typical 92-byte statement, as the routing bench's decision uses.
    let typical = "SELECT id, email, display_name, created_at FROM users WHERE id = $1 AND deleted_at IS NULL";
    let mut group = c.benchmark_group("classify_one");
    group.bench_function("dbroute_uncached_92_bytes", |b| {
        b.iter(|| black_box(classify(black_box(typical), Dialect::Postgres)))
    });
    group.bench_function("dbroute_cached_92_bytes", |b| {
        b.iter(|| black_box(cached.classify(black_box(typical))))
    });
    group.finish();
}

criterion_group!(classify_benches, benches);
criterion_main!(classify_benches);
