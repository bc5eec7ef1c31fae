import AxonServer
import Foundation
import Hummingbird
import HummingbirdTesting
import HummingbirdTLS
import MatrixModel
import NIOSSL
import Synchronization
import Testing

/// A push gateway on loopback behind TLS signed by a private CA (made here with openssl):
/// delivered only when that CA is configured as `push_ca_file`.
@Suite struct PushCATests {
    struct Certificates {
        let directory: URL
        var ca: String { directory.appendingPathComponent("ca.pem").path }
        var certificate: String { directory.appendingPathComponent("server.pem").path }
        var key: String { directory.appendingPathComponent("server.key").path }
    }

    static func makeCertificates() throws -> Certificates {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("axon-ca-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        func openssl(_ arguments: [String]) throws {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = ["openssl"] + arguments
            process.currentDirectoryURL = directory
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            process.waitUntilExit()
            try #require(process.terminationStatus == 0, "openssl \(arguments.first ?? "")")
        }
        try openssl(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "1", "-subj", "/CN=Axon test CA"])
        try openssl(["req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost"])
        try "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n".write(
            to: directory.appendingPathComponent("ext.cnf"), atomically: true, encoding: .utf8)
        try openssl(["x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out", "server.pem", "-days", "1", "-extfile", "ext.cnf"])
        return Certificates(directory: directory)
    }

    @Test(arguments: [true, false])
    func aGatewaySignedByTheConfiguredCAIsReached(trusting: Bool) async throws {
        let certificates = try Self.makeCertificates()
        defer { try? FileManager.default.removeItem(at: certificates.directory) }
        let hits = Mutex(0)
        let router = Router()
        router.post("/_matrix/push/v1/notify") { _, _ -> Response in
            hits.withLock { $0 += 1 }
            return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: #"{"rejected":[]}"#)))
        }
        let tls = TLSConfiguration.makeServerConfiguration(
            certificateChain: try NIOSSLCertificate.fromPEMFile(certificates.certificate).map { .certificate($0) },
            privateKey: .privateKey(try NIOSSLPrivateKey(file: certificates.key, format: .pem)))
        let gateway = Application(
            router: router, server: try .tls(.http1(), tlsConfiguration: tls), configuration: .init(address: .hostname("127.0.0.1", port: 0)))
        try await gateway.test(.live) { gatewayClient in
            let url = "https://localhost:\(gatewayClient.port!)/_matrix/push/v1/notify"
            try await TestServer.run(configure: {
                $0.pushRetryInitialMs = 20
                $0.pushRetryAttempts = 2
                $0.pushAllowPrivateAddresses = true
                if trusting { $0.pushCAFile = certificates.ca }
            }) { server in
                let (alice, bob, roomID) = try await server.aliceAndBobInARoom()
                #expect(try await server.call(.post, "/_matrix/client/v3/pushers/set", token: bob.token, json: TestServer.httpPusher(url)).status == 200)
                try await server.send(alice.token, roomID, "ping")
                for _ in 0..<100 where hits.withLock({ $0 == 0 }) { try await Task.sleep(for: .milliseconds(20)) }
                if !trusting { try await Task.sleep(for: .milliseconds(300)) }
                #expect(hits.withLock { $0 } == (trusting ? 1 : 0))
            }
        }
    }
}
