//! The life of an order, as one state machine checked in one place.
//!
//! [`OrderState::can_become`] is the transition table. The Lua scripts do not repeat it: the
//! queue renders this table into the Lua prelude every script starts with (see `queue::scripts`),
//! so a transition the table forbids is refused inside Redis too.

use std::fmt;

use crate::error::ValidationError;
use crate::order::string_enum;

/// A value that is not one of an enum's names; keeps the list of names for the error message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{value:?} is not a {what} (use {})", join_or(.expected))]
pub struct ParseEnumError {
    pub what: &'static str,
    pub value: String,
    pub expected: &'static [&'static str],
}

impl ParseEnumError {
    /// The same error as a [`ValidationError`] naming the input field it came from.
    pub fn for_field(self, field: &str) -> ValidationError {
        ValidationError::new(
            field,
            &self.value,
            format!("is not a {} (use {})", self.what, join_or(self.expected)),
        )
    }
}

fn join_or(names: &[&str]) -> String {
    match names {
        [] => String::new(),
        [one] => one.to_string(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

string_enum!(
    /// Where an order is in its life. Stored as its name in the order hash's `state` field.
    OrderState, "state", {
        /// In a ready list, waiting for a worker.
        Queued => "queued",
        /// Waiting in the delayed set for its retry (backoff) or scheduled time.
        Delayed => "delayed",
        /// Leased by a worker that runs it.
        Running => "running",
        /// Leased, and its agent waits for a person to answer a question.
        AwaitingClarification => "awaiting_clarification",
        /// Its branch is pushed; a person must approve or reject it (supervised definitions).
        AwaitingApproval => "awaiting_approval",
        Succeeded => "succeeded",
        /// Failed for a reason retrying cannot fix (bad repository, constraint violation...).
        Failed => "failed",
        Cancelled => "cancelled",
        /// Failed on every attempt it had; kept in the dead set for a person to look at or retry.
        Dead => "dead",
    }
);

impl OrderState {
    /// Whether an order in `self` may move to `next`. The one transition table of the system.
    pub fn can_become(self, next: OrderState) -> bool {
        use OrderState::*;
        match self {
            Queued => matches!(next, Running | Cancelled),
            Delayed => matches!(next, Queued | Cancelled),
            // Running → Queued: lease expired with attempts left, or handed back on shutdown.
            Running => matches!(
                next,
                Queued
                    | Delayed
                    | AwaitingClarification
                    | AwaitingApproval
                    | Succeeded
                    | Failed
                    | Cancelled
                    | Dead
            ),
            AwaitingClarification => matches!(
                next,
                Running
                    | Queued
                    | Delayed
                    | AwaitingApproval
                    | Succeeded
                    | Failed
                    | Cancelled
                    | Dead
            ),
            AwaitingApproval => matches!(next, Succeeded | Failed | Cancelled),
            // A person may send a failed or dead order round again.
            Failed | Dead => matches!(next, Queued),
            Succeeded | Cancelled => false,
        }
    }

    /// Whether the order holds a lease (a worker owns it).
    pub fn is_leased(self) -> bool {
        matches!(
            self,
            OrderState::Running | OrderState::AwaitingClarification
        )
    }

    /// Whether nothing more will happen to the order unless a person acts.
    pub fn is_finished(self) -> bool {
        matches!(
            self,
            OrderState::Succeeded | OrderState::Failed | OrderState::Cancelled | OrderState::Dead
        )
    }
}

/// Why an order failed, recorded on the order and in its events. Displayed in the stored form,
/// e.g. `agent_exit(3)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FailureReason {
    AgentExit(i64),
    Timeout,
    Cancelled,
    ConstraintViolation,
    ClarificationTimeout,
    LeaseExpired,
    CloneFailed,
    PushFailed,
    BadOrder,
    Infrastructure,
    Rejected,
}

impl fmt::Display for FailureReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FailureReason::AgentExit(code) => write!(f, "agent_exit({code})"),
            other => f.write_str(match other {
                FailureReason::Timeout => "timeout",
                FailureReason::Cancelled => "cancelled",
                FailureReason::ConstraintViolation => "constraint_violation",
                FailureReason::ClarificationTimeout => "clarification_timeout",
                FailureReason::LeaseExpired => "lease_expired",
                FailureReason::CloneFailed => "clone_failed",
                FailureReason::PushFailed => "push_failed",
                FailureReason::BadOrder => "bad_order",
                FailureReason::Infrastructure => "infrastructure",
                FailureReason::Rejected => "rejected",
                FailureReason::AgentExit(_) => unreachable!("handled above"),
            }),
        }
    }
}

impl std::str::FromStr for FailureReason {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Some(code) = s
            .strip_prefix("agent_exit(")
            .and_then(|rest| rest.strip_suffix(')'))
        {
            return code
                .parse()
                .map(FailureReason::AgentExit)
                .map_err(|_| ValidationError::new("reason", s, "has a non-numeric exit code"));
        }
        Ok(match s {
            "timeout" => FailureReason::Timeout,
            "cancelled" => FailureReason::Cancelled,
            "constraint_violation" => FailureReason::ConstraintViolation,
            "clarification_timeout" => FailureReason::ClarificationTimeout,
            "lease_expired" => FailureReason::LeaseExpired,
            "clone_failed" => FailureReason::CloneFailed,
            "push_failed" => FailureReason::PushFailed,
            "bad_order" => FailureReason::BadOrder,
            "infrastructure" => FailureReason::Infrastructure,
            "rejected" => FailureReason::Rejected,
            _ => return Err(ValidationError::new("reason", s, "is not a failure reason")),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_round_trip_through_their_stored_names() {
        for s in OrderState::ALL {
            assert_eq!(s.to_string().parse::<OrderState>().unwrap(), *s);
        }
    }

    #[test]
    fn finished_orders_only_move_when_a_person_retries_them() {
        use OrderState::*;
        assert!(!Succeeded.can_become(Queued));
        assert!(!Cancelled.can_become(Queued));
        assert!(Dead.can_become(Queued));
        assert!(Failed.can_become(Queued));
        assert!(!Dead.can_become(Running));
        assert!(
            !Queued.can_become(Succeeded),
            "an order must be claimed first"
        );
    }

    #[test]
    fn failure_reasons_round_trip() {
        for r in [
            FailureReason::AgentExit(-9),
            FailureReason::Timeout,
            FailureReason::LeaseExpired,
            FailureReason::ConstraintViolation,
        ] {
            assert_eq!(r.to_string().parse::<FailureReason>().unwrap(), r);
        }
    }

    #[test]
    fn unknown_state_names_list_the_valid_ones() {
        let err = "done".parse::<OrderState>().unwrap_err();
        assert!(err.to_string().contains("succeeded"), "{err}");
    }
}
