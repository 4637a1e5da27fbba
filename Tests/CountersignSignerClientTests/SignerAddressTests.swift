import Testing

@testable import CountersignSignerClient

@Suite struct SignerAddressTests {
    @Test func unixAddressesInEveryAcceptedSpelling() throws {
        for text in ["unix:/run/c.sock", "unix:///run/c.sock", "/run/c.sock", " unix:/run/c.sock\n"] {
            #expect(try SignerAddress.parse(text) == .unix(path: "/run/c.sock"))
        }
    }

    @Test func httpAddresses() throws {
        #expect(try SignerAddress.parse("http://127.0.0.1:8787") == .http(host: "127.0.0.1", port: 8787, basePath: ""))
        #expect(try SignerAddress.parse("http://localhost") == .http(host: "localhost", port: 80, basePath: ""))
        #expect(try SignerAddress.parse("http://[::1]:9/x/") == .http(host: "::1", port: 9, basePath: "/x"))
        #expect(
            try SignerAddress.parse("https://signer.example") == .https(host: "signer.example", port: 443, basePath: "")
        )
        #expect(try SignerAddress.parse("https://signer.example").needsTLS)
    }

    @Test func refusesWhatIsNotAnAddress() {
        for text in [
            "", "unix:relative.sock", "unix://relative.sock", "ftp://x", "http://:80", "http://h:0", "http://h:99999",
            "http://user@h:1", "unix:/" + String(repeating: "a", count: 120),
            "localhost:8787",
        ] {
            #expect(throws: SignerError.self, "\(text)") { try SignerAddress.parse(text) }
        }
    }

    @Test func parsesFixedLengthAndChunkedAnswers() throws {
        let address = SignerAddress.unix(path: "/s")
        let fixed = Array("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-A: b c \r\n\r\n{}extra".utf8)
        let response = try SignerHTTP.parse(fixed, from: address)
        #expect(response.status == 200 && response.body == Array("{}".utf8) && response.header("x-a") == "b c")
        let chunked = Array(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{\"\r\n3\r\na\":\r\n0\r\n\r\n".utf8)
        #expect(try SignerHTTP.parse(chunked, from: address).body == Array("{\"a\":".utf8))
    }

    @Test func truncatedOrForeignAnswersAreErrors() {
        let address = SignerAddress.unix(path: "/s")
        for raw in [
            "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n{}", "HTTP/1.1 200 OK\r\nContent-Le",
            "SSH-2.0-OpenSSH\r\n\r\n",
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
        ] {
            #expect(throws: SignerError.self, "\(raw)") { try SignerHTTP.parse(Array(raw.utf8), from: address) }
        }
    }

    @Test func theCLibraryClientRefusesTLS() {
        #expect(throws: SignerError.self) {
            try SignerHTTP(address: .https(host: "h", port: 443, basePath: ""), timeout: 1).get("/readyz")
        }
    }

    @Test func anUnreachableSignerBlocksNamingTheAddress() {
        let answer = HookForwarder.forward(
            agent: "claude-code", payload: Array("{}".utf8), address: .unix(path: "/nonexistent/countersign.sock"),
            timeout: 2)
        #expect(answer.exitCode == 2)
        #expect(answer.stderr.contains("unix:/nonexistent/countersign.sock"))
        #expect(answer.stdout.isEmpty)
    }

    @Test func percentDecodingRoundTripsWhatTheServerEncodes() {
        #expect(HookForwarder.percentDecoded("a%0Ab%25c%C3%A9") == "a\nb%cé")
    }
}
