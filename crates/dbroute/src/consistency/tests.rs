use super::*;

const SHOP: u64 = 0x5f0e_9d1c_2b3a_4958;
const OTHER: u64 = 7;

#[test]
fn a_record_keeps_the_highest_position_per_cluster() {
    let record = Record::default();
    assert_eq!(record.need(SHOP), Need::Nothing);
    let ticket = record.ticket(SHOP);
    record.captured(SHOP, 300, ticket);
    let ticket = record.ticket(SHOP);
    record.captured(SHOP, 200, ticket);
    record.merge(OTHER, 50);
    assert_eq!(record.need(SHOP), Need::Position(300));
    assert_eq!(record.need(OTHER), Need::Position(50));
    assert_eq!(record.position(SHOP), 300);
}

/// A write whose position is unknown is settled only by a capture that started after it was
/// noted: a capture already under way may have read the primary before that write committed.
#[test]
fn an_unknown_write_is_settled_only_by_a_later_capture() {
    let record = Record::default();
    let early = record.ticket(SHOP);
    record.unknown(SHOP);
    record.captured(SHOP, 100, early);
    assert_eq!(
        record.need(SHOP),
        Need::Unknown,
        "an earlier capture settles nothing"
    );
    let late = record.ticket(SHOP);
    record.unknown(SHOP); // another unknown write while the capture runs
    record.captured(SHOP, 200, late);
    assert_eq!(
        record.need(SHOP),
        Need::Unknown,
        "the second write is not covered"
    );
    let last = record.ticket(SHOP);
    record.captured(SHOP, 250, last);
    assert_eq!(record.need(SHOP), Need::Position(250));
}

#[test]
fn tokens_round_trip_and_merge() {
    let token = ConsistencyToken::new(SHOP, 0x16_B374_D848);
    let text = token.to_string();
    assert_eq!(text, "dbr1.5f0e9d1c2b3a4958.16b374d848");
    assert_eq!(text.parse::<ConsistencyToken>(), Ok(token));
    let max = ConsistencyToken::new(u64::MAX, u64::MAX);
    assert_eq!(max.to_string().len(), 38);
    assert_eq!(max.to_string().parse::<ConsistencyToken>(), Ok(max));
    let json = serde_json::to_string(&token).unwrap();
    assert_eq!(json, format!("\"{text}\""));
    assert_eq!(
        serde_json::from_str::<ConsistencyToken>(&json).unwrap(),
        token
    );
    let later = ConsistencyToken::new(SHOP, 0x17_0000_0000);
    assert_eq!(token.merge(later), Ok(later));
    assert_eq!(later.merge(token), Ok(later));
    assert!(matches!(
        token.merge(ConsistencyToken::new(OTHER, 1)),
        Err(TokenError::OtherCluster { .. })
    ));
}

#[test]
fn malformed_tokens_are_typed_errors() {
    let good = "dbr1.5f0e9d1c2b3a4958.16b374d848";
    let bad = [
        "",
        "dbr1.",
        "dbr1.5f0e9d1c2b3a4958",
        "dbr1.5f0e9d1c2b3a4958.",
        "dbr1.5f0e9d1c2b3a495.16b374d848",
        "dbr1.5F0E9D1C2B3A4958.16b374d848",
        "dbr2.5f0e9d1c2b3a4958.16b374d848",
        "dbr1.5f0e9d1c2b3a4958.16b374d848.1",
        "dbr1.5f0e9d1c2b3a4958.+16b374d84",
        "dbr1.5f0e9d1c2b3a4958.10000000000000000",
        "dbr1.+f0e9d1c2b3a4958.16b374d848",
        "dbr1.5f0e9d1c2b3a4958.16b374d848\n",
        "dbr1.5f0e9d1c2b3a4958.16b37é",
        &good[..good.len() - 1].replace("dbr1", "DBR1"),
    ];
    for text in bad {
        let error = text.parse::<ConsistencyToken>().unwrap_err();
        assert!(
            matches!(error, TokenError::Malformed { .. }),
            "{text:?}: {error}"
        );
    }
    let long = format!("{good}{}", "0".repeat(10_000));
    assert!(
        !long
            .parse::<ConsistencyToken>()
            .unwrap_err()
            .to_string()
            .contains("0000000000")
    );
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Any text: a token or a typed error, never a panic, and the error never repeats it.
        #[test]
        fn parsing_any_text_never_panics(text in ".{0,64}") {
            match text.parse::<ConsistencyToken>() {
                Ok(token) => prop_assert_eq!(token.to_string(), text),
                Err(error) => prop_assert!(text.len() < 6 || !error.to_string().contains(&text)),
            }
        }

        #[test]
        fn every_token_round_trips(cluster: u64, position: u64) {
            let token = ConsistencyToken::new(cluster, position);
            prop_assert_eq!(token.to_string().parse::<ConsistencyToken>(), Ok(token));
        }
    }
}
