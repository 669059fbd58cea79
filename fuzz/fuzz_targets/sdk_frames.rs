//! The SDK's reading and applying of server→client stream frames: one frame
//! per line, fed through the client's real session handler and replica;
//! whatever ruleset results must evaluate.
#![no_main]

use daylight::Context;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Some(ruleset) = daylight::client::replay_server_frames(text.lines()) {
        let ctx = Context::anonymous();
        for key in ruleset.flag_keys() {
            let _ = ruleset.evaluate(key, &ctx);
        }
    }
});
