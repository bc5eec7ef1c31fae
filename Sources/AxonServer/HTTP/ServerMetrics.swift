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
}

extension Duration {
    var nanoseconds: Int64 {
        components.seconds * 1_000_000_000 + components.attoseconds / 1_000_000_000
    }
}
