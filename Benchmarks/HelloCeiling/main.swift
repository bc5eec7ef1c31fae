// The ceiling for Axon's HTTP pipeline (issue 18): Hummingbird 2 on this machine answering a
// fixed JSON body with nothing else in the way, the same body `GET /_matrix/client/versions`
// answers. `Benchmarks/http_ceiling.py` drives it and Axon alike and reports server CPU per
// request; the difference is what Axon's routing, middleware and encoding cost.
import Hummingbird
import NIOCore

let port = CommandLine.arguments.count > 1 ? Int(CommandLine.arguments[1]) ?? 18_600 : 18_600
let body = ByteBuffer(string: #"{"versions":["v1.1","v1.2","v1.3"]}"#)
let router = Router()
router.get("/hello") { _, _ in
    Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: body))
}
let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: port)))
try await app.runService()
