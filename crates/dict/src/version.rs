//! FIX protocol versions and their BeginString (8) / ApplVerID (1128) spellings.

use core::fmt;

/// A FIX version this crate has a dictionary for.
///
/// `Fixt11` is the session layer (FIXT.1.1) that carries FIX.5.0 and later application messages;
/// its dictionary holds the header, the trailer and the admin messages only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Version {
    Fix40,
    Fix41,
    Fix42,
    Fix43,
    Fix44,
    Fixt11,
    Fix50,
    Fix50Sp1,
    Fix50Sp2,
}

impl Version {
    /// Every version, in the order above.
    pub const ALL: [Version; 9] = [
        Version::Fix40,
        Version::Fix41,
        Version::Fix42,
        Version::Fix43,
        Version::Fix44,
        Version::Fixt11,
        Version::Fix50,
        Version::Fix50Sp1,
        Version::Fix50Sp2,
    ];

    /// The BeginString (8) of a session carrying this version: `FIX.4.x` up to FIX.4.4, and
    /// `FIXT.1.1` for FIXT.1.1 and FIX.5.0 and later.
    pub const fn begin_string(self) -> &'static str {
        match self {
            Version::Fix40 => "FIX.4.0",
            Version::Fix41 => "FIX.4.1",
            Version::Fix42 => "FIX.4.2",
            Version::Fix43 => "FIX.4.3",
            Version::Fix44 => "FIX.4.4",
            Version::Fixt11 | Version::Fix50 | Version::Fix50Sp1 | Version::Fix50Sp2 => "FIXT.1.1",
        }
    }

    /// The version a BeginString (8) names; `FIXT.1.1` gives [`Version::Fixt11`], whose
    /// application version comes from ApplVerID / DefaultApplVerID instead.
    pub fn from_begin_string(begin_string: &[u8]) -> Option<Version> {
        match begin_string {
            b"FIX.4.0" => Some(Version::Fix40),
            b"FIX.4.1" => Some(Version::Fix41),
            b"FIX.4.2" => Some(Version::Fix42),
            b"FIX.4.3" => Some(Version::Fix43),
            b"FIX.4.4" => Some(Version::Fix44),
            b"FIXT.1.1" => Some(Version::Fixt11),
            _ => None,
        }
    }

    /// The ApplVerID (1128) value naming this version as an application version; `None` for
    /// FIXT.1.1, which is not one.
    pub const fn appl_ver_id(self) -> Option<&'static str> {
        match self {
            Version::Fix40 => Some("2"),
            Version::Fix41 => Some("3"),
            Version::Fix42 => Some("4"),
            Version::Fix43 => Some("5"),
            Version::Fix44 => Some("6"),
            Version::Fix50 => Some("7"),
            Version::Fix50Sp1 => Some("8"),
            Version::Fix50Sp2 => Some("9"),
            Version::Fixt11 => None,
        }
    }

    /// The version an ApplVerID (1128) or DefaultApplVerID (1137) value names, among those this
    /// crate has dictionaries for (FIX.2.7 and FIX.3.0, `0` and `1`, are not).
    pub fn from_appl_ver_id(appl_ver_id: &[u8]) -> Option<Version> {
        match appl_ver_id {
            b"2" => Some(Version::Fix40),
            b"3" => Some(Version::Fix41),
            b"4" => Some(Version::Fix42),
            b"5" => Some(Version::Fix43),
            b"6" => Some(Version::Fix44),
            b"7" => Some(Version::Fix50),
            b"8" => Some(Version::Fix50Sp1),
            b"9" => Some(Version::Fix50Sp2),
            _ => None,
        }
    }

    /// The version whose dictionary defines the header, trailer and admin messages of a session
    /// carrying this version: FIXT.1.1 for FIX.5.0 and later, the version itself otherwise.
    pub const fn transport(self) -> Version {
        match self {
            Version::Fix50 | Version::Fix50Sp1 | Version::Fix50Sp2 => Version::Fixt11,
            other => other,
        }
    }

    /// The conventional name, e.g. `FIX.4.4`, `FIXT.1.1`, `FIX.5.0SP2`.
    pub const fn name(self) -> &'static str {
        match self {
            Version::Fix50 => "FIX.5.0",
            Version::Fix50Sp1 => "FIX.5.0SP1",
            Version::Fix50Sp2 => "FIX.5.0SP2",
            other => other.begin_string(),
        }
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn begin_string_round_trips_for_fix4_and_fixt() {
        for version in Version::ALL {
            let parsed = Version::from_begin_string(version.begin_string().as_bytes());
            assert_eq!(parsed, Some(version.transport()), "{version}");
        }
        assert_eq!(Version::from_begin_string(b"FIX.5.0"), None);
    }

    #[test]
    fn appl_ver_id_round_trips_and_matches_fix_codes() {
        for version in Version::ALL {
            if let Some(id) = version.appl_ver_id() {
                assert_eq!(Version::from_appl_ver_id(id.as_bytes()), Some(version));
            }
        }
        assert_eq!(Version::Fix50.appl_ver_id(), Some("7"));
        assert_eq!(Version::Fix50Sp1.appl_ver_id(), Some("8"));
        assert_eq!(Version::Fix50Sp2.appl_ver_id(), Some("9"));
        assert_eq!(Version::Fix40.appl_ver_id(), Some("2"));
        assert_eq!(Version::Fix44.appl_ver_id(), Some("6"));
        assert_eq!(Version::from_appl_ver_id(b"1"), None);
        assert_eq!(Version::from_appl_ver_id(b""), None);
    }
}
