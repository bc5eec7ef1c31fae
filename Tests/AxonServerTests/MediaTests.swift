@testable import AxonServer
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import MatrixModel
import NIOCore
import Testing

@Suite struct MediaTests {
    /// A 64×48 RGBA PNG.
    static let png = Array(Data(base64Encoded: "iVBORw0KGgoAAAANSUhEUgAAAEAAAAAwCAYAAAChS3wfAAAOhElEQVR42hXQwecCjmIA8N9hIxPr0KGRiXXo0MjEOnRoZGIdOjQy8Tp0aGTidejQyMQ6dGhkYh069MjEOnRoZOJ16NDIxDp0aOSJdejQoUNsn+/h8w98fvnll97//R4BgoQIEyFKjDgJkqRIkyFLjjwFipQoU6FKjToNmrRo06FLjz4DhowYM2HKjDkLlqxYs2HLjj0Hjpw4c+HKjTsPnrx48+HLL7/8vgACBAkRJkKUGHESJEmRJkOWHHkKFClRpkKVGnUaNGnRpkOXHn0GDBkxZsKUGXMWLFmxZsOWHXsOHDlx5sKVG3cePHnx5sP3938C/kAAAYKECBMhSow4CZKkSJMhS448BYqUKFOhSo06DZq0aNOhS48+A4aMGDNhyow5C5asWLNhy449B46cOHPhyo07D568ePPh+wc/AX8ogABBQoSJECVGnARJUqTJkCVHngJFSpSpUKVGnQZNWrTp0KVHnwFDRoyZMGXGnAVLVqzZsGXHngNHTpy5cOXGnQdPXrz58P3Dn4CwAAIECREmQpQYcRIkSZEmQ5YceQoUKVGmQpUadRo0adGmQ5cefQYMGTFmwpQZcxYsWbFmw5Ydew4cOXHmwpUbdx48efHmwzf8E/BHAggQJESYCFFixEmQJEWaDFly5ClQpESZClVq1GnQpEWbDl169BkwZMSYCVNmzFmwZMWaDVt27Dlw5MSZC1du3Hnw5MWbD98/+gn4YwEECBIiTIQoMeIkSJIiTYYsOfIUKFKiTIUqNeo0aNKiTYcuPfoMGDJizIQpM+YsWLJizYYtO/YcOHLizIUrN+48ePLizYfvH/8E/IkAAgQJESZClBhxEiRJkSZDlhx5ChQpUaZClRp1GjRp0aZDlx59BgwZMWbClBlzFixZsWbDlh17Dhw5cebClRt3Hjx58ebD909+AhICCBAkRJgIUWLESZAkRZoMWXLkKVCkRJkKVWrUadCkRZsOXXr0GTBkxJgJU2bMWbBkxZoNW3bsOXDkxJkLV27cefDkxZsP38RPwJ8KIECQEGEiRIkRJ0GSFGkyZMmRp0CREmUqVKlRp0GTFm06dOnRZ8CQEWMmTJkxZ8GSFWs2bNmx58CRE2cuXLlx58GTF28+fP/0J+DPBBAgSIgwEaLEiJMgSYo0GbLkyFOgSIkyFarUqNOgSYs2Hbr06DNgyIgxE6bMmLNgyYo1G7bs2HPgyIkzF67cuPPgyYs3H75/9hPw5wIIECREmAhRYsRJkCRFmgxZcuQpUKREmQpVatRp0KRFmw5devQZMGTEmAlTZsxZsGTFmg1bduw5cOTEmQtXbtx58OTFmw/fP/8JyAogQJAQYSJEiREnQZIUaTJkyZGnQJESZSpUqVGnQZMWbTp06dFnwJARYyZMmTFnwZIVazZs2bHnwJETZy5cuXHnwZMXbz58sz8BfyGAAEFChIkQJUacBElSpMmQJUeeAkVKlKlQpUadBk1atOnQpUefAUNGjJkwZcacBUtWrNmwZceeA0dOnLlw5cadB09evPnw/YufgL8UQIAgIcJEiBIjToIkKdJkyJIjT4EiJcpUqFKjToMmLdp06NKjz4AhI8ZMmDJjzoIlK9Zs2LJjz4EjJ85cuHLjzoMnL958+P7lT8BfCSBAkBBhIkSJESdBkhRpMmTJkadAkRJlKlSpUadBkxZtOnTp0WfAkBFjJkyZMWfBkhVrNmzZsefAkRNnLly5cefBkxdvPnz/6iegJIAAQUKEiRAlRpwESVKkyZAlR54CRUqUqVClRp0GTVq06dClR58BQ0aMmTBlxpwFS1as2bBlx54DR06cuXDlxp0HT168+fAt/QT8tQACBAkRJkKUGHESJEmRJkOWHHkKFClRpkKVGnUaNGnRpkOXHn0GDBkxZsKUGXMWLFmxZsOWHXsOHDlx5sKVG3cePHnx5sP3r38C/kYAAYKECBMhSow4CZKkSJMhS448BYqUKFOhSo06DZq0aNOhS48+A4aMGDNhyow5C5asWLNhy449B46cOHPhyo07D568ePPh+zc/Ab8SQIAgIcJEiBIjToIkKdJkyJIjT4EiJcpUqFKjToMmLdp06NKjz4AhI8ZMmDJjzoIlK9Zs2LJjz4EjJ85cuHLjzoMnL958+P7qJ6AugABBQoSJECVGnARJUqTJkCVHngJFSpSpUKVGnQZNWrTp0KVHnwFDRoyZMGXGnAVLVqzZsGXHngNHTpy5cOXGnQdPXrz58K3/BPytAAIECREmQpQYcRIkSZEmQ5YceQoUKVGmQpUadRo0adGmQ5cefQYMGTFmwpQZcxYsWbFmw5Ydew4cOXHmwpUbdx48efHmw/dvfwL+TgABgoQIEyFKjDgJkqRIkyFLjjwFipQoU6FKjToNmrRo06FLjz4DhowYM2HKjDkLlqxYs2HLjj0Hjpw4c+HKjTsPnrx48+H7dz8BvxZAgCAhwkSIEiNOgiQp0mTIkiNPgSIlylSoUqNOgyYt2nTo0qPPgCEjxkyYMmPOgiUr1mzYsmPPgSMnzly4cuPOgycv3nz4/vonoCOAAEFChIkQJUacBElSpMmQJUeeAkVKlKlQpUadBk1atOnQpUefAUNGjJkwZcacBUtWrNmwZceeA0dOnLlw5cadB09evPnw7fwE/L0AAgQJESZClBhxEiRJkSZDlhx5ChQpUaZClRp1GjRp0aZDlx59BgwZMWbClBlzFixZsWbDlh17Dhw5cebClRt3Hjx58ebD9+9/Av5BAAGChAgTIUqMOAmSpEiTIUuOPAWKlChToUqNOg2atGjToUuPPgOGjBgzYcqMOQuWrFizYcuOPQeOnDhz4cqNOw+evHjz4fsPPwH/KIAAQUKEiRAlRpwESVKkyZAlR54CRUqUqVClRp0GTVq06dClR58BQ0aMmTBlxpwFS1as2bBlx54DR06cuXDlxp0HT168+fD9x5+AoQACBAkRJkKUGHESJEmRJkOWHHkKFClRpkKVGnUaNGnRpkOXHn0GDBkxZsKUGXMWLFmxZsOWHXsOHDlx5sKVG3cePHnx5sN3+BPwTwIIECREmAhRYsRJkCRFmgxZcuQpUKREmQpVatRp0KRFmw5devQZMGTEmAlTZsxZsGTFmg1bduw5cOTEmQtXbtx58OTFmw/ff/oJ+GcBBAgSIkyEKDHiJEiSIk2GLDnyFChSokyFKjXqNGjSok2HLj36DBgyYsyEKTPmLFiyYs2GLTv2HDhy4syFKzfuPHjy4s2H7z//BPyLAAIECREmQpQYcRIkSZEmQ5YceQoUKVGmQpUadRo0adGmQ5cefQYMGTFmwpQZcxYsWbFmw5Ydew4cOXHmwpUbdx48efHmw/dffgJmAggQJESYCFFixEmQJEWaDFly5ClQpESZClVq1GnQpEWbDl169BkwZMSYCVNmzFmwZMWaDVt27Dlw5MSZC1du3Hnw5MWbD9/ZT8BvBBAgSIgwEaLEiJMgSYo0GbLkyFOgSIkyFarUqNOgSYs2Hbr06DNgyIgxE6bMmLNgyYo1G7bs2HPgyIkzF67cuPPgyYs3H76/+Qn4VwEECBIiTIQoMeIkSJIiTYYsOfIUKFKiTIUqNeo0aNKiTYcuPfoMGDJizIQpM+YsWLJizYYtO/YcOHLizIUrN+48ePLizYfvv/4E/JsAAgQJESZClBhxEiRJkSZDlhx5ChQpUaZClRp1GjRp0aZDlx59BgwZMWbClBlzFixZsWbDlh17Dhw5cebClRt3Hjx58ebD999+AtYCCBAkRJgIUWLESZAkRZoMWXLkKVCkRJkKVWrUadCkRZsOXXr0GTBkxJgJU2bMWbBkxZoNW3bsOXDkxJkLV27cefDkxZsP3/VPwL8LIECQEGEiRIkRJ0GSFGkyZMmRp0CREmUqVKlRp0GTFm06dOnRZ8CQEWMmTJkxZ8GSFWs2bNmx58CRE2cuXLlx58GTF28+fP/9J+A/BBAgSIgwEaLEiJMgSYo0GbLkyFOgSIkyFarUqNOgSYs2Hbr06DNgyIgxE6bMmLNgyYo1G7bs2HPgyIkzF67cuPPgyYs3H77/8RPwWwEECBIiTIQoMeIkSJIiTYYsOfIUKFKiTIUqNeo0aNKiTYcuPfoMGDJizIQpM+YsWLJizYYtO/YcOHLizIUrN+48ePLizYfvb38CDgIIECREmAhRYsRJkCRFmgxZcuQpUKREmQpVatRp0KRFmw5devQZMGTEmAlTZsxZsGTFmg1bduw5cOTEmQtXbtx58OTFmw/fw0/AfwogQJAQYSJEiREnQZIUaTJkyZGnQJESZSpUqVGnQZMWbTp06dFnwJARYyZMmTFnwZIVazZs2bHnwJETZy5cuXHnwZMXbz58//Mn4L8EECBIiDARosSIkyBJijQZsuTIU6BIiTIVqtSo06BJizYduvToM2DIiDETpsyYs2DJijUbtuzYc+DIiTMXrty48+DJizcfvv/1E/DfAggQJESYCFFixEmQJEWaDFly5ClQpESZClVq1GnQpEWbDl169BkwZMSYCVNmzFmwZMWaDVt27Dlw5MSZC1du3Hnw5MWbD9///gm4CiBAkBBhIkSJESdBkhRpMmTJkadAkRJlKlSpUadBkxZtOnTp0WfAkBFjJkyZMWfBkhVrNmzZsefAkRNnLly5cefBkxdvPnyvPwH/I4AAQUKEiRAlRpwESVKkyZAlR54CRUqUqVClRp0GTVq06dClR58BQ0aMmTBlxpwFS1as2bBlx54DR06cuXDlxp0HT168+fD9n5+A3wkgQJAQYSJEiREnQZIUaTJkyZGnQJESZSpUqVGnQZMWbTp06dFnwJARYyZMmTFnwZIVazZs2bHnwJETZy5cuXHnwZMXbz58f/cT8L8CCBAkRJgIUWLESZAkRZoMWXLkKVCkRJkKVWrUadCkRZsOXXr0GTBkxJgJU2bMWbBkxZoNW3bsOXDkxJkLV27cefDkxZsPX/4fhwpftN7jKkgAAAAASUVORK5CYII=")!)

    func upload(_ server: TestServer, _ token: String?, _ bytes: [UInt8], type: String = "image/png", filename: String? = "pic.png") async throws -> TestServer.Reply {
        var path = "/_matrix/media/v3/upload"
        if let filename { path += "?filename=\(TestServer.path(filename))" }
        var headers: HTTPFields = [.contentType: type]
        if let token { headers[.authorization] = "Bearer \(token)" }
        let response = try await server.client.execute(uri: path, method: .post, headers: headers, body: ByteBuffer(bytes: bytes))
        let raw = String(buffer: response.body)
        return TestServer.Reply(status: Int(response.status.code), json: (try? JSONParser.parse(raw)) ?? .null, headers: response.headers, raw: raw)
    }

    func get(_ server: TestServer, _ path: String, token: String?) async throws -> (status: Int, headers: HTTPFields, body: [UInt8]) {
        var headers: HTTPFields = [:]
        if let token { headers[.authorization] = "Bearer \(token)" }
        let response = try await server.client.execute(uri: path, method: .get, headers: headers, body: nil)
        return (Int(response.status.code), response.headers, Array(buffer: response.body))
    }

    func mediaPath(_ uri: String) -> String { String(uri.dropFirst("mxc://".count)) }

    /// Width and height from a PNG's IHDR.
    func pngSize(_ bytes: [UInt8]) -> (Int, Int)? {
        guard bytes.count > 24, bytes.starts(with: [0x89, 0x50, 0x4E, 0x47]) else { return nil }
        func int(_ at: Int) -> Int { bytes[at..<(at + 4)].reduce(0) { $0 << 8 | Int($1) } }
        return (int(16), int(20))
    }

    @Test func uploadAndAuthenticatedDownload() async throws {
        // Not federating: another server's media is not found (and nothing leaves the machine).
        try await TestServer.run(configure: { $0.outboundEnabled = false }) { server in
            let alice = try await server.register("alice")
            let bob = try await server.register("bob")
            let uploaded = try await upload(server, alice.token, Self.png)
            #expect(uploaded.status == 200, "\(uploaded.raw)")
            let uri = try #require(uploaded.json["content_uri"]?.stringValue)
            #expect(uri.hasPrefix("mxc://localhost/"))

            let download = try await get(server, "/_matrix/client/v1/media/download/\(mediaPath(uri))", token: bob.token)
            #expect(download.status == 200)
            #expect(download.body == Self.png)
            #expect(download.headers[.contentType] == "image/png")
            #expect(download.headers[.contentDisposition] == "inline; filename*=utf-8''pic.png")
            #expect(download.headers[.contentSecurityPolicy]?.hasPrefix("sandbox") == true)
            let renamed = try await get(server, "/_matrix/client/v1/media/download/\(mediaPath(uri))/h%C3%A9llo.png", token: bob.token)
            #expect(renamed.headers[.contentDisposition] == "inline; filename*=utf-8''h%C3%A9llo.png")

            #expect(try await get(server, "/_matrix/client/v1/media/download/\(mediaPath(uri))", token: nil).status == 401)
            // The media freeze: the old unauthenticated endpoint does not serve new media.
            #expect(try await get(server, "/_matrix/media/v3/download/\(mediaPath(uri))", token: nil).status == 404)
            #expect(try await get(server, "/_matrix/client/v1/media/download/localhost/nothing", token: bob.token).status == 404)
            #expect(try await get(server, "/_matrix/client/v1/media/download/elsewhere.example/x", token: bob.token).status == 404)
            #expect(try await upload(server, nil, Self.png).status == 401)
            let config = try await server.call(.get, "/_matrix/client/v1/media/config", token: bob.token)
            #expect(config.json["m.upload.size"] == .int(Int64(server.server.config.maxUploadBytes)))
        }
    }

    @Test func riskyTypesDownloadAsAttachments() async throws {
        try await TestServer.run { server in
            let alice = try await server.register("alice")
            let uri = try #require(try await upload(server, alice.token, Array("<script>alert(1)</script>".utf8), type: "text/html", filename: "x.html").json["content_uri"]?.stringValue)
            let download = try await get(server, "/_matrix/client/v1/media/download/\(mediaPath(uri))", token: alice.token)
            #expect(download.headers[.contentDisposition]?.hasPrefix("attachment") == true)
            #expect(download.headers[HTTPField.Name("X-Content-Type-Options")!] == "nosniff")
        }
    }

    @Test func uploadsOverTheLimitAreRefused() async throws {
        try await TestServer.run(configure: { $0.maxUploadBytes = 1000 }) { server in
            let alice = try await server.register("alice")
            let reply = try await upload(server, alice.token, [UInt8](repeating: 7, count: 2000), type: "application/octet-stream")
            #expect(reply.status == 413 && reply.errcode == "M_TOO_LARGE")
            let media = URL(fileURLWithPath: server.server.config.dataDirectory).appendingPathComponent("media")
            let leftovers = (FileManager.default.enumerator(atPath: media.path)?.allObjects as? [String] ?? [])
                .filter { !$0.hasSuffix("tmp") && $0.count > 10 }
            #expect(leftovers.isEmpty, "nothing of a refused upload stays on disk: \(leftovers)")
        }
    }

    @Test func createThenUploadAsynchronously() async throws {
        try await TestServer.run { server in
            let alice = try await server.register("alice")
            let bob = try await server.register("bob")
            let created = try await server.call(.post, "/_matrix/media/v1/create", token: alice.token)
            let uri = try #require(created.json["content_uri"]?.stringValue)
            #expect(created.json["unused_expires_at"]?.intValue != nil)
            let pending = try await get(server, "/_matrix/client/v1/media/download/\(mediaPath(uri))?timeout_ms=100", token: bob.token)
            #expect(pending.status == 504)

            func put(_ token: String) async throws -> Int {
                let response = try await server.client.execute(
                    uri: "/_matrix/media/v3/upload/\(mediaPath(uri))?filename=a.png", method: .put,
                    headers: [.authorization: "Bearer \(token)", .contentType: "image/png"], body: ByteBuffer(bytes: Self.png))
                return Int(response.status.code)
            }
            #expect(try await put(bob.token) == 403)
            #expect(try await put(alice.token) == 200)
            #expect(try await put(alice.token) == 409)
            #expect(try await get(server, "/_matrix/client/v1/media/download/\(mediaPath(uri))", token: bob.token).body == Self.png)
            let unknown = try await server.client.execute(
                uri: "/_matrix/media/v3/upload/localhost/unknown", method: .put, headers: [.authorization: "Bearer \(alice.token)"],
                body: ByteBuffer(bytes: [1]))
            #expect(unknown.status.code == 404)
        }
    }

    @Test func thumbnailsScaleAndCrop() async throws {
        try await TestServer.run { server in
            let alice = try await server.register("alice")
            let uri = try #require(try await upload(server, alice.token, Self.png).json["content_uri"]?.stringValue)
            let base = "/_matrix/client/v1/media/thumbnail/\(mediaPath(uri))"
            let scaled = try await get(server, base + "?width=32&height=32&method=scale", token: alice.token)
            #expect(scaled.status == 200)
            #expect(scaled.headers[.contentType] == "image/png")
            #expect(pngSize(scaled.body).map { [$0.0, $0.1] } == [32, 24], "scaled to fit, keeping the aspect ratio")
            let cropped = try await get(server, base + "?width=32&height=32&method=crop", token: alice.token)
            #expect(pngSize(cropped.body).map { [$0.0, $0.1] } == [32, 32])
            // Never enlarged; served again from the stored thumbnail.
            let large = try await get(server, base + "?width=800&height=600", token: alice.token)
            #expect(pngSize(large.body).map { [$0.0, $0.1] } == [64, 48])
            #expect(try await get(server, base + "?width=800&height=600", token: alice.token).body == large.body)

            #expect(try await get(server, base + "?width=0&height=32", token: alice.token).status == 400)
            #expect(try await get(server, base + "?width=32&height=32&method=stretch", token: alice.token).status == 400)
            let text = try #require(try await upload(server, alice.token, Array("not an image".utf8), type: "image/png").json["content_uri"]?.stringValue)
            #expect(try await get(server, "/_matrix/client/v1/media/thumbnail/\(mediaPath(text))?width=32&height=32", token: alice.token).status == 400)
        }
    }

    @Test func legacyEndpointsServeWhenAllowed() async throws {
        try await TestServer.run(configure: { $0.serveUnauthenticatedMedia = true }) { server in
            let alice = try await server.register("alice")
            let uri = try #require(try await upload(server, alice.token, Self.png).json["content_uri"]?.stringValue)
            #expect(try await get(server, "/_matrix/media/v3/download/\(mediaPath(uri))", token: nil).body == Self.png)
            #expect(try await get(server, "/_matrix/media/v3/thumbnail/\(mediaPath(uri))?width=32&height=32", token: nil).status == 200)
        }
    }

    @Test func headerDimensionsMatchDecoding() {
        #expect(Thumbnailer.Plan(width: 32, height: 24, sourceX: 0, sourceY: 0, sourceWidth: 64, sourceHeight: 48)
            == Thumbnailer.plan(sourceWidth: 64, sourceHeight: 48, width: 32, height: 32, method: .scale))
        #expect(Thumbnailer.plan(sourceWidth: 64, sourceHeight: 48, width: 32, height: 32, method: .crop)
            == Thumbnailer.Plan(width: 32, height: 32, sourceX: 8, sourceY: 0, sourceWidth: 48, sourceHeight: 48))
    }
}
