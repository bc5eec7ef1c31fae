@testable import AxonServer
import MatrixModel
import Testing

@Suite struct URLPreviewTests {
    @Test func metaTagsAndTitlesAreReadFromTheHead() {
        let page = HTMLMeta.parse("""
            <html><HEAD><Title>The &lt;title&gt; &#38; more &#x263A;</Title>
            <meta property='og:title' content="First">
            <meta property="og:title" content="Second">
            <meta name=description content=plain>
            <meta content="reversed" property="og:site_name" />
            <meta property="og:description" content="a &quot;quote&quot; &unknown; &amp">
            </head><body><meta property="og:image" content="/late.png"></body></html>
            """)
        #expect(page.title == "The <title> & more ☺")
        #expect(page.meta["og:title"] == "First")
        #expect(page.meta["description"] == "plain")
        #expect(page.meta["og:site_name"] == "reversed")
        #expect(page.meta["og:description"] == "a \"quote\" &unknown; &amp")
        #expect(page.meta["og:image"] == nil)
        let fields = URLPreviewer.fields(from: (["twitter:title": "T", "twitter:image:src": "/i.png"], "Title"))
        #expect(fields["og:title"] == "T" && fields["og:image"] == "/i.png")
        #expect(URLPreviewer.fields(from: ([:], "Only")) == ["og:title": "Only"])
        // Unclosed tags and quotes end the scan without trapping.
        _ = HTMLMeta.parse("<meta property=\"og:title\" content=\"unterminated")
        _ = HTMLMeta.parse("<title>no end")
        _ = HTMLMeta.parse("<<<>>>&#xFFFFFFFF;&#99999999999;")
    }

    /// With the default rules, loopback, private and link-local targets are refused before
    /// any connection is made; so are other schemes.
    @Test func internalTargetsAreRefusedByDefault() async throws {
        try await TestServer.run { server in
            let alice = try await server.register("alice")
            for url in ["http://127.0.0.1:9/", "http://localhost:9/", "http://10.0.0.1/", "http://[::1]:9/", "http://169.254.169.254/latest"] {
                let reply = try await server.call(
                    .get, "/_matrix/client/v1/media/preview_url?url=\(TestServer.path(url))", token: alice.token)
                #expect(reply.status == 403 && reply.errcode == "M_FORBIDDEN", "\(url): \(reply.raw)")
            }
            let ftp = try await server.call(.get, "/_matrix/client/v1/media/preview_url?url=\(TestServer.path("ftp://x/"))", token: alice.token)
            #expect(ftp.status == 400)
            let ts = try await server.call(.get, "/_matrix/client/v1/media/preview_url?url=http%3A%2F%2F10.0.0.1%2F&ts=soon", token: alice.token)
            #expect(ts.status == 400)
        }
        try await TestServer.run(configure: { $0.urlPreviewEnabled = false }) { server in
            let alice = try await server.register("alice")
            let off = try await server.call(.get, "/_matrix/client/v1/media/preview_url?url=http%3A%2F%2F10.0.0.1%2F", token: alice.token)
            #expect(off.status == 404 && off.errcode == "M_UNRECOGNIZED")
        }
    }
}
