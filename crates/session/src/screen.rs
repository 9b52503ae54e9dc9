//! The checks an inbound message passes before its sequence number matters: BeginString, the
//! data dictionary, CompIDs and SendingTime. The session applies them to every message; the
//! runtime's network core applies the same ones, through a copy of the session's screen, to the
//! in-order application messages it delivers without the session thread.

use gapless_codec::{Message, tag};
use gapless_dict::{Rejection, SessionDictionary, ValidationOptions, validate};

use crate::config::SessionConfig;
use crate::time::Now;

/// A session's inbound checks, detached from its state. See the module documentation.
#[derive(Debug, Clone)]
pub struct InboundScreen {
    begin_string: &'static [u8],
    dictionary: SessionDictionary,
    validation: Option<ValidationOptions>,
    check_comp_ids: bool,
    /// The peer's CompID (our TargetCompID) and ours.
    peer_comp_id: String,
    our_comp_id: String,
    max_sending_time_skew_nanos: Option<u64>,
}

impl InboundScreen {
    pub(crate) fn new(config: &SessionConfig, dictionary: SessionDictionary) -> InboundScreen {
        InboundScreen {
            begin_string: config.version.begin_string().as_bytes(),
            dictionary,
            validation: config.validation,
            check_comp_ids: config.check_comp_ids,
            peer_comp_id: config.target_comp_id.clone(),
            our_comp_id: config.sender_comp_id.clone(),
            max_sending_time_skew_nanos: config
                .max_sending_time_skew
                .map(|skew| u64::try_from(skew.as_nanos()).unwrap_or(u64::MAX)),
        }
    }

    /// Whether an application message in sequence may go to the application without the
    /// session seeing it first: it passes every check, and is not a possible duplicate (whose
    /// OrigSendingTime the session must judge).
    pub fn passes(&self, now: Now, msg: &Message<'_>) -> bool {
        self.begin_string_ok(msg)
            && self.comp_ids_match(msg)
            && self.sending_time_ok(now, msg)
            && msg.poss_dup() != Ok(true)
            && self.dictionary_accepts(msg).is_ok()
    }

    pub(crate) fn dictionary(&self) -> &SessionDictionary {
        &self.dictionary
    }

    pub(crate) fn begin_string_ok(&self, msg: &Message<'_>) -> bool {
        msg.begin_string() == self.begin_string
    }

    pub(crate) fn comp_ids_match(&self, msg: &Message<'_>) -> bool {
        !self.check_comp_ids
            || (msg.get(tag::SENDER_COMP_ID) == Some(self.peer_comp_id.as_bytes())
                && msg.get(tag::TARGET_COMP_ID) == Some(self.our_comp_id.as_bytes()))
    }

    pub(crate) fn sending_time_ok(&self, now: Now, msg: &Message<'_>) -> bool {
        let Some(tolerance) = self.max_sending_time_skew_nanos else {
            return true;
        };
        let Ok(sent) = msg.sending_time() else {
            return false;
        };
        let (Some(sent), Some(ours)) = (sent.unix_nanos(), now.utc.unix_nanos()) else {
            return false;
        };
        sent.abs_diff(ours) <= tolerance
    }

    pub(crate) fn dictionary_accepts(&self, msg: &Message<'_>) -> Result<(), Rejection> {
        match &self.validation {
            Some(options) => validate(&self.dictionary, msg, options),
            None => Ok(()),
        }
    }
}
