//! Execute against a scripted upstream: no socket, every behaviour of the retry, fallback,
//! cooldown, quarantine and baseline rules.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::future::BoxFuture;
use futures::{FutureExt, StreamExt};
use parking_lot::Mutex;
use strata_aws::{RuntimeOperation, UpstreamError};
use strata_core::{ErrorClass, Region};
use strata_quota::Limits;
use strata_router::{Layer, Origin, Reach, Strategy};

use super::*;
use crate::call::{Api, Call, Estimate};
use crate::request::admit::Admission;
use crate::request::route::{Group, Plan};
use crate::upstream::{peek_first, Chunk, EventStream, Reply, Wire};

/// What the fake upstream does on one call to a target.
#[derive(Debug, Clone)]
enum Step {
    Answer,
    Fail(ErrorClass, Option<Duration>),
    /// A stream whose first event is an exception (the head was 200).
    StreamFailingFirst(ErrorClass),
    Stream,
    /// Waits past any deadline.
    Hang,
}

#[derive(Default)]
struct Scripted {
    steps: Mutex<HashMap<String, VecDeque<Step>>>,
    /// Target model IDs in call order, with the (tokio) time of each call.
    calls: Mutex<Vec<(String, tokio::time::Instant)>>,
}

impl Scripted {
    fn script(&self, target: &str, steps: &[Step]) {
        self.steps
            .lock()
            .insert(target.to_string(), steps.iter().cloned().collect());
    }

    fn called(&self) -> Vec<String> {
        self.calls.lock().iter().map(|(t, _)| t.clone()).collect()
    }
}

fn event_chunk(failure: Option<UpstreamError>) -> Chunk {
    Chunk {
        raw: Bytes::from_static(b"frame"),
        events: vec![strata_core::eventstream::StreamFrame::Event {
            event_type: "messageStart".into(),
            payload: Bytes::new(),
        }],
        failure,
        frames: 1,
        ..Chunk::default()
    }
}

impl Upstream for Scripted {
    fn call<'a>(
        &'a self,
        target: &'a Target,
        _call: &'a Call,
        _guard: Option<&'a crate::config::Guardrail>,
        deadline: Instant,
    ) -> BoxFuture<'a, Result<Answer, UpstreamError>> {
        async move {
            let Target::Bedrock { model_id, .. } = target else {
                return Err(UpstreamError::new(ErrorClass::NotFound, None, "not bedrock"));
            };
            self.calls.lock().push((model_id.clone(), tokio::time::Instant::now()));
            let step = self
                .steps
                .lock()
                .get_mut(model_id)
                .and_then(VecDeque::pop_front)
                .unwrap_or(Step::Answer);
            match step {
                Step::Answer => Ok(Answer::Complete(Reply {
                    wire: Wire::Bedrock,
                    headers: Default::default(),
                    body: Bytes::from_static(b"{}"),
                    header_usage: None,
                    guardrail: None,
                })),
                Step::Fail(class, retry_after) => {
                    let mut e = UpstreamError::new(class, Some(400), format!("{class:?} from {model_id}"));
                    e.retry_after = retry_after;
                    Err(e)
                }
                Step::StreamFailingFirst(class) => {
                    let chunks =
                        futures::stream::iter(vec![Ok(event_chunk(Some(UpstreamError::new(class, Some(200), "x"))))]);
                    let (first, rest) = peek_first(chunks.boxed(), deadline).await?;
                    Ok(Answer::Stream(EventStream {
                        wire: Wire::Bedrock,
                        headers: Default::default(),
                        first,
                        rest,
                        guardrail: None,
                    }))
                }
                Step::Stream => {
                    let chunks = futures::stream::iter(vec![Ok(event_chunk(None)), Ok(event_chunk(None))]);
                    let (first, rest) = peek_first(chunks.boxed(), deadline).await?;
                    Ok(Answer::Stream(EventStream {
                        wire: Wire::Bedrock,
                        headers: Default::default(),
                        first,
                        rest,
                        guardrail: None,
                    }))
                }
                Step::Hang => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    tokio::time::sleep(left).await;
                    Err(UpstreamError::new(ErrorClass::Timeout, None, "no answer in time"))
                }
            }
        }
        .boxed()
    }
}

fn route(model_id: &str, priority: u32, budget: Limits) -> Arc<Route> {
    Arc::new(Route {
        target: Target::Bedrock {
            account: 0,
            region: Region::parse("us-east-1").unwrap(),
            model_id: model_id.to_string(),
        },
        reach: Reach::Anywhere,
        layer: Layer::InRegion,
        origin: Origin::Pinned,
        weight: 1,
        priority,
        stale: false,
        health: Default::default(),
        warmth: None,
        chat: true,
        limits: budget,
        quota_key: format!("d:test:{model_id}").into(),
        capacity: None,
        capacity_state: Default::default(),
        region_cap: None,
        price: None,
        label: format!("acct/us-east-1/{model_id}"),
        metrics: Default::default(),
    })
}

fn routes(ids: &[&str]) -> Vec<Arc<Route>> {
    ids.iter()
        .enumerate()
        .map(|(i, id)| route(id, i as u32, Limits::default()))
        .collect()
}

fn group(model: usize, routes: Vec<Arc<Route>>, baseline: bool) -> Group {
    Group {
        model,
        strategy: Strategy::Priority,
        routes,
        baseline,
    }
}

fn plan(groups: Vec<Group>) -> Plan {
    Plan { model: 0, groups }
}

fn call(operation: RuntimeOperation) -> Call {
    Call {
        api: Api::Bedrock,
        model: "m".into(),
        operation,
        body: Bytes::from_static(b"{}"),
        translation: None,
        content_type: None,
        accept: None,
        openai: None,
        embedding: None,
        estimate: Estimate { input: 10, output: 10 },
    }
}

fn policy() -> Policy {
    Policy {
        deadline: Duration::from_secs(30),
        backoff: Backoff {
            base: Duration::from_millis(10),
            max: Duration::from_secs(5),
        },
        cooldown: CooldownPolicy {
            failures: 2,
            window: Duration::from_secs(60),
            duration: Duration::from_secs(30),
        },
        max_attempts: 3,
        quarantine: Duration::from_secs(300),
        cold_start: ColdStartPolicy {
            budget: Duration::from_secs(300),
            backoff: Backoff {
                base: Duration::from_millis(500),
                max: Duration::from_secs(4),
            },
            evicted_after: Duration::from_secs(900),
        },
    }
}

struct Fixture {
    upstream: Scripted,
    admission: Admission,
    policy: Policy,
    cold_start: ColdStartMode,
}

impl Fixture {
    fn new() -> Self {
        Fixture {
            upstream: Scripted::default(),
            admission: Admission::deployments_only(),
            policy: policy(),
            cold_start: ColdStartMode::Wait,
        }
    }

    async fn run(&self, plan: &Plan, call: &Call) -> (Result<Served, GatewayError>, Vec<Attempt>) {
        let executor = Executor {
            upstream: &self.upstream,
            admission: &self.admission,
            policy: self.policy,
            guardrail: None,
            cold_start: self.cold_start,
        };
        let mut trail = Vec::new();
        let result = executor.run(plan, call, &mut trail).await;
        (result, trail)
    }
}

fn outcomes(trail: &[Attempt]) -> Vec<&'static str> {
    trail.iter().map(|a| a.outcome.label()).collect()
}

#[tokio::test(start_paused = true)]
async fn throttling_waits_at_least_retry_after_then_moves_on() {
    let f = Fixture::new();
    f.upstream
        .script("a", &[Step::Fail(ErrorClass::Throttled, Some(Duration::from_secs(2)))]);
    let p = plan(vec![group(0, routes(&["a", "b"]), false)]);
    let (served, trail) = f.run(&p, &call(RuntimeOperation::Converse)).await;
    let served = served.unwrap();
    assert_eq!(served.route.model_id(), "b");
    assert_eq!(outcomes(&trail), ["throttled", "ok"]);
    let calls = f.upstream.calls.lock();
    assert!(
        calls[1].1 - calls[0].1 >= Duration::from_secs(2),
        "backoff honours retry-after"
    );
}

#[tokio::test(start_paused = true)]
async fn an_invalid_request_is_not_retried_on_the_same_target() {
    let f = Fixture::new();
    f.upstream.script("a", &[Step::Fail(ErrorClass::Invalid, None)]);
    let p = plan(vec![group(0, routes(&["a"]), false)]);
    let (result, trail) = f.run(&p, &call(RuntimeOperation::Converse)).await;
    let e = result.err().unwrap();
    assert_eq!(e.class, Class::Invalid);
    assert_eq!(f.upstream.called(), ["a"]);
    assert_eq!(outcomes(&trail), ["invalid"]);
    assert!(
        !p.groups[0].routes[0].health.cooling_down(Instant::now()),
        "a refusal alone proves nothing"
    );
}

#[tokio::test(start_paused = true)]
async fn denied_and_not_found_move_on_without_a_retry() {
    let f = Fixture::new();
    f.upstream.script("a", &[Step::Fail(ErrorClass::Denied, None)]);
    f.upstream.script("b", &[Step::Fail(ErrorClass::NotFound, None)]);
    let p = plan(vec![group(0, routes(&["a", "b", "c"]), false)]);
    let (served, _) = f.run(&p, &call(RuntimeOperation::Converse)).await;
    assert_eq!(served.unwrap().route.model_id(), "c");
    assert_eq!(f.upstream.called(), ["a", "b", "c"]);
    // Both denied: the error is the upstream's, and neither was tried twice.
    let f = Fixture::new();
    f.upstream.script("a", &[Step::Fail(ErrorClass::Denied, None)]);
    f.upstream.script("b", &[Step::Fail(ErrorClass::Denied, None)]);
    let p = plan(vec![group(0, routes(&["a", "b"]), false)]);
    let (result, _) = f.run(&p, &call(RuntimeOperation::Converse)).await;
    assert_eq!(result.err().unwrap().class, Class::UpstreamDenied);
    assert_eq!(f.upstream.called(), ["a", "b"]);
}

#[tokio::test(start_paused = true)]
async fn a_sole_deployment_cools_down_after_repeated_failures() {
    let f = Fixture::new();
    let unavailable = Step::Fail(ErrorClass::Unavailable, None);
    f.upstream
        .script("a", &[unavailable.clone(), unavailable.clone(), unavailable]);
    let p = plan(vec![group(0, routes(&["a"]), false)]);
    let (result, trail) = f.run(&p, &call(RuntimeOperation::Converse)).await;
    assert_eq!(result.err().unwrap().class, Class::Unavailable);
    assert_eq!(
        outcomes(&trail),
        ["unavailable", "unavailable"],
        "cooled down after two"
    );
    assert!(p.groups[0].routes[0].health.cooling_down(Instant::now()));
    // The next request is told to come back when the cooldown ends, without a call.
    let (result, trail) = f.run(&p, &call(RuntimeOperation::Converse)).await;
    let e = result.err().unwrap();
    assert_eq!(e.class, Class::RateLimited);
    assert!(e.message.contains("cooling down"), "{}", e.message);
    assert!(e.retry_after.unwrap() > Duration::from_secs(25));
    assert!(trail.is_empty());
}

#[tokio::test(start_paused = true)]
async fn fallback_models_answer_when_the_first_model_cannot() {
    let f = Fixture::new();
    let down = Step::Fail(ErrorClass::Unavailable, None);
    f.upstream.script("a", &[down.clone(), down.clone(), down]);
    let p = plan(vec![group(0, routes(&["a"]), false), group(1, routes(&["fb"]), false)]);
    let (served, trail) = f.run(&p, &call(RuntimeOperation::Converse)).await;
    let served = served.unwrap();
    assert_eq!((served.model, served.route.model_id()), (1, "fb"));
    assert_eq!(trail.last().map(|a| a.model), Some(1));
}

#[tokio::test]
async fn the_deadline_ends_the_request() {
    let mut f = Fixture::new();
    f.policy.deadline = Duration::from_millis(50);
    f.upstream.script("a", &[Step::Hang]);
    let p = plan(vec![group(0, routes(&["a", "b"]), false)]);
    let (result, _) = f.run(&p, &call(RuntimeOperation::Converse)).await;
    assert_eq!(result.err().unwrap().class, Class::Timeout);
    assert_eq!(f.upstream.called(), ["a"], "nothing starts after the deadline");
}

#[tokio::test(start_paused = true)]
async fn a_stream_failing_before_its_first_event_is_retried_invisibly() {
    let f = Fixture::new();
    f.upstream
        .script("a", &[Step::StreamFailingFirst(ErrorClass::Throttled)]);
    f.upstream.script("b", &[Step::Stream]);
    let p = plan(vec![group(0, routes(&["a", "b"]), false)]);
    let (served, trail) = f.run(&p, &call(RuntimeOperation::ConverseStream)).await;
    let served = served.unwrap();
    assert_eq!(served.route.model_id(), "b");
    assert!(matches!(served.answer, Answer::Stream(_)));
    assert_eq!(outcomes(&trail), ["throttled", "ok"]);
}

#[tokio::test(start_paused = true)]
async fn a_catalog_lie_is_quarantined_and_the_others_serve() {
    let f = Fixture::new();
    f.upstream.script("liar", &[Step::Fail(ErrorClass::Invalid, None)]);
    let p = plan(vec![group(0, routes(&["liar", "b", "c"]), false)]);
    let (served, trail) = f.run(&p, &call(RuntimeOperation::Converse)).await;
    assert_eq!(served.unwrap().route.model_id(), "b");
    assert_eq!(outcomes(&trail), ["invalid", "ok"]);
    let liar = &p.groups[0].routes[0];
    assert!(
        liar.health.cooling_down(Instant::now() + Duration::from_secs(200)),
        "quarantined"
    );
    // Later requests go around it.
    let (served, _) = f.run(&p, &call(RuntimeOperation::Converse)).await;
    assert_eq!(served.unwrap().route.model_id(), "b");
    assert_eq!(f.upstream.called(), ["liar", "b", "b"]);
}

#[tokio::test(start_paused = true)]
async fn a_request_every_candidate_refuses_is_the_clients_fault() {
    let f = Fixture::new();
    let refuse = Step::Fail(ErrorClass::Invalid, None);
    for t in ["a", "b", "c", "base"] {
        f.upstream.script(t, std::slice::from_ref(&refuse));
    }
    let p = plan(vec![
        group(0, routes(&["a", "b", "c"]), false),
        group(0, routes(&["base"]), true),
    ]);
    let (result, trail) = f.run(&p, &call(RuntimeOperation::Converse)).await;
    let e = result.err().unwrap();
    assert_eq!(e.class, Class::Invalid);
    assert_eq!(
        f.upstream.called(),
        ["a", "b", "base"],
        "two refusals, then only the baseline"
    );
    assert!(trail.iter().all(|a| a.outcome == Outcome::Failed(ErrorClass::Invalid)));
    for r in p.groups.iter().flat_map(|g| &g.routes) {
        assert!(
            !r.health.cooling_down(Instant::now()),
            "no one quarantined for the client's mistake"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn a_lie_with_no_other_candidate_ends_in_the_baseline() {
    let f = Fixture::new();
    f.upstream.script("liar", &[Step::Fail(ErrorClass::Invalid, None)]);
    let p = plan(vec![
        group(0, routes(&["liar"]), false),
        group(0, routes(&["base"]), true),
    ]);
    let (served, _) = f.run(&p, &call(RuntimeOperation::Converse)).await;
    let served = served.unwrap();
    assert!(served.baseline);
    assert!(p.groups[0].routes[0].health.cooling_down(Instant::now()));
}

#[tokio::test(start_paused = true)]
async fn deployment_budgets_are_reserved_per_attempt() {
    let f = Fixture::new();
    let limited = route(
        "a",
        0,
        Limits {
            rpm: Some(1),
            ..Limits::default()
        },
    );
    let p = plan(vec![group(0, vec![limited], false)]);
    let (first, _) = f.run(&p, &call(RuntimeOperation::Converse)).await;
    assert!(first.is_ok());
    let (second, trail) = f.run(&p, &call(RuntimeOperation::Converse)).await;
    let e = second.err().unwrap();
    assert_eq!(e.class, Class::RateLimited);
    assert!(e.message.contains("rate limit"), "{}", e.message);
    assert!(e.retry_after.unwrap() > Duration::from_secs(50));
    assert!(trail.is_empty());
}

#[tokio::test(start_paused = true)]
async fn an_openai_only_deployment_explains_itself() {
    let f = Fixture::new();
    let Ok(template) = Arc::try_unwrap(route("x", 0, Limits::default())) else {
        unreachable!("a fresh route has one owner")
    };
    let openai = Arc::new(Route {
        target: Target::OpenAi {
            provider: 0,
            model: "llama".into(),
        },
        ..template
    });
    let p = plan(vec![group(0, vec![Arc::clone(&openai)], false)]);
    assert!(!p.reaches_bedrock(), "a call for it is never translated to Converse");
    let mixed = plan(vec![
        group(0, vec![openai], false),
        group(1, vec![route("x", 0, Limits::default())], true),
    ]);
    assert!(mixed.reaches_bedrock(), "a Bedrock baseline counts");
    let (result, _) = f.run(&p, &call(RuntimeOperation::Converse)).await;
    let e = result.err().unwrap();
    assert_eq!(e.class, Class::NoRoute);
    assert!(e.message.ends_with("speaks only the OpenAI API"), "{}", e.message);
}

fn imported(model_id: &str, priority: u32) -> Arc<Route> {
    let Ok(template) = Arc::try_unwrap(route(model_id, priority, Limits::default())) else {
        unreachable!("a fresh route has one owner")
    };
    Arc::new(Route {
        warmth: Some(Default::default()),
        ..template
    })
}

const COLD: Step = Step::Fail(ErrorClass::ColdStart, None);

#[tokio::test(start_paused = true)]
async fn a_cold_start_is_waited_for_beyond_the_retry_budget_without_a_cooldown() {
    let f = Fixture::new();
    // Five "not ready" answers: more than the group's three attempts and the cooldown's two
    // failures, none of which a cold start spends.
    f.upstream.script("m1", &[COLD, COLD, COLD, COLD, COLD, Step::Answer]);
    let r = imported("m1", 0);
    let p = plan(vec![group(0, vec![Arc::clone(&r)], false)]);
    let (result, trail) = f.run(&p, &call(RuntimeOperation::InvokeModel)).await;
    assert!(result.is_ok(), "{:?}", result.err());
    assert_eq!(
        outcomes(&trail),
        [
            "cold_start",
            "cold_start",
            "cold_start",
            "cold_start",
            "cold_start",
            "ok"
        ]
    );
    assert!(!r.health.cooling_down(Instant::now()));
    let warmth = r.warmth.as_ref().unwrap();
    assert_eq!(
        warmth.state(Instant::now(), Duration::from_secs(900)),
        strata_router::WarmState::Warm
    );
    assert_eq!(warmth.view(Instant::now(), Duration::from_secs(900)).cold_starts, 5);
    // Polls are spaced by the cold-start backoff (at least half its growing ceiling).
    let calls = f.upstream.calls.lock().clone();
    let gaps: Vec<Duration> = calls.windows(2).map(|w| w[1].1 - w[0].1).collect();
    assert!(gaps[0] >= Duration::from_millis(250), "{gaps:?}");
    assert!(gaps[3] >= Duration::from_millis(2000), "{gaps:?}");
}

#[tokio::test(start_paused = true)]
async fn a_warm_candidate_serves_at_once_while_another_loads() {
    let f = Fixture::new();
    f.upstream.script("cold", &[COLD]);
    let p = plan(vec![group(
        0,
        vec![imported("cold", 0), route("warm", 1, Limits::default())],
        false,
    )]);
    let started = tokio::time::Instant::now();
    let (result, trail) = f.run(&p, &call(RuntimeOperation::InvokeModel)).await;
    assert!(result.is_ok());
    assert_eq!(outcomes(&trail), ["cold_start", "ok"]);
    assert_eq!(f.upstream.called(), ["cold", "warm"]);
    assert_eq!(started.elapsed(), Duration::ZERO, "no wait before another candidate");
}

#[tokio::test(start_paused = true)]
async fn fail_fast_answers_at_once_with_when_to_come_back() {
    let mut f = Fixture::new();
    f.cold_start = ColdStartMode::FailFast;
    f.upstream.script("m1", &[COLD, Step::Answer]);
    let p = plan(vec![group(0, vec![imported("m1", 0)], false)]);
    let (result, trail) = f.run(&p, &call(RuntimeOperation::InvokeModel)).await;
    let e = result.err().unwrap();
    assert_eq!(e.class, Class::ColdStart);
    assert_eq!(e.retry_after, Some(Duration::from_secs(4)));
    assert_eq!(outcomes(&trail), ["cold_start"]);
}

#[tokio::test]
async fn a_model_that_does_not_load_within_the_budget_ends_as_a_cold_start() {
    let mut f = Fixture::new();
    f.policy.cold_start.budget = Duration::from_millis(60);
    f.policy.cold_start.backoff = Backoff {
        base: Duration::from_millis(10),
        max: Duration::from_millis(20),
    };
    f.upstream.script("m1", &[COLD; 100]);
    let p = plan(vec![group(0, vec![imported("m1", 0)], false)]);
    let (result, trail) = f.run(&p, &call(RuntimeOperation::InvokeModel)).await;
    let e = result.err().unwrap();
    assert_eq!(e.class, Class::ColdStart);
    assert!(e.retry_after.is_some());
    assert!(e.message.contains("loading"), "{}", e.message);
    assert!(trail.len() >= 3 && trail.len() < 100, "{}", trail.len());
}

#[test]
fn the_cold_start_header_names_a_mode() {
    assert_eq!(ColdStartMode::from_header(b"fail-fast"), Some(ColdStartMode::FailFast));
    assert_eq!(
        ColdStartMode::from_header(b" Fail-Fast "),
        Some(ColdStartMode::FailFast)
    );
    assert_eq!(ColdStartMode::from_header(b"wait"), Some(ColdStartMode::Wait));
    assert_eq!(ColdStartMode::from_header(b"later"), None);
}
