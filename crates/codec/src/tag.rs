//! Tag numbers the codec and the session layer need by name.
//!
//! The complete set of tags, with names and types, lives in `gapless-dict`, generated from the FIX
//! dictionaries; this module names only the session-level tags and the length-prefixed data
//! fields, which the codec must know to frame and to split fields.

pub const BEGIN_SEQ_NO: u32 = 7;
pub const BEGIN_STRING: u32 = 8;
pub const BODY_LENGTH: u32 = 9;
pub const CHECK_SUM: u32 = 10;
pub const END_SEQ_NO: u32 = 16;
pub const MSG_SEQ_NUM: u32 = 34;
pub const MSG_TYPE: u32 = 35;
pub const NEW_SEQ_NO: u32 = 36;
pub const POSS_DUP_FLAG: u32 = 43;
pub const REF_SEQ_NUM: u32 = 45;
pub const SENDER_COMP_ID: u32 = 49;
pub const SENDER_SUB_ID: u32 = 50;
pub const SENDING_TIME: u32 = 52;
pub const TARGET_COMP_ID: u32 = 56;
pub const TARGET_SUB_ID: u32 = 57;
pub const TEXT: u32 = 58;
pub const POSS_RESEND: u32 = 97;
pub const ENCRYPT_METHOD: u32 = 98;
pub const HEART_BT_INT: u32 = 108;
pub const TEST_REQ_ID: u32 = 112;
pub const ON_BEHALF_OF_COMP_ID: u32 = 115;
pub const ORIG_SENDING_TIME: u32 = 122;
pub const GAP_FILL_FLAG: u32 = 123;
pub const DELIVER_TO_COMP_ID: u32 = 128;
pub const RESET_SEQ_NUM_FLAG: u32 = 141;
pub const LAST_MSG_SEQ_NUM_PROCESSED: u32 = 369;
pub const REF_TAG_ID: u32 = 371;
pub const REF_MSG_TYPE: u32 = 372;
pub const SESSION_REJECT_REASON: u32 = 373;
pub const BUSINESS_REJECT_REF_ID: u32 = 379;
pub const BUSINESS_REJECT_REASON: u32 = 380;
pub const USERNAME: u32 = 553;
pub const PASSWORD: u32 = 554;
pub const NEXT_EXPECTED_MSG_SEQ_NUM: u32 = 789;
pub const APPL_VER_ID: u32 = 1128;
pub const CSTM_APPL_VER_ID: u32 = 1129;
pub const DEFAULT_APPL_VER_ID: u32 = 1137;

// Order-flow fields that Gapless's own tools (the venue, the demo, the test applications) read
// and write.
pub const AVG_PX: u32 = 6;
pub const CL_ORD_ID: u32 = 11;
pub const CUM_QTY: u32 = 14;
pub const EXEC_ID: u32 = 17;
pub const ORDER_ID: u32 = 37;
pub const ORDER_QTY: u32 = 38;
pub const ORD_STATUS: u32 = 39;
pub const ORD_TYPE: u32 = 40;
pub const PRICE: u32 = 44;
pub const SIDE: u32 = 54;
pub const SYMBOL: u32 = 55;
pub const TRANSACT_TIME: u32 = 60;
pub const EXEC_TYPE: u32 = 150;
pub const LEAVES_QTY: u32 = 151;

/// Every length-prefixed data field of FIX.4.0 to FIX.5.0 SP2 as `(length tag, data tag)`, sorted
/// by length tag. A data field may contain SOH, so its value is read by the length given in the
/// field just before it. `gapless-dict` checks this table against the dictionaries.
pub const DATA_FIELDS: &[(u32, u32)] = &[
    (90, 91),     // SecureDataLen, SecureData
    (93, 89),     // SignatureLength, Signature
    (95, 96),     // RawDataLength, RawData
    (212, 213),   // XmlDataLen, XmlData
    (348, 349),   // EncodedIssuerLen, EncodedIssuer
    (350, 351),   // EncodedSecurityDescLen, EncodedSecurityDesc
    (352, 353),   // EncodedListExecInstLen, EncodedListExecInst
    (354, 355),   // EncodedTextLen, EncodedText
    (356, 357),   // EncodedSubjectLen, EncodedSubject
    (358, 359),   // EncodedHeadlineLen, EncodedHeadline
    (360, 361),   // EncodedAllocTextLen, EncodedAllocText
    (362, 363),   // EncodedUnderlyingIssuerLen, EncodedUnderlyingIssuer
    (364, 365),   // EncodedUnderlyingSecurityDescLen, EncodedUnderlyingSecurityDesc
    (445, 446),   // EncodedListStatusTextLen, EncodedListStatusText
    (618, 619),   // EncodedLegIssuerLen, EncodedLegIssuer
    (621, 622),   // EncodedLegSecurityDescLen, EncodedLegSecurityDesc
    (1184, 1185), // SecurityXMLLen, SecurityXML
    (1277, 1278), // DerivativeEncodedIssuerLen, DerivativeEncodedIssuer
    (1280, 1281), // DerivativeEncodedSecurityDescLen, DerivativeEncodedSecurityDesc
    (1282, 1283), // DerivativeSecurityXMLLen, DerivativeSecurityXML
    (1397, 1398), // EncodedMktSegmDescLen, EncodedMktSegmDesc
    (1401, 1402), // EncryptedPasswordLen, EncryptedPassword
    (1403, 1404), // EncryptedNewPasswordLen, EncryptedNewPassword
    (1468, 1469), // EncodedSecurityListDescLen, EncodedSecurityListDesc
];

/// The data tag whose length `length_tag` gives, if `length_tag` is a data-length field.
#[inline]
pub fn data_tag_for_length(length_tag: u32) -> Option<u32> {
    // Length tags are all below 1500; the quick reject keeps ordinary fields off the search.
    if !(90..=1468).contains(&length_tag) {
        return None;
    }
    DATA_FIELDS
        .binary_search_by_key(&length_tag, |&(length, _)| length)
        .ok()
        .map(|i| DATA_FIELDS[i].1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_fields_sorted_for_search() {
        assert!(DATA_FIELDS.windows(2).all(|w| w[0].0 < w[1].0));
    }

    #[test]
    fn data_tag_lookup() {
        assert_eq!(data_tag_for_length(95), Some(96));
        assert_eq!(data_tag_for_length(93), Some(89));
        assert_eq!(data_tag_for_length(1468), Some(1469));
        assert_eq!(data_tag_for_length(96), None);
        assert_eq!(data_tag_for_length(9), None);
    }
}
