#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// One HTTP/1.1 request to the signer service and its whole response, over a Unix socket or TCP.
///
/// Deliberately minimal (a fixed-length request, `Connection: close`, the response read to the end): the
/// peer is our own service, and this keeps the thin hook client free of any networking library, so it
/// starts fast. Every failure is a `SignerError` naming the address; callers fail closed on it.
public struct SignerHTTP: Sendable {
    public struct Response: Sendable {
        public var status: Int
        public var headers: [(name: String, value: String)]
        public var body: [UInt8]
        /// The uid of the process that answered on a Unix socket, from the kernel.
        public var peerUID: UInt32? = nil

        public init(status: Int, headers: [(name: String, value: String)], body: [UInt8], peerUID: UInt32? = nil) {
            self.status = status
            self.headers = headers
            self.body = body
            self.peerUID = peerUID
        }

        public func header(_ name: String) -> String? {
            let wanted = name.lowercased()
            return headers.first { $0.name.lowercased() == wanted }?.value
        }
    }

    public let address: SignerAddress
    /// Seconds for the whole exchange, connecting included.
    public let timeout: Double
    /// Whether to refuse a socket peer that cannot be the caller's signer (see `SignerPeer`); `doctor`
    /// turns it off to report who is there instead.
    public var checksPeer = true
    /// Largest response accepted; past it the exchange fails (fail closed).
    public static let maximumResponse = 8 << 20

    public init(address: SignerAddress, timeout: Double) {
        self.address = address
        self.timeout = timeout
    }

    public func post(
        _ path: String, body: [UInt8], headers: [(String, String)] = []
    ) throws(SignerError) -> Response {
        try request("POST", path, body: body, headers: headers)
    }

    public func get(_ path: String, headers: [(String, String)] = []) throws(SignerError) -> Response {
        try request("GET", path, body: nil, headers: headers)
    }

    func request(
        _ method: String, _ path: String, body: [UInt8]?, headers: [(String, String)]
    ) throws(SignerError) -> Response {
        let deadline = Self.now() + timeout
        let fd = try connectSocket()
        defer { close(fd) }
        var peer: UInt32?
        if case .unix = address {
            peer = SignerPeer.uid(of: fd)
            if checksPeer { try SignerPeer.check(peer, address: address) }
        }
        var head = "\(method) \(basePath)\(path) HTTP/1.1\r\nHost: \(hostHeader)\r\nConnection: close\r\n"
        if let body { head += "Content-Type: application/json\r\nContent-Length: \(body.count)\r\n" }
        for (name, value) in headers { head += "\(name): \(value)\r\n" }
        head += "\r\n"
        try send(fd, Array(head.utf8) + (body ?? []), deadline: deadline)
        let raw = try receive(fd, deadline: deadline)
        var response = try Self.parse(raw, from: address)
        response.peerUID = peer
        return response
    }

    var basePath: String {
        switch address {
        case .http(_, _, let base), .https(_, _, let base): base
        case .unix: ""
        }
    }

    var hostHeader: String {
        switch address {
        case .unix: "localhost"
        case .http(let host, let port, _), .https(let host, let port, _):
            "\(host.contains(":") ? "[\(host)]" : host):\(port)"
        }
    }

    // MARK: - Sockets

    func connectSocket() throws(SignerError) -> Int32 {
        switch address {
        case .unix(let path):
            let fd = socket(AF_UNIX, Self.stream, 0)
            guard fd >= 0 else { throw failure("cannot open a socket") }
            setTimeouts(fd)
            guard UnixSocket.connect(fd, to: path) == 0 else {
                let reason = Self.errorText()
                close(fd)
                throw failure("cannot connect (\(reason))")
            }
            return fd
        case .https:
            throw SignerError(
                "\(address): this client links no TLS library; reach the service through unix:PATH or a loopback "
                    + "http:// address (the MCP proxy and Claude Code's HTTP hooks speak https)")
        case .http(let host, let port, _):
            var hints = addrinfo()
            hints.ai_socktype = Self.stream
            var found: UnsafeMutablePointer<addrinfo>?
            guard getaddrinfo(host, String(port), &hints, &found) == 0, let first = found else {
                throw failure("cannot resolve \(host)")
            }
            defer { freeaddrinfo(first) }
            var reason = "no address"
            var entry: UnsafeMutablePointer<addrinfo>? = first
            while let candidate = entry {
                let fd = socket(
                    candidate.pointee.ai_family, candidate.pointee.ai_socktype, candidate.pointee.ai_protocol)
                if fd >= 0 {
                    setTimeouts(fd)
                    if connect(fd, candidate.pointee.ai_addr, candidate.pointee.ai_addrlen) == 0 { return fd }
                    reason = Self.errorText()
                    close(fd)
                }
                entry = candidate.pointee.ai_next
            }
            throw failure("cannot connect (\(reason))")
        }
    }

    func setTimeouts(_ fd: Int32) {
        var value = timeval()
        value.tv_sec = numericCast(Int(timeout))
        value.tv_usec = numericCast(Int((timeout - Double(Int(timeout))) * 1_000_000))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &value, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &value, socklen_t(MemoryLayout<timeval>.size))
        #if canImport(Darwin)
            var one: Int32 = 1
            setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &one, socklen_t(MemoryLayout<Int32>.size))
        #endif
    }

    func send(_ fd: Int32, _ bytes: [UInt8], deadline: Double) throws(SignerError) {
        var sent = 0
        while sent < bytes.count {
            let n = bytes.withUnsafeBytes { buffer in
                Self.write(fd, buffer.baseAddress! + sent, bytes.count - sent)
            }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw failure(Self.now() >= deadline ? "timed out sending" : "the connection broke") }
            sent += n
            if Self.now() >= deadline { throw failure("timed out after \(timeout)s") }
        }
    }

    func receive(_ fd: Int32, deadline: Double) throws(SignerError) -> [UInt8] {
        var out: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n < 0 {
                throw failure(
                    errno == EAGAIN || errno == EWOULDBLOCK ? "no answer within \(timeout)s" : Self.errorText())
            }
            if n == 0 { return out }
            out.append(contentsOf: buffer[0..<n])
            if out.count > Self.maximumResponse {
                throw failure("the answer is larger than \(Self.maximumResponse) bytes")
            }
            if Self.now() >= deadline { throw failure("no complete answer within \(timeout)s") }
        }
    }

    func failure(_ what: String) -> SignerError {
        SignerError("the signer at \(address) is unreachable: \(what)")
    }

    // MARK: - Parsing

    static func parse(_ raw: [UInt8], from address: SignerAddress) throws(SignerError) -> Response {
        let separator: [UInt8] = [13, 10, 13, 10]
        guard let end = raw.firstRange(of: separator) else {
            throw SignerError("the signer at \(address) sent an incomplete answer (\(raw.count) bytes)")
        }
        let lines = String(decoding: raw[..<end.lowerBound], as: UTF8.self).split(separator: "\r\n")
        let statusParts = lines.first?.split(separator: " ") ?? []
        guard statusParts.count >= 2, statusParts[0].hasPrefix("HTTP/1."), let status = Int(statusParts[1]) else {
            throw SignerError("the signer at \(address) did not answer in HTTP")
        }
        var headers: [(name: String, value: String)] = []
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers.append((String(line[..<colon]), String(line[line.index(after: colon)...]).trimmedSpaces))
        }
        var response = Response(status: status, headers: headers, body: Array(raw[end.upperBound...]))
        if response.header("Transfer-Encoding")?.lowercased() == "chunked" {
            response.body = try dechunk(response.body, from: address)
        } else if let length = response.header("Content-Length").flatMap({ Int($0) }) {
            guard response.body.count >= length else {
                throw SignerError("the signer at \(address) sent a truncated answer")
            }
            response.body = Array(response.body.prefix(length))
        }
        return response
    }

    static func dechunk(_ bytes: [UInt8], from address: SignerAddress) throws(SignerError) -> [UInt8] {
        var out: [UInt8] = []
        var index = 0
        while index < bytes.count {
            guard let lineEnd = bytes[index...].firstRange(of: [13, 10]) else { break }
            let sizeText = String(decoding: bytes[index..<lineEnd.lowerBound], as: UTF8.self)
            guard let size = Int(sizeText.split(separator: ";").first ?? "", radix: 16) else { break }
            if size == 0 { return out }
            let start = lineEnd.upperBound
            guard start + size <= bytes.count else { break }
            out.append(contentsOf: bytes[start..<start + size])
            index = start + size + 2
        }
        throw SignerError("the signer at \(address) sent a truncated answer")
    }

    // MARK: - Platform

    #if canImport(Glibc)
        static let stream = Int32(SOCK_STREAM.rawValue)
        static func write(_ fd: Int32, _ pointer: UnsafeRawPointer, _ count: Int) -> Int {
            Glibc.send(fd, pointer, count, Int32(MSG_NOSIGNAL))
        }
    #else
        static let stream = SOCK_STREAM
        static func write(_ fd: Int32, _ pointer: UnsafeRawPointer, _ count: Int) -> Int {
            Darwin.send(fd, pointer, count, 0)
        }
    #endif

    static func now() -> Double {
        var spec = timespec()
        clock_gettime(CLOCK_MONOTONIC, &spec)
        return Double(spec.tv_sec) + Double(spec.tv_nsec) / 1e9
    }

    static func errorText() -> String { String(cString: strerror(errno)) }
}

/// Who listens on a signer socket, from the kernel, and whether that can be the caller's signer: the caller
/// itself (a service of its own), root, or a system account (`countersign system install`). Any other
/// user's process on that path took the socket's place (in a directory it could write) and would answer
/// "allow" to everything: refused, unless `COUNTERSIGN_SIGNER_UID` names that uid.
public enum SignerPeer {
    public static func uid(of fd: Int32) -> UInt32? {
        #if canImport(Glibc)
            var credentials = (pid: Int32(0), uid: UInt32(0), gid: UInt32(0))  // struct ucred
            var length = socklen_t(MemoryLayout.size(ofValue: credentials))
            guard getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &credentials, &length) == 0 else { return nil }
            return credentials.uid
        #else
            var uid: uid_t = 0
            var gid: gid_t = 0
            return getpeereid(fd, &uid, &gid) == 0 ? uid : nil
        #endif
    }

    public static func check(_ uid: UInt32?, address: SignerAddress) throws(SignerError) {
        guard let uid else {
            throw SignerError("the signer at \(address) could not be identified (no peer credentials)")
        }
        if let expected = getenv("COUNTERSIGN_SIGNER_UID").map({ String(cString: $0) }), !expected.isEmpty {
            guard UInt32(expected) == uid else {
                throw SignerError("the signer at \(address) runs as uid \(uid), not COUNTERSIGN_SIGNER_UID=\(expected)")
            }
            return
        }
        guard uid == getuid() || uid == 0 || uid < 1000 else {
            throw SignerError(
                "the signer at \(address) runs as uid \(uid): neither you, root nor a system account, so it is not "
                    + "your signer (someone could have taken the socket's place); set COUNTERSIGN_SIGNER_UID=\(uid) if it is"
            )
        }
    }
}

/// A Unix-domain stream socket, by path.
public enum UnixSocket {
    /// Connects `fd` to the socket at `path`: 0, or -1 with `errno` set.
    public static func connect(_ fd: Int32, to path: String) -> Int32 {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { buffer in
            for (index, byte) in path.utf8.prefix(buffer.count - 1).enumerated() { buffer[index] = byte }
        }
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                #if canImport(Glibc)
                    Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
                #else
                    Darwin.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
                #endif
            }
        }
    }

    /// Whether something accepts connections at `path`.
    public static func accepts(_ path: String) -> Bool {
        let fd = socket(AF_UNIX, SignerHTTP.stream, 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        return connect(fd, to: path) == 0
    }
}
