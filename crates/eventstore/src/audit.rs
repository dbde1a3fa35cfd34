//! The whole-store audit behind `cashflow audit verify`, and the signed anchors that pin the
//! global chain outside the database (ADR 0016).
//!
//! A [`Scan`] is fed every event in position order and checks, at once: that positions are
//! dense from 1, every stream's chain ([`hash::verify`]'s rules), and the global chain. The
//! adapter adds what only it can read (the head counter and tip, the `commands` rows; see
//! `PgEventStore::audit`) and hands back a [`Report`]. An [`Anchor`] is a position and its
//! global hash, HMAC-SHA256'd with a key the database never holds: [`Report::check_anchor`]
//! says whether the store still has that hash at that position.

use crate::RecordedEvent;
use crate::hash::{self, GENESIS};
use chrono::{DateTime, SecondsFormat, Utc};
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use uuid::Uuid;

/// The shortest anchoring key accepted: as long as the HMAC's output.
pub const MIN_KEY_BYTES: usize = 32;

/// Something the audit found wrong. Each displays as one line that starts with a word an
/// operator can grep for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finding {
    /// A stream's chain does not hold from this version on (see [`hash::verify`]).
    Stream { stream_id: String, first_bad_version: u64 },
    /// No event at positions `from..=to`: deleted, since positions are dense.
    Missing { from: u64, to: u64 },
    /// The head counter is not the last event's position: the tail was deleted, or the
    /// counter edited.
    Head { counter: u64, last_position: u64 },
    /// The head's global hash is not the one stored with the last event.
    HeadHash { last_position: u64 },
    /// The global chain does not hold at this position: its global hash does not follow from
    /// the position before it, or it has none although the chain started before it.
    GlobalChain { position: u64, missing: bool },
    /// A `commands` row and the events of its key disagree.
    Command { owner: Uuid, command_id: Uuid, problem: String },
    /// An anchor does not hold.
    Anchor { position: u64, problem: String },
    /// A line of an anchor file is not an anchor signed with the key.
    AnchorLine { line: usize, problem: String },
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Finding::Stream { stream_id, first_bad_version } => {
                write!(f, "TAMPERED {stream_id}: first bad version {first_bad_version}")
            }
            Finding::Missing { from, to } if from == to => write!(f, "MISSING position {from}"),
            Finding::Missing { from, to } => write!(f, "MISSING positions {from}..={to}"),
            Finding::Head { counter, last_position } => {
                write!(f, "HEAD the head counter is at {counter} but the last event is at position {last_position}")
            }
            Finding::HeadHash { last_position } => {
                write!(f, "HEAD the head's global hash is not the one stored at position {last_position}")
            }
            Finding::GlobalChain { position, missing: true } => {
                write!(f, "GLOBAL CHAIN broken at position {position}: it has no global hash")
            }
            Finding::GlobalChain { position, missing: false } => write!(
                f,
                "GLOBAL CHAIN broken at position {position}: its global hash does not follow from the position before"
            ),
            Finding::Command { owner, command_id, problem } => write!(f, "COMMAND {owner}/{command_id}: {problem}"),
            Finding::Anchor { position, problem } => write!(f, "ANCHOR at position {position}: {problem}"),
            Finding::AnchorLine { line, problem } => write!(f, "ANCHOR on line {line}: {problem}"),
        }
    }
}

/// A stream's last verified event.
#[derive(Debug, Clone, Copy)]
struct Tip {
    version: u64,
    hash: [u8; 32],
}

/// Checks every event of the store, fed in position order (each once).
#[derive(Debug)]
pub struct Scan {
    tips: HashMap<String, Tip>,
    broken_streams: BTreeMap<String, u64>,
    events: u64,
    last_position: u64,
    /// The global hash stored at `last_position`.
    last_global: Option<[u8; 32]>,
    /// The first position with a global hash.
    global_from: Option<u64>,
    global_break: Option<Finding>,
    missing: Vec<Finding>,
    /// The positions asked about, with the global hash found at each (`None` when it has none).
    anchored: BTreeMap<u64, Option<[u8; 32]>>,
}

impl Scan {
    /// A scan that also records the global hash stored at each of `anchored` (positions of
    /// anchors to check).
    pub fn new(anchored: impl IntoIterator<Item = u64>) -> Self {
        Self {
            tips: HashMap::new(),
            broken_streams: BTreeMap::new(),
            events: 0,
            last_position: 0,
            last_global: None,
            global_from: None,
            global_break: None,
            missing: Vec::new(),
            anchored: anchored.into_iter().map(|position| (position, None)).collect(),
        }
    }

    /// Checks the next event, whose position must be greater than the last one's, and its
    /// stored global hash.
    pub fn push(&mut self, event: &RecordedEvent, global_hash: Option<[u8; 32]>) {
        let position = event.position;
        if position > self.last_position + 1 {
            self.missing.push(Finding::Missing { from: self.last_position + 1, to: position - 1 });
        }
        self.check_global(event, global_hash);
        self.check_stream(event);
        if let Some(found) = self.anchored.get_mut(&position) {
            *found = global_hash;
        }
        self.events += 1;
        self.last_position = position;
        self.last_global = global_hash;
    }

    /// The chain starts at the first position with a global hash, from [`GENESIS`] (events
    /// from before migration 0002 have none); every later position must have one that
    /// follows from the position right before it.
    fn check_global(&mut self, event: &RecordedEvent, global_hash: Option<[u8; 32]>) {
        if self.global_break.is_some() {
            return;
        }
        let position = event.position;
        let previous = match (self.global_from, global_hash, self.last_global) {
            (None, None, _) => return,
            (None, Some(_), _) => {
                self.global_from = Some(position);
                GENESIS
            }
            (Some(_), Some(_), Some(previous)) if self.last_position + 1 == position => previous,
            // No hash, or a hole before it: the position it chained from is gone.
            (Some(_), stored, _) => {
                self.global_break = Some(Finding::GlobalChain { position, missing: stored.is_none() });
                return;
            }
        };
        if global_hash != Some(hash::global_chain(&previous, position, &event.hash)) {
            self.global_break = Some(Finding::GlobalChain { position, missing: false });
        }
    }

    fn check_stream(&mut self, event: &RecordedEvent) {
        if self.broken_streams.contains_key(&event.stream_id) {
            return;
        }
        let tip = self.tips.get(&event.stream_id).copied().unwrap_or(Tip { version: 0, hash: GENESIS });
        let expected = tip.version + 1;
        let bad = if event.version != expected {
            Some(expected)
        } else if hash::chain(&tip.hash, event) != event.hash {
            Some(event.version)
        } else {
            None
        };
        match bad {
            Some(version) => {
                self.tips.remove(&event.stream_id);
                self.broken_streams.insert(event.stream_id.clone(), version);
            }
            None => {
                self.tips.insert(event.stream_id.clone(), Tip { version: event.version, hash: event.hash });
            }
        }
    }

    /// The report, given the head row (counter and tip) and what the adapter found in the
    /// `commands` rows (`commands` rows read, findings).
    pub fn finish(
        self,
        head: u64,
        head_global: Option<[u8; 32]>,
        commands: u64,
        command_findings: Vec<Finding>,
    ) -> Report {
        let mut findings: Vec<Finding> = self
            .broken_streams
            .into_iter()
            .map(|(stream_id, first_bad_version)| Finding::Stream { stream_id, first_bad_version })
            .collect();
        findings.extend(self.missing);
        if head != self.last_position {
            findings.push(Finding::Head { counter: head, last_position: self.last_position });
        } else if head_global != self.last_global {
            findings.push(Finding::HeadHash { last_position: self.last_position });
        }
        findings.extend(self.global_break);
        findings.extend(command_findings);
        Report {
            streams: (self.tips.len() + findings.iter().filter(|f| matches!(f, Finding::Stream { .. })).count()) as u64,
            events: self.events,
            commands,
            head,
            last_position: self.last_position,
            last_global: self.last_global,
            global_from: self.global_from,
            anchored: self.anchored,
            anchors: 0,
            findings,
        }
    }
}

/// What an audit of the whole store found.
#[derive(Debug, Clone)]
pub struct Report {
    pub streams: u64,
    pub events: u64,
    /// `commands` rows checked.
    pub commands: u64,
    /// The head counter.
    pub head: u64,
    /// The last event's position (0 when there is none).
    pub last_position: u64,
    /// The global hash stored with the last event.
    pub last_global: Option<[u8; 32]>,
    /// The first position of the global chain; `None` when no event has a global hash.
    pub global_from: Option<u64>,
    /// The global hash stored at each position asked about, when it has one.
    pub anchored: BTreeMap<u64, Option<[u8; 32]>>,
    /// Anchors checked with [`Report::check_anchor`].
    pub anchors: u64,
    /// Empty when everything holds.
    pub findings: Vec<Finding>,
}

impl Report {
    pub fn ok(&self) -> bool {
        self.findings.is_empty()
    }

    /// The anchor of this store's current state, if it has one to anchor: the last event's
    /// position and global hash. `None` when the store is empty or its last event has no
    /// global hash (written before migration 0002).
    pub fn tip(&self) -> Option<(u64, [u8; 32])> {
        self.last_global.map(|hash| (self.last_position, hash))
    }

    /// Checks an anchor whose signature was verified against what this report found at its
    /// position (asked for when the scan was made), adding a finding when it does not hold.
    pub fn check_anchor(&mut self, anchor: &Anchor) {
        self.anchors += 1;
        let position = anchor.position;
        let problem = if position > self.last_position {
            format!(
                "the store ends at position {}, before the anchor: events were deleted from its end",
                self.last_position
            )
        } else {
            match self.anchored.get(&position) {
                Some(Some(found)) if *found == anchor.global_hash => return,
                Some(Some(_)) => {
                    "the global hash there is not the anchored one: history at or before it was rewritten".to_owned()
                }
                Some(None) => "the event there has no global hash".to_owned(),
                None => "no event at this position".to_owned(),
            }
        };
        self.findings.push(Finding::Anchor { position, problem });
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} streams, {} events checked, head {}", self.streams, self.events, self.head)?;
        match self.global_from {
            Some(from) => write!(f, ", global chain from position {from}")?,
            None => write!(f, ", no global chain")?,
        }
        write!(f, ", {} commands checked", self.commands)?;
        if self.anchors > 0 {
            write!(f, ", {} anchors checked", self.anchors)?;
        }
        write!(f, ", {} broken", self.findings.len())
    }
}

/// A position of the store and its global hash, as they were when anchored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Anchor {
    pub position: u64,
    pub global_hash: [u8; 32],
    /// When it was made, as written (RFC 3339, UTC): signed as these exact characters.
    pub anchored_at: String,
}

/// Why a line is not an anchor that can be trusted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AnchorError {
    #[error("not an anchor: {0}")]
    Malformed(String),
    #[error("was not written with this key, or was altered since")]
    BadSignature,
}

/// An anchor as written: one JSON line.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct AnchorLine {
    position: u64,
    global_hash: String,
    anchored_at: String,
    hmac_sha256: String,
}

impl Anchor {
    pub fn new(position: u64, global_hash: [u8; 32], anchored_at: DateTime<Utc>) -> Self {
        Self { position, global_hash, anchored_at: anchored_at.to_rfc3339_opts(SecondsFormat::Secs, true) }
    }

    /// The anchor as one JSON line (no newline), signed with `key`.
    pub fn to_line(&self, key: &[u8]) -> String {
        let line = AnchorLine {
            position: self.position,
            global_hash: hex::encode(self.global_hash),
            anchored_at: self.anchored_at.clone(),
            hmac_sha256: hex::encode(self.mac(key).finalize().into_bytes()),
        };
        serde_json::to_string(&line).unwrap_or_else(|_| unreachable!("an anchor always serialises"))
    }

    /// Reads a line written by [`Anchor::to_line`] and checks its signature with `key`.
    pub fn from_line(line: &str, key: &[u8]) -> Result<Self, AnchorError> {
        let malformed = |error: &dyn fmt::Display| AnchorError::Malformed(error.to_string());
        let line: AnchorLine = serde_json::from_str(line.trim()).map_err(|e| malformed(&e))?;
        let mut global_hash = [0u8; 32];
        hex::decode_to_slice(&line.global_hash, &mut global_hash).map_err(|e| malformed(&e))?;
        let signature = hex::decode(&line.hmac_sha256).map_err(|e| malformed(&e))?;
        let anchor = Self { position: line.position, global_hash, anchored_at: line.anchored_at };
        // Constant time: `verify_slice` compares without an early exit.
        anchor.mac(key).verify_slice(&signature).map_err(|_| AnchorError::BadSignature)?;
        Ok(anchor)
    }

    /// HMAC-SHA256 over a versioned text of every field, so no field can be changed alone.
    fn mac(&self, key: &[u8]) -> Hmac<Sha256> {
        // HMAC takes keys of any length.
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key)
            .unwrap_or_else(|_| unreachable!("HMAC accepts a key of any length"));
        let text = format!(
            "cashflow audit anchor v1\nposition {}\nglobal_hash {}\nanchored_at {}\n",
            self.position,
            hex::encode(self.global_hash),
            self.anchored_at
        );
        mac.update(text.as_bytes());
        mac
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use serde_json::json;

    const KEY: &[u8] = b"0123456789abcdef0123456789abcdef";

    /// `count` events over two streams, positions from 1, with their global hashes.
    fn history(count: u64) -> Vec<(RecordedEvent, Option<[u8; 32]>)> {
        let owner = Uuid::now_v7();
        let mut tips: HashMap<String, (u64, [u8; 32])> = HashMap::new();
        let mut global = GENESIS;
        (1..=count)
            .map(|position| {
                let stream_id = format!("account-{}", position % 2);
                let (version, previous) = tips.get(&stream_id).copied().unwrap_or((0, GENESIS));
                let mut event = RecordedEvent {
                    event_id: Uuid::now_v7(),
                    stream_id: stream_id.clone(),
                    version: version + 1,
                    position,
                    event_type: "AccountRenamed".into(),
                    schema_version: 1,
                    payload: json!({"name": position}),
                    owner,
                    command_id: Uuid::now_v7(),
                    correlation_id: Uuid::now_v7(),
                    causation_id: None,
                    traceparent: None,
                    recorded_at: Utc.timestamp_micros(1_700_000_000_000_000).single().unwrap(),
                    hash: [0; 32],
                };
                event.hash = hash::chain(&previous, &event);
                tips.insert(stream_id, (event.version, event.hash));
                global = hash::global_chain(&global, position, &event.hash);
                (event, Some(global))
            })
            .collect()
    }

    fn scan(events: &[(RecordedEvent, Option<[u8; 32]>)], head: u64) -> Report {
        let mut scan = Scan::new([]);
        for (event, global) in events {
            scan.push(event, *global);
        }
        let head_global = events.iter().find(|(e, _)| e.position == head).and_then(|(_, g)| *g);
        scan.finish(head, head_global, 0, Vec::new())
    }

    #[test]
    fn an_untouched_history_holds() {
        let events = history(6);
        let report = scan(&events, 6);
        assert!(report.ok(), "{:?}", report.findings);
        assert_eq!((report.streams, report.events, report.global_from), (2, 6, Some(1)));
        assert!(report.to_string().ends_with(", 0 broken"), "{report}");
    }

    #[test]
    fn a_streams_deleted_last_event_is_a_hole_and_a_break_in_the_global_chain() {
        // Position 5 is the last event of `account-1`: its chain still holds without it.
        let mut events = history(6);
        events.remove(4);
        let report = scan(&events, 6);
        assert_eq!(
            report.findings,
            [Finding::Missing { from: 5, to: 5 }, Finding::GlobalChain { position: 6, missing: false }]
        );
    }

    #[test]
    fn a_deleted_tail_leaves_the_head_counter_ahead() {
        let mut events = history(6);
        events.pop();
        assert_eq!(scan(&events, 6).findings, [Finding::Head { counter: 6, last_position: 5 }]);
    }

    #[test]
    fn a_renumbered_history_breaks_the_global_chain() {
        // Deleting position 5 and moving position 6 down one keeps positions dense and every
        // stream's chain intact; the global chain still binds the old positions.
        let mut events = history(6);
        events.remove(4);
        events[4].0.position = 5;
        let report = scan(&events, 5);
        assert_eq!(report.findings, [Finding::GlobalChain { position: 5, missing: false }]);
    }

    #[test]
    fn the_global_chain_starts_at_the_first_position_that_has_one() {
        let mut events = history(6);
        // Written before migration 0002: positions 1 to 3 have no global hash; the chain
        // restarts from zero bytes at 4.
        let mut global = GENESIS;
        for (event, stored) in &mut events {
            *stored = (event.position >= 4).then(|| {
                global = hash::global_chain(&global, event.position, &event.hash);
                global
            });
        }
        let report = scan(&events, 6);
        assert!(report.ok(), "{:?}", report.findings);
        assert_eq!(report.global_from, Some(4));
        // Once started, a position without one is a break.
        events[4].1 = None;
        assert_eq!(scan(&events, 6).findings[0], Finding::GlobalChain { position: 5, missing: true });
    }

    #[test]
    fn an_anchor_round_trips_and_a_changed_field_or_key_fails_its_signature() {
        let anchor = Anchor::new(42, [7; 32], Utc.timestamp_opt(1_800_000_000, 0).single().unwrap());
        let line = anchor.to_line(KEY);
        assert_eq!(Anchor::from_line(&line, KEY), Ok(anchor));
        assert_eq!(Anchor::from_line(&line, b"another key of 32 bytes or more!"), Err(AnchorError::BadSignature));
        let moved = line.replace("\"position\":42", "\"position\":41");
        assert_eq!(Anchor::from_line(&moved, KEY), Err(AnchorError::BadSignature));
        assert!(matches!(Anchor::from_line("{}", KEY), Err(AnchorError::Malformed(_))));
    }

    #[test]
    fn an_anchor_holds_only_where_the_store_has_its_hash() {
        let events = history(4);
        let (_, Some(at_three)) = events[2] else { unreachable!() };
        let at = Utc.timestamp_opt(1_800_000_000, 0).single().unwrap();
        let mut scanner = Scan::new([3, 6]);
        for (event, global) in &events {
            scanner.push(event, *global);
        }
        let mut report = scanner.finish(4, events[3].1, 0, Vec::new());
        assert_eq!(report.tip(), events[3].1.map(|hash| (4, hash)));
        report.check_anchor(&Anchor::new(3, at_three, at));
        assert!(report.ok());
        report.check_anchor(&Anchor::new(3, [1; 32], at));
        report.check_anchor(&Anchor::new(6, [1; 32], at));
        let positions: Vec<_> = report.findings.iter().map(|f| f.to_string()).collect();
        assert!(positions[0].starts_with("ANCHOR at position 3: the global hash there"), "{positions:?}");
        assert!(positions[1].starts_with("ANCHOR at position 6: the store ends at position 4"), "{positions:?}");
    }
}
