//! Pairing the transport and application dictionaries of a session.

use core::fmt;

use crate::{Dictionary, MessageDef, Version};

/// The dictionaries a session validates against.
///
/// For FIX.4.x both halves are the same dictionary. For a FIXT.1.1 session the header, trailer and
/// admin messages come from FIXT.1.1 (`transport`) and the application messages from the version
/// named by DefaultApplVerID (1137) at logon, or by ApplVerID (1128) on a single message
/// (`application`).
#[derive(Debug, Clone, Copy)]
pub struct SessionDictionary {
    transport: &'static Dictionary,
    application: &'static Dictionary,
}

/// Why a [`SessionDictionary`] could not be chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SessionDictionaryError {
    /// The BeginString (8) is none of FIX.4.0 to FIX.4.4 or FIXT.1.1.
    UnknownBeginString,
    /// A FIXT.1.1 session needs a DefaultApplVerID (1137) to know its application messages.
    MissingDefaultApplVerId,
    /// The ApplVerID / DefaultApplVerID names no version this crate has a dictionary for.
    UnknownApplVerId,
    /// ApplVerID only applies to FIXT.1.1 sessions.
    NotFixt,
}

impl fmt::Display for SessionDictionaryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SessionDictionaryError::UnknownBeginString => "unknown BeginString",
            SessionDictionaryError::MissingDefaultApplVerId => {
                "FIXT.1.1 session without DefaultApplVerID"
            }
            SessionDictionaryError::UnknownApplVerId => "unknown ApplVerID",
            SessionDictionaryError::NotFixt => "ApplVerID on a session that is not FIXT.1.1",
        })
    }
}

impl std::error::Error for SessionDictionaryError {}

impl SessionDictionary {
    /// The dictionaries of a session carrying `version`: FIX.4.x alone; FIX.5.0 and later with
    /// FIXT.1.1 as transport; FIXT.1.1 alone (admin messages only).
    pub fn new(version: Version) -> Self {
        SessionDictionary {
            transport: Dictionary::get(version.transport()),
            application: Dictionary::get(version),
        }
    }

    /// A FIXT.1.1 session whose application version is `application` (any version but FIXT.1.1
    /// itself, which gives a session of admin messages only).
    pub fn fixt(application: Version) -> Self {
        SessionDictionary {
            transport: Dictionary::get(Version::Fixt11),
            application: Dictionary::get(application),
        }
    }

    /// The dictionaries for a session whose BeginString is `begin_string`; a FIXT.1.1 session
    /// also needs its DefaultApplVerID (1137) value.
    pub fn from_begin_string(
        begin_string: &[u8],
        default_appl_ver_id: Option<&[u8]>,
    ) -> Result<Self, SessionDictionaryError> {
        match Version::from_begin_string(begin_string) {
            None => Err(SessionDictionaryError::UnknownBeginString),
            Some(Version::Fixt11) => {
                let id =
                    default_appl_ver_id.ok_or(SessionDictionaryError::MissingDefaultApplVerId)?;
                let application = Version::from_appl_ver_id(id)
                    .ok_or(SessionDictionaryError::UnknownApplVerId)?;
                Ok(SessionDictionary::fixt(application))
            }
            Some(version) => Ok(SessionDictionary::new(version)),
        }
    }

    /// The same session with the application dictionary a message's ApplVerID (1128) names.
    pub fn with_appl_ver_id(&self, appl_ver_id: &[u8]) -> Result<Self, SessionDictionaryError> {
        if !self.is_fixt() {
            return Err(SessionDictionaryError::NotFixt);
        }
        let application = Version::from_appl_ver_id(appl_ver_id)
            .ok_or(SessionDictionaryError::UnknownApplVerId)?;
        Ok(SessionDictionary::fixt(application))
    }

    /// Whether the transport is FIXT.1.1.
    pub fn is_fixt(&self) -> bool {
        self.transport.version() == Version::Fixt11
    }

    /// The dictionary of the header, the trailer and the admin messages.
    pub const fn transport(&self) -> &'static Dictionary {
        self.transport
    }

    /// The dictionary of the application messages.
    pub const fn application(&self) -> &'static Dictionary {
        self.application
    }

    /// The definition of `msg_type` and the dictionary defining its body: the transport's admin
    /// messages first, then the application's.
    pub fn message(&self, msg_type: &[u8]) -> Option<(&'static Dictionary, &'static MessageDef)> {
        let in_dictionary = |dict: &'static Dictionary| dict.message(msg_type).map(|m| (dict, m));
        in_dictionary(self.transport).or_else(|| in_dictionary(self.application))
    }

    /// Whether `msg_type` is an admin (session-level) message.
    pub fn is_admin(&self, msg_type: &[u8]) -> bool {
        self.transport.is_admin(msg_type) || self.application.is_admin(msg_type)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fix44_session_uses_one_dictionary_for_everything() {
        let session = SessionDictionary::from_begin_string(b"FIX.4.4", None).unwrap();
        assert_eq!(session.transport().version(), Version::Fix44);
        assert_eq!(session.application().version(), Version::Fix44);
        assert!(!session.is_fixt());
        assert_eq!(
            session.with_appl_ver_id(b"9").unwrap_err(),
            SessionDictionaryError::NotFixt
        );
    }

    #[test]
    fn fixt_session_pairs_fixt11_with_default_appl_ver_id() {
        let session = SessionDictionary::from_begin_string(b"FIXT.1.1", Some(b"9")).unwrap();
        assert_eq!(session.transport().version(), Version::Fixt11);
        assert_eq!(session.application().version(), Version::Fix50Sp2);
        let (dict, logon) = session.message(b"A").unwrap();
        assert_eq!(dict.version(), Version::Fixt11);
        assert_eq!(logon.name(), "Logon");
        let (dict, order) = session.message(b"D").unwrap();
        assert_eq!(dict.version(), Version::Fix50Sp2);
        assert_eq!(order.name(), "NewOrderSingle");
        assert!(session.is_admin(b"A"));
        assert!(!session.is_admin(b"D"));
    }

    #[test]
    fn fixt_session_without_or_with_unknown_default_appl_ver_id_is_refused() {
        assert_eq!(
            SessionDictionary::from_begin_string(b"FIXT.1.1", None).unwrap_err(),
            SessionDictionaryError::MissingDefaultApplVerId
        );
        assert_eq!(
            SessionDictionary::from_begin_string(b"FIXT.1.1", Some(b"1")).unwrap_err(),
            SessionDictionaryError::UnknownApplVerId
        );
        assert_eq!(
            SessionDictionary::from_begin_string(b"FIX.9.9", None).unwrap_err(),
            SessionDictionaryError::UnknownBeginString
        );
    }

    #[test]
    fn appl_ver_id_switches_the_application_dictionary_only() {
        let session = SessionDictionary::new(Version::Fix50Sp2);
        let sp1 = session.with_appl_ver_id(b"8").unwrap();
        assert_eq!(sp1.transport().version(), Version::Fixt11);
        assert_eq!(sp1.application().version(), Version::Fix50Sp1);
    }
}
