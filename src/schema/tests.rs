//! Every record type's schema is closed and in `all()`; `log` is not a record.

use super::*;

#[test]
fn every_type_has_a_closed_schema() {
    for t in TYPES {
        let s = of(t).unwrap();
        assert_eq!(s["properties"]["type"]["const"], t);
        assert_eq!(s["additionalProperties"], false);
    }
    assert!(of("nope").is_none());
    assert_eq!(all()["oneOf"].as_array().unwrap().len(), TYPES.len());
}

#[test]
fn log_lines_are_no_record() {
    let s = of(LOG).unwrap();
    assert_eq!(s["additionalProperties"], false);
    assert!(s["properties"]["type"].is_null());
    let required = s["required"].as_array().unwrap();
    assert_eq!(required, &["timestamp", "level", "message"]);
    assert!(all()["$defs"][LOG].is_null());
}
