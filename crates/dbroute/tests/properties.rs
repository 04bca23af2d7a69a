//! Property tests: no input makes the classifier panic, and no read hides a write.

mod corpus;

use dbroute::{Classifier, Dialect, Reason, classify};
use proptest::prelude::*;

fn dialect() -> impl Strategy<Value = Dialect> {
    prop_oneof![
        Just(Dialect::Postgres),
        Just(Dialect::MySql),
        Just(Dialect::Sqlite)
    ]
}

/// SQL-flavoured noise: keywords, quotes, comment markers, parentheses and arbitrary text.
fn sqlish() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("SELECT ".to_owned()),
        Just("INSERT ".to_owned()),
        Just("UPDATE ".to_owned()),
        Just("DELETE ".to_owned()),
        Just("WITH x AS ".to_owned()),
        Just("FOR UPDATE ".to_owned()),
        Just("INTO ".to_owned()),
        Just("nextval(".to_owned()),
        Just("'".to_owned()),
        Just("\"".to_owned()),
        Just("`".to_owned()),
        Just("$$".to_owned()),
        Just("$a$".to_owned()),
        Just("E'".to_owned()),
        Just("\\".to_owned()),
        Just("--".to_owned()),
        Just("#".to_owned()),
        Just("/*".to_owned()),
        Just("*/".to_owned()),
        Just("/*!".to_owned()),
        Just("(".to_owned()),
        Just(")".to_owned()),
        Just(";".to_owned()),
        Just("\n".to_owned()),
        "[a-z_ 0-9,.*=]{0,8}",
        any::<String>(),
    ];
    proptest::collection::vec(piece, 0..24).prop_map(|pieces| pieces.concat())
}

/// A corpus text with a random edit: bytes inserted, removed or replaced at random places.
fn mutated() -> impl Strategy<Value = (Dialect, String)> {
    let corpus = corpus::corpus();
    (
        0..corpus.len(),
        proptest::collection::vec((any::<u16>(), any::<char>(), 0u8..3), 1..6),
    )
        .prop_map(move |(index, edits)| {
            let (dialect, text) = &corpus[index];
            let mut chars: Vec<char> = text.chars().collect();
            for (at, c, op) in edits {
                let at = if chars.is_empty() {
                    0
                } else {
                    at as usize % chars.len()
                };
                match op {
                    0 => chars.insert(at, c),
                    1 if !chars.is_empty() => {
                        chars.remove(at);
                    }
                    _ if !chars.is_empty() => chars[at] = c,
                    _ => chars.push(c),
                }
            }
            (*dialect, chars.into_iter().collect())
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 800, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_never_panics(text in any::<String>(), dialect in dialect()) {
        let _ = classify(&text, dialect);
    }

    /// A read stays a read behind a leading comment, and goes to the primary behind the
    /// primary hint: comments are skipped, and only the leading one is a hint.
    #[test]
    fn comments_never_change_a_read_and_the_hint_always_does(text in sqlish(), dialect in dialect()) {
        if classify(&text, dialect).is_read() {
            let commented = format!("/* any comment */ {text}");
            prop_assert!(classify(&commented, dialect).is_read(), "{:?}", commented);
            let hinted = format!("/* dbroute:primary */ {text}");
            prop_assert_eq!(classify(&hinted, dialect).reason(), Reason::Hint, "{:?}", hinted);
        }
    }

    #[test]
    fn mutated_corpus_never_panics((dialect, text) in mutated()) {
        let _ = classify(&text, dialect);
    }

    /// Whatever a read is, appending a write after it makes the text go to the primary: no
    /// quote, comment or dollar tag can swallow what follows a complete read.
    #[test]
    fn a_write_after_any_read_reaches_the_primary(text in sqlish(), dialect in dialect()) {
        if classify(&text, dialect).is_read() {
            let joined = format!("{text}\n; DELETE FROM t");
            prop_assert!(!classify(&joined, dialect).is_read(), "{:?}", joined);
        }
    }

    /// The cache never changes an answer.
    #[test]
    fn cached_and_uncached_agree(texts in proptest::collection::vec(sqlish(), 1..20), dialect in dialect()) {
        let cached = Classifier::new(dialect).with_cache(4);
        for _ in 0..2 {
            for text in &texts {
                prop_assert_eq!(cached.classify(text), classify(text, dialect));
            }
        }
    }
}

#[test]
fn huge_inputs_classify_in_linear_time() {
    // 4 MiB of nested comments, quotes and parentheses: must finish (and not overflow).
    for dialect in [Dialect::Postgres, Dialect::MySql, Dialect::Sqlite] {
        let deep = format!("SELECT {}1{}", "(".repeat(1 << 20), ")".repeat(1 << 20));
        assert!(classify(&deep, dialect).is_read());
        let comments = format!("SELECT 1 {}", "/* x ".repeat(1 << 20));
        assert!(!classify(&comments, dialect).is_read());
        let dollars = format!("SELECT {}", "$a".repeat(1 << 20));
        let _ = classify(&dollars, dialect);
    }
}
