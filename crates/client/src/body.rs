//! [`BodyWriter`]: the application's body fields, written straight into the outbound ring.

use gapless_codec::{EncodeError, FieldWriter};

/// Writes `tag=value<SOH>` fields into the space claimed in the ring: `gapless-codec`'s
/// [`FieldWriter`] (its methods, through `Deref`), refusing the tags the gateway writes itself
/// ([`gapless_codec::SESSION_OWNED_TAGS`]). Methods chain; the first error sticks and fails the
/// send, so the caller checks once, on the result of `try_send`.
#[derive(Debug)]
pub struct BodyWriter<'b>(FieldWriter<'b>);

impl<'b> BodyWriter<'b> {
    pub(crate) fn new(buf: &'b mut [u8]) -> Self {
        BodyWriter(FieldWriter::body(buf))
    }

    /// The body's length or the first error ([`EncodeError::BufferTooSmall`] when it does not
    /// fit the room claimed).
    pub(crate) fn finish(self) -> Result<usize, EncodeError> {
        self.0.finish()
    }
}

impl<'b> core::ops::Deref for BodyWriter<'b> {
    type Target = FieldWriter<'b>;

    fn deref(&self) -> &FieldWriter<'b> {
        &self.0
    }
}

impl core::ops::DerefMut for BodyWriter<'_> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use gapless_codec::SESSION_OWNED_TAGS;
    use gapless_codec::value::{Decimal, TimePrecision, UtcTimestamp};

    fn write(
        capacity: usize,
        fields: impl FnOnce(&mut BodyWriter<'_>),
    ) -> Result<Vec<u8>, EncodeError> {
        let mut buf = vec![0u8; capacity];
        let mut writer = BodyWriter::new(&mut buf);
        fields(&mut writer);
        let len = writer.finish()?;
        Ok(buf[..len].to_vec())
    }

    #[test]
    fn fields_are_written_as_tag_value_soh() {
        let body = write(256, |w| {
            w.field(11, b"O1")
                .char(54, b'1')
                .uint(38, 100)
                .int(44, -5)
                .bool(114, false)
                .decimal(44, Decimal::new(12345, -2))
                .timestamp(60, UtcTimestamp::from_unix_nanos(0), TimePrecision::Millis)
                .data(95, 96, b"a\x01b");
        })
        .unwrap();
        assert_eq!(
            body,
            b"11=O1\x0154=1\x0138=100\x0144=-5\x01114=N\x0144=123.45\x01\
              60=19700101-00:00:00.000\x0195=3\x0196=a\x01b\x01"
                .to_vec()
        );
    }

    #[test]
    fn gateway_tag_is_refused() {
        for tag in SESSION_OWNED_TAGS {
            assert_eq!(
                write(64, |w| {
                    w.uint(tag, 1);
                }),
                Err(EncodeError::SessionTag { tag })
            );
        }
    }

    #[test]
    fn first_error_sticks() {
        let result = write(64, |w| {
            w.field(58, b"").field(58, b"a\x01").uint(34, 1);
        });
        assert_eq!(result, Err(EncodeError::EmptyValue { tag: 58 }));
        let result = write(64, |w| {
            w.field(58, b"a\x01");
        });
        assert_eq!(result, Err(EncodeError::ValueContainsSoh { tag: 58 }));
    }

    #[test]
    fn full_buffer_overflows() {
        assert_eq!(
            write(8, |w| {
                w.field(55, b"TOOLONGSYMBOL");
            }),
            Err(EncodeError::BufferTooSmall { capacity: 8 })
        );
        assert_eq!(
            write(6, |w| {
                w.field(55, b"AB");
            })
            .unwrap(),
            b"55=AB\x01"
        );
    }
}
