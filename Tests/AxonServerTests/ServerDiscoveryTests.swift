import MatrixModel
import Synchronization
import Testing

@testable import AxonServer

/// Spec "Resolving server names", without DNS: the well-known fetch is injected.
@Suite struct ServerDiscoveryTests {
    final class Counter: Sendable {
        let calls = Mutex(0)
    }

    @Test func literalsPortsDelegationAndItsCache() async throws {
        let counter = Counter()
        let discovery = ServerDiscovery { host in
            counter.calls.withLock { $0 += 1 }
            switch host {
            case "delegating.example": return (["m.server": "matrix.delegating.example:8449"], .seconds(3600))
            case "portless.example": return (["m.server": "matrix.portless.example"], nil)
            case "broken.example": return (["m.server": "not a server name!"], nil)
            default: return (nil, nil)
            }
        }
        // IP literals and explicit ports: no lookup; Host carries the name as given.
        #expect(await discovery.destination(for: ServerName("1.2.3.4")!) == FederationDestination(host: "1.2.3.4", port: 8448, hostHeader: "1.2.3.4", tlsName: "1.2.3.4"))
        #expect(await discovery.destination(for: ServerName("[::1]:8449")!) == FederationDestination(host: "[::1]", port: 8449, hostHeader: "[::1]:8449", tlsName: "[::1]"))
        #expect(await discovery.destination(for: ServerName("localhost:8482")!).port == 8482)
        #expect(counter.calls.withLock { $0 } == 0)
        // Delegation: the delegated name is the Host and the certificate name.
        let delegated = await discovery.destination(for: ServerName("delegating.example")!)
        #expect(delegated == FederationDestination(host: "matrix.delegating.example", port: 8449, hostHeader: "matrix.delegating.example:8449", tlsName: "matrix.delegating.example"))
        #expect(await discovery.destination(for: ServerName("portless.example")!).port == 8448)
        // A bad delegation, or none, falls back to the name itself on 8448.
        #expect(await discovery.destination(for: ServerName("broken.example")!) == FederationDestination(host: "broken.example", port: 8448, hostHeader: "broken.example", tlsName: "broken.example"))
        #expect(await discovery.destination(for: ServerName("plain.example")!).host == "plain.example")
        // Cached: asking again fetches nothing.
        let before = counter.calls.withLock { $0 }
        _ = await discovery.destination(for: ServerName("delegating.example")!)
        _ = await discovery.destination(for: ServerName("plain.example")!)
        #expect(counter.calls.withLock { $0 } == before)
        #expect(ServerDiscovery.maxAge(cacheControl: "public, max-age=600") == .seconds(600))
        #expect(ServerDiscovery.maxAge(cacheControl: "no-store") == .zero)
        #expect(ServerDiscovery.maxAge(cacheControl: nil) == nil)
    }
}
