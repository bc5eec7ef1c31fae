import AxonStorage
import Hummingbird
import Prometheus

/// Request metrics, kept in Axon's own registry so that `/metrics` shows them whether or not
/// the process bootstrapped the global MetricsSystem (tests build many servers per process).
public final class ServerMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry
    private let buckets: [Duration] = [
        .milliseconds(1), .milliseconds(5), .milliseconds(25), .milliseconds(100), .milliseconds(500),
        .seconds(2), .seconds(10), .seconds(60),
    ]

    private nonisolated(unsafe) static let requests = MetricNameDescriptor(
        namespace: "axon", subsystem: "http", metricName: "requests", unitName: "total",
        helpText: "HTTP requests by route, method and status")
    private nonisolated(unsafe) static let duration = MetricNameDescriptor(
        namespace: "axon", subsystem: "http", metricName: "request_duration", unitName: "seconds",
        helpText: "HTTP request latency by route")

    public init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.registry = registry
    }

    func record(method: HTTPRequest.Method, route: String, status: Int, duration: Duration) {
        let labels = [("method", method.rawValue), ("route", route), ("status", String(status))]
        registry.makeCounter(descriptor: Self.requests, labels: labels).increment()
        registry.makeDurationHistogram(descriptor: Self.duration, labels: [("route", route)], buckets: buckets).recordNanoseconds(duration.nanoseconds)
    }

    func exposition() -> [UInt8] {
        registry.emitToBuffer()
    }

    /// The storage caches' counters, read at scrape time (they live in the storage layer,
    /// which knows nothing of Prometheus).
    static func cacheExposition(_ caches: [CacheStatistics]) -> [UInt8] {
        let series: [(name: String, type: String, help: String, value: (CacheStatistics) -> Int)] = [
            ("axon_cache_hits_total", "counter", "Cache lookups answered from memory", { $0.hits }),
            ("axon_cache_misses_total", "counter", "Cache lookups that read the database", { $0.misses }),
            ("axon_cache_evictions_total", "counter", "Entries dropped to stay within the budget", { $0.evictions }),
            ("axon_cache_bytes", "gauge", "Estimated bytes held", { $0.bytes }),
            ("axon_cache_entries", "gauge", "Entries held", { $0.entries }),
            ("axon_cache_budget_bytes", "gauge", "The cache's share of cache_memory_mb", { $0.budgetBytes }),
        ]
        var text = ""
        for metric in series {
            text += "# HELP \(metric.name) \(metric.help)\n# TYPE \(metric.name) \(metric.type)\n"
            for cache in caches { text += "\(metric.name){cache=\"\(cache.name)\"} \(metric.value(cache))\n" }
        }
        return Array(text.utf8)
    }
}

extension Duration {
    var nanoseconds: Int64 {
        components.seconds * 1_000_000_000 + components.attoseconds / 1_000_000_000
    }
}
