//! Owned evaluation results. The evaluator's [`TypedDetail`] borrows rule
//! ids from the ruleset; the client swaps rulesets under the caller, so its
//! `*_detail` getters return these owned forms instead.

use serde::Serialize;

use crate::{ErrorKind, Reason, TypedDetail};

/// An owned [`Reason`]: the same variants and the same JSON form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OwnedReason {
    Off,
    TargetMatch,
    RuleMatch {
        rule_index: usize,
        rule_id: String,
        in_rollout: bool,
    },
    Fallthrough {
        in_rollout: bool,
    },
    PrerequisiteFailed {
        prerequisite_key: String,
    },
    Error {
        error_kind: ErrorKind,
    },
}

impl OwnedReason {
    /// The borrowed form, to reuse [`Reason`]'s methods.
    pub fn as_reason(&self) -> Reason<'_> {
        match self {
            OwnedReason::Off => Reason::Off,
            OwnedReason::TargetMatch => Reason::TargetMatch,
            OwnedReason::RuleMatch {
                rule_index,
                rule_id,
                in_rollout,
            } => Reason::RuleMatch {
                rule_index: *rule_index,
                rule_id,
                in_rollout: *in_rollout,
            },
            OwnedReason::Fallthrough { in_rollout } => Reason::Fallthrough {
                in_rollout: *in_rollout,
            },
            OwnedReason::PrerequisiteFailed { prerequisite_key } => Reason::PrerequisiteFailed { prerequisite_key },
            OwnedReason::Error { error_kind } => Reason::Error {
                error_kind: *error_kind,
            },
        }
    }

    /// The OpenFeature reason (`docs/flag-format.md` has the table).
    pub fn openfeature_reason(&self) -> &'static str {
        self.as_reason().openfeature_reason()
    }

    /// The error kind, when this is an error.
    pub fn error_kind(&self) -> Option<ErrorKind> {
        match self {
            OwnedReason::Error { error_kind } => Some(*error_kind),
            _ => None,
        }
    }
}

impl From<Reason<'_>> for OwnedReason {
    fn from(reason: Reason<'_>) -> Self {
        match reason {
            Reason::Off => OwnedReason::Off,
            Reason::TargetMatch => OwnedReason::TargetMatch,
            Reason::RuleMatch {
                rule_index,
                rule_id,
                in_rollout,
            } => OwnedReason::RuleMatch {
                rule_index,
                rule_id: rule_id.to_owned(),
                in_rollout,
            },
            Reason::Fallthrough { in_rollout } => OwnedReason::Fallthrough { in_rollout },
            Reason::PrerequisiteFailed { prerequisite_key } => OwnedReason::PrerequisiteFailed {
                prerequisite_key: prerequisite_key.to_owned(),
            },
            Reason::Error { error_kind } => OwnedReason::Error { error_kind },
        }
    }
}

/// A typed evaluation result: `value` is the caller's default when
/// `variation` is `None` (an error, or off without an off variation).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EvaluationDetail<T> {
    pub value: T,
    pub variation: Option<usize>,
    pub reason: OwnedReason,
}

impl<T> EvaluationDetail<T> {
    /// The caller's default, because the client has no flag data yet.
    pub(crate) fn not_ready(default: T) -> Self {
        EvaluationDetail {
            value: default,
            variation: None,
            reason: OwnedReason::Error {
                error_kind: ErrorKind::ProviderNotReady,
            },
        }
    }

    /// Takes ownership of an evaluator result, converting its value.
    pub(crate) fn from_typed<U>(detail: TypedDetail<'_, U>, convert: impl FnOnce(U) -> T) -> Self {
        EvaluationDetail {
            value: convert(detail.value),
            variation: detail.variation,
            reason: detail.reason.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owned_reasons_round_trip_and_serialise_like_borrowed_ones() {
        let reasons = [
            Reason::Off,
            Reason::TargetMatch,
            Reason::RuleMatch {
                rule_index: 2,
                rule_id: "r",
                in_rollout: true,
            },
            Reason::Fallthrough { in_rollout: false },
            Reason::PrerequisiteFailed { prerequisite_key: "p" },
            Reason::Error {
                error_kind: ErrorKind::TypeMismatch,
            },
        ];
        for reason in reasons {
            let owned = OwnedReason::from(reason);
            assert_eq!(owned.as_reason(), reason);
            assert_eq!(
                serde_json::to_value(&owned).unwrap(),
                serde_json::to_value(reason).unwrap()
            );
            assert_eq!(owned.openfeature_reason(), reason.openfeature_reason());
        }
    }
}
