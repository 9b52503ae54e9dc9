//! The venue's ExecutionReports (35=8), and the check of the orders it receives.
//!
//! Two kinds of report: the unsolicited stream (ExecID = the stream index 1, 2, 3, ..., no
//! ClOrdID, OrderID `S<index>`, each a full fill) and the answer to a NewOrderSingle (ClOrdID
//! echoed, ExecID `E<k>`, OrderID `V<k>` for the venue's k-th order). A receiver tells them apart
//! by ClOrdID (11). Fields follow the dictionary of the session's version: FIX.4.2 has
//! ExecTransType (20) and ExecType 2 (Fill), later versions ExecType F (Trade) instead.

use gapless_codec::value::{Decimal, TimePrecision, UtcTimestamp, write_u64};
use gapless_codec::{Encoder, Message};
use gapless_dict::{Dictionary, Version};

use crate::config::OrderReply;

const AVG_PX: u32 = 6;
const CL_ORD_ID: u32 = 11;
const CUM_QTY: u32 = 14;
const EXEC_ID: u32 = 17;
const EXEC_TRANS_TYPE: u32 = 20;
const LAST_PX: u32 = 31;
const LAST_QTY: u32 = 32;
const ORDER_ID: u32 = 37;
const ORDER_QTY: u32 = 38;
const ORD_STATUS: u32 = 39;
const PRICE: u32 = 44;
const SIDE: u32 = 54;
const SYMBOL: u32 = 55;
const TRANSACT_TIME: u32 = 60;
const EXEC_TYPE: u32 = 150;
const LEAVES_QTY: u32 = 151;

/// Symbols the stream cycles through.
const SYMBOLS: [&[u8]; 4] = [b"AAPL", b"MSFT", b"NVDA", b"AMZN"];

/// The fill price of a market order, which carries none: 100.00.
const MARKET_PRICE: Decimal = Decimal::new(10_000, -2);

/// How ExecutionReports are written in one FIX version.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ReportFormat {
    /// ExecTransType (20), required up to FIX.4.2 and gone from FIX.4.4.
    exec_trans_type: bool,
    /// ExecType of a fill: `2` (Fill) up to FIX.4.2, `F` (Trade) from FIX.4.3.
    fill_exec_type: &'static [u8],
}

impl ReportFormat {
    /// `version` is the application version (FIX.5.0 SP2 for a FIXT.1.1 session carrying it).
    pub(crate) fn new(version: Version) -> Self {
        let dictionary = Dictionary::get(version);
        let exec_trans_type = dictionary
            .message(b"8")
            .is_some_and(|m| m.body().contains(EXEC_TRANS_TYPE));
        let fill_exec_type = if dictionary.is_allowed_value(EXEC_TYPE, b"F") == Some(true) {
            b"F"
        } else {
            b"2"
        };
        ReportFormat {
            exec_trans_type,
            fill_exec_type,
        }
    }

    /// The body of stream report `index` (1-based): a full fill of order `S<index>`.
    pub(crate) fn stream_report(&self, body: &mut Encoder<'_>, index: u64, now: UtcTimestamp) {
        let qty = Decimal::new(100 * (1 + (index % 10) as i64), 0);
        let price = Decimal::new(10_000 + (index % 100) as i64, -2);
        let side = if index % 2 == 1 { b'1' } else { b'2' };
        let symbol = SYMBOLS[(index % SYMBOLS.len() as u64) as usize];
        let mut order_id = [0u8; 21];
        let fill = Fill {
            cl_ord_id: None,
            exec_id: IdText::Plain(index),
            order_id: prefixed(b'S', index, &mut order_id),
            qty,
            price: None,
            side,
            symbol,
        };
        self.write(body, &fill, Some(price), now);
    }

    /// The body of the answer to `order`, the venue's `k`-th.
    pub(crate) fn order_reply(
        &self,
        body: &mut Encoder<'_>,
        order: &Order<'_>,
        k: u64,
        reply: OrderReply,
        now: UtcTimestamp,
    ) {
        let mut order_id = [0u8; 21];
        let fill = Fill {
            cl_ord_id: Some(order.cl_ord_id),
            exec_id: IdText::Prefixed(b'E', k),
            order_id: prefixed(b'V', k, &mut order_id),
            qty: order.qty,
            price: order.price,
            side: order.side,
            symbol: order.symbol,
        };
        let executed = match reply {
            OrderReply::New => None,
            OrderReply::Fill => Some(order.price.unwrap_or(MARKET_PRICE)),
        };
        self.write(body, &fill, executed, now);
    }

    /// Writes the body in ascending tag order: a New report when `executed` is `None`, else a
    /// full fill at that price.
    fn write(
        &self,
        body: &mut Encoder<'_>,
        report: &Fill<'_>,
        executed: Option<Decimal>,
        now: UtcTimestamp,
    ) {
        let zero = Decimal::new(0, 0);
        body.decimal(AVG_PX, executed.unwrap_or(zero));
        if let Some(cl_ord_id) = report.cl_ord_id {
            body.field(CL_ORD_ID, cl_ord_id);
        }
        body.decimal(CUM_QTY, if executed.is_some() { report.qty } else { zero });
        let mut exec_id = [0u8; 21];
        body.field(EXEC_ID, report.exec_id.write(&mut exec_id));
        if self.exec_trans_type {
            body.field(EXEC_TRANS_TYPE, b"0");
        }
        if let Some(price) = executed {
            body.decimal(LAST_PX, price).decimal(LAST_QTY, report.qty);
        }
        body.field(ORDER_ID, report.order_id)
            .decimal(ORDER_QTY, report.qty)
            .field(ORD_STATUS, if executed.is_some() { b"2" } else { b"0" });
        if let Some(price) = report.price {
            body.decimal(PRICE, price);
        }
        body.char(SIDE, report.side)
            .field(SYMBOL, report.symbol)
            .timestamp(TRANSACT_TIME, now, TimePrecision::Micros)
            .field(
                EXEC_TYPE,
                if executed.is_some() {
                    self.fill_exec_type
                } else {
                    b"0"
                },
            )
            .decimal(
                LEAVES_QTY,
                if executed.is_some() { zero } else { report.qty },
            );
    }
}

/// What a report says about the order it reports on.
struct Fill<'a> {
    cl_ord_id: Option<&'a [u8]>,
    exec_id: IdText,
    order_id: &'a [u8],
    qty: Decimal,
    /// The order's limit price, echoed as Price (44).
    price: Option<Decimal>,
    side: u8,
    symbol: &'a [u8],
}

/// An identifier written without allocating: a number, or a letter and a number.
#[derive(Clone, Copy)]
enum IdText {
    Plain(u64),
    Prefixed(u8, u64),
}

impl IdText {
    fn write(self, out: &mut [u8; 21]) -> &[u8] {
        match self {
            IdText::Plain(n) => {
                let mut digits = [0u8; 20];
                let len = write_u64(n, &mut digits);
                out[..len].copy_from_slice(&digits[20 - len..]);
                &out[..len]
            }
            IdText::Prefixed(prefix, n) => prefixed(prefix, n, out),
        }
    }
}

/// `prefix` followed by `n` in decimal.
fn prefixed(prefix: u8, n: u64, out: &mut [u8; 21]) -> &[u8] {
    let mut digits = [0u8; 20];
    let len = write_u64(n, &mut digits);
    out[0] = prefix;
    out[1..=len].copy_from_slice(&digits[20 - len..]);
    &out[..=len]
}

/// The fields of a NewOrderSingle the answer echoes, borrowed from the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Order<'a> {
    pub(crate) cl_ord_id: &'a [u8],
    pub(crate) side: u8,
    pub(crate) symbol: &'a [u8],
    /// OrderQty (38); 0 when the order gives a cash quantity instead.
    pub(crate) qty: Decimal,
    pub(crate) price: Option<Decimal>,
}

/// Why a NewOrderSingle cannot be answered with an ExecutionReport. The session's dictionary
/// check rejects such orders first, unless validation is off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OrderError {
    /// No ClOrdID (11), or no valid Side (54).
    MissingField(u32),
}

impl<'a> Order<'a> {
    pub(crate) fn read(msg: &Message<'a>) -> Result<Self, OrderError> {
        let cl_ord_id = msg
            .get(CL_ORD_ID)
            .ok_or(OrderError::MissingField(CL_ORD_ID))?;
        let side = msg
            .get_char(SIDE)
            .map_err(|_| OrderError::MissingField(SIDE))?;
        Ok(Order {
            cl_ord_id,
            side,
            // FIX.5.0 lets an order name its instrument by SecurityID alone.
            symbol: msg.get(SYMBOL).unwrap_or(b"[N/A]"),
            qty: msg.get_decimal(ORDER_QTY).unwrap_or(Decimal::new(0, 0)),
            price: msg.get_decimal(PRICE).ok(),
        })
    }
}

/// Checks that ClOrdIDs `O1`, `O2`, `O3`, ... arrive each exactly once, in order.
#[derive(Debug, Clone, Default)]
pub(crate) struct OrderCheck {
    /// The `n` of the next expected `O<n>`, minus one.
    last: u64,
    violations: u64,
}

impl OrderCheck {
    /// Notes one order. A repeated, late or foreign ClOrdID is a violation; so is a jump
    /// forward (orders were lost), after which counting resumes from the new number, so one
    /// loss counts once.
    pub(crate) fn observe(&mut self, cl_ord_id: &[u8]) {
        let number = cl_ord_id
            .strip_prefix(b"O")
            .and_then(|digits| gapless_codec::value::parse_u64(digits).ok());
        match number {
            Some(n) if n == self.last + 1 => self.last = n,
            Some(n) if n > self.last => {
                self.violations += 1;
                self.last = n;
            }
            _ => self.violations += 1,
        }
    }

    pub(crate) fn violations(&self) -> u64 {
        self.violations
    }
}

#[cfg(test)]
mod tests {
    use gapless_codec::{Decoded, Limits, StandardHeader, decode};
    use gapless_dict::{SessionDictionary, ValidationOptions, validate};

    use super::*;

    const NOW: UtcTimestamp = UtcTimestamp::from_unix_nanos(1_795_500_455_123_000_000);

    /// A whole message of `version` with `body`, checked by the dictionary.
    fn encode_and_validate(version: Version, body: impl FnOnce(&mut Encoder<'_>)) -> Vec<u8> {
        let mut buf = vec![0u8; 1024];
        let mut encoder = Encoder::new(&mut buf, version.begin_string().as_bytes(), b"8");
        encoder.header(&StandardHeader::new(
            b"VENUE",
            b"GAPLESS",
            2,
            NOW,
            TimePrecision::Millis,
        ));
        body(&mut encoder);
        let bytes = encoder.finish().unwrap().to_vec();
        let Decoded::Message(msg) = decode(&bytes, &Limits::default()) else {
            panic!("does not frame");
        };
        let dictionary = SessionDictionary::new(version);
        if let Err(rejection) = validate(&dictionary, &msg, &ValidationOptions::default()) {
            panic!(
                "{version:?}: {rejection:?} in {}",
                String::from_utf8_lossy(&bytes)
            );
        }
        bytes
    }

    fn field(bytes: &[u8], tag: u32) -> Option<&[u8]> {
        let Decoded::Message(msg) = decode(bytes, &Limits::default()) else {
            panic!("does not frame");
        };
        msg.get(tag)
    }

    const VERSIONS: [Version; 5] = [
        Version::Fix42,
        Version::Fix43,
        Version::Fix44,
        Version::Fix50,
        Version::Fix50Sp2,
    ];

    #[test]
    fn stream_report_is_valid_in_every_version() {
        for version in VERSIONS {
            let format = ReportFormat::new(version);
            for index in [1, 2, 99, 12_345] {
                let bytes = encode_and_validate(version, |b| format.stream_report(b, index, NOW));
                assert_eq!(field(&bytes, EXEC_ID), Some(index.to_string().as_bytes()));
                assert_eq!(field(&bytes, CL_ORD_ID), None);
                assert_eq!(field(&bytes, ORD_STATUS), Some(&b"2"[..]));
            }
        }
    }

    #[test]
    fn fix42_fill_is_exec_type_2_later_ones_f() {
        let fix42 = ReportFormat::new(Version::Fix42);
        let bytes = encode_and_validate(Version::Fix42, |b| fix42.stream_report(b, 1, NOW));
        assert_eq!(field(&bytes, EXEC_TYPE), Some(&b"2"[..]));
        assert_eq!(field(&bytes, EXEC_TRANS_TYPE), Some(&b"0"[..]));
        let fix44 = ReportFormat::new(Version::Fix44);
        let bytes = encode_and_validate(Version::Fix44, |b| fix44.stream_report(b, 1, NOW));
        assert_eq!(field(&bytes, EXEC_TYPE), Some(&b"F"[..]));
        assert_eq!(field(&bytes, EXEC_TRANS_TYPE), None);
    }

    #[test]
    fn order_reply_echoes_cl_ord_id_and_is_valid() {
        let order = Order {
            cl_ord_id: b"O17",
            side: b'2',
            symbol: b"IBM",
            qty: Decimal::new(250, 0),
            price: Some(Decimal::new(1_234, -1)),
        };
        for version in VERSIONS {
            let format = ReportFormat::new(version);
            for reply in [OrderReply::New, OrderReply::Fill] {
                let bytes = encode_and_validate(version, |b| {
                    format.order_reply(b, &order, 17, reply, NOW);
                });
                assert_eq!(field(&bytes, CL_ORD_ID), Some(&b"O17"[..]));
                assert_eq!(field(&bytes, EXEC_ID), Some(&b"E17"[..]));
                assert_eq!(field(&bytes, SYMBOL), Some(&b"IBM"[..]));
                let leaves = match reply {
                    OrderReply::New => &b"250"[..],
                    OrderReply::Fill => &b"0"[..],
                };
                assert_eq!(field(&bytes, LEAVES_QTY), Some(leaves));
            }
        }
    }

    #[test]
    fn order_without_cl_ord_id_is_refused() {
        let mut buf = [0u8; 256];
        let mut encoder = Encoder::new(&mut buf, b"FIX.4.4", b"D");
        encoder.header(&StandardHeader::new(
            b"A",
            b"B",
            1,
            NOW,
            TimePrecision::Millis,
        ));
        encoder.char(SIDE, b'1');
        let bytes = encoder.finish().unwrap();
        let Decoded::Message(msg) = decode(bytes, &Limits::default()) else {
            panic!("does not frame");
        };
        assert_eq!(Order::read(&msg), Err(OrderError::MissingField(CL_ORD_ID)));
    }

    #[test]
    fn order_check_in_order_has_no_violation() {
        let mut check = OrderCheck::default();
        for n in 1..=100 {
            check.observe(format!("O{n}").as_bytes());
        }
        assert_eq!(check.violations(), 0);
    }

    #[test]
    fn order_check_counts_repeat_gap_and_foreign_once_each() {
        let mut check = OrderCheck::default();
        for id in ["O1", "O2", "O2", "O5", "O6", "X7", "O3"] {
            check.observe(id.as_bytes());
        }
        // O2 again, the jump to O5, X7, and O3 after O6.
        assert_eq!(check.violations(), 4);
    }
}
