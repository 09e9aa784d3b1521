//! The relay's HTTP routes (`http::routes`: path, query and body parsing and the handlers) on a
//! relay node holding the fixture chain, with a faucet and a wallet page folder, driven by
//! `warp::test` (no socket). The input is `[method][path]\n[header: value lines]\n\n[body]`.
//! It must not panic, never answer 500, and never serve a file from outside the page folder
//! (the contents of a file beside it never come back unless the request held them: error
//! messages may quote the request).
#![no_main]

use libfuzzer_sys::fuzz_target;

const METHODS: [&str; 4] = ["GET", "POST", "HEAD", "PUT"];

fuzz_target!(|data: &[u8]| {
    let Some((method, rest)) = data.split_first() else { return };
    let (head, body) = match rest.windows(2).position(|w| w == b"\n\n") {
        Some(i) => (&rest[..i], &rest[i + 2..]),
        None => (rest, &[][..]),
    };
    let Ok(head) = std::str::from_utf8(head) else { return };
    let mut lines = head.split('\n');
    let path = lines.next().unwrap_or("/");
    // warp::test panics on what hyper would refuse before routing: keep to valid requests.
    if path.parse::<warp::http::Uri>().is_err() {
        return;
    }
    let relay = memecoin_fuzz::relay();
    let mut request = warp::test::request()
        .method(METHODS[usize::from(*method) % METHODS.len()])
        .path(path)
        .remote_addr(([127, 0, 0, 1], 40_000 + u16::from(*method)).into())
        .body(body);
    for line in lines.take(8) {
        let Some((name, value)) = line.split_once(':') else { continue };
        let name = name.trim();
        let value = value.trim();
        if warp::http::HeaderName::from_bytes(name.as_bytes()).is_err()
            || warp::http::HeaderValue::from_str(value).is_err()
        {
            continue;
        }
        request = request.header(name, value);
    }
    let routes = memecoin_relay::http::routes(
        relay.shared.clone(),
        Some(relay.www.clone()),
        Some(relay.faucet.clone()),
    );
    let response = relay.runtime.block_on(request.reply(&routes));
    assert_ne!(response.status(), 500, "{path}: {:?}", response.body());
    // An error message may quote the request: only an input that does not hold the secret
    // shows a leak by getting it back.
    let holds =
        |bytes: &[u8]| bytes.windows(relay.secret_file.len()).any(|w| w == relay.secret_file);
    assert!(holds(data) || !holds(response.body()), "{path} served a file outside the page folder");
});
