//! Client-side limits on AWS calls, so that the operator cannot throttle a whole account: a
//! token bucket per service, account and region (calls per second and a burst) in front of
//! every attempt, whose rate drops while AWS answers with throttling errors and climbs back as
//! they stop.

use std::{
    collections::BTreeMap,
    fmt,
    num::NonZeroU32,
    str::FromStr,
    sync::{Arc, Mutex},
    time::Duration,
};

use tokio::time::Instant;

use aws_smithy_runtime_api::client::{
    http::{
        HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
        SharedHttpConnector,
    },
    orchestrator::HttpRequest,
    runtime_components::RuntimeComponents,
};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

use crate::metrics::Metrics;

/// Calls per second and burst for one service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub per_second: NonZeroU32,
    pub burst: NonZeroU32,
}

impl Rate {
    const fn new(per_second: u32, burst: u32) -> Self {
        match (NonZeroU32::new(per_second), NonZeroU32::new(burst)) {
            (Some(per_second), Some(burst)) => Self { per_second, burst },
            _ => panic!("a rate is at least one call per second"),
        }
    }
}

/// Defaults under AWS's published quotas, which every tool in the account shares: SNS at the
/// lowest quota of the calls it makes (ListSubscriptionsByTopic 30/s; Subscribe and the topic
/// and subscription attribute calls allow 100/s), DynamoDB's control plane, ECR's 20/s on most
/// repository APIs, STS; SQS and S3 bucket APIs allow far more.
pub const DEFAULT_RATES: &[(&str, Rate)] = &[
    ("sqs", Rate::new(100, 200)),
    ("sns", Rate::new(30, 60)),
    ("dynamodb", Rate::new(20, 40)),
    ("s3", Rate::new(50, 100)),
    ("ecr", Rate::new(10, 20)),
    ("sts", Rate::new(10, 10)),
];

/// `<service>=<per second>[/<burst>]`, as `--aws-rate-limit` takes it (burst: twice the rate).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceRate {
    pub service: String,
    pub rate: Rate,
}

impl FromStr for ServiceRate {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let usage =
            || format!("{s:?}: expected <service>=<calls per second>[/<burst>], e.g. sns=30/60");
        let (service, rate) = s.split_once('=').ok_or_else(usage)?;
        let (per_second, burst) = match rate.split_once('/') {
            Some((r, b)) => (r.trim().parse::<u32>(), b.trim().parse::<u32>()),
            None => {
                let r = rate.trim().parse::<u32>();
                let b = r.clone().map(|r| r.saturating_mul(2));
                (r, b)
            }
        };
        let (Ok(per_second), Ok(burst)) = (per_second, burst) else {
            return Err(usage());
        };
        match (NonZeroU32::new(per_second), NonZeroU32::new(burst)) {
            (Some(per_second), Some(burst)) => Ok(Self {
                service: service.trim().to_ascii_lowercase(),
                rate: Rate { per_second, burst },
            }),
            _ => Err(format!("{s:?}: rate and burst must be at least 1")),
        }
    }
}

/// The rates in effect: the defaults, overridden per service by the flags.
pub fn rates(overrides: &[ServiceRate]) -> BTreeMap<String, Rate> {
    let mut rates: BTreeMap<String, Rate> = DEFAULT_RATES
        .iter()
        .map(|(s, r)| ((*s).to_owned(), *r))
        .collect();
    for o in overrides {
        rates.insert(o.service.clone(), o.rate);
    }
    rates
}

/// Where a bucket's quota applies: AWS counts calls per service, account and region.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Scope {
    pub service: String,
    pub region: String,
    pub account: String,
}

/// The SDK's HTTP client with a service's token bucket in front of every attempt.
#[derive(Clone)]
pub struct Limited {
    inner: SharedHttpClient,
    bucket: Arc<Bucket>,
}

/// A token bucket whose rate halves (at most once a second) when AWS answers with a throttling
/// error, and climbs back by a tenth of the configured rate each second after, as TCP's
/// congestion window does: the operator backs off an account other tools also call.
pub struct Bucket {
    scope: Scope,
    base: Rate,
    state: Mutex<Adapted>,
    metrics: Metrics,
}

struct Adapted {
    per_second: u32,
    limiter: Arc<DefaultDirectRateLimiter>,
    last_cut: Option<Instant>,
    recovering: bool,
}

/// How long after a cut the rate starts climbing again, and how often it climbs.
const RECOVERY_STEP: Duration = Duration::from_secs(1);

impl Bucket {
    pub fn new(scope: Scope, base: Rate, metrics: Metrics) -> Arc<Self> {
        metrics.set_aws_rate_limit(&scope, base.per_second.get());
        Arc::new(Self {
            scope,
            base,
            state: Mutex::new(Adapted {
                per_second: base.per_second.get(),
                limiter: Arc::new(RateLimiter::direct(quota(base.per_second, base.burst))),
                last_cut: None,
                recovering: false,
            }),
            metrics,
        })
    }

    /// The calls per second let through now.
    pub fn per_second(&self) -> u32 {
        self.state.lock().expect("poisoned").per_second
    }

    fn limiter(&self) -> Arc<DefaultDirectRateLimiter> {
        self.state.lock().expect("poisoned").limiter.clone()
    }

    /// AWS answered a call with a throttling error: halve the rate, then recover it.
    pub fn throttled(self: &Arc<Self>) {
        let mut state = self.state.lock().expect("poisoned");
        let now = Instant::now();
        if state.last_cut.is_some_and(|t| now - t < RECOVERY_STEP) {
            return;
        }
        state.last_cut = Some(now);
        let halved = (state.per_second / 2).max(1);
        self.set(&mut state, halved);
        if !std::mem::replace(&mut state.recovering, true) {
            let bucket = self.clone();
            tokio::spawn(async move { bucket.recover().await });
        }
    }

    async fn recover(self: Arc<Self>) {
        let step = (self.base.per_second.get() / 10).max(1);
        loop {
            tokio::time::sleep(RECOVERY_STEP).await;
            let mut state = self.state.lock().expect("poisoned");
            if state.last_cut.is_some_and(|t| t.elapsed() < RECOVERY_STEP) {
                continue;
            }
            let raised = (state.per_second + step).min(self.base.per_second.get());
            self.set(&mut state, raised);
            if raised == self.base.per_second.get() {
                state.recovering = false;
                return;
            }
        }
    }

    fn set(&self, state: &mut Adapted, per_second: u32) {
        if state.per_second == per_second {
            return;
        }
        let rate = NonZeroU32::new(per_second).unwrap_or(NonZeroU32::MIN);
        // While reduced, no burst above the rate: the burst is what AWS just refused.
        let burst = if rate == self.base.per_second {
            self.base.burst
        } else {
            rate
        };
        state.per_second = per_second;
        state.limiter = Arc::new(RateLimiter::direct(quota(rate, burst)));
        self.metrics.set_aws_rate_limit(&self.scope, per_second);
    }
}

/// Calls are paced 5 % under the rate: AWS counts arrivals, and a call delayed on its way (task
/// scheduling, a new connection) must not land in the same second as a full second's worth.
const PACING_MARGIN: f64 = 1.05;

fn quota(per_second: NonZeroU32, burst: NonZeroU32) -> Quota {
    let period = Duration::from_secs_f64(PACING_MARGIN / f64::from(per_second.get()));
    Quota::with_period(period)
        .expect("a positive period")
        .allow_burst(burst)
}

impl fmt::Debug for Limited {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Limited")
            .field("scope", &self.bucket.scope)
            .finish()
    }
}

impl Limited {
    pub fn new(inner: SharedHttpClient, bucket: Arc<Bucket>) -> Self {
        Self { inner, bucket }
    }
}

impl HttpClient for Limited {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(LimitedConnector {
            inner: self.inner.http_connector(settings, components),
            bucket: self.bucket.clone(),
        })
    }
}

#[derive(Debug)]
struct LimitedConnector {
    inner: SharedHttpConnector,
    bucket: Arc<Bucket>,
}

impl fmt::Debug for Bucket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.scope)
    }
}

impl HttpConnector for LimitedConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let (inner, bucket) = (self.inner.clone(), self.bucket.clone());
        HttpConnectorFuture::new(async move {
            let limiter = bucket.limiter();
            if limiter.check().is_err() {
                let _waiting = bucket.metrics.aws_call_waiting(&bucket.scope);
                limiter.until_ready().await;
            }
            inner.call(request).await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_parse_with_and_without_burst() {
        let r: ServiceRate = "SNS=20/40".parse().unwrap();
        assert_eq!((r.service.as_str(), r.rate), ("sns", Rate::new(20, 40)));
        let r: ServiceRate = "sqs=7".parse().unwrap();
        assert_eq!(r.rate, Rate::new(7, 14));
        for bad in ["sns", "sns=0", "sns=x", "sns=5/0", "=5/a"] {
            assert!(bad.parse::<ServiceRate>().is_err(), "{bad}");
        }
    }

    #[test]
    fn flags_override_the_defaults_per_service() {
        let rates = rates(&["sns=5/5".parse().unwrap()]);
        assert_eq!(rates["sns"], Rate::new(5, 5));
        assert_eq!(rates["sqs"], Rate::new(100, 200));
    }

    #[tokio::test]
    async fn a_bucket_lets_its_burst_through_then_its_rate() {
        let limiter = RateLimiter::direct(
            Quota::per_second(NonZeroU32::new(20).unwrap())
                .allow_burst(NonZeroU32::new(5).unwrap()),
        );
        let start = std::time::Instant::now();
        for _ in 0..15 {
            limiter.until_ready().await;
        }
        // 5 at once, then 10 more at 20 per second: about half a second.
        let elapsed = start.elapsed();
        assert!(
            elapsed >= std::time::Duration::from_millis(400),
            "{elapsed:?}"
        );
        assert!(
            elapsed < std::time::Duration::from_millis(1500),
            "{elapsed:?}"
        );
    }

    #[tokio::test]
    async fn a_ceiling_leaves_room_for_jitter() {
        // 20/s with burst 1: 21 calls never fit in a second, even with 40 ms of delay on the way.
        let limiter = RateLimiter::direct(quota(NonZeroU32::new(20).unwrap(), NonZeroU32::MIN));
        let start = std::time::Instant::now();
        for _ in 0..21 {
            limiter.until_ready().await;
        }
        let elapsed = start.elapsed();
        assert!(elapsed >= Duration::from_millis(1040), "{elapsed:?}");
        assert!(elapsed < Duration::from_millis(1500), "{elapsed:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn throttling_halves_the_rate_once_a_second_and_it_climbs_back() {
        let scope = Scope {
            service: "sqs".into(),
            region: "us-east-1".into(),
            account: "123456789012".into(),
        };
        let bucket = Bucket::new(scope, Rate::new(20, 40), Metrics::default());
        bucket.throttled();
        assert_eq!(bucket.per_second(), 10);
        // A burst of throttled answers is one signal.
        bucket.throttled();
        assert_eq!(bucket.per_second(), 10);
        // A second later it has climbed a step (12), and is halved again.
        tokio::time::sleep(Duration::from_millis(1100)).await;
        bucket.throttled();
        assert_eq!(bucket.per_second(), 6);
        // Then a tenth of the configured rate per quiet second, up to it and no further.
        tokio::time::sleep(Duration::from_millis(2050)).await;
        assert_eq!(bucket.per_second(), 8);
        tokio::time::sleep(Duration::from_secs(20)).await;
        assert_eq!(bucket.per_second(), 20);
    }
}
