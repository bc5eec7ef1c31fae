import AsyncHTTPClient

/// The HTTP client for everything Axon sends to other hosts (push gateways; federation
/// later). It never follows redirects: a redirect would take a request to an address that
/// was never checked against the internal-address rules (`PushDestination`), so each
/// destination is checked before every request and a 3xx is an answer, not a new target.
enum OutboundHTTP {
    static let client = HTTPClient(
        eventLoopGroupProvider: .singleton,
        configuration: HTTPClient.Configuration(
            redirectConfiguration: .disallow, timeout: .init(connect: .seconds(10), read: .seconds(30)),
            connectionPool: .init(idleTimeout: .seconds(60))))
}
