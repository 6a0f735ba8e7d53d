use super::detectors::shannon_entropy;
use super::*;

#[test]
fn merge_joins_overlapping_nested_and_touching_spans_only() {
    assert_eq!(merge(vec![(5, 9), (0, 3)]), vec![(0, 3), (5, 9)]);
    assert_eq!(merge(vec![(0, 5), (3, 8)]), vec![(0, 8)]);
    assert_eq!(merge(vec![(0, 10), (2, 4)]), vec![(0, 10)]);
    assert_eq!(merge(vec![(0, 4), (4, 6)]), vec![(0, 6)]);
    assert_eq!(merge(vec![(0, 4), (5, 6)]), vec![(0, 4), (5, 6)]);
}

#[test]
fn entropy_of_known_strings() {
    assert_eq!(shannon_entropy(b""), 0.0);
    assert_eq!(shannon_entropy(b"aaaa"), 0.0);
    assert!((shannon_entropy(b"abcd") - 2.0).abs() < 1e-12);
    assert!((shannon_entropy(b"0123456789abcdef") - 4.0).abs() < 1e-12);
}

#[test]
fn key_body_stops_at_the_first_line_that_is_not_base64() {
    let hay = b"-----BEGIN RSA PRIVATE KEY-----\nQUJD\nREVG\n2026-01-01 INFO next";
    let (s, e) = key_block(hay, 0, KeyFamily::Pem).unwrap();
    assert_eq!(s, 0);
    assert_eq!(&hay[e..], b"\n2026-01-01 INFO next");
    // The family must match the label.
    assert_eq!(key_block(hay, 0, KeyFamily::OpenSsh), None);
    // A certificate is not a private key.
    assert_eq!(
        key_block(b"-----BEGIN CERTIFICATE-----\nQUJD\n", 0, KeyFamily::Pem),
        None
    );
}

#[test]
fn line_around_finds_the_enclosing_line() {
    let hay = b"one\ntwo three\nfour";
    assert_eq!(line_around(hay, 6), (4, 13));
    assert_eq!(line_around(hay, 0), (0, 3));
    assert_eq!(line_around(hay, 15), (14, 18));
}
