//! The worker runner against real NATS: retries, giving up, and a message whose handling never
//! finishes because it kills the process, which must not come back forever.

use crate::common::{PATIENCE, Running, TestEnv};
use cashflow_app::{WorkError, Worker};
use cashflow_bus::worker::GIVE_UP_DELIVERIES;
use cashflow_bus::{WorkerConfig, WorkerRunner};
use cashflow_eventstore::RecordedEvent;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const NAME: &str = "test_worker";
const MAX_DELIVER: i64 = 3;

#[derive(Clone, Copy)]
enum Behaviour {
    /// Never answers, as a process killed mid-job never does.
    Hang,
    /// Fails transiently every time.
    FailTransiently,
}

#[derive(Clone)]
struct Probe {
    behaviour: Behaviour,
    handled: Arc<AtomicUsize>,
    gave_up: Arc<Mutex<Vec<String>>>,
}

impl Probe {
    fn new(behaviour: Behaviour) -> Self {
        Self { behaviour, handled: Arc::default(), gave_up: Arc::default() }
    }

    fn handled(&self) -> usize {
        self.handled.load(Ordering::SeqCst)
    }

    fn gave_up(&self) -> Vec<String> {
        self.gave_up.lock().expect("reasons").clone()
    }
}

#[async_trait::async_trait]
impl Worker for Probe {
    fn name(&self) -> &'static str {
        NAME
    }

    fn events(&self) -> &'static [(&'static str, &'static str)] {
        &[("movement", "Recorded")]
    }

    async fn handle(&self, _: &RecordedEvent) -> Result<(), WorkError> {
        self.handled.fetch_add(1, Ordering::SeqCst);
        match self.behaviour {
            Behaviour::Hang => std::future::pending().await,
            Behaviour::FailTransiently => Err(WorkError::Retry("the store is down".into())),
        }
    }

    async fn give_up(&self, _: &RecordedEvent, reason: &str) -> Result<(), WorkError> {
        self.gave_up.lock().expect("reasons").push(reason.to_owned());
        Ok(())
    }
}

fn config() -> WorkerConfig {
    WorkerConfig {
        concurrency: 1,
        ack_wait: Duration::from_secs(1),
        max_deliver: MAX_DELIVER,
        retry_delay: Duration::from_millis(100),
    }
}

fn spawn(env: &TestEnv, probe: &Probe) -> Running {
    let runner =
        WorkerRunner::new(Arc::new(probe.clone()), env.jetstream.clone(), env.names.clone()).with_config(config());
    Running::spawn(move |stop| runner.run(stop))
}

/// One "Recorded" event on the stream, published by the relay.
async fn one_event(env: &TestEnv) -> Running {
    let head = env.append_concurrently(1, 1).await;
    let relay = env.spawn_relay();
    env.wait_for_stream(head).await;
    relay
}

async fn until(what: &str, done: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !done() {
        assert!(tokio::time::Instant::now() < deadline, "{what} never happened");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_whose_handling_never_finishes_is_given_up_on_its_last_delivery() {
    let env = TestEnv::start().await;
    let relay = one_event(&env).await;
    let probe = Probe::new(Behaviour::Hang);
    // Each delivery "crashes" the runner mid-job: the task is dropped, nothing is acked, and the
    // message comes back after ack_wait to the next runner.
    let mut crashes = 0;
    while probe.gave_up().is_empty() {
        assert!(crashes < MAX_DELIVER + 2, "handled {} times and never given up", probe.handled());
        let before = probe.handled();
        let runner = spawn(&env, &probe);
        until("a delivery", || probe.handled() > before || !probe.gave_up().is_empty()).await;
        runner.kill().await;
        crashes += 1;
    }
    assert_eq!(probe.handled(), MAX_DELIVER as usize - 1, "deliveries handled");
    assert_eq!(probe.gave_up().len(), 1);
    assert!(probe.gave_up()[0].contains("delivered 3 times"), "{:?}", probe.gave_up());
    relay.stop().await;
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transient_failure_is_retried_then_given_up_with_its_reason() {
    let env = TestEnv::start().await;
    let relay = one_event(&env).await;
    let probe = Probe::new(Behaviour::FailTransiently);
    let runner = spawn(&env, &probe);
    until("giving up", || !probe.gave_up().is_empty()).await;
    // Nothing more comes: the give-up terminated the message.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    runner.stop().await;
    assert_eq!(probe.handled(), MAX_DELIVER as usize - 1, "attempts");
    assert_eq!(probe.gave_up(), ["gave up after 2 attempts: the store is down"]);
    relay.stop().await;
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_consumer_has_a_finite_max_deliver_even_when_an_older_version_created_it() {
    use async_nats::jetstream::consumer::{AckPolicy, pull};
    let env = TestEnv::start().await;
    let relay = one_event(&env).await;
    let durable = env.names.durable_consumer(NAME);
    let stream = env.stream().await;
    // As versions before ADR 0013 created it: the server redelivered forever.
    stream
        .create_consumer(pull::Config {
            durable_name: Some(durable.clone()),
            filter_subject: env.names.event_type_subject("movement", "Recorded"),
            ack_policy: AckPolicy::Explicit,
            max_deliver: -1,
            ..Default::default()
        })
        .await
        .expect("an old consumer");
    let probe = Probe::new(Behaviour::FailTransiently);
    let runner = spawn(&env, &probe);
    until("giving up", || !probe.gave_up().is_empty()).await;
    runner.stop().await;
    let mut consumer = stream.get_consumer::<pull::Config>(&durable).await.expect("the consumer");
    let info = consumer.info().await.expect("consumer info");
    assert_eq!(info.config.max_deliver, MAX_DELIVER + GIVE_UP_DELIVERIES);
    relay.stop().await;
    env.cleanup().await;
}
