import AsyncHTTPClient
import Foundation
import MatrixModel
import NIOCore
import Synchronization

/// Where to send requests for a server name (spec "Resolving server names"): an IP literal
/// or an explicit port is used as is; otherwise `/.well-known/matrix/server` may delegate,
/// SRV records (`_matrix-fed._tcp`, then `_matrix._tcp`) may name a host and port, and the
/// default port is 8448. `host` is the name whose addresses are connected to (an SRV
/// target); `hostHeader` and `tlsName` are what the spec says the request must carry and the
/// certificate must match.
struct FederationDestination: Sendable, Equatable {
    var host: String
    var port: Int
    var hostHeader: String
    var tlsName: String
}

final class ServerDiscovery: Sendable {
    /// Cached well-known answers: the delegated name, or nil for "none", until `expires`.
    private let wellKnown = Mutex([String: (delegated: String?, expires: ContinuousClock.Instant)]())
    private let fetchWellKnown: @Sendable (String) async -> (body: JSON?, maxAge: Duration?)
    private let lookupSRV: @Sendable (String) async -> [SRVRecord]
    static let wellKnownDefault: Duration = .seconds(24 * 3600)
    static let wellKnownBounds: ClosedRange<Duration> = .seconds(300)...(.seconds(48 * 3600))
    static let wellKnownFailure: Duration = .seconds(600)

    init(
        fetchWellKnown: @escaping @Sendable (String) async -> (body: JSON?, maxAge: Duration?),
        lookupSRV: @escaping @Sendable (String) async -> [SRVRecord] = { _ in [] }
    ) {
        self.fetchWellKnown = fetchWellKnown
        self.lookupSRV = lookupSRV
    }

    func destination(for serverName: ServerName) async -> FederationDestination {
        let (host, port) = serverName.hostAndPort
        // 1-2. IP literal or explicit port: no lookup.
        if serverName.isIPLiteral || port != nil {
            return FederationDestination(host: host, port: port ?? 8448, hostHeader: serverName.value, tlsName: host)
        }
        // 3. Delegation through .well-known: an IP literal or a port is used as is (3.1, 3.2);
        // otherwise the delegated name's SRV records, then 8448 (3.3-3.5).
        if let delegated = await delegation(for: host), let name = ServerName(delegated) {
            let (delegatedHost, delegatedPort) = name.hostAndPort
            if name.isIPLiteral || delegatedPort != nil {
                return FederationDestination(
                    host: delegatedHost, port: delegatedPort ?? 8448, hostHeader: name.value, tlsName: delegatedHost)
            }
            return await serviceOrDefault(for: delegatedHost)
        }
        // 4-6. No delegation: the name's own SRV records, then 8448.
        return await serviceOrDefault(for: host)
    }

    /// Steps 3.3-3.5 and 4-6: the first SRV record of `_matrix-fed._tcp`, else of the
    /// deprecated `_matrix._tcp`, else port 8448. Host header and certificate stay `host`.
    private func serviceOrDefault(for host: String) async -> FederationDestination {
        for service in ["_matrix-fed._tcp.", "_matrix._tcp."] {
            if let record = await lookupSRV(service + host).first {
                return FederationDestination(host: record.target, port: Int(record.port), hostHeader: host, tlsName: host)
            }
        }
        return FederationDestination(host: host, port: 8448, hostHeader: host, tlsName: host)
    }

    private func delegation(for host: String) async -> String? {
        let now = ContinuousClock.now
        if let cached = wellKnown.withLock({ $0[host] }), cached.expires > now { return cached.delegated }
        let (body, maxAge) = await fetchWellKnown(host)
        let delegated = body?["m.server"]?.stringValue.flatMap { ServerName($0) != nil ? $0 : nil }
        let lifetime: Duration
        if body == nil {
            lifetime = Self.wellKnownFailure
        } else {
            let wanted = maxAge ?? Self.wellKnownDefault
            lifetime = min(max(wanted, Self.wellKnownBounds.lowerBound), Self.wellKnownBounds.upperBound)
        }
        wellKnown.withLock { cache in
            if cache.count > 10_000 { cache.removeAll() }
            cache[host] = (delegated, now + lifetime)
        }
        return delegated
    }

    /// `Cache-Control: max-age=N` (or `no-store`/`no-cache` as zero), the way the spec says the
    /// well-known answer is cached.
    static func maxAge(cacheControl: String?) -> Duration? {
        guard let cacheControl else { return nil }
        for directive in cacheControl.lowercased().split(separator: ",") {
            let trimmed = directive.trimmingCharacters(in: .whitespaces)
            if trimmed == "no-store" || trimmed == "no-cache" { return .zero }
            if trimmed.hasPrefix("max-age="), let seconds = Int64(trimmed.dropFirst(8)) { return .seconds(max(0, seconds)) }
        }
        return nil
    }
}
