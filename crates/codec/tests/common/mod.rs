//! Helpers shared by the codec's integration tests.

/// Builds a message with a correct BodyLength and CheckSum from `|`-separated body fields.
pub fn fix(begin_string: &str, body: &str) -> Vec<u8> {
    let body = body.replace('|', "\x01");
    let mut msg = format!("8={begin_string}\x019={}\x01{body}", body.len()).into_bytes();
    let sum = gapless_codec::checksum(&msg);
    msg.extend_from_slice(format!("10={sum:03}\x01").as_bytes());
    msg
}
