//! Payment-request vectors (`tests/vectors/payment_uri.json`, PROTOCOL.md §5.6 and §17.1): each
//! valid text parses to its request and formats to its one written form; each invalid text is
//! refused with its reason's text. The wasm suite runs the same file through the bindings.

use memecoin_wallet::uri::{format_payment_uri, parse_payment_uri};
use serde_json::Value;

const VECTORS: &str = include_str!("vectors/payment_uri.json");

#[test]
fn payment_uri_vectors() {
    let doc: Value = serde_json::from_str(VECTORS).unwrap();
    let valid = doc["valid"].as_array().unwrap();
    let invalid = doc["invalid"].as_array().unwrap();
    assert!(valid.len() >= 5 && invalid.len() >= 10);
    for v in valid {
        let uri = v["uri"].as_str().unwrap();
        let request = parse_payment_uri(uri).unwrap_or_else(|e| panic!("{uri}: {e}"));
        assert_eq!(request.address.to_text(), v["address"].as_str().unwrap(), "{uri}");
        let amount = v["amount"].as_str().map(|a| a.parse::<u64>().unwrap());
        assert_eq!(request.amount, amount, "{uri}");
        assert_eq!(request.memo, v["memo"].as_str().unwrap(), "{uri}");
        let written = format_payment_uri(&request).unwrap();
        assert_eq!(written, v["format"].as_str().unwrap(), "{uri}");
        assert_eq!(parse_payment_uri(&written), Ok(request), "{written}");
    }
    for v in invalid {
        let uri = v["uri"].as_str().unwrap();
        let error = parse_payment_uri(uri).expect_err(uri);
        assert_eq!(error.to_string(), v["error"].as_str().unwrap(), "{uri}");
    }
}
