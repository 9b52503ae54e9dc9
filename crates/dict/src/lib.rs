//! # gapless-dict: FIX data dictionaries and message validation
//!
//! What this crate is: the data dictionaries of FIX.4.0 to FIX.4.4, FIXT.1.1 and FIX.5.0 to
//! FIX.5.0 SP2, generated at build time from QuickFIX's XML (`spec/`, under QuickFIX's licence,
//! `spec/QUICKFIX-LICENSE.txt`) into static tables: every field with its type and enumeration,
//! every message with its members in order (components flattened, repeating groups nested), the
//! header and the trailer. Lookups are binary searches that never allocate. On top of them,
//! [`validate`] checks a decoded [`gapless_codec::Message`] and answers with the
//! SessionRejectReason (373) a Reject (35=3) should carry.
//!
//! What it is not: no XML is read at run time, so custom dictionaries mean editing `spec/` and
//! rebuilding. It does not frame or decode messages (`gapless-codec` does), nor make session
//! decisions such as sequence numbers, CompIDs or SendingTime accuracy (`gapless-session`).
//!
//! ```
//! use gapless_dict::{Dictionary, FieldType, SessionDictionary, Version};
//!
//! let fix44 = Dictionary::get(Version::Fix44);
//! let side = fix44.field(54).unwrap();
//! assert_eq!((side.name, side.field_type), ("Side", FieldType::Char));
//! assert_eq!(fix44.message(b"D").unwrap().name(), "NewOrderSingle");
//!
//! // FIXT.1.1 carrying FIX.5.0 SP2: session layer from FIXT.1.1, application from SP2.
//! let session = SessionDictionary::from_begin_string(b"FIXT.1.1", Some(b"9")).unwrap();
//! assert!(session.is_admin(b"A"));
//! assert_eq!(session.application().version(), Version::Fix50Sp2);
//! ```
#![forbid(unsafe_code)]

mod dictionary;
mod format;
mod session;
mod validate;
mod version;

pub use dictionary::{
    Category, Dictionary, EnumValue, FieldDef, FieldType, GroupDef, Member, MemberSet, MessageDef,
};
pub use format::is_valid_format;
pub use session::{SessionDictionary, SessionDictionaryError};
pub use validate::{Rejection, SessionRejectReason, ValidationOptions, validate};
pub use version::Version;
