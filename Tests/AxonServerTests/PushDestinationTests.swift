import Testing

@testable import AxonServer

@Suite struct PushDestinationTests {
    @Test func internalAddressesAreRecognised() async throws {
        for host in ["127.0.0.1", "10.0.0.1", "172.20.1.1", "192.168.1.1", "169.254.169.254", "100.64.0.1", "0.0.0.0", "[::1]", "::", "fd00::1", "fe80::1", "::ffff:127.0.0.1", "localhost", "a.localhost"] {
            #expect(PushDestination.isInternalLiteral(host), "\(host)")
        }
        for host in ["8.8.8.8", "172.32.0.1", "2001:4860:4860::8888", "push.example.org"] {
            #expect(!PushDestination.isInternalLiteral(host), "\(host)")
        }
        // Names are resolved before delivery: localhost and unresolvable names are refused.
        #expect(try await PushDestination.resolvesInternally("localhost"))
        #expect(try await PushDestination.resolvesInternally("no-such-host.invalid"))
    }
}
