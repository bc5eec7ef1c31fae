import AsyncHTTPClient
import Foundation
import Logging
import MatrixModel
import NIOCore
import NIOHTTP1
import NIOSSL
import Synchronization

/// Requests to other homeservers: server discovery, the address rules, TLS, X-Matrix signing,
/// and bounds on time and size of everything read back.
///
/// A destination's name is resolved here and each address checked: internal addresses
/// (loopback, private, link-local…) are refused unless inside `federation_ip_range_whitelist`.
/// The connection is then pinned to a checked address (AsyncHTTPClient's DNS override, so
/// SNI and certificate checks still use the name): a name cannot re-resolve elsewhere between
/// the check and the connection.
final class FederationClient: Sendable {
    struct Failure: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }

    struct Response: Sendable {
        var status: Int
        var json: JSON
        var headers: HTTPHeaders = [:]
    }

    let serverName: ServerName
    let signingKey: SigningKey
    let config: AxonConfig
    let logger: Logger
    private let pinned: PinnedClients
    static let maxResponseBytes = 64 * 1024 * 1024
    let discovery: ServerDiscovery

    init(serverName: ServerName, signingKey: SigningKey, config: AxonConfig, logger: Logger) {
        self.serverName = serverName
        self.signingKey = signingKey
        self.config = config
        self.logger = logger
        var tls = TLSConfiguration.makeClientConfiguration()
        if let ca = config.federationCAFile { tls.additionalTrustRoots = [.file(ca)] }
        if !config.federationVerifyTLS { tls.certificateVerification = .none }
        pinned = PinnedClients(
            tls: tls, allowedRanges: config.federationIPAllowlist.compactMap(IPRange.init), allowlistOnly: config.federationIPAllowlistOnly,
            readTimeout: .seconds(60))
        let holder = WellKnownFetcher()
        let srv = SRVResolver(nameservers: SRVResolver.nameservers(configured: config.federationDNSServers))
        discovery = ServerDiscovery(fetchWellKnown: { host in await holder.fetch(host) }, lookupSRV: { name in await srv.lookup(name) })
        holder.client.withLock { $0 = self }
    }

    /// Whether federation with this server is allowed at all (whitelist, our own name).
    func mayFederate(with server: String) -> Bool {
        guard config.outboundEnabled, server != serverName.value else { return false }
        if let whitelist = config.federationDomainWhitelist { return whitelist.contains(server) }
        return true
    }

    /// A signed request to `destination`; `path` is the request target exactly as sent
    /// (percent-encoded, with its query).
    func request(
        _ method: HTTPMethod, destination: String, path: String, body: JSON? = nil, timeout: Duration = .seconds(30),
        signed: Bool = true
    ) async throws -> Response {
        guard let name = ServerName(destination) else { throw Failure("'\(destination)' is not a server name") }
        guard mayFederate(with: destination) else { throw Failure("federation with \(destination) is not allowed") }
        let target = await discovery.destination(for: name)
        var headers = HTTPHeaders()
        headers.add(name: "Host", value: target.hostHeader)
        if signed {
            let authorization = try XMatrixAuthorization.header(
                method: method.rawValue, uri: path, origin: serverName.value, destination: destination, content: body, key: signingKey)
            headers.add(name: "Authorization", value: authorization)
        }
        return try await send(method, target: target, path: path, headers: headers, body: body, timeout: timeout)
    }

    /// An unsigned request straight to a host (the well-known lookup).
    func send(
        _ method: HTTPMethod, target: FederationDestination, path: String, headers: HTTPHeaders, body: JSON?, timeout: Duration,
        maxBytes: Int = FederationClient.maxResponseBytes
    ) async throws -> Response {
        var request = HTTPClientRequest(url: Self.url(target, path: path))
        request.method = method
        request.headers = headers
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: body.encodedBytes()))
        }
        let response = try await execute(request, target: target, timeout: timeout)
        let bytes = try await response.body.collect(upTo: maxBytes)
        let json = bytes.readableBytes == 0 ? JSON.object([:]) : (try? JSONParser.parse(bytes.readableBytesView)) ?? .null
        return Response(status: Int(response.status.code), json: json, headers: response.headers)
    }

    /// A signed GET whose body the caller reads as it arrives (media, which can be large).
    func streamingGET(destination: String, path: String, timeout: Duration) async throws -> HTTPClientResponse {
        guard let name = ServerName(destination) else { throw Failure("'\(destination)' is not a server name") }
        guard mayFederate(with: destination) else { throw Failure("federation with \(destination) is not allowed") }
        let target = await discovery.destination(for: name)
        var request = HTTPClientRequest(url: Self.url(target, path: path))
        request.headers.add(name: "Host", value: target.hostHeader)
        request.headers.add(
            name: "Authorization",
            value: try XMatrixAuthorization.header(method: "GET", uri: path, origin: serverName.value, destination: destination, content: nil, key: signingKey))
        return try await execute(request, target: target, timeout: timeout)
    }

    /// An unsigned GET of an https URL another server pointed at (a media `Location`), under
    /// the same address rules as every federation request.
    func fetchURL(_ url: String, timeout: Duration) async throws -> HTTPClientResponse {
        guard let components = URLComponents(string: url), components.scheme == "https", let host = components.host, !host.isEmpty else {
            throw Failure("\(url) is not an https URL")
        }
        let port = components.port ?? 443
        let target = FederationDestination(host: host, port: port, hostHeader: port == 443 ? host : "\(host):\(port)", tlsName: host)
        var path = components.percentEncodedPath.isEmpty ? "/" : components.percentEncodedPath
        if let query = components.percentEncodedQuery { path += "?" + query }
        var request = HTTPClientRequest(url: Self.url(target, path: path))
        request.headers.add(name: "Host", value: target.hostHeader)
        return try await execute(request, target: target, timeout: timeout)
    }

    private func execute(_ request: HTTPClientRequest, target: FederationDestination, timeout: Duration) async throws -> HTTPClientResponse {
        let client = try await pinnedClient(resolving: target.host, as: target.tlsName)
        return try await client.execute(request, timeout: .init(timeout))
    }

    private static func url(_ target: FederationDestination, path: String) -> String {
        let host = target.tlsName.hasPrefix("[") ? target.tlsName : (target.tlsName.contains(":") ? "[\(target.tlsName)]" : target.tlsName)
        return "https://\(host):\(target.port)\(path)"
    }

    /// A client whose connections to `name` (the URL host: SNI and certificate name) go to a
    /// checked address of `host` (the name itself, or the SRV target it delegates to).
    private func pinnedClient(resolving host: String, as name: String) async throws -> HTTPClient {
        try await pinned.client(resolving: host, as: name)
    }

    static func text(_ address: [UInt8]) -> String {
        if address.count == 4 { return address.map(String.init).joined(separator: ".") }
        var groups: [String] = []
        for index in stride(from: 0, to: 16, by: 2) { groups.append(String(UInt16(address[index]) << 8 | UInt16(address[index + 1]), radix: 16)) }
        return groups.joined(separator: ":")
    }
}

/// Fetches `https://<host>/.well-known/matrix/server` for discovery, through the same
/// address rules and TLS settings as every federation request.
private final class WellKnownFetcher: Sendable {
    let client = Mutex<FederationClient?>(nil)

    func fetch(_ host: String) async -> (body: JSON?, maxAge: Duration?) {
        guard let federation = client.withLock({ $0 }) else { return (nil, nil) }
        let target = FederationDestination(host: host, port: 443, hostHeader: host, tlsName: host)
        var headers = HTTPHeaders()
        headers.add(name: "Host", value: host)
        guard
            let response = try? await federation.send(
                .GET, target: target, path: "/.well-known/matrix/server", headers: headers, body: nil, timeout: .seconds(10),
                maxBytes: 64 * 1024),
            response.status == 200, case .object = response.json
        else { return (nil, nil) }
        return (response.json, ServerDiscovery.maxAge(cacheControl: response.headers.first(name: "Cache-Control")))
    }
}
