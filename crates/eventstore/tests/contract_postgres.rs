//! The adapter contract, run against PostgreSQL: each case on a database of its own.

mod support;

use cashflow_eventstore::contract;

macro_rules! contract_cases {
    ($($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                support::with_store(contract::$case).await;
            }
        )*
    };
}

contract_cases!(
    append_then_read_stream_returns_the_events_with_metadata,
    positions_are_dense_from_one_and_read_all_is_in_order,
    expected_version_is_honoured_and_a_conflict_writes_nothing,
    concurrent_writers_on_one_stream_exactly_one_wins,
    concurrent_writers_expecting_any_version_all_succeed,
    an_idempotent_retry_returns_the_first_outcome_and_appends_nothing,
    concurrent_retries_of_one_command_append_once,
    the_same_command_id_under_another_owner_is_another_key,
    an_append_of_no_events_is_remembered,
    an_append_that_fails_writes_nothing,
    the_hash_chain_verifies_and_tampering_is_detected,
    wait_for_events_wakes_on_append_and_times_out_otherwise,
    concurrent_writers_and_a_tailing_reader_see_every_position_once,
    concurrent_appends_each_get_their_own_outcome,
    a_conflict_or_replay_does_not_fail_its_neighbours,
);
