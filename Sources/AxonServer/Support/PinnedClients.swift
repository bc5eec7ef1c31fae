import AsyncHTTPClient
import Foundation
import NIOCore
import NIOSSL
import Synchronization

/// HTTP clients for outbound requests to names other parties choose (other homeservers, URL
/// previews): the name is resolved here and each address checked — internal addresses
/// (loopback, private, link-local…) are refused unless inside `allowedRanges`, and with
/// `allowlistOnly` nothing outside them is used at all. The connection is then pinned to the
/// checked address (AsyncHTTPClient's DNS override, so SNI and certificate checks still use
/// the name): a name cannot re-resolve elsewhere between the check and the connection.
final class PinnedClients: Sendable {
    struct Refused: Error, CustomStringConvertible {
        let description: String
    }

    struct Unresolvable: Error, CustomStringConvertible {
        let description: String
    }

    private let tls: TLSConfiguration
    private let allowedRanges: [IPRange]
    private let allowlistOnly: Bool
    private let readTimeout: TimeAmount
    /// One HTTP client per pinned (name, address): its pool keeps connections to that peer.
    private let clients = Mutex([String: HTTPClient]())
    static let maxClients = 512

    /// Every instance lives as long as the process: AsyncHTTPClient requires each client to be
    /// shut down before it is released, and the clients here serve until exit.
    private static let living = Mutex([PinnedClients]())

    init(tls: TLSConfiguration, allowedRanges: [IPRange], allowlistOnly: Bool, readTimeout: TimeAmount) {
        self.tls = tls
        self.allowedRanges = allowedRanges
        self.allowlistOnly = allowlistOnly
        self.readTimeout = readTimeout
        Self.living.withLock { $0.append(self) }
    }

    func isAllowed(_ address: [UInt8]) -> Bool {
        allowedRanges.contains { $0.contains(address) } || (!allowlistOnly && !PushDestination.isInternal(address))
    }

    /// A client whose connections to `name` (the URL host: SNI and certificate name) go to a
    /// checked address of `host` (the name itself, or a target it delegates to).
    func client(resolving host: String, as name: String) async throws -> HTTPClient {
        let bare = host.trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        let addresses: [[UInt8]]
        if let literal = IPRange.bytes(bare) {
            addresses = [literal]
        } else {
            // A name that could only be refused is not looked up at all.
            guard !allowlistOnly || !allowedRanges.isEmpty else { throw Refused(description: "\(host) is not an allowed address") }
            guard let resolved = try await PushDestination.resolve(bare), !resolved.isEmpty else {
                throw Unresolvable(description: "\(host) does not resolve")
            }
            addresses = resolved
        }
        guard let address = addresses.first(where: isAllowed) else {
            throw Refused(description: "\(host) resolves only to addresses that are not allowed")
        }
        let literal = FederationClient.text(address)
        let key = name + "|" + literal
        return clients.withLock { clients in
            if let existing = clients[key] { return existing }
            if clients.count >= Self.maxClients, let (oldKey, old) = clients.first {
                clients[oldKey] = nil
                old.shutdown { _ in }
            }
            var configuration = HTTPClient.Configuration(
                tlsConfiguration: tls, redirectConfiguration: .disallow, timeout: .init(connect: .seconds(10), read: readTimeout),
                connectionPool: .init(idleTimeout: .seconds(90)))
            if IPRange.bytes(name) == nil { configuration.dnsOverride = [name: literal] }
            let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
            clients[key] = client
            return client
        }
    }
}
