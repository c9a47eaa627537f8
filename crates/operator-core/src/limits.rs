//! Client-side limits on AWS calls, so that the operator cannot throttle a whole account: a
//! token bucket per service (calls per second and a burst) in front of every attempt, under
//! the SDK's adaptive retry mode, which lowers the rate further while AWS answers with
//! throttling errors and raises it again as they stop.

use std::{collections::BTreeMap, fmt, num::NonZeroU32, str::FromStr, sync::Arc};

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

/// The SDK's HTTP client with a service's token bucket in front of every attempt.
#[derive(Clone)]
pub struct Limited {
    inner: SharedHttpClient,
    bucket: Arc<Bucket>,
}

struct Bucket {
    service: &'static str,
    limiter: DefaultDirectRateLimiter,
    metrics: Metrics,
}

impl fmt::Debug for Limited {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Limited")
            .field("service", &self.bucket.service)
            .finish()
    }
}

impl Limited {
    pub fn new(
        inner: SharedHttpClient,
        service: &'static str,
        rate: Rate,
        metrics: Metrics,
    ) -> Self {
        let quota = Quota::per_second(rate.per_second).allow_burst(rate.burst);
        metrics.set_aws_rate_limit(service, rate.per_second.get());
        Self {
            inner,
            bucket: Arc::new(Bucket {
                service,
                limiter: RateLimiter::direct(quota),
                metrics,
            }),
        }
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
        f.write_str(self.service)
    }
}

impl HttpConnector for LimitedConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let (inner, bucket) = (self.inner.clone(), self.bucket.clone());
        HttpConnectorFuture::new(async move {
            if bucket.limiter.check().is_err() {
                let _waiting = bucket.metrics.aws_call_waiting(bucket.service);
                bucket.limiter.until_ready().await;
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
}
