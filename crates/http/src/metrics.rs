//! Request metrics in the Prometheus text format, kept in memory per process.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Upper bounds (seconds) of the latency histogram's buckets.
const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

#[derive(Default)]
struct RouteStats {
    by_status: BTreeMap<u16, u64>,
    bucket_counts: [u64; BUCKETS.len()],
    count: u64,
    sum_seconds: f64,
}

/// Counters and latency histograms per method and route pattern (never the raw path, so ids do
/// not explode the label space).
pub struct Metrics {
    started: Instant,
    routes: Mutex<BTreeMap<(String, String), RouteStats>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            started: Instant::now(),
            routes: Mutex::new(BTreeMap::new()),
        }
    }
}

/// Pool figures to report alongside the request metrics.
pub struct PoolGauges {
    pub size: u32,
    pub idle: usize,
}

impl Metrics {
    pub fn observe(&self, method: &str, route: &str, status: u16, elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        let mut routes = self
            .routes
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let stats = routes
            .entry((method.to_owned(), route.to_owned()))
            .or_default();
        *stats.by_status.entry(status).or_default() += 1;
        stats.count += 1;
        stats.sum_seconds += seconds;
        for (bound, count) in BUCKETS.iter().zip(stats.bucket_counts.iter_mut()) {
            if seconds <= *bound {
                *count += 1;
            }
        }
    }

    pub fn render(&self, pool: PoolGauges) -> String {
        let mut out = String::new();
        let routes = self
            .routes
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        out.push_str("# HELP waymark_http_requests_total HTTP requests answered, by method, route and status.\n");
        out.push_str("# TYPE waymark_http_requests_total counter\n");
        for ((method, route), stats) in routes.iter() {
            for (status, count) in &stats.by_status {
                let _ = writeln!(
                    out,
                    "waymark_http_requests_total{{method=\"{method}\",route=\"{}\",status=\"{status}\"}} {count}",
                    escape(route)
                );
            }
        }
        out.push_str(
            "# HELP waymark_http_request_duration_seconds Time to answer HTTP requests.\n",
        );
        out.push_str("# TYPE waymark_http_request_duration_seconds histogram\n");
        for ((method, route), stats) in routes.iter() {
            let labels = format!("method=\"{method}\",route=\"{}\"", escape(route));
            for (bound, count) in BUCKETS.iter().zip(stats.bucket_counts.iter()) {
                let _ = writeln!(out, "waymark_http_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {count}");
            }
            let _ = writeln!(
                out,
                "waymark_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
                stats.count
            );
            let _ = writeln!(
                out,
                "waymark_http_request_duration_seconds_sum{{{labels}}} {}",
                stats.sum_seconds
            );
            let _ = writeln!(
                out,
                "waymark_http_request_duration_seconds_count{{{labels}}} {}",
                stats.count
            );
        }
        out.push_str("# HELP waymark_db_pool_connections Database connections open in the pool.\n");
        out.push_str("# TYPE waymark_db_pool_connections gauge\n");
        let _ = writeln!(out, "waymark_db_pool_connections {}", pool.size);
        out.push_str(
            "# HELP waymark_db_pool_idle_connections Open database connections not in use.\n",
        );
        out.push_str("# TYPE waymark_db_pool_idle_connections gauge\n");
        let _ = writeln!(out, "waymark_db_pool_idle_connections {}", pool.idle);
        out.push_str("# HELP waymark_uptime_seconds Seconds since the process started serving.\n");
        out.push_str("# TYPE waymark_uptime_seconds gauge\n");
        let _ = writeln!(
            out,
            "waymark_uptime_seconds {}",
            self.started.elapsed().as_secs()
        );
        out
    }
}

fn escape(label: &str) -> String {
    label.replace('\\', "\\\\").replace('"', "\\\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observations_are_counted_by_status_and_bucketed() {
        let metrics = Metrics::default();
        metrics.observe(
            "GET",
            "/v1/practices/{practice_id}",
            200,
            Duration::from_millis(3),
        );
        metrics.observe(
            "GET",
            "/v1/practices/{practice_id}",
            404,
            Duration::from_millis(30),
        );
        let text = metrics.render(PoolGauges { size: 2, idle: 1 });
        assert!(text.contains(r#"waymark_http_requests_total{method="GET",route="/v1/practices/{practice_id}",status="200"} 1"#));
        assert!(text.contains(r#"waymark_http_request_duration_seconds_bucket{method="GET",route="/v1/practices/{practice_id}",le="0.005"} 1"#));
        assert!(text.contains(r#"waymark_http_request_duration_seconds_count{method="GET",route="/v1/practices/{practice_id}"} 2"#));
        assert!(text.contains("waymark_db_pool_connections 2"));
    }
}
