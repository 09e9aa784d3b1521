//! A browser's side of `/ws`, for tests: one request, its reply.

use serde_json::Value;
use tokio_tungstenite::tungstenite;

/// One request over `/ws` as a browser; the reply's JSON.
pub fn ask(port: u16, chain_id: &str, request: Value) -> Value {
    let (mut ws, _) = tungstenite::connect(format!("ws://127.0.0.1:{port}/ws")).unwrap();
    let hello = serde_json::json!({
        "type": "hello", "version": 1, "chain_id": chain_id, "role": "browser", "head_height": 0
    });
    ws.send(tungstenite::Message::text(hello.to_string())).unwrap();
    ws.send(tungstenite::Message::text(request.to_string())).unwrap();
    loop {
        let tungstenite::Message::Text(text) = ws.read().unwrap() else { continue };
        let reply: Value = serde_json::from_str(&text).unwrap();
        if reply["id"] == request["id"] {
            return reply;
        }
    }
}
