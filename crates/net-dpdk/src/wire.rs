//! Test support: an Ethernet cable in memory. Two [`WireEnd`]s pass frames to each other through
//! queues, optionally dropping every n-th frame, so that two [`crate::TcpTransport`]s can talk
//! (ARP and TCP included) without DPDK, a NIC or the kernel.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;

use smoltcp::phy::{self, Device, DeviceCapabilities, Medium};
use smoltcp::time::Instant;

#[derive(Debug, Default)]
struct Queue {
    frames: VecDeque<Vec<u8>>,
    /// Drop every n-th frame sent into this queue (0: none).
    drop_every: usize,
    sent: usize,
}

/// One end of the cable.
#[derive(Debug)]
pub(crate) struct WireEnd {
    inbound: Rc<RefCell<Queue>>,
    outbound: Rc<RefCell<Queue>>,
}

/// A cable: frames one end transmits, the other receives. `drop_every` frames (0: none) in each
/// direction are lost.
pub(crate) fn wire(drop_every: usize) -> (WireEnd, WireEnd) {
    let a_to_b = Rc::new(RefCell::new(Queue {
        drop_every,
        ..Queue::default()
    }));
    let b_to_a = Rc::new(RefCell::new(Queue {
        drop_every,
        ..Queue::default()
    }));
    (
        WireEnd {
            inbound: b_to_a.clone(),
            outbound: a_to_b.clone(),
        },
        WireEnd {
            inbound: a_to_b,
            outbound: b_to_a,
        },
    )
}

pub(crate) struct RxToken(Vec<u8>);

impl phy::RxToken for RxToken {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(&self.0)
    }
}

pub(crate) struct TxToken<'a>(&'a RefCell<Queue>);

impl phy::TxToken for TxToken<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut frame = vec![0; len];
        let result = f(&mut frame);
        let mut queue = self.0.borrow_mut();
        queue.sent += 1;
        if queue.drop_every == 0 || !queue.sent.is_multiple_of(queue.drop_every) {
            queue.frames.push_back(frame);
        }
        result
    }
}

impl Device for WireEnd {
    type RxToken<'a> = RxToken;
    type TxToken<'a> = TxToken<'a>;

    fn receive(&mut self, _: Instant) -> Option<(RxToken, TxToken<'_>)> {
        let frame = self.inbound.borrow_mut().frames.pop_front()?;
        Some((RxToken(frame), TxToken(&self.outbound)))
    }

    fn transmit(&mut self, _: Instant) -> Option<TxToken<'_>> {
        Some(TxToken(&self.outbound))
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ethernet;
        caps.max_transmission_unit = 1514;
        caps
    }
}
