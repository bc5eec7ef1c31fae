import AsyncHTTPClient
import NIOSSL
import Synchronization

/// The HTTP clients for everything Axon sends to other hosts (push gateways; federation
/// later). They never follow redirects: a redirect would take a request to an address that
/// was never checked against the internal-address rules (`PushDestination`), so each
/// destination is checked before every request and a 3xx is an answer, not a new target.
/// TLS is verified against the system roots, plus an extra CA file when one is configured
/// (a private push gateway). Clients live as long as the process, one per CA file.
enum OutboundHTTP {
    private static let clients = Mutex([String: HTTPClient]())

    static func client(extraCAFile: String?) -> HTTPClient {
        clients.withLock { clients in
            let key = extraCAFile ?? ""
            if let existing = clients[key] { return existing }
            var tls = TLSConfiguration.makeClientConfiguration()
            if let extraCAFile { tls.additionalTrustRoots = [.file(extraCAFile)] }
            let client = HTTPClient(
                eventLoopGroupProvider: .singleton,
                configuration: HTTPClient.Configuration(
                    tlsConfiguration: tls, redirectConfiguration: .disallow, timeout: .init(connect: .seconds(10), read: .seconds(30)),
                    connectionPool: .init(idleTimeout: .seconds(60))))
            clients[key] = client
            return client
        }
    }
}
