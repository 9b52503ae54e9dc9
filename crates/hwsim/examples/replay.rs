//! Replays a vector file through the RTL and the software checker and prints both descriptor
//! sequences side by side (timestamps masked), marking the first difference.
//!
//!     cargo run -p gapless-hwsim --example replay -- hw/tb/vectors/garbled.vec

use gapless_hwsim::{Drive, Rtl, software, vector, without_timestamp};
use gapless_seqcheck::Descriptor;

fn line(d: Option<&Descriptor>) -> String {
    match d {
        None => "-".to_string(),
        Some(d) => format!(
            "s{} @{} len {} verdict {} flags {:#x} class {} seq {} exp {} new {}",
            d.session,
            d.stream_offset,
            d.length,
            d.verdict,
            d.flags,
            d.msg_class,
            d.seq,
            d.expected,
            d.new_seq_no
        ),
    }
}

fn main() {
    let path = std::env::args().nth(1).expect("usage: replay <file.vec>");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let events = vector::parse(&text).unwrap_or_else(|e| panic!("{path}: {e}"));
    let sw: Vec<Descriptor> = software(&events).iter().map(without_timestamp).collect();
    let mut rtl_model = Rtl::new(Drive::default());
    let rtl: Vec<Descriptor> = rtl_model
        .run(&events)
        .iter()
        .map(without_timestamp)
        .collect();
    for i in 0..sw.len().max(rtl.len()) {
        let mark = if sw.get(i) == rtl.get(i) { " " } else { "!" };
        println!("{mark} sw  {}", line(sw.get(i)));
        println!("{mark} rtl {}", line(rtl.get(i)));
    }
    println!("{} cycles", rtl_model.cycles());
}
