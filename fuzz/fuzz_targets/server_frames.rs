//! The server's reading of client→server stream frames. The server's own
//! module is compiled here (it depends on serde and the evaluator only).
#![no_main]

use libfuzzer_sys::fuzz_target;

#[allow(dead_code)]
#[path = "../../server/src/frames.rs"]
mod frames;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(hello) = frames::parse_hello(text) {
        let _ = frames::negotiate(&hello.protocols);
        if let Some(context) = &hello.context {
            let _ = frames::parse_context(context);
        }
    }
    let _ = frames::parse_client_frame(text);
});
