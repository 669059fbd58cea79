//! An OpenFeature provider (`open-feature` crate) backed by a [`Client`].
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use daylight::client::{openfeature::DaylightProvider, Client};
//! use open_feature::{EvaluationContext, OpenFeature};
//! let client = Client::builder("wss://flags.example.com", "dl_server_…").build().await?;
//! let mut api = OpenFeature::singleton_mut().await;
//! api.set_provider(DaylightProvider::new(client)).await;
//! let flags = api.create_client();
//! let ctx = EvaluationContext::default().with_targeting_key("u-42").with_custom_field("game", "omaha");
//! let on = flags.get_bool_value("new-lobby", Some(&ctx), None).await.unwrap_or(false);
//! # Ok(()) }
//! ```
//!
//! Mapping (`docs/flag-format.md` has the reasons' table):
//! - value and `variant`: the served variation and its index as a string;
//! - `reason`: [`crate::Reason::openfeature_reason`]; the rule id, rule index
//!   and prerequisite key go in the flag metadata;
//! - errors: `FLAG_NOT_FOUND`, `TYPE_MISMATCH`, `PROVIDER_NOT_READY` map to
//!   the same codes; an evaluation that serves the caller's default without
//!   an error (off, or a failed prerequisite, with no off variation) is the
//!   error `General("NO_VARIATION")`, because the Rust OpenFeature API gives
//!   the provider no default to return.

use open_feature::provider::{FeatureProvider, ProviderMetadata, ProviderStatus, ResolutionDetails};
use open_feature::{
    async_trait, EvaluationContext, EvaluationContextFieldValue, EvaluationError, EvaluationErrorCode,
    EvaluationReason, EvaluationResult, FlagMetadata, StructValue, Value as OfValue,
};
use serde_json::Value;

use super::{Client, ConnectionState};
use crate::{Context, ErrorKind, Reason};

/// The provider: resolves through the client's ruleset with the crate's
/// evaluator, so OpenFeature and direct calls always agree.
#[derive(Debug, Clone)]
pub struct DaylightProvider {
    client: Client,
    metadata: ProviderMetadata,
}

impl DaylightProvider {
    pub fn new(client: Client) -> Self {
        DaylightProvider {
            client,
            metadata: ProviderMetadata::new("daylight"),
        }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Evaluates `key` and converts the served value with `convert`
    /// (`None`: the flag has another type).
    fn resolve<T>(
        &self,
        key: &str,
        ctx: &EvaluationContext,
        convert: impl FnOnce(&Value) -> Option<T>,
    ) -> EvaluationResult<ResolutionDetails<T>> {
        let Some(rules) = self.client.ruleset() else {
            return Err(error(EvaluationErrorCode::ProviderNotReady, "no flag data yet"));
        };
        let detail = rules.evaluate(key, &to_context(ctx));
        let Some(value) = detail.value else {
            return Err(match detail.reason {
                Reason::Error { error_kind } => error(code(error_kind), error_kind.as_str()),
                reason => error(
                    EvaluationErrorCode::General("NO_VARIATION".to_owned()),
                    &format!(
                        "flag `{key}` served no variation ({}): the caller's default applies",
                        reason.openfeature_reason()
                    ),
                ),
            });
        };
        let Some(value) = convert(value) else {
            return Err(error(
                EvaluationErrorCode::TypeMismatch,
                &format!("flag `{key}` has another type"),
            ));
        };
        if let Some(usage) = &self.client.inner.usage {
            usage.count(key, detail.variation);
        }
        Ok(ResolutionDetails {
            value,
            variant: detail.variation.map(|v| v.to_string()),
            reason: Some(reason(&detail.reason)),
            flag_metadata: metadata(&detail.reason),
        })
    }
}

#[async_trait]
impl FeatureProvider for DaylightProvider {
    /// Waits for the client's first data, at most 5 s more (a client from
    /// [`crate::client::ClientBuilder::build`] already waited).
    async fn initialize(&mut self, _context: &EvaluationContext) {
        self.client.wait_ready(std::time::Duration::from_secs(5)).await;
    }

    /// `Ready` with data and a live (or no) connection, `Stale` with data
    /// while disconnected, `NotReady` before data, `Error` when the client
    /// has no data and has stopped trying or was refused.
    fn status(&self) -> ProviderStatus {
        let ready = self.client.is_ready();
        match self.client.connection_state() {
            ConnectionState::Synced | ConnectionState::Offline if ready => ProviderStatus::Ready,
            _ if ready => ProviderStatus::STALE,
            ConnectionState::Unauthorized | ConnectionState::Stopped | ConnectionState::Closed => ProviderStatus::Error,
            _ => ProviderStatus::NotReady,
        }
    }

    fn metadata(&self) -> &ProviderMetadata {
        &self.metadata
    }

    async fn resolve_bool_value(
        &self,
        key: &str,
        ctx: &EvaluationContext,
    ) -> EvaluationResult<ResolutionDetails<bool>> {
        self.resolve(key, ctx, Value::as_bool)
    }

    /// Integral numbers only (`3` or `3.0`); `3.5` is a `TYPE_MISMATCH`.
    async fn resolve_int_value(&self, key: &str, ctx: &EvaluationContext) -> EvaluationResult<ResolutionDetails<i64>> {
        self.resolve(key, ctx, as_int)
    }

    async fn resolve_float_value(
        &self,
        key: &str,
        ctx: &EvaluationContext,
    ) -> EvaluationResult<ResolutionDetails<f64>> {
        self.resolve(key, ctx, Value::as_f64)
    }

    async fn resolve_string_value(
        &self,
        key: &str,
        ctx: &EvaluationContext,
    ) -> EvaluationResult<ResolutionDetails<String>> {
        self.resolve(key, ctx, |v| v.as_str().map(str::to_owned))
    }

    async fn resolve_struct_value(
        &self,
        key: &str,
        ctx: &EvaluationContext,
    ) -> EvaluationResult<ResolutionDetails<StructValue>> {
        self.resolve(key, ctx, |v| v.as_object().map(to_struct))
    }
}

/// An OpenFeature context as a Daylight one: the targeting key is the key;
/// booleans, numbers and strings are attributes; a date-time is its Unix
/// milliseconds (what `before` / `after` compare); a struct holding a
/// `Vec<String>` is a list. Other structs count as missing.
pub fn to_context(ctx: &EvaluationContext) -> Context {
    let mut context = Context::anonymous();
    for (name, value) in &ctx.custom_fields {
        match value {
            EvaluationContextFieldValue::Bool(b) => context.set(name.as_str(), *b),
            EvaluationContextFieldValue::Int(i) => context.set(name.as_str(), *i),
            EvaluationContextFieldValue::Float(f) => context.set(name.as_str(), *f),
            EvaluationContextFieldValue::String(s) => context.set(name.as_str(), s.as_str()),
            EvaluationContextFieldValue::DateTime(t) => {
                context.set(name.as_str(), (t.unix_timestamp_nanos() / 1_000_000) as f64)
            }
            EvaluationContextFieldValue::Struct(any) => {
                if let Some(list) = any.downcast_ref::<Vec<String>>() {
                    context.set(name.as_str(), list.clone());
                }
            }
        }
    }
    if let Some(key) = &ctx.targeting_key {
        context.set("key", key.as_str());
    }
    context
}

fn as_int(value: &Value) -> Option<i64> {
    value.as_i64().or_else(|| {
        let f = value.as_f64()?;
        // Integral and within i64 (2^63 itself is out of range).
        (f.fract() == 0.0 && f >= i64::MIN as f64 && f < i64::MAX as f64).then_some(f as i64)
    })
}

fn to_struct(object: &serde_json::Map<String, Value>) -> StructValue {
    StructValue {
        fields: object
            .iter()
            .filter_map(|(k, v)| to_value(v).map(|v| (k.clone(), v)))
            .collect(),
    }
}

/// JSON as an OpenFeature value; `null` has no counterpart and is left out.
fn to_value(value: &Value) -> Option<OfValue> {
    Some(match value {
        Value::Null => return None,
        Value::Bool(b) => OfValue::Bool(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => OfValue::Int(i),
            None => OfValue::Float(n.as_f64()?),
        },
        Value::String(s) => OfValue::String(s.clone()),
        Value::Array(items) => OfValue::Array(items.iter().filter_map(to_value).collect()),
        Value::Object(object) => OfValue::Struct(to_struct(object)),
    })
}

fn reason(reason: &Reason<'_>) -> EvaluationReason {
    match reason.openfeature_reason() {
        "DISABLED" => EvaluationReason::Disabled,
        "TARGETING_MATCH" => EvaluationReason::TargetingMatch,
        "SPLIT" => EvaluationReason::Split,
        "DEFAULT" => EvaluationReason::Default,
        "ERROR" => EvaluationReason::Error,
        other => EvaluationReason::Other(other.to_owned()),
    }
}

fn metadata(reason: &Reason<'_>) -> Option<FlagMetadata> {
    match *reason {
        Reason::RuleMatch {
            rule_index, rule_id, ..
        } => Some(
            FlagMetadata::default()
                .with_value("rule_index", rule_index as i64)
                .with_value("rule_id", rule_id),
        ),
        Reason::PrerequisiteFailed { prerequisite_key } => {
            Some(FlagMetadata::default().with_value("prerequisite_key", prerequisite_key))
        }
        _ => None,
    }
}

fn code(kind: ErrorKind) -> EvaluationErrorCode {
    match kind {
        ErrorKind::FlagNotFound => EvaluationErrorCode::FlagNotFound,
        ErrorKind::TypeMismatch => EvaluationErrorCode::TypeMismatch,
        ErrorKind::ProviderNotReady => EvaluationErrorCode::ProviderNotReady,
        ErrorKind::General => EvaluationErrorCode::General("GENERAL".to_owned()),
    }
}

fn error(code: EvaluationErrorCode, message: &str) -> EvaluationError {
    EvaluationError {
        code,
        message: Some(message.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ints_must_be_integral() {
        assert_eq!(as_int(&json!(3)), Some(3));
        assert_eq!(as_int(&json!(3.0)), Some(3));
        assert_eq!(as_int(&json!(-2)), Some(-2));
        assert_eq!(as_int(&json!(3.5)), None);
        assert_eq!(as_int(&json!(1e300)), None);
        assert_eq!(as_int(&json!("3")), None);
    }

    #[test]
    fn structs_convert_recursively_and_drop_nulls() {
        let value = json!({"a": 1, "b": 1.5, "c": [true, null, "x"], "d": {"e": null}});
        let converted = to_struct(value.as_object().unwrap());
        let expected = StructValue::default()
            .with_field("a", 1)
            .with_field("b", 1.5)
            .with_field(
                "c",
                OfValue::Array(vec![OfValue::Bool(true), OfValue::String("x".into())]),
            )
            .with_field("d", StructValue::default());
        assert_eq!(converted, expected);
    }
}
