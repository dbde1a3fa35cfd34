//! What a request carries besides its message: the caller, correlation and trace ids, and
//! the call's deadline, read from gRPC metadata into the application's [`CommandContext`].

use crate::auth::Caller;
use cashflow_app::CommandContext;
use cashflow_domain::CommandId;
use std::time::Duration;
use tonic::metadata::MetadataMap;
use uuid::Uuid;

/// The context of a command from `caller`: `command_id` comes from its parsed message, the
/// correlation id and the trace from the request's metadata.
pub fn command_context(caller: Caller, metadata: &MetadataMap, command_id: CommandId) -> CommandContext {
    CommandContext::new(caller.user_id, command_id, correlation_id(metadata), traceparent(metadata))
}

/// An `x-correlation-id` header that is a UUID; anything else is ignored.
fn correlation_id(metadata: &MetadataMap) -> Option<Uuid> {
    let raw = metadata.get("x-correlation-id")?.to_str().ok()?;
    Uuid::parse_str(raw.trim()).ok()
}

/// The incoming W3C `traceparent`, kept only when well-formed so stored metadata stays clean.
fn traceparent(metadata: &MetadataMap) -> Option<String> {
    let raw = metadata.get("traceparent")?.to_str().ok()?.trim();
    trace_id(raw).map(|_| raw.to_ascii_lowercase())
}

/// The 32-hex trace id of a `traceparent` (`00-<trace id>-<parent id>-<flags>`).
pub fn trace_id(traceparent: &str) -> Option<&str> {
    let mut parts = traceparent.split('-');
    let (version, trace, parent, flags) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let hex = |s: &str, len: usize| s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit());
    let well_formed = hex(version, 2)
        && !version.eq_ignore_ascii_case("ff")
        && hex(trace, 32)
        && hex(parent, 16)
        && hex(flags, 2)
        // Version 00 has exactly four parts; later versions may append more.
        && (version != "00" || parts.next().is_none());
    let all_zero = |s: &str| s.bytes().all(|b| b == b'0');
    (well_formed && !all_zero(trace) && !all_zero(parent)).then_some(trace)
}

/// The call's deadline from the `grpc-timeout` header, if the client set one.
pub fn grpc_timeout(metadata: &MetadataMap) -> Option<Duration> {
    let raw = metadata.get("grpc-timeout")?.to_str().ok()?;
    if raw.len() < 2 || raw.len() > 9 {
        return None;
    }
    let (value, unit) = raw.split_at(raw.len() - 1);
    let value: u64 = value.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(value * 3600),
        "M" => Duration::from_secs(value * 60),
        "S" => Duration::from_secs(value),
        "m" => Duration::from_millis(value),
        "u" => Duration::from_micros(value),
        "n" => Duration::from_nanos(value),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use cashflow_domain::UserId;

    fn metadata(pairs: &[(&'static str, &str)]) -> MetadataMap {
        let mut map = MetadataMap::new();
        for (key, value) in pairs {
            map.insert(*key, value.parse().unwrap());
        }
        map
    }

    #[test]
    fn a_command_correlates_to_itself_unless_the_client_says_otherwise() {
        let user = UserId::new();
        let command_id = CommandId::new();
        let caller = Caller { user_id: user };
        let context = command_context(caller, &MetadataMap::new(), command_id);
        assert_eq!(context.correlation_id, command_id.as_uuid());
        assert_eq!(context.metadata().owner, user.as_uuid());
        assert_eq!(context.metadata().command_id, command_id.as_uuid());

        let correlation = Uuid::now_v7().to_string();
        let context = command_context(caller, &metadata(&[("x-correlation-id", &correlation)]), command_id);
        assert_eq!(context.correlation_id.to_string(), correlation);
        let context = command_context(caller, &metadata(&[("x-correlation-id", "not-a-uuid")]), command_id);
        assert_eq!(context.correlation_id, command_id.as_uuid());
    }

    #[test]
    fn a_well_formed_traceparent_is_kept_and_a_bad_one_dropped() {
        let good = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        assert_eq!(traceparent(&metadata(&[("traceparent", good)])).as_deref(), Some(good));
        assert_eq!(trace_id(good), Some("4bf92f3577b34da6a3ce929d0e0e4736"));
        for bad in [
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "hello",
        ] {
            assert_eq!(traceparent(&metadata(&[("traceparent", bad)])), None, "{bad}");
        }
        assert_eq!(traceparent(&MetadataMap::new()), None);
    }

    #[test]
    fn grpc_timeouts_parse_in_every_unit() {
        let parse = |raw| grpc_timeout(&metadata(&[("grpc-timeout", raw)]));
        assert_eq!(parse("5S"), Some(Duration::from_secs(5)));
        assert_eq!(parse("250m"), Some(Duration::from_millis(250)));
        assert_eq!(parse("2M"), Some(Duration::from_secs(120)));
        assert_eq!(parse("1H"), Some(Duration::from_secs(3600)));
        assert_eq!(parse("100u"), Some(Duration::from_micros(100)));
        assert_eq!(parse("100n"), Some(Duration::from_nanos(100)));
        assert_eq!(parse("123456789S"), None);
        assert_eq!(parse("S"), None);
        assert_eq!(parse("5x"), None);
        assert_eq!(grpc_timeout(&MetadataMap::new()), None);
    }
}
